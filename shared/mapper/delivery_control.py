"""The control plane's half of delivery: pause, resume, and each paced target's queue.

`DeliveryControl` keeps each paced target's delivery queue in step with its integration,
as `Listeners` keeps a subscription: made (or brought to the new rate) when an integration
with `rateLimit` on its target, or on any of a fan-out's targets, is saved; deleted when
the rate limit, the target or the integration goes (that target's generation counted up
first, so that its next queue has a new name). It
pauses and resumes delivery, and shows the integration's `delivery`. docs/delivery.md
("Pause and resume", "The circuit breaker") says what each step guarantees.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from .engine import config as cfg
from .errors import ConfigError, ConflictError, DeliveryQueueNotFound, MapperError
from .pipeline.pacing import (
    DEFAULT_TARGET,
    PAUSED,
    TargetedRun,
    is_paced,
    paced_routes,
    queue_key,
    task_number,
)
from .pipeline.ports import (
    DeliveryQueue,
    DeliveryStates,
    MessageQueue,
    Notifier,
    NotifyEvent,
    QueueConfig,
    RetryPolicy,
    RunRecords,
)
from .pipeline.runs import QueuedMessage, RunStatus
from .timestamps import epoch_iso, epoch_seconds

log = logging.getLogger("mapper.delivery_control")

# Held runs sent per task of a resume (RESUME_BATCH_SIZE), oldest first; the next task
# follows at once while held runs remain (docs/delivery.md, "Pause and resume").
RESUME_BATCH_SIZE = 200
# A batch's runs are taken (one conditional write each) this many at a time, then sent in
# order: one run at a time, read, write and enqueue (30-40 ms on the emulators) made the
# drain slower than a paced target's rate.
DRAIN_THREADS = 16
RESUME_TASK = "resumeDelivery"
STALLED_LOOKED_AT = 50  # drains looked at per tick


class DeliveryControl:
    """Pauses and resumes an integration's delivery; owns its target's delivery queue."""

    def __init__(
        self,
        states: DeliveryStates,
        runs: RunRecords,
        topic: MessageQueue,
        tasks: MessageQueue,
        queues: Callable[[], DeliveryQueue | None] = lambda: None,
        *,
        notifier: Notifier | None = None,
        batch_size: int = RESUME_BATCH_SIZE,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._notifier = notifier  # delivery.paused / delivery.resumed to the `notify`
        self._states = states
        self._runs = runs
        self._topic = topic  # the internal topic: held runs of unpaced targets go back on it
        self._queues = queues  # None: no delivery queues (Cloud Tasks) on this platform
        self._tasks = tasks  # the pull-tasks topic: a resume's batches, one task each
        self._batch = max(1, batch_size)
        self._clock = clock

    # --- what the integration shows ----------------------------------------------------------

    def shown(self, integration_id: str, count_held: bool = True) -> dict[str, Any]:
        """The integration's `delivery`: state, reason, since, by, held, consecutiveFailures."""
        state = self._states.get(integration_id) or {}
        paused = state.get("state") == PAUSED
        shown: dict[str, Any] = {
            "state": PAUSED if paused else "active",
            "reason": state.get("reason") if paused else None,
            "since": state.get("since"),
            "by": state.get("by") if paused else None,
            "consecutiveFailures": int(state.get("consecutiveFailures") or 0),
        }
        if count_held:
            shown["held"] = self._runs.count(integration_id, RunStatus.HELD)
        return shown

    # --- the queue of a paced target ----------------------------------------------------------

    def prepare(self, new: Mapping[str, Any], old: Mapping[str, Any] | None) -> None:
        """Before a save: make the queue of each target with `rateLimit`, or update it."""
        integration = cfg.parse_integration(dict(new))
        routes = paced_routes(integration)
        if not routes:
            return
        queues = self._queues()
        if queues is None:
            where = "target.rateLimit" if integration.targets is None else "rateLimit on a target"
            raise ConflictError(
                f"{where} needs delivery queues (Cloud Tasks), which this platform "
                "does not have: set DELIVER_URL (docs/delivery.md)"
            )
        integration_id = str(new["id"])
        state = self._states.get(integration_id)
        for route in routes:
            key = queue_key(integration_id, state, route.name)
            queues.ensure(key, queue_config(integration, route.target))
            if (state or {}).get("state") == PAUSED:
                queues.pause(key)

    def saved(self, new: Mapping[str, Any], old: Mapping[str, Any] | None) -> None:
        """After a save: delete the queue of each target that lost its `rateLimit` (or went)."""
        if old is None:
            return
        for name in sorted(paced_names(old) - paced_names(new)):
            self._delete_queue(str(old["id"]), name)

    def removed(self, doc: Mapping[str, Any]) -> None:
        """The integration is deleted: its queues go too, its pause and counts are forgotten."""
        integration_id = str(doc["id"])
        for name in sorted(paced_names(doc)):
            self._delete_queue(integration_id, name)
        self._states.forget(integration_id)

    def _delete_queue(self, integration_id: str, target: str = DEFAULT_TARGET) -> None:
        queues = self._queues()
        if queues is None:
            return
        old_key = queue_key(integration_id, self._states.get(integration_id), target)
        # Counted up first: a deleted queue's name stays taken for days (docs/delivery.md).
        self._states.next_generation(integration_id, target)
        queues.delete(old_key)

    # --- pause and resume ---------------------------------------------------------------------

    def pause(self, doc: Mapping[str, Any], reason: str | None, by: str = "user") -> bool:
        """Pause delivery: runs are held from now on; whether this call paused it."""
        integration_id = str(doc["id"])
        now = epoch_iso(self._clock())
        fields = {"reason": reason, "since": now, "by": by}
        paused = self._states.pause(integration_id, fields)
        queues = self._queues()
        if queues is not None:
            state = self._states.get(integration_id)
            for name in sorted(paced_names(doc)):
                # Tasks already in the queue wait there too (their runs stay queued).
                try:
                    queues.pause(queue_key(integration_id, state, name))
                except DeliveryQueueNotFound:
                    pass  # made by the next save; the pause is in the state meanwhile
        if paused:
            self.announce(NotifyEvent.DELIVERY_PAUSED, doc, fields)
        return paused

    def resume(self, doc: Mapping[str, Any]) -> int:
        """Resume delivery and start sending the held runs; how many are held.

        Answers at once: the held runs are sent by `step`, one batch per task on the
        pull-tasks topic (a function's CPU is gone once it answers).
        """
        integration_id = str(doc["id"])
        was = self._states.get(integration_id) or {}
        state = self._states.resume(integration_id)
        integration = cfg.parse_integration(dict(doc))
        queues = self._queues()
        if queues is not None:
            for route in paced_routes(integration):
                try:
                    queues.resume(queue_key(integration_id, state, route.name))
                except DeliveryQueueNotFound:
                    pass  # a fan-out target's queue not made yet: its runs go by the topic
        held = self._runs.count(integration_id, RunStatus.HELD)
        if held:
            # Marked first: a task that is then lost is published again by the tick.
            self._states.drain_moved(integration_id, True)
            self._tasks.publish(resume_task(integration_id, state))
        if was.get("state") == PAUSED:
            self.announce(NotifyEvent.DELIVERY_RESUMED, doc, {"held": held})
        return held

    def step(self, doc: Mapping[str, Any], resumes: int) -> dict[str, Any]:
        """Send the oldest held runs, one batch; publish the next task while more may remain.

        A pause since the resume stops the drain (its runs stay held), and so does a later
        resume (its own task drains them, under its own task names).
        """
        integration_id = str(doc["id"])
        state = self._states.get(integration_id) or {}
        if state.get("state") == PAUSED:
            self._states.drain_moved(integration_id, False)  # the next resume starts again
            return {"integrationId": integration_id, "sent": 0, "skipped": "paused again"}
        if int(state.get("resumes") or 0) != resumes:
            return {"integrationId": integration_id, "sent": 0,
                    "skipped": "a later resume sends the held runs"}
        integration = cfg.parse_integration(dict(doc))
        # A single paced target's held runs go to its queue; every other run to the topic
        # (where a fan-out's worker hands each paced target to its own queue).
        queues = self._queues() if is_paced(integration) else None
        held, _ = self._runs.list(
            integration_id=integration_id, status=RunStatus.HELD, limit=self._batch,
            oldest_first=True,
        )
        # Taken before they are sent: of two deliveries of one task only the one whose write
        # lands sends a run. A send lost after it leaves a queued run, which the reconciler
        # publishes again as it does every queued run.
        with ThreadPoolExecutor(max_workers=DRAIN_THREADS) as pool:
            taken = list(pool.map(self._take, held))
        sent = 0
        for run, mine in zip(held, taken, strict=True):
            if mine:  # sent one by one, oldest first (and each key's runs in order)
                self._send(run, queues, state)
                sent += 1
        more = len(held) == self._batch
        if more:
            self._tasks.publish(resume_task(integration_id, state))  # fails: redelivered
        self._states.drain_moved(integration_id, more)
        return {"integrationId": integration_id, "sent": sent, "held": len(held)}

    def resume_stalled(self, horizon_s: float, limit: int = STALLED_LOOKED_AT) -> int:
        """Publish the task again of each drain that has not moved for longer than the horizon.

        A drain moves on only through its task; one lost by the queue would leave its runs
        held while the integration shows `active`. A second copy of a live task is harmless:
        each run is taken by one write before it is sent. How many were published again.
        """
        published = 0
        for integration_id, state in self._states.draining(limit):
            if state.get("state") == PAUSED:
                self._states.drain_moved(integration_id, False)
                continue
            moved = state.get("drainedAt")
            if moved and epoch_seconds(str(moved)) > self._clock() - horizon_s:
                continue
            self._states.drain_moved(integration_id, True)  # the next look waits again
            try:
                self._tasks.publish(resume_task(integration_id, state))
            except MapperError as exc:  # the next tick looks again
                log.warning("integration %s: a resume's task not published again: %s",
                            integration_id, exc)
                continue
            log.warning("integration %s: a resume's drain idle past %ss; its task published "
                        "again", integration_id, int(horizon_s))
            published += 1
        return published

    def _take(self, run: dict[str, Any]) -> bool:
        """Mark a held run queued; False if another delivery of the task took it first."""
        return self._runs.touch_if_unchanged(
            str(run["id"]), str(run.get("updatedAt")), status=RunStatus.QUEUED, note=None
        )

    def _send(
        self, run: dict[str, Any], queues: DeliveryQueue | None, state: dict[str, Any]
    ) -> None:
        """Queue one taken run again."""
        run_id, integration_id = str(run["id"]), str(run["integrationId"])
        message = QueuedMessage.again(run, self._clock())
        if queues is not None:
            # Named by the run and this resume: a duplicate enqueue is refused by the queue.
            number = task_number(int(run.get("attempts") or 0), int(state.get("resumes") or 0))
            queues.enqueue(
                queue_key(integration_id, state), TargetedRun(message).task(resend=number)
            )
        else:
            # With its ordering key: a key's held runs go out oldest first, in order.
            self._topic.publish(
                message.to_dict(), {"runId": run_id, "integrationId": integration_id},
                message.ordering_key,
            )

    def announce(self, event: NotifyEvent, doc: Mapping[str, Any], data: Mapping[str, Any]) -> None:
        """Log an operational event and send it to the integration's `notify` (never raises)."""
        log.warning("integration %s: %s %s", doc.get("id"), event, dict(data))
        if self._notifier is None:
            return
        try:
            integration = cfg.parse_integration(dict(doc))
        except ConfigError:
            return  # a stored document that no longer parses has no notify to read
        self._notifier.notify(integration, event, data)


