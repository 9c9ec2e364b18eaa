"""The writes mapper.firestore_writes builds are the bytes the client library would send.

Against the library's own `pbs_for_create` for the same document: a run as the intake writes
it, every plain type, and documents the module hands back to the library whole; against its
`pbs_for_update` for a claim's and an outcome's fields (deletes, an increment, names with
dots), under each precondition.
"""

from __future__ import annotations

import datetime
import zlib
from typing import Any

import pytest
from google.cloud import firestore
from google.cloud.firestore_v1 import _helpers
from google.cloud.firestore_v1.field_path import FieldPath
from google.cloud.firestore_v1.types import write
from google.protobuf import timestamp_pb2

from mapper.firestore_writes import create_writes, update_writes
from mapper.pipeline.runs import RunStatus, SourceKind
from mapper.store.runs import update_fields

PATH = "projects/demo/databases/(default)/documents/runs/integration-1.abc"
MOMENT = datetime.datetime(2026, 12, 2, 4, 5, 6, 789123, tzinfo=datetime.timezone.utc)

DOCUMENTS: dict[str, dict[str, Any]] = {
    "a run as the intake writes it": {
        "id": "integration-1.abc",
        "integrationId": "integration-1",
        "integrationVersion": 3,
        "sourceKind": SourceKind.WEBHOOK,  # StrEnums, as the intake writes them
        "status": RunStatus.QUEUED,
        # A payload over COMPRESS_ABOVE_BYTES is stored zlib-compressed, as bytes.
        "incomingPayloadJson": zlib.compress(b'{"order":{"id":"A-1","total":12.5}}' * 20),
        "incomingHeadersJson": '{"content-type":"application/json"}',
        "incomingAttributesJson": "{}",
        "attempts": 0,
        "createdAt": "2026-12-02T04:05:06.789123Z",
        "updatedAt": "2026-12-02T04:05:06.789123Z",
        "expireAt": MOMENT,
        "searchValues": ["customer:42", "A-1"],
    },
    "every plain type": {
        "text": "é€😀",
        "empty text": "",
        "integer": -5,
        "large integer": 2**62,
        "float": 1.5,
        "true": True,
        "false": False,
        "none": None,
        "a time in another zone": MOMENT.astimezone(datetime.timezone(datetime.timedelta(hours=5))),
        "a naive time (UTC)": MOMENT.replace(tzinfo=None),
        "a field.with a dot": 1,
        "a mixed list": [1, "a", None, True, 2.5, MOMENT],
        "an empty list": [],
        "bytes": b"\x00\xff",
        "empty bytes": b"",
        "a list with bytes": [b"a", 1],
    },
    "no fields": {},
    "a map (the library's)": {"map": {"a": 1}, "text": "x"},
    "a server timestamp (the library's)": {"at": firestore.SERVER_TIMESTAMP, "n": 1},
}


@pytest.mark.parametrize("name", DOCUMENTS)
def test_the_writes_are_the_bytes_the_library_writes(name: str) -> None:
    data = DOCUMENTS[name]
    library = [pb._pb for pb in _helpers.pbs_for_create(PATH, data)]
    ours = create_writes(PATH, data)
    assert [pb.SerializeToString(deterministic=True) for pb in ours] == [
        pb.SerializeToString(deterministic=True) for pb in library
    ]


def test_a_create_is_conditional_on_the_document_not_existing() -> None:
    (write,) = create_writes(PATH, {"status": "queued"})
    assert write.current_document.HasField("exists") and not write.current_document.exists
    assert write.update.name == PATH


