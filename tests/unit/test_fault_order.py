"""The ordered fault case's check (faults/ordered.py): what counts as a key's order broken."""

from __future__ import annotations

from faults.experiments import _Event
from faults.ordered import order_breaks
from faults.sink import Received


class _Seen:
    """What a receiver got, in arrival order: (event, status)."""

    def __init__(self, *got: tuple[str, int]) -> None:
        self.got = [Received(event, None, status, float(i), True) for i, (event, status)
                    in enumerate(got)]

    def snapshot(self) -> list[Received]:
        return list(self.got)


def _key(*ids: str) -> list[_Event]:
    return [_Event(i, b"{}", None, run_ids=[f"r-{i}"]) for i in ids]


def test_a_key_retried_in_place_keeps_its_order() -> None:
    seen = _Seen(("a", 500), ("a", 500), ("a", 200), ("b", 200), ("x", 200), ("c", 200))
    assert order_breaks(seen, [_key("a", "b", "c"), _key("x")]) == (0, 0)


def test_a_later_event_tried_while_an_earlier_one_fails_is_counted() -> None:
    # b is sent (and fails) while a is still failing: the key was not held.
    seen = _Seen(("a", 500), ("b", 500), ("a", 200), ("b", 200))
    assert order_breaks(seen, [_key("a", "b")]) == (0, 1)


def test_a_later_event_delivered_first_is_out_of_order() -> None:
    seen = _Seen(("a", 500), ("b", 200), ("a", 200))
    assert order_breaks(seen, [_key("a", "b")]) == (1, 1)


def test_an_event_never_delivered_releases_its_key() -> None:
    # a ended dead_lettered: b after it is in order.
    seen = _Seen(("a", 500), ("a", 500), ("b", 200))
    assert order_breaks(seen, [_key("a", "b")]) == (0, 0)
