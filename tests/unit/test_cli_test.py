"""`python -m mapper test integration.json` as CI runs it: one line a case, exit 0, 1 or 2."""

from __future__ import annotations

from pathlib import Path

from tests.unit.test_cli import INTEGRATION, mapper, write

TESTED = {
    **INTEGRATION,
    "target": {
        "type": "http",
        "url": "https://example.com",
        "schema": {"type": "object", "properties": {"double": {"maximum": 10}}},
    },
    "tests": [
        {"name": "doubles", "payload": {"n": 2}, "expect": {"double": 4}},
        {"name": "ignored", "payload": {"kind": "ignore"}, "expectSkipped": True},
    ],
}


def test_every_case_passing_exits_0(tmp_path: Path) -> None:
    result = mapper("test", write(tmp_path, "i.json", TESTED))
    assert result.returncode == 0, result.stdout
    assert result.stdout == "ok doubles\nok ignored\n2 passed, 0 failed\n"


def test_a_failing_case_exits_1_with_its_diff_and_violations(tmp_path: Path) -> None:
    failing = {
        **TESTED,
        "tests": [
            *TESTED["tests"],
            {"name": "wrong", "payload": {"n": 3}, "expect": {"double": 7}},
            {"name": "too big", "payload": {"n": 6}, "expect": {"double": 12}},
            {"name": "not skipped", "payload": {"n": 1}, "expectSkipped": True},
        ],
    }
    result = mapper("test", write(tmp_path, "i.json", failing))
    assert result.returncode == 1
    assert result.stdout.splitlines() == [
        "ok doubles",
        "ok ignored",
        "FAIL wrong: the output differs from expect",
        "  double: expected 7, got 6",
        "FAIL too big: the output breaks the target's schema",
        "  schema: double: 12 is greater than the maximum of 10",
        "FAIL not skipped: the condition let it through; it was expected to be skipped",
        "2 passed, 3 failed",
    ]


def test_bad_input_exits_2(tmp_path: Path) -> None:
    missing = mapper("test", str(tmp_path / "nope.json"))
    assert missing.returncode == 2 and "cannot read" in missing.stdout
    invalid = mapper("test", write(tmp_path, "bad.json", {**TESTED, "tests": [{"name": "x"}]}))
    assert invalid.returncode == 2
    assert invalid.stdout.startswith("tests[0].payload: is required")
    none = mapper("test", write(tmp_path, "none.json", INTEGRATION))
    assert none.returncode == 2 and "no test cases" in none.stdout


def test_the_integration_can_come_from_stdin(tmp_path: Path) -> None:
    text = Path(write(tmp_path, "i.json", TESTED)).read_text()
    result = mapper("test", "-", stdin=text)
    assert result.returncode == 0 and result.stdout.endswith("2 passed, 0 failed\n")
