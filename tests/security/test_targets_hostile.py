"""Targets and secrets under attack (issue 13, items 7-11), through the real data plane.

Each attack goes in as a webhook body through the intake, is run by the worker with the
real senders (SMTP to aiosmtpd, HTTP to a local server) and the real local secret store,
and ends as one `error` run with the reason; nothing reaches the receiver, and the next
honest message of the same integration is delivered as usual.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from .targets_support import SMTP_PASSWORD, SMTP_USER, DataPlane, Mailbox, smtp_server


@pytest.fixture
def smtp() -> Iterator[tuple[Mailbox, int]]:
    box, controller, port = smtp_server()
    try:
        yield box, port
    finally:
        controller.stop()


def email_doc(port: int, **target: Any) -> dict[str, Any]:
    return {
        "name": "hostile email",
        "source": {"type": "webhook"},
        "mappings": [{"source": "name", "target": "name"}],
        "target": {
            "type": "email",
            "smtpServer": "127.0.0.1",
            "smtpPort": port,
            "fromEmail": "Mapper <mapper@example.com>",
            "toEmail": "ops@example.com",
            "useTLS": False,
            "subject": "Order for {{name}}",
            **target,
        },
    }


# --- 7: header injection through RFC 2047 encoded words ---------------------------------

ENCODED_WORD_ATTACKS = {
    "bcc": "=?utf-8?q?hi=0D=0ABcc:_victim@evil.test?=",
    "bare-lf": "=?utf-8?q?hi=0ABcc:_victim@evil.test?=",
    "base64": "=?utf-8?b?aGkNCkJjYzogdmljdGltQGV2aWwudGVzdA==?=",
    "content-type": "=?utf-8?q?hi=0D=0AContent-Type:_text/html=0D=0A=0D=0A<h1>pay_here</h1>?=",
    "in-text": "Ann =?UTF-8?Q?x=0D=0ABcc:_victim@evil.test?= Smith",
}


@pytest.mark.parametrize("attack", ENCODED_WORD_ATTACKS.values(), ids=ENCODED_WORD_ATTACKS)
def test_encoded_word_in_subject_fails_the_run_and_sends_nothing(
    smtp: tuple[Mailbox, int], tmp_path: Path, attack: str
) -> None:
    box, port = smtp
    plane = DataPlane(email_doc(port), tmp_path / "secrets.json")

    run = plane.deliver({"name": attack})

    assert run["status"] == "error"
    assert "Subject" in run["errorMessage"]
    assert "encoded word" in run["errorMessage"]
    assert box.envelopes == []
    # The next honest message of the same integration goes out, with no extra header.
    ok = plane.deliver({"name": "Ann"})
    assert ok["status"] == "success"
    (message,) = box.messages()
    assert message["Subject"] == "Order for Ann"
    assert message["Bcc"] is None
    assert box.envelopes[0].rcpt_tos == ["ops@example.com"]


def test_encoded_word_in_a_recipient_name_fails_the_run(
    smtp: tuple[Mailbox, int], tmp_path: Path
) -> None:
    box, port = smtp
    doc = email_doc(port, toEmail="{{name}} <ann@example.com>", subject="Hi")
    run = DataPlane(doc, tmp_path / "secrets.json").deliver(
        {"name": "=?utf-8?q?Ann=0D=0ABcc:_victim@evil.test?="}
    )
    assert run["status"] == "error"
    assert "To" in run["errorMessage"] and "encoded word" in run["errorMessage"]
    assert box.envelopes == []


def test_encoded_word_written_by_the_integration_itself_is_checked_as_serialized(
    smtp: tuple[Mailbox, int], tmp_path: Path
) -> None:
    # Not from the payload, so the placeholder check does not see it: the check of the
    # header lines as serialized does.
    box, port = smtp
    doc = email_doc(port, subject="=?utf-8?q?hi=0D=0ABcc:_victim@evil.test?=")
    run = DataPlane(doc, tmp_path / "secrets.json").deliver({"name": "Ann"})
    assert run["status"] == "error"
    assert "header" in run["errorMessage"] and "Bcc" in run["errorMessage"]
    assert box.envelopes == []


def test_plain_text_that_looks_like_an_encoded_word_start_is_kept(
    smtp: tuple[Mailbox, int], tmp_path: Path
) -> None:
    # "=?" alone is not an encoded word: a subject asking "2+2=?" still goes out as written.
    box, port = smtp
    run = DataPlane(email_doc(port), tmp_path / "secrets.json").deliver({"name": "2+2=?"})
    assert run["status"] == "success", run.get("errorMessage")
    (message,) = box.messages()
    assert message["Subject"] == "Order for 2+2=?"


# --- 11: SMTP login over plain text --------------------------------------------------------


@pytest.fixture
def smtp_auth() -> Iterator[tuple[Mailbox, int]]:
    box, controller, port = smtp_server(auth=True)
    try:
        yield box, port
    finally:
        controller.stop()


def login_doc(port: int) -> dict[str, Any]:
    return email_doc(port, smtpUsername=SMTP_USER, smtpPassword=SMTP_PASSWORD, subject="Hi")


def test_login_over_plain_text_is_refused_before_connecting(
    smtp_auth: tuple[Mailbox, int], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("SMTP_PLAINTEXT_ALLOW", raising=False)
    box, port = smtp_auth
    run = DataPlane(login_doc(port), tmp_path / "secrets.json").deliver({"name": "Ann"})
    assert run["status"] == "error"
    assert "useTLS" in run["errorMessage"] and "SMTP_PLAINTEXT_ALLOW" in run["errorMessage"]
    assert SMTP_PASSWORD not in str(run)
    assert box.logins == [] and box.envelopes == []


def test_login_over_plain_text_to_an_allowlisted_server_is_sent(
    smtp_auth: tuple[Mailbox, int], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SMTP_PLAINTEXT_ALLOW", "mail.internal.test, 127.0.0.1")
    box, port = smtp_auth
    run = DataPlane(login_doc(port), tmp_path / "secrets.json").deliver({"name": "Ann"})
    assert run["status"] == "success", run.get("errorMessage")
    assert box.logins == [SMTP_USER.encode()]
    assert len(box.envelopes) == 1


def test_plain_text_without_login_is_not_affected(
    smtp: tuple[Mailbox, int], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # No credentials cross the wire: a relay on port 25 without TLS stays possible.
    monkeypatch.delenv("SMTP_PLAINTEXT_ALLOW", raising=False)
    box, port = smtp
    run = DataPlane(email_doc(port), tmp_path / "secrets.json").deliver({"name": "Ann"})
    assert run["status"] == "success"
    assert len(box.envelopes) == 1
