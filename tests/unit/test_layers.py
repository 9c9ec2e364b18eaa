"""The architecture holds: a pure engine, thin entry points, a core that tests without emulators."""

from __future__ import annotations

import ast
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
ENGINE = ROOT / "shared" / "mapper" / "engine"
FORBIDDEN = {"google", "flask", "requests", "requests_hardened", "functions_framework", "grpc"}


def _imported_roots(path: Path) -> set[str]:
    roots = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            roots.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            roots.add(node.module.split(".")[0])
    return roots


def test_nothing_under_the_engine_imports_cloud_or_http_libraries() -> None:
    offenders = {
        str(path.relative_to(ROOT)): sorted(_imported_roots(path) & FORBIDDEN)
        for path in ENGINE.rglob("*.py")
        if _imported_roots(path) & FORBIDDEN
    }
    assert offenders == {}


def test_importing_the_engine_loads_none_of_them_either() -> None:
    # Relative imports reach outside the engine (mapper.errors): check what actually loads.
    # Compared with what was loaded before: site's .pth files pre-load the bare `google`
    # namespace package in every interpreter of this venv.
    code = (
        "import sys; before = set(sys.modules);"
        "import mapper.engine.plan, mapper.engine.validate, mapper.engine.cli;"
        f"bad = sorted(m for m in set(sys.modules) - before if m.split('.')[0] in"
        f" {sorted(FORBIDDEN)!r});"
        "print(bad); sys.exit(1 if bad else 0)"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_every_function_entry_point_is_thin() -> None:
    lengths = {
        p.parent.name: len(p.read_text().splitlines())
        for p in (ROOT / "functions").glob("*/main.py")
    }
    assert len(lengths) == 7
    assert {name: n for name, n in lengths.items() if n >= 40} == {}


def test_the_pipeline_layer_runs_with_no_emulator_gcloud_or_java(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if "EMULATOR" not in k}
    env["PATH"] = str(tmp_path)  # empty: no gcloud, no java, nothing else either
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
         "tests/pipeline", "tests/functions"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=300,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    assert " passed" in result.stdout and "failed" not in result.stdout
