"""An instance's clients are built once, even when its first requests arrive together."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

from mapper import services
from mapper.services import once

# The builders functions reach for on every request (the rest are built the same way).
PER_REQUEST = ("services", "intake", "worker", "deliverer", "reconciler", "admin", "access")


def test_the_first_requests_of_a_busy_instance_share_one_build() -> None:
    builds: list[int] = []
    started = threading.Barrier(16)

    @once
    def clients() -> object:
        builds.append(1)
        time.sleep(0.05)  # a client's construction: long enough for every thread to arrive
        return object()

    def first_request() -> object:
        started.wait()
        return clients()

    with ThreadPoolExecutor(16) as pool:
        got = list(pool.map(lambda _: first_request(), range(16)))
    assert len(builds) == 1
    assert all(item is got[0] for item in got)


def test_cache_clear_builds_again() -> None:
    made: list[object] = []

    @once
    def clients() -> object:
        made.append(object())
        return made[-1]

    first = clients()
    clients.cache_clear()  # type: ignore[attr-defined]
    assert clients() is not first
    assert len(made) == 2


def test_the_services_builders_are_built_once() -> None:
    for name in PER_REQUEST:
        builder = getattr(services, name)
        assert builder.__wrapped__ is not None, name
        assert builder.__qualname__ == name
        assert builder.cache_clear.__qualname__ == "once.<locals>.cache_clear", name
