"""V8 (mini-racer) with limits: JSON in, JSON out, nothing of the host.

One `Sandbox` holds one compiled integration program (runtime.js plus the user's
condition and custom transforms) in its own V8 isolate, in a process of its own
(`js_process.py`: the OS and V8 bound its memory, and it is killed at a deadline).
`run_batch` makes one call for a whole batch of messages. Limits per call: a time limit
(wall-clock, so an upper bound on CPU time) scaled by the batch size, and a heap limit.
A batch that breaks a limit is retried one message at a time, so that only the guilty
message fails; after a broken limit the isolate (and its process) is thrown away and
rebuilt, so the next message starts clean.
"""

from __future__ import annotations

import atexit
import json
import sys
import threading
import time
import weakref
from dataclasses import dataclass
from importlib import resources
from typing import Any

from ..errors import (
    JsonataError,
    OutputTooLarge,
    SandboxError,
    SandboxMemoryError,
    SandboxTimeout,
    TransformError,
)
from .js_process import JsFailure, JsNotStarted, JsOutOfMemory, JsProcess, JsTimeout
from .transforms import javascript_builtins

_ENGINE = resources.files("mapper.engine")
# The built-in transforms' JavaScript sides (one per module of mapper.engine.transforms)
# take the place of __BUILTINS__; they are our code, never the user's.
_RUNTIME_JS = (
    _ENGINE.joinpath("runtime.js")
    .read_text(encoding="utf-8")
    .replace("__BUILTINS__", javascript_builtins())
)
# SES (Hardened JavaScript): fetched from npm at setup and deploy, never committed
# (scripts/fetch_js.py, pinned in scripts/js-packages.json); runtime.js calls its
# lockdown() once per isolate.
SES_FILE = "ses-lockdown.umd.min.js"


def _fetched(name: str) -> str:
    """A file scripts/fetch_js.py put in mapper/engine/vendor/, or an error naming the fix."""
    path = _ENGINE.joinpath("vendor", name)
    if not path.is_file():
        raise FileNotFoundError(
            f"mapper/engine/vendor/{name} is missing: it is fetched, not committed."
            " Run `make .venv/.installed` (or `python3 scripts/fetch_js.py`) first."
        )
    return path.read_text(encoding="utf-8")


_SES_JS = _fetched(SES_FILE)
# JSONata 2.x, the reference implementation (docs/mapping.md, "JSONata"), fetched the same
# way; put into runtime.js only for a spec that uses it, as a function of the Promise
# intrinsic returning the UMD build's module.exports.
JSONATA_FILE = "jsonata.min.js"
_JSONATA_FACTORY = (
    "(function (Promise) {\nconst module = { exports: {} }; const exports = module.exports;\n"
    + _fetched(JSONATA_FILE)
    + "\n;return module.exports;\n})"
)


def uses_jsonata(spec: dict[str, Any]) -> bool:
    """Whether a spec holds a JSONata expression (the integration's, or a transform's)."""
    return spec.get("jsonata") is not None or any(
        step.get("type") == "jsonata" for chain in spec["chains"] for step in chain["steps"]
    )


@dataclass(frozen=True)
class JsOutcome:
    """What the program said about one message: skipped, values, or an error."""

    skipped: bool = False
    values: list[Any] | None = None
    error: TransformError | None = None


# Why a message never reached JavaScript, or its result never came back.
NOT_JSON = "the message holds NaN or Infinity, which JSON cannot carry"
TOO_DEEP = "nested too deeply to carry as JSON (Python's limit is about 1,000 levels)"


def init_v8() -> None:
    """Start V8 in this process; call it from the main thread, before any worker thread uses JS.

    mini-racer's V8 platform belongs to the thread that starts it: started from a thread
    that later ends (a request thread), the next isolate crashes the process. Entry points
    call this at import, which functions-framework does on the main thread.
    """
    global _v8_started
    if threading.current_thread() is not threading.main_thread():
        if _v8_started:
            return
        raise SandboxError("", "V8 was not started: call mapper.sandbox.init_v8() at start-up")
    from py_mini_racer import init_mini_racer

    init_mini_racer(ignore_duplicate_init=True)
    _v8_started = True


