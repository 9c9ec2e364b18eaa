"""What `terraform validate` would catch without providers: references to nothing.

`terraform validate` needs the providers, which cannot be downloaded here, so these tests
check the references themselves: every var., local., resource, data source and module
output named exists, and the module call passes exactly the module's variables.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from .tfconfig import INFRA, MODULE, Config, load

_COMMENT = re.compile(r"(?m)^\s*(#|//).*$|\s#.*$")
_VAR = re.compile(r"\bvar\.([A-Za-z_][A-Za-z0-9_-]*)")
_LOCAL = re.compile(r"\blocal\.([A-Za-z_][A-Za-z0-9_-]*)")
_RESOURCE = re.compile(
    r"(?<![.\w-])((?:data|ephemeral)\.)?((?:google|random)_[a-z0-9_]+)\.([a-z_][a-z0-9_-]*)"
)
_MODULE_OUTPUT = re.compile(r"\bmodule\.([a-z_]+)(?:\[[^\]]+\])?\.([a-z_]+)")


# `moved` blocks name addresses that are gone by design; test_moved_blocks checks them.
_MOVED = re.compile(r"(?ms)^moved\s*\{.*?^\}")


def source(directory: Path) -> str:
    """Every .tf file of the directory, comments and `moved` blocks removed."""
    return "\n".join(
        _MOVED.sub("", _COMMENT.sub("", p.read_text())) for p in sorted(directory.glob("*.tf"))
    )


def declared(config: Config) -> set[tuple[str, str, str]]:
    """(kind, type, name) of every resource, data source and ephemeral resource."""
    found: set[tuple[str, str, str]] = set()
    for _, block, body in config.blocks:
        if block in ("resource", "data", "ephemeral"):
            for type_, named in body.items():
                found.update((block, type_, name) for name in named)
    return found


@pytest.mark.parametrize("directory", [INFRA, MODULE], ids=["root", "function module"])
def test_every_variable_and_local_referenced_exists(directory: Path) -> None:
    config, text = load(directory), source(directory)
    assert set(_VAR.findall(text)) <= set(config.variables()), set(_VAR.findall(text)) - set(
        config.variables()
    )
    assert set(_LOCAL.findall(text)) <= set(config.locals()), set(_LOCAL.findall(text)) - set(
        config.locals()
    )


@pytest.mark.parametrize("directory", [INFRA, MODULE], ids=["root", "function module"])
def test_every_resource_referenced_exists(directory: Path) -> None:
    config, text = load(directory), source(directory)
    known = declared(config)
    missing = set()
    for prefix, type_, name in _RESOURCE.findall(text):
        kind = prefix.rstrip(".") or "resource"
        if (kind, type_, name) not in known:
            missing.add(f"{prefix}{type_}.{name}")
    assert not missing


def test_every_variable_is_used() -> None:
    for directory in (INFRA, MODULE):
        text = source(directory)
        unused = set(load(directory).variables()) - set(_VAR.findall(text))
        assert not unused, f"{directory.name}: unused variables {unused}"


def test_module_outputs_referenced_exist() -> None:
    outputs = {o for _, block, body in load(MODULE).blocks if block == "output" for o in body}
    used = {name for module, name in _MODULE_OUTPUT.findall(source(INFRA)) if module == "function"}
    assert used <= outputs, used - outputs


def test_module_call_passes_exactly_the_module_variables() -> None:
    variables = load(MODULE).variables()
    required = {name for name, body in variables.items() if "default" not in body}
    meta = {"source", "for_each", "depends_on", "count", "providers"}
    passed = set(load().modules()["function"]) - meta
    assert required <= passed, required - passed
    assert passed <= set(variables), passed - set(variables)


def test_every_variable_is_typed_and_described() -> None:
    for directory in (INFRA, MODULE):
        for name, body in load(directory).variables().items():
            assert body.get("type"), f"{directory.name}: var.{name} has no type"
            assert body.get("description"), f"{directory.name}: var.{name} has no description"


@pytest.mark.parametrize("directory", [INFRA, MODULE], ids=["root", "function module"])
def test_moved_blocks_go_from_a_gone_address_to_a_declared_one(directory: Path) -> None:
    config = load(directory)
    known = {f"{type_}.{name}" for kind, type_, name in declared(config) if kind == "resource"}
    for _, block, body in config.blocks:
        if block != "moved":
            continue
        old, new = str(body["from"]), str(body["to"])
        assert old.split("[")[0] not in known, f"{old} is still declared: nothing to move"
        assert new.split("[")[0] in known, f"{new} is not declared"
