"""The email target against a real aiosmtpd server: templating, TLS, login, refusals."""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from email import message_from_bytes
from email.message import Message
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, Envelope, LoginPassword, Session

from mapper.engine.config import EmailTarget
from mapper.errors import (
    BlockedDestinationError,
    ConfigError,
    PartiallyDelivered,
    RetryableTargetError,
    TargetError,
    TlsNotOffered,
)
from mapper.targets import build_target
from mapper.targets.egress import EgressPolicy
from mapper.targets.email import EmailTargetSender

from .conftest import ConnectLog
from .support import LOOPBACK, Cert, DictSecrets, free_port

SECRET_REF = {"secret": "projects/p/secrets/token/versions/latest"}  # "s3cret-token"


class Collector:
    """An aiosmtpd handler keeping every accepted envelope; some replies can be scripted."""

    def __init__(self) -> None:
        self.envelopes: list[Envelope] = []
        self.rcpt_replies: dict[str, str] = {}
        self.data_reply = "250 OK queued as 42"

    async def handle_RCPT(
        self, server: Any, session: Session, envelope: Envelope, address: str, options: Any
    ) -> str:
        if address in self.rcpt_replies:
            return self.rcpt_replies[address]
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Session, envelope: Envelope) -> str:
        if self.data_reply.startswith("250"):
            self.envelopes.append(envelope)
        return self.data_reply

    def message(self) -> Message:
        (envelope,) = self.envelopes
        return message_from_bytes(envelope.original_content or b"")


def _authenticate(
    server: Any, session: Session, envelope: Envelope, mechanism: str, auth_data: Any
) -> AuthResult:
    ok = isinstance(auth_data, LoginPassword) and auth_data == (b"mailer", b"s3cret-token")
    # handled=False: aiosmtpd then answers 535 itself on failure.
    return AuthResult(success=ok, handled=False)


@pytest.fixture
def smtp(request: pytest.FixtureRequest, cert: Cert) -> Iterator[tuple[Collector, int]]:
    """A running SMTP server; indirect parameter "plain" (default), "ssl", "starttls", "auth"."""
    mode = getattr(request, "param", "plain")
    handler = Collector()
    kwargs: dict[str, Any] = {}
    if mode == "ssl":
        kwargs["ssl_context"] = cert.server_context()
    elif mode == "starttls":
        kwargs.update(tls_context=cert.server_context(), require_starttls=True)
    elif mode == "auth":
        kwargs.update(authenticator=_authenticate, auth_require_tls=False)
    port = free_port()
    controller = Controller(
        handler, hostname="127.0.0.1", port=port, server_hostname="mx.test", **kwargs
    )
    controller.start()
    try:
        yield handler, port
    finally:
        controller.stop()


def _sender(
    port: int,
    egress: EgressPolicy = LOOPBACK,
    *,
    cert: Cert | None = None,
    timeout: float = 5.0,
    **doc: Any,
) -> EmailTargetSender:
    config = EmailTarget.model_validate(
        {
            "type": "email",
            "smtpServer": "127.0.0.1",
            "smtpPort": port,
            "fromEmail": "Mapper <mapper@example.com>",
            "toEmail": "ops@example.com",
            "useTLS": False,
            **doc,
        }
    )
    context = cert.client_context() if cert else None
    secrets = DictSecrets({SECRET_REF["secret"]: "s3cret-token"})
    return EmailTargetSender(
        config,
        secrets,
        egress,
        ssl_context=context,
        timeout=timeout,
        local_hostname="client.test",
        plaintext_login_hosts=["127.0.0.1"],  # the "auth" server offers login without TLS
    )


# --- delivered ----------------------------------------------------------------------------


