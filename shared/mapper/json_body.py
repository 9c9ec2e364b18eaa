"""Request bodies parsed as the JSON every later stage can carry, or a clear reason why not.

One strict parser for every body that comes in: webhooks, Pub/Sub push and pull data, the
push envelope, and the management API's bodies. Refused, so that a webhook body ends as a
recorded `error` run with the raw body instead of failing later (docs/security.md,
"Hostile input"):

- text that is not UTF-8: invalid bytes, surrogates encoded as UTF-8 (`ED A0 80`, CESU-8 or
  WTF-8), and UTF-16 or UTF-32 with or without a byte order mark (JSON is UTF-8, RFC 8259
  section 8.1; a UTF-8 byte order mark is skipped);
- lone UTF-16 surrogates written as escapes (`"\\ud800"`, in a string or a key), which no
  UTF-8 encoder can write and no later read could show;
- `NaN`, `Infinity`, `-Infinity` and numbers too large for a double (`1e999`), which JSON
  does not allow and neither Firestore nor a target could take;
- nesting deeper than `MAX_JSON_DEPTH` arrays and objects (docs/limits.md).
"""

from __future__ import annotations

import json
import math
import re
from itertools import accumulate
from typing import Any

MAX_JSON_DEPTH = 100  # arrays and objects inside one another; docs/limits.md

_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")
# A JSON string, so that brackets inside strings are not counted as nesting. An unclosed one
# runs to the end: every start matches, so the scan stays linear in the body's length.
_STRING = re.compile(r'"(?:[^"\\]++|\\.)*+(?:"|\\?\Z)', re.DOTALL)
_NOT_BRACKET = re.compile(r"[^\[\]{}]+")
_WIDE_ENCODINGS = {  # what json.detect_encoding names, as the sentence says it
    "utf-16": "UTF-16",
    "utf-16-be": "UTF-16",
    "utf-16-le": "UTF-16",
    "utf-32": "UTF-32",
    "utf-32-be": "UTF-32",
    "utf-32-le": "UTF-32",
}


class BodyError(ValueError):
    """The body is not JSON the platform accepts; the sentence says why."""


def parse_json_body(body: bytes) -> Any:
    """The body as JSON, or `BodyError` naming what is wrong."""
    text = decode_utf8(body)
    if json_depth(text) > MAX_JSON_DEPTH:
        raise BodyError(f"it is nested more than {MAX_JSON_DEPTH} levels deep")
    try:
        data = json.loads(text, parse_constant=_refuse_constant, parse_float=_finite_float)
    except RecursionError:  # not reached past the depth check; kept as a last guard
        raise BodyError("it is nested too deeply") from None
    except BodyError:
        raise
    except ValueError as exc:
        raise BodyError(str(exc)) from None
    if _SURROGATE_ESCAPE.search(text):
        # Rare: only then is the whole value checked (a valid pair decodes to one character).
        try:
            json.dumps(data, ensure_ascii=False).encode("utf-8")
        except UnicodeEncodeError:
            raise BodyError("it holds a lone UTF-16 surrogate (\\ud800-\\udfff)") from None
    return data


def decode_utf8(body: bytes) -> str:
    """`body` as text when it is strict UTF-8 (a leading byte order mark skipped), else `BodyError`.

    Python's own `json.loads(bytes)` would also take UTF-16 and UTF-32, and surrogates
    encoded as UTF-8 ("surrogatepass"): text that nothing after the intake can write.
    """
    wide = _WIDE_ENCODINGS.get(json.detect_encoding(body))
    if wide is not None:
        raise BodyError(f"it is {wide} text, not UTF-8")
    try:
        return body.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise BodyError(f"it is not UTF-8 text ({exc.reason} at byte {exc.start})") from None


def json_depth(text: str) -> int:
    """How deep arrays and objects nest in JSON `text` (strings skipped), without parsing it."""
    brackets = _NOT_BRACKET.sub("", _STRING.sub("", text))
    if len(brackets) <= MAX_JSON_DEPTH:
        return len(brackets)  # cannot be deeper than the number of brackets
    return max(accumulate(1 if bracket in "[{" else -1 for bracket in brackets))


def _refuse_constant(name: str) -> Any:
    raise BodyError(f"{name} is not a JSON number")


def _finite_float(text: str) -> float:
    value = float(text)
    if math.isinf(value):
        raise BodyError(f"the number {text[:40]} is too large for a double")
    return value
