"""Concurrent document creates written in as few Firestore commits as possible.

Each commit is one round trip whatever it holds, and under load a webhook instance has many
requests creating runs at once. `GroupCommit.create` lets the first caller commit at once,
alone; callers that arrive while commits are in flight wait in a queue, and the next free
slot commits everything queued, up to `max_documents` documents or `max_bytes`, in one batch.
At low load nothing waits; at high load one round trip records many runs (the webhook's
accept rate, docs/performance.md).

A batch is atomic: one document that already exists fails the whole commit. Then each of its
documents is created again on its own, so every caller learns its own answer (created, or
already there) and no caller's document depends on another's. Any other failure of a batch
is every one of its callers' failure, as their own commit's would have been.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable
from typing import Any

from google.api_core import exceptions as gexc

MAX_IN_FLIGHT = 4  # commits at once per instance
MAX_DOCUMENTS = 100  # per commit (Firestore allows 500 writes)
MAX_BYTES = 4 * 1024 * 1024  # per commit, estimated (Firestore refuses requests over 10 MiB)


class _Create:
    """One caller's document, and what became of it."""

    __slots__ = ("ref", "path", "data", "size", "wake", "finished", "lead", "created", "error")

    def __init__(self, ref: Any, data: dict[str, Any]) -> None:
        self.ref = ref
        self.path: str = ref.path
        self.data = data
        self.size = approximate_size(data)
        self.wake = threading.Event()  # set when finished, or when handed a commit slot
        self.finished = False
        self.lead = False  # handed a commit slot: commit the queue's head, then wait on
        self.created = False
        self.error: BaseException | None = None


class GroupCommit:
    """Creates documents, merging concurrent creates into shared commits."""

    def __init__(
        self,
        new_batch: Callable[[], Any],
        *,
        max_in_flight: int = MAX_IN_FLIGHT,
        max_documents: int = MAX_DOCUMENTS,
        max_bytes: int = MAX_BYTES,
    ) -> None:
        self._new_batch = new_batch
        self._max_in_flight = max_in_flight
        self._max_documents = max_documents
        self._max_bytes = max_bytes
        self._lock = threading.Lock()
        self._queue: deque[_Create] = deque()
        self._in_flight = 0

    def create(self, ref: Any, data: dict[str, Any]) -> bool:
        """Create `data` at `ref`; False if the document exists. Other errors raise."""
        mine = _Create(ref, data)
        with self._lock:
            self._queue.append(mine)
            lead = self._in_flight < self._max_in_flight
            if lead:
                self._in_flight += 1
        while True:
            if lead:  # this thread holds a commit slot: commit the queue's head
                self._commit_next()
            with self._lock:
                if mine.finished and not mine.lead:
                    break
            mine.wake.wait()
            with self._lock:
                mine.wake.clear()
                lead, mine.lead = mine.lead, False
        if mine.error is not None:
            raise mine.error
        return mine.created

    def _commit_next(self) -> None:
        """Commit the head of the queue as one batch, then pass the slot on or free it."""
        with self._lock:
            batch = self._take()
        if batch:
            self._commit(batch)
        with self._lock:
            for item in batch:
                item.finished = True
                item.wake.set()
            # The first caller still waiting commits next: the slot is its now.
            successor = next((item for item in self._queue if not item.lead), None)
            if successor is not None:
                successor.lead = True
                successor.wake.set()
            else:
                self._in_flight -= 1

    def _take(self) -> list[_Create]:
        """The queue's oldest creates that fit one commit, never two of one document."""
        batch: list[_Create] = []
        paths: set[str] = set()
        size = 0
        for item in self._queue:
            if len(batch) == self._max_documents:
                break
            if item.path in paths:
                continue  # a second create of one document fails the whole commit: next one
            if batch and size + item.size > self._max_bytes:
                break
            batch.append(item)
            paths.add(item.path)
            size += item.size
        for item in batch:
            self._queue.remove(item)
        return batch

    def _commit(self, batch: list[_Create]) -> None:
        if len(batch) == 1:
            self._commit_alone(batch[0])
            return
        writes = self._new_batch()
        for item in batch:
            writes.create(item.ref, item.data)
        try:
            writes.commit()
        except gexc.AlreadyExists:
            for item in batch:  # which one existed? each caller gets its own answer
                self._commit_alone(item)
        except Exception as exc:  # noqa: BLE001 - each caller raises it as its own
            for item in batch:
                item.error = exc
        else:
            for item in batch:
                item.created = True

    def _commit_alone(self, item: _Create) -> None:
        try:
            item.ref.create(item.data)
        except gexc.AlreadyExists:
            item.created = False
        except Exception as exc:  # noqa: BLE001 - raised in the caller's thread
            item.error = exc
        else:
            item.created = True


def approximate_size(value: Any) -> int:
    """About how many bytes `value` takes in a request: strings and bytes count whole."""
    if isinstance(value, (str, bytes)):
        return len(value) + 8
    if isinstance(value, dict):
        return sum(len(str(k)) + approximate_size(v) for k, v in value.items()) + 8
    if isinstance(value, (list, tuple)):
        return sum(approximate_size(v) for v in value) + 8
    return 16
