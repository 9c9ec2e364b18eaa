"""`python -m mapper preview --payload-lines`: NDJSON in, a line out per line in, in order.

Streams in constant memory: without JavaScript each line is parsed, mapped and dropped
before the next; with it, a batch of lines shares one sandbox call. docs/performance.md
has the figures.
"""

from __future__ import annotations

import gc
import json
from collections.abc import Callable, Iterable, Iterator
from itertools import islice
from typing import IO, Any

import orjson

from ..json_text import dumps_bytes as _fast_dumps
from ..json_text import json_dumps_bytes as _encode_bytes
from .plan import Message, Outcome, Plan, failure_of

BATCH_LINES = 256  # lines read, mapped (one sandbox call) and written at a time
STREAM_LINES = 16  # the same without JavaScript: few payloads alive at once (see below)


def preview_lines(plan: Plan, path: str, stdin: IO[str], stdout: IO[str]) -> int:
    """Map the lines of `path` ("-": stdin) to stdout; 1 when any line had an error, else 0."""
    try:
        # Bytes where we can: orjson reads UTF-8 bytes without decoding them first.
        source = getattr(stdin, "buffer", stdin) if path == "-" else open(path, "rb")  # noqa: SIM115
    except OSError as exc:
        stdout.write(f"{path}: cannot read: {exc.strerror}\n")
        return 1
    failed = False
    # Without JavaScript there is no call to share, and holding many parsed payloads alive
    # makes the garbage collector's young generation costly: small batches, which only
    # spread the per-batch work (one write, one generator) over a few lines.
    size = BATCH_LINES if plan.uses_javascript else STREAM_LINES
    # Lines are UTF-8 bytes: written to the stream's bytes layer when it has one.
    raw = getattr(stdout, "buffer", None)
    if raw is not None:
        stdout.flush()
    # Everything alive now (the engine, the plan, a caller's own data) outlives the stream:
    # the collector need not scan it again while each line's short-lived objects come and go.
    gc.freeze()
    try:
        for chunk in _chunks(source, size):
            lines = list(map_lines(plan, chunk))
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


class _NotJson(Exception):
    pass


def _chunks(lines: Iterable[str], size: int) -> Iterator[list[str]]:
    it = iter(lines)
    while chunk := list(islice(it, size)):
        yield chunk


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


def _fast_loads(line: str | bytes, checked: bool = False) -> tuple[Any, bool]:
    """The line's JSON, and whether orjson read it (else json did, as it always did).

    `checked`: the caller found no run of 19 digits in it.
    """
    if checked or not _long_digits(line):
        try:
            return orjson.loads(line), True
        except orjson.JSONDecodeError:
            pass  # json says why, in the words it always used (or reads NaN, lone surrogates)
    text = line.decode("utf-8") if type(line) is bytes else line
    return json.loads(text), False


def map_lines(plan: Plan, lines: list[str] | list[bytes]) -> Iterator[bytes]:
    """One output line (UTF-8, no line break) per input line, in order.

    Lines are read and written with orjson, byte for byte as json writes them (compact,
    UTF-8) but for floats below 1e-4, written as JavaScript writes them (1e-7, 0.000015;
    json: 1e-07, 1.5e-05); a line orjson does not read (NaN, a lone surrogate, an integer
    past 64 bits) goes through json as before. Without JavaScript each line is mapped
    straight through the plan's mapping; with it, all parseable lines in one batch.
    """
    # One look for long digit runs over the whole batch (a run cannot cross a line break).
    checked = bool(lines) and not _long_digits(
        b"\n".join(lines) if type(lines[0]) is bytes else "\n".join(lines)  # type: ignore[arg-type]
    )
    mapper = plan.plain_mapper()
    if mapper is not None:
        for line in lines:
            try:
                data, fast = _fast_loads(line, checked)
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
            data, fast = _fast_loads(line, checked)
        except ValueError as exc:
            parsed.append(_NotJson(f"not JSON: {exc}"))
            continue
        message = Message(data)
        parsed.append((message, fast))
        messages.append(message)
    outcomes = plan.apply_many(messages, batch_size=max(1, len(messages)))
    for item in parsed:
        if isinstance(item, _NotJson):
            yield _encode_bytes({"error": str(item)})
        else:
            yield _outcome_line(next(outcomes), _fast_dumps if item[1] else _encode_bytes)


def _outcome_line(outcome: Outcome, encode: Callable[[Any], bytes]) -> bytes:
    if outcome.error is not None:
        return _encode_bytes({"error": str(outcome.error)})
    if outcome.skipped:
        return b'{"skipped":true}'
    return encode(outcome.output)
