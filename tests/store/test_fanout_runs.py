"""A fan-out run's deliveries in Firestore: ten targets' worth stays within one document."""

from __future__ import annotations

from google.cloud import firestore

from mapper.store.common import FIELD_LIMIT_BYTES
from mapper.store.runs import RunStore

DOCUMENT_LIMIT_BYTES = 1_048_576  # Firestore's limit on one document


def delivery(n: int, fill: int) -> dict:
    return {
        "target": f"t{n}",
        "status": "error",
        "attempts": 3,
        "transformedPayload": {"blob": "p" * fill},
        "outgoingRequest": {"method": "POST", "url": f"https://t{n}.example.com/",
                            "headers": {}, "body": {"blob": "q" * fill}},
        "outgoingResponse": {"status": 500, "headers": {}, "body": "r" * fill},
        "errorMessage": "e" * 50_000,
        "apiCallTimeMs": 12.5,
    }


def test_ten_targets_with_large_bodies_fit_in_one_run(db: firestore.Client) -> None:
    runs = RunStore(db)
    deliveries = [delivery(n, FIELD_LIMIT_BYTES) for n in range(10)]
    run = {
        "id": "fan-big",
        "integrationId": "i1",
        "sourceKind": "webhook",
        "status": "partial",
        "incomingPayload": {"blob": "i" * FIELD_LIMIT_BYTES},
        "transformedPayload": {"blob": "t" * FIELD_LIMIT_BYTES},
        "errorMessage": "; ".join(d["target"] + ": " + d["errorMessage"] for d in deliveries),
        "deliveries": deliveries,
    }

    assert runs.create(run)  # Firestore refuses a document over its limit

    stored = runs.get("fan-big")
    assert [d["target"] for d in stored["deliveries"]] == [f"t{n}" for n in range(10)]
    first = stored["deliveries"][0]
    assert first["outgoingRequest"]["truncated"] is True
    assert first["outgoingResponse"]["truncated"] is True
    assert first["transformedPayload"]["truncated"] is True
    assert (first["status"], first["attempts"], first["apiCallTimeMs"]) == ("error", 3, 12.5)
    assert len(first["errorMessage"]) < 2_100
    raw = db.collection("runs").document("fan-big").get().to_dict()
    assert sum(len(str(v).encode()) for v in raw.values()) < DOCUMENT_LIMIT_BYTES


def test_small_deliveries_are_kept_whole(db: firestore.Client) -> None:
    runs = RunStore(db)
    small = [delivery(n, 10) | {"errorMessage": None} for n in range(2)]
    runs.create({"id": "fan-small", "integrationId": "i1", "sourceKind": "webhook",
                 "status": "queued"})
    runs.update("fan-small", {"deliveries": small, "status": "success"})
    assert runs.get("fan-small")["deliveries"] == small
