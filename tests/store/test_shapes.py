"""The source shape and dedupe key stores on the Firestore emulator: a shape replaced in a
transaction, keys created once, taken over after their window, released by their run."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from google.cloud import firestore

from mapper.pipeline.shape import ShapeDelta, fold, merge
from mapper.store.shapes import DedupeKeyStore, SourceShapeStore


def test_a_shape_is_merged_in_a_transaction_and_read_back(db: firestore.Client) -> None:
    shapes = SourceShapeStore(db)
    assert shapes.get("i1") is None

    def change(payload: Any) -> Any:
        delta = ShapeDelta()
        fold(delta, payload, "2026-12-07T10:00:00.000000Z", {})
        return lambda stored: merge(stored, delta, "i1")

    before, after = shapes.update("i1", change({"a": 1}))
    assert before is None and after["payloads"] == 1
    before, after = shapes.update("i1", change({"b": "x"}))
    assert before is not None and before["payloads"] == 1
    stored = shapes.get("i1")
    assert stored is not None and stored["payloads"] == 2
    assert {p["path"]: p["misses"] for p in stored["paths"]} == {"a": 1, "b": 0}
    shapes.delete("i1")
    assert shapes.get("i1") is None


def test_a_key_is_held_by_its_first_run_for_its_window_then_taken_over(
    db: firestore.Client,
) -> None:
    keys = DedupeKeyStore(db)
    now = 1_800_000_000.0
    assert keys.claim("k1", "run-1", "i1", 60, now) == "run-1"
    assert keys.claim("k1", "run-2", "i1", 60, now + 59) == "run-1"
    assert keys.claim("k1", "run-3", "i1", 60, now + 60) == "run-3"
    held = db.collection("dedupeKeys").document("k1").get().to_dict()
    assert held["runId"] == "run-3" and held["integrationId"] == "i1"
    assert held["expireAt"] == datetime.fromtimestamp(now + 120, tz=timezone.utc)


def test_a_key_is_released_only_by_the_run_holding_it(db: firestore.Client) -> None:
    keys = DedupeKeyStore(db)
    assert keys.claim("k2", "run-1", "i1", 60, 1.0) == "run-1"
    keys.release("k2", "run-other")
    assert keys.claim("k2", "run-2", "i1", 60, 2.0) == "run-1"
    keys.release("k2", "run-1")
    assert keys.claim("k2", "run-2", "i1", 60, 3.0) == "run-2"


def test_drift_notices_are_found_and_taken_once_a_minute(db: firestore.Client) -> None:
    shapes = SourceShapeStore(db)
    notice = {"path": "order.email", "kind": "missing", "since": "2026-12-07T10:00:00Z"}
    shapes.update("quiet", lambda stored: {"integrationId": "quiet", "paths": []})
    shapes.update("i1", lambda stored: {
        "integrationId": "i1", "paths": [], "driftNotices": [notice], "driftNoticesMore": 2,
        "driftPending": True,
    })
    assert shapes.pending_drift(10) == ["i1"]
    assert shapes.take_drift("i1", 100) == {"drift": [notice], "more": 2}
    assert shapes.pending_drift(10) == [] and shapes.take_drift("i1", 101) is None
    stored = shapes.get("i1")
    assert stored is not None and stored["driftNotices"] == [] and stored["paths"] == []

    shapes.update("i1", lambda stored: {**(stored or {}), "driftNotices": [notice],
                                        "driftPending": True})
    assert shapes.take_drift("i1", 100) is None  # that minute already had its notification
    assert shapes.pending_drift(10) == ["i1"]
    assert shapes.take_drift("i1", 101) == {"drift": [notice], "more": 0}
    assert shapes.take_drift("absent", 101) is None and shapes.get("absent") is None
