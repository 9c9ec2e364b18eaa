"""Redaction: header names, known secret values, URL credentials, log records."""

from __future__ import annotations

import io
import logging
import time
from collections.abc import Iterator

import pytest

from mapper.redact import (
    REDACTED,
    RedactingFilter,
    Redactor,
    install_logging_filter,
    redact_headers,
    register_secret,
)


def test_credential_headers_are_hidden_by_name() -> None:
    headers = {
        "Authorization": "Bearer abc",
        "proxy-authorization": "Basic xyz",
        "Cookie": "sid=1",
        "Set-Cookie": "sid=2",
        "X-API-KEY": "k",
        "X-Hub-Signature-256": "sha256=00",
        "X-Auth-Token": "t",
        "X-Client-Secret": "s",
        "X-Goog-Api-Key": "g",
        "apikey": "a",
        "Content-Type": "application/json",
        "User-Agent": "curl/8",
        "Idempotency-Key": "idem-1",
    }
    original = dict(headers)

    out = redact_headers(headers)

    kept = {"Content-Type", "User-Agent", "Idempotency-Key"}
    assert {k for k, v in out.items() if v != REDACTED} == kept
    assert all(out[k] == headers[k] for k in kept)
    assert headers == original


def test_headers_as_pairs_are_accepted() -> None:
    assert redact_headers([("authorization", "x"), ("accept", "*/*")]) == {
        "authorization": REDACTED,
        "accept": "*/*",
    }


def test_known_values_are_scrubbed_deep_inside_json() -> None:
    redactor = Redactor(["tok-12345", "p@ss word/+"])
    record = {
        "url": "https://api.example.com/x",
        "headers": {"X-Note": "sent tok-12345 along"},
        "body": [{"nested": ["tok-12345"]}, 42, None, True, ("p@ss word/+",)],
        "tok-12345": "keys are left alone",
    }

    out = redactor.scrub(record)

    assert out["headers"]["X-Note"] == f"sent {REDACTED} along"
    assert out["body"] == [{"nested": [REDACTED]}, 42, None, True, (REDACTED,)]
    assert out["url"] == record["url"]
    assert record["headers"]["X-Note"] == "sent tok-12345 along"  # not mutated


def test_encoded_forms_of_a_secret_are_scrubbed() -> None:
    redactor = Redactor(["p@ss word/+"])

    assert redactor.scrub("https://x/?q=p%40ss%20word%2F%2B") == f"https://x/?q={REDACTED}"
    assert redactor.scrub("q=p%40ss+word%2F%2B") == f"q={REDACTED}"
    assert redactor.scrub('{"v": "quote\\"d"}') == '{"v": "quote\\"d"}'
    assert Redactor(['say "hi"']).scrub('{"v": "say \\"hi\\""}') == f'{{"v": "{REDACTED}"}}'


def test_longer_secrets_win_over_their_substrings() -> None:
    redactor = Redactor(["abcd", "abcdefgh"])

    assert redactor.scrub("xabcdefghx") == f"x{REDACTED}x"


def test_short_secrets_are_redacted_only_as_whole_strings() -> None:
    redactor = Redactor(["ab1", "", "x"])

    assert redactor.scrub({"password": "ab1", "other": "cab1e", "n": "x"}) == {
        "password": REDACTED,
        "other": "cab1e",
        "n": REDACTED,
    }
    assert redactor.scrub("") == ""


def test_credential_query_parameters_are_scrubbed_in_any_url() -> None:
    redactor = Redactor()
    text = (
        "GET https://api.example.com/v1?api_key=AAA&page=2&access_token=BBB&X-Amz-Signature=CCC"
        "&sig=DDD&author=me&client_secret=EEE#frag failed"
    )

    out = redactor.scrub(text)

    for value in ("AAA", "BBB", "CCC", "DDD", "EEE"):
        assert value not in out
    assert "page=2" in out and "author=me" in out and out.endswith("#frag failed")
    assert "api_key=[REDACTED]" in out
    assert redactor.scrub("https://x/?password=p&key=") == f"https://x/?password={REDACTED}&key="


def test_bytes_are_scrubbed_when_text() -> None:
    redactor = Redactor(["secret-bytes"])

    assert redactor.scrub(b"has secret-bytes") == f"has {REDACTED}".encode()
    assert redactor.scrub(b"\xff\xfe") == b"\xff\xfe"


def test_headers_method_applies_both_rules() -> None:
    redactor = Redactor(["hidden-value"])

    out = redactor.headers(
        {"Authorization": "x", "Location": "https://h/?token=t", "X-Echo": "hidden-value"}
    )

    assert out == {
        "Authorization": REDACTED,
        "Location": f"https://h/?token={REDACTED}",
        "X-Echo": REDACTED,
    }


def test_hostile_input_is_scrubbed_in_linear_time() -> None:
    redactor = Redactor(["some-secret"])
    hostile = "?" + "key" * 200_000 + " &" + "a" * 200_000 + "=" * 10

    started = time.perf_counter()
    redactor.scrub(hostile)
    assert time.perf_counter() - started < 1.0


# --- logging ------------------------------------------------------------------------------


@pytest.fixture
def captured() -> Iterator[tuple[logging.Logger, io.StringIO]]:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(RedactingFilter())
    logger = logging.getLogger("test-redact")
    logger.addHandler(handler)
    logger.propagate = False
    logger.setLevel(logging.INFO)
    yield logger, stream
    logger.removeHandler(handler)


def test_log_messages_and_args_are_scrubbed(captured) -> None:
    logger, stream = captured
    register_secret("logged-secret-1")

    logger.info("calling with %s and %r", "logged-secret-1", {"t": "logged-secret-1"})
    logger.info("plain message, nothing to hide")
    logger.info("GET https://x/?api_key=%s", "unregistered-key")

    lines = stream.getvalue().splitlines()
    assert lines[0] == f"calling with {REDACTED} and {{'t': '{REDACTED}'}}"
    assert lines[1] == "plain message, nothing to hide"
    assert lines[2] == f"GET https://x/?api_key={REDACTED}"


def test_secrets_registered_later_are_scrubbed_too(captured) -> None:
    logger, stream = captured
    logger.info("before")
    register_secret("late-registered-secret")

    logger.info("now late-registered-secret")

    assert stream.getvalue().splitlines()[-1] == f"now {REDACTED}"


def test_tracebacks_are_scrubbed(captured) -> None:
    logger, stream = captured
    register_secret("traceback-secret")

    try:
        raise RuntimeError("failed with traceback-secret")
    except RuntimeError:
        logger.exception("delivery failed")

    output = stream.getvalue()
    assert "traceback-secret" not in output
    assert f"RuntimeError: failed with {REDACTED}" in output


def test_install_adds_one_filter_per_handler() -> None:
    logger = logging.getLogger("test-install")
    handler = logging.StreamHandler(io.StringIO())
    logger.addHandler(handler)
    try:
        install_logging_filter(logger)
        install_logging_filter(logger)
        assert sum(isinstance(f, RedactingFilter) for f in handler.filters) == 1
    finally:
        logger.removeHandler(handler)