def test_templated_recipient_and_subject_arrive(smtp: tuple[Collector, int]) -> None:
    handler, port = smtp
    sender = _sender(
        port,
        toEmail="{{customer.email}}, Ops Team <ops@example.com>",
        subject="Order {{ order.id }} for {{name}} ({{items[1].sku}})",
    )
    payload = {
        "customer": {"email": "ann@example.com"},
        "order": {"id": 7},
        "items": [{"sku": "a"}, {"sku": "b"}],
    }
    source = {"name": "Ann", "customer": {"email": "ignored@example.com"}}
    delivery = sender.send(payload, source)

    (envelope,) = handler.envelopes
    assert envelope.mail_from == "mapper@example.com"
    assert envelope.rcpt_tos == ["ann@example.com", "ops@example.com"]
    msg = handler.message()
    assert msg["Subject"] == "Order 7 for Ann (b)"
    assert msg["To"] == "ann@example.com, Ops Team <ops@example.com>"
    assert msg["From"] == "Mapper <mapper@example.com>"
    assert json.loads(msg.get_payload(decode=True)) == payload
    assert delivery.request == {
        "method": "SMTP",
        "url": f"smtp://127.0.0.1:{port}",
        "headers": {
            "From": "Mapper <mapper@example.com>",
            "To": "ann@example.com, Ops Team <ops@example.com>",
            "Subject": "Order 7 for Ann (b)",
        },
        "body": json.dumps(payload, indent=2),
    }
    assert delivery.response is not None
    assert delivery.response["status"] == 250
    assert "queued as 42" in delivery.response["body"]
    assert delivery.duration_ms > 0


def test_body_field_becomes_the_text(smtp: tuple[Collector, int]) -> None:
    handler, port = smtp
    _sender(port, subject="Hi").send({"body": "Hello Ann,\nyour order shipped. é"}, {})
    msg = handler.message()
    text = msg.get_payload(decode=True).decode("utf-8").replace("\r\n", "\n")
    assert text == "Hello Ann,\nyour order shipped. é\n"
    assert msg.get_content_charset() == "utf-8"


def test_body_template_fills_a_text_body(smtp: tuple[Collector, int]) -> None:
    handler, port = smtp
    sender = _sender(port, body="Hello {{name}},\norder {{order.id}} <b>shipped</b>.")
    delivery = sender.send({"order": {"id": 7}}, {"name": "Ann <ann@example.com>"})
    msg = handler.message()
    assert msg.get_content_type() == "text/plain"
    text = msg.get_payload(decode=True).decode("utf-8").replace("\r\n", "\n")
    assert text == "Hello Ann <ann@example.com>,\norder 7 <b>shipped</b>.\n"
    assert delivery.request["body"] == "Hello Ann <ann@example.com>,\norder 7 <b>shipped</b>."


def test_html_body_escapes_each_filled_in_value(smtp: tuple[Collector, int]) -> None:
    handler, port = smtp
    sender = _sender(port, body="<p>Hi {{name}}, see {{note}}</p>", bodyType="html")
    sender.send({"name": "<script>alert(1)</script>", "note": 'a "b" & \'c\''}, {})
    msg = handler.message()
    assert msg.get_content_type() == "text/html"
    text = msg.get_payload(decode=True).decode("utf-8").strip()
    assert text == (
        "<p>Hi &lt;script&gt;alert(1)&lt;/script&gt;, see a &quot;b&quot; &amp; &#x27;c&#x27;</p>"
    )


def test_without_a_body_template_an_object_is_pretty_json(smtp: tuple[Collector, int]) -> None:
    handler, port = smtp
    _sender(port).send({"b": 1, "a": [True]}, {})
    msg = handler.message()
    assert msg.get_content_type() == "text/plain"
    text = msg.get_payload(decode=True).decode("utf-8").replace("\r\n", "\n")
    assert text == '{\n  "b": 1,\n  "a": [\n    true\n  ]\n}\n'


def test_a_body_template_that_does_not_parse_is_a_config_error() -> None:
    with pytest.raises(ConfigError) as info:
        _sender(2525, body="{{a..b}}")
    assert info.value.problems[0].path == "target.body"


def test_check_greets_a_plain_server(smtp: tuple[Collector, int]) -> None:
    handler, port = smtp
    _sender(port).check()
    assert handler.envelopes == []


@pytest.mark.parametrize("smtp", ["starttls"], indirect=True)
def test_check_starts_tls_as_a_send_would(smtp: tuple[Collector, int], cert: Cert) -> None:
    _, port = smtp
    _sender(port, cert=cert, useTLS=True).check()
    with pytest.raises(RetryableTargetError, match="CERTIFICATE_VERIFY_FAILED"):
        _sender(port, useTLS=True).check()


def test_check_fails_naming_use_tls_when_starttls_is_missing(smtp: tuple[Collector, int]) -> None:
    _, port = smtp
    with pytest.raises(TlsNotOffered, match="does not offer STARTTLS, which useTLS asks for"):
        _sender(port, useTLS=True).check()


