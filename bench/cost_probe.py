"""The function under `functions-framework --source bench/cost_probe.py`, counting what it bills.

    COST_FUNCTION=worker COST_COUNTS_FILE=/tmp/worker.json \\
        functions-framework --source bench/cost_probe.py --target worker --signature-type cloudevent

Loads functions/<COST_FUNCTION>/main.py as deployed and serves its entry point, after
wrapping, at the client libraries' generated API classes (what every call of ours goes
through; the emulators still do all the work):
- Firestore: commits (a write per written document, a delete per deleted one; counted when
  the commit succeeds), document gets (one read each, found or missing), queries (one read
  per document returned, at least one per query), aggregations (one read);
- Pub/Sub: Publish requests (message bytes, and the request billed at least 1,000 bytes);
and, around the entry point: invocations, the time each took, the process's busy time (from
the first request in flight to the last one done, as Cloud Run bills an instance), the most
requests in flight at once, and for a pushed message its delivery bytes. The counts are
written to COST_COUNTS_FILE as JSON every half second by the process that serves requests
(gunicorn forks it after the import).
"""

from __future__ import annotations

import base64
import contextlib
import functools
import importlib.util
import json
import os
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import cost_model
from google.api_core.exceptions import NotFound
from google.cloud.firestore_v1.services.firestore.client import FirestoreClient
from google.pubsub_v1.services.publisher.client import PublisherClient

ROOT = Path(__file__).resolve().parents[1]
DUMP_EVERY_S = 0.5

COUNTS: Counter[str] = Counter()
_lock = threading.Lock()
_busy = {"in_flight": 0, "since": 0.0}
_dumper = {"pid": 0}


def add(**amounts: float) -> None:
    """Add to the counters (keys with dots are spelled with double underscores)."""
    with _lock:
        for key, amount in amounts.items():
            COUNTS[key.replace("__", ".")] += amount


# --- Firestore ---------------------------------------------------------------------------


def _pb(message: Any) -> Any:
    return type(message).pb(message) if hasattr(type(message), "pb") else message  # proto-plus


