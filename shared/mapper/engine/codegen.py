"""Generate one Python function per plan, so that a mapping costs what hand-written code does.

The generated source holds only our own identifiers: every key, transform and fallback
getter or setter is passed in as a named constant (K3, T0_1, G2, S5), never pasted as
text, so nothing in a user's document can become code.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from .paths import WILDCARD, Step, compile_getter
from .transforms._output import new_message

# Transforms that codegen writes inline: the function object -> the str method it calls.
# transforms.py registers its case transforms here.
INLINE_STRING_METHODS: dict[Callable[[Any, Any], Any], str] = {}


@dataclass(frozen=True)
class FieldPlan:
    """What codegen needs to know of one mapping."""

    source: tuple[Step, ...] | None  # None: no source, the value starts as null
    get: Callable[[Any], Any]
    steps: Sequence[Callable[[Any, Any], Any]]  # Python transforms, run in order
    depth: int
    target: tuple[Step, ...]
    set: Callable[[dict, Any], None]


class _Source:
    def __init__(self) -> None:
        self.lines: list[str] = []
        self.consts: dict[str, Any] = {}
        # Key paths already looked up in `data` -> the local holding the value: mappings
        # that share a prefix (customer.email, customer.name) read it once.
        self.looked_up: dict[tuple[str, ...], str] = {}

    def const(self, prefix: str, value: Any) -> str:
        name = f"{prefix}{len(self.consts)}"
        self.consts[name] = value
        return name

    def emit(self, line: str, indent: int = 1) -> None:
        self.lines.append("    " * indent + line)


def _emit_get(src: _Source, f: FieldPlan, var: str) -> None:
    steps = f.source
    if steps is None:
        src.emit(f"{var} = None")
        return
    keys_only = all(type(s) is str for s in steps if s is not WILDCARD)
    if keys_only and steps.count(WILDCARD) == 1 and steps[-1] is not WILDCARD:
        # `a.b[*].c`: the array by keys, then one key of each element, as a comprehension.
        cut = steps.index(WILDCARD)
        src.emit(f"{var} = {_emit_keys(src, steps[:cut])}")
        if len(steps) - cut == 2:
            key = src.const("K", steps[-1])
            src.emit(
                f"{var} = [x.get({key}) if type(x) is dict else None for x in {var}]"
                f" if type({var}) is list else []"
            )
            return
        tail = src.const("G", compile_getter(steps[cut + 1 :]))
        src.emit(f"{var} = [{tail}(x) for x in {var}] if type({var}) is list else []")
        return
    if WILDCARD in steps or not keys_only:
        src.emit(f"{var} = {src.const('G', f.get)}(data)")
        return
    src.emit(f"{var} = {_emit_keys(src, steps)}")


def _emit_keys(src: _Source, keys: Sequence[Any]) -> str:
    """Look `keys` up in `data`, each prefix once per function; the local holding the value."""
    held = "data"
    for depth in range(1, len(keys) + 1):
        prefix = tuple(keys[:depth])
        name = src.looked_up.get(prefix)
        if name is None:
            name = src.looked_up[prefix] = f"p{len(src.looked_up)}"
            key = src.const("K", keys[depth - 1])
            src.emit(f"{name} = {held}.get({key}) if type({held}) is dict else None")
        held = name
    return held


def _emit_transforms(src: _Source, f: FieldPlan, var: str) -> None:
    if not f.steps:
        return
    if f.depth == 0:
        for step in f.steps:
            method = INLINE_STRING_METHODS.get(step)
            if method is not None:
                src.emit(f"if type({var}) is str:")
                src.emit(f"{var} = {var}.{method}()", indent=2)
            else:
                src.emit(f"{var} = {src.const('T', step)}({var}, data)")
    elif f.depth == 1:
        # `a[*].b` with transforms: each element through the steps, as one comprehension.
        call = "x"
        for step in f.steps:
            call = f"{src.const('T', step)}({call}, data)"
        src.emit(f"if type({var}) is list:")
        src.emit(f"{var} = [{call} for x in {var}]", indent=2)
    else:
        src.emit(f"{var} = {src.const('L', _leaf_mapper(f.steps, f.depth))}({var}, data)")


def _leaf_mapper(steps: Sequence[Callable[[Any, Any], Any]], depth: int) -> Callable:
    def over(value: Any, data: Any, depth: int = depth) -> Any:
        if depth == 0:
            for step in steps:
                value = step(value, data)
            return value
        if type(value) is not list:
            return value
        return [over(v, data, depth - 1) for v in value]

    return over


def _emit_set(src: _Source, f: FieldPlan, var: str) -> None:
    steps = f.target
    if len(steps) == 2 and type(steps[0]) is str and steps[1] is WILDCARD:
        # `skus[*]`: spread into the list at `skus`, index by index, as the generic setter.
        key = src.const("K", steps[0])
        src.emit(f"n = out.get({key})")
        src.emit("if type(n) is not list:")
        src.emit(f"n = out[{key}] = []", indent=2)
        src.emit(f"items = {var} if type({var}) is list else [{var}]")
        src.emit("n[: len(items)] = items")
        return
    if WILDCARD in steps or not all(type(s) is str for s in steps):
        src.emit(f"{src.const('S', f.set)}(out, {var})")
        return
    node = "out"
    for depth, step in enumerate(steps[:-1]):
        key = src.const("K", step)
        child = f"n{depth}"
        src.emit(f"{child} = {node}.get({key})")
        src.emit(f"if type({child}) is not dict:")
        src.emit(f"{child} = {node}[{key}] = {{}}", indent=2)
        node = child
    src.emit(f"{node}[{src.const('K', steps[-1])}] = {var}")


def generate(fields: Sequence[FieldPlan]) -> tuple[Callable, Callable, Callable]:
    """Three functions: map(data) -> out, values(data) -> list, assemble(values) -> out."""
    fused, values, assemble = _Source(), _Source(), _Source()
    # Each message's transforms start with the whole per-message output budget.
    fused.emit(f"{fused.const('R', new_message)}()")
    values.emit(f"{values.const('R', new_message)}()")
    fused.emit("out = {}")
    values.emit("vals = []")
    assemble.emit("out = {}")
    for i, f in enumerate(fields):
        _emit_get(fused, f, "v")
        _emit_transforms(fused, f, "v")
        _emit_set(fused, f, "v")
        _emit_get(values, f, "v")
        _emit_transforms(values, f, "v")
        values.emit("vals.append(v)")
        assemble.emit(f"v = vals[{i}]")
        _emit_set(assemble, f, "v")
    fused.emit("return out")
    values.emit("return vals")
    assemble.emit("return out")
    return (
        _compile("map_fields", "data", fused),
        _compile("field_values", "data", values),
        _compile("assemble", "vals", assemble),
    )


def _compile(name: str, arg: str, src: _Source) -> Callable:
    code = f"def {name}({arg}):\n" + "\n".join(src.lines) + "\n"
    namespace: dict[str, Any] = dict(src.consts)
    exec(compile(code, f"<mapper plan {name}>", "exec"), namespace)  # noqa: S102 - see module doc
    return namespace[name]