_v8_started = False
_build_lock = threading.Lock()
# Every sandbox with an isolate, closed at exit: an isolate still open when the interpreter
# finalizes is closed by mini-racer's own __del__, which can wait forever on V8's threads
# (seen: `python -m mapper validate` hung at exit in 10 of 30 runs on a busy machine).
_open_sandboxes: weakref.WeakSet[Sandbox] = weakref.WeakSet()
# JavaScript processes alive at once in one platform process (each holds about 32 MB of
# its own at rest): past it, the least recently used idle one is ended, and rebuilt when
# its integration next runs. docs/limits.md names it.
MAX_JS_PROCESSES = 8
# Processes of closed sandboxes (a plan evicted, or replaced by a new version) kept to
# serve the next sandbox with the same heap limit, in a new isolate: starting a process
# costs more than building an isolate. Counted in MAX_JS_PROCESSES.
MAX_SPARE_PROCESSES = 2
_spares_lock = threading.Lock()
_spares: list[JsProcess] = []
# JavaScript calls in flight at once in one platform process, whatever its request
# concurrency: a process in a call cannot be ended to make room, so without this bound a
# worker serving more requests than MAX_JS_PROCESSES, each for another integration, would
# start one process per request. Further calls wait for one to end (V8 would share the
# instance's CPU between them anyway). Taken after the sandbox's own lock, never before.
_calls = threading.BoundedSemaphore(MAX_JS_PROCESSES)


