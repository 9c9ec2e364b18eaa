"""The processing half: one queued message through condition, mapping and target.

Each delivery first claims its run (`RunLog.claim`): one sender at a time, under a lease
as long as the target's timeout plus `LEASE_MARGIN_S`. A redelivery that finds the lease
held does not send; it is retried later and then finds the outcome. Only the lease holder
records the outcome. Errors are handled in one place, by what they say happens next:
retryable ones are raised so that Pub/Sub delivers the message again; every other
`MapperError` ends the run as `error` with its reason. docs/data-plane.md states the
guarantee this gives.

A webhook event the intake published without recording it (`QueuedMessage.recorded`
False) is recorded here: the claim creates the run from the message with the lease taken
(when the intake writes it too, `recording`, only if the gate's look found none), and
every path that holds or ends a run before its claim (paused delivery, the paced path,
an integration deleted since, the dead letter) records it from the message likewise.

Retries follow the integration's `retry` policy (else the platform's), counted from the
run's own `attempts` (mapper.pipeline.retries), whatever the queue's delivery count says:
a failed attempt records `nextAttemptAt`, a delivery that arrives before it is sent back
without attempting or counting, and the last allowed attempt ends the run `dead_lettered`.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from ..engine.config import EmailTarget, Integration, RetryPolicy, Route
from ..engine.plan import Message, Outcome, PlanCache
from ..engine.receiver_schema import check_output
from ..errors import (
    ConfigError,
    DeliveryQueueError,
    MapperError,
    PartiallyDelivered,
    SchemaViolationError,
)
from ..redact import Redactor, redact_headers
from ..targets import Delivery, EgressPolicy, SecretResolver, TargetFactory, build_target
from ..timestamps import epoch_iso
from . import fanout
from .integrations import Integrations
from .pacing import DEFAULT_TARGET, PACED_NOTE, DeliveryGate, Gate, route_paced
from .ports import Claim, MessageQueue, Notifier, NotifyEvent, RunLog, held_by_live_lease, not_due
from .retries import after_failure, exhausted
from .runs import TERMINAL, QueuedMessage, RunStatus, event_id

log = logging.getLogger("mapper.worker")

LEASE_MARGIN_S = 30  # beyond the target's timeout: transform, records, a slow instance
# How long a message recorded at accept (a test event, a replay: the run is written while
# the message is published) may wait for that write to show.
ORPHAN_GRACE_S = 120
SMTP_LEASE_S = 90  # an email's SMTP conversation: connect, TLS, login, send (30 s each op)


class RunBusy(MapperError):
    """Another delivery holds the run's lease; this one is retried later."""

    code = "run_busy"
    retryable = True


class RunNotRecorded(MapperError):
    """The message arrived before its run was written; retried until it shows."""

    code = "run_not_recorded"
    retryable = True


class NotDueYet(MapperError):
    """The run waits for its `nextAttemptAt`: this delivery is retried later, not counted."""

    code = "not_due_yet"
    retryable = True


class IntegrationGone(MapperError):
    """The integration was deleted after the message was accepted."""

    code = "integration_gone"


def lease_seconds(integration: Integration) -> float:
    """How long one delivery of this integration may hold its run.

    A fan-out's targets are sent at the same time: the slowest one counts.
    """
    return max(
        SMTP_LEASE_S if isinstance(route.target, EmailTarget) else route.target.timeout_seconds
        for route in integration.routes()
    ) + LEASE_MARGIN_S


class NoSuchTarget(MapperError):
    """A delivery task names a target the integration does not have; it never will."""

    code = "no_such_target"


