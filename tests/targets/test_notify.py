"""The notifier against a real local HTTP receiver and the aiosmtpd mail catcher: one
notification per integration and type a minute, the next one carrying the count, POSTs
signed so that the official `standardwebhooks` package verifies them, and nothing at all
for an integration without `notify`."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from standardwebhooks import Webhook

from local.mail import MailCatcher
from mapper.engine.config import Integration
from mapper.notify import PlatformNotifier, SmtpSettings
from mapper.pipeline.ports import NotifyEvent
from mapper.targets.signing import new_signing_secret
from tests.fakes import Clock, FakeNotifyWindows

from .support import LOOPBACK, DictSecrets

DEAD = NotifyEvent.RUN_DEAD_LETTERED
KEY = new_signing_secret()


class Receiver:
    """Records each POST; answers `status`."""

    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        self.status = 200
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802
                data = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                receiver.requests.append(
                    {"headers": {k.lower(): v for k, v in self.headers.items()}, "body": data}
                )
                self.send_response(receiver.status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/ops"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def events(self) -> list[dict[str, Any]]:
        return [json.loads(r["body"]) for r in self.requests]


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    yield r
    r.server.shutdown()
    r.server.server_close()


@pytest.fixture
def mail() -> Iterator[MailCatcher]:
    catcher = MailCatcher()
    catcher.start()
    yield catcher
    catcher.stop()


def _mails(catcher: MailCatcher) -> list[dict[str, Any]]:
    return json.loads(b"".join(catcher({}, lambda *a: None)))["mail"]


def integration(**notify: Any) -> Integration:
    doc: dict[str, Any] = {
        "id": "i1",
        "name": "orders",
        "source": {"type": "webhook"},
        "target": {"type": "http", "url": "https://hooks.example.com/x"},
    }
    if notify:
        doc["notify"] = notify
    return Integration.model_validate(doc)


def notifier(clock: Clock, port: int = 0, windows: FakeNotifyWindows | None = None):  # noqa: ANN201
    smtp = SmtpSettings(host="127.0.0.1", port=port, sender="mapper@localhost", tls="none")
    return PlatformNotifier(
        windows or FakeNotifyWindows(), DictSecrets({"ref/notify": KEY}), LOOPBACK,
        smtp if port else None, clock=clock, timeout_s=2.0,
    )


def test_one_a_minute_then_the_next_carries_the_count(
    receiver: Receiver, mail: MailCatcher
) -> None:
    clock = Clock(1_700_000_000.0)  # 20 s into a minute
    n = notifier(clock, mail.port)
    hooked = integration(url=receiver.url, email="ops@example.com",
                         secret={"secret": "ref/notify"})

    sent = []
    for i in range(5):
        sent.append(n.notify(hooked, DEAD, {"runId": f"i1.r{i}", "attempts": 2}))
        clock.advance(5)
    assert sent == [True, False, False, False, False]
    assert len(receiver.requests) == 1 and len(_mails(mail)) == 1
    first = receiver.events()[0]
    assert first["type"] == "run.dead_lettered" and first["integrationId"] == "i1"
    assert first["data"] == {"runId": "i1.r0", "attempts": 2}  # no count: nothing held

    clock.advance(60)  # the next minute
    assert n.notify(hooked, DEAD, {"runId": "i1.r5", "attempts": 2})
    later = receiver.events()[1]
    assert later["data"]["count"] == 5  # four held back, and this one
    assert later["data"]["since"] == first["at"]
    [_, second_mail] = _mails(mail)
    assert second_mail["to"] == ["ops@example.com"]
    assert '"count": 5' in second_mail["body"]
    assert second_mail["subject"] == "mapper: run.dead_lettered (i1)"

    # Another type has a minute of its own.
    assert n.notify(hooked, NotifyEvent.DELIVERY_PAUSED, {"reason": "circuit"})


def test_the_post_verifies_with_the_standardwebhooks_package(receiver: Receiver) -> None:
    n = notifier(Clock(1_700_000_000.0))
    assert n.notify(integration(url=receiver.url, secret={"secret": "ref/notify"}), DEAD, {})
    [request] = receiver.requests
    event = Webhook(KEY).verify(request["body"], request["headers"])
    assert event["type"] == "run.dead_lettered"
    assert request["headers"]["webhook-id"] == f"ntf_i1_run.dead_lettered_{1_700_000_000 // 60}"
    assert "idempotency-key" not in request["headers"]
    with pytest.raises(Exception):  # noqa: B017 - the package's own verification error
        Webhook(new_signing_secret()).verify(request["body"], request["headers"])


def test_a_signing_target_signs_the_notifications_with_its_own_key(receiver: Receiver) -> None:
    target_key = new_signing_secret()
    doc = integration(url=receiver.url).model_dump(by_alias=True, exclude_none=True)
    doc["target"]["signing"] = {"secret": target_key}
    n = notifier(Clock(1_700_000_000.0))
    assert n.notify(Integration.model_validate(doc), DEAD, {})
    [request] = receiver.requests
    assert Webhook(target_key).verify(request["body"], request["headers"])["integrationId"] == "i1"


def test_nothing_is_sent_or_counted_without_notify(receiver: Receiver) -> None:
    windows = FakeNotifyWindows()
    n = notifier(Clock(1_700_000_000.0), windows=windows)
    assert n.notify(integration(), DEAD, {"runId": "i1.r0"}) is False
    assert receiver.requests == [] and windows.windows == {}


def test_a_failing_receiver_or_mail_server_never_raises(
    receiver: Receiver, caplog: pytest.LogCaptureFixture
) -> None:
    receiver.status = 500
    clock = Clock(1_700_000_000.0)
    closed = Receiver()
    closed.server.shutdown()
    closed.server.server_close()  # a port nobody listens on: the mail server is down
    n = notifier(clock, closed.server.server_port)
    hooked = integration(url=receiver.url, email="ops@example.com",
                         secret={"secret": "ref/notify"})
    assert n.notify(hooked, DEAD, {}) is False
    assert len(receiver.requests) == 1
    assert "the run.dead_lettered POST failed" in caplog.text
    assert "the run.dead_lettered mail failed" in caplog.text


def test_mail_without_smtp_settings_is_logged_not_sent(caplog: pytest.LogCaptureFixture) -> None:
    n = notifier(Clock(1_700_000_000.0))
    assert n.notify(integration(email="ops@example.com"), DEAD, {}) is False
    assert "NOTIFY_SMTP_HOST is not" in caplog.text


def test_smtp_settings_from_the_environment() -> None:
    assert SmtpSettings.from_env({}) is None
    smtp = SmtpSettings.from_env({"NOTIFY_SMTP_HOST": "smtp.example.com", "NOTIFY_SMTP_PORT":
                                  "465", "NOTIFY_SMTP_TLS": "SSL", "NOTIFY_SMTP_FROM": "a@b.c"})
    assert smtp == SmtpSettings("smtp.example.com", 465, "a@b.c", "ssl")
    with pytest.raises(ValueError, match="NOTIFY_SMTP_TLS"):
        SmtpSettings.from_env({"NOTIFY_SMTP_HOST": "h", "NOTIFY_SMTP_TLS": "maybe"})


def _login_server(port: int) -> tuple[Any, list[Any]]:
    """aiosmtpd asking for AUTH (over plain SMTP, as a loopback relay may): the mail it took."""
    from aiosmtpd.controller import Controller
    from aiosmtpd.smtp import AuthResult, LoginPassword

    taken: list[Any] = []

    class Handler:
        async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
            taken.append((session.authenticated, envelope.content))
            return "250 OK"

    def authenticate(server: Any, session: Any, envelope: Any, mechanism: str,
                     auth_data: Any) -> AuthResult:
        ok = isinstance(auth_data, LoginPassword) and auth_data == (b"notifier", b"relay-pass")
        return AuthResult(success=ok, handled=False)

    controller = Controller(Handler(), hostname="127.0.0.1", port=port,
                            authenticator=authenticate, auth_require_tls=False)
    controller.start()
    return controller, taken


@pytest.mark.parametrize(("password", "delivered"), [("relay-pass", True), ("wrong", False)])
def test_notification_mail_logs_in_with_the_password_from_the_secret_store(
    password: str, delivered: bool, caplog: pytest.LogCaptureFixture
) -> None:
    from .support import free_port

    port = free_port()
    controller, taken = _login_server(port)
    try:
        smtp = SmtpSettings(host="127.0.0.1", port=port, tls="none", username="notifier",
                            password_secret="ref/smtp-password")
        n = PlatformNotifier(
            FakeNotifyWindows(), DictSecrets({"ref/smtp-password": password}), LOOPBACK, smtp,
            clock=Clock(1_700_000_000.0), timeout_s=2.0, plaintext_login_hosts=("127.0.0.1",),
        )
        assert n.notify(integration(email="ops@example.com"), DEAD, {"runId": "i1.r0"}) is delivered
    finally:
        controller.stop()
    if delivered:
        [(authenticated, content)] = taken
        assert authenticated and b"run.dead_lettered" in content
    else:
        assert taken == []  # the relay refused the login: nothing sent, logged, not raised
        assert "the run.dead_lettered mail failed" in caplog.text
        assert "wrong" not in caplog.text  # the password is never logged


def test_smtp_login_settings_from_the_environment() -> None:
    smtp = SmtpSettings.from_env({
        "NOTIFY_SMTP_HOST": "smtp.example.com", "NOTIFY_SMTP_USER": "notifier",
        "NOTIFY_SMTP_PASSWORD_SECRET": "projects/p/secrets/mapper-notify-smtp/versions/latest",
    })
    assert smtp is not None and smtp.username == "notifier"
    assert smtp.password_secret == "projects/p/secrets/mapper-notify-smtp/versions/latest"
    assert SmtpSettings.from_env({"NOTIFY_SMTP_HOST": "h"}).username is None
