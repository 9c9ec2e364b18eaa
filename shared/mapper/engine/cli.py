"""`python -m mapper`: validate and preview integrations offline, as users do in their CI."""

from __future__ import annotations

import argparse
import gc
import json
import sys
from collections.abc import Callable, Iterable, Iterator
from itertools import islice
from typing import IO, Any

import orjson

from ..errors import ConfigError
from ..json_text import dumps_bytes as _fast_dumps
from ..json_text import json_dumps_bytes as _encode_bytes
from .cases import run_cases
from .config import json_schema
from .plan import Message, Outcome, Plan, failure_of
from .validate import validate, validate_for_preview

DESCRIPTION = """\
Validate and preview integrations offline, with the engine that runs in production.

  python -m mapper validate --config integration.json
      Prints every problem with its JSON path, one per line (exit 1), or nothing (exit 0).
      A target on a private or loopback address (127.0.0.1, localhost) is a problem unless
      EGRESS_ALLOW_CIDRS covers it, as on the platform.

  python -m mapper preview --config integration.json --payload payload.json
      Prints the transformed payload as JSON (exit 0), {"skipped": true} when the
      condition is falsy (exit 0), or the errors, one per line (exit 1). Nothing is sent,
      so no address rule applies to the target, and the document may leave out its
      name, source and target.

  python -m mapper preview --config integration.json --payload-lines payloads.ndjson
      Reads one JSON payload per line ("-" for stdin) and writes one line per input, in
      order: the output, {"skipped": true}, or {"error": "..."} for that line alone.
      Streams in constant memory. Exit 1 when any line had an error, else 0.

  python -m mapper test integration.json
      Runs the integration's saved test cases ("tests") as preview runs them, nothing
      sent: one line per case, "ok <name>" or "FAIL <name>: <reason>" and its diff.
      Exit 0 when all pass, 1 when some fail, 2 when the file cannot be read, is not a
      valid integration or holds no test cases.

  python -m mapper schema
      Prints the JSON Schema of the integration document.
"""

BATCH_LINES = 256  # lines read, mapped (one sandbox call) and written at a time
STREAM_LINES = 16  # the same without JavaScript: few payloads alive at once (see below)
READ_BYTES = 1 << 16  # without it, a block read from a byte stream at a time (see below)

# A batch of lines: the lines, what was cut from the end of each, whether they were found
# free of long digit runs (None: not looked at yet).
Batch = tuple[list[Any], Any, bool | None]


def main(
    argv: list[str] | None = None, stdin: IO[str] | None = None, stdout: IO[str] | None = None
) -> int:
    """Run the command line; returns the exit code."""
    stdin = stdin or sys.stdin
    stdout = stdout or sys.stdout
    parser = _parser()
    args = parser.parse_args(argv)
    if args.command == "schema":
        stdout.write(json.dumps(json_schema(), indent=2) + "\n")
        return 0
    if args.command == "test":
        return _test(args.integration, stdin, stdout)
    try:
        doc = _read_json_file(args.config, stdin)
        if args.command == "preview":
            integration = validate_for_preview(doc)
        else:
            integration = validate(doc)
    except ConfigError as exc:
        for problem in exc.problems:
            stdout.write(f"{problem}\n")
        return 1
    except _InputError as exc:
        stdout.write(f"{exc}\n")
        return 1
    if args.command == "validate":
        return 0
    plan = Plan(integration)
    try:
        if args.payload_lines is not None:
            return _preview_lines(plan, args.payload_lines, stdin, stdout)
        return _preview_one(plan, args.payload, stdin, stdout)
    finally:
        plan.close()


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m mapper",
        description=DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    commands = parser.add_subparsers(dest="command", required=True)
    check = commands.add_parser("validate", help="list every problem of an integration")
    check.add_argument("--config", required=True, help="the integration JSON file")
    preview = commands.add_parser("preview", help="map payloads with an integration")
    preview.add_argument("--config", required=True, help="the integration JSON file")
    source = preview.add_mutually_exclusive_group(required=True)
    source.add_argument("--payload", help="one JSON payload file ('-' for stdin)")
    source.add_argument("--payload-lines", help="NDJSON file, one payload a line ('-' for stdin)")
    tests = commands.add_parser("test", help="run an integration's saved test cases")
    tests.add_argument("integration", help="the integration JSON file ('-' for stdin)")
    commands.add_parser("schema", help="print the integration document's JSON Schema")
    return parser


class _InputError(Exception):
    pass


BAD_INPUT = 2  # `test`: as argparse's usage errors, so CI tells a broken file from a failure


