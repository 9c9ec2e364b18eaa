"""Golden cases from tests/data/<case>/: integration, input and expected JSON."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from mapper.engine.cli import main

DATA = Path(__file__).parents[1] / "data"
CASES = sorted(p.name for p in DATA.iterdir() if (p / "expected.json").exists())


def preview(case: str, flag: str, payload: Path) -> tuple[int, io.StringIO]:
    """`python -m mapper preview` with the case's integration: exit code and output."""
    out = io.StringIO()
    code = main(
        ["preview", "--config", str(DATA / case / "integration.json"), flag, str(payload)],
        stdout=out,
    )
    return code, out


@pytest.mark.parametrize("case", CASES)
def test_preview_matches_expected(case: str) -> None:
    code, out = preview(case, "--payload", DATA / case / "input.json")
    assert code == 0, out.getvalue()
    assert json.loads(out.getvalue()) == json.loads((DATA / case / "expected.json").read_text())


@pytest.mark.parametrize("case", CASES)
def test_payload_lines_gives_the_same_result_per_line(case: str, tmp_path: Path) -> None:
    payload = json.loads((DATA / case / "input.json").read_text())
    lines = tmp_path / "in.ndjson"
    lines.write_text("\n".join(json.dumps(payload) for _ in range(300)) + "\n")
    code, out = preview(case, "--payload-lines", lines)
    assert code == 0
    results = [json.loads(line) for line in out.getvalue().splitlines()]
    assert results == [json.loads((DATA / case / "expected.json").read_text())] * 300


# Cases of one payload per line (tests/data/<case>/input.ndjson and expected.ndjson): edge
# values, each line mapped alone; a line that fails gives {"error": ...} and exit 1.
LINE_CASES = sorted(p.name for p in DATA.iterdir() if (p / "expected.ndjson").exists())


def expected_lines(case: str) -> list[object]:
    """The expected outcome of each input line of a line case."""
    text = (DATA / case / "expected.ndjson").read_text(encoding="utf-8")
    return [json.loads(line) for line in text.splitlines()]


@pytest.mark.parametrize("case", LINE_CASES)
def test_payload_lines_match_expected_line_by_line(case: str) -> None:
    code, out = preview(case, "--payload-lines", DATA / case / "input.ndjson")
    results = [json.loads(line) for line in out.getvalue().splitlines()]
    expected = expected_lines(case)
    assert results == expected
    assert code == (1 if any("error" in e for e in expected if isinstance(e, dict)) else 0)


@pytest.mark.parametrize("case", LINE_CASES)
def test_each_line_alone_gives_the_same_with_payload(case: str, tmp_path: Path) -> None:
    lines = (DATA / case / "input.ndjson").read_text(encoding="utf-8").splitlines()
    for line, expected in zip(lines, expected_lines(case), strict=True):
        payload = tmp_path / "payload.json"
        payload.write_text(line, encoding="utf-8")
        code, out = preview(case, "--payload", payload)
        if "error" in expected:
            assert code == 1
            # --payload names the file where --payload-lines says "not JSON".
            assert out.getvalue().strip().endswith(expected["error"].removeprefix("not JSON: "))
        else:
            assert code == 0 and json.loads(out.getvalue()) == expected
