"""`--payload-lines` reads and writes with orjson, and its lines are what json wrote before."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from mapper.engine import cli
from mapper.engine.config import parse_integration
from mapper.engine.lines import map_lines
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


def expected_line(plan: Plan, line: str) -> bytes:
    wrote = as_json_wrote_it(plan, line)
    try:
        return wrote.encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate, which UTF-8 cannot hold: written escaped
        return json.dumps(json.loads(wrote), separators=(",", ":")).encode("ascii")


@pytest.mark.parametrize("as_bytes", [False, True])  # a file is read as bytes, a StringIO not
@pytest.mark.parametrize("doc", [PASS_THROUGH, MAPPED])
@pytest.mark.parametrize("line", LINES)
def test_each_line_is_written_as_json_wrote_it(doc: dict, line: str, as_bytes: bool) -> None:
    plan = Plan(parse_integration(doc))
    given = (line + "\n").encode() if as_bytes else line + "\n"
    assert list(map_lines(plan, [given])) == [expected_line(plan, line + "\n")]


# A stream as files and pipes give it: blank lines, a carriage return left in a line, a long
# line, lines of multi-byte characters, and no line break at the end.
STREAM = (
    "\n".join([*LINES, "", '{"a": 3}\r', json.dumps({"a": "x" * 200_000, "s": " y "}),
               *(json.dumps({"a": n, "s": f" é{n} "}) for n in range(300)), '{"a": 4}'])
).encode("utf-8", "surrogatepass")


@pytest.mark.parametrize("from_stdin", [False, True])
@pytest.mark.parametrize("doc", [PASS_THROUGH, MAPPED])
def test_a_stream_is_written_line_for_line_as_json_wrote_it(
    doc: dict, from_stdin: bool, tmp_path: Path
) -> None:
    config, payloads = tmp_path / "i.json", tmp_path / "p.ndjson"
    config.write_text(json.dumps(doc))
    payloads.write_bytes(STREAM)
    plan = Plan(parse_integration(doc))
    # What reading the file line by line and json gave, line for line.
    expected = b"".join(
        expected_line(plan, line.decode("utf-8", "surrogatepass")) + b"\n"
        for line in io.BytesIO(STREAM)
    )
    stdout = io.TextIOWrapper(io.BytesIO(), encoding="utf-8")
    stdin = io.TextIOWrapper(io.BufferedReader(io.BytesIO(STREAM)), encoding="utf-8")
    source = "-" if from_stdin else str(payloads)
    code = cli.main(["preview", "--config", str(config), "--payload-lines", source],
                    stdin=stdin, stdout=stdout)
    stdout.flush()
    assert stdout.buffer.getvalue() == expected  # type: ignore[attr-defined]
    assert code == 1  # "not json" is an error line


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
