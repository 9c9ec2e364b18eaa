"""The processing half: one queued message through condition, mapping and target.

Each delivery first claims its run (`RunLog.claim`): one sender at a time, under a lease
as long as the target's timeout plus `LEASE_MARGIN_S`. A redelivery that finds the lease
held does not send; it is retried later and then finds the outcome. Only the lease holder
records the outcome. Errors are handled in one place, by what they say happens next:
retryable ones are raised so that Pub/Sub delivers the message again; every other
`MapperError` ends the run as `error` with its reason. docs/data-plane.md states the
guarantee this gives.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable
from typing import Any

from ..engine.config import EmailTarget, Integration
from ..engine.plan import Message, PlanCache
from ..engine.receiver_schema import check_output
from ..errors import ConfigError, MapperError, PartiallyDelivered, SchemaViolationError
from ..redact import Redactor, redact_headers
from ..targets import Delivery, EgressPolicy, SecretResolver, TargetFactory, build_target
from .integrations import Integrations
from .ports import Claim, RunLog

log = logging.getLogger("mapper.worker")

LEASE_MARGIN_S = 30  # beyond the target's timeout: transform, records, a slow instance
ORPHAN_GRACE_S = 120  # how long a message may wait for its run to be recorded
SMTP_LEASE_S = 90  # an email's SMTP conversation: connect, TLS, login, send (30 s each op)
DEFAULT_MAX_ATTEMPTS = 10  # the worker subscription's max delivery attempts (infra/)


class RunBusy(MapperError):
    """Another delivery holds the run's lease; this one is retried later."""

    code = "run_busy"
    retryable = True


class RunNotRecorded(MapperError):
    """The message arrived before its run was written; retried until it shows."""

    code = "run_not_recorded"
    retryable = True


class IntegrationGone(MapperError):
    """The integration was deleted after the message was accepted."""

    code = "integration_gone"


def lease_seconds(integration: Integration) -> float:
    """How long one delivery of this integration may hold its run."""
    target = integration.target
    if isinstance(target, EmailTarget):
        return SMTP_LEASE_S + LEASE_MARGIN_S
    return float(target.timeout_seconds) + LEASE_MARGIN_S