class Sandbox:
    """One integration's JavaScript, compiled once, called once per batch."""

    def __init__(self, spec: dict[str, Any], timeout_ms: int, memory_mb: int) -> None:
        spec_json = json.dumps(spec)
        # Evaluation is async with JSONata: two calls per batch (`__start`, `__collect`).
        self._async = uses_jsonata(spec)
        # JSONata first: the spec (the user's text) must never meet a placeholder.
        runtime = _RUNTIME_JS.replace("__JSONATA__", _JSONATA_FACTORY if self._async else "null")
        self._source = _SES_JS + "\n;\n" + runtime.replace("__SPEC__", spec_json)
        self._timeout_s = timeout_ms / 1000
        self._timeout_ms = timeout_ms
        self._memory_bytes = memory_mb * 1024 * 1024
        self._memory_mb = memory_mb
        self._ctx: JsProcess | None = None
        # After a broken limit the isolate is replaced before the next call: in the same
        # process when it still runs, else in a new one.
        self._stale = False
        self._last_used = 0.0
        # One call at a time: a call that breaks a limit closes the isolate, and must not
        # do so under another thread's call (V8 runs one call at a time anyway).
        self._lock = threading.RLock()
        # Only code that can mention async work pays for the after-call probe.
        self._may_defer = any(word in spec_json for word in ("async", "await", "import"))

    def compile_errors(self) -> list[tuple[str, str]]:
        """Every condition, custom transform or JSONata expression that does not parse:
        (where, message), a JSONata message naming its code and position."""
        with self._lock, _calls:
            ctx = self._context()
            errors = json.loads(ctx.eval("__compileErrors()"))
        return [
            (e["where"], JsonataError("", e["message"], e["code"], e["position"]).detail)
            if "position" in e
            else (e["where"], e["message"])
            for e in errors
        ]

    def run_batch(self, messages: list[dict[str, Any]]) -> list[JsOutcome]:
        """Run the program over messages (each {d, a, h, v, c}); one outcome per message."""
        if not messages:
            return []
        # Each message as JSON on its own, so that one JSON cannot carry (NaN, Infinity,
        # nested past Python's recursion limit) fails alone and the others still run.
        outcomes: list[JsOutcome | None] = [None] * len(messages)
        encoded: list[str] = []
        runnable: list[int] = []
        for i, message in enumerate(messages):
            try:
                encoded.append(json.dumps(message, separators=(",", ":"), allow_nan=False))
                runnable.append(i)
            except ValueError:
                outcomes[i] = JsOutcome(error=TransformError("", NOT_JSON))
            except RecursionError:
                outcomes[i] = JsOutcome(error=TransformError("", f"the message is {TOO_DEEP}"))
        if encoded:
            with self._lock, _calls:
                for i, outcome in zip(runnable, self._run_batch(encoded), strict=True):
                    outcomes[i] = outcome
        return [o for o in outcomes if o is not None]

    def _run_batch(self, encoded: list[str]) -> list[JsOutcome]:
        self._context()  # not starting V8 is the platform's fault, not a message's: raise
        try:
            return self._call(encoded, self._timeout_s * len(encoded))
        except SandboxError as exc:
            if len(encoded) == 1:
                return [JsOutcome(error=exc)]
        # The batch broke a limit (or the runner): again one by one, so only the guilty fails.
        outcomes: list[JsOutcome] = []
        for message in encoded:
            try:
                outcomes.extend(self._call([message], self._timeout_s))
            except SandboxError as exc:
                outcomes.append(JsOutcome(error=exc))
        return outcomes

    def close(self) -> None:
        """Free the isolate (after the call in progress, if any); its process may serve
        another sandbox, in a new isolate."""
        with self._lock:
            ctx, self._ctx = self._ctx, None
        if ctx is not None:
            _spare(ctx)

    def _end(self) -> None:
        with self._lock:
            ctx, self._ctx = self._ctx, None
        if ctx is not None:
            ctx.close()

    def _discard(self) -> None:
        # After a broken limit: a new isolate before the next call.
        if self._ctx is not None and self._ctx.alive:
            self._stale = True
        else:
            self._end()

    def _context(self) -> JsProcess:
        if self._ctx is None or self._stale:
            # One isolate built at a time per process: loading SES and lockdown() take
            # about 100 ms of CPU, and builds in parallel (a cold start, versions replacing
            # each other) would take every core from the calls running under time limits.
            with _build_lock:
                reuse = self._ctx or _take_spare(self._memory_mb)
                self._ctx, self._stale = None, False
                if reuse is not None:
                    try:
                        reuse.load(self._source)
                        self._ctx = reuse
                    except JsNotStarted:
                        pass  # it ended itself; start another
                if self._ctx is None:
                    _make_room()
                    self._ctx = JsProcess(self._source, self._memory_mb)
            _open_sandboxes.add(self)
        self._last_used = time.monotonic()
        return self._ctx

    def _call(self, encoded: list[str], timeout_s: float) -> list[JsOutcome]:
        ctx = self._context()
        # Passed as a string literal and parsed with JSON.parse inside: faster for V8
        # than parsing the same data as JavaScript source.
        literal = json.dumps("[" + ",".join(encoded) + "]")
        try:
            if self._async:
                raw = self._run_async(ctx, literal, timeout_s)
            else:
                raw = ctx.eval(
                    f"__run({literal})", timeout_sec=timeout_s, max_memory=self._memory_bytes
                )
        except JsTimeout:
            where = self._where_after_failure()
            self._discard()
            raise SandboxTimeout(
                where, f"ran past the time limit of {self._timeout_ms} ms"
            ) from None
        except JsOutOfMemory:
            where = self._where_after_failure()
            self._discard()
            raise SandboxMemoryError(
                where, f"ran past the memory limit of {self._memory_mb} MB"
            ) from None
        except JsFailure as exc:
            # Only our own runner reaches here (user errors are caught inside it).
            self._discard()
            raise SandboxError("", f"sandbox failure: {str(exc).splitlines()[0]}") from None
        if self._may_defer:
            self._probe_for_deferred_work(timeout_s)
        return [_outcome(r) for r in json.loads(raw)]

    def _run_async(self, ctx: JsProcess, literal: str, timeout_s: float) -> str:
        # The promise jobs of `__start` run before its call returns, under its limits;
        # results still missing after it mean work that waits on nothing that can come.
        started = time.monotonic()
        ctx.eval(f"__start({literal})", timeout_sec=timeout_s, max_memory=self._memory_bytes)
        left = max(timeout_s - (time.monotonic() - started), 0.05)
        raw = ctx.eval("__collect()", timeout_sec=left, max_memory=self._memory_bytes)
        if not isinstance(raw, str):
            raise JsFailure("the JSONata evaluation did not finish within its call")
        return raw

    def _probe_for_deferred_work(self, timeout_s: float) -> None:
        # Async functions queue promise jobs that V8 runs after our call has returned;
        # a second, empty call must get through within the limit, or that work is
        # still running: stop it, and fail the batch that started it.
        assert self._ctx is not None
        try:
            self._ctx.eval("0", timeout_sec=max(timeout_s, 0.05))
        except JsTimeout:
            self._discard()
            raise SandboxTimeout(
                "",
                "async work kept running after the call returned; "
                "async functions and await are not supported",
            ) from None

    def _where_after_failure(self) -> str:
        # Nothing to ask when the process was ended (killed at the deadline, or aborted
        # past its memory cap): the message then names no condition or transform.
        try:
            assert self._ctx is not None
            return str(self._ctx.eval("__where()", timeout_sec=self._timeout_s))
        except Exception:  # noqa: BLE001 - only a better message is at stake
            return ""

    def __del__(self) -> None:
        if sys.is_finalizing():
            return  # closing an isolate during interpreter shutdown can hang; the OS frees it
        try:
            # Ended, not kept as a spare: a collection can run while this thread holds
            # the spares' lock.
            self._end()
        except Exception:  # noqa: BLE001, S110 - interpreter shutdown
            pass