def test_a_run_with_a_compressed_payload_is_built_without_the_library(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The intake's runs carry their payload as zlib bytes, their status and source kind as
    # StrEnums: the fast path must take them.
    def wrapped(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("handed to the library's proto-plus wrappers")

    monkeypatch.setattr("mapper.firestore_writes._helpers.pbs_for_create", wrapped)
    (write,) = create_writes(PATH, DOCUMENTS["a run as the intake writes it"])
    assert write.update.fields["incomingPayloadJson"].bytes_value.startswith(b"x\x9c")
    assert write.update.fields["status"].string_value == "queued"


# --- updates -------------------------------------------------------------------------------

# A write time as the library reads it back (a claim's token): with its nanoseconds.
TOKEN = write.WriteResult(
    update_time=timestamp_pb2.Timestamp(seconds=1796184306, nanos=789123456)
).update_time
# The fields a claim writes, as RunStore.claim builds them.
CLAIM = {
    "status": RunStatus.DELIVERING,
    "deliveryId": "delivery-1",
    "leaseUntil": "2026-12-02T04:06:06.789123Z",
    "attempts": firestore.Increment(1),
    "updatedAt": "2026-12-02T04:05:06.789123Z",
}


def _finish_fields() -> dict[str, Any]:
    """An outcome as RunStore.finish writes it: encoded, each field's other form deleted,
    a success's dropped payloads deleted in both forms, and a name with a dot in it."""
    fields = update_fields({
        "status": RunStatus.SUCCESS,
        "deliveryId": None,
        "leaseUntil": None,
        "apiCallTimeMs": 16.5,
        "mappedPayload": {"order": "A-1", "lines": [1, 2]},
        "targetResponse": {"status": 200, "body": "x" * 3000},  # compressed: bytes
        "searchValues": ["customer:42", "A-1"],
        "an.odd name": "kept whole",
    })
    fields["targetRequest"] = fields["targetRequestJson"] = firestore.DELETE_FIELD
    return fields


UPDATES: dict[str, dict[str, Any]] = {
    "a claim": CLAIM,
    "an outcome": _finish_fields(),
    "names to quote, out of order": {"z": 1, "`back`tick": 2, "a.b": 3, "b-c": 4, "_a": 5},
    "increments only": {"count": firestore.Increment(2), "total": firestore.Increment(1.5)},
    "deletes only": {"a": firestore.DELETE_FIELD, "b.c": firestore.DELETE_FIELD},
    "every plain type": DOCUMENTS["every plain type"],
    "a map (the library's)": {"map": {"a": 1}, "text": "x", "n": firestore.Increment(1)},
    "a server timestamp (the library's)": {"at": firestore.SERVER_TIMESTAMP, "n": 1},
}


def _library_update(fields: dict[str, Any], token: Any) -> list[bytes]:
    option = None if token is None else firestore.Client.write_option(last_update_time=token)
    quoted = {FieldPath(name).to_api_repr(): value for name, value in fields.items()}
    return [pb._pb.SerializeToString(deterministic=True)
            for pb in _helpers.pbs_for_update(PATH, quoted, option)]


@pytest.mark.parametrize("token", [TOKEN, MOMENT, None], ids=["nanos", "datetime", "exists"])
@pytest.mark.parametrize("name", UPDATES)
def test_the_updates_are_the_bytes_the_library_writes(name: str, token: Any) -> None:
    fields = UPDATES[name]
    ours = [pb.SerializeToString(deterministic=True)
            for pb in update_writes(PATH, fields, token)]
    assert ours == _library_update(fields, token)


def test_an_outcome_deletes_as_a_mask_entry_without_a_value() -> None:
    (write,) = update_writes(PATH, _finish_fields(), TOKEN)
    mask = list(write.update_mask.field_paths)
    assert "targetRequestJson" in mask and "targetRequestJson" not in write.update.fields
    assert "`an.odd name`" in mask and write.update.fields["an.odd name"].string_value
    assert write.current_document.update_time.nanos == 789123456


def test_a_claim_increments_by_a_transform_outside_the_mask() -> None:
    (write,) = update_writes(PATH, CLAIM, TOKEN)
    assert "attempts" not in write.update_mask.field_paths
    (transform,) = write.update_transforms
    assert transform.field_path == "attempts" and transform.increment.integer_value == 1


def test_a_claim_and_an_outcome_are_built_without_the_library(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def wrapped(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("handed to the library's field paths")

    outcome = _finish_fields()
    monkeypatch.setattr("mapper.firestore_writes._helpers.pbs_for_update", wrapped)
    assert update_writes(PATH, CLAIM, TOKEN) and update_writes(PATH, outcome, TOKEN)
    with pytest.raises(AssertionError, match="library"):
        update_writes(PATH, UPDATES["a map (the library's)"], TOKEN)


def test_an_empty_update_is_refused_as_the_library_refuses_it() -> None:
    with pytest.raises(ValueError, match="empty"):
        update_writes(PATH, {}, TOKEN)
