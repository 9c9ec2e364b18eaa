"""The delivery state on the Firestore emulator: pause once, resume, failures in a row
counted with increments, generations counted up."""

from __future__ import annotations

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
