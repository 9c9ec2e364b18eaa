"""The entry half: a message that reached us becomes a queued run, or a recorded error.

`receive_webhook` and `receive_push` hold the whole sequence every source follows: find the
integration, refuse it when paused or past its rate limit, bound the size, check who sent
it, parse, then record and queue, or record why not. They return a `Receipt`, which each
function maps to its HTTP answer; nothing here knows HTTP.

A queued run is a promise: `accept` returns only once the run is recorded and the message
is on the internal topic. When the publish fails, the run stays `queued` with the reason,
and the reconciler (`mapper.pipeline.reconcile`) publishes it again.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import json
import logging
import re
import time
import uuid
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Literal

from ..engine.config import Integration
from ..errors import MapperError, MessageTooLarge, SignatureError, UnauthenticatedError
from ..redact import redact_headers
from ..sources.push import EnvelopeError, decode_push_envelope
from ..sources.webhook import body_key, delivery_key, verify_signature
from ..targets.base import SecretResolver
from .integrations import Integrations
from .json_body import BodyError, parse_json_body
from .ports import MessageQueue, RunLog, SignatureFailures, TokenVerifier
from .rate_limit import RateLimiter
from .search import search_values

log = logging.getLogger("mapper.intake")

_KEY_CHARS = re.compile(r"^[A-Za-z0-9_.:=+-]{1,200}$")
ENVELOPE_OVERHEAD_BYTES = 65_536
RAW_BODY_KEPT_BYTES = 200_000  # of a refused body, kept in its run to show the sender
PAUSED_RETRY_AFTER_S = 60  # Retry-After for a paused integration (Pub/Sub uses its own backoff)

ReceiptStatus = Literal[
    "queued",  # recorded and on the internal topic (or already was: a duplicate)
    "not_found",  # no integration at this path
    "paused",  # the integration is inactive: the sender should retry after `retry_after` s
    "too_large",  # over the body limit; recorded
    "unauthenticated",  # signature or OIDC token missing or wrong; counted, not recorded whole
    "invalid",  # not JSON, or not an envelope; recorded with the raw body
    "rate_limited",  # past source.rateLimit: the sender should retry after `retry_after` s
]


@dataclass(frozen=True)
class Receipt:
    """What the intake did with one request."""

    status: ReceiptStatus
    run_id: str | None = None
    reason: str = ""
    duplicate: bool = False
    limit: int | None = None
    retry_after: int | None = None

    @property
    def sentence(self) -> str:
        """The reason as the sender reads it, naming the run that records it, if any."""
        if self.status in ("invalid", "too_large") and self.run_id:
            return f"{self.reason}; recorded as run {self.run_id}"
        return self.reason


def run_id_for(integration_id: str, key: str | None) -> str:
    """The run id: the sender's idempotency key scoped to its integration, else a new one.

    Scoped so that two senders using the same key on two integrations never collide.
    """
    if not key:
        return f"{integration_id}.{uuid.uuid4().hex}"
    if not _KEY_CHARS.match(key):
        key = "h" + hashlib.sha256(key.encode()).hexdigest()[:40]
    return f"{integration_id}.{key}"


class Intake:
    """Accepts messages from every source."""

    def __init__(
        self,
        integrations: Integrations,
        runs: RunLog,
        queue: MessageQueue,
        secrets: SecretResolver,
        *,
        max_body_bytes: int,
        push_verifier: TokenVerifier | None = None,
        signature_failures: SignatureFailures | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._integrations = integrations
        self._runs = runs
        self._queue = queue
        self._secrets = secrets
        self.max_body_bytes = max_body_bytes
        self._push_verifier = push_verifier
        self._signature_failures = signature_failures
        self._clock = clock
        self._rates = RateLimiter(clock)  # source.rateLimit, per instance
        # Recording a run and publishing its message at the same time: see `accept`.
        self._side = ThreadPoolExecutor(max_workers=8, thread_name_prefix="intake")

    # --- the sources ------------------------------------------------------------------

    def receive_webhook(
        self, path: str, headers: Mapping[str, str], read_body: Callable[[int], bytes | None]
    ) -> Receipt:
        """One webhook request; `read_body(limit)` gives the body, or None past `limit`."""
        integration = self._integrations.by_field("webhookPath", path)
        if integration is None:
            return Receipt("not_found")
        if not integration.active:
            return Receipt("paused", reason="this integration is paused; retry later",
                           retry_after=PAUSED_RETRY_AFTER_S)
        assert integration.id is not None
        if (limited := self._rate_limited(integration)) is not None:
            return limited
        plain_headers = dict(headers)
        body = read_body(self.max_body_bytes)
        if body is None:
            reason = f"body larger than the {self.max_body_bytes} byte limit"
            run_id = self.reject(integration.id, "webhook", reason, headers=plain_headers)
            return Receipt("too_large", run_id, reason, limit=self.max_body_bytes)
        key = _header(plain_headers, "webhook-id") or _header(plain_headers, "idempotency-key")
        signature = getattr(integration.source, "signature", None)
        if signature is not None:
            try:
                verify_signature(
                    signature, self._secrets.resolve(signature.secret), plain_headers, body
                )
            except SignatureError as exc:
                reason = f"signature check failed ({exc})"
                self._signature_failed(integration.id, plain_headers, reason)
                return Receipt("unauthenticated", reason=reason)
        try:
            data = parse_json_body(body)
        except BodyError as exc:
            reason = f"body is not JSON the platform accepts: {exc}"
            run_id = self.reject(
                integration.id, "webhook", reason, raw_body=body, headers=plain_headers
            )
            return Receipt("invalid", run_id, reason)
        digest = None
        if signature is not None:
            # Only what the signature covers names the event: unsigned headers are ignored.
            key = delivery_key(signature, plain_headers, data, body)
        elif key is not None:
            digest = body_key(body)  # a squatted key must not drop the real event (`accept`)
        run_id = run_id_for(integration.id, key)
        queue = functools.partial(
            self.accept, integration, data, source_kind="webhook", headers=plain_headers,
            deduplicate=key is not None, body_digest=digest,
        )
        duplicate = not queue(run_id=run_id)
        if duplicate and digest is not None:
            run_id, duplicate = self._rekeyed(queue, run_id, digest)
        return Receipt("queued", run_id, duplicate=duplicate)

    def receive_push(
        self, path: str, authorization: str | None, read_body: Callable[[int], bytes | None]
    ) -> Receipt:
        """One Pub/Sub push request: OIDC token, envelope, data; `read_body` as above."""
        if self._push_verifier is not None:
            try:
                self._push_verifier.verify(authorization)
            except UnauthenticatedError as exc:
                return Receipt("unauthenticated", reason=str(exc))
        integration = self._integrations.by_field("pushPath", path)
        if integration is None:
            return Receipt("not_found")
        if not integration.active:
            # Any non-2xx makes Pub/Sub keep the message and deliver it again later.
            return Receipt("paused", reason="this integration is paused",
                           retry_after=PAUSED_RETRY_AFTER_S)
        assert integration.id is not None
        if (limited := self._rate_limited(integration)) is not None:
            return limited
        # The envelope carries the data base64-encoded: a third larger than the message itself.
        limit = self.max_body_bytes * 4 // 3 + ENVELOPE_OVERHEAD_BYTES
        body = read_body(limit)
        if body is None:
            reason = f"push body larger than the {limit} byte limit"
            run_id = self.reject(integration.id, "pubsub-push", reason)
            return Receipt("too_large", run_id, reason, limit=limit)
        try:
            message = decode_push_envelope(body)
        except EnvelopeError as exc:
            reason = f"undecodable push envelope: {exc}"
            run_id = self.reject(integration.id, "pubsub-push", reason, raw_body=body)
            return Receipt("invalid", run_id, reason)
        run_id = run_id_for(integration.id, message.message_id)
        try:
            data = parse_json_body(message.data)
        except BodyError as exc:
            reason = f"message data is not JSON the platform accepts: {exc}"
            self.reject(
                integration.id, "pubsub-push", reason, raw_body=message.data, run_id=run_id
            )
            return Receipt("invalid", run_id, reason)
        created = self.accept(
            integration,
            data,
            run_id=run_id,
            source_kind="pubsub-push",
            attributes=message.attributes,
        )
        return Receipt("queued", run_id, duplicate=not created)

    def _rate_limited(self, integration: Integration) -> Receipt | None:
        """The refusal of a request past the source's `rateLimit`, or None to go on."""
        rate = getattr(integration.source, "rate_limit", None)
        if rate is None:
            return None
        assert integration.id is not None
        wait = self._rates.wait(integration.id, rate.per_second)
        if wait is None:
            return None
        reason = f"more than {rate.per_second:g} requests a second; retry in {wait} s"
        return Receipt("rate_limited", reason=reason, retry_after=wait)

    def _rekeyed(self, queue: Callable[..., bool], run_id: str, digest: str) -> tuple[str, bool]:
        """(run id, duplicate) of an unsigned sender's keyed event whose key's run exists.

        A key first used with another body names another event, or a stranger's squat of
        the key: this event becomes a run of its own, `<run id>.<digest>`, flagged with
        `keyReusedFrom`; its own retries (same key, same body) are duplicates of that one.
        """
        if not _another_body(self._runs.get(run_id) or {}, digest):
            return run_id, True
        rekeyed = f"{run_id}.{digest.removeprefix('sha256-')[:16]}"
        return rekeyed, not queue(run_id=rekeyed, key_reused_from=run_id)

    # --- recording --------------------------------------------------------------------

    def accept(
        self,
        integration: Integration,
        data: Any,
        *,
        run_id: str,
        source_kind: str,
        headers: Mapping[str, str] | None = None,
        attributes: Mapping[str, str] | None = None,
        replay_of: str | None = None,
        deduplicate: bool = True,
        body_digest: str | None = None,
        key_reused_from: str | None = None,
    ) -> bool:
        """Record and queue one message; False when it was a duplicate (nothing published).

        With `deduplicate` (the run id comes from a key the sender may send again), the run
        is created first and only its creator publishes. Without it (a fresh random id, no
        duplicate possible) the run is written while the message is published, which saves
        a round trip; a worker that gets there first waits for the run (`Worker`).

        `body_digest` (an unsigned sender's key): kept in the run; when the run exists with
        another body, False and nothing published (`_rekeyed` names the event's own run).
        """
        assert integration.id is not None
        # Lower-case names, as Node and the Fetch API show them to JavaScript.
        shown_headers = {k.lower(): v for k, v in redact_headers(dict(headers or {})).items()}
        run: dict[str, Any] = {
            "id": run_id,
            "integrationId": integration.id,
            "integrationVersion": integration.version,
            "sourceKind": source_kind,
            "status": "queued",
            "incomingPayload": data,
            "incomingHeaders": shown_headers,
            "incomingAttributes": dict(attributes or {}),
            "attempts": 0,
        }
        if replay_of:
            run["replayOf"] = replay_of
        if body_digest:
            run["incomingDigest"] = body_digest
        if key_reused_from:
            run["keyReusedFrom"] = key_reused_from
        if integration.search_keys:
            run["searchValues"] = search_values(integration.search_keys, data)
        message = _internal_message(run, data, self._clock())
        if deduplicate:
            if not self._runs.create(run):
                existing = self._runs.get(run_id) or {}
                if _another_body(existing, body_digest):
                    return False  # not this event's run: the caller names another (`_rekeyed`)
                if existing.get("status") != "queued" or not existing.get("unpublished"):
                    return False  # recorded and published before: do not publish another copy
                # Cleared before publishing, never after: once published the worker may
                # claim the run at once, and any later write would take its claim away.
                # A publish that fails again sets the flag again (`_publish`).
                self._runs.touch(run_id, unpublished=False, errorMessage=None)
                self._publish(run_id, message)
                return True
            self._publish(run_id, message)
            return True
        creating = self._side.submit(self._runs.create, run)
        self._publish(run_id, message, recorded=creating.result, retry_is_new_run=True)
        return True

    def _publish(
        self,
        run_id: str,
        message: dict[str, Any],
        recorded: Callable[[], Any] = lambda: None,
        retry_is_new_run: bool = False,
    ) -> None:
        """Publish `message`; `recorded()` waits for the run's write (which may raise).

        `retry_is_new_run`: the sender has no key, so its retry after our 503 is a new run;
        this one then ends `error` instead of waiting for the reconciler, which would
        deliver the same event twice under two run ids.
        """
        attributes = {"runId": run_id, "integrationId": message["integrationId"]}
        try:
            self._queue.publish(message, attributes)
        except MessageTooLarge as exc:
            recorded()
            self._runs.mark(run_id, "error", errorMessage=str(exc))
            raise
        except MapperError as exc:
            if retry_is_new_run:
                log.error("run %s: publish failed, the run ends (answered 503): %s", run_id, exc)
                recorded()
                reason = f"not queued, the sender was answered 503 to send it again: {exc}"
                with contextlib.suppress(MapperError):
                    self._runs.mark(run_id, "error", errorMessage=reason)
                raise
            log.error("run %s: publish failed, the run stays queued: %s", run_id, exc)
            recorded()
            with contextlib.suppress(MapperError):  # the reconciler finds it queued anyway
                self._runs.touch(run_id, unpublished=True, errorMessage=str(exc))
            raise
        recorded()  # a failed write raises here: the sender is told to retry

    def reject(
        self,
        integration_id: str,
        source_kind: str,
        reason: str,
        *,
        raw_body: bytes | None = None,
        headers: Mapping[str, str] | None = None,
        run_id: str | None = None,
    ) -> str:
        """Record a message we refused (bad JSON, too large) as an error run; its id."""
        run_id = run_id or run_id_for(integration_id, None)
        run: dict[str, Any] = {
            "id": run_id,
            "integrationId": integration_id,
            "sourceKind": source_kind,
            "status": "error",
            "errorMessage": reason,
            "incomingHeaders": redact_headers(dict(headers or {})),
        }
        if raw_body is not None:
            text = raw_body[:RAW_BODY_KEPT_BYTES].decode("utf-8", errors="replace")
            run["incomingRaw"] = True  # not the sender's JSON: nothing to replay
            run["incomingPayload"] = {
                "raw": text,
                "size": len(raw_body),
                "truncated": len(raw_body) > RAW_BODY_KEPT_BYTES,
            }
        self._runs.create(run)
        return run_id

    def _signature_failed(
        self, integration_id: str, headers: Mapping[str, str], reason: str
    ) -> None:
        """Count the refusal in the integration's marker (never a run per request)."""
        if self._signature_failures is not None:
            self._signature_failures.count(integration_id, redact_headers(dict(headers)), reason)
        else:
            self.reject(integration_id, "webhook", f"rejected: {reason}", headers=headers)


def _another_body(existing: Mapping[str, Any], digest: str | None) -> bool:
    """Whether a run found under a sender's key holds another body than `digest`'s."""
    return digest is not None and existing.get("incomingDigest") not in (None, digest)


def _internal_message(run: dict[str, Any], data: Any, now: float) -> dict[str, Any]:
    """The internal topic's message: everything the worker needs, and when it was accepted."""
    return {
        "runId": run["id"],
        "integrationId": run["integrationId"],
        "integrationVersion": run.get("integrationVersion"),
        "sourceKind": run["sourceKind"],
        "payload": data,
        "headers": run.get("incomingHeaders") or {},
        "attributes": run.get("incomingAttributes") or {},
        "acceptedAt": now,
    }


def republish_message(run: dict[str, Any], now: float) -> dict[str, Any]:
    """The internal message for a recorded run, to publish it again (reconciler)."""
    return _internal_message(run, run.get("incomingPayload"), now)


def decode_internal(data: bytes) -> dict[str, Any]:
    """The internal topic's message (JSON) as published by `Intake.accept`."""
    return json.loads(data)


def _header(headers: Mapping[str, str], name: str) -> str | None:
    for key, value in headers.items():
        if key.lower() == name:
            return value or None
    return None