def test_check_of_a_closed_port_is_retryable() -> None:
    with pytest.raises(RetryableTargetError, match="connection failed"):
        _sender(free_port(), timeout=2.0).check()


@pytest.mark.parametrize("smtp", ["ssl"], indirect=True)
def test_implicit_tls(smtp: tuple[Collector, int], cert: Cert) -> None:
    handler, port = smtp
    delivery = _sender(port, cert=cert, useSSL=True).send({"a": 1}, {})
    assert delivery.response["status"] == 250
    assert len(handler.envelopes) == 1


@pytest.mark.parametrize("smtp", ["starttls"], indirect=True)
def test_starttls(smtp: tuple[Collector, int], cert: Cert) -> None:
    handler, port = smtp
    delivery = _sender(port, cert=cert, useTLS=True).send({"a": 1}, {})
    assert delivery.response["status"] == 250
    assert len(handler.envelopes) == 1


@pytest.mark.parametrize("smtp", ["starttls"], indirect=True)
def test_untrusted_certificate_is_not_sent_to(smtp: tuple[Collector, int]) -> None:
    handler, port = smtp
    with pytest.raises(RetryableTargetError, match="CERTIFICATE_VERIFY_FAILED"):
        _sender(port, useTLS=True).send({"a": 1}, {})
    assert handler.envelopes == []


def test_starttls_missing_is_refused_not_downgraded(smtp: tuple[Collector, int]) -> None:
    handler, port = smtp
    with pytest.raises(TargetError, match="STARTTLS, which useTLS asks for") as info:
        _sender(port, useTLS=True).send({"a": 1}, {})
    assert type(info.value) is TlsNotOffered
    assert not info.value.retryable
    assert info.value.delivery is not None
    assert handler.envelopes == []


@pytest.mark.parametrize("smtp", ["auth"], indirect=True)
def test_login(smtp: tuple[Collector, int]) -> None:
    handler, port = smtp
    sender = _sender(port, smtpUsername="mailer", smtpPassword=SECRET_REF)
    delivery = sender.send({"a": 1}, {})
    assert len(handler.envelopes) == 1
    assert delivery.secret_values == ["s3cret-token"]


@pytest.mark.parametrize("smtp", ["auth"], indirect=True)
def test_wrong_password_is_permanent(smtp: tuple[Collector, int]) -> None:
    handler, port = smtp
    sender = _sender(port, smtpUsername="mailer", smtpPassword="wrong-password")
    with pytest.raises(TargetError, match="login refused: 535") as info:
        sender.send({"a": 1}, {})
    assert type(info.value) is TargetError
    assert "wrong-password" not in str(info.value)
    assert info.value.delivery.response["status"] == 535
    assert handler.envelopes == []


@pytest.mark.parametrize("smtp", ["auth"], indirect=True)
def test_non_ascii_password_is_permanent(smtp: tuple[Collector, int]) -> None:
    handler, port = smtp
    sender = _sender(port, smtpUsername="mailer", smtpPassword="pässwörd")
    with pytest.raises(TargetError, match="credentials") as info:
        sender.send({"a": 1}, {})
    assert type(info.value) is TargetError
    assert "pässwörd" not in str(info.value)
    assert handler.envelopes == []


# --- refused before anything is sent -----------------------------------------------------


def test_header_injection_in_subject_is_refused(
    smtp: tuple[Collector, int], network_guard: ConnectLog
) -> None:
    handler, port = smtp
    network_guard.attempts.clear()
    sender = _sender(port, subject="Hello {{name}}")
    with pytest.raises(TargetError, match="Subject header contains a line break") as info:
        sender.send({"name": "Ann\r\nBcc: victim@example.com"}, {})
    assert type(info.value) is TargetError
    assert handler.envelopes == []
    assert network_guard.attempts == []


@pytest.mark.parametrize(
    "to",
    [
        "ops@example.com\nBcc: victim@example.com",
        "ops@example.com\0",
    ],
)
def test_header_injection_in_recipient_is_refused(
    smtp: tuple[Collector, int], network_guard: ConnectLog, to: str
) -> None:
    handler, port = smtp
    network_guard.attempts.clear()
    with pytest.raises(TargetError, match="To header"):
        _sender(port, toEmail="{{to}}").send({"to": to}, {})
    assert handler.envelopes == []
    assert network_guard.attempts == []


