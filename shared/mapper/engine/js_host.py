"""The JavaScript process: one V8 isolate, driven over stdin/stdout by `mapper.engine.js_process`.

Run as a script (`python js_host.py HEAP_MB ALLOWANCE_BYTES`), never imported by the
engine: it imports nothing of the platform, so it starts in a fraction of a second.

The first request builds a program (SES and runtime.js); then the process caps its own
data segment (RLIMIT_DATA, which counts malloc and every private writable mapping, V8's
heap pages among them) at what it holds then plus ALLOWANCE_BYTES, and V8's own heap is
capped at HEAP_MB by flag. A script that allocates past either cap makes V8 abort this
process: the parent sees it end and reports the memory limit. docs/limits.md gives the
numbers.

Framing (`REQUEST`, `ANSWER` below, the same in js_process.py): a request is its header
(what to do: `e` evaluate in the current isolate, `n` evaluate in a new one that replaces
it; the time limit in seconds, 0 for none; the heap limit in bytes, 0 for none; the code's
length) and the code as UTF-8; an answer is its header (a kind byte, the payload's
length) and the payload: a string result as UTF-8 (`s`), any other result as JSON (`j`),
or the error's message (`t` time limit, `m` memory limit, `e` any other).
"""

from __future__ import annotations

import json
import resource
import struct
import sys
from typing import BinaryIO

REQUEST = struct.Struct(">cdQI")
ANSWER = struct.Struct(">cI")


def _read(stream: BinaryIO) -> tuple[bytes, float, int, str] | None:
    head = stream.read(REQUEST.size)
    if len(head) < REQUEST.size:
        return None
    op, timeout, memory, size = REQUEST.unpack(head)
    return op, timeout, memory, stream.read(size).decode("utf-8")


def _write(stream: BinaryIO, kind: bytes, payload: str) -> None:
    body = payload.encode("utf-8", "surrogatepass")
    stream.write(ANSWER.pack(kind, len(body)) + body)
    stream.flush()


def _committed_bytes() -> int:
    with open("/proc/self/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("VmData:"):
                return int(line.split()[1]) * 1024
    raise RuntimeError("no VmData in /proc/self/status")


def main() -> None:
    """Start V8 capped, build the program, answer eval requests until stdin closes."""
    heap_mb, allowance = int(sys.argv[1]), int(sys.argv[2])
    from py_mini_racer import (
        JSEvalException,
        JSOOMException,
        JSTimeoutException,
        MiniRacer,
        init_mini_racer,
    )

    init_mini_racer(flags=("--single-threaded", f"--max-heap-size={heap_mb}"))
    ctx = MiniRacer()
    requests, answers = sys.stdin.buffer, sys.stdout.buffer
    capped = False
    while (request := _read(requests)) is not None:
        op, timeout, memory, code = request
        if op == b"n":
            ctx.close()
            ctx = MiniRacer()
        try:
            result = ctx.eval(code, timeout_sec=timeout or None, max_memory=memory or None)
            if isinstance(result, str):
                kind, payload = b"s", result
            else:
                plain = result if isinstance(result, (int, float, bool)) else None
                kind, payload = b"j", json.dumps(plain)
        except JSTimeoutException:
            kind, payload = b"t", ""
        except JSOOMException:
            kind, payload = b"m", ""
        except JSEvalException as exc:
            kind, payload = b"e", str(exc)
        if not capped:
            limit = _committed_bytes() + allowance
            resource.setrlimit(resource.RLIMIT_DATA, (limit, limit))
            capped = True
        _write(answers, kind, payload)


if __name__ == "__main__":
    main()
