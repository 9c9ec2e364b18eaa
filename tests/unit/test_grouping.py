"""Grouper: who sends what, how many round trips at once, and who learns which answer.

Its two users are tested on the emulators: GroupCommit in tests/store/test_store.py,
Queue.publish in tests/store/test_queue.py.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from mapper.grouping import Failed, Grouper


class Recorder:
    """A `send` that takes `delay` seconds and remembers each call and how many overlapped."""

    def __init__(self, answer: Callable[[list[int]], list[Any]], delay: float = 0.02) -> None:
        self.calls: list[list[int]] = []
        self.most_at_once = 0
        self._answer = answer
        self._delay = delay
        self._now = 0
        self._lock = threading.Lock()

    def __call__(self, items: list[int]) -> list[Any]:
        with self._lock:
            self.calls.append(items)
            self._now += 1
            self.most_at_once = max(self.most_at_once, self._now)
        try:
            time.sleep(self._delay)
            return self._answer(items)
        finally:
            with self._lock:
                self._now -= 1


def call_all(grouper: Grouper[int, Any], items: list[int]) -> list[Any]:
    """Call with every item from its own thread, all at once; each caller's answer or error."""
    start = threading.Barrier(len(items))

    def one(item: int) -> Any:
        start.wait()
        try:
            return grouper.call(item)
        except Exception as exc:  # noqa: BLE001 - the answer under test
            return exc

    with ThreadPoolExecutor(len(items)) as pool:
        return list(pool.map(one, items))


def doubled(items: list[int]) -> list[int]:
    return [item * 2 for item in items]


def test_a_lone_call_is_sent_at_once_on_its_own() -> None:
    send = Recorder(doubled)
    assert Grouper(send, max_in_flight=1, max_items=10, max_bytes=100).call(21) == 42
    assert send.calls == [[21]]


@pytest.mark.parametrize("in_flight", [1, 3])
def test_calls_made_at_once_share_round_trips_never_more_than_allowed_at_once(
    in_flight: int,
) -> None:
    send = Recorder(doubled)
    grouper = Grouper(send, max_in_flight=in_flight, max_items=100, max_bytes=10**6)
    items = list(range(40))

    assert call_all(grouper, items) == [item * 2 for item in items]
    assert len(send.calls) < len(items) / 3
    assert send.most_at_once <= in_flight
    assert sorted(i for call in send.calls for i in call) == items


def test_an_item_failed_on_its_own_fails_only_its_caller() -> None:
    def refuse_odd(items: list[int]) -> list[Any]:
        return [Failed(ValueError(f"odd {i}")) if i % 2 else i for i in items]

    answers = call_all(Grouper(Recorder(refuse_odd), max_in_flight=1, max_items=100,
                               max_bytes=10**6), list(range(10)))
    for item, answer in zip(range(10), answers, strict=True):
        if item % 2:
            assert isinstance(answer, ValueError) and str(answer) == f"odd {item}"
        else:
            assert answer == item


def test_a_send_that_raises_fails_every_caller_in_it_and_the_next_call_goes_through() -> None:
    failing = True

    def down(items: list[int]) -> list[int]:
        if failing:
            raise ConnectionError("down")
        return items

    grouper = Grouper(Recorder(down), max_in_flight=1, max_items=100, max_bytes=10**6)
    assert all(isinstance(a, ConnectionError) for a in call_all(grouper, list(range(8))))
    failing = False
    assert grouper.call(5) == 5


def test_a_send_answering_the_wrong_number_of_items_is_an_error_not_a_mixup() -> None:
    grouper = Grouper(Recorder(lambda items: items[:1]), max_in_flight=1, max_items=100,
                      max_bytes=10**6)
    answers = call_all(grouper, list(range(6)))
    grouped = [a for a in answers if isinstance(a, RuntimeError)]
    assert grouped and all("answers for" in str(a) for a in grouped)
    assert all(isinstance(a, RuntimeError) or a in range(6) for a in answers)


def test_items_with_one_key_never_share_a_round_trip() -> None:
    send = Recorder(doubled)
    grouper = Grouper(send, max_in_flight=1, max_items=100, max_bytes=10**6,
                      key=lambda item: item % 3)
    items = list(range(12))
    assert call_all(grouper, items) == [i * 2 for i in items]
    assert all(len({i % 3 for i in call}) == len(call) for call in send.calls)


def test_a_round_trip_holds_at_most_its_items_and_bytes_but_one_big_item_still_goes() -> None:
    send = Recorder(doubled)
    grouper = Grouper(send, max_in_flight=1, max_items=4, max_bytes=100,
                      size=lambda item: 1_000 if item == 0 else 30)
    items = list(range(20))
    assert call_all(grouper, items) == [i * 2 for i in items]
    assert max(len(call) for call in send.calls) <= 3  # 3 x 30 bytes fit in 100
    assert [0] in send.calls  # over the byte budget on its own: sent alone


def test_limits_below_one_are_refused() -> None:
    with pytest.raises(ValueError):
        Grouper(doubled, max_in_flight=0, max_items=1, max_bytes=1)


def test_items_of_different_lanes_never_share_a_round_trip_and_keep_their_order() -> None:
    # Pub/Sub takes one ordering key per Publish request, and a key's messages go in the
    # order their callers queued them.
    send = Recorder(doubled, delay=0.05)
    grouper = Grouper(send, max_in_flight=1, max_items=100, max_bytes=10**6,
                      lane=lambda item: item % 3)
    threads = [threading.Thread(target=grouper.call, args=(99,))]
    threads[0].start()
    time.sleep(0.01)  # 99 is in flight: the rest queue behind it, one after another
    for item in range(12):
        threads.append(threading.Thread(target=grouper.call, args=(item,)))
        threads[-1].start()
        time.sleep(0.005)
    for thread in threads:
        thread.join()
    assert all(len({item % 3 for item in call}) == 1 for call in send.calls)
    assert any(len(call) > 1 for call in send.calls)  # a lane's queued items still share
    for lane in range(3):
        sent = [item for call in send.calls for item in call if item % 3 == lane and item != 99]
        assert sent == [item for item in range(12) if item % 3 == lane]
