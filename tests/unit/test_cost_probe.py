"""bench/cost_probe.py's counting wrappers, on the client libraries' own request types.

Each wrapper is given a stand-in for the call it wraps (what the emulator would answer);
the end-to-end counts are tests/e2e/test_cost_bench.py's.
"""

from __future__ import annotations

import importlib
from pathlib import Path
from types import SimpleNamespace

import pytest
from google.api_core.exceptions import NotFound, PermissionDenied
from google.cloud.firestore_v1.types import (
    BatchGetDocumentsResponse,
    CommitRequest,
    Document,
    RunQueryResponse,
    Write,
)
from google.pubsub_v1.types import PublishRequest, PubsubMessage

BENCH = Path(__file__).resolve().parents[2] / "bench"


@pytest.fixture
def probe(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.syspath_prepend(str(BENCH))
    monkeypatch.delenv("COST_FUNCTION", raising=False)
    module = importlib.import_module("cost_probe")
    module.COUNTS.clear()
    monkeypatch.setattr(module, "_start_dumper", lambda path: None)  # no file, no thread
    return module


def test_a_commit_counts_its_writes_and_deletes(probe) -> None:
    request = CommitRequest(writes=[
        Write(update=Document(name="projects/p/databases/(default)/documents/runs/a")),
        Write(update=Document(name="projects/p/databases/(default)/documents/runs/b")),
        Write(delete="projects/p/databases/(default)/documents/runs/c"),
    ])
    commit = probe._counted_commit(lambda self, **kwargs: "committed")
    assert commit(None, request=request) == "committed"
    commit(None, request={"writes": [{"delete": "x"}]})
    assert probe.COUNTS["firestore.writes"] == 2
    assert probe.COUNTS["firestore.deletes"] == 2


def test_a_failed_commit_counts_nothing(probe) -> None:
    def refused(self, **kwargs):
        raise RuntimeError("already exists")

    with pytest.raises(RuntimeError):
        probe._counted_commit(refused)(None, request=CommitRequest(writes=[Write()]))
    assert probe.COUNTS["firestore.writes"] == 0


def test_reads_count_documents_returned_and_at_least_one_a_query(probe) -> None:
    found = BatchGetDocumentsResponse(found=Document(name="d"))
    missing = BatchGetDocumentsResponse(missing="m")
    get = probe._counted_stream(lambda self, **kw: iter([found, missing]), "found_or_missing", 0)
    assert len(list(get(None))) == 2
    assert probe.COUNTS["firestore.reads"] == 2
    empty = probe._counted_stream(lambda self, **kw: iter([RunQueryResponse()]), "document", 1)
    list(empty(None))
    assert probe.COUNTS["firestore.reads"] == 3  # a query that finds nothing bills one read
    two = [RunQueryResponse(document=Document(name="a")), RunQueryResponse(document=Document())]
    list(probe._counted_stream(lambda self, **kw: iter(two), "document", 1)(None))
    assert probe.COUNTS["firestore.reads"] == 5


def test_a_get_of_a_missing_document_is_a_read_as_in_a_batch_get(probe) -> None:
    # The worker reads the delivery state with GetDocument on every run; for an integration
    # never paused the document does not exist, and Firestore bills the read all the same.
    def missing(self, **kwargs):
        raise NotFound("no document")

    def refused(self, **kwargs):
        raise PermissionDenied("no")

    get = probe._counted_single(missing, "firestore.reads", NotFound)
    with pytest.raises(NotFound):
        get(None, request={"name": "d"})
    assert probe.COUNTS["firestore.reads"] == 1
    with pytest.raises(PermissionDenied):
        probe._counted_single(refused, "firestore.reads", NotFound)(None)
    assert probe.COUNTS["firestore.reads"] == 1
    probe._counted_single(lambda self, **kw: Document(name="d"), "firestore.reads", NotFound)(None)
    assert probe.COUNTS["firestore.reads"] == 2


def test_a_publish_request_is_billed_at_least_1000_bytes(probe) -> None:
    request = PublishRequest(topic="t", messages=[
        PubsubMessage(data=b"x" * 100, attributes={"k": "v"}),
        PubsubMessage(data=b"y" * 50),
    ])
    publish = probe._counted_publish(
        lambda self, **kw: SimpleNamespace(message_ids=["123", "456"])
    )
    publish(None, request=request)
    size = (100 + 2 + 3 + 20) + (50 + 3 + 20)
    assert probe.COUNTS["pubsub.published_bytes"] == size
    assert probe.COUNTS["pubsub.billed_bytes"] == 1000
    assert probe.COUNTS["pubsub.published_messages"] == 2


def test_an_entry_point_counts_invocations_time_and_pushed_bytes(probe) -> None:
    import base64

    event = SimpleNamespace(data={"message": {
        "data": base64.b64encode(b"z" * 1500).decode(), "attributes": {}, "messageId": "12",
    }})
    entry = probe.counted_entry(lambda arg: "done", pushed=True, path="unused")
    assert entry(event) == "done"
    assert probe.COUNTS["invocations"] == 1
    assert probe.COUNTS["pubsub.pushed_billed_bytes"] == 1500 + 2 + 20
    assert probe.COUNTS["rounded_s"] == pytest.approx(0.1)
    assert probe.COUNTS["busy_s"] > 0
