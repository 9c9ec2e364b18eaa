"""One V8 isolate in a process of its own (`js_host.py`), with hard memory and time bounds.

V8's heap limit and its time limit are checked only where V8 looks (allocation sites,
interrupt checks): a built-in such as `Array.prototype.fill` over a huge array allocates
and runs in C++ past both, and in this process it took the instance past its memory.
In a process of its own, the isolate is capped by the OS (RLIMIT_DATA) and by V8's hard
heap flag, and killed by us at a deadline; when it ends, only its own call fails, and the
next call starts a fresh process. While it runs, `load` replaces its isolate with a new
one (after a limit V8 did stop, or to serve another plan).
"""

from __future__ import annotations

import json
import os
import select
import struct
import subprocess
import sys
import threading
import time
from importlib import resources
from typing import Any

_HOST = str(resources.files("mapper.engine").joinpath("js_host.py"))
# js_host.py's framing (its module doc); the host is not imported, so it is written twice.
_REQUEST = struct.Struct(">cdQI")
_ANSWER = struct.Struct(">cI")
# What a process may commit beyond what it holds once the program is built: the heap
# limit, plus this, for what V8 keeps outside its heap (young generation, parser zones,
# malloc). docs/limits.md names it.
OFF_HEAP_ALLOWANCE_MB = 32
# V8's hard heap cap (past it, V8 aborts the process) above the soft limit, under which a
# call fails cleanly and the isolate lives on.
HARD_HEAP_MARGIN_MB = 8
# How long past its time limit a call may still answer before its process is killed:
# V8 stops a script at an interrupt check, and a long built-in has none.
KILL_GRACE_S = 0.5
# Starting a process and building the program (SES lockdown) on a busy instance.
START_TIMEOUT_S = 30.0


class JsTimeout(Exception):
    """The call ran past its time limit (and its process may have been killed)."""


class JsOutOfMemory(Exception):
    """The call ran past its heap limit or its process past its memory cap."""


class JsFailure(Exception):
    """The program itself failed (not a user's error: those are caught inside it)."""


class JsNotStarted(RuntimeError):
    """The process could not start or build the program (ran out of time or memory)."""


class JsProcess:
    """A V8 isolate in a child process, loaded with `source`; `eval` as mini-racer's."""

    def __init__(self, source: str, heap_mb: int) -> None:
        self.heap_mb = heap_mb
        heap = heap_mb + HARD_HEAP_MARGIN_MB
        allowance = added_memory_bound_mb(heap_mb) * 1024 * 1024
        self._proc: subprocess.Popen[bytes] | None = subprocess.Popen(  # noqa: S603
            [sys.executable, _HOST, str(heap), str(allowance)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,  # V8's report of a fatal OOM: we report it ourselves
        )
        self._lock = threading.Lock()
        try:
            self.load(source)
        except BaseException:
            self.close()
            raise

    @property
    def alive(self) -> bool:
        """Whether the process still runs (it ends when killed or past its memory cap)."""
        return self._proc is not None and self._proc.poll() is None

    def load(self, source: str) -> None:
        """Replace the isolate with a new one that has evaluated `source` (a program)."""
        try:
            self.eval(source, deadline_s=START_TIMEOUT_S, _op=b"n")
        except (JsTimeout, JsOutOfMemory, JsFailure) as exc:
            # The platform's fault, not a message's: the caller raises it (and is retried).
            self.close()
            raise JsNotStarted(f"the JavaScript program did not load: {exc!r}") from None

    @property
    def pid(self) -> int | None:
        """The process id, while it runs (for tests and diagnosis)."""
        return None if self._proc is None else self._proc.pid

    def eval(
        self,
        code: str,
        timeout_sec: float | None = None,
        max_memory: int | None = None,
        deadline_s: float | None = None,
        _op: bytes = b"e",
    ) -> Any:
        """Evaluate code; raise JsTimeout, JsOutOfMemory or JsFailure as mini-racer would."""
        with self._lock:
            if self._proc is None:
                raise JsFailure("the JavaScript process is closed")
            if deadline_s is None:
                deadline_s = (timeout_sec or START_TIMEOUT_S) + KILL_GRACE_S
            body = code.encode("utf-8", "surrogatepass")
            head = _REQUEST.pack(_op, timeout_sec or 0.0, max_memory or 0, len(body))
            try:
                self._send(head + body)
                kind, payload = self._receive(time.monotonic() + deadline_s)
            except _Ended:
                self._end()
                raise JsOutOfMemory() from None
            except _Late:
                self._end()
                raise JsTimeout() from None
        if kind == b"s":
            return payload
        if kind == b"j":
            return json.loads(payload)
        if kind == b"t":
            raise JsTimeout()
        if kind == b"m":
            raise JsOutOfMemory()
        raise JsFailure(payload)

    def close(self) -> None:
        """End the process (after the call in progress, if any)."""
        with self._lock:
            if self._proc is not None:
                self._end()

    def _send(self, data: bytes) -> None:
        assert self._proc is not None and self._proc.stdin is not None
        try:
            self._proc.stdin.write(data)
            self._proc.stdin.flush()
        except (BrokenPipeError, OSError):
            raise _Ended() from None

    def _receive(self, deadline: float) -> tuple[bytes, str]:
        kind, size = _ANSWER.unpack(self._read_exactly(_ANSWER.size, deadline))
        return kind, self._read_exactly(size, deadline).decode("utf-8", "surrogatepass")

    def _read_exactly(self, size: int, deadline: float) -> bytes:
        assert self._proc is not None and self._proc.stdout is not None
        fd = self._proc.stdout.fileno()
        chunks: list[bytes] = []
        while size:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([fd], [], [], left)[0]:
                raise _Late()
            chunk = os.read(fd, min(size, 1 << 20))
            if not chunk:
                raise _Ended()
            chunks.append(chunk)
            size -= len(chunk)
        return b"".join(chunks)

    def _end(self) -> None:
        proc, self._proc = self._proc, None
        if proc is None:
            return
        proc.kill()
        proc.wait()
        for stream in (proc.stdin, proc.stdout):
            if stream is not None:
                try:
                    stream.close()
                except OSError:
                    pass

    def __del__(self) -> None:
        if self._proc is not None and not sys.is_finalizing():
            self._end()


class _Ended(Exception):
    """The process ended (V8 aborted on its memory cap, or it was killed)."""


class _Late(Exception):
    """No answer by the deadline."""


def added_memory_bound_mb(heap_mb: int) -> int:
    """The most resident memory one call can add to its process, in MB (docs/limits.md)."""
    return heap_mb + HARD_HEAP_MARGIN_MB + OFF_HEAP_ALLOWANCE_MB