def _test(path: str, stdin: IO[str], stdout: IO[str]) -> int:
    try:
        integration = validate(_read_json_file(path, stdin))
    except ConfigError as exc:
        for problem in exc.problems:
            stdout.write(f"{problem}\n")
        return BAD_INPUT
    except _InputError as exc:
        stdout.write(f"{exc}\n")
        return BAD_INPUT
    if not integration.tests:
        stdout.write(f"{path}: no test cases (\"tests\") to run\n")
        return BAD_INPUT
    report = run_cases(integration)
    for result in report["results"]:
        if result["ok"]:
            stdout.write(f"ok {result['name']}\n")
            continue
        stdout.write(f"FAIL {result['name']}: {result['reason']}\n")
        for change in result["diff"]:
            where = change["path"] or "(the whole output)"
            expected, actual = (json.dumps(change[k], ensure_ascii=False) for k in ("old", "new"))
            stdout.write(f"  {where}: expected {expected}, got {actual}\n")
        for violation in result["schemaViolations"]:
            stdout.write(f"  schema: {violation['path'] or '(the whole output)'}: "
                         f"{violation['message']}\n")
    stdout.write(f"{report['passed']} passed, {report['failed']} failed\n")
    return 1 if report["failed"] else 0


def _read_json_file(path: str, stdin: IO[str]) -> Any:
    try:
        if path == "-":
            return json.load(stdin)
        with open(path, encoding="utf-8") as fh:
            return json.load(fh)
    except OSError as exc:
        raise _InputError(f"{path}: cannot read: {exc.strerror}") from None
    except ValueError as exc:
        raise _InputError(f"{path}: not JSON: {exc}") from None


def _preview_one(plan: Plan, path: str, stdin: IO[str], stdout: IO[str]) -> int:
    try:
        data = _read_json_file(path, stdin)
    except _InputError as exc:
        stdout.write(f"{exc}\n")
        return 1
    outcome = plan.apply(Message(data))
    if outcome.error is not None:
        stdout.write(f"{outcome.error}\n")
        return 1
    result = {"skipped": True} if outcome.skipped else outcome.output
    stdout.write(json.dumps(result, indent=2, ensure_ascii=False) + "\n")
    return 0


def _preview_lines(plan: Plan, path: str, stdin: IO[str], stdout: IO[str]) -> int:
    try:
        # Bytes where we can: orjson reads UTF-8 bytes without decoding them first.
        source = getattr(stdin, "buffer", stdin) if path == "-" else open(path, "rb")  # noqa: SIM115
    except OSError as exc:
        stdout.write(f"{path}: cannot read: {exc.strerror}\n")
        return 1
    failed = False
    # Without JavaScript there is no call to share, and holding many parsed payloads alive
    # makes the garbage collector's young generation costly: small batches, which only
    # spread the per-batch work (one write, one generator) over a few lines. A byte stream
    # is then read a block at a time and cut into lines here, cheaper than line by line
    # (each line is parsed, mapped and dropped before the next, so no payloads pile up).
    if plan.uses_javascript:
        batches = _chunks(source, BATCH_LINES)
    elif hasattr(source, "read1"):
        batches = _block_lines(source)
    else:
        batches = _chunks(source, STREAM_LINES)
    # Lines are UTF-8 bytes: written to the stream's bytes layer when it has one.
    raw = getattr(stdout, "buffer", None)
    if raw is not None:
        stdout.flush()
    # Everything alive now (the engine, the plan, a caller's own data) outlives the stream:
    # the collector need not scan it again while each line's short-lived objects come and go.
    gc.freeze()
    try:
        for chunk, cut, checked in batches:
            lines = list(map_lines(plan, chunk, cut, checked))
            failed = failed or any(line.startswith(b'{"error"') for line in lines)
            block = b"\n".join(lines) + b"\n"
            if raw is not None:
                raw.write(block)
            else:
                stdout.write(block.decode("utf-8"))
    finally:
        gc.unfreeze()
        if path != "-":
            source.close()
    return 1 if failed else 0


def _chunks(lines: Iterable[str], size: int) -> Iterator[Batch]:
    it = iter(lines)
    while chunk := list(islice(it, size)):
        yield chunk, "", None


