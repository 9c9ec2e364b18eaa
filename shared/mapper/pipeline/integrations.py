"""Integration documents as typed objects, parsed once and cached per instance for a short time.

The cache is what lets the webhook answer at the speed of one publish: its lookup by path
costs nothing while cached. The price is staleness, bounded by `ttl_s`: pausing, changing
or deleting an integration takes effect on a warm instance within that many seconds
(docs/data-plane.md). A message accepted under a newer version than the cached one
refreshes it at once. When an entry expires, one caller reads it again while the others
go on with the expired entry until that read is back (so the bound is `ttl_s` plus one
read): under load, every request thread reading and parsing the same document at once,
every `ttl_s`, set the webhook's p99 (docs/performance.md).
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

from pydantic import ValidationError

from ..engine.config import Integration, SignatureConfig, WebhookSource, parse_integration
from ..errors import ConfigError
from .ports import IntegrationSource

DEFAULT_TTL_S = 5.0
MAX_ENTRIES = 1024  # per instance; the least recently used is dropped past it

_Entry = tuple[float, "Integration | _Invalid | None"]


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
        self._refreshing: set[tuple[str, str]] = set()  # expired keys one caller is reading
        self._lock = threading.Lock()

    def by_id(self, integration_id: str, min_version: int | None = None) -> Integration | None:
        """The integration, or None; `ConfigError` if the stored document is invalid."""
        key = ("id", integration_id)
        hit = self._cached(key)
        if hit is not None and _fresh_enough(hit[1], min_version):
            return _value(hit[1])
        return _value(self._load(key, lambda: self._source.get(integration_id)))

    def by_field(self, field: str, value: str) -> Integration | None:
        """The integration whose `field` (webhookPath, pushPath) is `value`, or None.

        A stored document that no longer validates (saved before a rule it breaks existed)
        still accepts messages: they become runs that the worker ends `error`, naming the
        problem, so that none is lost and each can be redriven once the document is fixed.
        """
        key = (field, value)
        hit = self._cached(key)
        entry = hit[1] if hit is not None else self._load(
            key, lambda: self._source.find_by_field(field, value)
        )
        if isinstance(entry, _Invalid):
            return entry.stand_in()
        return entry

    def forget(self) -> None:
        """Drop every cached entry (tests, and an operator's reload)."""
        with self._lock:
            self._entries.clear()

    def _cached(self, key: tuple[str, str]) -> _Entry | None:
        """The entry while fresh, or while another caller reads it again; None: read it."""
        with self._lock:
            hit = self._entries.get(key)
            if hit is None:
                return None
            if self._clock() - hit[0] >= self._ttl_s and key not in self._refreshing:
                self._refreshing.add(key)  # this caller reads it; the others keep this one
                return None
            self._entries.move_to_end(key)
            return hit

    def _load(
        self, key: tuple[str, str], read: Callable[[], dict[str, Any] | None]
    ) -> Integration | _Invalid | None:
        try:
            doc = read()
        except BaseException:
            with self._lock:
                self._refreshing.discard(key)  # the next caller reads it
            raise
        parsed: Integration | _Invalid | None = None
        if doc is not None:
            try:
                parsed = parse_integration(doc)
            except ConfigError as exc:
                parsed = _Invalid(doc, exc)
        with self._lock:
            self._refreshing.discard(key)
            self._entries[key] = (self._clock(), parsed)
            self._entries.move_to_end(key)
            while len(self._entries) > self._max:
                self._entries.popitem(last=False)
        return parsed


class _Invalid:
    """A stored document that does not validate, and why."""

    def __init__(self, doc: dict[str, Any], error: ConfigError) -> None:
        self.doc = doc
        self.error = error

    def stand_in(self) -> Integration:
        """What the intake needs of it: id, version, active, and its signature check.

        A signature that no longer parses cannot be checked: it is kept as one with no key,
        which fails closed (every request 401), rather than letting unsigned bodies in.
        """
        source = self.doc.get("source") if isinstance(self.doc.get("source"), dict) else {}
        raw = source.get("signature")
        signature = None
        if raw is not None:
            try:
                signature = SignatureConfig.model_validate(raw)
            except ValidationError:
                signature = SignatureConfig.model_construct(scheme="hmac-sha256", secret="")
        return Integration.model_construct(
            id=self.doc.get("id"),
            version=self.doc.get("version"),
            active=self.doc.get("active", True) is not False,
            source=WebhookSource.model_construct(type="webhook", signature=signature),
        )


def _fresh_enough(value: Integration | _Invalid | None, min_version: int | None) -> bool:
    if min_version is None or not isinstance(value, Integration):
        return min_version is None
    return (value.version or 0) >= min_version


def _value(entry: Integration | _Invalid | None) -> Integration | None:
    if isinstance(entry, _Invalid):
        raise ConfigError(entry.error.problems)
    return entry
