"""`template`: text with `{{path}}` placeholders, filled from the value, then the message."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import AfterValidator, ConfigDict, Field, StrictStr
from pydantic_core import PydanticCustomError

from ...errors import PathError
from .. import templates  # as a module: it imports this package, which may come first
from ..model import Model
from ._output import BUDGET, refuse, room
from ._registry import TransformFn, register
from ._text import to_text

MAX_TEMPLATE_CHARS = 10_000  # docs/limits.md


def _parses(text: str) -> str:
    try:
        templates.Template(text)
    except PathError as exc:
        raise PydanticCustomError("template", "{reason}", {"reason": str(exc)}) from None
    return text


class Template(Model):
    """Text with placeholders, the same rules as the email target's."""

    model_config = ConfigDict(title="Template")

    type: Literal["template"] = Field(description="Fill {{path}} placeholders into text.")
    template: Annotated[StrictStr, AfterValidator(_parses)] = Field(
        max_length=MAX_TEMPLATE_CHARS,
        title="Template",
        description="Text with {{path}} placeholders, each read from the current value "
        "(when it is an object), else from the incoming payload; null renders as nothing. "
        "E.g. {{firstName}} {{lastName}} <{{customer.email}}>.",
    )


def _js_spec(spec: Template) -> dict[str, Any]:
    return {"type": "template", "parts": templates.Template(spec.template).js_parts()}


def build(spec: Template, where: str) -> TransformFn:
    """The Python side."""
    parts = templates.Template(spec.template).parts

    def template(value: Any, data: Any) -> str:
        # Template.render's filling, measured as the pieces are written: a placeholder may
        # repeat a large value many times, so it is refused before the result is built.
        limit = room()
        pieces: list[str] = []
        size = 0
        for part in parts:
            if type(part) is str:
                piece = part
            else:
                get = part[2]
                found = get(value)
                if found is None:
                    found = get(data)
                piece = "" if found is None else to_text(found)
            size += len(piece)
            if size > limit:
                refuse(where, "template", size)
            pieces.append(piece)
        BUDGET.left -= size
        return "".join(pieces)

    return template


JAVASCRIPT = """(t) => (v, data) => {
  const pieces = [];
  let size = 0;
  for (const part of t.parts) {
    let piece = part;
    if (typeof part !== "string") {
      let x = getPath(part, v);
      if (x === null) x = getPath(part, data);
      piece = x === null ? "" : text(x);
    }
    size += piece.length;
    if (size > room()) charge("template", size);
    pieces.push(piece);
  }
  charge("template", size);
  return pieces.join("");
}"""

register(Template, build, JAVASCRIPT, order=140, js_spec=_js_spec)
