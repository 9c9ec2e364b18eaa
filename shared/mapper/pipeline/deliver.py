"""The paced path: one task of a target's delivery queue -> send that run to that target.

A task's body is the internal message of the run (`QueuedMessage`) with the name of the
target it is for. Sending and recording are the worker's own (`Worker.process`: claim,
condition, mapping, target, run record), so a run sent through a queue is claimed, leased,
redacted and recorded exactly as one sent by the fast path; this module only reads the
task and says which target (the single `target`, or one of a fan-out's). docs/delivery.md
tells which integrations take which path.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from ..errors import DeliveryQueueError, MapperError
from ..timestamps import epoch_seconds
from .pacing import DEFAULT_TARGET, TargetedRun, TaskBodyError, queue_key, task_number
from .ports import DeliveryQueue, DeliveryStates, RunLog
from .runs import RunStatus
from .worker import Worker

__all__ = ["DEFAULT_TARGET", "Deliverer", "TargetedRun", "TaskBodyError"]

log = logging.getLogger("mapper.deliver")


class Deliverer:
    """Sends one run to one target and records it; raises what the queue should retry.

    Retries on the paced path are the platform's, as on the fast path: a failed attempt
    records the run `retrying` with its `nextAttemptAt` (the backoff, or the receiver's
    Retry-After), and the next attempt is a new task scheduled at that time, named from the
    run's attempts; this task then ends (200). The queue's own retries (with the
    integration's `retry` settings) only cover a dispatch that never reached a verdict.
    """

    def __init__(
        self,
        worker: Worker,
        runs: RunLog,
        queues: Callable[[], DeliveryQueue | None] = lambda: None,
        states: DeliveryStates | None = None,
    ) -> None:
        self._worker = worker
        self._runs = runs
        self._queues = queues
        self._states = states

    def deliver(self, body: bytes) -> str:
        """The run's status after this attempt; a retryable `MapperError` to be sent again."""
        request = TargetedRun.from_body(body)
        try:
            return self._worker.process(request.message, dispatched=True, target=request.target)
        except MapperError as exc:
            # A fan-out target's next attempt is queued by the worker itself (its own
            # schedule); what it raises (a lease held by another target's send, Firestore
            # unavailable) is retried by the queue.
            if exc.retryable and request.target == DEFAULT_TARGET and self._scheduled_again(
                request
            ):
                return RunStatus.RETRYING
            raise

    def _scheduled_again(self, request: TargetedRun) -> bool:
        """Queue the run's next attempt at its `nextAttemptAt`; False if it has none."""
        queues = self._queues()
        run = self._runs.get(request.message.run_id) or {}
        when = run.get("nextAttemptAt")
        if queues is None or run.get("status") != RunStatus.RETRYING or not when:
            return False
        state = (self._states.get(request.message.integration_id) if self._states else None)
        number = task_number(int(run.get("attempts") or 0), int((state or {}).get("resumes") or 0))
        task = request.task(not_before=epoch_seconds(str(when)), resend=number)
        try:
            queues.enqueue(queue_key(request.message.integration_id, state), task)
        except DeliveryQueueError as exc:
            # The queue retries this task instead; the reconciler publishes the due retry.
            log.warning("run %s: next attempt not queued: %s", request.message.run_id, exc)
            return False
        return True
