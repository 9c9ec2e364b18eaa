"""A claim that starts from a look (the delivery state and the run in one BatchGetDocuments
call) on the Firestore emulator: the run present, missing, written or claimed meanwhile,
held by a lease, ended (docs/data-plane.md, "Claiming a run")."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from google.api_core import exceptions as gexc
from google.cloud import firestore, pubsub_v1
from google.cloud.firestore_v1.services.firestore.client import FirestoreClient

from local.emulators import Emulators
from mapper.pipeline.pacing import DeliveryGate
from mapper.pipeline.ports import Seen
from mapper.pipeline.runs import QueuedMessage, RunStatus
from mapper.store.delivery import DeliveryStateStore
from mapper.store.runs import RunStore
from tests.pipeline.support import body
from tests.store.test_accept_publish_only import webhook_and_worker
from tests.store.test_queue import fresh_queue, pull_one
from tests.store.test_store import Calls, first_record


def stores(db: firestore.Client) -> tuple[RunStore, DeliveryStateStore]:
    runs = RunStore(db)
    return runs, DeliveryStateStore(db, runs=runs)


def recorded(runs: RunStore, run_id: str) -> None:
    """The run as the intake writes it just after the 202 (RECORD_AT_ACCEPT)."""
    assert runs.create(first_record(run_id))


def test_a_look_reads_the_state_and_the_run_in_one_call(
    db: firestore.Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    runs, states = stores(db)
    recorded(runs, "r1")
    states.failed("i1")
    calls = Calls(monkeypatch)
    state, seen = states.look("i1", "r1")
    assert (calls.reads, calls.documents) == (1, 2)
    assert state == states.get("i1") and state["consecutiveFailures"] == 1
    assert seen is not None and seen.run == runs.get("r1")
    assert seen.version == db.collection("runs").document("r1").get().update_time
    assert states.look("other", "missing") == (None, Seen(None))
    # Without a run, or one no document can be named by: the state alone, one GetDocument.
    calls.reads = calls.documents = 0
    assert states.look("i1") == (state, None)
    assert states.look("i1", "a/b") == (state, None)
    assert (calls.reads, calls.documents) == (2, 2)
    assert DeliveryStateStore(db).look("i1", "r1") == (state, None)  # not told of runs


def test_a_claim_from_a_look_that_found_the_run_writes_once_and_reads_nothing(
    db: firestore.Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    runs, states = stores(db)
    recorded(runs, "r1")
    _, seen = states.look("i1", "r1")
    calls = Calls(monkeypatch)
    claim = runs.claim("r1", "d1", 60, first=first_record("r1"), seen=seen)
    assert claim.state == "claimed" and claim.run["attempts"] == 1
    assert (calls.commits, calls.reads) == (1, 0)  # no create tried, no read of its own
    assert runs.finish("r1", claim, "success", {"apiCallTimeMs": 2}) is True
    stored = runs.get("r1")
    assert stored["status"] == "success" and stored["attempts"] == 1


def test_a_claim_from_a_look_that_found_no_run_creates_it_claimed(
    db: firestore.Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    runs, states = stores(db)
    _, seen = states.look("i1", "r2")
    assert seen == Seen(None)
    calls = Calls(monkeypatch)
    claim = runs.claim("r2", "d1", 60, first=first_record("r2"), seen=seen)
    assert claim.state == "claimed" and claim.run["attempts"] == 1
    assert (calls.commits, calls.reads) == (1, 0)
    stored = runs.get("r2")
    assert stored["status"] == "delivering" and stored["deliveryId"] == "d1"
    assert stored["incomingPayload"] == first_record("r2")["incomingPayload"]
    assert runs.finish("r2", claim, "success", {}) is True
    # Seen missing and no first record to create it from: missing, nothing written.
    assert runs.claim("r3", "d1", 60, seen=Seen(None)).state == "missing"
    assert runs.get("r3") is None


def test_a_run_written_after_the_look_is_read_and_claimed_not_created_twice(
    db: firestore.Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    runs, states = stores(db)
    _, seen = states.look("i1", "r4")
    assert seen == Seen(None)
    written = {**first_record("r4"), "incomingPayload": {"from": "the intake"}}
    assert runs.create(written)  # the intake's write after the 202 lands meanwhile
    calls = Calls(monkeypatch)
    claim = runs.claim("r4", "d1", 60, first=first_record("r4"), seen=seen)
    assert claim.state == "claimed" and claim.run["attempts"] == 1
    # The create is refused (not a write), the run read, then the conditional write.
    assert (calls.commits, calls.reads) == (1, 1)
    stored = runs.get("r4")
    assert stored["deliveryId"] == "d1" and stored["incomingPayload"] == {"from": "the intake"}


def test_a_run_claimed_after_the_look_is_read_again_and_not_overwritten(
    db: firestore.Client,
) -> None:
    runs, states = stores(db)
    recorded(runs, "r5")
    _, seen = states.look("i1", "r5")
    assert runs.claim("r5", "other", 60).state == "claimed"  # another copy of the message
    mine = runs.claim("r5", "d1", 60, first=first_record("r5"), seen=seen)
    assert mine.state == "busy"
    stored = runs.get("r5")
    assert stored["deliveryId"] == "other" and stored["attempts"] == 1


def test_a_run_seen_leased_or_ended_is_neither_claimed_nor_written(
    db: firestore.Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    runs, states = stores(db)
    recorded(runs, "r6")
    held = runs.claim("r6", "other", 60)
    _, seen = states.look("i1", "r6")
    calls = Calls(monkeypatch)
    assert runs.claim("r6", "d1", 60, first=first_record("r6"), seen=seen).state == "busy"
    assert runs.finish("r6", held, "success", {}) is True
    _, seen = states.look("i1", "r6")
    assert runs.claim("r6", "d2", 60, first=first_record("r6"), seen=seen).state == "done"
    assert calls.commits == 1  # the outcome only
    assert runs.get("r6")["attempts"] == 1


@pytest.mark.parametrize("written", [True, False], ids=["recorded", "not-recorded"])
def test_of_concurrent_claims_each_from_its_own_look_one_wins(
    db: firestore.Client, written: bool
) -> None:
    runs, states = stores(db)
    if written:
        recorded(runs, "r7")

    def deliver(i: int) -> str:
        _, seen = states.look("i1", "r7")
        return runs.claim("r7", f"d{i}", 60, first=first_record("r7"), seen=seen).state

    with ThreadPoolExecutor(10) as pool:
        claims = list(pool.map(deliver, range(10)))
    assert sorted(claims) == ["busy"] * 9 + ["claimed"]
    assert runs.get("r7")["attempts"] == 1


def test_a_run_recorded_after_its_202_costs_its_worker_three_round_trips(
    db: firestore.Client,
    emulators: Emulators,
    publisher: pubsub_v1.PublisherClient,
    subscriber: pubsub_v1.SubscriberClient,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # RECORD_AT_ACCEPT (the functions' default), the real stores: one look, the claim's
    # write, the outcome's write. No create tried and refused, no second read.
    queue, subscription = fresh_queue(emulators, publisher, subscriber)
    runs, states = stores(db)
    intake, worker, target = webhook_and_worker(
        runs, queue, record_in_background=True, gate=DeliveryGate(states, runs)
    )
    receipt = intake.receive_webhook("p-secret", {}, body(b'{"n": 7}'))
    message = QueuedMessage.from_bytes(pull_one(subscriber, subscription).data)
    assert message.recording and not message.recorded
    deadline = time.monotonic() + 10
    while runs.get(receipt.run_id) is None and time.monotonic() < deadline:
        time.sleep(0.02)  # the intake's write after the 202
    calls = Calls(monkeypatch)
    refused = count_refused_creates(monkeypatch)
    assert worker.process(message) == RunStatus.SUCCESS
    assert (calls.reads, calls.documents, calls.commits, refused) == (1, 2, 2, [])
    run = runs.get(receipt.run_id)
    assert run["status"] == RunStatus.SUCCESS and run["attempts"] == 1
    assert target.sent == [{"payload": {"number": 7}, "runId": receipt.run_id}]


def count_refused_creates(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The creates Firestore refuses from now on (AlreadyExists: a round trip, not billed)."""
    refused: list[str] = []
    commit = FirestoreClient.commit

    def counted(api: Any, *args: Any, **kwargs: Any) -> Any:
        try:
            return commit(api, *args, **kwargs)
        except gexc.AlreadyExists:
            refused.append("create")
            raise

    monkeypatch.setattr(FirestoreClient, "commit", counted)
    return refused
