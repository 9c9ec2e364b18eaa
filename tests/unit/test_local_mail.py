"""The local mail catcher: listens where it is told, or on any free port when that is taken."""

from __future__ import annotations

import smtplib
import socket
from collections.abc import Iterator

import pytest

from local.dev import _start_mail
from local.mail import MailCatcher


@pytest.fixture
def catcher() -> Iterator[MailCatcher]:
    mail = MailCatcher()
    yield mail
    mail.stop()


def _send(port: int) -> None:
    with smtplib.SMTP("127.0.0.1", port, timeout=10) as smtp:
        smtp.sendmail("a@example.com", ["b@example.com"], "Subject: hi\r\n\r\nhello\r\n")


def _listed(mail: MailCatcher) -> list[dict]:
    import json

    answer = b"".join(mail({}, lambda status, headers: None))
    return json.loads(answer)["mail"]


def test_port_zero_takes_a_free_port_and_catches_mail(catcher: MailCatcher) -> None:
    port = catcher.start(port=0)
    assert port > 0 and catcher.port == port
    _send(port)
    [kept] = _listed(catcher)
    assert kept["subject"] == "hi" and kept["to"] == ["b@example.com"]


def test_a_taken_port_falls_back_to_a_free_one(catcher: MailCatcher) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        busy = taken.getsockname()[1]
        port = _start_mail(catcher, {"MAIL_PORT": str(busy)})
        assert isinstance(port, int) and port != busy
        _send(port)
    assert len(_listed(catcher)) == 1


def test_make_dev_points_notification_mail_at_the_catcher_unless_told_otherwise() -> None:
    from local.dev import notify_smtp

    assert notify_smtp("2525", {}) == {
        "NOTIFY_SMTP_HOST": "127.0.0.1",
        "NOTIFY_SMTP_PORT": "2525",
        "NOTIFY_SMTP_TLS": "none",
        "NOTIFY_SMTP_FROM": "mapper@localhost",
    }
    assert notify_smtp("2525", {"NOTIFY_SMTP_HOST": "smtp.example.com"}) == {}
    assert notify_smtp("not started", {}) == {}  # _start_mail's reason, not a port
