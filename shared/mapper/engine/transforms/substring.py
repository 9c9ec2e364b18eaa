"""`substring`: part of a string, counted in code points; any other value unchanged."""

from __future__ import annotations

from typing import Literal

from pydantic import ConfigDict, Field, StrictInt

from ..model import Model
from ._registry import TransformFn, register


class Substring(Model):
    """Part of a string."""

    model_config = ConfigDict(title="Substring")

    type: Literal["substring"] = Field(description="Take part of a string.")
    start: StrictInt = Field(
        ge=0, title="Start", description="The 0-based index of the first character."
    )
    length: StrictInt | None = Field(
        default=None,
        ge=0,
        title="Length (optional)",
        description="At most this many characters; left out, to the end.",
    )


def build(spec: Substring, where: str) -> TransformFn:
    """The Python side."""
    start = spec.start
    stop = None if spec.length is None else start + spec.length
    return lambda value, data: value[start:stop] if type(value) is str else value


JAVASCRIPT = """(t) => (v) => {
  if (typeof v !== "string") return v;
  const cps = Array.from(v);
  const end = t.length === null || t.length === undefined ? cps.length : t.start + t.length;
  return cps.slice(t.start, end).join("");
}"""

register(Substring, build, JAVASCRIPT, order=30)