class TargetsRetrying(MapperError):
    """Some targets of a fan-out failed in a way worth retrying; the run is retried for them."""

    code = "targets_retrying"
    retryable = True


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
        retry: RetryPolicy | None = None,
        queue: MessageQueue | None = None,
        gate: DeliveryGate | None = None,
        notifier: Notifier | None = None,
    ) -> None:
        self._integrations = integrations
        self._runs = runs
        self._plans = plans
        self._secrets = secrets
        self._egress = egress
        self._clock = clock
        self._new_delivery_id = new_delivery_id
        self._targets = targets
        # For integrations without `retry`: the platform's settings (mapper.services).
        self._retry = retry or RetryPolicy()
        self._queue = queue  # the dead letter's handler publishes a run with attempts left
        # Paused delivery, the paced path and the circuit breaker (None: none of them).
        self._gate = gate
        self._notifier = notifier  # run.dead_lettered, to the integration's `notify`

    def process(
        self, message: QueuedMessage, *, dispatched: bool = False, target: str = DEFAULT_TARGET
    ) -> str:
        """Process one internal message; the run's status, or raise to be delivered again.

        `dispatched`: the message comes from `target`'s delivery queue (the paced path).
        """
        run_id = message.run_id
        first = None if message.recorded else message.first_record()
        claim: Claim | None = None
        gate = Gate(None)
        only: str | None = None  # a fan-out target dispatched by its own queue
        try:
            integration = self._integration(message)
            if dispatched and integration.fanout:
                # A target renamed or removed since its task was queued: the run is taken
                # as from the topic (each target still due is sent or handed over once).
                only = target if target in {r.name for r in integration.routes()} else None
            elif dispatched and target != DEFAULT_TARGET:
                raise NoSuchTarget(f"the integration has no target named {target!r}")
            if self._gate is not None:
                # Read fresh on every run, past the configuration cache: a pause holds
                # every run whose worker reads the state after it was written.
                gate = self._gate.before(integration, message, dispatched)
                if gate.wait is not None:
                    return gate.wait
            # A fan-out target from its queue keeps its own schedule, not the run's (whose
            # `nextAttemptAt` may be another target's).
            # Where the gate read the run along with the delivery state, the claim starts
            # from that read (`gate.seen`): one round trip less.
            claim = self._runs.claim(run_id, self._new_delivery_id(), lease_seconds(integration),
                                     on_schedule=only is None, first=first, seen=gate.seen)
            if claim.state == "done":
                return str(claim.run.get("status"))  # finished before: do not send twice
            if claim.state == "busy":
                raise RunBusy(f"run {run_id} is being delivered by another attempt")
            if claim.state == "early":
                when = claim.run.get("nextAttemptAt")
                raise NotDueYet(f"run {run_id} is not attempted again before {when}")
            if claim.state == "missing":
                return self._orphan(message)
        except MapperError as exc:
            return self._failed(run_id, claim, exc, {}, first=first)
        policy = self.policy(integration, ordered=message.ordering_key is not None)
        spent = exhausted(policy, claim.run, self._clock())
        if spent is not None:
            # The attempt counted by this claim is past the policy (an earlier one never
            # recorded its outcome) or the event is too old: nothing is sent.
            last = claim.run.get("errorMessage") or "delivery kept failing"
            fields = {"errorMessage": f"not attempted again: {spent}: {last}"}
            if integration.fanout:
                known = fanout.previous(claim.run).values()
                fields["deliveries"] = fanout.ended_as(known, RunStatus.DEAD_LETTERED)
            status = self._finish(run_id, claim, RunStatus.DEAD_LETTERED, fields, policy)
        elif integration.fanout:
            status = self._fan_out(run_id, claim, integration, message, policy, gate, only)
        else:
            status = self._run(run_id, claim, integration, message, policy, gate)
        return self._notify_if_dead(integration, run_id, status)

    def policy(self, integration: Integration | None, *, ordered: bool = False) -> RetryPolicy:
        """The retry policy of the integration's runs (`ordered`: of a run with a key)."""
        if integration is None or integration.retry is None:
            return self._retry
        if ordered and integration.retry.max_attempts > self._retry.max_attempts:
            # The platform's own last attempt must come no later than the subscription's
            # last delivery (its max_delivery_attempts, which the platform's policy
            # mirrors): returning then releases the key in order. Past it, Pub/Sub's dead
            # letter would take the message instead, and the emulator then stops pushing
            # the whole ordered subscription (docs/delivery.md, "Ordering").
            return integration.retry.model_copy(
                update={"max_attempts": self._retry.max_attempts}
            )
        return integration.retry

    def dead_letter(self, message: QueuedMessage) -> str:
        """Pub/Sub gave up on this message: end its run as dead_lettered, keeping its last error.

        Unless the run has attempts left by its own count (Pub/Sub's count also grew with
        deliveries that arrived before `nextAttemptAt`): then it stays `retrying`, and is
        published again now if it is due, else by the reconciler when it is. Not an ordered
        run: Pub/Sub has released its key, the later events of the key are on their way, and
        a copy would reach the receiver after them (docs/delivery.md, "Ordering").
        """
        run_id = message.run_id
        run = self._runs.get(run_id) or {}
        # A message published unrecorded whose every delivery failed before its claim: its
        # run is recorded now, dead_lettered, with its payload (`first`).
        first = None if message.recorded else message.first_record()
        ordered = bool(run.get("orderingKey"))
        if run.get("status") == RunStatus.RETRYING and self._queue is not None and not ordered:
            try:
                integration = self._integration(message)
            except MapperError:
                integration = None
            policy = self.policy(integration)
            now = self._clock()
            left = exhausted(policy, {**run, "attempts": int(run.get("attempts") or 0) + 1}, now)
            if integration is not None and left is None:
                if not not_due(run, epoch_iso(now)) and not held_by_live_lease(run, epoch_iso(now)):
                    self._queue.publish(
                        QueuedMessage.again(run, now).to_dict(),
                        {"runId": run_id, "integrationId": str(run.get("integrationId"))},
                    )
                log.warning(
                    "run %s: the queue gave up on its message after attempt %s of %s; "
                    "retried by the platform", run_id, run.get("attempts", 0),
                    policy.max_attempts,
                )
                return RunStatus.RETRYING
        reason = run.get("errorMessage") or (
            "delivery kept failing" if run else "every delivery failed before its attempt"
        )
        fields: dict[str, Any] = {
            "errorMessage": f"gave up after {run.get('attempts', 0)} attempts: {reason}",
            "nextAttemptAt": None,
        }
        status = RunStatus.DEAD_LETTERED
        known = fanout.previous(run)
        if known:  # a fan-out: its targets still retrying end; those that succeeded stand
            fields["deliveries"] = fanout.ended_as(known.values(), RunStatus.DEAD_LETTERED)
            status = fanout.run_status(fields["deliveries"])
        status = self._runs.end_unless_leased(run_id, status, fields, first=first)
        ended_now = run.get("status") not in TERMINAL  # not a second copy of an ended run
        if status == RunStatus.DEAD_LETTERED and ended_now and self._notifier is not None:
            try:
                integration = self._integration(message)
            except MapperError:
                return status  # deleted or invalid: nowhere to notify
            return self._notify_if_dead(integration, run_id, status)
        return status

    def _notify_if_dead(self, integration: Integration, run_id: str, status: str) -> str:
        """Tell the integration's `notify` of a run just recorded dead_lettered; `status`."""
        if status != RunStatus.DEAD_LETTERED or self._notifier is None:
            return status
        if integration.notify is None:
            return status
        try:
            run = self._runs.get(run_id) or {}  # as recorded: no payload, nothing secret
        except MapperError as exc:  # the outcome is recorded: a notice never undoes that
            log.warning("run %s: cannot read it back to notify: %s", run_id, exc)
            run = {}
        data = {
            "runId": run_id,
            "status": str(status),
            "errorMessage": run.get("errorMessage"),
            "attempts": int(run.get("attempts") or 0),
        }
        self._notifier.notify(integration, NotifyEvent.RUN_DEAD_LETTERED, data)
        return status

    # --- steps ------------------------------------------------------------------------

    def _integration(self, message: QueuedMessage) -> Integration:
        try:
            integration = self._integrations.by_id(
                message.integration_id, message.integration_version
            )
        except ConfigError as exc:
            raise ConfigError(exc.problems) from None  # permanent: the stored doc is invalid
        if integration is None:
            raise IntegrationGone("the integration no longer exists")
        return integration

    def _run(
        self,
        run_id: str,
        claim: Claim,
        integration: Integration,
        message: QueuedMessage,
        policy: RetryPolicy,
        gate: Gate,
    ) -> str:
        data = message.payload
        fields: dict[str, Any] = {"integrationVersion": integration.version}
        try:
            plan = self._plans.get(integration)
            outcome = plan.apply(Message(data, message.attributes, message.headers))
        except MapperError as exc:  # a plan that does not compile
            return self._failed(run_id, claim, exc, fields, policy)
        fields["transformationTimeMs"] = round(outcome.transform_ms, 3)
        if outcome.error is not None:
            return self._failed(run_id, claim, outcome.error, fields, policy)
        if outcome.skipped:
            return self._finish(run_id, claim, RunStatus.SKIPPED, fields, policy)
        fields["transformedPayload"] = outcome.output
        try:  # the receiver's schema, on the final output: on a violation nothing is sent
            check_output(integration.target, outcome.output)
        except SchemaViolationError as exc:
            fields["schemaViolations"] = exc.violations
            return self._failed(run_id, claim, exc, fields)
        try:
            assert integration.target is not None  # a fan-out goes through _fan_out
            target = self._targets(integration.target, self._secrets, self._egress)
        except MapperError as exc:  # a target it cannot build
            return self._failed(run_id, claim, exc, fields, policy)
        started = time.perf_counter()
        try:
            # The event's id reaches the receiver (Idempotency-Key, webhook-id): a redriven or
            # replayed run sends its original's, so the receiver sees the same event again.
            key = event_id({"id": run_id, **claim.run})
            delivery = target.send(outcome.output, data, run_id=key)
        except MapperError as exc:
            fields["apiCallTimeMs"] = round((time.perf_counter() - started) * 1000, 3)
            fields.update(_recorded(getattr(exc, "delivery", None)))
            self._attempted(integration, gate, ok=False)
            return self._failed(run_id, claim, exc, fields, policy)
        finally:
            target.close()
        self._attempted(integration, gate, ok=True)
        fields["apiCallTimeMs"] = round(delivery.duration_ms, 3)
        fields.update(_recorded(delivery))
        fields["errorMessage"] = None
        return self._finish(run_id, claim, RunStatus.SUCCESS, fields, policy)

    def _attempted(self, integration: Integration, gate: Gate, *, ok: bool) -> None:
        """Count a send toward the circuit breaker (a failure to count never fails the run)."""
        if self._gate is None:
            return
        try:
            self._gate.after(integration, gate.failures, ok)
        except MapperError as exc:
            log.warning("integration %s: attempt not counted: %s", integration.id, exc)

    # --- fan-out (mapper.pipeline.fanout) -------------------------------------------------

    def _fan_out(
        self,
        run_id: str,
        claim: Claim,
        integration: Integration,
        message: QueuedMessage,
        policy: RetryPolicy,
        gate: Gate,
        only: str | None,
    ) -> str:
        """Send to each target not yet ended; record every target's delivery on the run.

        From the topic (`only` None): a target with `rateLimit` is not sent here but handed
        to its own delivery queue (its delivery `queued`); the others are sent now. From a
        target's queue (`only` its name): that target alone is sent.
        """
        now = self._clock()
        known = fanout.previous(claim.run)
        key = event_id({"id": run_id, **claim.run})  # the same for all: each receiver dedupes
        routes = integration.routes()
        queues = self._gate.queues() if self._gate is not None else None
        deliveries: list[dict[str, Any]] = [{} for _ in routes]
        sends: list[tuple[int, Route, dict[str, Any], Any]] = []
        handed: list[tuple[str, int, str | None]] = []  # name, attempts, not before
        outcomes: dict[str, Outcome] = {}  # the integration's own output, mapped once
        for i, route in enumerate(routes):
            before = known.get(route.name)
            if only is not None and route.name != only:
                # Another target's delivery is its own path's: kept as recorded.
                deliveries[i] = dict(before or {"target": route.name, "attempts": 0,
                                                "status": RunStatus.QUEUED})
                continue
            if only is None and queues is not None and route_paced(route):
                deliveries[i] = self._paced(route.name, before, epoch_iso(now), handed)
                continue
            # Dispatched by its own queue, a target not ended is due: the queue's schedule is
            # its retry time (a clock a little behind must not strand it; its task is spent).
            due = (before is None or before.get("status") not in TERMINAL) if only else (
                fanout.due(before, epoch_iso(now)))
            if not due:
                deliveries[i] = dict(before or {})
                continue
            record, output = self._mapped_for(route, integration, message, before, outcomes)
            if "status" in record:  # skipped, or its mapping failed: nothing to send
                deliveries[i] = record
            else:
                sends.append((i, route, record, output))
        # The targets are sent at the same time, and all are done before the run is recorded:
        # one slow receiver does not hold the others back past the lease (`lease_seconds`).
        with ThreadPoolExecutor(max_workers=max(1, len(sends))) as pool:
            sent = pool.map(
                lambda item: self._send_to(item[1], item[2], item[3], message, claim, key, policy),
                sends,
            )
            for (i, _, _, _), delivery in zip(sends, sent, strict=True):
                deliveries[i] = delivery
        for i, _, _, _ in sends:  # each send counts toward the circuit breaker
            sent_ok = deliveries[i].get("status") == RunStatus.SUCCESS
            self._attempted(integration, gate, ok=sent_ok)
        if only is not None:
            mine = next(d for d in deliveries if d.get("target") == only)
            if mine.get("status") == RunStatus.RETRYING and route_paced(
                next(r for r in routes if r.name == only)
            ):
                # Its next attempt is a new task of its queue, at its own nextAttemptAt.
                handed.append((only, int(mine.get("attempts") or 0),
                               mine.get("nextAttemptAt")))
        shared: dict[str, Any] = {}
        for route, delivery in zip(routes, deliveries, strict=True):
            if not route.own and "transformedPayload" in delivery:
                shared["transformedPayload"] = delivery.pop("transformedPayload")
        status = fanout.run_status(deliveries)
        fields: dict[str, Any] = {
            "integrationVersion": integration.version,
            "deliveries": deliveries,
            "attempts": max(int(d.get("attempts") or 0) for d in deliveries),
            "errorMessage": fanout.errors(deliveries),
            "apiCallTimeMs": round(sum(float(d.get("apiCallTimeMs") or 0) for d in deliveries),
                                   3),
            **shared,
        }
        if status == RunStatus.QUEUED:
            fields["note"] = PACED_NOTE
        if status not in (RunStatus.RETRYING, RunStatus.QUEUED):
            return self._finish(run_id, claim, status, fields, policy)
        if status == RunStatus.RETRYING:
            fields["nextAttemptAt"] = fanout.next_attempt_at(deliveries)
        if not self._runs.finish(run_id, claim, status, fields):
            log.warning("run %s: lease lost before recording %s; not recorded", run_id, status)
            return "superseded"
        self._log_attempt(claim, status, fields, policy)
        # Handed over only once recorded: a task dispatched at once finds the run released.
        self._hand_over(message, handed, raise_unavailable=only is None)
        fast_retrying = any(
            d.get("status") == RunStatus.RETRYING
            for route, d in zip(routes, deliveries, strict=True)
            if queues is None or not route_paced(route)
        )
        if only is None and fast_retrying:
            raise TargetsRetrying(f"run {run_id}: {fields['errorMessage']}")
        return status

    def _paced(
        self,
        name: str,
        before: dict[str, Any] | None,
        now: str,
        handed: list[tuple[str, int, str | None]],
    ) -> dict[str, Any]:
        """A paced target's delivery on a pass from the topic: `queued` in its own queue."""
        if before is not None and before.get("status") in TERMINAL:
            return dict(before)  # ended for good: never handed over again
        attempts = int((before or {}).get("attempts") or 0)
        if before is not None and not fanout.due(before, now):
            # Retrying, not yet due: its next task is already scheduled (named by attempts,
            # so handing it over again is refused by the queue and costs nothing more).
            handed.append((name, attempts, before.get("nextAttemptAt")))
            return dict(before)
        handed.append((name, attempts, None))
        return {**(before or {}), "target": name, "attempts": attempts,
                "status": RunStatus.QUEUED, "nextAttemptAt": None}

    def _hand_over(
        self,
        message: QueuedMessage,
        handed: list[tuple[str, int, str | None]],
        *,
        raise_unavailable: bool,
    ) -> None:
        """Queue each paced target's task; a queue that fails is retried by the caller."""
        assert self._gate is not None or not handed
        for name, attempts, not_before in handed:
            try:
                assert self._gate is not None
                self._gate.hand_over(message, name, attempts, not_before)
            except DeliveryQueueError as exc:
                # The run stays queued (or retrying): the topic's redelivery, or else the
                # reconciler, brings it back here and it is handed over then.
                log.warning("run %s: target %s not queued: %s", message.run_id, name, exc)
                if raise_unavailable and exc.retryable:
                    raise

    def _mapped_for(
        self,
        route: Route,
        integration: Integration,
        message: QueuedMessage,
        before: dict[str, Any] | None,
        outcomes: dict[str, Outcome],
    ) -> tuple[dict[str, Any], Any]:
        """One target's condition and mappings: its record so far and output (a `status`
        in the record when there is nothing to send: skipped, or the mapping failed)."""
        attempts = int((before or {}).get("attempts") or 0) + 1
        record: dict[str, Any] = {"target": route.name, "attempts": attempts,
                                  "nextAttemptAt": None}
        own = route.name if route.own else ""
        try:
            if own not in outcomes:
                plan = self._plans.get(integration, route)
                outcomes[own] = plan.apply(
                    Message(message.payload, message.attributes, message.headers)
                )
            outcome = outcomes[own]
        except MapperError as exc:
            return {**record, "status": RunStatus.ERROR, "errorMessage": str(exc)}, None
        if outcome.error is not None:
            return {**record, "status": RunStatus.ERROR,
                    "errorMessage": str(outcome.error)}, None
        if outcome.skipped:
            return {**record, "status": RunStatus.SKIPPED, "errorMessage": None}, None
        record["transformedPayload"] = outcome.output
        try:  # the target's receiver schema: on a violation nothing is sent to it
            check_output(route.target, outcome.output)
        except SchemaViolationError as exc:
            return {**record, "status": RunStatus.ERROR, "errorMessage": str(exc),
                    "schemaViolations": exc.violations}, None
        return record, outcome.output

    def _send_to(
        self,
        route: Route,
        record: dict[str, Any],
        output: Any,
        message: QueuedMessage,
        claim: Claim,
        key: str,
        policy: RetryPolicy,
    ) -> dict[str, Any]:
        """One attempt at one target: its delivery record (status, attempts, request...)."""
        record = dict(record)
        attempts = int(record["attempts"])
        started = time.perf_counter()
        try:
            target = self._targets(route.target, self._secrets, self._egress)
        except MapperError as exc:
            return {**record, "status": RunStatus.ERROR, "errorMessage": str(exc)}
        try:
            delivery = target.send(output, message.payload, run_id=key)
        except MapperError as exc:
            record["apiCallTimeMs"] = round((time.perf_counter() - started) * 1000, 3)
            record.update(_recorded(getattr(exc, "delivery", None)))
            return {**record, **self._target_failed(exc, claim, attempts, policy)}
        finally:
            target.close()
        record["apiCallTimeMs"] = round(delivery.duration_ms, 3)
        record.update(_recorded(delivery))
        return {**record, "status": RunStatus.SUCCESS, "errorMessage": None}

    def _target_failed(
        self, exc: MapperError, claim: Claim, attempts: int, policy: RetryPolicy
    ) -> dict[str, Any]:
        """A target's failed attempt: retried by the policy, counted per target, or ended."""
        if not exc.retryable:
            status = RunStatus.PARTIAL if isinstance(exc, PartiallyDelivered) else RunStatus.ERROR
            return {"status": status, "errorMessage": str(exc)}
        response = getattr(getattr(exc, "delivery", None), "response", None)
        now = self._clock()
        verdict = after_failure(policy, {**claim.run, "attempts": attempts}, now, response)
        if verdict.next_at is None:
            return {"status": RunStatus.DEAD_LETTERED, "errorMessage": f"{verdict.why}: {exc}"}
        return {"status": RunStatus.RETRYING, "errorMessage": str(exc),
                "nextAttemptAt": epoch_iso(verdict.next_at)}

    def _failed(
        self,
        run_id: str,
        claim: Claim | None,
        exc: MapperError,
        fields: dict[str, Any],
        policy: RetryPolicy | None = None,
        *,
        first: dict[str, Any] | None = None,
    ) -> str:
        """The one place errors are handled: retry what may pass later, record the rest.

        `first`: the run's first record, when the message came unrecorded and the error
        came before its claim: the run is recorded ended from it.
        """
        fields = {**fields, "errorMessage": str(exc)}
        claimed = claim is not None and claim.state == "claimed"
        policy = policy or self._retry
        if exc.retryable:
            if claim is not None and claimed:
                response = getattr(getattr(exc, "delivery", None), "response", None)
                verdict = after_failure(policy, claim.run, self._clock(), response)
                if verdict.next_at is None:  # the last attempt the policy allows
                    fields["errorMessage"] = f"{verdict.why}: {exc}"
                    return self._finish(run_id, claim, RunStatus.DEAD_LETTERED, fields, policy)
                if not claim.run.get("orderingKey"):
                    fields["nextAttemptAt"] = epoch_iso(verdict.next_at)
                # An ordered run is attempted at each redelivery of its message: one sent
                # back as early would spend one of the subscription's deliveries, which are
                # all the attempts it gets (`policy`); Pub/Sub's backoff is its schedule.
                self._runs.finish(run_id, claim, RunStatus.RETRYING, fields)
                self._log_attempt(claim, RunStatus.RETRYING, fields, policy)
            raise exc
        if claim is not None and claimed:
            status = RunStatus.PARTIAL if isinstance(exc, PartiallyDelivered) else RunStatus.ERROR
            return self._finish(run_id, claim, status, fields, policy)
        status = self._runs.end_unless_leased(run_id, RunStatus.ERROR, fields, first=first)
        log.warning("run %s: %s: %s", run_id, status, exc)
        return status

    def _finish(
        self,
        run_id: str,
        claim: Claim,
        status: str,
        fields: dict[str, Any],
        policy: RetryPolicy,
    ) -> str:
        if claim.run.get("nextAttemptAt"):
            fields = {**fields, "nextAttemptAt": None}  # shown only while retrying
        self._log_attempt(claim, status, fields, policy)
        if not self._runs.finish(run_id, claim, status, fields):
            # The lease ran out and another delivery took the run over: its record stands.
            log.warning("run %s: lease lost before recording %s; not recorded", run_id, status)
            return "superseded"
        return status

    def _log_attempt(
        self, claim: Claim, outcome: str, fields: dict[str, Any], policy: RetryPolicy
    ) -> None:
        """One compact line per attempt: attempt n of N, outcome, reason; a run delivered at
        once logs this one line.

        The run's and integration's ids, `status`, `attempt` and `apiCallTimeMs` are
        structured fields (the log-based metrics in infra/monitoring.tf read them), not
        repeated in the text.
        """
        run = claim.run
        attempt = int(run.get("attempts") or 0)
        reason = fields.get("errorMessage")
        extra: dict[str, Any] = {"status": outcome, "attempt": attempt,
                                 "runId": run.get("id"), "integrationId": run.get("integrationId")}
        if fields.get("apiCallTimeMs") is not None:
            extra["apiCallTimeMs"] = fields["apiCallTimeMs"]
        # A claim past the policy (an earlier attempt never recorded its outcome) sends
        # nothing: it is not an attempt of the policy's, and is not named as one.
        counted = (
            f"attempt {attempt} of {policy.max_attempts}"
            if attempt <= policy.max_attempts
            else f"after {policy.max_attempts} of {policy.max_attempts} attempts"
        )
        line = f"{counted}: {outcome}"
        if reason:
            line += f": {reason}"
        if outcome == RunStatus.RETRYING:
            line += f"; next attempt at {fields.get('nextAttemptAt') or 'its redelivery'}"
            log.warning(line, extra=extra)
        elif outcome in (RunStatus.ERROR, RunStatus.DEAD_LETTERED):
            log.warning(line + "; not retried", extra=extra)
        else:
            log.info(line, extra=extra)

    def _orphan(self, message: QueuedMessage) -> str:
        if self._clock() - message.accepted_at < ORPHAN_GRACE_S:
            raise RunNotRecorded(f"run {message.run_id} is not recorded yet")
        # The intake's write failed after publishing, and the caller was told it failed.
        log.error("run %s: message without a run record after %ss; dropped", message.run_id,
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
