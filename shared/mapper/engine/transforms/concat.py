"""`concat`: the current value (unless null) and the values at several paths, as text."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import ConfigDict, Field, StrictStr

from ..model import Model
from ..paths import compile_getter, parse_path
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
        parts = [] if value is None else [to_text(value)]
        for get in getters:
            part = get(data)
            if part is not None:
                parts.append(to_text(part))
        return sep.join(parts)

    return concat


# The fields' values arrive resolved by Python (mapper.engine.plan), one list per step.
JAVASCRIPT = """(t) => (v, data, fieldValues) => {
  const parts = v === null || v === undefined ? [] : [text(v)];
  for (const f of fieldValues) if (f !== null && f !== undefined) parts.push(text(f));
  return parts.join(t.separator || "");
}"""

register(Concat, build, JAVASCRIPT, order=60)
