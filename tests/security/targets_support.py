"""The data plane with real targets: intake and worker over in-memory runs and queue, real
senders (SMTP to aiosmtpd, HTTP to a local server) and the real local secret store."""

from __future__ import annotations

import json
import socket
from dataclasses import dataclass, field
from email import message_from_bytes
from email.message import Message
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from threading import Thread
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, Envelope, LoginPassword, Session

from mapper.engine.plan import PlanCache
from mapper.pipeline import Intake, Integrations, Worker
from mapper.secrets import LocalSecretBackend, SecretResolver, store_secrets
from mapper.targets.egress import EgressPolicy
from tests.fakes import (
    Clock,
    CountingSignatureFailures,
    FakeIntegrations,
    FakeQueue,
    FakeRuns,
    from_the_topic,
)

LOOPBACK = EgressPolicy(["127.0.0.0/8"])
SMTP_USER, SMTP_PASSWORD = "mailer", "s3cret-mail-password"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Mailbox:
    """An aiosmtpd handler that keeps every message it accepts, and every RCPT it was given."""

    def __init__(self) -> None:
        self.envelopes: list[Envelope] = []
        self.logins: list[bytes] = []

    async def handle_DATA(self, server: Any, session: Session, envelope: Envelope) -> str:  # noqa: N802
        self.envelopes.append(envelope)
        return "250 OK"

    def messages(self) -> list[Message]:
        return [message_from_bytes(e.original_content or b"") for e in self.envelopes]

    def authenticate(
        self, server: Any, session: Session, envelope: Envelope, mechanism: str, data: Any
    ) -> AuthResult:
        expected = (SMTP_USER.encode(), SMTP_PASSWORD.encode())
        ok = isinstance(data, LoginPassword) and data == expected
        if isinstance(data, LoginPassword):
            self.logins.append(data.login)
        return AuthResult(success=ok, handled=False)


def smtp_server(auth: bool = False) -> tuple[Mailbox, Controller, int]:
    """A running aiosmtpd on 127.0.0.1 (with AUTH over plain text when `auth`)."""
    box = Mailbox()
    port = free_port()
    kwargs: dict[str, Any] = {}
    if auth:
        kwargs.update(authenticator=box.authenticate, auth_require_tls=False)
    controller = Controller(box, hostname="127.0.0.1", port=port, **kwargs)
    controller.start()
    return box, controller, port


@dataclass
class HttpSink:
    """A local HTTP server that records each request and answers 200."""

    url: str = ""
    requests: list[dict[str, Any]] = field(default_factory=list)


def http_sink() -> tuple[HttpSink, ThreadingHTTPServer]:
    sink = HttpSink()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length).decode()
            sink.requests.append({"path": self.path, "headers": dict(self.headers), "body": body})
            self.send_response(200)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    sink.url = f"http://127.0.0.1:{server.server_port}"
    Thread(target=server.serve_forever, daemon=True).start()
    return sink, server


class DataPlane:
    """One integration's intake and worker; the run store and queue in memory."""

    def __init__(self, doc: dict[str, Any], secrets_file: Path) -> None:
        self.backend = LocalSecretBackend(secrets_file)
        stored = store_secrets(
            {"id": "hostile", "active": True, "version": 1, "webhookPath": "hook", **doc},
            self.backend,
            "hostile",
        )
        self.clock = Clock()
        self.integrations = FakeIntegrations(stored)
        self.runs = FakeRuns(self.clock)
        self.queue = FakeQueue()
        cache = Integrations(self.integrations, ttl_s=0)
        resolver = SecretResolver(self.backend, ttl_seconds=0)
        self.intake = Intake(
            cache, self.runs, self.queue, resolver, max_body_bytes=100_000, clock=self.clock,
            signature_failures=CountingSignatureFailures(),
        )
        self.worker = Worker(cache, self.runs, PlanCache(2), resolver, LOOPBACK, clock=self.clock)

    def deliver(self, payload: Any) -> dict[str, Any]:
        """POST `payload` to the webhook, run the worker on what was queued; the run record."""
        body = json.dumps(payload).encode()
        receipt = self.intake.receive_webhook("hook", {}, lambda limit: body)
        assert receipt.status == "queued", receipt
        (message,) = self.queue.messages
        self.queue.messages = []
        self.worker.process(from_the_topic(message))
        run = self.runs.get(str(receipt.run_id))
        assert run is not None
        return run

