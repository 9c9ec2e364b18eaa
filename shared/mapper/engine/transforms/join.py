"""`join`: an array's elements written as text and joined by `separator`."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import ConfigDict, Field, StrictStr

from ..model import Model
from ._registry import TransformFn, register
from ._text import to_text


class Join(Model):
    """An array's elements joined as text."""

    model_config = ConfigDict(title="Join a list into text")

    type: Literal["join"] = Field(description="Join the elements of an array as text.")
    separator: StrictStr = Field(
        default="",
        max_length=100,
        title="Separator",
        description="Put between two elements.",
        examples=[", ", " ", ";"],
    )


def build(spec: Join, where: str) -> TransformFn:
    """The Python side."""
    sep = spec.separator

    def join(value: Any, data: Any) -> Any:
        if type(value) is not list:
            return value
        return sep.join("" if v is None else to_text(v) for v in value)

    return join


JAVASCRIPT = """(t) => (v) => {
  if (!Array.isArray(v)) return v;
  return v.map((x) => (x === null || x === undefined ? "" : text(x))).join(t.separator || "");
}"""

register(Join, build, JAVASCRIPT, order=90)
