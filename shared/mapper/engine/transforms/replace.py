"""`replace`: every occurrence of a literal text replaced; any other value unchanged."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import ConfigDict, Field, StrictStr

from ..model import Model
from ._output import charge
from ._registry import TransformFn, register


class Replace(Model):
    """Every occurrence of a literal text replaced."""

    model_config = ConfigDict(title="Replace text")

    type: Literal["replace"] = Field(description="Replace literal text.")
    find: StrictStr = Field(
        min_length=1, title="Find", description="The literal text to find (no pattern)."
    )
    replace: StrictStr = Field(
        default="", title="Replace with", description="What each occurrence becomes."
    )


def build(spec: Replace, where: str) -> TransformFn:
    """The Python side."""
    find, repl = spec.find, spec.replace
    growth = len(repl) - len(find)

    def replace(value: Any, data: Any) -> Any:
        if type(value) is not str:
            return value
        # The result's length from the count of occurrences, before it is built.
        charge(where, "replace", len(value) + value.count(find) * growth)
        return value.replace(find, repl)

    return replace


JAVASCRIPT = """(t) => (v) => {
  if (typeof v !== "string") return v;
  const pieces = v.split(t.find);
  charge("replace", v.length + (pieces.length - 1) * (t.replace.length - t.find.length));
  return pieces.join(t.replace);
}"""

register(Replace, build, JAVASCRIPT, order=40)
