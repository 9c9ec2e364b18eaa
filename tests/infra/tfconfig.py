"""infra/ as plain Python values (python-hcl2), for the tests that hold it against the code.

Literal strings come back unquoted (`"webhook"` -> `webhook`); an expression comes back as
an `Expr` holding its source text without `${}` (`${var.region}` -> `Expr("var.region")`).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import hcl2
import pytest

ROOT = Path(__file__).resolve().parents[2]
INFRA = ROOT / "infra"
MODULE = INFRA / "modules" / "function"


class Expr(str):
    """A Terraform expression, as written (without the `${}` python-hcl2 wraps it in)."""


def plain(value: Any) -> Any:
    """python-hcl2's output with literals unquoted and expressions marked."""
    if isinstance(value, str):
        return _string(value)
    if isinstance(value, list):
        return [plain(item) for item in value]
    if isinstance(value, dict):
        # python-hcl2's own keys (__is_block__, __comments__) are bare; HCL's are quoted.
        return {_string(k): plain(v) for k, v in value.items() if not _private(k)}
    return value


def _private(key: str) -> bool:
    return key.startswith("__") and key.endswith("__")


def _string(text: str) -> str:
    if len(text) >= 2 and text[0] == '"' and text[-1] == '"':
        try:
            return json.loads(text)
        except ValueError:
            return text[1:-1]
    if text.startswith("${") and text.endswith("}"):
        return Expr(text[2:-1])
    return text


@dataclass(frozen=True)
class Resource:
    """One `resource` (or `data`, `module`, ...) block: where it is, its labels and body."""

    file: Path
    type: str
    name: str
    body: dict[str, Any]

    @property
    def address(self) -> str:
        """`type.name`, as Terraform names it."""
        return f"{self.type}.{self.name}"


@dataclass(frozen=True)
class Config:
    """Every top-level block of one Terraform module directory."""

    directory: Path
    blocks: tuple[tuple[Path, str, dict[str, Any]], ...]

    def _labelled(self, kind: str, depth: int) -> Iterator[Resource]:
        for file, block, body in self.blocks:
            if block != kind:
                continue
            if depth == 2:
                for type_, named in body.items():
                    for name, inner in named.items():
                        yield Resource(file, type_, name, inner)
            else:
                for name, inner in body.items():
                    yield Resource(file, kind, name, inner)

    def resources(self, type_: str | None = None) -> list[Resource]:
        """Every `resource` block, or those of one type."""
        return [r for r in self._labelled("resource", 2) if type_ in (None, r.type)]

    def resource(self, type_: str, name: str) -> Resource:
        """The one resource of this type and name."""
        [found] = [r for r in self.resources(type_) if r.name == name]
        return found

    def modules(self) -> dict[str, dict[str, Any]]:
        """Module calls by name."""
        return {m.name: m.body for m in self._labelled("module", 1)}

    def variables(self) -> dict[str, dict[str, Any]]:
        """Variable blocks by name."""
        return {v.name: v.body for v in self._labelled("variable", 1)}

    def default(self, variable: str) -> Any:
        """A variable's default value."""
        return self.variables()[variable]["default"]

    def locals(self) -> dict[str, Any]:
        """Every local value of the module (all `locals` blocks merged)."""
        merged: dict[str, Any] = {}
        for _, block, body in self.blocks:
            if block == "locals":
                for key, value in body.items():
                    assert key not in merged, f"local.{key} is defined twice"
                    merged[key] = value
        return merged


@cache
def load(directory: Path = INFRA) -> Config:
    """Parse every .tf file of one module directory (not its submodules)."""
    blocks: list[tuple[Path, str, dict[str, Any]]] = []
    for file in sorted(directory.glob("*.tf")):
        with file.open() as handle:
            parsed = hcl2.load(handle)
        for kind, bodies in parsed.items():
            if _private(kind):
                continue
            for body in bodies:
                blocks.append((file, kind, plain(body)))
    return Config(directory, tuple(blocks))


def tf_files() -> list[Path]:
    """Every .tf file under infra/, modules included."""
    return sorted(INFRA.rglob("*.tf"))


def find_tool(name: str, env: str) -> str:
    """The path of a checking tool, or fail the test saying how to get it.

    Looked for in $<env>, the tools venv (.tools/bin, made by `make tools`), the venv
    running the tests, then PATH. Missing tools fail rather than skip: CI must run them.
    """
    candidates = [
        os.environ.get(env, ""),
        str(ROOT / ".tools" / "bin" / name),
        str(Path(sys.executable).parent / name),
        shutil.which(name) or "",
    ]
    for candidate in candidates:
        if candidate and os.access(candidate, os.X_OK):
            return candidate
    pytest.fail(
        f"{name} is not installed: `make tools` installs it into .tools/ (or point ${env} at it)",
        pytrace=False,
    )


def run(args: list[str], **kwargs: Any) -> subprocess.CompletedProcess[str]:
    """Run a command, capturing its text output."""
    return subprocess.run(args, capture_output=True, text=True, check=False, **kwargs)
