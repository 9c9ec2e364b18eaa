"""The reconciler against the Firestore emulator, when a delivery claims a run mid-sweep.

Found by the fault suite (`make faults`, healthy target): a run the sweep read as `queued`
was claimed by its own message before the sweep wrote its republish count; that write
changed the run under the claim, so the lease holder's outcome was refused ("lease lost
before recording success") and the run stayed `delivering` until the lease ran out, then
was sent a second time.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

from google.cloud import firestore

from mapper.pipeline.ports import Claim
from mapper.pipeline.reconcile import Reconciler
from mapper.store.runs import RunStore

RUN = "integ.run-1"


class Published:
    """The internal topic, as a list (our own MessageQueue interface)."""

    def __init__(self) -> None:
        self.messages: list[dict[str, Any]] = []

    def publish(
        self,
        message: dict[str, Any],
        attributes: dict[str, str] | None = None,
        ordering_key: str | None = None,
    ) -> str:
        self.messages.append(message)
        return str(len(self.messages))


class ClaimedRightAfterTheSweepRead:
    """The real run store; its `stale` lets the run's own message claim it just after."""

    def __init__(self, runs: RunStore) -> None:
        self._runs = runs
        self.claim: Claim | None = None

    def __getattr__(self, name: str) -> Any:
        return getattr(self._runs, name)

    def stale(self, *args: Any) -> list[dict[str, Any]]:
        found = self._runs.stale(*args)
        self.claim = self._runs.claim(RUN, "delivery-1", 35)
        return found


def queued_long_ago(runs: RunStore) -> None:
    old = datetime.now(timezone.utc) - timedelta(seconds=60)
    runs.create(
        {
            "id": RUN,
            "integrationId": "integ",
            "sourceKind": "webhook",
            "status": "queued",
            "incomingPayload": {"n": 1},
            "createdAt": old,
            "updatedAt": old,
        }
    )


def test_a_sweep_leaves_a_run_claimed_after_it_read_it_to_its_delivery(
    db: firestore.Client,
) -> None:
    runs = RunStore(db)
    queued_long_ago(runs)
    racing = ClaimedRightAfterTheSweepRead(runs)
    queue = Published()

    report = Reconciler(racing, queue, horizon_s=20).sweep()  # type: ignore[arg-type]

    assert racing.claim is not None and racing.claim.state == "claimed"
    # The delivery that claimed it records its outcome, and nothing else is sent.
    assert runs.finish(RUN, racing.claim, "success", {}) is True
    assert runs.get(RUN)["status"] == "success"  # type: ignore[index]
    assert queue.messages == []
    assert report.republished == []


def test_a_sweep_republishes_a_run_nobody_touched(db: firestore.Client) -> None:
    runs = RunStore(db)
    queued_long_ago(runs)
    queue = Published()

    report = Reconciler(runs, queue, horizon_s=20).sweep()

    assert report.republished == [RUN]
    assert [m["runId"] for m in queue.messages] == [RUN]
    run = runs.get(RUN)
    assert run is not None and run["republishes"] == 1 and run["status"] == "queued"
    # The copy it published is delivered once, as any message is.
    claim = runs.claim(RUN, "delivery-2", 35)
    assert claim.state == "claimed"
    assert runs.finish(RUN, claim, "success", {}) is True
