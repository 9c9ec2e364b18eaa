"""Finds runs that stayed in flight too long and publishes them again, or ends them.

Pub/Sub is at-least-once, not infallible: a message can be lost or stall (the local
emulator stops redelivering messages that failed under load). So no accepted message may
depend on the queue alone. On every scheduler tick, `Reconciler.sweep` looks for runs still
`queued`, `retrying` or `delivering` whose last change is older than the horizon (longer
than the retry backoff plus the longest lease), and publishes each again under the same run
id: the claim keeps a second copy from sending twice. Each republish waits twice as long
as the previous one. After `max_republishes` it ends the run as `error` with "lost by the
queue after N republishes" and logs a line an alert matches. docs/data-plane.md gives the
numbers.

It also keeps the retry schedule: a `retrying` run whose `nextAttemptAt` has come is
published again (once: `nextAttemptAt` is cleared as it is), since Pub/Sub may have given
up on its message, or delivered it early and been sent back. The tick's interval is the
schedule's granularity. A due retry of an ordered run is not published: its own message
still holds the key in Pub/Sub (the worker raised) and is redelivered; past the horizon it
is published again without its key (the later events of the key wait for this run whichever
copy sends it). A `queued` run of an ordering key may be waiting behind
an earlier event of its key that is retrying: it is published again with its key (behind
the message it copies, never before it) and never ended as lost (docs/delivery.md,
"Ordering").
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ..errors import MapperError
from ..timestamps import epoch_iso, epoch_seconds
from ..timestamps import now_iso as iso_now
from .ports import MessageQueue, RunLog, held_by_live_lease
from .runs import IN_FLIGHT, QueuedMessage, RunStatus

log = logging.getLogger("mapper.reconcile")

DEFAULT_HORIZON_S = 900.0  # > the longest backoff (600 s) + the longest lease (150 s)
DEFAULT_MAX_REPUBLISHES = 3
SWEEP_LIMIT = 200  # runs looked at per tick; the rest wait for the next one
LOST_MESSAGE = "lost by the queue after {n} republishes"


def due_again(updated_at: Any, republishes: int, horizon_s: float, now: float) -> bool:
    """Whether something untouched since `updated_at` has waited long enough to be published
    again: the horizon, then twice as long after each republish (an unreadable time is long
    ago)."""
    try:
        idle = now - epoch_seconds(str(updated_at))
    except ValueError:
        return True
    return idle >= horizon_s * 2**republishes


@dataclass
class SweepReport:
    """What one sweep did."""

    republished: list[str] = field(default_factory=list)
    ended: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "republished": len(self.republished),
            "ended": len(self.ended),
            "failed": len(self.failed),
        }


class Reconciler:
    """Republishes runs left in flight past the horizon; ends them after too many tries."""

    def __init__(
        self,
        runs: RunLog,
        queue: MessageQueue,
        *,
        horizon_s: float = DEFAULT_HORIZON_S,
        max_republishes: int = DEFAULT_MAX_REPUBLISHES,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._runs = runs
        self._queue = queue
        self.horizon_s = horizon_s
        self.max_republishes = max_republishes
        self._clock = clock

    def sweep(self) -> SweepReport:
        """One pass over the retries that are due, then the runs in flight past the horizon."""
        report = SweepReport()
        for run in self._runs.due_retries(epoch_iso(self._clock()), SWEEP_LIMIT):
            try:
                self._retry_due(run, report)
            except MapperError as exc:
                log.warning("run %s: could not publish its retry: %s", run.get("id"), exc)
                report.failed.append(str(run.get("id")))
        for run in self._runs.stale(IN_FLIGHT, self.horizon_s, SWEEP_LIMIT):
            run_id = str(run["id"])
            try:
                self._reconcile(run, report)
            except MapperError as exc:
                log.warning("run %s: could not reconcile: %s", run_id, exc)
                report.failed.append(run_id)
        return report

    def _retry_due(self, run: dict[str, Any], report: SweepReport) -> None:
        """Publish a `retrying` run whose next attempt has come, unless it moved since read."""
        run_id = str(run["id"])
        # Cleared first, and only if the run is still as read: a delivery that claimed it
        # since keeps its claim; the copy published now is not sent back as early; and the
        # next tick does not publish it again (if this copy is lost too, the horizon below
        # finds the run).
        if not self._runs.touch_if_unchanged(run_id, str(run.get("updatedAt")),
                                             nextAttemptAt=None):
            return
        if run.get("orderingKey"):
            # Its own message holds the key and Pub/Sub redelivers it (the worker raised). A
            # copy would take the attempt, and the message's own deliveries, sent back as
            # busy or early meanwhile, would reach Pub/Sub's dead letter first. If the
            # message is lost, the horizon below finds the run.
            log.info("run %s: its next attempt is due; left to its own ordered message", run_id)
            return
        self._queue.publish(
            QueuedMessage.again(run, self._clock()).to_dict(),
            {"runId": run_id, "integrationId": str(run.get("integrationId"))},
        )
        log.info("run %s: its next attempt is due (%s); published again", run_id,
                 run.get("nextAttemptAt"))
        report.republished.append(run_id)

    def _reconcile(self, run: dict[str, Any], report: SweepReport) -> None:
        run_id = str(run["id"])
        if held_by_live_lease(run, iso_now()):
            return  # a live delivery holds it (a long target timeout): not lost
        if run.get("status") == RunStatus.RETRYING and run.get("nextAttemptAt"):
            return  # waiting for its next attempt, which the due retries above publish
        done = int(run.get("republishes") or 0)
        # Each republish waits twice as long as the one before (horizon, 2x, 4x, ...): a
        # queue that is only slow (a backlog behind a hanging target) gets time to deliver
        # what it holds, instead of the run being ended as lost, or the backlog deepened
        # by copies, while its message is still on the way.
        if not due_again(run.get("updatedAt"), done, self.horizon_s, self._clock()):
            return
        payload = run.get("incomingPayload")
        too_large = isinstance(payload, dict) and payload.get("truncated") is True
        # A queued ordered run may only be waiting for its key: not lost, and never ended.
        ordered_by = run.get("orderingKey") if run.get("status") == RunStatus.QUEUED else None
        if (done >= self.max_republishes and not ordered_by) or too_large:
            reason = LOST_MESSAGE.format(n=done)
            if too_large:
                reason += "; its payload is larger than a run keeps, so it cannot be sent again"
            status = self._runs.end_unless_leased(
                run_id, RunStatus.ERROR, {"errorMessage": reason}
            )
            if status == RunStatus.ERROR:
                # Matched by the alert on lost runs (infra/monitoring.tf).
                log.error(
                    "run lost by the queue: %s (%s)",
                    run_id,
                    reason,
                    extra={"runId": run_id, "integrationId": run.get("integrationId"),
                           "status": "lost"},
                )
                report.ended.append(run_id)
            return
        # Counted first, and only if the run is still as read: a delivery may have claimed
        # it since, and a write now would make its outcome unrecordable (its claim token).
        if not self._runs.count_republish(run_id, str(run.get("updatedAt")), done + 1):
            return
        self._queue.publish(
            QueuedMessage.again(run, self._clock()).to_dict(),
            {"runId": run_id, "integrationId": str(run.get("integrationId"))},
            ordered_by,
        )
        log.warning("run %s: in flight past %ss; published again (%s)", run_id,
                    int(self.horizon_s), done + 1)
        report.republished.append(run_id)
