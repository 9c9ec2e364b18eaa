"""Structured logs: one JSON object per line on stdout, in Cloud Logging's format.

    setup_logging()                        once per process, at the top of a function's main.py
    @functions_framework.http
    @logged                                each request in its own context, with its trace
    def webhook(request): ...
        bind_log_context(integration_id=...)   from here to the end of the request
    with log_context(run_id=...):              or for a block
        log.info("delivered")

gives, in the cloud (LOG_FORMAT=json):

    {"severity": "INFO", "message": "delivered", "time": "2026-...Z", "logger": "...",
     "logging.googleapis.com/trace": "projects/P/traces/T", "logging.googleapis.com/spanId": "...",
     "integrationId": "...", "runId": "...", "logging.googleapis.com/sourceLocation": {...}}

Cloud Run's logging agent turns each such line into a LogEntry: `severity`, `message`, `time`
and the `logging.googleapis.com/*` keys become the entry's own fields (so the line sits under
its request in the Logs Explorer), the rest lands in `jsonPayload`. Locally (LOG_FORMAT=text,
the default outside Cloud Run) the same records read as plain lines. Every record goes
through `redact.RedactingFilter` first, so secrets the process has resolved never show.
"""

from __future__ import annotations

import functools
import json
import logging
import os
import re
import sys
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, replace
from datetime import datetime, timezone
from typing import Any, TextIO, TypeVar

from .redact import RedactingFilter, redact_headers

TRACE_KEY = "logging.googleapis.com/trace"
SPAN_KEY = "logging.googleapis.com/spanId"
SAMPLED_KEY = "logging.googleapis.com/trace_sampled"
SOURCE_KEY = "logging.googleapis.com/sourceLocation"

