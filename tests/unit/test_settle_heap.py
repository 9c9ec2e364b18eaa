"""settle_heap: what a warm instance holds is left out of later full collections."""

from __future__ import annotations

import gc
import weakref
from collections.abc import Iterator

import pytest

from mapper.services import settle_heap


@pytest.fixture()
def thawed() -> Iterator[None]:
    gc.unfreeze()
    yield
    gc.unfreeze()  # the rest of the test session collects as it did


def collected(thing: object) -> bool:
    """Whether the collector's generations (not the frozen set) hold `thing`."""
    return any(o is thing for o in gc.get_objects())


def test_what_is_alive_is_frozen_and_what_comes_after_is_not(thawed: None) -> None:
    kept = [["a client"]]  # lists are always tracked by the collector
    assert collected(kept)
    settle_heap()
    assert not collected(kept) and gc.get_freeze_count() > 0  # never walked again
    later = [["a request"]]
    assert collected(later)  # what requests allocate is collected as before


def test_garbage_left_at_start_up_is_collected_not_frozen(thawed: None) -> None:
    class Cycle:
        me: object

    cycle = Cycle()
    cycle.me = cycle
    gone = weakref.ref(cycle)
    del cycle
    settle_heap()
    assert gone() is None
