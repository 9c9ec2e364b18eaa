"""`jsonata`: a JSONata 2.x expression of the value, run in the sandbox (mapper.engine.sandbox)."""

from __future__ import annotations

from typing import Literal

from pydantic import ConfigDict, Field, StrictStr

from ..model import Model
from ._registry import register
from .custom import MAX_CODE_CHARS


class Jsonata(Model):
    """A JSONata expression, run in the sandbox."""

    model_config = ConfigDict(title="JSONata")

    type: Literal["jsonata"] = Field(description="Evaluate a JSONata expression.")
    expression: StrictStr = Field(
        min_length=1,
        max_length=MAX_CODE_CHARS,
        title="JSONata expression",
        description="A JSONata 2.x expression: `$` is the value, `$data` the whole payload, "
        'e.g. `$uppercase($) & "-" & $data.id`.',
        examples=["$"],
        json_schema_extra={"x-control": "code"},
    )


# No Python side: like `custom`, the step and every one after it run in the sandbox.
register(Jsonata, None, None, order=1001)
