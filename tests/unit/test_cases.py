"""Saved test cases: run as preview runs them, compared with a diff, checked on their own."""

from __future__ import annotations

from mapper.engine.cases import run_cases
from mapper.engine.config import MAX_TEST_BYTES, MAX_TESTS
from mapper.engine.validate import problems_of, validate

DOC = {
    "name": "t",
    "source": {"type": "webhook"},
    "condition": "headers['x-kind'] !== 'ping' && data.kind !== 'ignore'",
    "mappings": [{"source": "n", "target": "total", "transforms": [{"type": "custom",
                                                                  "code": "return value * 2"}]}],
    "target": {"type": "http", "url": "https://example.com"},
}


def _run(tests: list, **more: object) -> dict:
    return run_cases(validate({**DOC, **more, "tests": tests}))


def test_a_case_passes_on_the_expected_output_and_fails_with_a_diff_otherwise() -> None:
    report = _run([
        {"name": "good", "payload": {"n": 2}, "expect": {"total": 4}},
        {"name": "bad", "payload": {"n": 2}, "expect": {"total": 5, "extra": 1}},
    ])
    assert (report["passed"], report["failed"]) == (1, 1)
    good, bad = report["results"]
    assert good == {"name": "good", "ok": True, "diff": [], "reason": None, "skipped": False,
                    "output": {"total": 4}, "error": None, "schemaViolations": []}
    assert bad["ok"] is False and bad["reason"] == "the output differs from expect"
    assert bad["diff"] == [
        {"path": "total", "op": "change", "old": 5, "new": 4},
        {"path": "extra", "op": "remove", "old": 1, "new": None},
    ]


def test_expect_skipped_passes_only_when_the_condition_skips() -> None:
    report = _run([
        {"name": "skip", "payload": {"kind": "ignore"}, "expectSkipped": True},
        {"name": "not", "payload": {"n": 1}, "expectSkipped": True},
        {"name": "output wanted", "payload": {"kind": "ignore"}, "expect": {"total": None}},
    ])
    assert [r["ok"] for r in report["results"]] == [True, False, False]
    assert report["results"][2]["reason"] == "the condition skipped it; an output was expected"


def test_headers_and_attributes_reach_the_condition() -> None:
    report = _run([{"name": "ping", "payload": {"n": 1}, "headers": {"x-kind": "ping"},
                    "expectSkipped": True}])
    assert report["results"][0]["ok"] is True


def test_an_error_fails_the_case_with_its_reason() -> None:
    report = _run([{"name": "boom", "payload": {"n": 1}, "expect": {}}],
                  mappings=[{"source": "n", "target": "x", "transforms": [
                      {"type": "custom", "code": "throw new Error('no')"}]}])
    [result] = report["results"]
    assert result["ok"] is False and "no" in result["error"]
    assert result["reason"].startswith("the mapping failed: ")


def test_a_schema_violation_fails_a_case_whose_output_matches() -> None:
    target = {**DOC["target"], "schema": {"properties": {"total": {"maximum": 3}}}}
    report = _run([{"name": "big", "payload": {"n": 2}, "expect": {"total": 4}}], target=target)
    [result] = report["results"]
    assert result["ok"] is False and result["diff"] == []
    assert result["schemaViolations"] == [
        {"path": "total", "message": "4 is greater than the maximum of 3"}
    ]


def test_the_list_is_checked_on_save() -> None:
    tests = [
        {"name": "a", "payload": {}},
        {"name": "a", "payload": {}, "expect": {}, "expectSkipped": True},
        {"name": "big", "payload": "x" * MAX_TEST_BYTES, "expect": None},
    ]
    assert [str(p) for p in problems_of({**DOC, "tests": tests})] == [
        "tests[0]: give expect (the output) or expectSkipped: true",
        "tests[1]: give expect or expectSkipped: true, not both",
        "tests[1].name: is the name of tests[0] too",
        f"tests[2]: is {MAX_TEST_BYTES + 41} bytes as JSON; a test case may have at most "
        f"{MAX_TEST_BYTES}",
    ]
    many = [{"name": str(i), "payload": i, "expect": {}} for i in range(MAX_TESTS + 1)]
    assert [p.path for p in problems_of({**DOC, "tests": many})] == ["tests"]
    assert problems_of({**DOC, "tests": [{"name": "null", "payload": 1, "expect": None}]}) == []
