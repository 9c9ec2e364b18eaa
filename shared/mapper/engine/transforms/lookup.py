"""`lookup`: a value replaced by the table's entry for it (its text), else `default`."""

from __future__ import annotations

import copy
from typing import Any, Literal

from pydantic import ConfigDict, Field, StrictStr

from ..model import Model
from ._registry import TransformFn, register
from ._text import to_text

MAX_LOOKUP_ENTRIES = 10_000  # docs/limits.md


class Lookup(Model):
    """A value replaced by its entry in a table."""

    model_config = ConfigDict(title="Look up in a table")

    type: Literal["lookup"] = Field(description="Replace a value by its entry in a table.")
    table: dict[StrictStr, Any] = Field(
        max_length=MAX_LOOKUP_ENTRIES,
        title="Table (JSON object)",
        description="Each key is a value's text (a string, or a number or boolean as "
        'JavaScript writes it: "1", "2.5", "true"); its value replaces it, e.g. '
        '{"gb": "United Kingdom", "fr": "France"}.',
        json_schema_extra={"x-control": "json"},
    )
    # No default in the schema: left out is not the same as null.
    default: Any = Field(
        default=None,
        title="Default (optional)",
        description="The value of anything not in the table (null, arrays and objects "
        "included); left out, such a value passes unchanged.",
        json_schema_extra=lambda schema: schema.pop("default", None),
    )


def _js_spec(spec: Lookup) -> dict[str, Any]:
    out = spec.model_dump(by_alias=True)
    out["hasDefault"] = "default" in spec.model_fields_set
    return out


def build(spec: Lookup, where: str) -> TransformFn:
    """The Python side."""
    table = spec.table
    has_default = "default" in spec.model_fields_set
    fallback = spec.default

    def lookup(value: Any, data: Any) -> Any:
        if value is None or type(value) in (list, dict):
            found = False
        else:
            key = to_text(value)
            found = key in table
        if found:
            result = table[key]
        elif has_default:
            result = fallback
        else:
            return value
        # A fresh copy per message: the output may be written into later.
        return copy.deepcopy(result) if type(result) in (list, dict) else result

    return lookup


JAVASCRIPT = """(t) => {
  const table = new Map(Object.entries(t.table));
  return (v) => {
    let result;
    if (v !== null && v !== undefined && typeof v !== "object" && table.has(text(v))) {
      result = table.get(text(v));
    } else if (t.hasDefault) {
      result = t.default;
    } else {
      return v;
    }
    const fresh = result !== null && typeof result === "object";
    return fresh ? JSON.parse(JSON.stringify(result)) : result;
  };
}"""

register(Lookup, build, JAVASCRIPT, order=110, js_spec=_js_spec)