def resume_task(integration_id: str, state: Mapping[str, Any]) -> dict[str, Any]:
    """The pull-tasks message that sends a resume's next batch of held runs."""
    return {RESUME_TASK: integration_id, "resumes": int(state.get("resumes") or 0)}


def queue_config(
    integration: cfg.Integration, target: cfg.HttpTarget | cfg.EmailTarget | None = None
) -> QueueConfig:
    """A paced target's queue settings: its `rateLimit` and the integration's `retry`."""
    target = target if target is not None else integration.target
    assert isinstance(target, cfg.HttpTarget) and target.rate_limit is not None
    retry = integration.retry
    policy = RetryPolicy()
    if retry is not None:
        policy = RetryPolicy(
            max_attempts=retry.max_attempts,
            min_backoff_s=float(retry.initial_backoff_seconds),
            max_backoff_s=float(retry.max_backoff_seconds),
            max_retry_duration_s=float(retry.max_age_seconds),
        )
    return QueueConfig(
        per_second=float(target.rate_limit.per_second),
        max_concurrent=target.rate_limit.max_concurrent,
        retry=policy,
    )


def paced_names(doc: Mapping[str, Any]) -> set[str]:
    """The names of a stored document's targets with `rateLimit` (read raw: it may be old)."""
    target = doc.get("target") or {}
    if target.get("type") == "http" and target.get("rateLimit"):
        return {DEFAULT_TARGET}
    targets = doc.get("targets")
    if not isinstance(targets, list):
        return set()
    return {
        cfg.target_name(i, t.get("name"))
        for i, t in enumerate(targets)
        if isinstance(t, Mapping) and t.get("type") == "http" and t.get("rateLimit")
    }
