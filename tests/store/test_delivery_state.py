"""The delivery state on the Firestore emulator: pause once, resume, failures in a row
counted with increments, generations counted up."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

import pytest
from google.cloud import firestore

from mapper.store.delivery import DeliveryStateStore


def test_the_delivery_state_on_firestore(db: firestore.Client) -> None:
    states = DeliveryStateStore(db)
    assert states.get("i1") is None
    assert states.failed("i1") == 1
    assert states.failed("i1") == 2
    states.succeeded("i1")
    assert states.get("i1")["consecutiveFailures"] == 0

    fields = {"reason": "3 failed attempts in a row", "since": "t", "by": "circuit"}
    assert states.pause("i1", fields) is True
    assert states.pause("i1", {**fields, "by": "user"}) is False  # paused once: the first wins
    paused = states.get("i1")
    assert (paused["state"], paused["by"]) == ("paused", "circuit")

    states.failed("i1")
    resumed = states.resume("i1")
    assert (resumed["state"], resumed["by"], resumed["resumes"]) == ("active", None, 1)
    assert resumed["consecutiveFailures"] == 0
    assert states.resume("i1")["resumes"] == 2

    assert states.draining(10) == []
    states.drain_moved("i1", True)
    [(integration_id, state)] = states.draining(10)
    assert integration_id == "i1" and state["draining"] is True and state["drainedAt"]
    states.drain_moved("i1", False)
    assert states.draining(10) == []

    assert states.next_generation("i1") == 1
    assert states.next_generation("i1") == 2
    states.forget("i1")
    assert states.get("i1")["generation"] == 2  # names of deleted queues stay used


def test_each_fan_out_target_counts_its_own_generation(db: firestore.Client) -> None:
    states = DeliveryStateStore(db)
    assert states.next_generation("i2", "crm") == 1
    assert states.next_generation("i2", "crm-2") == 1  # a name Firestore would need quoted
    assert states.next_generation("i2", "crm") == 2
    assert states.next_generation("i2") == 1
    state = states.get("i2")
    assert state["generations"] == {"crm": 2, "crm-2": 1} and state["generation"] == 1


def test_the_state_is_read_with_one_unary_call_as_the_snapshot_reads(
    db: firestore.Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Read on every run: one GetDocument, not a BatchGetDocuments stream (and its thread).
    ref = db.collection("deliveryState").document("i7")
    when = datetime(2026, 12, 7, 12, 0, tzinfo=timezone.utc)
    ref.set({"state": "paused", "consecutiveFailures": 3, "since": when, "by": None,
             "targets": {"a": {"generation": 2}}, "raw": b"\x00\x01"})
    api = db._firestore_api
    calls: list[str] = []
    for name in ("get_document", "batch_get_documents"):
        original = getattr(api, name)

        def counted(*args: Any, _name: str = name, _original: Any = original, **kwargs: Any) -> Any:
            calls.append(_name)
            return _original(*args, **kwargs)

        monkeypatch.setattr(api, name, counted)
    states = DeliveryStateStore(db)
    assert states.get("i7") == ref.get().to_dict()
    assert states.get("missing") is None
    assert calls == ["get_document", "batch_get_documents", "get_document"]