def _block_lines(source: Any) -> Iterator[Batch]:
    """The stream's lines, a block's worth at a time, each without its b"\\n" (the cut).

    Cut where a file read line by line is: at b"\\n" only. The last line, when the stream
    does not end with a line break, comes alone, with nothing cut. `read1` returns what
    a pipe holds now, so a line is mapped as soon as it arrives. Long digit runs are
    looked for once per block, not per batch of joined lines.
    """
    held: list[bytes] = []  # the start of a line not yet ended
    while block := source.read1(READ_BYTES):
        if b"\n" not in block:
            held.append(block)
            continue
        if held:
            held.append(block)
            block = b"".join(held)
        lines = block.split(b"\n")
        rest = lines.pop()
        held = [rest] if rest else []
        yield lines, b"\n", not _long_digits(block)
    if held:
        yield [b"".join(held)], b"", None


# orjson reads an integer past 64 bits as a float, where json keeps it: a line with a run
# of 19 digits goes to json. Digits become "0" so that one `in` finds such a run.
_ZEROS_B, _ZEROS_S = b"0" * 19, "0" * 19
_DIGITS_B = bytes.maketrans(b"123456789", b"000000000")
_DIGITS_S = str.maketrans("123456789", "000000000")


def _long_digits(text: str | bytes) -> bool:
    """Whether text holds a run of 19 digits (an integer orjson might read as a float)."""
    if type(text) is bytes:
        return _ZEROS_B in text.translate(_DIGITS_B)
    return _ZEROS_S in text.translate(_DIGITS_S)


def _fast_loads(
    line: str | bytes, checked: bool = False, cut: str | bytes = ""
) -> tuple[Any, bool]:
    """The line's JSON, and whether orjson read it (else json did, as it always did).

    `checked`: the caller found no run of 19 digits in it. `cut`: what was cut from its
    end (its line break), given back to json, whose messages count it.
    """
    if checked or not _long_digits(line):
        try:
            return orjson.loads(line), True
        except orjson.JSONDecodeError:
            pass  # json says why, in the words it always used (or reads NaN, lone surrogates)
    if cut:
        line += cut  # type: ignore[operator]
    text = line.decode("utf-8") if type(line) is bytes else line
    return json.loads(text), False


def map_lines(
    plan: Plan,
    lines: list[str] | list[bytes],
    cut: str | bytes = "",
    checked: bool | None = None,
) -> Iterator[bytes]:
    """One output line (UTF-8, no line break) per input line, in order.

    Lines are read and written with orjson, byte for byte as json writes them (compact,
    UTF-8) but for floats below 1e-4, written as JavaScript writes them (1e-7, 0.000015;
    json: 1e-07, 1.5e-05); a line orjson does not read (NaN, a lone surrogate, an integer
    past 64 bits) goes through json as before. Without JavaScript each line is mapped
    straight through the plan's mapping; with it, all parseable lines in one batch.

    `cut`: what each line lost from its end when it was cut from the stream (b"\\n"), or
    nothing when lines still hold their line breaks. `checked`: the caller found no run of
    19 digits in any of them (None: look here).
    """
    if checked is None:
        # One look over the whole batch (a run cannot cross a line break).
        checked = bool(lines) and not _long_digits(
            b"\n".join(lines) if type(lines[0]) is bytes else "\n".join(lines)  # type: ignore[arg-type]
        )
    mapper = plan.plain_mapper()
    if mapper is not None:
        for line in lines:
            try:
                data, fast = _fast_loads(line, checked, cut)
            except ValueError as exc:
                yield _encode_bytes({"error": f"not JSON: {exc}"})
                continue
            try:
                output = mapper(data)
            except Exception as exc:  # noqa: BLE001 - that line's error, as apply says it
                yield _encode_bytes({"error": str(failure_of(exc))})
                continue
            yield _fast_dumps(output) if fast else _encode_bytes(output)
        return
    parsed: list[Any] = []
    messages: list[Message] = []
    for line in lines:
        try:
            data, fast = _fast_loads(line, checked, cut)
        except ValueError as exc:
            parsed.append(_InputError(f"not JSON: {exc}"))
            continue
        message = Message(data)
        parsed.append((message, fast))
        messages.append(message)
    outcomes = plan.apply_many(messages, batch_size=max(1, len(messages)))
    for item in parsed:
        if isinstance(item, _InputError):
            yield _encode_bytes({"error": str(item)})
        else:
            yield _outcome_line(next(outcomes), _fast_dumps if item[1] else _encode_bytes)


def _outcome_line(outcome: Outcome, encode: Callable[[Any], bytes]) -> bytes:
    if outcome.error is not None:
        return _encode_bytes({"error": str(outcome.error)})
    if outcome.skipped:
        return b'{"skipped":true}'
    return encode(outcome.output)
