"""`join`: an array's elements written as text and joined by `separator`."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import ConfigDict, Field, StrictStr

from ..model import Model
from ._output import BUDGET, refuse, room
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
        # Measured as the elements are written, refused before the result passes the limit.
        limit = room()
        texts = []
        size = len(sep) * (len(value) - 1) if value else 0
        if size > limit:
            refuse(where, "join", size)
        for v in value:
            text = "" if v is None else to_text(v)
            size += len(text)
            if size > limit:
                refuse(where, "join", size)
            texts.append(text)
        BUDGET.left -= size
        return sep.join(texts)

    return join


JAVASCRIPT = """(t) => (v) => {
  if (!Array.isArray(v)) return v;
  const sep = t.separator || "";
  let size = v.length ? sep.length * (v.length - 1) : 0;
  if (size > room()) charge("join", size);
  const texts = [];
  for (const x of v) {
    const s = x === null || x === undefined ? "" : text(x);
    size += s.length;
    if (size > room()) charge("join", size);
    texts.push(s);
  }
  charge("join", size);
  return texts.join(sep);
}"""

register(Join, build, JAVASCRIPT, order=90)
