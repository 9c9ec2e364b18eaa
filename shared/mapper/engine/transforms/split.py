"""`split`: a string cut at every `separator` into an array of strings."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import ConfigDict, Field, StrictStr

from ..model import Model
from ._registry import TransformFn, register


class Split(Model):
    """A string cut into an array of strings."""

    model_config = ConfigDict(title="Split text into a list")

    type: Literal["split"] = Field(description="Cut a string at every separator.")
    separator: StrictStr = Field(
        max_length=100,
        title="Separator",
        description='The literal text to cut at; "" cuts between every character.',
        examples=[",", " ", ";"],
    )


def build(spec: Split, where: str) -> TransformFn:
    """The Python side."""
    sep = spec.separator

    def split(value: Any, data: Any) -> Any:
        if type(value) is not str:
            return value
        return value.split(sep) if sep else list(value)

    return split


JAVASCRIPT = """(t) => (v) => {
  if (typeof v !== "string") return v;
  return t.separator ? v.split(t.separator) : Array.from(v);
}"""

register(Split, build, JAVASCRIPT, order=80)
