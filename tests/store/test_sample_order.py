"""An integration's sample payload keeps its key order through the Firestore emulator."""

from __future__ import annotations

from google.cloud import firestore

from mapper.store.integrations import IntegrationStore

# Keys Firestore would sort (it gives maps back in key order), nested and in arrays.
SAMPLE = {"zeta": 1, "alpha": {"y": [{"b": 1, "a": 2}], "x": None}, "mid": "é"}


def _doc(**extra: object) -> dict:
    return {
        "name": "Orders",
        "active": True,
        "source": {"type": "webhook"},
        "mappings": [{"source": "zeta", "target": "z"}],
        "target": {"type": "http", "url": "https://hooks.example.com/x"},
        **extra,
    }


def _order(value: object) -> object:
    """The value with every object as a list of (key, value) pairs: equality sees order."""
    if isinstance(value, dict):
        return [(key, _order(item)) for key, item in value.items()]
    if isinstance(value, list):
        return [_order(item) for item in value]
    return value


def test_the_sample_payload_comes_back_in_the_order_it_was_saved(db: firestore.Client) -> None:
    store = IntegrationStore(db)
    created = store.create(_doc(samplePayload=SAMPLE))
    assert _order(store.get(created["id"])["samplePayload"]) == _order(SAMPLE)

    reordered = {"mid": 2, "alpha": 1}
    store.replace(created["id"], _doc(samplePayload=reordered))
    assert _order(store.get(created["id"])["samplePayload"]) == _order(reordered)

    store.update_fields(created["id"], {"active": False})
    assert _order(store.get(created["id"])["samplePayload"]) == _order(reordered)
    first = store.get_version(created["id"], 1)
    assert first is not None
    assert _order(first["document"]["samplePayload"]) == _order(SAMPLE)


def test_a_sample_may_hold_arrays_in_arrays_and_is_listed_as_given(db: firestore.Client) -> None:
    store = IntegrationStore(db)
    created = store.create(_doc(samplePayload={"rows": [[1, 2], [3]], "b": 1, "a": 0}))
    [listed] = [i for i in store.list(limit=100)[0] if i["id"] == created["id"]]
    assert _order(listed["samplePayload"]) == _order({"rows": [[1, 2], [3]], "b": 1, "a": 0})


def test_a_sample_stored_as_a_map_still_reads(db: firestore.Client) -> None:
    store = IntegrationStore(db)
    created = store.create(_doc())
    db.collection("integrations").document(created["id"]).update({"samplePayload": {"a": 1}})
    assert store.get(created["id"])["samplePayload"] == {"a": 1}
