"""Built-in transforms, registered by name; each compiles to `f(value, data) -> value`.

What each does with every kind of JSON value (docs/mapping.md repeats this table):

    transform   string                 null      number / bool / array / object
    uppercase   upper-cased            null      unchanged
    lowercase   lower-cased            null      unchanged
    substring   code points [start,    null      unchanged
                start+length)
    replace     every literal `find`   null      unchanged
                replaced
    default     unchanged              `value`   unchanged
    concat      the current value (when not null) then each field's value, nulls left
                out, as text joined by `separator`: strings as they are, numbers and
                booleans as JavaScript writes them, arrays and objects as compact JSON.
    custom      runs in the JavaScript sandbox (mapper.sandbox), never here.

The same rules are implemented in JavaScript (runtime.js) for chains that continue after
a custom transform; tests/unit/test_transform_parity.py holds the two to each other.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from decimal import Decimal
from typing import Any

from . import config as cfg
from .codegen import INLINE_STRING_METHODS
from .paths import compile_getter, parse_path

TransformFn = Callable[[Any, Any], Any]


def _upper(value: Any, data: Any) -> Any:
    return value.upper() if type(value) is str else value


def _lower(value: Any, data: Any) -> Any:
    return value.lower() if type(value) is str else value


INLINE_STRING_METHODS[_upper] = "upper"
INLINE_STRING_METHODS[_lower] = "lower"


def _uppercase(spec: cfg.Uppercase) -> TransformFn:
    return _upper


def _lowercase(spec: cfg.Lowercase) -> TransformFn:
    return _lower


def _substring(spec: cfg.Substring) -> TransformFn:
    start = spec.start
    stop = None if spec.length is None else start + spec.length
    return lambda value, data: value[start:stop] if type(value) is str else value


def _replace(spec: cfg.Replace) -> TransformFn:
    find, repl = spec.find, spec.replace
    return lambda value, data: value.replace(find, repl) if type(value) is str else value


def _default(spec: cfg.Default) -> TransformFn:
    fallback = spec.value
    if isinstance(fallback, (dict, list)):
        # A fresh copy per message: the output may be written into later.
        return lambda value, data: copy.deepcopy(fallback) if value is None else value
    return lambda value, data: fallback if value is None else value


def _concat(spec: cfg.Concat) -> TransformFn:
    getters = [compile_getter(parse_path(f)) for f in spec.fields]
    sep = spec.separator

    def concat(value: Any, data: Any) -> str:
        parts = [] if value is None else [to_text(value)]
        for get in getters:
            part = get(data)
            if part is not None:
                parts.append(to_text(part))
        return sep.join(parts)

    return concat


TRANSFORMS: dict[str, Callable[[Any], TransformFn]] = {
    "uppercase": _uppercase,
    "lowercase": _lowercase,
    "substring": _substring,
    "replace": _replace,
    "default": _default,
    "concat": _concat,
}


def compile_transform(spec: Any) -> TransformFn:
    """The Python function for a built-in transform spec (not `custom`)."""
    return TRANSFORMS[spec.type](spec)


# --- text, the way JavaScript writes it ---------------------------------------------------


def to_text(value: Any) -> str:
    """A JSON value as text, identical to JavaScript's String(v) / JSON.stringify(v)."""
    if type(value) is str:
        return value
    if value is True:
        return "true"
    if value is False:
        return "false"
    if type(value) in (int, float):
        return number_text(value)
    return json_text(value)


def number_text(x: int | float) -> str:
    """A number as JavaScript's Number.prototype.toString writes it."""
    if type(x) is int:
        if abs(x) < 2**53:
            return str(x)
        x = float(x)  # JavaScript has only doubles
    if x != x or x in (float("inf"), float("-inf")):
        return "null"  # never in JSON input; what JSON.stringify would write
    if x == 0:
        return "0"
    sign = "-" if x < 0 else ""
    _, digit_tuple, exp = Decimal(repr(abs(x))).normalize().as_tuple()
    digits = "".join(map(str, digit_tuple))
    k = len(digits)
    n = exp + k  # the decimal point sits after n digits
    if k <= n <= 21:
        body = digits + "0" * (n - k)
    elif 0 < n <= 21:
        body = digits[:n] + "." + digits[n:]
    elif -6 < n <= 0:
        body = "0." + "0" * (-n) + digits
    else:
        e = n - 1
        body = (
            digits[0]
            + ("." + digits[1:] if k > 1 else "")
            + ("e+" if e > 0 else "e-")
            + str(abs(e))
        )
    return sign + body


def json_text(value: Any) -> str:
    """Compact JSON with numbers written as JavaScript writes them."""
    if value is None:
        return "null"
    if type(value) is str:
        return json.dumps(value, ensure_ascii=False)
    if value is True or value is False or type(value) in (int, float):
        return to_text(value)
    if type(value) is list:
        return "[" + ",".join(json_text(v) for v in value) + "]"
    if type(value) is dict:
        return (
            "{"
            + ",".join(
                json.dumps(k, ensure_ascii=False) + ":" + json_text(v) for k, v in value.items()
            )
            + "}"
        )
    return json.dumps(value, ensure_ascii=False)
