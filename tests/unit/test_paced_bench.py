"""The arithmetic of bench/paced.py on arrival times small enough to check by hand."""

from __future__ import annotations

import pytest

from bench.paced import TOLERANCE, measure


def test_an_even_pace_is_the_limit_and_never_more_in_any_second() -> None:
    arrivals = [100 + i / 20 for i in range(20 * 12)]  # 20 a second for 12 s
    result = measure(arrivals, 20, 10)
    assert (result.sent, result.achieved, result.ratio) == (200, 20.0, 1.0)
    assert result.per_second == [20] * 10
    assert result.max_any_second == 20
    assert result.spread == {"min": 20, "median": 20, "max": 20, "stdev": 0.0}


def test_a_burst_shows_in_the_sliding_second_not_in_the_calendar_seconds() -> None:
    # 10 in each calendar second, but the last 9 of second 0 and the first 10 of second 1
    # fall within one sliding second: 19 in it.
    arrivals = [0.0] + [0.5 + i / 100 for i in range(9)] + [1.0 + i / 100 for i in range(10)]
    arrivals += [2 + i / 10 for i in range(10)]
    result = measure(arrivals, 10, 3)
    assert result.per_second == [10, 10, 10]
    assert result.max_any_second == 19


def test_a_slow_pace_is_a_ratio_below_the_limit() -> None:
    result = measure([i / 18 for i in range(18 * 10)], 20, 10)
    assert result.ratio == pytest.approx(0.9)
    assert abs(result.ratio - 1) > TOLERANCE


def test_nothing_received_is_an_error() -> None:
    with pytest.raises(ValueError, match="nothing"):
        measure([], 20, 10)
