"""`concat`: the current value (unless null) and the values at several paths, as text."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import ConfigDict, Field, StrictStr

from ..model import Model
from ..paths import compile_getter, parse_path
from ._output import BUDGET, refuse, room
from ._registry import TransformFn, register
from ._text import to_text


class Concat(Model):
    """The values at several source paths joined as text."""

    model_config = ConfigDict(title="Join fields (concat)")

    type: Literal["concat"] = Field(description="Join the values at several paths.")
    fields: list[StrictStr] = Field(
        min_length=1,
        max_length=50,
        title="Fields (one path per line)",
        description="Source paths; their values, nulls left out, are joined as text.",
        json_schema_extra={"x-control": "paths"},
    )
    separator: StrictStr = Field(
        default="", title="Separator", description="Put between two values."
    )


def build(spec: Concat, where: str) -> TransformFn:
    """The Python side."""
    getters = [compile_getter(parse_path(f)) for f in spec.fields]
    sep = spec.separator

    def concat(value: Any, data: Any) -> str:
        # Measured as the parts are written (an object's JSON is a new text): refused
        # before the parts, or the result, pass the limit.
        limit = room()
        parts = [] if value is None else [to_text(value)]
        size = len(parts[0]) if parts else 0
        for get in getters:
            part = get(data)
            if part is not None:
                text = to_text(part)
                size += len(text) + (len(sep) if parts else 0)
                if size > limit:
                    refuse(where, "concat", size)
                parts.append(text)
        if size > limit:
            refuse(where, "concat", size)
        BUDGET.left -= size
        return sep.join(parts)

    return concat


# The fields' values arrive resolved by Python (mapper.engine.plan), one list per step.
JAVASCRIPT = """(t) => (v, data, fieldValues) => {
  const parts = v === null || v === undefined ? [] : [text(v)];
  const sep = t.separator || "";
  let size = parts.length ? parts[0].length : 0;
  for (const f of fieldValues) {
    if (f === null || f === undefined) continue;
    const s = text(f);
    size += s.length + (parts.length ? sep.length : 0);
    if (size > room()) charge("concat", size);
    parts.push(s);
  }
  charge("concat", size);
  return parts.join(sep);
}"""

register(Concat, build, JAVASCRIPT, order=60)