class Worker:
    """Runs one internal message; returns the run's status, raises to be retried."""

    def __init__(
        self,
        integrations: Integrations,
        runs: RunLog,
        plans: PlanCache,
        secrets: SecretResolver,
        egress: EgressPolicy,
        *,
        clock: Callable[[], float] = time.time,
        new_delivery_id: Callable[[], str] = lambda: uuid.uuid4().hex,
        targets: TargetFactory = build_target,
        max_attempts: int = DEFAULT_MAX_ATTEMPTS,
    ) -> None:
        self._integrations = integrations
        self._runs = runs
        self._plans = plans
        self._secrets = secrets
        self._egress = egress
        self._clock = clock
        self._new_delivery_id = new_delivery_id
        self._targets = targets
        self._max_attempts = max_attempts

    def process(self, message: dict[str, Any]) -> str:
        """Process one internal message; the run's status, or raise to be delivered again."""
        run_id = str(message["runId"])
        claim: Claim | None = None
        try:
            integration = self._integration(message)
            claim = self._runs.claim(run_id, self._new_delivery_id(), lease_seconds(integration))
            if claim.state == "done":
                return str(claim.run.get("status"))  # finished before: do not send twice
            if claim.state == "busy":
                raise RunBusy(f"run {run_id} is being delivered by another attempt")
            if claim.state == "missing":
                return self._orphan(message)
        except MapperError as exc:
            return self._failed(run_id, claim, exc, {})
        return self._run(run_id, claim, integration, message)

    def dead_letter(self, message: dict[str, Any]) -> str:
        """Pub/Sub gave up on this message: end its run as dead_lettered, keeping its last error."""
        run_id = str(message["runId"])
        run = self._runs.get(run_id) or {}
        reason = run.get("errorMessage") or "delivery kept failing"
        return self._runs.end_unless_leased(
            run_id,
            "dead_lettered",
            {"errorMessage": f"gave up after {run.get('attempts', 0)} attempts: {reason}"},
        )

    # --- steps ------------------------------------------------------------------------

    def _integration(self, message: dict[str, Any]) -> Integration:
        try:
            integration = self._integrations.by_id(
                str(message["integrationId"]), message.get("integrationVersion")
            )
        except ConfigError as exc:
            raise ConfigError(exc.problems) from None  # permanent: the stored doc is invalid
        if integration is None:
            raise IntegrationGone("the integration no longer exists")
        return integration

    def _run(
        self, run_id: str, claim: Claim, integration: Integration, message: dict[str, Any]
    ) -> str:
        data = message.get("payload")
        fields: dict[str, Any] = {"integrationVersion": integration.version}
        try:
            plan = self._plans.get(integration)
            outcome = plan.apply(Message(data, message.get("attributes"), message.get("headers")))
        except MapperError as exc:  # a plan that does not compile
            return self._failed(run_id, claim, exc, fields)
        fields["transformationTimeMs"] = round(outcome.transform_ms, 3)
        if outcome.error is not None:
            return self._failed(run_id, claim, outcome.error, fields)
        if outcome.skipped:
            return self._finish(run_id, claim, "skipped", fields)
        fields["transformedPayload"] = outcome.output
        try:  # the receiver's schema, on the final output: on a violation nothing is sent
            check_output(integration.target, outcome.output)
        except SchemaViolationError as exc:
            fields["schemaViolations"] = exc.violations
            return self._failed(run_id, claim, exc, fields)
        try:
            target = self._targets(integration.target, self._secrets, self._egress)
        except MapperError as exc:  # a target it cannot build
            return self._failed(run_id, claim, exc, fields)
        started = time.perf_counter()
        try:
            delivery = target.send(outcome.output, data, run_id=run_id)
        except MapperError as exc:
            fields["apiCallTimeMs"] = round((time.perf_counter() - started) * 1000, 3)
            fields.update(_recorded(getattr(exc, "delivery", None)))
            return self._failed(run_id, claim, exc, fields)
        finally:
            target.close()
        fields["apiCallTimeMs"] = round(delivery.duration_ms, 3)
        fields.update(_recorded(delivery))
        fields["errorMessage"] = None
        return self._finish(run_id, claim, "success", fields)

    def _failed(
        self, run_id: str, claim: Claim | None, exc: MapperError, fields: dict[str, Any]
    ) -> str:
        """The one place errors are handled: retry what may pass later, record the rest."""
        fields = {**fields, "errorMessage": str(exc)}
        claimed = claim is not None and claim.state == "claimed"
        if exc.retryable:
            if claim is not None and claimed:
                self._runs.finish(run_id, claim, "retrying", fields)
                self._log_attempt(claim, "retrying", fields)
            raise exc
        if claim is not None and claimed:
            status = "partial" if isinstance(exc, PartiallyDelivered) else "error"
            return self._finish(run_id, claim, status, fields)
        status = self._runs.end_unless_leased(run_id, "error", fields)
        log.warning("run %s: %s: %s", run_id, status, exc)
        return status

    def _finish(self, run_id: str, claim: Claim, status: str, fields: dict[str, Any]) -> str:
        self._log_attempt(claim, status, fields)
        if not self._runs.finish(run_id, claim, status, fields):
            # The lease ran out and another delivery took the run over: its record stands.
            log.warning("run %s: lease lost before recording %s; not recorded", run_id, status)
            return "superseded"
        return status

    def _log_attempt(self, claim: Claim, outcome: str, fields: dict[str, Any]) -> None:
        """One readable line per attempt: run, integration, attempt n of N, outcome, reason.

        Its `status`, `attempt` and `apiCallTimeMs` are also structured fields, which the
        log-based metrics in infra/monitoring.tf read.
        """
        run = claim.run
        attempt = int(run.get("attempts") or 0)
        reason = fields.get("errorMessage")
        extra: dict[str, Any] = {"status": outcome, "attempt": attempt}
        if fields.get("apiCallTimeMs") is not None:
            extra["apiCallTimeMs"] = fields["apiCallTimeMs"]
        line = (
            f"run {run.get('id')} (integration {run.get('integrationId')}): "
            f"attempt {attempt} of {self._max_attempts}: {outcome}"
        )
        if reason:
            line += f": {reason}"
        if outcome == "retrying":
            last = attempt >= self._max_attempts
            line += "; next: the dead letter" if last else "; Pub/Sub retries it with backoff"
            log.warning(line, extra=extra)
        elif outcome == "error":
            log.warning(line + "; not retried", extra=extra)
        else:
            log.info(line, extra=extra)

    def _orphan(self, message: dict[str, Any]) -> str:
        accepted = float(message.get("acceptedAt") or 0)
        if self._clock() - accepted < ORPHAN_GRACE_S:
            raise RunNotRecorded(f"run {message['runId']} is not recorded yet")
        # The intake's write failed after publishing, and the sender was told to retry.
        log.error("run %s: message without a run record after %ss; dropped", message["runId"],
                  ORPHAN_GRACE_S)
        return "missing"


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
