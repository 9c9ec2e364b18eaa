"""Values as text, written exactly as JavaScript writes them (both sides of every transform).

The JavaScript side of these helpers is in runtime.js (`text`, `show`, `WHITESPACE`).
"""

from __future__ import annotations

import json
import re
from decimal import Decimal
from typing import Any

# What `trim` removes and `number` ignores around a number: JavaScript's WhiteSpace and
# LineTerminator code points, written out so that both sides use the same list.
WHITESPACE = (
    "\t\n\v\f\r \u00a0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007"
    "\u2008\u2009\u200a\u2028\u2029\u202f\u205f\u3000\ufeff"
)
SHOWN_CHARS = 40  # of a string quoted in an error message
# Decimal digits, a point, an exponent: what JSON and JavaScript's Number() both read.
NUMBER_TEXT = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")


def show(value: Any) -> str:
    """A value as an error message names it: a string quoted (shortened), else its kind."""
    if type(value) is str:
        cut = value[:SHOWN_CHARS]
        return json.dumps(cut, ensure_ascii=False) + ("..." if len(value) > SHOWN_CHARS else "")
    if value is None:
        return "null"
    if value is True or value is False:
        return "a boolean"
    if type(value) in (int, float):
        return "the number " + number_text(value)
    if type(value) is list:
        return "an array"
    return "an object"


def utf8(text: str) -> bytes:
    """UTF-8 bytes of text; a lone surrogate (JSON allows "\\ud800") becomes U+FFFD."""
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError:
        return re.sub("[\ud800-\udfff]", "\ufffd", text).encode("utf-8")


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
