"""mapper.logs: Cloud Logging's JSON lines, the request context, and nothing secret in them."""

from __future__ import annotations

import io
import json
import logging
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from mapper import redact
from mapper.logs import (
    SAMPLED_KEY,
    SOURCE_KEY,
    SPAN_KEY,
    TRACE_KEY,
    bind_log_context,
    current_context,
    headers_for_log,
    log_context,
    logged,
    parse_trace_header,
    setup_logging,
)

TRACE = "105445aa7843bc8bf206b12000100000"
PROJECT = "my-project"
CLOUD = {"LOG_FORMAT": "json", "GOOGLE_CLOUD_PROJECT": PROJECT}

log = logging.getLogger("mapper.test_logs")


@pytest.fixture(autouse=True)
def _root_logger() -> Iterator[None]:
    """Leave the root logger as the test found it."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    for handler in list(root.handlers):
        if handler not in handlers:
            root.removeHandler(handler)
            handler.close()
    root.setLevel(level)


def capture(environ: dict[str, str] | None = None) -> io.StringIO:
    out = io.StringIO()
    setup_logging(CLOUD if environ is None else environ, stream=out)
    return out


def lines(out: io.StringIO) -> list[dict[str, Any]]:
    return [json.loads(line) for line in out.getvalue().splitlines()]


def test_one_json_object_per_line_with_cloud_logging_fields() -> None:
    out = capture()
    log.info("queued %s", "run-1")
    log.warning("slow target")
    [info, warning] = lines(out)
    assert info["severity"] == "INFO"
    assert info["message"] == "queued run-1"
    assert info["logger"] == "mapper.test_logs"
    assert info["time"].endswith("+00:00")
    # Where it was logged, on a warning or worse only: an INFO line is billed by the byte.
    assert SOURCE_KEY not in info
    assert warning[SOURCE_KEY]["function"] == (
        "test_one_json_object_per_line_with_cloud_logging_fields"
    )
    assert warning["severity"] == "WARNING"
    assert out.getvalue().startswith('{"severity":"INFO","message":"queued run-1",')
    assert TRACE_KEY not in info  # no request, no trace


def test_context_tags_records_with_ids_and_trace() -> None:
    out = capture()
    headers = {"X-Cloud-Trace-Context": f"{TRACE}/1;o=1", "Content-Type": "application/json"}
    with log_context(integration_id="int-1", run_id="int-1.abc", headers=headers):
        log.info("delivered")
    log.info("after")
    inside, after = lines(out)
    assert inside["integrationId"] == "int-1"
    assert inside["runId"] == "int-1.abc"
    assert inside[TRACE_KEY] == f"projects/{PROJECT}/traces/{TRACE}"
    assert inside[SPAN_KEY] == "0000000000000001"
    assert inside[SAMPLED_KEY] is True
    assert "integrationId" not in after and TRACE_KEY not in after


def test_nested_context_adds_to_the_outer_one() -> None:
    out = capture()
    with log_context(trace_header=f"00-{TRACE}-00f067aa0ba902b7-01"):
        with log_context(integration_id="int-2"):
            with log_context(run_id="int-2.x"):
                log.info("inner")
            log.info("middle")
        assert current_context().integration_id is None
    inner, middle = lines(out)
    assert (inner["integrationId"], inner["runId"]) == ("int-2", "int-2.x")
    assert inner[SPAN_KEY] == "00f067aa0ba902b7"
    assert middle["integrationId"] == "int-2" and "runId" not in middle
    assert middle[TRACE_KEY].endswith(TRACE)


def test_extra_ids_win_over_the_context_and_other_extras_are_kept() -> None:
    out = capture()
    with log_context(integration_id="ctx", run_id="ctx-run"):
        log.info("one", extra={"run_id": "own-run", "attempt": 3})
    [line] = lines(out)
    assert line["integrationId"] == "ctx"
    assert line["runId"] == "own-run"
    assert line["attempt"] == 3
    assert "run_id" not in line


def test_exception_traceback_is_in_the_message_for_error_reporting() -> None:
    out = capture()
    try:
        raise RuntimeError("target down")
    except RuntimeError:
        log.exception("delivery failed")
    [line] = lines(out)
    assert line["severity"] == "ERROR"
    assert line["message"].startswith("delivery failed\nTraceback")
    assert "RuntimeError: target down" in line["message"]


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        (f"{TRACE}/123;o=0", (TRACE, f"{123:016x}", False)),
        (f"{TRACE}/456", (TRACE, f"{456:016x}", None)),
        (TRACE, (TRACE, None, None)),
        (f"00-{TRACE}-00f067aa0ba902b7-00", (TRACE, "00f067aa0ba902b7", False)),
        ("00-" + "0" * 32 + "-00f067aa0ba902b7-01", None),
        ("not a trace", None),
        ("", None),
        (None, None),
    ],
)
def test_parse_trace_header(header: str | None, expected: Any) -> None:
    assert parse_trace_header(header) == expected


def test_text_format_for_a_terminal() -> None:
    out = capture({"LOG_FORMAT": "text"})
    with log_context(integration_id="int-3", run_id="r-3"):
        log.info("hello")
    log.info("bare")
    first, second = out.getvalue().splitlines()
    assert first.endswith("INFO mapper.test_logs [integration=int-3 run=r-3]: hello")
    assert second.endswith("INFO mapper.test_logs: bare")


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_colour_codes_are_removed_unless_the_stream_is_a_terminal() -> None:
    # werkzeug colours its request lines whatever the stream is.
    coloured = "\x1b[32m\"POST /api/x HTTP/1.1\" 200 -\x1b[0m \x1b[1;31mbad\x1b[0m"
    to_file = capture({"LOG_FORMAT": "text"})
    log.info(coloured)
    assert to_file.getvalue().rstrip().endswith(': "POST /api/x HTTP/1.1" 200 - bad')
    assert "\x1b" not in to_file.getvalue()
    terminal = _Terminal()
    setup_logging({"LOG_FORMAT": "text"}, stream=terminal)
    log.info(coloured)
    assert terminal.getvalue().rstrip().endswith(coloured)


def test_format_defaults_to_json_on_cloud_run_only() -> None:
    out = capture({"K_SERVICE": "mapper-worker"})
    log.info("x")
    assert json.loads(out.getvalue())["message"] == "x"
    out = capture({})
    log.info("y")
    assert out.getvalue().rstrip().endswith("INFO mapper.test_logs: y")


def test_setup_is_idempotent_one_handler_and_level() -> None:
    first = io.StringIO()
    setup_logging({**CLOUD, "LOG_LEVEL": "WARNING"}, stream=first)
    second = capture()
    log.info("once")
    assert first.getvalue() == ""
    assert len(lines(second)) == 1
    assert logging.getLogger().level == logging.INFO


def test_unknown_format_is_refused() -> None:
    with pytest.raises(ValueError, match="LOG_FORMAT"):
        setup_logging({"LOG_FORMAT": "xml"})


def test_registered_secrets_never_reach_the_output() -> None:
    out = capture()
    secret = "s3cr3t-value-for-logs-test"
    redact.register_secret(secret)
    log.error("calling with %s", secret)
    try:
        raise ValueError(f"bad token {secret}")
    except ValueError:
        log.exception("failed")
    text = out.getvalue()
    assert secret not in text
    assert text.count(redact.REDACTED) >= 2


def test_credential_headers_are_redacted_in_logs() -> None:
    headers = {
        "Authorization": "Bearer abc.def.ghi",
        "X-Goog-Signature": "deadbeef",
        "webhook-signature": "v1,xyz",
        "Cookie": "session=1",
        "Content-Type": "application/json",
    }
    assert headers_for_log(headers) == {
        "Authorization": redact.REDACTED,
        "X-Goog-Signature": redact.REDACTED,
        "webhook-signature": redact.REDACTED,
        "Cookie": redact.REDACTED,
        "Content-Type": "application/json",
    }
    out = capture()
    log.info("request", extra={"headers": headers})
    [line] = lines(out)
    assert line["headers"]["Content-Type"] == "application/json"
    for value in ("abc.def.ghi", "deadbeef", "v1,xyz", "session=1"):
        assert value not in json.dumps(line)


def test_bind_tags_the_rest_of_the_enclosing_context() -> None:
    out = capture()
    with log_context(trace_header=TRACE):
        log.info("before")
        bind_log_context(integration_id="int-4")
        bind_log_context(run_id="int-4.r")
        log.info("after")
    log.info("outside")
    before, after, outside = lines(out)
    assert "integrationId" not in before
    assert (after["integrationId"], after["runId"]) == ("int-4", "int-4.r")
    assert "integrationId" not in outside and TRACE_KEY not in outside


def test_bind_outside_a_context_is_refused() -> None:
    # It would stay on the thread and tag the next request's records.
    with pytest.raises(RuntimeError, match="inside log_context"):
        bind_log_context(run_id="stray")


def test_logged_entry_point_runs_in_its_own_context_under_functions_framework(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import functions_framework

    # functions-framework records the target in os.environ: leave it as it was.
    monkeypatch.setattr(os, "environ", dict(os.environ))
    main = tmp_path / "logged_main.py"
    main.write_text(
        "import logging\n"
        "import functions_framework\n"
        "from mapper.logs import bind_log_context, logged\n"
        "@functions_framework.http\n"
        "@logged\n"
        "def hook(request):\n"
        "    bind_log_context(integration_id=request.args['i'])\n"
        "    logging.getLogger('hook').info('got it')\n"
        "    return 'ok'\n"
    )
    out = capture()
    client = functions_framework.create_app("hook", str(main), "http").test_client()
    for integration in ("a", "b"):
        response = client.post(
            f"/?i={integration}", headers={"X-Cloud-Trace-Context": f"{TRACE}/7;o=1"}
        )
        assert response.status_code == 200
    first, second = lines(out)
    assert (first["integrationId"], second["integrationId"]) == ("a", "b")
    assert first[TRACE_KEY] == f"projects/{PROJECT}/traces/{TRACE}"
    assert current_context().integration_id is None


def test_logged_cloudevent_entry_point_reads_the_flask_request() -> None:
    import flask

    out = capture()

    @logged
    def worker(event: object) -> str:
        log.info("processing")
        return worker.__name__

    app = flask.Flask("t")
    with app.test_request_context("/", headers={"traceparent": f"00-{TRACE}-00f067aa0ba902b7-01"}):
        assert worker(object()) == "worker"
    [line] = lines(out)
    assert line[TRACE_KEY].endswith(TRACE)
