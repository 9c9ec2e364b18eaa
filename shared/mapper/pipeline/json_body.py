"""Request bodies parsed as the JSON every later stage can carry, or a clear reason why not.

Refused at the edge, so that they end as a recorded `error` run with the raw body instead of
failing later in the worker: `NaN`, `Infinity` and numbers too large for a double (`1e999`),
which JSON does not allow and neither Firestore nor a target could take; nesting deeper than
Python's parser goes; text that is not UTF-8; and lone UTF-16 surrogates (`"\\ud800"`), which
no UTF-8 encoder can write.
"""

from __future__ import annotations

import json
import math
import re
from typing import Any

_SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89a-fA-F]")


class BodyError(ValueError):
    """The body is not JSON the platform accepts; the sentence says why."""


def parse_json_body(body: bytes) -> Any:
    """The body as JSON, or `BodyError`."""
    try:
        data = json.loads(body, parse_constant=_refuse_constant, parse_float=_finite_float)
    except RecursionError:
        raise BodyError("it is nested too deeply") from None
    except UnicodeDecodeError as exc:
        raise BodyError(f"it is not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    except BodyError:
        raise
    except ValueError as exc:
        raise BodyError(str(exc)) from None
    if _SURROGATE_ESCAPE.search(body):
        # Rare: only then is the whole value checked (a valid pair decodes to one character).
        try:
            json.dumps(data, ensure_ascii=False).encode("utf-8")
        except UnicodeEncodeError:
            raise BodyError("it holds a lone UTF-16 surrogate (\\ud800-\\udfff)") from None
        except RecursionError:
            raise BodyError("it is nested too deeply") from None
    return data


def _refuse_constant(name: str) -> Any:
    raise BodyError(f"{name} is not a JSON number")


def _finite_float(text: str) -> float:
    value = float(text)
    if math.isinf(value):
        raise BodyError(f"the number {text[:40]} is too large for a double")
    return value
