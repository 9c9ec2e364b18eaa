"""The control plane's half of delivery: pause, resume, and each paced target's queue.

`DeliveryControl` keeps a target's delivery queue in step with its integration, as
`Listeners` keeps a subscription: made (or brought to the new rate) when an integration
with `target.rateLimit` is saved, deleted when the rate limit or the integration goes (its
generation counted up first, so that the next queue of the target has a new name). It
pauses and resumes delivery, and shows the integration's `delivery`. docs/delivery.md
("Pause and resume", "The circuit breaker") says what each step guarantees.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from datetime import datetime, timezone
from typing import Any

from .engine import config as cfg
from .errors import ConfigError, ConflictError, DeliveryQueueNotFound, Problem
from .pipeline.pacing import PAUSED, TargetedRun, is_paced, queue_key, task_number
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
from .timestamps import iso_timestamp

log = logging.getLogger("mapper.delivery_control")

# How many held runs one resume sends (oldest first); more stay held, and the integration
# shows how many, for the next resume.
MAX_RESUME_RUNS = 5000
RESUME_PAGE = 500


class DeliveryControl:
    """Pauses and resumes an integration's delivery; owns its target's delivery queue."""

    def __init__(
        self,
        states: DeliveryStates,
        runs: RunRecords,
        topic: MessageQueue,
        queues: Callable[[], DeliveryQueue | None] = lambda: None,
        *,
        notifier: Notifier | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._notifier = notifier  # delivery.paused / delivery.resumed to the `notify`
        self._states = states
        self._runs = runs
        self._topic = topic  # the internal topic: held runs of unpaced targets go back on it
        self._queues = queues  # None: no delivery queues (Cloud Tasks) on this platform
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
        """Before a save: make the queue an integration with `rateLimit` needs, or update it."""
        integration = cfg.parse_integration(dict(new))
        for i, target in enumerate(integration.targets or []):
            if isinstance(target, cfg.HttpTarget) and target.rate_limit is not None:
                raise ConfigError([Problem(
                    f"targets[{i}].rateLimit",
                    "a fan-out's targets are not paced yet: set rateLimit on a single target",
                )])
        if not is_paced(integration):
            return
        queues = self._queues()
        if queues is None:
            raise ConflictError(
                "target.rateLimit needs delivery queues (Cloud Tasks), which this platform "
                "does not have: set DELIVER_URL (docs/delivery.md)"
            )
        integration_id = str(new["id"])
        state = self._states.get(integration_id)
        key = queue_key(integration_id, state)
        queues.ensure(key, queue_config(integration))
        if (state or {}).get("state") == PAUSED:
            queues.pause(key)

    def saved(self, new: Mapping[str, Any], old: Mapping[str, Any] | None) -> None:
        """After a save: delete the queue of a target that lost its `rateLimit`."""
        if old is None or not _paced_doc(old) or _paced_doc(new):
            return
        self._delete_queue(str(old["id"]))

    def removed(self, doc: Mapping[str, Any]) -> None:
        """The integration is deleted: its queue goes too, its pause and counts are forgotten."""
        integration_id = str(doc["id"])
        if _paced_doc(doc):
            self._delete_queue(integration_id)
        self._states.forget(integration_id)

    def _delete_queue(self, integration_id: str) -> None:
        queues = self._queues()
        if queues is None:
            return
        old_key = queue_key(integration_id, self._states.get(integration_id))
        # Counted up first: a deleted queue's name stays taken for days (docs/delivery.md).
        self._states.next_generation(integration_id)
        queues.delete(old_key)

    # --- pause and resume ---------------------------------------------------------------------

    def pause(self, doc: Mapping[str, Any], reason: str | None, by: str = "user") -> bool:
        """Pause delivery: runs are held from now on; whether this call paused it."""
        integration_id = str(doc["id"])
        now = iso_timestamp(datetime.fromtimestamp(self._clock(), tz=timezone.utc))
        fields = {"reason": reason, "since": now, "by": by}
        paused = self._states.pause(integration_id, fields)
        queues = self._queues()
        if queues is not None and _paced_doc(doc):
            # Tasks already in the queue wait there too (their runs stay queued).
            key = queue_key(integration_id, self._states.get(integration_id))
            try:
                queues.pause(key)
            except DeliveryQueueNotFound:
                pass  # made by the next save; the pause is in the state meanwhile
        if paused:
            self.announce(NotifyEvent.DELIVERY_PAUSED, doc, fields)
        return paused

    def resume(self, doc: Mapping[str, Any]) -> int:
        """Resume delivery and send the held runs, oldest first; how many were sent."""
        integration_id = str(doc["id"])
        was = self._states.get(integration_id) or {}
        state = self._states.resume(integration_id)
        integration = cfg.parse_integration(dict(doc))
        queues = self._queues() if is_paced(integration) else None
        key = queue_key(integration_id, state)
        if queues is not None:
            queues.resume(key)
        sent = 0
        for run in self.held_runs(integration_id):
            message = QueuedMessage.again(run, self._clock())
            if queues is not None:
                number = task_number(int(run.get("attempts") or 0), int(state.get("resumes") or 0))
                queues.enqueue(key, TargetedRun(message).task(resend=number))
            else:
                # With its ordering key: a key's held runs go out oldest first, in order.
                self._topic.publish(
                    message.to_dict(), {"runId": run["id"], "integrationId": integration_id},
                    message.ordering_key,
                )
            # Queued again, the reconciler watches it as it watches every queued run.
            self._runs.touch_if_unchanged(
                run["id"], str(run.get("updatedAt")), status=RunStatus.QUEUED, note=None
            )
            sent += 1
        if was.get("state") == PAUSED:
            self.announce(NotifyEvent.DELIVERY_RESUMED, doc, {"held": sent})
        return sent

    def held_runs(self, integration_id: str) -> list[dict[str, Any]]:
        """Up to `MAX_RESUME_RUNS` held runs of the integration, oldest first."""
        found: list[dict[str, Any]] = []
        cursor: str | None = None
        while len(found) < MAX_RESUME_RUNS:
            page, cursor = self._runs.list(
                integration_id=integration_id, status=RunStatus.HELD, limit=RESUME_PAGE,
                cursor=cursor,
            )
            found.extend(page)
            if cursor is None:
                break
        # The list is newest first: the oldest of all held runs are its last ones.
        return list(reversed(found[-MAX_RESUME_RUNS:]))

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


def queue_config(integration: cfg.Integration) -> QueueConfig:
    """The queue settings of a paced integration: its `rateLimit` and its `retry`."""
    target = integration.target
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


def _paced_doc(doc: Mapping[str, Any]) -> bool:
    target = doc.get("target") or {}
    return target.get("type") == "http" and bool(target.get("rateLimit"))
