"""`source.dedupe`: an event whose values were seen within the window is not run again.

The values at the configured paths, with the integration's id, are hashed into a key; the
first event to claim the key (`DedupeKeys.claim`, a create-if-absent) holds it with its run
id for `windowSeconds` from its own arrival. A later event with the same values inside that
window is a duplicate of that run; the first one after it holds the key anew (the window is
counted from the first event, not slid by duplicates). An event missing any of the values
(absent or null) is never a duplicate. docs/mapping.md, "Dedupe by content".
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from ..engine.config import Integration
from ..engine.paths import get_path
from ..errors import MapperError
from .ports import DedupeKeys


def dedupe_key(integration_id: str, paths: list[str], data: Any) -> str | None:
    """The key of this event's values, or None when one of them is missing."""
    values = [get_path(data, path) for path in paths]
    if any(value is None for value in values):
        return None
    text = json.dumps([integration_id, values], sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


@dataclass(frozen=True)
class Held:
    """A claimed key, and the run that holds it (this event's, or the first one's)."""

    key: str
    first_run_id: str


class Deduper:
    """Claims each event's key before its run is recorded."""

    def __init__(self, keys: DedupeKeys | None, clock: Callable[[], float] = time.time) -> None:
        self._keys = keys
        self._clock = clock

    def claim(self, integration: Integration, data: Any, run_id: str) -> Held | None:
        """The key held for this event, or None when the integration or event has none."""
        config = getattr(integration.source, "dedupe", None)
        if config is None or self._keys is None:
            return None
        assert integration.id is not None
        key = dedupe_key(integration.id, config.paths, data)
        if key is None:
            return None
        first = self._keys.claim(key, run_id, integration.id, config.window_seconds, self._clock())
        return Held(key, first)

    @contextlib.contextmanager
    def released_on_failure(self, held: Held | None, run_id: str) -> Iterator[None]:
        """Give the key back when queuing the run fails: the sender's retry is no duplicate."""
        try:
            yield
        except MapperError:
            if held is not None and self._keys is not None:
                with contextlib.suppress(MapperError):
                    self._keys.release(held.key, run_id)
            raise
