"""`lowercase`: the letters of a string in lower case; any other value unchanged."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import ConfigDict, Field

from ..codegen import INLINE_STRING_METHODS
from ..model import Model
from ._registry import TransformFn, register


class Lowercase(Model):
    """The letters of a string in lower case."""

    model_config = ConfigDict(title="Lowercase")

    type: Literal["lowercase"] = Field(description="Lower-case the letters of a string.")


def lower(value: Any, data: Any) -> Any:
    """Lower-case a string."""
    return value.lower() if type(value) is str else value


INLINE_STRING_METHODS[lower] = "lower"  # codegen writes `v.lower()` in place of the call


def build(spec: Lowercase, where: str) -> TransformFn:
    """The Python side."""
    return lower


JAVASCRIPT = '() => (v) => (typeof v === "string" ? v.toLowerCase() : v)'

register(Lowercase, build, JAVASCRIPT, order=20)