def _request(args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    return kwargs.get("request", args[0] if args else None)


def _field(request: Any, name: str) -> Any:
    return request.get(name) if isinstance(request, dict) else getattr(request, name)


def _operation(write: Any) -> str:
    if isinstance(write, dict):
        return "delete" if "delete" in write else "update"
    return _pb(write).WhichOneof("operation") or "update"


def _counted_commit(original: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(original)
    def commit(self: Any, *args: Any, **kwargs: Any) -> Any:
        reply = original(self, *args, **kwargs)
        writes = list(_field(_request(args, kwargs), "writes") or [])
        deletes = sum(1 for write in writes if _operation(write) == "delete")
        add(firestore__writes=len(writes) - deletes, firestore__deletes=deletes,
            firestore__commits=1)
        return reply

    return commit


def _counted_stream(original: Callable[..., Any], result: str, at_least: int) -> Callable[..., Any]:
    """A streaming read: one read per response holding `result`, at least `at_least` a call."""

    @functools.wraps(original)
    def stream(self: Any, *args: Any, **kwargs: Any) -> Iterator[Any]:
        def counted() -> Iterator[Any]:
            reads = 0
            try:
                for response in original(self, *args, **kwargs):
                    pb = _pb(response)
                    if result == "found_or_missing":
                        reads += pb.WhichOneof("result") is not None
                    else:
                        reads += pb.HasField(result)
                    yield response
            finally:
                add(firestore__reads=max(reads, at_least), firestore__queries=at_least)

        return counted()

    return stream


def _counted_single(
    original: Callable[..., Any], key: str, billed_when: type[BaseException] | None = None
) -> Callable[..., Any]:
    """A unary call: one `key` when it answers, and when it raises `billed_when` (a get of a
    missing document, NotFound, is a read Firestore bills like any other)."""

    @functools.wraps(original)
    def call(self: Any, *args: Any, **kwargs: Any) -> Any:
        try:
            reply = original(self, *args, **kwargs)
        except BaseException as exc:
            if billed_when is not None and isinstance(exc, billed_when):
                add(**{key: 1})
            raise
        add(**{key: 1})
        return reply

    return call


def _counted_aggregation(original: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(original)
    def aggregate(self: Any, *args: Any, **kwargs: Any) -> Iterator[Any]:
        add(firestore__reads=1)  # a count bills one read per 1,000 index entries it scans
        return original(self, *args, **kwargs)

    return aggregate


# --- Pub/Sub -----------------------------------------------------------------------------


def _counted_publish(original: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(original)
    def publish(self: Any, *args: Any, **kwargs: Any) -> Any:
        reply = original(self, *args, **kwargs)
        request = _request(args, kwargs)
        messages = list(kwargs.get("messages") or _field(request, "messages") or [])
        ids = list(reply.message_ids)
        size = 0
        for n, message in enumerate(messages):
            data = _field(message, "data") or b""
            attributes = dict(_field(message, "attributes") or {})
            size += cost_model.pubsub_message_bytes(
                len(data), attributes, ids[n] if n < len(ids) else "",
                _field(message, "ordering_key") or "",
            )
        add(pubsub__publish_requests=1, pubsub__published_messages=len(messages),
            pubsub__published_bytes=size,
            pubsub__billed_bytes=cost_model.pubsub_billed_bytes(size))
        return reply

    return publish


def install() -> None:
    """Wrap the generated API classes once (every client made later goes through them)."""
    if getattr(FirestoreClient, "_cost_counted", False):
        return
    FirestoreClient.commit = _counted_commit(FirestoreClient.commit)
    FirestoreClient.batch_get_documents = _counted_stream(
        FirestoreClient.batch_get_documents, "found_or_missing", 0
    )
    FirestoreClient.run_query = _counted_stream(FirestoreClient.run_query, "document", 1)
    FirestoreClient.run_aggregation_query = _counted_aggregation(
        FirestoreClient.run_aggregation_query
    )
    FirestoreClient.get_document = _counted_single(FirestoreClient.get_document,
                                                   "firestore__reads", NotFound)
    FirestoreClient.create_document = _counted_single(FirestoreClient.create_document,
                                                      "firestore__writes")
    FirestoreClient.update_document = _counted_single(FirestoreClient.update_document,
                                                      "firestore__writes")
    FirestoreClient.delete_document = _counted_single(FirestoreClient.delete_document,
                                                      "firestore__deletes")
    PublisherClient.publish = _counted_publish(PublisherClient.publish)
    FirestoreClient._cost_counted = True


# --- the entry point ---------------------------------------------------------------------


def _pushed_bytes(event: Any) -> int:
    """A pushed message's billed size, from the CloudEvent functions-framework built."""
    message = (getattr(event, "data", None) or {}).get("message") or {}
    data = base64.b64decode(message.get("data") or "")
    return cost_model.pubsub_message_bytes(
        len(data), message.get("attributes") or {}, message.get("messageId") or "",
        message.get("orderingKey") or "",
    )


def _enter() -> None:
    with _lock:
        if _busy["in_flight"] == 0:
            _busy["since"] = time.perf_counter()
        _busy["in_flight"] += 1
        # The most requests in flight at once: the concurrency the instance really served.
        COUNTS["peak_in_flight"] = max(COUNTS["peak_in_flight"], _busy["in_flight"])


def _leave(took: float) -> None:
    with _lock:
        _busy["in_flight"] -= 1
        COUNTS["invocations"] += 1
        COUNTS["duration_s"] += took
        COUNTS["rounded_s"] += cost_model.billed_instance_seconds(took)
        if _busy["in_flight"] == 0:
            COUNTS["busy_s"] += time.perf_counter() - _busy["since"]


def _start_dumper(path: str) -> None:
    with _lock:
        if _dumper["pid"] == os.getpid():
            return
        _dumper["pid"] = os.getpid()

    def dump() -> None:
        while True:
            with _lock:
                text = json.dumps(dict(COUNTS))
            with contextlib.suppress(OSError):  # the bench reads the last one written
                Path(path + ".tmp").write_text(text)
                os.replace(path + ".tmp", path)
            time.sleep(DUMP_EVERY_S)

    threading.Thread(target=dump, name="cost-counts", daemon=True).start()


def counted_entry(entry: Callable[[Any], Any], pushed: bool, path: str) -> Callable[[Any], Any]:
    """The entry point, counting each invocation, its time and what was pushed to it."""

    @functools.wraps(entry)
    def run(arg: Any) -> Any:
        _start_dumper(path)
        if pushed:
            size = _pushed_bytes(arg)
            billed = cost_model.pubsub_billed_bytes(size)
            add(pubsub__pushed_messages=1, pubsub__pushed_bytes=size,
                pubsub__pushed_billed_bytes=billed, pubsub__billed_bytes=billed)
        _enter()
        started = time.perf_counter()
        try:
            return entry(arg)
        finally:
            _leave(time.perf_counter() - started)

    return run


def _load(name: str) -> Any:
    spec = importlib.util.spec_from_file_location(
        f"cost_probe_{name}", ROOT / "functions" / name / "main.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


if _NAME := os.environ.get("COST_FUNCTION"):  # served; imported alone, it wraps nothing
    install()
    globals()[_NAME] = counted_entry(
        getattr(_load(_NAME), _NAME),
        pushed=os.environ.get("COST_PUSHED") == "1",
        path=os.environ["COST_COUNTS_FILE"],
    )
