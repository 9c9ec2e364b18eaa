"""`trim`: whitespace taken off both ends of a string; any other value unchanged."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import ConfigDict, Field

from ..model import Model
from ._registry import TransformFn, register
from ._text import WHITESPACE


class Trim(Model):
    """A string without the whitespace at its ends."""

    model_config = ConfigDict(title="Trim whitespace")

    type: Literal["trim"] = Field(description="Take whitespace off both ends of a string.")


def trim(value: Any, data: Any) -> Any:
    """The string without leading and trailing whitespace (WHITESPACE, JavaScript's list)."""
    return value.strip(WHITESPACE) if type(value) is str else value


def build(spec: Trim, where: str) -> TransformFn:
    """The Python side."""
    return trim


JAVASCRIPT = '() => (v) => (typeof v === "string" ? trimWhitespace(v) : v)'

register(Trim, build, JAVASCRIPT, order=25)
