"""`template`: text with `{{path}}` placeholders, filled from the value, then the message."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import AfterValidator, ConfigDict, Field, StrictStr
from pydantic_core import PydanticCustomError

from ...errors import PathError
from ..model import Model
from ..templates import Template as Parsed
from ._registry import TransformFn, register

MAX_TEMPLATE_CHARS = 10_000  # docs/limits.md


def _parses(text: str) -> str:
    try:
        Parsed(text)
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
    return {"type": "template", "parts": Parsed(spec.template).js_parts()}


def build(spec: Template, where: str) -> TransformFn:
    """The Python side."""
    render = Parsed(spec.template).render
    return lambda value, data: render(value, data)


JAVASCRIPT = """(t) => (v, data) => {
  let out = "";
  for (const part of t.parts) {
    if (typeof part === "string") { out += part; continue; }
    let x = getPath(part, v);
    if (x === null) x = getPath(part, data);
    out += x === null ? "" : text(x);
  }
  return out;
}"""

register(Template, build, JAVASCRIPT, order=140, js_spec=_js_spec)
