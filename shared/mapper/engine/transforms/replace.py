"""`replace`: every occurrence of a literal text replaced; any other value unchanged."""

from __future__ import annotations

from typing import Literal

from pydantic import ConfigDict, Field, StrictStr

from ..model import Model
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
    return lambda value, data: value.replace(find, repl) if type(value) is str else value


JAVASCRIPT = '(t) => (v) => (typeof v === "string" ? v.split(t.find).join(t.replace) : v)'

register(Replace, build, JAVASCRIPT, order=40)
