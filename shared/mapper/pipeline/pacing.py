"""Before and after a run is sent: paused delivery, the paced path, the circuit breaker.

The worker asks `DeliveryGate.before` whether a run may be sent now. Delivery paused (by a
user or by the circuit breaker): the run is recorded `held` and nothing is sent. A target
with `rateLimit`, reached from the internal topic: the run is handed to the target's
delivery queue (a task named from run and target, so a duplicate is refused by the queue)
and stays `queued`; the deliver function sends it when the queue dispatches it. After each
attempt, `after` counts failures in a row and opens the circuit at the integration's
`circuitBreaker.consecutiveFailures`. A fan-out's rate-limited targets each have a queue
of their own: the worker sends its other targets and hands each paced one to its queue
(`hand_over`), one task per run and target. `TargetedRun`, a delivery task's request,
lives here too (the worker, the deliver function and the control plane all name it).
docs/delivery.md tells the whole story.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from ..engine.config import HttpTarget, Integration, Route
from ..errors import DeliveryQueueNotFound, MapperError
from ..timestamps import epoch_iso, epoch_seconds
from .ports import (
    DeliveryQueue,
    DeliveryStates,
    DeliveryTask,
    QueueKey,
    RunLog,
    Seen,
    held_by_live_lease,
)
from .runs import TERMINAL, QueuedMessage, RunStatus

log = logging.getLogger("mapper.pacing")

# The name of an integration's single `target` (a fan-out's targets carry their own).
DEFAULT_TARGET = "target"


class TaskBodyError(MapperError):
    """A delivery task's body is not a run for a target; it would fail the same every time."""

    code = "invalid_task"


@dataclass(frozen=True)
class TargetedRun:
    """What one delivery task asks: send the run of `message` to the target `target`."""

    message: QueuedMessage
    target: str = DEFAULT_TARGET

    def to_dict(self) -> dict[str, Any]:
        """The task's JSON body: the internal message and the target's name."""
        return {**self.message.to_dict(), "target": self.target}

    @classmethod
    def from_body(cls, body: bytes) -> TargetedRun:
        """The request in a task's body, or `TaskBodyError` saying what is wrong."""
        try:
            data = json.loads(body)
            if not isinstance(data, dict):
                raise TypeError("the body is not a JSON object")
            target = data.get("target", DEFAULT_TARGET)
            if not isinstance(target, str) or not target:
                raise TypeError("target is not a name")
            return cls(QueuedMessage.from_dict(data), target)
        except (ValueError, KeyError, TypeError) as exc:
            raise TaskBodyError(f"not a delivery task: {exc!r}") from None

    def task(self, *, not_before: float | None = None, resend: int = 0) -> DeliveryTask:
        """The `DeliveryTask` that queues this request (named by run and target)."""
        return DeliveryTask(
            run_id=self.message.run_id,
            target=self.target,
            body=self.to_dict(),
            not_before=not_before,
            resend=resend,
        )


PAUSED = "paused"
# A task's name is counted from the run's attempts and the integration's resumes, so that
# a retry or a resume never reuses a name Cloud Tasks still keeps taken (about an hour).
# Attempts stay below it (engine.config.MAX_ATTEMPTS is 100).
RESUME_SPACING = 1000
# What a run may be turned `held` from: waiting, not ended, not held by a live lease.
HOLDABLE = frozenset({RunStatus.QUEUED, RunStatus.RETRYING, RunStatus.HELD,
                      RunStatus.DELIVERING})
PACED_NOTE = "waiting in the target's delivery queue (rateLimit)"
PAUSED_NOTE = "delivery is paused"

OnPause = Callable[[str, dict[str, Any]], None]


def is_paced(integration: Integration) -> bool:
    """Whether the integration's runs go through its single target's delivery queue."""
    target = integration.target
    return isinstance(target, HttpTarget) and target.rate_limit is not None


def route_paced(route: Route) -> bool:
    """Whether this target (of a fan-out, or the single one) is sent through its own queue."""
    return isinstance(route.target, HttpTarget) and route.target.rate_limit is not None


def paced_routes(integration: Integration) -> tuple[Route, ...]:
    """The integration's targets that have a delivery queue: those with `rateLimit`."""
    return tuple(route for route in integration.routes() if route_paced(route))


def task_number(attempts: int, resumes: int) -> int:
    """The `resend` of a run's next task: its attempts so far, past its integration's resumes."""
    return resumes * RESUME_SPACING + attempts


def queue_key(
    integration_id: str, state: dict[str, Any] | None, target: str = DEFAULT_TARGET
) -> QueueKey:
    """The key of a target's queue at that target's current generation.

    The single target counts `generation`; each fan-out target its own in `generations`,
    so that deleting one target's queue renames no other's.
    """
    state = state or {}
    if target == DEFAULT_TARGET:
        generation = state.get("generation")
    else:
        generation = (state.get("generations") or {}).get(target)
    return QueueKey(integration_id, target, int(generation or 0))


@dataclass(frozen=True)
class Gate:
    """`before`'s answer: the run's status if it is not sent now (else None), the failures,
    and the run as read with the delivery state (None: not read), for the claim."""

    wait: str | None
    failures: int = 0
    seen: Seen | None = None


