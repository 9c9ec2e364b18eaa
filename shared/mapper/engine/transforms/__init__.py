"""Built-in transforms: one module per transform, each registered by name.

A module here whose name does not start with `_` is a transform. It holds, in one place:

- its model (a `Model` with a `type` literal, described for the JSON Schema, which feeds
  validation, the OpenAPI document and the UI's transform menu);
- its Python side, `compile(spec, where) -> f(value, data)`;
- its JavaScript side, run for steps after a `custom` transform (runtime.js holds the
  helpers it may use); tests/unit/test_transform_parity.py holds the two to each other;
- one `register(...)` call.

The package imports every such module, so adding a transform is adding its file (and its
section of docs/mapping.md, and its test): nothing else names it. docs/mapping.md says more.
"""

from __future__ import annotations

import importlib
import json
import pkgutil
from typing import Any

from ._registry import REGISTRY, Kind, TransformFn, register
from ._text import json_text, number_text, show, to_text

__all__ = [
    "REGISTRY",
    "Kind",
    "TransformFn",
    "compile_transform",
    "javascript_builtins",
    "js_step",
    "json_text",
    "kinds",
    "number_text",
    "register",
    "show",
    "to_text",
]

for _module in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
    if not _module.name.startswith("_"):
        importlib.import_module(f"{__name__}.{_module.name}")


def kinds() -> list[Kind]:
    """Every registered transform, in menu order."""
    return sorted(REGISTRY.values(), key=lambda kind: (kind.order, kind.name))


def compile_transform(spec: Any, where: str = "") -> TransformFn:
    """The Python function for a built-in transform spec (not `custom`).

    `where` (`mappings[i].transforms[k]`) starts the message of the errors it raises.
    """
    kind = REGISTRY[spec.type]
    if kind.compile is None:
        raise ValueError(f"transform {spec.type!r} runs only in the sandbox")
    return kind.compile(spec, where)


def js_step(spec: Any) -> dict[str, Any]:
    """A step's spec as the JavaScript side receives it."""
    return REGISTRY[spec.type].js_spec(spec)


def javascript_builtins() -> str:
    """The JavaScript object literal of every transform's JavaScript side, for runtime.js."""
    entries = [
        f"{json.dumps(kind.name)}: ({kind.javascript})"
        for kind in kinds()
        if kind.javascript is not None
    ]
    return "{\n" + ",\n".join(entries) + "\n}"
