"""A structural diff of two JSON documents, with paths in the engine's path syntax.

`diff(old, new)` lists what changed: `{"path", "op", "old", "new"}` with `op` one of
`add` (only in new; `old` is None), `remove` (only in old; `new` is None) and `change`
(both hold a value and they differ). Objects are compared key by key (old's keys in their
order, then new-only keys), arrays index by index (an array that grew has `add`s at its
tail, one that shrank `remove`s). A value whose kind changes (object to array, string to
number, 1 to true) is one `change` at its path. The whole document is the path `""`: a
diff of `None` against `{"a": 1}` is one change at `""`. Numbers compare by value (1 == 1.0).

`summarize(changes)` makes the one-line description used for versions ("mappings[2].transforms
changed; target.url changed"). Pure: used by versions, backtest and the audit log.
"""

from __future__ import annotations

from typing import Any

from .paths import Step, format_steps, parse_path

Change = dict[str, Any]

SUMMARY_KEYS = 2  # a summary names paths down to this many object keys (indices kept)
SUMMARY_ITEMS = 4  # at most this many paths in a summary; the rest are counted


def diff(old: Any, new: Any) -> list[Change]:
    """Every added, removed and changed path between two JSON values."""
    out: list[Change] = []
    _walk(old, new, (), out)
    return out


def _walk(old: Any, new: Any, steps: tuple[Step, ...], out: list[Change]) -> None:
    if type(old) is dict and type(new) is dict:
        for key, value in old.items():
            if key in new:
                _walk(value, new[key], (*steps, key), out)
            else:
                out.append(_change(steps + (key,), "remove", value, None))
        for key, value in new.items():
            if key not in old:
                out.append(_change(steps + (key,), "add", None, value))
        return
    if type(old) is list and type(new) is list:
        for i in range(max(len(old), len(new))):
            if i >= len(new):
                out.append(_change(steps + (i,), "remove", old[i], None))
            elif i >= len(old):
                out.append(_change(steps + (i,), "add", None, new[i]))
            else:
                _walk(old[i], new[i], (*steps, i), out)
        return
    if not _same_scalar(old, new):
        out.append(_change(steps, "change", old, new))


def _same_scalar(old: Any, new: Any) -> bool:
    # bool is a subclass of int in Python, but true and 1 are different JSON values.
    if isinstance(old, bool) or isinstance(new, bool):
        return type(old) is type(new) and old == new
    numbers = (int, float)
    if isinstance(old, numbers) and isinstance(new, numbers):
        return old == new
    if type(old) is not type(new):
        return False
    return old == new


def _change(steps: tuple[Step, ...], op: str, old: Any, new: Any) -> Change:
    return {"path": _format(steps), "op": op, "old": old, "new": new}


def _format(steps: tuple[Step, ...]) -> str:
    # format_steps leaves an empty key bare, which does not parse back: quote it.
    if "" not in steps:
        return format_steps(steps)
    return "".join(
        '[""]' if step == "" else format_steps((step,)) if i == 0 or not isinstance(step, str)
        else format_steps(("x", step))[1:]
        for i, step in enumerate(steps)
    )


def summarize(
    changes: list[Change], *, keys: int = SUMMARY_KEYS, items: int = SUMMARY_ITEMS
) -> str:
    """One line naming what changed, grouped to `keys` object keys deep; "" when nothing did."""
    groups: dict[str, set[str]] = {}
    for c in changes:
        steps = parse_path(c["path"]) if c["path"] else ()
        head = _head(steps, keys)
        # Something added inside an existing object changes that object: "added" only
        # when the grouped path itself is what appeared (or went).
        groups.setdefault(_format(head), set()).add(c["op"] if head == steps else "change")
    words = {"add": "added", "remove": "removed"}
    parts = []
    for path, ops in groups.items():
        word = words[next(iter(ops))] if len(ops) == 1 and "change" not in ops else "changed"
        parts.append(f"{path or 'document'} {word}")
    if len(parts) > items:
        parts = parts[:items] + [f"{len(parts) - items} more"]
    return "; ".join(parts)


def _head(steps: tuple[Step, ...], keys: int) -> tuple[Step, ...]:
    # Keep indices between kept keys (mappings[2].transforms), cut right after the last key.
    seen = 0
    for i, step in enumerate(steps):
        if isinstance(step, str):
            seen += 1
            if seen == keys:
                return steps[: i + 1]
    return steps