# Python level names that are not Cloud Logging severities.
_SEVERITY = {"WARN": "WARNING", "FATAL": "CRITICAL", "NOTSET": "DEFAULT"}
# X-Cloud-Trace-Context: TRACE_ID/SPAN_ID;o=1 (span in decimal); traceparent: 00-TRACE-SPAN-FLAGS.
# An ANSI escape sequence (colours, bold): CSI parameters and one final letter.
_ANSI_CODE = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")
_CLOUD_TRACE = re.compile(r"^([0-9a-fA-F]{32})(?:/([0-9]{1,20}))?(?:;o=([01]))?$")
_TRACEPARENT = re.compile(r"^[0-9a-f]{2}-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$")
# Attributes every LogRecord has; anything else in `extra=` is the caller's.
_RECORD_ATTRS = frozenset(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {
    "message",
    "asctime",
    # Read as the record's ids, not repeated as extra fields.
    "integration_id",
    "integrationId",
    "run_id",
    "runId",
}


@dataclass(frozen=True)
class LogContext:
    """What every record logged inside `log_context` carries."""

    integration_id: str | None = None
    run_id: str | None = None
    trace_id: str | None = None
    span_id: str | None = None
    sampled: bool | None = None
    # Inside a log_context block: only there may bind_log_context change it.
    scoped: bool = False


_EMPTY = LogContext()
_context: ContextVar[LogContext | None] = ContextVar("mapper_log_context", default=None)
_project: str | None = None


def current_context() -> LogContext:
    """The context of the code running now (empty outside `log_context`)."""
    return _context.get() or _EMPTY


@contextmanager
def log_context(
    *,
    integration_id: str | None = None,
    run_id: str | None = None,
    trace_header: str | None = None,
    headers: Mapping[str, str] | None = None,
) -> Iterator[LogContext]:
    """Tag every record logged inside the block; nested blocks add to the outer one.

    `trace_header` is an `X-Cloud-Trace-Context` or `traceparent` value; `headers` (a
    request's) is searched for either when `trace_header` is not given.
    """
    changes = _changes(integration_id, run_id, trace_header or _trace_header_of(headers))
    token = _context.set(replace(current_context(), scoped=True, **changes))
    try:
        yield current_context()
    finally:
        _context.reset(token)


def bind_log_context(*, integration_id: str | None = None, run_id: str | None = None) -> None:
    """Tag the records of the rest of the enclosing `log_context` (or `@logged` request).

    Outside one it raises: the ids would otherwise stay on the thread for the next request.
    """
    ctx = current_context()
    if not ctx.scoped:
        raise RuntimeError("bind_log_context() is only allowed inside log_context()")
    _context.set(replace(ctx, **_changes(integration_id, run_id, None)))


def _changes(integration_id: Any, run_id: Any, trace_header: str | None) -> dict[str, Any]:
    changes: dict[str, Any] = {}
    if integration_id is not None:
        changes["integration_id"] = str(integration_id)
    if run_id is not None:
        changes["run_id"] = str(run_id)
    trace = parse_trace_header(trace_header)
    if trace is not None:
        changes.update(trace_id=trace[0], span_id=trace[1], sampled=trace[2])
    return changes


Handler = TypeVar("Handler", bound=Callable[..., Any])


def logged(handler: Handler) -> Handler:
    """Run each call of a function's entry point in its own context, with the trace header.

    Put it under the functions_framework decorator; it keeps the entry point's name. The
    headers come from the Flask request: the argument's own for an HTTP function, the
    request being served for a CloudEvent one.
    """

    @functools.wraps(handler)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        with log_context(headers=_request_headers(args)):
            return handler(*args, **kwargs)

    return wrapper  # type: ignore[return-value]


def _request_headers(args: tuple[Any, ...]) -> Mapping[str, str] | None:
    headers = getattr(args[0], "headers", None) if args else None
    if isinstance(headers, Mapping) or hasattr(headers, "items"):
        return headers
    try:
        import flask
    except ImportError:  # pragma: no cover - flask comes with functions-framework
        return None
    return flask.request.headers if flask.has_request_context() else None


def parse_trace_header(value: str | None) -> tuple[str, str | None, bool | None] | None:
    """(trace id, span id as 16 hex digits, sampled) from either trace header, or None."""
    if not value:
        return None
    value = value.strip()
    match = _TRACEPARENT.match(value)
    if match:
        trace_id, span_id, flags = match.groups()
        if trace_id == "0" * 32:
            return None
        return trace_id, span_id, bool(int(flags, 16) & 1)
    match = _CLOUD_TRACE.match(value)
    if match:
        trace_id, span, sampled = match.groups()
        # Cloud Logging wants the span as 16 hex digits; this header sends it in decimal.
        span_id = f"{int(span):016x}" if span and int(span) < 2**64 else None
        return trace_id.lower(), span_id, None if sampled is None else sampled == "1"
    return None


def _trace_header_of(headers: Mapping[str, str] | None) -> str | None:
    if not headers:
        return None
    lowered = {str(k).lower(): v for k, v in headers.items()}
    return lowered.get("x-cloud-trace-context") or lowered.get("traceparent")


def headers_for_log(headers: Mapping[str, Any]) -> dict[str, Any]:
    """Request headers fit for a log line: credential-carrying values replaced."""
    return redact_headers(headers)


# --- formatting ---------------------------------------------------------------------------


class CloudLoggingFormatter(logging.Formatter):
    """One JSON object per record, with the keys Cloud Logging lifts into the LogEntry."""

    def __init__(self, project: str | None = None) -> None:
        super().__init__()
        self._project = project

    def format(self, record: logging.LogRecord) -> str:
        """The record as one line of JSON."""
        message = record.getMessage()
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        # The traceback goes into `message`: that is where Error Reporting looks for it.
        if record.exc_text:
            message = f"{message}\n{record.exc_text}"
        if record.stack_info:
            message = f"{message}\n{self.formatStack(record.stack_info)}"
        entry: dict[str, Any] = {
            "severity": _SEVERITY.get(record.levelname, record.levelname),
            "message": message,
            "time": datetime.fromtimestamp(record.created, timezone.utc).isoformat(
                timespec="microseconds"
            ),
            "logger": record.name,
        }
        if record.levelno >= logging.WARNING:
            # Where a problem was logged; an INFO line (a run delivered, once per run) goes
            # without it: Cloud Logging bills each line by the byte (docs/deploy.md, Levers).
            entry[SOURCE_KEY] = {
                "file": record.pathname,
                "line": str(record.lineno),
                "function": record.funcName,
            }
        ctx = current_context()
        integration_id, run_id = _ids(record, ctx)
        if integration_id:
            entry["integrationId"] = integration_id
        if run_id:
            entry["runId"] = run_id
        project = self._project or _project
        if ctx.trace_id and project:
            entry[TRACE_KEY] = f"projects/{project}/traces/{ctx.trace_id}"
            if ctx.span_id:
                entry[SPAN_KEY] = ctx.span_id
            if ctx.sampled is not None:
                entry[SAMPLED_KEY] = ctx.sampled
        for key, value in vars(record).items():
            if key not in _RECORD_ATTRS and key not in entry and not key.startswith("_"):
                entry[key] = _fit_for_log(key, value)
        return json.dumps(entry, ensure_ascii=False, default=str, separators=(",", ":"))


def _fit_for_log(key: str, value: Any) -> Any:
    # A caller passing a request's headers in `extra=` must not leak its Authorization.
    if "headers" in key.lower() and isinstance(value, Mapping):
        return headers_for_log(value)
    return value


class TextFormatter(logging.Formatter):
    """Plain lines for a terminal, with the run's ids when there are some.

    `colour=False` (a stream that is no terminal: a log file, a pipe) removes the ANSI
    colour codes some libraries put in their messages (werkzeug's request lines).
    """

    def __init__(self, colour: bool = True) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s%(mapper_ids)s: %(message)s")
        self._colour = colour

    def format(self, record: logging.LogRecord) -> str:
        """The record as one readable line (plus its traceback)."""
        integration_id, run_id = _ids(record, current_context())
        pairs = (("integration", integration_id), ("run", run_id))
        ids = " ".join(f"{name}={value}" for name, value in pairs if value)
        # A copy, so that other handlers of the same record do not see our attribute.
        shown = logging.makeLogRecord(vars(record))
        shown.mapper_ids = f" [{ids}]" if ids else ""
        line = super().format(shown)
        return line if self._colour else _ANSI_CODE.sub("", line)


def _ids(record: logging.LogRecord, ctx: LogContext) -> tuple[str | None, str | None]:
    """The record's own ids (from `extra=`) or else the context's."""
    return (
        _first(record, "integration_id", "integrationId") or ctx.integration_id,
        _first(record, "run_id", "runId") or ctx.run_id,
    )


def _first(record: logging.LogRecord, *names: str) -> str | None:
    for name in names:
        value = getattr(record, name, None)
        if value:
            return str(value)
    return None


# --- set-up -------------------------------------------------------------------------------


def _is_terminal(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):  # no isatty, or closed
        return False


class _MapperHandler(logging.StreamHandler):
    """The handler `setup_logging` installs; its type marks it as ours."""


def setup_logging(
    environ: Mapping[str, str] | None = None, stream: TextIO | None = None
) -> logging.Handler:
    """Send the root logger's records to stdout, as JSON or text; safe to call again.

    LOG_FORMAT: `json` or `text` (default: json on Cloud Run, where K_SERVICE is set, else
    text). LOG_LEVEL: default INFO. GOOGLE_CLOUD_PROJECT names the project in trace ids.
    A second call replaces the handler of the first, so tests can re-point `stream`.
    """
    global _project
    env = os.environ if environ is None else environ
    fmt = (env.get("LOG_FORMAT") or ("json" if env.get("K_SERVICE") else "text")).lower()
    if fmt not in ("json", "text"):
        raise ValueError(f"LOG_FORMAT must be json or text, not {fmt!r}")
    level = (env.get("LOG_LEVEL") or "INFO").upper()
    _project = env.get("GOOGLE_CLOUD_PROJECT") or None
    root = logging.getLogger()
    for old in [h for h in root.handlers if isinstance(h, _MapperHandler)]:
        root.removeHandler(old)
        old.close()
    out = stream if stream is not None else sys.stdout
    handler = _MapperHandler(out)
    text = TextFormatter(colour=_is_terminal(out))
    handler.setFormatter(CloudLoggingFormatter() if fmt == "json" else text)
    handler.addFilter(RedactingFilter())
    root.addHandler(handler)
    root.setLevel(level)
    return handler