class DeliveryGate:
    """Holds runs while delivery is paused, paces rate-limited targets, opens the circuit."""

    def __init__(
        self,
        states: DeliveryStates,
        runs: RunLog,
        queues: Callable[[], DeliveryQueue | None] = lambda: None,
        *,
        on_pause: OnPause | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._states = states
        self._runs = runs
        self._queues = queues  # None: no delivery queues here; every run takes the fast path
        self._on_pause = on_pause  # the circuit opened: the notifier's hook
        self._clock = clock

    def before(
        self, integration: Integration, message: QueuedMessage, dispatched: bool
    ) -> Gate:
        """Whether this run is sent now; `dispatched`: it comes from its target's queue."""
        # The run is read in the same call when its claim would read it first: a recorded
        # run, or one the intake writes itself just after publishing (`recording`).
        read_run = message.recorded or message.recording
        state, seen = self._states.look(
            message.integration_id, message.run_id if read_run else None
        )
        state = state or {}
        failures = int(state.get("consecutiveFailures") or 0)
        first = None if message.recorded else message.first_record()
        if state.get("state") == PAUSED:
            return Gate(self.hold(message.run_id, first, seen), failures)
        queues = self._queues() if not dispatched and is_paced(integration) else None
        if queues is None:
            return Gate(None, failures, seen)
        run = (seen.run if seen is not None else self._runs.get(message.run_id)) or {}
        if not run and first is not None:
            # Published unrecorded: recorded here, before its task exists (the deliver
            # function claims it as a recorded run).
            run = {**first, "note": PACED_NOTE}
            if not self._runs.create(run):
                run = self._runs.get(message.run_id) or {}
            message = dataclasses.replace(message, recorded=True)
        if not run or run.get("status") in TERMINAL:
            return Gate(None, failures)  # the worker's claim says what to do with it
        number = task_number(int(run.get("attempts") or 0), int(state.get("resumes") or 0))
        # A retrying run's task waits for its next attempt; it has the name the deliver
        # function gave the one it queued, so of the two only one is kept.
        when = run.get("nextAttemptAt") if run.get("status") == RunStatus.RETRYING else None
        task = TargetedRun(message).task(
            resend=number, not_before=epoch_seconds(str(when)) if when else None
        )
        if run.get("status") == RunStatus.QUEUED and run.get("note") != PACED_NOTE:
            # Noted before the task exists: written after, it could land on a run the
            # deliver function already claimed, whose outcome would then not be recorded.
            self._runs.touch_if_unchanged(message.run_id, str(run.get("updatedAt")),
                                          note=PACED_NOTE)
        try:
            queues.enqueue(queue_key(message.integration_id, state), task)
        except DeliveryQueueNotFound:
            # The rate limit was removed (its queue deleted) while this worker's cached
            # configuration still had it: the run is sent now, as the integration now says.
            log.warning("run %s: the target's delivery queue is gone; sent directly",
                        message.run_id)
            return Gate(None, failures)
        return Gate(RunStatus.QUEUED, failures)

    def queues(self) -> DeliveryQueue | None:
        """The delivery queues, or None: then a fan-out's paced targets are sent directly."""
        return self._queues()

    def hand_over(
        self,
        message: QueuedMessage,
        target: str,
        attempts: int,
        not_before: str | None = None,
    ) -> bool:
        """Queue one fan-out target's next attempt of the run in that target's own queue.

        Named from run, target and that target's attempts (past the resumes), so a second
        hand-over of the same attempt is refused by the queue itself and sent once. False
        when there is no such queue (the rate limit was removed meanwhile).
        """
        queues = self._queues()
        if queues is None:
            return False
        state = self._states.get(message.integration_id) or {}
        number = task_number(attempts, int(state.get("resumes") or 0))
        # Handed over by the run's claim holder: the run is recorded by now.
        message = dataclasses.replace(message, recorded=True)
        task = TargetedRun(message, target).task(
            resend=number, not_before=epoch_seconds(not_before) if not_before else None
        )
        try:
            queues.enqueue(queue_key(message.integration_id, state, target), task)
        except DeliveryQueueNotFound:
            log.warning("run %s: target %s has no delivery queue any more", message.run_id,
                        target)
            return False
        return True

    def hold(
        self, run_id: str, first: Mapping[str, Any] | None = None, seen: Seen | None = None
    ) -> str:
        """Record the run `held` (unless it ended or is being sent); its status after.

        `first`: the run's first record (its message came unrecorded): the run is created
        `held` from it, unless it exists already. `seen`: the run as just read (`look`):
        created only if that read found none, and not read again.
        """
        run = seen.run if seen is not None else None
        if first is not None and run is None and self._runs.create(
            {**first, "status": RunStatus.HELD, "note": PAUSED_NOTE}
        ):
            return RunStatus.HELD
        if run is None:
            run = self._runs.get(run_id)
        if run is None:
            return "missing"
        status = run.get("status")
        if status not in HOLDABLE or held_by_live_lease(run, self._now()):
            return str(status)
        if status != RunStatus.HELD:
            changed = self._runs.touch_if_unchanged(
                run_id, str(run.get("updatedAt")), status=RunStatus.HELD,
                nextAttemptAt=None, note=PAUSED_NOTE,
            )
            if not changed:
                return str((self._runs.get(run_id) or {}).get("status"))
        return RunStatus.HELD

    def _now(self) -> str:
        return epoch_iso(self._clock())

    def after(self, integration: Integration, failures: int, ok: bool) -> None:
        """Count the attempt's outcome toward the circuit breaker; open it at its threshold."""
        breaker = integration.circuit_breaker
        integration_id = str(integration.id)
        if ok:
            if failures:
                self._states.succeeded(integration_id)
            return
        if breaker is None:
            return
        count = self._states.failed(integration_id)
        if count < breaker.consecutive_failures:
            return
        fields = {
            "reason": f"{count} failed attempts in a row",
            "since": self._now(),
            "by": "circuit",
        }
        if self._states.pause(integration_id, fields):
            log.warning("integration %s: circuit open after %s failed attempts in a row; "
                        "delivery paused until resumed", integration_id, count)
            if self._on_pause is not None:
                self._on_pause(integration_id, fields)
