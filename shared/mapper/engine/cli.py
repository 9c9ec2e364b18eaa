"""`python -m mapper`: validate and preview integrations offline, as users do in their CI."""

from __future__ import annotations

import argparse
import json
import sys
from typing import IO, TYPE_CHECKING, Any

from ..errors import ConfigError

if TYPE_CHECKING:
    from .plan import Plan

# The engine (pydantic and the models of the integration document: most of a start-up) is
# imported by the command that uses it, once the arguments are read: `--help` and a usage
# error answer without it. tests/unit/test_cli.py holds what each command loads.

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


def main(
    argv: list[str] | None = None, stdin: IO[str] | None = None, stdout: IO[str] | None = None
) -> int:
    """Run the command line; returns the exit code."""
    stdin = stdin or sys.stdin
    stdout = stdout or sys.stdout
    parser = _parser()
    args = parser.parse_args(argv)
    if args.command == "schema":
        from .config import json_schema

        stdout.write(json.dumps(json_schema(), indent=2) + "\n")
        return 0
    if args.command == "test":
        return _test(args.integration, stdin, stdout)
    from .validate import validate, validate_for_preview

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
    from .plan import Plan

    plan = Plan(integration)
    try:
        if args.payload_lines is not None:
            from .lines import preview_lines

            return preview_lines(plan, args.payload_lines, stdin, stdout)
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
    from .cases import run_cases
    from .validate import validate

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
    from .plan import Message

    outcome = plan.apply(Message(data))
    if outcome.error is not None:
        stdout.write(f"{outcome.error}\n")
        return 1
    result = {"skipped": True} if outcome.skipped else outcome.output
    stdout.write(json.dumps(result, indent=2, ensure_ascii=False) + "\n")
    return 0
