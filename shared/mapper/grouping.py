"""Calls made at once by many threads, sent in as few round trips as possible.

Under load a function instance has many requests each writing a run and publishing a
message, and both the Firestore commit and the Pub/Sub Publish take many items in one round
trip for the price of about one (docs/performance.md). `Grouper.call` lets the first caller
send at once, alone; callers that arrive while `max_in_flight` round trips are under way
wait in a queue, and the next free slot sends everything queued, up to `max_items` items or
`max_bytes`, in one call of `send`. At low load nothing waits; at high load one round trip
serves many callers. No thread of its own: the callers' threads take turns sending (a
function's CPU is only there while it is answering requests).

`send(items)` answers, in order, each item's result or a `Failed` holding its own error; if
it raises, the error is every one of its items' error. Items with the same `key` never go
in one round trip (two creates of one document fail a whole Firestore commit). Items of
different `lane`s never go in one round trip either, and within a lane they go in the
order they were queued (Pub/Sub takes one ordering key per Publish request).
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

Item = TypeVar("Item")
Result = TypeVar("Result")


@dataclass(frozen=True)
class Failed:
    """One item's own failure in an answer of `send`; its caller raises `error`."""

    error: BaseException


class _Waiter(Generic[Item]):
    """One caller's item, and what became of it."""

    __slots__ = ("item", "key", "lane", "size", "wake", "finished", "lead", "result", "error")

    def __init__(self, item: Item, key: Hashable, size: int, lane: Hashable = None) -> None:
        self.item = item
        self.key = key
        self.lane = lane
        self.size = size
        self.wake = threading.Event()  # set when finished, or when handed a sending slot
        self.finished = False
        self.lead = False  # handed a slot: send the queue's head, then wait on
        self.result: Any = None
        self.error: BaseException | None = None


class Grouper(Generic[Item, Result]):
    """Sends concurrent callers' items together, `max_in_flight` round trips at a time."""

    def __init__(
        self,
        send: Callable[[list[Item]], Sequence[Result | Failed]],
        *,
        max_in_flight: int,
        max_items: int,
        max_bytes: int,
        size: Callable[[Item], int] = lambda item: 0,
        key: Callable[[Item], Hashable] | None = None,
        lane: Callable[[Item], Hashable] | None = None,
    ) -> None:
        if max_in_flight < 1 or max_items < 1:
            raise ValueError("max_in_flight and max_items must be at least 1")
        self._send = send
        self._max_in_flight = max_in_flight
        self._max_items = max_items
        self._max_bytes = max_bytes
        self._size = size
        self._key = key
        self._lane = lane
        self._lock = threading.Lock()
        self._queue: deque[_Waiter[Item]] = deque()
        self._in_flight = 0

    def call(self, item: Item) -> Result:
        """Send `item` with whatever else is waiting; its result, or its error raised."""
        mine = _Waiter(
            item,
            self._key(item) if self._key else object(),
            self._size(item),
            self._lane(item) if self._lane else None,
        )
        with self._lock:
            self._queue.append(mine)
            lead = self._in_flight < self._max_in_flight
            if lead:
                self._in_flight += 1
        while True:
            if lead:  # this thread holds a slot: send the queue's head
                self._send_next()
            with self._lock:
                if mine.finished and not mine.lead:
                    break
            mine.wake.wait()
            with self._lock:
                mine.wake.clear()
                lead, mine.lead = mine.lead, False
        if mine.error is not None:
            raise mine.error
        return mine.result  # type: ignore[no-any-return]

    def _send_next(self) -> None:
        """Send the head of the queue in one call, then pass the slot on or free it."""
        with self._lock:
            group = self._take()
        if group:
            self._answer(group)
        with self._lock:
            for waiter in group:
                waiter.finished = True
                waiter.wake.set()
            # The first caller still waiting sends next: the slot is its now.
            successor = next((w for w in self._queue if not w.lead), None)
            if successor is not None:
                successor.lead = True
                successor.wake.set()
            else:
                self._in_flight -= 1

    def _take(self) -> list[_Waiter[Item]]:
        """The queue's oldest items that fit one call: one lane, never two with one key."""
        group: list[_Waiter[Item]] = []
        keys: set[Hashable] = set()
        size = 0
        for waiter in self._queue:
            if len(group) == self._max_items:
                break
            if group and waiter.lane != group[0].lane:
                continue  # another lane waits for a call of its own
            if waiter.key in keys:
                continue  # the same key waits for the next call
            if group and size + waiter.size > self._max_bytes:
                break
            group.append(waiter)
            keys.add(waiter.key)
            size += waiter.size
        for waiter in group:
            self._queue.remove(waiter)
        return group

    def _answer(self, group: list[_Waiter[Item]]) -> None:
        try:
            answers = self._send([waiter.item for waiter in group])
        except BaseException as exc:  # noqa: BLE001 - each caller raises it as its own
            for waiter in group:
                waiter.error = exc
            return
        if len(answers) != len(group):
            error = RuntimeError(f"{len(answers)} answers for {len(group)} items")
            for waiter in group:
                waiter.error = error
            return
        for waiter, answer in zip(group, answers, strict=True):
            if isinstance(answer, Failed):
                waiter.error = answer.error
            else:
                waiter.result = answer
