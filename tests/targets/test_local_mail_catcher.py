"""The local stack's mail catcher: its settings route, and one log line per message or check."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from typing import Any

import pytest

from local.mail import MailCatcher
from local.serve import QuietInternalRequests
from mapper.engine.config import EmailTarget
from mapper.targets.email import EmailTargetSender

from .support import LOOPBACK, DictSecrets, free_port


@pytest.fixture
def catcher() -> Iterator[MailCatcher]:
    mail = MailCatcher()
    mail.start(port=free_port())
    yield mail
    mail.stop()


def _get(app: MailCatcher, path: str) -> tuple[str, Any]:
    answer: dict[str, str] = {}

    def start_response(status: str, headers: list[tuple[str, str]]) -> None:
        answer["status"] = status

    body = b"".join(app({"PATH_INFO": path, "REQUEST_METHOD": "GET"}, start_response))
    return answer["status"], json.loads(body)


def test_settings_reach_the_catcher_and_a_send_with_them_arrives(catcher: MailCatcher) -> None:
    status, settings = _get(catcher, "/_local/mail/settings")
    assert status == "200 OK"
    assert settings == {
        "smtpServer": "127.0.0.1",
        "smtpPort": catcher.port,
        "useTLS": False,
        "useSSL": False,
    }
    target = EmailTarget.model_validate(
        {"type": "email", "fromEmail": "a@example.com", "toEmail": "b@example.com", **settings}
    )
    sender = EmailTargetSender(target, DictSecrets(), LOOPBACK)
    sender.check()
    sender.send({"hello": 1}, {})
    _, listed = _get(catcher, "/_local/mail")
    assert [m["to"] for m in listed["mail"]] == [["b@example.com"]]


def test_port_zero_takes_a_free_port() -> None:
    # make dev falls back to 0 when MAIL_PORT (2525) is taken.
    mail = MailCatcher()
    try:
        port = mail.start(port=0)
        assert port > 0 and mail.settings()["smtpPort"] == port
    finally:
        mail.stop()


def test_settings_of_a_catcher_that_is_not_running_are_unavailable() -> None:
    status, _ = _get(MailCatcher(), "/_local/mail/settings")
    assert status.startswith("503")


def test_a_check_and_a_send_log_one_line_for_the_message_only(
    catcher: MailCatcher, caplog: pytest.LogCaptureFixture
) -> None:
    target = EmailTarget.model_validate(
        {"type": "email", "fromEmail": "a@example.com", "toEmail": "b@example.com",
         **catcher.settings()}
    )
    with caplog.at_level(logging.INFO):
        EmailTargetSender(target, DictSecrets(), LOOPBACK).check()
        EmailTargetSender(target, DictSecrets(), LOOPBACK).send({"a": 1}, {})
        catcher.stop()  # waits for the server's last lines
    # The server side's lines: aiosmtpd's ("mail.log") and the catcher's own.
    lines = [r.getMessage() for r in caplog.records if r.name in ("mail.log", "local.mail")]
    assert lines == ["mail catcher: kept a message from a@example.com to b@example.com"]


def test_werkzeug_request_lines_of_internal_routes_are_dropped() -> None:
    out = io.StringIO()
    logger = logging.getLogger("werkzeug.test_quiet")
    handler = logging.StreamHandler(out)
    handler.addFilter(QuietInternalRequests())
    logger.addHandler(handler)
    try:
        logger.warning('"%s" %s %s', "POST /_functions/worker HTTP/1.1", "204", "-")
        logger.warning('"%s" %s %s', "POST /api/integrations/ HTTP/1.1", "201", "-")
    finally:
        logger.removeHandler(handler)
    assert out.getvalue().splitlines() == ['"POST /api/integrations/ HTTP/1.1" 201 -']
