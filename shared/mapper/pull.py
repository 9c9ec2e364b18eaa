"""Drain pull subscriptions into the internal path, fanned out one task per integration.

Cloud Scheduler calls the pull function once a minute: `Puller.dispatch` finds every active
pull integration whose `pullIntervalSeconds` has elapsed and publishes one task each on the
pull-tasks topic. Pub/Sub pushes each task back to the pull function, where `Puller.drain`
pulls batches from that one subscription, queues each message like a webhook (run id from
the message id), and acknowledges only what was queued or recorded. So thousands of
integrations drain in parallel instances, and one integration's failure (bad credentials,
a deleted subscription) is recorded in its pull state and touches no other.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from .engine.config import Integration, PubSubSource, parse_integration
from .errors import ConfigError, ListenerError, MapperError, SecretError
from .pipeline.intake import Intake
from .pipeline.ports import IntegrationSource, MessageQueue, PullState, Subscriptions
from .pipeline.runs import RunStatus
from .sources.subscriptions import Pulled
from .timestamps import epoch_seconds, now_iso

DEFAULT_BATCH_SIZE = 100
DEFAULT_CONCURRENCY = 16  # messages of one batch queued at once
WINDOW_S = 55.0  # a drain task stops starting pulls after this, before the next tick
DUE_SLACK_S = 5.0  # a tick a little early still counts: Scheduler is not exact


@dataclass
class DrainReport:
    """What one drain task did for one integration."""

    integration_id: str
    pulls: int = 0
    queued: int = 0
    recorded: int = 0  # undecodable messages, kept as error runs and acknowledged
    left: int = 0  # not queued: left unacknowledged for redelivery
    duplicate: int = 0  # source.dedupe duplicates, acknowledged without a run
    error: str | None = None
    skipped: str | None = None
    run_ids: list[str] = field(default_factory=list)

    def tally(self, outcome: str) -> None:
        """Count one message as `queued`, `recorded`, `duplicate` or `left`."""
        setattr(self, outcome, getattr(self, outcome) + 1)

    def as_dict(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if k != "run_ids"}


class Puller:
    """Dispatches due pull integrations as tasks, and drains one integration per task."""

    def __init__(
        self,
        integrations: IntegrationSource,
        pull_state: PullState,
        intake: Intake,
        subscriptions: Subscriptions,
        tasks: MessageQueue,
        batch_size: int = DEFAULT_BATCH_SIZE,
        concurrency: int = DEFAULT_CONCURRENCY,
        *,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._integrations = integrations
        self._intake = intake
        self._subscriptions = subscriptions
        self._state = pull_state
        self._tasks = tasks
        self._batch = batch_size
        self._concurrency = max(1, concurrency)
        self._clock = clock
        self._sleep = sleep

    def due(self) -> list[str]:
        """Ids of the active pull integrations whose interval has elapsed."""
        candidates = [
            integration
            for integration in map(
                _pull_integration, self._integrations.list_where("source.mode", "pull")
            )
            if integration is not None and integration.active
        ]
        states = self._state.get_many([str(i.id) for i in candidates])
        now = self._clock()
        due = []
        for integration in candidates:
            last = states.get(str(integration.id), {}).get("lastPulledAt")
            interval = integration.source.pull_interval_seconds
            if last is None or now - epoch_seconds(last) >= interval - DUE_SLACK_S:
                due.append(str(integration.id))
        return due

    def dispatch(self) -> dict[str, Any]:
        """Publish one drain task per due integration; a failed publish is retried next tick."""
        due = self.due()
        results = self._tasks.publish_many([{"integrationId": i} for i in due])
        failed = [i for i, r in zip(due, results, strict=True) if isinstance(r, Exception)]
        return {"due": len(due), "dispatched": len(due) - len(failed), "failed": failed}

    def drain(self, integration_id: str, window_s: float = WINDOW_S) -> DrainReport:
        """Pull from one integration's subscription until empty (or, below 60 s, each interval)."""
        report = DrainReport(integration_id)
        started = self._clock()
        doc = self._integrations.get(integration_id)
        integration = _pull_integration(doc)
        if doc is None or integration is None:
            report.skipped = "not a pull integration (any more)"
            return report
        if not integration.active:
            report.skipped = "paused: messages stay in the subscription"
            return report
        interval = float(integration.source.pull_interval_seconds)
        try:
            while True:
                round_started = self._clock()
                self._drain_subscription(doc, integration, report, started + window_s)
                self._state.record(integration_id, {"lastPulledAt": now_iso(), "lastError": None})
                next_round = round_started + interval
                # Intervals under a minute are kept inside this one task.
                if interval >= 60 or next_round - started > window_s:
                    break
                self._sleep(max(0.0, next_round - self._clock()))
        except (ListenerError, SecretError) as exc:
            report.error = str(exc)
            self._state.record(
                integration_id,
                {"lastPulledAt": now_iso(), "lastError": report.error, "lastErrorAt": now_iso()},
            )
        return report

    def _drain_subscription(
        self,
        doc: dict[str, Any],
        integration: Integration,
        report: DrainReport,
        deadline: float,
    ) -> None:
        while True:
            received = self._subscriptions.pull(doc, self._batch)
            report.pulls += 1
            if not received:
                return
            # A batch's messages are queued side by side: each waits on Firestore and Pub/Sub
            # round trips, not on this CPU. All are done before anything is acknowledged.
            with ThreadPoolExecutor(max_workers=min(len(received), self._concurrency)) as pool:
                taken = list(pool.map(lambda m: self._take(integration, m), received))
            ack_ids = []
            for message, (ok, outcome, run_id) in zip(received, taken, strict=True):
                report.tally(outcome)
                if run_id:
                    report.run_ids.append(run_id)
                if ok:
                    ack_ids.append(message.ack_id)
            if ack_ids:
                # If this fails, unacknowledged messages come back; their runs already
                # exist, so a redelivery is recognised and not sent twice.
                self._subscriptions.acknowledge(doc, ack_ids)
            if len(received) < self._batch or self._clock() > deadline:
                return  # drained, or out of time: the rest waits for the next tick

    def _take(self, integration: Integration, message: Pulled) -> tuple[bool, str, str | None]:
        """Queue (or record) one pulled message: (may be acknowledged, outcome, run id)."""
        try:
            receipt = self._intake.receive_pulled(
                integration, message.message_id, message.data, message.attributes
            )
        except MapperError:
            return False, "left", None  # Firestore or the queue failed: Pub/Sub redelivers it
        if receipt.status == RunStatus.QUEUED:
            return True, "queued", receipt.run_id
        if receipt.status == "duplicate":  # source.dedupe: acknowledged, no new run
            return True, "duplicate", None
        return True, "recorded", None  # an error run holds it: redelivery cannot help


def _pull_integration(doc: dict[str, Any] | None) -> Integration | None:
    """The typed integration if `doc` is a valid Pub/Sub pull integration, else None."""
    if doc is None:
        return None
    try:
        integration = parse_integration(doc)
    except ConfigError:
        return None  # an invalid stored document is shown by the API, not drained
    source = integration.source
    if not isinstance(source, PubSubSource) or source.mode != "pull":
        return None
    return integration
