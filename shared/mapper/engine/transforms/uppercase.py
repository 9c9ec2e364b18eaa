"""`uppercase`: the letters of a string in upper case; any other value unchanged."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import ConfigDict, Field

from ..codegen import INLINE_STRING_METHODS
from ..model import Model
from ._registry import TransformFn, register


class Uppercase(Model):
    """The letters of a string in upper case."""

    model_config = ConfigDict(title="Uppercase")

    type: Literal["uppercase"] = Field(description="Upper-case the letters of a string.")


def upper(value: Any, data: Any) -> Any:
    """Upper-case a string."""
    return value.upper() if type(value) is str else value


INLINE_STRING_METHODS[upper] = "upper"  # codegen writes `v.upper()` in place of the call


def build(spec: Uppercase, where: str) -> TransformFn:
    """The Python side."""
    return upper


JAVASCRIPT = '() => (v) => (typeof v === "string" ? v.toUpperCase() : v)'

register(Uppercase, build, JAVASCRIPT, order=10)
