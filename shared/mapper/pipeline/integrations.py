"""Integration documents as typed objects, parsed once and cached per instance for a short time.

The cache is what lets the webhook answer at the speed of one publish: its lookup by path
costs nothing while cached. The price is staleness, bounded by `ttl_s`: pausing, changing
or deleting an integration takes effect on a warm instance within that many seconds
(docs/data-plane.md). A message accepted under a newer version than the cached one
refreshes it at once.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

from ..engine.config import Integration, parse_integration
from ..errors import ConfigError
from .ports import IntegrationSource

DEFAULT_TTL_S = 5.0
MAX_ENTRIES = 1024  # per instance; the least recently used is dropped past it

_Entry = tuple[float, "Integration | ConfigError | None"]


class Integrations:
    """Typed integrations by id or by a public path field, from a short per-instance cache."""

    def __init__(
        self,
        source: IntegrationSource,
        ttl_s: float = DEFAULT_TTL_S,
        *,
        clock: Callable[[], float] = time.monotonic,
        max_entries: int = MAX_ENTRIES,
    ) -> None:
        self._source = source
        self._ttl_s = ttl_s
        self._clock = clock
        self._max = max_entries
        self._entries: OrderedDict[tuple[str, str], _Entry] = OrderedDict()
        self._lock = threading.Lock()

    def by_id(self, integration_id: str, min_version: int | None = None) -> Integration | None:
        """The integration, or None; `ConfigError` if the stored document is invalid."""
        key = ("id", integration_id)
        hit = self._cached(key)
        if hit is not None and _fresh_enough(hit[1], min_version):
            return _value(hit[1])
        return _value(self._load(key, lambda: self._source.get(integration_id)))

    def by_field(self, field: str, value: str) -> Integration | None:
        """The integration whose `field` (webhookPath, pushPath) is `value`, or None."""
        key = (field, value)
        hit = self._cached(key)
        if hit is not None:
            return _value(hit[1])
        return _value(self._load(key, lambda: self._source.find_by_field(field, value)))

    def forget(self) -> None:
        """Drop every cached entry (tests, and an operator's reload)."""
        with self._lock:
            self._entries.clear()

    def _cached(self, key: tuple[str, str]) -> _Entry | None:
        with self._lock:
            hit = self._entries.get(key)
            if hit is None or self._clock() - hit[0] >= self._ttl_s:
                return None
            self._entries.move_to_end(key)
            return hit

    def _load(
        self, key: tuple[str, str], read: Callable[[], dict[str, Any] | None]
    ) -> Integration | ConfigError | None:
        doc = read()
        parsed: Integration | ConfigError | None = None
        if doc is not None:
            try:
                parsed = parse_integration(doc)
            except ConfigError as exc:
                parsed = exc
        with self._lock:
            self._entries[key] = (self._clock(), parsed)
            self._entries.move_to_end(key)
            while len(self._entries) > self._max:
                self._entries.popitem(last=False)
        return parsed


def _fresh_enough(value: Integration | ConfigError | None, min_version: int | None) -> bool:
    if min_version is None or not isinstance(value, Integration):
        return min_version is None
    return (value.version or 0) >= min_version


def _value(entry: Integration | ConfigError | None) -> Integration | None:
    if isinstance(entry, ConfigError):
        raise entry
    return entry
