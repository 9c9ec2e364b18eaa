"""The entry half: a message that reached us becomes a queued run, or a recorded error.

`receive_webhook`, `receive_push` and `receive_pulled` hold the whole sequence every
source follows: find the integration, refuse it when paused or past its rate limit, bound
the size, check who
sent it, parse, answer a `source.dedupe` duplicate, then record and queue (folding the
payload into the source shape), or record why not. They return a `Receipt`, which
the HTTP functions map to their answer (`mapper.http_edge`) and the pull runner to an
acknowledgement; nothing here knows HTTP.

A queued run is a promise: `accept` returns only once the message is on the internal
topic, and, where the run's id can come again (a sender's key, a Pub/Sub message id,
`source.dedupe`), once the run is recorded, which the duplicate's answer names. When that
publish fails, the run stays `queued` with the reason, and the reconciler
(`mapper.pipeline.reconcile`) publishes it again. A webhook event under a fresh id is only
published: the message carries the run's first record, and the worker writes it when it
first takes the message (docs/data-plane.md); if the publish fails, the run is recorded
`error` with its payload and the sender is answered 503.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import time
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from typing import Any, Literal

from ..engine.config import Integration
from ..errors import MapperError, MessageTooLarge, SignatureError, UnauthenticatedError
from ..json_body import BodyError, parse_json_body
from ..redact import redact_headers
from ..sources.push import EnvelopeError, decode_push_envelope
from ..sources.webhook import body_key, delivery_key, verify_signature
from ..targets.base import SecretResolver
from ..timestamps import epoch_iso
from .after_accept import RunsAfterAccept
from .dedupe import Deduper
from .integrations import Integrations
from .ordering import ordering_key
from .ports import DedupeKeys, MessageQueue, RunLog, SignatureFailures, TokenVerifier
from .rate_limit import RateLimiter
from .runs import QueuedMessage, RunStatus, SourceKind, run_id_for
from .search import search_values
from .shape import ShapeRecorder

log = logging.getLogger("mapper.intake")

ENVELOPE_OVERHEAD_BYTES = 65_536
RAW_BODY_KEPT_BYTES = 200_000  # of a refused body, kept in its run to show the sender
PAUSED_RETRY_AFTER_S = 60  # Retry-After for a paused integration (Pub/Sub uses its own backoff)

ReceiptStatus = Literal[
    # On the internal topic (or already was: a duplicate), and recorded, except a webhook
    # event without a key: recorded just after its 202, or by its worker (`Intake.accept`).
    RunStatus.QUEUED,
    "not_found",  # no integration at this path
    "paused",  # the integration is inactive: the sender should retry after `retry_after` s
    "too_large",  # over the body limit; recorded
    "unauthenticated",  # signature or OIDC token missing or wrong; counted, not recorded whole
    "invalid",  # not JSON, or not an envelope; recorded with the raw body
    "rate_limited",  # past source.rateLimit: the sender should retry after `retry_after` s
    "duplicate",  # source.dedupe: the same values within the window; `run_id` is the first's
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
        dedupe_keys: DedupeKeys | None = None,
        shapes: ShapeRecorder | None = None,
        record_in_background: bool = False,
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
        self._dedupe = Deduper(dedupe_keys, clock)  # source.dedupe
        self._shapes = shapes  # the source shape, folded per instance (mapper.pipeline.shape)
        # Recording a run and publishing its message at the same time: see `accept`.
        self._side = ThreadPoolExecutor(max_workers=8, thread_name_prefix="intake")
        # RECORD_AT_ACCEPT (mapper.services): an event published unrecorded is also written
        # `queued` once the sender has its 202, off the sender's path (see `accept`).
        self._after_accept = RunsAfterAccept(runs) if record_in_background else None

    def close(self) -> None:
        """Write the runs still waiting to be recorded after their 202 (at exit)."""
        if self._after_accept is not None:
            self._after_accept.close()

    # --- the sources ------------------------------------------------------------------

    def receive_webhook(
        self, path: str, headers: Mapping[str, str], read_body: Callable[[int], bytes | None]
    ) -> Receipt:
        """One webhook request; `read_body(limit)` gives the body, or None past `limit`."""
        kind = SourceKind.WEBHOOK
        integration = self._find("webhookPath", path, "this integration is paused; retry later")
        if isinstance(integration, Receipt):
            return integration
        plain_headers = dict(headers)
        body = self._read(integration, kind, read_body, self.max_body_bytes, "body", plain_headers)
        if isinstance(body, Receipt):
            return body
        key = _header(plain_headers, "webhook-id") or _header(plain_headers, "idempotency-key")
        signature = getattr(integration.source, "signature", None)
        if signature is not None:
            try:
                verify_signature(
                    signature, self._secrets.resolve(signature.secret), plain_headers, body
                )
            except SignatureError as exc:
                reason = f"signature check failed ({exc})"
                self._signature_failed(_id(integration), plain_headers, reason)
                return Receipt("unauthenticated", reason=reason)
        data = self._parse(integration, kind, body, "body", headers=plain_headers)
        if isinstance(data, _Refused):
            return data.receipt
        digest = None
        if signature is not None:
            # Only what the signature covers names the event: unsigned headers are ignored.
            key = delivery_key(signature, plain_headers, data, body)
        elif key is not None:
            digest = body_key(body)  # a squatted key must not drop the real event (`accept`)
        run_id = run_id_for(_id(integration), key)
        held = self._dedupe.claim(integration, data, run_id)
        if held is not None and held.first_run_id != run_id:
            return Receipt("duplicate", held.first_run_id, duplicate=True)
        queue = functools.partial(
            self.accept, integration, data, source_kind=kind, headers=plain_headers,
            deduplicate=key is not None, body_digest=digest,
            # No key and no dedupe claim: nothing will ever name this run as its first, so
            # it is recorded by the worker that takes its message (a write less here).
            recorded=key is not None or held is not None,
        )
        with self._dedupe.released_on_failure(held, run_id):
            duplicate = not queue(run_id=run_id)
        if duplicate and digest is not None:
            run_id, duplicate = self._rekeyed(queue, run_id, digest)
        if not duplicate:
            self._observe(integration, data)
        return Receipt(RunStatus.QUEUED, run_id, duplicate=duplicate)

    def receive_push(
        self, path: str, authorization: str | None, read_body: Callable[[int], bytes | None]
    ) -> Receipt:
        """One Pub/Sub push request: OIDC token, envelope, data; `read_body` as above."""
        kind = SourceKind.PUBSUB_PUSH
        if self._push_verifier is not None:
            try:
                self._push_verifier.verify(authorization)
            except UnauthenticatedError as exc:
                return Receipt("unauthenticated", reason=str(exc))
        # Any non-2xx makes Pub/Sub keep the message and deliver it again later.
        integration = self._find("pushPath", path, "this integration is paused")
        if isinstance(integration, Receipt):
            return integration
        # The envelope carries the data base64-encoded: a third larger than the message itself.
        limit = self.max_body_bytes * 4 // 3 + ENVELOPE_OVERHEAD_BYTES
        body = self._read(integration, kind, read_body, limit, "push body")
        if isinstance(body, Receipt):
            return body
        try:
            message = decode_push_envelope(body)
        except EnvelopeError as exc:
            reason = f"undecodable push envelope: {exc}"
            run_id = self.reject(_id(integration), kind, reason, raw_body=body)
            return Receipt("invalid", run_id, reason)
        return self._take(integration, kind, message.message_id, message.data,
                          message.attributes)

    def receive_pulled(
        self,
        integration: Integration,
        message_id: str,
        data: bytes,
        attributes: Mapping[str, str],
    ) -> Receipt:
        """One message the pull runner drained from `integration`'s subscription.

        `queued` (a duplicate too), or `invalid` / `too_large` when it was recorded as an
        error run instead (redelivering it cannot help); a failed write or publish raises.
        """
        try:
            return self._take(integration, SourceKind.PUBSUB_PULL, message_id, data, attributes)
        except MessageTooLarge as exc:  # the run holds the reason
            return Receipt("too_large", run_id_for(_id(integration), message_id), str(exc))

    # --- the steps every source takes -------------------------------------------------

    def _find(self, field: str, path: str, paused: str) -> Integration | Receipt:
        """The integration at this path, or why not: none there, paused, or past its rate."""
        integration = self._integrations.by_field(field, path)
        if integration is None:
            return Receipt("not_found")
        if not integration.active:
            return Receipt("paused", reason=paused, retry_after=PAUSED_RETRY_AFTER_S)
        return self._rate_limited(integration) or integration

    def _read(
        self,
        integration: Integration,
        kind: SourceKind,
        read_body: Callable[[int], bytes | None],
        limit: int,
        what: str,
        headers: Mapping[str, str] | None = None,
    ) -> bytes | Receipt:
        """The body, or a refusal recorded as an error run when it is over `limit`."""
        body = read_body(limit)
        if body is None:
            reason = f"{what} larger than the {limit} byte limit"
            run_id = self.reject(_id(integration), kind, reason, headers=headers)
            return Receipt("too_large", run_id, reason, limit=limit)
        return body

    def _parse(
        self,
        integration: Integration,
        kind: SourceKind,
        raw: bytes,
        what: str,
        *,
        run_id: str | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> Any:
        """The JSON in `raw`, or `_Refused` after recording it as an error run with the body."""
        try:
            return parse_json_body(raw)
        except BodyError as exc:
            reason = f"{what} is not JSON the platform accepts: {exc}"
            run_id = self.reject(
                _id(integration), kind, reason, raw_body=raw, headers=headers, run_id=run_id
            )
            return _Refused(Receipt("invalid", run_id, reason))

    def _take(
        self,
        integration: Integration,
        kind: SourceKind,
        message_id: str,
        raw: bytes,
        attributes: Mapping[str, str],
    ) -> Receipt:
        """A Pub/Sub message's data (pushed or pulled): parse, then record and queue it."""
        run_id = run_id_for(_id(integration), message_id)
        data = self._parse(integration, kind, raw, "message data", run_id=run_id)
        if isinstance(data, _Refused):
            return data.receipt
        held = self._dedupe.claim(integration, data, run_id)
        if held is not None and held.first_run_id != run_id:
            return Receipt("duplicate", held.first_run_id, duplicate=True)
        with self._dedupe.released_on_failure(held, run_id):
            return self._record(integration, data, kind, run_id, attributes=dict(attributes))

    def _record(
        self,
        integration: Integration,
        data: Any,
        kind: SourceKind,
        run_id: str,
        *,
        headers: Mapping[str, str] | None = None,
        attributes: Mapping[str, str] | None = None,
        deduplicate: bool = True,
    ) -> Receipt:
        created = self.accept(
            integration,
            data,
            run_id=run_id,
            source_kind=kind,
            headers=headers,
            attributes=attributes,
            deduplicate=deduplicate,
        )
        if created:
            self._observe(integration, data)
        return Receipt(RunStatus.QUEUED, run_id, duplicate=not created)

    def _observe(self, integration: Integration, data: Any) -> None:
        """Fold an accepted payload into the source shape (sampled; never fails the request)."""
        if self._shapes is not None:
            self._shapes.observe(integration, data)

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
        original_run_id: str | None = None,
        deduplicate: bool = True,
        body_digest: str | None = None,
        key_reused_from: str | None = None,
        delivered: list[dict[str, Any]] | None = None,
        recorded: bool = True,
    ) -> bool:
        """Record and queue one message; False when it was a duplicate (nothing published).

        `delivered` (a redrive of a fan-out run): the original's deliveries that went
        through; the new run starts with them, so their targets are not sent again.

        With `deduplicate` (the run id comes from a key the sender may send again), the run
        is created first and only its creator publishes. Without it (a fresh random id, no
        duplicate possible) the run is written while the message is published, which saves
        a round trip; a worker that gets there first waits for the run (`Worker`). With
        `recorded` False as well (a webhook event under a fresh id), the run is not written
        here at all: the message carries its first record and the worker that takes it
        writes it (`Worker.process`); only a failed publish records it, ended `error`.
        With `record_in_background` the run is also written `queued` after the publish,
        without the sender waiting for it, grouped with other requests' runs
        (`RunsAfterAccept`): if Pub/Sub ever lost the message, the reconciler would find
        the run and publish it again. Whichever write comes second, this one or
        the worker's, finds the run there and leaves it (`RunLog.create_each`, `claim`).

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
            "status": RunStatus.QUEUED,
            "incomingPayload": data,
            "incomingHeaders": shown_headers,
            "incomingAttributes": dict(attributes or {}),
            "attempts": 0,
        }
        if replay_of:
            run["replayOf"] = replay_of
        if original_run_id:
            # The event's first run: its id is the key the receiver sees (mapper.pipeline.worker).
            run["originalRunId"] = original_run_id
        if body_digest:
            run["incomingDigest"] = body_digest
        if key_reused_from:
            run["keyReusedFrom"] = key_reused_from
        if delivered:
            run["deliveries"] = delivered
        if integration.search_keys:
            run["searchValues"] = search_values(integration.search_keys, data)
        ordered_by = ordering_key(integration, data)
        if ordered_by is not None:
            run["orderingKey"] = ordered_by
        accepted_at = self._clock()
        # The accept time, whoever writes the run and whenever (the write after the 202
        # lingers; a worker may create it from the message): lists and a resume's held runs
        # go by `createdAt`, in the order the events reached us.
        run["createdAt"] = epoch_iso(accepted_at)
        message = QueuedMessage.for_run(run, data, accepted_at, recorded=recorded or deduplicate)
        if deduplicate:
            if not self._runs.create(run):
                existing = self._runs.get(run_id) or {}
                if _another_body(existing, body_digest):
                    return False  # not this event's run: the caller names another (`_rekeyed`)
                if existing.get("status") != RunStatus.QUEUED or not existing.get("unpublished"):
                    return False  # recorded and published before: do not publish another copy
                # Cleared before publishing, never after: once published the worker may
                # claim the run at once, and any later write would take its claim away.
                # A publish that fails again sets the flag again (`_publish`).
                self._runs.touch(run_id, unpublished=False, errorMessage=None)
                self._publish(run_id, message)
                return True
            self._publish(run_id, message)
            return True
        if not message.recorded:
            if self._after_accept is not None:  # its worker looks for this write first
                message = replace(message, recording=True)
            self._publish_unrecorded(run, message)
            if self._after_accept is not None:
                self._after_accept.record(run)
            return True
        creating = self._side.submit(self._runs.create, run)
        self._publish(run_id, message, recorded=creating.result, retry_is_new_run=True)
        return True

    def _publish(
        self,
        run_id: str,
        message: QueuedMessage,
        recorded: Callable[[], Any] = lambda: None,
        retry_is_new_run: bool = False,
    ) -> None:
        """Publish `message`; `recorded()` waits for the run's write (which may raise).

        `retry_is_new_run`: the sender has no key, so its retry after our 503 is a new run;
        this one then ends `error` instead of waiting for the reconciler, which would
        deliver the same event twice under two run ids.
        """
        attributes = {"runId": run_id, "integrationId": message.integration_id}
        try:
            self._queue.publish(message.to_dict(), attributes, message.ordering_key)
        except MessageTooLarge as exc:
            recorded()
            self._runs.mark(run_id, RunStatus.ERROR, errorMessage=str(exc))
            raise
        except MapperError as exc:
            if retry_is_new_run:
                log.error("run %s: publish failed, the run ends (answered 503): %s", run_id, exc)
                recorded()
                reason = f"not queued, the sender was answered 503 to send it again: {exc}"
                with contextlib.suppress(MapperError):
                    self._runs.mark(run_id, RunStatus.ERROR, errorMessage=reason)
                raise
            log.error("run %s: publish failed, the run stays queued: %s", run_id, exc)
            recorded()
            with contextlib.suppress(MapperError):  # the reconciler finds it queued anyway
                self._runs.touch(run_id, unpublished=True, errorMessage=str(exc))
            raise
        recorded()  # a failed write raises here: the sender is told to retry

    def _publish_unrecorded(self, run: dict[str, Any], message: QueuedMessage) -> None:
        """Publish a message that carries its run's first record; write the run only if the
        publish fails: ended `error` with its payload and the reason, then raised (a 503 to
        the sender, whose retry is a new event: it has no key)."""
        attributes = {"runId": message.run_id, "integrationId": message.integration_id}
        try:
            self._queue.publish(message.to_dict(), attributes, message.ordering_key)
        except MapperError as exc:
            reason = str(exc) if isinstance(exc, MessageTooLarge) else (
                f"not queued, the sender was answered 503 to send it again: {exc}")
            log.error("run %s: publish failed, recorded as ended: %s", message.run_id, exc)
            try:
                self._runs.create({**run, "status": RunStatus.ERROR, "errorMessage": reason})
            except MapperError as write:  # the sender still gets the error and sends again
                log.error("run %s: not recorded either: %s", message.run_id, write)
            raise

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
            "status": RunStatus.ERROR,
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
            reason = f"rejected: {reason}"
            self.reject(integration_id, SourceKind.WEBHOOK, reason, headers=headers)


@dataclass(frozen=True)
class _Refused:
    """A body that was not JSON, recorded; its receipt (any JSON value is a payload)."""

    receipt: Receipt


def _another_body(existing: Mapping[str, Any], digest: str | None) -> bool:
    """Whether a run found under a sender's key holds another body than `digest`'s."""
    return digest is not None and existing.get("incomingDigest") not in (None, digest)



def _id(integration: Integration) -> str:
    assert integration.id is not None  # stored integrations always have one
    return integration.id


def _header(headers: Mapping[str, str], name: str) -> str | None:
    for key, value in headers.items():
        if key.lower() == name:
            return value or None
    return None
