"""`custom`: JavaScript written by the user, run in the sandbox (mapper.engine.sandbox)."""

from __future__ import annotations

from typing import Literal

from pydantic import ConfigDict, Field, StrictStr

from ..model import Model
from ._registry import register

MAX_CODE_CHARS = 20_000  # docs/limits.md


class Custom(Model):
    """JavaScript, run in the sandbox."""

    model_config = ConfigDict(title="Custom JavaScript")

    type: Literal["custom"] = Field(description="Run JavaScript.")
    code: StrictStr = Field(
        min_length=1,
        max_length=MAX_CODE_CHARS,
        title="JavaScript",
        description="The body of a function of `value` and `data` that returns the new "
        "value, e.g. `return value * 2`.",
        examples=["return value"],
        json_schema_extra={"x-control": "code"},
    )


# No Python side: the step and every one after it run in the sandbox (mapper.engine.plan).
register(Custom, None, None, order=1000)
