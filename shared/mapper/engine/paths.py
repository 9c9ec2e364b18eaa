"""Paths into JSON: parse once, then get and set with no per-message parsing.

Grammar (docs/mapping.md has examples):
    path    := step ( "." key | "[" n "]" | "[*]" | "[" quoted "]" )*
    step    := key | "[" ... "]"
    key     := one or more characters other than . [ ]   (spaces allowed)
    n       := an integer; negative counts from the end (-1 is the last element)
    quoted  := a JSON string in double quotes, for keys holding . [ ] or " characters

Reading never raises: a missing key, an index out of range, or a step into the wrong
kind of value gives None. `[*]` maps over an array and gives an array (empty when the
value is missing or not an array); two `[*]` give an array of arrays, and so on.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from ..errors import PathError

MAX_TARGET_INDEX = 10_000  # a target `[n]` pads arrays with nulls; this bounds the padding


class _Wildcard:
    __slots__ = ()

    def __repr__(self) -> str:
        return "[*]"


WILDCARD: Any = _Wildcard()

Step = str | int  # a key, an index, or WILDCARD


def parse_path(text: str) -> tuple[Step, ...]:
    """Parse `a.b[0].c[*]` into its steps, or raise PathError saying where it breaks."""
    if not isinstance(text, str) or not text:
        raise PathError("must be a non-empty path")
    steps: list[Step] = []
    i, n = 0, len(text)
    while True:
        after_bracket = text[i] == "["
        if after_bracket:
            close = _closing_bracket(text, i)
            steps.append(_bracket_step(text[i + 1 : close], text))
            i = close + 1
        elif text[i] == "]":
            raise PathError(f"{text!r}: unmatched ']' at position {i}")
        else:
            j = i
            while j < n and text[j] not in ".[]":
                j += 1
            if j == i:
                raise PathError(f"{text!r}: empty key at position {i}")
            steps.append(text[i:j])
            i = j
        # What may follow a step: the end, another "[", or "." and the next step.
        if i == n:
            return tuple(steps)
        if text[i] == ".":
            i += 1
            if i == n:
                raise PathError(f"{text!r} ends with '.'")
        elif text[i] != "[":
            if after_bracket:
                raise PathError(f"{text!r}: expected '.' or '[' after ']' at position {i}")
            raise PathError(f"{text!r}: unmatched ']' at position {i}")


def _closing_bracket(text: str, start: int) -> int:
    if text.startswith('["', start):
        # A quoted key: find the closing quote, honouring backslash escapes.
        j = start + 2
        while j < len(text):
            if text[j] == "\\":
                j += 2
                continue
            if text[j] == '"':
                if j + 1 < len(text) and text[j + 1] == "]":
                    return j + 1
                raise PathError(f"{text!r}: expected ']' after the quoted key")
            j += 1
        raise PathError(f"{text!r}: unterminated quoted key")
    close = text.find("]", start)
    if close < 0:
        raise PathError(f"{text!r}: unmatched '[' at position {start}")
    return close


def _bracket_step(inner: str, text: str) -> Step:
    if inner == "*":
        return WILDCARD
    if inner.startswith('"'):
        try:
            key = json.loads(inner)
        except ValueError:
            raise PathError(f"{text!r}: bad quoted key {inner}") from None
        if not isinstance(key, str):
            raise PathError(f"{text!r}: bad quoted key {inner}")
        return key
    try:
        return int(inner, 10)
    except ValueError:
        raise PathError(
            f'{text!r}: [{inner}] must be an index like [0], [*] or a quoted key like ["a.b"]'
        ) from None


def format_steps(steps: tuple[Step, ...]) -> str:
    """The canonical text of parsed steps (quoting keys that need it)."""
    out = ""
    for step in steps:
        if step is WILDCARD:
            out += "[*]"
        elif isinstance(step, int):
            out += f"[{step}]"
        elif any(c in step for c in '.[]"') or step != step.strip():
            out += f"[{json.dumps(step, ensure_ascii=False)}]"
        else:
            out += f".{step}" if out else step
    return out


def wildcard_count(steps: tuple[Step, ...]) -> int:
    """How many `[*]` a path holds: the depth of the arrays it reads or writes."""
    return sum(1 for s in steps if s is WILDCARD)


# --- reading ----------------------------------------------------------------------------


Getter = Callable[[Any], Any]


def compile_getter(steps: tuple[Step, ...]) -> Getter:
    """A function reading `steps` from a document; missing gives None."""
    if WILDCARD in steps:
        cut = steps.index(WILDCARD)
        head = compile_getter(steps[:cut]) if cut else _identity
        tail = compile_getter(steps[cut + 1 :]) if cut + 1 < len(steps) else _identity

        def get_each(doc: Any) -> Any:
            items = head(doc)
            if type(items) is not list:
                return []
            return [tail(item) for item in items]

        return get_each

    if all(type(s) is str for s in steps):
        keys = steps
        if len(keys) == 1:
            (only,) = keys

            def get_key(doc: Any) -> Any:
                return doc.get(only) if type(doc) is dict else None

            return get_key

        def get_keys(doc: Any) -> Any:
            for key in keys:
                if type(doc) is not dict:
                    return None
                doc = doc.get(key)
            return doc

        return get_keys

    def get_mixed(doc: Any) -> Any:
        for step in steps:
            if type(step) is str:
                if type(doc) is not dict:
                    return None
                doc = doc.get(step)
            else:
                if type(doc) is not list or not -len(doc) <= step < len(doc):
                    return None
                doc = doc[step]
        return doc

    return get_mixed


def _identity(doc: Any) -> Any:
    return doc


def get_path(doc: Any, path: str) -> Any:
    """Read one path from a document (parses every time: not for hot paths)."""
    return compile_getter(parse_path(path))(doc)


# --- writing ----------------------------------------------------------------------------


Setter = Callable[[dict, Any], None]


def compile_setter(steps: tuple[Step, ...]) -> Setter:
    """A function writing a value at `steps` into an output object, creating what is missing.

    Each `[*]` in the target spreads one level of an array value over array elements:
    `lines[*].sku` given ["a", "b"] makes lines [{"sku": "a"}, {"sku": "b"}].
    """
    if not steps or type(steps[0]) is not str:
        raise PathError("a target path must start with a key")
    for step in steps:
        if type(step) is int and not 0 <= step <= MAX_TARGET_INDEX:
            raise PathError(f"a target index must be between 0 and {MAX_TARGET_INDEX}")

    def set_value(out: dict, value: Any) -> None:
        _write(out, steps, 0, value)

    return set_value


def _write(node: Any, steps: tuple[Step, ...], i: int, value: Any) -> None:
    step = steps[i]
    last = i == len(steps) - 1
    if step is WILDCARD:
        # node is the list to spread into; value must be a list to spread.
        items = value if type(value) is list else [value]
        while len(node) < len(items):
            node.append(None)
        for k, item in enumerate(items):
            if last:
                node[k] = item
            else:
                node[k] = _child(node[k], steps[i + 1])
                _write(node[k], steps, i + 1, item)
        return
    if last:
        if type(step) is int:
            while len(node) <= step:
                node.append(None)
        node[step] = value
        return
    if type(step) is int:
        while len(node) <= step:
            node.append(None)
        node[step] = _child(node[step], steps[i + 1])
    else:
        node[step] = _child(node.get(step), steps[i + 1])
    _write(node[step], steps, i + 1, value)


def _child(existing: Any, next_step: Step) -> Any:
    wants_list = next_step is WILDCARD or type(next_step) is int
    if wants_list:
        return existing if type(existing) is list else []
    return existing if type(existing) is dict else {}


def set_path(out: dict, path: str, value: Any) -> None:
    """Write one path into an output object (parses every time: not for hot paths)."""
    compile_setter(parse_path(path))(out, value)
