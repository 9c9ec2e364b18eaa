"""`default`: a value in place of null (a missing value is null); anything else unchanged."""

from __future__ import annotations

import copy
from typing import Any, Literal

from pydantic import ConfigDict, Field

from ..model import Model
from ._registry import TransformFn, register


class Default(Model):
    """A value for null or missing."""

    model_config = ConfigDict(title="Default when null")

    type: Literal["default"] = Field(description="Fill in a null or missing value.")
    value: Any = Field(
        default=None,
        title="Value when null",
        description="The value used when the current one is null.",
        examples=["unknown", 0, True, {"a": 1}],
    )


def build(spec: Default, where: str) -> TransformFn:
    """The Python side."""
    fallback = spec.value
    if isinstance(fallback, (dict, list)):
        # A fresh copy per message: the output may be written into later.
        return lambda value, data: copy.deepcopy(fallback) if value is None else value
    return lambda value, data: fallback if value is None else value


JAVASCRIPT = """(t) => (v) => (v === null || v === undefined
  ? JSON.parse(JSON.stringify(t.value === undefined ? null : t.value)) : v)"""

register(Default, build, JAVASCRIPT, order=50)
