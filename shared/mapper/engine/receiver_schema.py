"""The receiver's JSON Schema (`target.schema`): checked on save, applied to every output.

`schema_problems(schema)` says why a schema may not be saved: larger than
`MAX_SCHEMA_BYTES`, not a valid JSON Schema 2020-12, or a `$ref` that is not inside the
schema itself. `violations(schema, output)` lists where an output breaks it, each with its
path into the output (`amount`, `items[2].sku`). `check_output(target, output)` raises
`SchemaViolationError` with them: the worker calls it before each send, and nothing is
sent when it raises. Nothing here fetches anything: a reference outside the document is
refused on save, and the validators are built with a registry that cannot retrieve.
docs/targets.md ("The receiver's schema") is the user's account.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from functools import cache, lru_cache
from typing import TYPE_CHECKING, Any

from ..errors import SchemaViolationError
from .paths import format_steps

if TYPE_CHECKING:
    from jsonschema import Draft202012Validator
    from referencing import Registry

# jsonschema and referencing are imported where a schema is checked, not here: most
# integrations have no receiver schema, and importing them is about a third of the
# command line's start (`python -m mapper preview`, docs/performance.md).

MAX_SCHEMA_BYTES = 32_000  # the schema as compact JSON
MAX_VIOLATIONS = 20  # listed per output; the rest are counted
MAX_MESSAGE_CHARS = 200  # of one violation's sentence (jsonschema quotes the value)
_CACHED_VALIDATORS = 128  # compiled schemas kept per process

DIALECT = "https://json-schema.org/draft/2020-12/schema"
_REF_KEYWORDS = ("$ref", "$dynamicRef")


def _refuse(uri: str) -> Any:
    from referencing.exceptions import NoSuchResource

    raise NoSuchResource(ref=uri)


@cache
def _nothing_else() -> Registry[Any]:
    """Only the schema itself: no meta-schema lookups by URL, and no retrieval, ever."""
    from referencing import Registry

    return Registry(retrieve=_refuse)


_CHECKED = "urn:mapper:target-schema"  # where the schema sits while its references are checked


def schema_problems(schema: Any) -> list[str]:
    """Why `schema` cannot be the receiver's schema (empty when it can), one sentence each."""
    if not isinstance(schema, dict):
        return ["must be a JSON Schema object"]
    size = len(json.dumps(schema, separators=(",", ":"), ensure_ascii=False).encode())
    if size > MAX_SCHEMA_BYTES:
        return [f"is {size} bytes as JSON; at most {MAX_SCHEMA_BYTES}"]
    declared = schema.get("$schema")
    if declared is not None and (not isinstance(declared, str) or declared.rstrip("#") != DIALECT):
        return [f"$schema must be {DIALECT} (JSON Schema 2020-12) or left out"]
    outside = [
        f"{where}: {keyword} {ref!r} points outside the schema; only references inside it "
        "(starting with #) are followed, nothing is fetched"
        for where, keyword, ref in _references(schema, ())
        if not ref.startswith("#")
    ]
    if outside:
        return outside
    from jsonschema import Draft202012Validator
    from jsonschema.exceptions import SchemaError

    try:
        Draft202012Validator.check_schema(schema)
    except SchemaError as exc:
        where = format_steps(tuple(exc.absolute_path)) or "the schema"
        return [f"is not a valid JSON Schema 2020-12: at {where}: {_short(exc.message)}"]
    if _nested_ids(schema):
        return []  # a reference is then relative to its own $id: looked up when applied
    return [
        f"{where}: {keyword} {ref!r} does not resolve inside the schema"
        for where, keyword, ref in _references(schema, ())
        if not _resolves(schema, ref)
    ]


def violations(schema: dict[str, Any], output: Any) -> list[dict[str, str]]:
    """Where `output` breaks `schema`: `{"path", "message"}` each, in path order."""
    from referencing.exceptions import Unresolvable

    validator = _validator(json.dumps(schema, sort_keys=True, separators=(",", ":")))
    found: list[dict[str, str]] = []
    try:
        errors = sorted(validator.iter_errors(output), key=lambda e: [str(s) for s in e.path])
    except Unresolvable as exc:  # not refused on save: a document saved before the check
        return [{"path": "", "message": f"the schema's reference does not resolve: {exc}"}]
    for error in errors[:MAX_VIOLATIONS]:
        steps = tuple(error.absolute_path)
        message = error.message
        if error.validator == "required":
            missing = _missing_name(error)
            if missing is not None:
                steps, message = (*steps, missing), "is required"
        found.append({"path": format_steps(steps), "message": _short(message)})
    if len(errors) > MAX_VIOLATIONS:
        more = len(errors) - MAX_VIOLATIONS
        found.append({"path": "", "message": f"and {more} more violations"})
    return found


def check_output(target: Any, output: Any) -> None:
    """Raise SchemaViolationError when the target has a schema and `output` breaks it."""
    schema = getattr(target, "receiver_schema", None)
    if schema is None:
        return
    found = violations(schema, output)
    if found:
        raise SchemaViolationError(found)


@lru_cache(maxsize=_CACHED_VALIDATORS)
def _validator(text: str) -> Draft202012Validator:
    # Keyed by the schema's text: each run's check reuses the compiled validator.
    from jsonschema import Draft202012Validator

    return Draft202012Validator(json.loads(text), registry=_nothing_else())


def _references(node: Any, steps: tuple[Any, ...]) -> Iterator[tuple[str, str, str]]:
    if isinstance(node, dict):
        for key, value in node.items():
            if key in _REF_KEYWORDS and isinstance(value, str):
                yield format_steps(steps) or "the schema", key, value
            elif key not in ("const", "enum", "default", "examples"):  # values, not schemas
                yield from _references(value, (*steps, key))
    elif isinstance(node, list):
        for i, item in enumerate(node):
            yield from _references(item, (*steps, i))


def _nested_ids(node: Any, root: bool = True) -> bool:
    if isinstance(node, dict):
        if not root and isinstance(node.get("$id"), str):
            return True
        return any(
            _nested_ids(value, False)
            for key, value in node.items()
            if key not in ("const", "enum", "default", "examples")
        )
    if isinstance(node, list):
        return any(_nested_ids(item, False) for item in node)
    return False


def _resolves(schema: dict[str, Any], ref: str) -> bool:
    from referencing.exceptions import Unresolvable
    from referencing.jsonschema import DRAFT202012

    registry = _nothing_else().with_resource(_CHECKED, DRAFT202012.create_resource(schema))
    try:
        registry.resolver(base_uri=_CHECKED).lookup(ref)
    except Unresolvable:
        return False
    return True


def _missing_name(error: Any) -> str | None:
    # jsonschema says "'amount' is a required property"; name the missing key as a path.
    instance = error.instance if isinstance(error.instance, dict) else {}
    for name in error.validator_value or ():
        if isinstance(name, str) and name not in instance and error.message.startswith(
            repr(name)
        ):
            return name
    return None


def _short(text: str) -> str:
    if len(text) <= MAX_MESSAGE_CHARS:
        return text
    return text[: MAX_MESSAGE_CHARS - 1] + "…"
