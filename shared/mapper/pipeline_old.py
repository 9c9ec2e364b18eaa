"""condition -> plan -> target -> run record. Knows nothing of HTTP or CloudEvents.

Two halves, as the flow in docs/data-plane.md shows:
- `Intake.accept` (webhook, Pub/Sub push, pull): record a `queued` run, publish the message
  on the internal topic, return only once Pub/Sub has it.
- `Worker.process` (the Pub/Sub-triggered worker): run the message through its
  integration and target; record the outcome; raise what should be retried.
Both are idempotent: the run id is the message's idempotency key.
"""

from __future__ import annotations

import hashlib
import json
import re
import time
import uuid
from dataclasses import dataclass
from typing import Any

from .engine.config import Integration, parse_integration
from .engine.plan import Message, PlanCache
from .errors import ConfigError, MapperError, MessageTooLarge, SecretError, TargetError
from .queue import Queue
from .redact import Redactor, redact_headers
from .secrets import SecretBackend
from .store import FIELD_LIMIT_BYTES, IntegrationStore, PullStateStore, RunStore
from .targets import Delivery, EgressPolicy, SecretResolver, build_target

TERMINAL = frozenset({"success", "error", "skipped", "dead_lettered"})
DEFAULT_CONFIG_TTL_S = 30.0
_KEY_CHARS = re.compile(r"^[A-Za-z0-9_.:=+-]{1,200}$")


@dataclass
class Services:
    """Every client the pipeline uses, built once per process by `mapper.services`."""

    integrations: IntegrationStore
    runs: RunStore
    queue: Queue
    secrets: SecretResolver
    egress: EgressPolicy
    plans: PlanCache
    configs: ConfigCache
    secret_backend: SecretBackend
    pull_state: PullStateStore


class ConfigCache:
    """Integration documents cached for `ttl_s`, refreshed early when a message is newer."""

    def __init__(self, store: IntegrationStore, ttl_s: float = DEFAULT_CONFIG_TTL_S) -> None:
        self._store = store
        self._ttl_s = ttl_s
        self._docs: dict[str, tuple[float, dict[str, Any] | None]] = {}

    def get(self, integration_id: str, min_version: int | None = None) -> dict[str, Any] | None:
        """The integration, from cache unless expired or older than `min_version`."""
        cached = self._docs.get(integration_id)
        now = time.monotonic()
        if cached is not None and now - cached[0] < self._ttl_s:
            doc = cached[1]
            if doc is not None and (
                min_version is None or (doc.get("version") or 0) >= min_version
            ):
                return doc
        doc = self._store.get(integration_id)
        self._docs[integration_id] = (now, doc)
        return doc


def run_id_for(integration_id: str, key: str | None) -> str:
    """The run id: the sender's idempotency key scoped to its integration, else a new one.

    Scoped so that two senders using the same key on two integrations never collide.
    """
    if not key:
        return f"{integration_id}.{uuid.uuid4().hex}"
    if not _KEY_CHARS.match(key):
        key = "h" + hashlib.sha256(key.encode()).hexdigest()[:40]
    return f"{integration_id}.{key}"


def _now_ms() -> float:
    return time.perf_counter() * 1000


class Intake:
    """The entry half: a message that reached us becomes a queued run, or a recorded error."""

    def __init__(self, services: Services) -> None:
        self._s = services

    def find(self, field: str, value: str) -> dict[str, Any] | None:
        """The integration whose `field` (webhookPath, pushPath) is `value`, if any."""
        return self._s.integrations.find_by_field(field, value)

    def accept(
        self,
        integration: dict[str, Any],
        data: Any,
        *,
        run_id: str,
        source_kind: str,
        headers: dict[str, str] | None = None,
        attributes: dict[str, str] | None = None,
        replay_of: str | None = None,
    ) -> tuple[str, bool]:
        """Record and queue one message; (run id, False when it was a duplicate)."""
        # Lower-case names, as Node and the Fetch API show them to JavaScript.
        headers = {k.lower(): v for k, v in redact_headers(headers or {}).items()}
        run = {
            "id": run_id,
            "integrationId": integration["id"],
            "sourceKind": source_kind,
            "status": "queued",
            "incomingPayload": data,
            "incomingHeaders": headers,
            "incomingAttributes": attributes or {},
            "attempts": 0,
        }
        if replay_of:
            run["replayOf"] = replay_of
        created = self._s.runs.create(run)
        if not created:
            existing = self._s.runs.get(run_id) or {}
            if existing.get("status") != "queued":
                return run_id, False  # already being processed or done: do not send twice
            # Still queued: an earlier publish may have failed after the run was written.
        try:
            self._publish(integration, data, run_id, headers, attributes)
        except MessageTooLarge as exc:
            self._s.runs.mark(run_id, "error", errorMessage=str(exc))
            raise
        return run_id, created

    def _publish(
        self,
        integration: dict[str, Any],
        data: Any,
        run_id: str,
        headers: dict[str, str],
        attributes: dict[str, str] | None,
    ) -> None:
        self._s.queue.publish(
            {
                "runId": run_id,
                "integrationId": integration["id"],
                "integrationVersion": integration.get("version"),
                "payload": data,
                "headers": headers,
                "attributes": attributes or {},
            },
            {"runId": run_id, "integrationId": integration["id"]},
        )

    def reject(
        self,
        integration_id: str,
        *,
        source_kind: str,
        reason: str,
        raw_body: bytes | None = None,
        headers: dict[str, str] | None = None,
        run_id: str | None = None,
    ) -> str:
        """Record a message we refused (bad JSON, too large, bad signature) as an error run."""
        run_id = run_id or run_id_for(integration_id, None)
        run: dict[str, Any] = {
            "id": run_id,
            "integrationId": integration_id,
            "sourceKind": source_kind,
            "status": "error",
            "errorMessage": reason,
            "incomingHeaders": redact_headers(headers or {}),
        }
        if raw_body is not None:
            text = raw_body[:FIELD_LIMIT_BYTES].decode("utf-8", errors="replace")
            run["incomingRaw"] = True  # not the sender's JSON: nothing to replay
            run["incomingPayload"] = {
                "raw": text,
                "size": len(raw_body),
                "truncated": len(raw_body) > FIELD_LIMIT_BYTES,
            }
        self._s.runs.create(run)
        return run_id


