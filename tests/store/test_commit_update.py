"""mapper.firestore_writes.commit_update, and RunStore's claim and outcome through it,
against the Firestore emulator."""

from __future__ import annotations

from typing import Any

import pytest
from google.api_core import exceptions as gexc
from google.cloud import firestore

from mapper.firestore_writes import commit_update
from mapper.pipeline.runs import RunStatus
from mapper.store.runs import RunStore


@pytest.fixture()
def library_unused(monkeypatch: pytest.MonkeyPatch) -> None:
    """The library's update path refuses: what passes was built by firestore_writes."""
    def wrapped(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("handed to the library's pbs_for_update")

    monkeypatch.setattr("mapper.firestore_writes._helpers.pbs_for_update", wrapped)


def test_an_update_sets_deletes_and_increments_as_written(
    db: firestore.Client, library_unused: None
) -> None:
    ref = db.document("runs/one")
    ref.create({"kept": True, "text": "old", "gone": "x", "count": 5, "a.b": "old"})
    version = ref.get().update_time

    updated = commit_update(db, ref, {
        "text": "new",
        "gone": firestore.DELETE_FIELD,
        "count": firestore.Increment(3),
        "a.b": "new",  # one top-level field, its dot part of the name
        "payloadJson": b"\x78\x9c",
        "none": None,
    }, last_update_time=version)

    snapshot = ref.get()
    assert snapshot.to_dict() == {
        "kept": True, "text": "new", "count": 8, "a.b": "new", "payloadJson": b"\x78\x9c",
        "none": None,
    }
    assert updated.transform_results[0].integer_value == 8
    assert updated.update_time == snapshot.update_time
    # The time given back is the next condition, nanoseconds and all.
    commit_update(db, ref, {"text": "newer"}, last_update_time=updated.update_time)
    assert ref.get().get("text") == "newer"


def test_an_update_on_a_changed_or_missing_document_is_refused(db: firestore.Client) -> None:
    ref = db.document("runs/one")
    ref.create({"n": 1})
    version = ref.get().update_time
    ref.update({"n": 2})
    with pytest.raises(gexc.FailedPrecondition):
        commit_update(db, ref, {"n": 3}, last_update_time=version)
    with pytest.raises(gexc.NotFound):  # no time given: on the document existing
        commit_update(db, db.document("runs/missing"), {"n": 1})
    assert ref.get().get("n") == 2 and not db.document("runs/missing").get().exists


def test_a_claim_then_its_outcome(db: firestore.Client, library_unused: None) -> None:
    runs = RunStore(db)
    runs.create({"id": "msg-1", "integrationId": "i1", "status": RunStatus.QUEUED,
                 "incomingPayload": {"n": 1}, "mappedPayload": None})
    claim = runs.claim("msg-1", "d1", 60)
    assert claim.state == "claimed" and claim.run["attempts"] == 1
    stored = runs.get("msg-1")
    assert stored["status"] == RunStatus.DELIVERING and stored["attempts"] == 1

    assert runs.finish("msg-1", claim, RunStatus.SUCCESS, {
        "apiCallTimeMs": 3, "mappedPayload": {"order": "A-1"}, "an.odd name": "kept whole",
    }) is True
    stored = runs.get("msg-1")
    assert stored["status"] == RunStatus.SUCCESS and stored["attempts"] == 1
    assert stored["deliveryId"] is None and stored["leaseUntil"] is None
    assert stored["mappedPayload"] == {"order": "A-1"} and stored["an.odd name"] == "kept whole"
    raw = db.document("runs/msg-1").get().to_dict()
    assert "mappedPayload" not in raw  # stored as JSON text: its null form deleted
    assert runs.claim("msg-1", "d2", 60).state == "done"


def test_an_outcome_on_a_run_changed_since_the_claim_is_not_written(
    db: firestore.Client,
) -> None:
    runs = RunStore(db)
    runs.create({"id": "msg-1", "integrationId": "i1", "status": RunStatus.QUEUED})
    claim = runs.claim("msg-1", "d1", 60)
    runs.update("msg-1", {"note": "changed meanwhile"})

    assert runs.finish("msg-1", claim, RunStatus.SUCCESS, {"apiCallTimeMs": 3}) is False
    assert runs.get("msg-1")["status"] == RunStatus.DELIVERING


def test_an_outcome_on_a_missing_run_is_not_written(db: firestore.Client) -> None:
    runs = RunStore(db)
    runs.create({"id": "msg-1", "integrationId": "i1", "status": RunStatus.QUEUED})
    claim = runs.claim("msg-1", "d1", 60)
    db.document("runs/msg-1").delete()

    # The emulator answers FailedPrecondition (stored version 0), NotFound is caught too.
    assert runs.finish("msg-1", claim, RunStatus.SUCCESS, {"apiCallTimeMs": 3}) is False
    assert runs.finish("never", claim, RunStatus.SUCCESS, {"apiCallTimeMs": 3}) is False
    assert not db.document("runs/msg-1").get().exists
    assert not db.document("runs/never").get().exists
