"""The registry of transforms: each transform module registers its model and both sides."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, NoReturn, get_args

from ...errors import TransformError
from ..model import Model

TransformFn = Callable[[Any, Any], Any]  # f(value, data) -> the new value


@dataclass(frozen=True)
class Kind:
    """One transform: its name, document model, Python side and JavaScript side."""

    name: str
    model: type[Model]
    # compile(spec, where) -> f(value, data); None: it runs only in the sandbox (custom).
    compile: Callable[[Any, str], TransformFn] | None
    # A JavaScript expression `(t) => (value, data, inputs) => newValue` where `t` is the
    # step's spec (`js_spec`); runtime.js holds the helpers it may use. None: custom.
    javascript: str | None
    # The step's spec as the JavaScript side receives it (default: the document's JSON).
    js_spec: Callable[[Any], dict[str, Any]]
    order: int  # place in the schema's union and the UI's menu


REGISTRY: dict[str, Kind] = {}


def _document_json(spec: Any) -> dict[str, Any]:
    return spec.model_dump(by_alias=True)


def register(
    model: type[Model],
    compile: Callable[[Any, str], TransformFn] | None,
    javascript: str | None,
    *,
    order: int,
    js_spec: Callable[[Any], dict[str, Any]] | None = None,
) -> Kind:
    """Add a transform, named by its model's `type` literal; a second one by that name fails."""
    (name,) = get_args(model.model_fields["type"].annotation)
    if name in REGISTRY:
        raise ValueError(f"transform {name!r} is registered twice")
    kind = Kind(name, model, compile, javascript, js_spec or _document_json, order)
    REGISTRY[name] = kind
    return kind


def fail(where: str, message: str) -> NoReturn:
    """Fail this message: `where` (the transform) and why; runtime.js's `fail` says the same."""
    raise TransformError(where, message)
