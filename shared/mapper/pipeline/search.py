"""Search values: what a run keeps of its payload so that `GET /api/runs/?key=` finds it.

An integration names up to 5 `searchKeys` (source paths). At intake each is read from the
payload with the engine's path getter; a string, number or boolean becomes
`<path>=<value>` (the path in its canonical form) in the run's `searchValues`; a value
longer than MAX_VALUE_CHARS is kept as `<path>=#sha256:<hex digest of the value>`, so that
it still matches exactly, and only itself. Objects, arrays and nulls are not kept.
`?key=<path>:<value>` is turned into the same text, so the lookup is one exact
array_contains match: not full-text search, not a prefix match.
"""

from __future__ import annotations

import hashlib
import json
from functools import lru_cache
from typing import Any

from ..engine.paths import Getter, compile_getter, format_steps, parse_path
from ..errors import InvalidQueryError, PathError

MAX_VALUE_CHARS = 200  # longer values are kept (and matched) as their SHA-256 digest


def search_values(keys: tuple[str, ...] | list[str] | None, data: Any) -> list[str]:
    """The `path=value` texts of a payload for these search keys (empty without keys)."""
    if not keys:
        return []
    found = []
    for path, get in _getters(tuple(keys)):
        text = _text(get(data))
        if text is not None:
            found.append(f"{path}={_kept(text)}")
    return found


def parse_key_query(query: str) -> str:
    """`?key=<path>:<value>` as the text a run keeps, or InvalidQueryError saying why not."""
    cut = _separator(query)
    if cut < 0:
        raise InvalidQueryError("key must be <path>:<value>, e.g. data.object.id:evt_1")
    try:
        steps = parse_path(query[:cut])
    except PathError as exc:
        raise InvalidQueryError(f"key: {exc}") from None
    return f"{format_steps(steps)}={_kept(query[cut + 1 :])}"


def _kept(value: str) -> str:
    """A value as searchValues keeps it: itself, or past MAX_VALUE_CHARS its digest."""
    if len(value) <= MAX_VALUE_CHARS:
        return value
    digest = hashlib.sha256(value.encode("utf-8", errors="surrogatepass")).hexdigest()
    return f"#sha256:{digest}"


@lru_cache(maxsize=256)
def _getters(keys: tuple[str, ...]) -> tuple[tuple[str, Getter], ...]:
    out = []
    for key in keys:
        try:
            steps = parse_path(key)
        except PathError:
            continue  # validation refuses such a key; an old document's is left out
        out.append((format_steps(steps), compile_getter(steps)))
    return tuple(out)


def _text(value: Any) -> str | None:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        # 12.0 and 12 are the same JSON number: both are kept (and asked for) as "12".
        return str(int(value)) if value.is_integer() else json.dumps(value)
    if isinstance(value, str):
        return value
    return None


def _separator(query: str) -> int:
    """The first ':' outside a bracketed step (a quoted key may hold one)."""
    in_bracket = in_quote = False
    for i, ch in enumerate(query):
        if in_quote:
            in_quote = ch != '"' or query[i - 1] == "\\"
        elif ch == '"' and in_bracket:
            in_quote = True
        elif ch == "[":
            in_bracket = True
        elif ch == "]":
            in_bracket = False
        elif ch == ":" and not in_bracket:
            return i
    return -1
