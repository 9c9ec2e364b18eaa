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
from datetime import datetime
from typing import Any

from google.api_core import exceptions as gexc

from ..errors import ListenerError, MapperError, MessageTooLarge, SecretError
from ..pipeline import Intake, Services, run_id_for
from ..queue import Queue
from ..store import iso_timestamp, now_iso
from .push import parse_data
from .subscriptions import PubSubClients, explain, subscription_path

DEFAULT_BATCH_SIZE = 100
DEFAULT_CONCURRENCY = 16  # messages of one batch queued at once
PULL_WAIT_S = 5.0  # how long one pull call waits for messages when there are none yet
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
    error: str | None = None
    skipped: str | None = None
    run_ids: list[str] = field(default_factory=list)

    def tally(self, outcome: str) -> None:
        """Count one message as `queued`, `recorded` or `left`."""
        setattr(self, outcome, getattr(self, outcome) + 1)

    def as_dict(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if k != "run_ids"}


class Puller:
    """Dispatches due pull integrations as tasks, and drains one integration per task."""

    def __init__(
        self,
        services: Services,
        clients: PubSubClients,
        tasks: Queue,
        batch_size: int = DEFAULT_BATCH_SIZE,
        concurrency: int = DEFAULT_CONCURRENCY,
        *,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._s = services
        self._clients = clients
        self._state = services.pull_state
        self._tasks = tasks
        self._batch = batch_size
        self._concurrency = max(1, concurrency)
        self._clock = clock
        self._sleep = sleep

    def due(self) -> list[str]:
        """Ids of the active pull integrations whose interval has elapsed."""
        candidates = [
            doc
            for doc in self._s.integrations.list_where("source.mode", "pull")
            if (doc.get("source") or {}).get("type") == "pubsub" and doc.get("active", True)
        ]
        states = self._state.get_many([doc["id"] for doc in candidates])
        now = self._clock()
        due = []
        for doc in candidates:
            last = states.get(doc["id"], {}).get("lastPulledAt")
            interval = doc["source"].get("pullIntervalSeconds", 60)
            if last is None or now - _epoch(last) >= interval - DUE_SLACK_S:
                due.append(doc["id"])
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
        doc = self._s.integrations.get(integration_id)
        source = (doc or {}).get("source") or {}
        if doc is None or source.get("type") != "pubsub" or source.get("mode") != "pull":
            report.skipped = "not a pull integration (any more)"
            return report
        if not doc.get("active", True):
            report.skipped = "paused: messages stay in the subscription"
            return report
        interval = float(source.get("pullIntervalSeconds", 60))
        try:
            while True:
                round_started = self._clock()
                self._drain_subscription(doc, report, started + window_s)
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
        self, doc: dict[str, Any], report: DrainReport, deadline: float
    ) -> None:
        source = doc["source"]
        _, subscriber = self._clients.for_source(source)
        path = subscription_path(doc)
        while True:
            try:
                response = subscriber.pull(
                    subscription=path, max_messages=self._batch, timeout=PULL_WAIT_S, retry=None
                )
            except gexc.DeadlineExceeded:
                return  # nothing arrived while waiting
            except gexc.GoogleAPIError as exc:
                raise explain(exc, "pull", path) from exc
            report.pulls += 1
            received = list(response.received_messages)
            if not received:
                return
            # A batch's messages are queued side by side: each waits on Firestore and Pub/Sub
            # round trips, not on this CPU. All are done before anything is acknowledged.
            with ThreadPoolExecutor(max_workers=min(len(received), self._concurrency)) as pool:
                taken = list(pool.map(lambda m: self._take(doc, m.message), received))
            ack_ids = []
            for message, (ok, outcome, run_id) in zip(received, taken, strict=True):
                report.tally(outcome)
                if run_id:
                    report.run_ids.append(run_id)
                if ok:
                    ack_ids.append(message.ack_id)
            if ack_ids:
                try:
                    subscriber.acknowledge(subscription=path, ack_ids=ack_ids)
                except gexc.GoogleAPIError as exc:
                    # Unacknowledged messages come back; their runs already exist, so a
                    # redelivery is recognised and not sent twice.
                    raise explain(exc, "pull", path) from exc
            if len(received) < self._batch or self._clock() > deadline:
                return  # drained, or out of time: the rest waits for the next tick

    def _take(self, doc: dict[str, Any], message: Any) -> tuple[bool, str, str | None]:
        """Queue (or record) one pulled message: (may be acknowledged, outcome, run id)."""
        intake = Intake(self._s)
        run_id = run_id_for(doc["id"], message.message_id)
        attributes = dict(message.attributes)
        try:
            data = parse_data(message.data)
        except ValueError as exc:
            try:
                intake.reject(
                    doc["id"],
                    source_kind="pubsub-pull",
                    raw_body=bytes(message.data),
                    reason=f"message data is not JSON: {exc}",
                    run_id=run_id,
                )
            except MapperError:
                return False, "left", None
            return True, "recorded", None
        try:
            intake.accept(
                doc, data, run_id=run_id, source_kind="pubsub-pull", attributes=attributes
            )
        except MessageTooLarge:
            return True, "recorded", None  # the run holds the reason; redelivery cannot help
        except MapperError:
            return False, "left", None  # Firestore or the queue failed: Pub/Sub redelivers it
        return True, "queued", run_id


def _epoch(timestamp: str) -> float:
    # iso_timestamp gives the stores' UTC form ("...Z"), which fromisoformat reads as UTC.
    return datetime.fromisoformat(iso_timestamp(timestamp)).timestamp()