class Worker:
    """The processing half: one queued message through condition, mapping and target."""

    def __init__(self, services: Services) -> None:
        self._s = services

    def process(self, message: dict[str, Any]) -> str:
        """Process one internal message; returns the run's status, raises to be retried."""
        run_id = message["runId"]
        run = self._s.runs.claim_attempt(run_id)
        if run.get("status") in TERMINAL:
            return run["status"]  # a redelivery of finished work: do not send twice
        attempts = run["attempts"]
        doc = self._s.configs.get(message["integrationId"], message.get("integrationVersion"))
        if doc is None:
            return self._finish(run_id, "error", errorMessage="the integration no longer exists")
        try:
            integration = parse_integration(doc)
        except ConfigError as exc:
            return self._finish(run_id, "error", errorMessage=f"the integration is invalid: {exc}")
        plan = self._s.plans.get(integration)
        data = message.get("payload")
        outcome = plan.apply(Message(data, message.get("attributes"), message.get("headers")))
        timing = {"transformationTimeMs": round(outcome.transform_ms, 3), "attempts": attempts}
        if outcome.error is not None:
            return self._finish(run_id, "error", errorMessage=str(outcome.error), **timing)
        if outcome.skipped:
            return self._finish(run_id, "skipped", **timing)
        return self._deliver(run_id, integration, outcome.output, data, timing)

    def _deliver(
        self,
        run_id: str,
        integration: Integration,
        output: Any,
        source: Any,
        timing: dict[str, Any],
    ) -> str:
        started = _now_ms()
        fields: dict[str, Any] = {**timing, "transformedPayload": output}
        target = None
        try:
            target = build_target(integration.target, self._s.secrets, self._s.egress)
            delivery = target.send(output, source)
        except (TargetError, SecretError) as exc:
            fields["apiCallTimeMs"] = round(_now_ms() - started, 3)
            fields.update(_recorded(getattr(exc, "delivery", None)))
            fields["errorMessage"] = str(exc)
            if exc.retryable:
                self._s.runs.mark(run_id, "retrying", **fields)
                raise
            return self._finish(run_id, "error", **fields)
        except MapperError as exc:
            return self._finish(run_id, "error", errorMessage=str(exc), **fields)
        finally:
            if target is not None and hasattr(target, "close"):
                target.close()
        fields["apiCallTimeMs"] = round(delivery.duration_ms, 3)
        fields.update(_recorded(delivery))
        fields["errorMessage"] = None
        return self._finish(run_id, "success", **fields)

    def dead_letter(self, message: dict[str, Any]) -> str:
        """Pub/Sub gave up on this message: end its run as dead_lettered, keeping its last error."""
        run_id = message["runId"]
        run = self._s.runs.get(run_id)
        if run is None or run.get("status") in TERMINAL:
            return (run or {}).get("status", "missing")
        reason = run.get("errorMessage") or "delivery kept failing"
        return self._finish(
            run_id,
            "dead_lettered",
            errorMessage=f"gave up after {run.get('attempts', 0)} attempts: {reason}",
        )

    def _finish(self, run_id: str, status: str, **fields: Any) -> str:
        self._s.runs.mark(run_id, status, **fields)
        return status


def _recorded(delivery: Delivery | None) -> dict[str, Any]:
    """The redaction choke point for what a target sent and received."""
    if delivery is None:
        return {}
    redactor = Redactor(delivery.secret_values)
    request = dict(delivery.request)
    request["headers"] = redact_headers(request.get("headers") or {})
    out: dict[str, Any] = {"outgoingRequest": redactor.scrub(request)}
    if delivery.response is not None:
        response = dict(delivery.response)
        response["headers"] = redact_headers(response.get("headers") or {})
        out["outgoingResponse"] = redactor.scrub(response)
    return out


def decode_internal(data: bytes) -> dict[str, Any]:
    """The internal topic's message (JSON) as published by `Intake.accept`."""
    return json.loads(data)
