"""The per-instance integration cache: an expired entry is read again by one caller."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from mapper.errors import StoreError
from mapper.pipeline import Integrations
from tests.fakes import Clock, FakeIntegrations
from tests.pipeline.support import HOOK


class SlowIntegrations(FakeIntegrations):
    """Reads by path that wait for `release` once `hold` is set (a slow Firestore)."""

    def __init__(self, *docs: dict[str, Any]) -> None:
        super().__init__(*docs)
        self.hold = False
        self.reading = threading.Event()
        self.release = threading.Event()
        self.fail: Exception | None = None

    def find_by_field(self, field: str, value: Any) -> dict[str, Any] | None:
        if self.hold:
            self.reading.set()
            self.release.wait(5)
        if self.fail is not None:
            self.reads += 1
            raise self.fail
        return super().find_by_field(field, value)


def test_an_expired_entry_is_read_by_one_caller_while_the_others_keep_it() -> None:
    clock = Clock()
    source = SlowIntegrations(HOOK)
    cache = Integrations(source, ttl_s=5.0, clock=clock)
    assert cache.by_field("webhookPath", "p-secret") is not None
    assert source.reads == 1
    clock.advance(6)  # expired
    source.hold = True
    with ThreadPoolExecutor(8) as pool:
        refresher = pool.submit(cache.by_field, "webhookPath", "p-secret")
        assert source.reading.wait(5)
        others = [pool.submit(cache.by_field, "webhookPath", "p-secret") for _ in range(16)]
        found = [other.result(timeout=5) for other in others]  # not waiting for the read
        assert all(f is not None and f.id == HOOK["id"] for f in found)
        assert source.reads == 1  # only the refresher is reading
        source.release.set()
        assert refresher.result(timeout=5) is not None
    assert source.reads == 2
    assert cache.by_field("webhookPath", "p-secret") is not None and source.reads == 2


def test_a_read_that_fails_lets_the_next_caller_read_again() -> None:
    clock = Clock()
    source = SlowIntegrations(HOOK)
    cache = Integrations(source, ttl_s=5.0, clock=clock)
    cache.by_field("webhookPath", "p-secret")
    clock.advance(6)
    source.fail = StoreError("Firestore could not read")
    with pytest.raises(StoreError):
        cache.by_field("webhookPath", "p-secret")
    source.fail = None
    assert cache.by_field("webhookPath", "p-secret") is not None
    assert source.reads == 3  # the first, the failed one, and the next caller's
