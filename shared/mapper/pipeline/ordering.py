"""The ordering key of an event: which events of an integration are delivered in order.

An integration with `orderingKey` (a source path) queues each event under the Pub/Sub
ordering key `<integration id>:<value at that path>`; the worker's subscription delivers the
messages of one key one at a time, in the order they were published (docs/delivery.md,
"Ordering"). A key longer than MAX_KEY_BYTES is kept as `<integration id>:#sha256:<hex
digest of the value>`: Pub/Sub takes keys up to 1 KB, and a digest still names one value
only. A missing or null value gives no key: the event is delivered unordered.
"""

from __future__ import annotations

import hashlib
import json
from functools import lru_cache
from typing import Any

from ..engine.config import Integration
from ..engine.paths import Getter, compile_getter, parse_path

MAX_KEY_BYTES = 256  # longer keys are hashed (Pub/Sub allows 1,024 bytes)


def ordering_key(integration: Integration, data: Any) -> str | None:
    """The ordering key of `data` for `integration`, or None when it is not ordered."""
    if integration.ordering_key is None or integration.id is None:
        return None
    value = _getter(integration.ordering_key)(data)
    if value is None:
        return None
    key = f"{integration.id}:{_text(value)}"
    if len(key.encode("utf-8", errors="surrogatepass")) <= MAX_KEY_BYTES:
        return key
    digest = hashlib.sha256(_text(value).encode("utf-8", errors="surrogatepass")).hexdigest()
    return f"{integration.id}:#sha256:{digest}"


@lru_cache(maxsize=256)
def _getter(path: str) -> Getter:
    return compile_getter(parse_path(path))  # validation refused a path that does not parse


def _text(value: Any) -> str:
    """A value as its key reads it: a string itself, anything else its canonical JSON."""
    if isinstance(value, str):
        return value
    if isinstance(value, float) and value.is_integer():
        return str(int(value))  # 12.0 and 12 are the same JSON number: one key
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