def _spare(ctx: JsProcess) -> None:
    """Keep a closed sandbox's process for the next sandbox, or end it."""
    with _spares_lock:
        if ctx.alive and len(_spares) < MAX_SPARE_PROCESSES:
            _spares.append(ctx)
            return
    ctx.close()


def _take_spare(heap_mb: int) -> JsProcess | None:
    with _spares_lock:
        for i, ctx in enumerate(_spares):
            if ctx.heap_mb == heap_mb:  # V8's heap cap is the process's, set at its start
                return _spares.pop(i)
    return None


def _make_room() -> None:
    """End spare, then least recently used idle, JavaScript processes while too many run."""
    alive = sorted((s for s in _open_sandboxes if s._ctx is not None), key=lambda s: s._last_used)
    with _spares_lock:
        cut = max(0, len(alive) + len(_spares) - MAX_JS_PROCESSES + 1)
        spares, _spares[:] = _spares[:cut], _spares[cut:]
    for ctx in spares:
        ctx.close()
    excess = len(alive) + len(_spares) - MAX_JS_PROCESSES + 1
    for sandbox in alive:  # least recently used first
        if excess <= 0:
            break
        if sandbox._lock.acquire(blocking=False):  # one in a call is not idle: let it be
            try:
                if sandbox._ctx is not None:
                    sandbox._end()
                    excess -= 1
            finally:
                sandbox._lock.release()


def _outcome(raw: dict[str, Any]) -> JsOutcome:
    if "s" in raw:
        return JsOutcome(skipped=True)
    if "e" in raw:
        if raw.get("k") == "jsonata":
            return JsOutcome(error=JsonataError(raw["e"], raw["m"], raw.get("c"), raw.get("p")))
        kind = OutputTooLarge if raw.get("k") == "output" else SandboxError
        return JsOutcome(error=kind(raw["e"], raw["m"]))
    try:
        return JsOutcome(values=json.loads(raw["j"]))
    except RecursionError:
        return JsOutcome(error=SandboxError("", f"returned a value {TOO_DEEP}"))


# --- syntax, checked without running anything ----------------------------------------------


@dataclass(frozen=True)
class JsSyntaxError:
    """Why code does not parse, and where in the user's own text (1-based), when known."""

    message: str
    line: int | None = None
    column: int | None = None

    def __str__(self) -> str:
        if self.line is None:
            return self.message
        column = f", column {self.column}" if self.column is not None else ""
        return f"{self.message} (line {self.line}{column})"


# The parameters and bodies runtime.js compiles, and scripts that parse the same code at
# the same place, line 2 on; the script throws before anything in it could run.
_PARAMS = {"condition": "data, attributes, headers", "custom": "value, data, attributes, headers"}
_BODY = {"condition": '"use strict";\nreturn ({}\n);\n', "custom": '"use strict";\n{}\n'}
_LOCATOR = {
    "condition": 'throw 0; (function (data, attributes, headers) {{"use strict"; return (\n'
    "{}\n);\n}})",
    "custom": 'throw 0; (function (value, data, attributes, headers) {{"use strict";\n{}\n}})',
}
_CHECK_JS = """(items) => JSON.stringify(items.map(([params, body]) => {
  try { new Function(params, body); return null; }
  catch (e) { return String(e && e.name) + ": " + String(e && e.message); }
}))"""
_CHECK_TIMEOUT_S = 5.0
_CHECK_MEMORY_BYTES = 256 * 1024 * 1024
_checker_lock = threading.Lock()
_checker: Any = None


def syntax_errors(items: list[tuple[str, str]]) -> list[JsSyntaxError | None]:
    """For each (kind, code), kind "condition" or "custom": why it does not compile, or None.

    The verdict is V8's, compiling exactly what runtime.js compiles, with `new Function`
    (which runs nothing). Code that fails is parsed once more as a script, in an isolate
    of its own, only to learn the line and column V8 reports.
    """
    if not items:
        return []
    from py_mini_racer import JSTimeoutException

    pairs = [[_PARAMS[kind], _BODY[kind].format(code)] for kind, code in items]
    global _checker
    with _checker_lock:
        try:
            if _checker is None:
                from py_mini_racer import MiniRacer

                init_v8()
                _checker = MiniRacer()
                _checker.eval(f"globalThis.__check = {_CHECK_JS}")
            raw = _checker.eval(
                f"__check({json.dumps(pairs)})",
                timeout_sec=_CHECK_TIMEOUT_S,
                max_memory=_CHECK_MEMORY_BYTES,
            )
        except JSTimeoutException:
            _checker.close()
            _checker = None
            late = JsSyntaxError(f"could not be checked within {_CHECK_TIMEOUT_S:g} s")
            return [late] * len(items)
    verdicts: list[str | None] = json.loads(raw)
    failed = [i for i, v in enumerate(verdicts) if v is not None]
    located = _locate([items[i] for i in failed]) if failed else []
    out: list[JsSyntaxError | None] = [None] * len(items)
    for i, where in zip(failed, located, strict=True):
        out[i] = where or JsSyntaxError(str(verdicts[i]))
    return out