@pytest.mark.parametrize(
    "to",
    [
        "not-an-address",
        "ann@",
        "@example.com",
        "ann@example..com",
        "ann@example.com, bob",
        "Ann <ann@example.com",
        "ann@example.com)<bob@example.com>",
        "ann smith@example.com",
        "ännä@example.com",
        "",
    ],
)
def test_bad_recipient_is_refused(
    smtp: tuple[Collector, int], network_guard: ConnectLog, to: str
) -> None:
    handler, port = smtp
    network_guard.attempts.clear()
    with pytest.raises(TargetError, match="toEmail") as info:
        _sender(port, toEmail="{{to}}").send({"to": to}, {})
    assert type(info.value) is TargetError
    assert handler.envelopes == []
    assert network_guard.attempts == []


def test_bad_placeholder_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="target.subject"):
        _sender(25, subject="Hi {{a..b}}")


# --- what the server says ---------------------------------------------------------------


def test_rcpt_4xx_is_retryable(smtp: tuple[Collector, int]) -> None:
    handler, port = smtp
    handler.rcpt_replies["ops@example.com"] = "450 4.2.1 mailbox busy"
    with pytest.raises(RetryableTargetError, match="450") as info:
        _sender(port).send({"a": 1}, {})
    assert info.value.delivery.response["status"] == 450


def test_rcpt_5xx_is_permanent(smtp: tuple[Collector, int]) -> None:
    handler, port = smtp
    handler.rcpt_replies["ops@example.com"] = "550 5.1.1 no such user"
    with pytest.raises(TargetError, match="550") as info:
        _sender(port).send({"a": 1}, {})
    assert type(info.value) is TargetError


def test_some_recipients_refused_is_partial_and_recorded(smtp: tuple[Collector, int]) -> None:
    handler, port = smtp
    handler.rcpt_replies["gone@example.com"] = "550 5.1.1 no such user"
    with pytest.raises(PartiallyDelivered, match="sent to ops@example.com") as info:
        _sender(port, toEmail="ops@example.com, gone@example.com").send({"a": 1}, {})
    assert not info.value.retryable  # the accepted recipient must not get it twice
    assert handler.envelopes[0].rcpt_tos == ["ops@example.com"]
    assert info.value.delivery.response["refused"]["gone@example.com"][0] == 550


@pytest.mark.parametrize(
    ("reply", "retryable"), [("451 4.3.0 try later", True), ("554 5.6.0 rejected", False)]
)
def test_data_reply_classification(
    smtp: tuple[Collector, int], reply: str, retryable: bool
) -> None:
    handler, port = smtp
    handler.data_reply = reply
    with pytest.raises(TargetError, match=reply[:3]) as info:
        _sender(port).send({"a": 1}, {})
    assert info.value.retryable is retryable
    assert info.value.delivery.response["status"] == int(reply[:3])


def test_connection_refused_is_retryable() -> None:
    with pytest.raises(RetryableTargetError, match="connection failed") as info:
        _sender(free_port()).send({"a": 1}, {})
    assert info.value.delivery.response is None


def test_silent_server_times_out_retryably() -> None:
    # Listening but never greeting: the connection completes in the backlog, then nothing.
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(1)
        port = listener.getsockname()[1]
        with pytest.raises(RetryableTargetError, match="timed out"):
            _sender(port, timeout=0.3).send({"a": 1}, {})


# --- egress -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "server",
    ["127.0.0.1", "localhost", "169.254.169.254", "10.0.0.1", "::1", "metadata.google.internal"],
)
def test_smtp_server_is_egress_checked(network_guard: ConnectLog, server: str) -> None:
    sender = _sender(25, EgressPolicy(), smtpServer=server)
    with pytest.raises(BlockedDestinationError) as info:
        sender.send({"a": 1}, {})
    assert info.value.delivery.response is None
    assert network_guard.attempts == []


def test_registry_builds_email(secrets: DictSecrets) -> None:
    config = EmailTarget.model_validate(
        {
            "type": "email",
            "smtpServer": "smtp.example.com",
            "fromEmail": "a@example.com",
            "toEmail": "b@example.com",
        }
    )
    assert isinstance(build_target(config, secrets, LOOPBACK), EmailTargetSender)
