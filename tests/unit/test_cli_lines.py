"""`--payload-lines` reads and writes with orjson, and its lines are what json wrote before."""

from __future__ import annotations

import json

import pytest

from mapper.engine.cli import map_lines
from mapper.engine.config import parse_integration
from mapper.engine.plan import Message, Plan

PASS_THROUGH = {
    "name": "lines",
    "source": {"type": "webhook"},
    "target": {"type": "http", "url": "https://example.com"},
}
MAPPED = {
    **PASS_THROUGH,
    "mappings": [
        {"source": "a", "target": "a"},
        {"source": "s", "target": "s", "transforms": [{"type": "trim"}]},
    ],
}


def as_json_wrote_it(plan: Plan, line: str) -> str:
    """The line as --payload-lines wrote it with the json module alone (before orjson)."""
    encode = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode
    try:
        data = json.loads(line)
    except ValueError as exc:
        return encode({"error": f"not JSON: {exc}"})
    outcome = plan.apply(Message(data))
    if outcome.error is not None:
        return encode({"error": str(outcome.error)})
    return '{"skipped":true}' if outcome.skipped else encode(outcome.output)


LINES = [
    '{"a": 1, "s": " x "}',
    '{"a": 2.5, "b": [true, false, null], "s": "é😀\\u2028\\u0000\\""}',
    '{"a": 123456789012345678901234567890, "s": "big"}',  # past 64 bits: json reads it
    '{"a": -9223372036854775809}',
    '{"a": 18446744073709551615}',
    '{"a": NaN, "s": "nan"}',  # not JSON, but json reads it: so it still does
    '{"a": "\\ud800", "s": "lone surrogate"}',
    '{"a": 1e300, "c": 1E5, "d": -0.0, "e": 0.1}',
    '{"a": 1, "a": 2}',
    "not json",
    "",
    "[1, 2]",
    '"text"',
]


@pytest.mark.parametrize("as_bytes", [False, True])  # a file is read as bytes, a StringIO not
@pytest.mark.parametrize("doc", [PASS_THROUGH, MAPPED])
@pytest.mark.parametrize("line", LINES)
def test_each_line_is_written_as_json_wrote_it(doc: dict, line: str, as_bytes: bool) -> None:
    plan = Plan(parse_integration(doc))
    given = (line + "\n").encode() if as_bytes else line + "\n"
    wrote = as_json_wrote_it(plan, line + "\n")
    try:
        expected = wrote.encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate, which UTF-8 cannot hold: written escaped
        expected = json.dumps(json.loads(wrote), separators=(",", ":")).encode("ascii")
    assert list(map_lines(plan, [given])) == [expected]


def test_a_line_that_is_not_utf8_is_an_error_line() -> None:
    plan = Plan(parse_integration(PASS_THROUGH))
    (written,) = map_lines(plan, [b'{"a": "\xff"}\n'])
    assert json.loads(written)["error"].startswith("not JSON: 'utf-8' codec can't decode")


def test_small_floats_are_the_documented_difference() -> None:
    # Below 1e-4 orjson writes floats as JavaScript does (1e-7, 0.000015) where json wrote
    # 1e-07 and 1.5e-05: the same numbers (docs/performance.md).
    plan = Plan(parse_integration(PASS_THROUGH))
    (written,) = map_lines(plan, ['{"a": 1e-7, "b": 1.5e-5}'])
    assert written == b'{"a":1e-7,"b":0.000015}'
    assert json.loads(written) == {"a": 1e-07, "b": 1.5e-05}
