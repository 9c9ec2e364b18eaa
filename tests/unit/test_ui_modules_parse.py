"""Every module of the web UI parses: one syntax error blanks every page that imports it."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

STATIC = Path(__file__).resolve().parents[2] / "functions" / "api" / "static"
MODULES = sorted(p.name for p in STATIC.glob("*.js"))


@pytest.mark.skipif(shutil.which("node") is None, reason="node is not installed")
@pytest.mark.parametrize("name", MODULES)
def test_the_module_parses(name: str) -> None:
    source = (STATIC / name).read_bytes()
    result = subprocess.run(
        ["node", "--input-type=module", "--check"], input=source, capture_output=True,
        timeout=60, check=False,
    )
    assert result.returncode == 0, result.stderr.decode(errors="replace")[-1500:]
