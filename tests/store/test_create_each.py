"""RunStore.create_each against the Firestore emulator: runs created in one BatchWrite, each
on its own (the webhook's runs written after their 202, mapper.pipeline.after_accept)."""

from __future__ import annotations

from typing import Any

from google.cloud import firestore

from mapper.errors import StoreError
from mapper.firestore_writes import batch_creates
from mapper.store.runs import RunStore


def queued(run_id: str, **fields: Any) -> dict[str, Any]:
    return {"id": run_id, "integrationId": "i1", "status": "queued",
            "incomingPayload": {"order": run_id, "lines": ["x" * 40] * 30}, **fields}


def test_runs_written_in_one_request_read_back_as_written(db: firestore.Client) -> None:
    runs = RunStore(db)
    assert runs.create_each([queued("i1.a"), queued("i1.b")]) == [True, True]
    for run_id in ("i1.a", "i1.b"):
        run = runs.get(run_id)
        assert run is not None and run["status"] == "queued"
        assert run["incomingPayload"] == queued(run_id)["incomingPayload"]  # compressed, whole


def test_a_run_that_exists_is_left_as_it_is_and_the_others_are_written(
    db: firestore.Client,
) -> None:
    runs = RunStore(db)
    assert runs.create({**queued("i1.taken"), "status": "delivering"})  # its worker came first
    answers = runs.create_each([queued("i1.new"), queued("i1.taken"), queued("i1.other")])
    assert answers == [True, False, True]
    assert runs.get("i1.taken")["status"] == "delivering"
    assert runs.get("i1.new") is not None and runs.get("i1.other") is not None


def test_one_run_firestore_refuses_does_not_cost_the_others_their_record(
    db: firestore.Client,
) -> None:
    runs = RunStore(db)
    refused = queued("i1.bad", __bad__=1)  # a reserved name: Firestore refuses the request
    answers = runs.create_each([queued("i1.a"), refused, queued("i1.b")])
    assert answers[0] is True and answers[2] is True
    assert isinstance(answers[1], StoreError) and "reserved" in str(answers[1])
    assert runs.get("i1.a") is not None and runs.get("i1.b") is not None
    assert runs.get("i1.bad") is None


def test_two_runs_with_one_id_go_in_two_requests(db: firestore.Client) -> None:
    runs = RunStore(db)
    assert runs.create_each([queued("i1.a"), queued("i1.a", attempts=3)]) == [True, False]
    assert runs.get("i1.a")["attempts"] == 0


def test_a_batch_write_is_not_atomic(db: firestore.Client) -> None:
    db.document("runs/there").create({"n": 1})
    statuses = batch_creates(
        db, [(db.document("runs/new"), {"n": 2}), (db.document("runs/there"), {"n": 3})]
    )
    assert [code for code, _ in statuses] == [0, 6]  # OK, ALREADY_EXISTS
    assert db.document("runs/new").get().to_dict() == {"n": 2}
    assert db.document("runs/there").get().to_dict() == {"n": 1}