_JSONATA_CHECK_JS = """(function (jsonata) {
  return (items) => JSON.stringify(items.map((x) => {
    try { jsonata(x); return null; }
    catch (e) { return { message: String(e && e.message), code: e && e.code,
                         position: e && e.position }; }
  }));
})(%s(Promise))"""


def jsonata_syntax_errors(expressions: list[str]) -> list[JsonataError | None]:
    """For each JSONata expression: why it does not compile (code, position), or None.

    JSONata's own parser, the one the sandbox compiles with, in the checker's isolate
    (parsing runs nothing of the expression).
    """
    if not expressions:
        return []
    from py_mini_racer import JSTimeoutException

    global _checker
    with _checker_lock:
        try:
            if _checker is None:
                from py_mini_racer import MiniRacer

                init_v8()
                _checker = MiniRacer()
                _checker.eval(f"globalThis.__check = {_CHECK_JS}")
            if not _checker.eval("typeof globalThis.__jsonataCheck === 'function'"):
                _checker.eval(f"globalThis.__jsonataCheck = {_JSONATA_CHECK_JS % _JSONATA_FACTORY}")
            raw = _checker.eval(
                f"__jsonataCheck({json.dumps(expressions)})",
                timeout_sec=_CHECK_TIMEOUT_S,
                max_memory=_CHECK_MEMORY_BYTES,
            )
        except JSTimeoutException:
            _checker.close()
            _checker = None
            late = f"could not be checked within {_CHECK_TIMEOUT_S:g} s"
            return [JsonataError("", late, None, None)] * len(expressions)
    return [
        None if v is None else JsonataError("", v["message"], v.get("code"), v.get("position"))
        for v in json.loads(raw)
    ]


@atexit.register
def close_isolates() -> None:
    """Close every isolate this process still holds (run at exit, before finalization)."""
    global _checker
    for sandbox in list(_open_sandboxes):
        sandbox._end()
    with _spares_lock:
        spares, _spares[:] = list(_spares), []
    for ctx in spares:
        ctx.close()
    with _checker_lock:
        if _checker is not None:
            _checker.close()
            _checker = None


def _locate(items: list[tuple[str, str]]) -> list[JsSyntaxError | None]:
    # A fresh isolate: a script can declare globals before it throws, and must not leave
    # them where the next check would see them.
    from py_mini_racer import JSParseException, MiniRacer

    found: list[JsSyntaxError | None] = []
    ctx = MiniRacer()
    try:
        for kind, code in items:
            try:
                ctx.eval(_LOCATOR[kind].format(code), timeout_sec=_CHECK_TIMEOUT_S)
            except JSParseException as exc:
                found.append(_position(str(exc), code))
            except Exception:  # noqa: BLE001 - the script parsed: no position to give
                found.append(None)
            else:
                found.append(None)
    finally:
        ctx.close()
    return found


def _position(report: str, code: str) -> JsSyntaxError | None:
    # mini-racer: "<anonymous>:LINE: SyntaxError: ...", the source line, a caret line.
    lines = report.split("\n")
    head = lines[0].split(": ", 1)
    if len(head) != 2 or not head[0].startswith("<anonymous>:"):
        return None
    try:
        line = int(head[0].rsplit(":", 1)[1]) - 1  # the user's code starts on line 2
    except ValueError:
        return None
    message = head[1]
    caret = lines[2].find("^") if len(lines) > 2 else -1
    column = caret + 1 if caret >= 0 else None
    user_lines = code.split("\n")
    if line < 1:
        return None
    if line > len(user_lines):
        # Found in our closing lines (a `)` the user never wrote): the code ends too soon.
        end = len(user_lines[-1]) + 1
        return JsSyntaxError("SyntaxError: Unexpected end of input", len(user_lines), end)
    return JsSyntaxError(message, line, column)
