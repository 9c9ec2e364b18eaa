"""The creates mapper.firestore_writes builds are the bytes the client library would send.

Against the library's own `pbs_for_create` for the same document: a run as the intake writes
it, every plain type, and documents the module hands back to the library whole.
"""

from __future__ import annotations

import datetime
import zlib
from typing import Any

import pytest
from google.cloud import firestore
from google.cloud.firestore_v1 import _helpers

from mapper.firestore_writes import create_writes
from mapper.pipeline.runs import RunStatus, SourceKind

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
