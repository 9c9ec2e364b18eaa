"""Golden cases from tests/data/<case>/: integration, input and expected JSON."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from mapper.engine.cli import main

DATA = Path(__file__).parents[1] / "data"
CASES = sorted(p.name for p in DATA.iterdir() if (p / "expected.json").exists())


@pytest.mark.parametrize("case", CASES)
def test_preview_matches_expected(case: str) -> None:
    out = io.StringIO()
    code = main(
        [
            "preview",
            "--config",
            str(DATA / case / "integration.json"),
            "--payload",
            str(DATA / case / "input.json"),
        ],
        stdout=out,
    )
    assert code == 0, out.getvalue()
    assert json.loads(out.getvalue()) == json.loads((DATA / case / "expected.json").read_text())


@pytest.mark.parametrize("case", CASES)
def test_payload_lines_gives_the_same_result_per_line(case: str, tmp_path: Path) -> None:
    payload = json.loads((DATA / case / "input.json").read_text())
    lines = tmp_path / "in.ndjson"
    lines.write_text("\n".join(json.dumps(payload) for _ in range(300)) + "\n")
    out = io.StringIO()
    code = main(
        [
            "preview",
            "--config",
            str(DATA / case / "integration.json"),
            "--payload-lines",
            str(lines),
        ],
        stdout=out,
    )
    assert code == 0
    results = [json.loads(line) for line in out.getvalue().splitlines()]
    assert results == [json.loads((DATA / case / "expected.json").read_text())] * 300
