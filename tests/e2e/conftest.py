"""The platform running locally: emulators, every function on one URL, a sink and an inbox."""

from __future__ import annotations

import json
import secrets as pysecrets
import shutil
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import requests
from aiosmtpd.controller import Controller
from google.cloud import firestore

from local.emulators import Emulators, free_port, start_emulators
from local.serve import LocalServer, serve
from mapper.secrets import LocalSecretBackend, store_secrets
from mapper.store.integrations import IntegrationStore
from mapper.store.runs import RunStore

SINK_HOST = "127.0.0.2"  # allowlisted; 127.0.0.1 stays blocked, for the SSRF tests
MAX_BODY = 100_000
# The production default (API_MAX_BODY_BYTES): schemathesis sends documents just past the
# schema's limits (a lookup table of 10,001 entries), which must reach validation (400)
# rather than stop at the body limit (413).
API_MAX_BODY = 2_000_000
ADMIN_TOKEN = "e2e-admin-" + pysecrets.token_urlsafe(24)
SITE_URL = "https://mapper.example.test"


@dataclass
class Sink:
    """A real HTTP server that records requests and answers with scripted statuses."""

    url: str
    requests: list[dict[str, Any]] = field(default_factory=list)
    script: dict[str, list[int]] = field(default_factory=dict)
    answer_headers: dict[str, dict[str, str]] = field(default_factory=dict)

    def on(self, path: str, *statuses: int, headers: dict[str, str] | None = None) -> None:
        self.script[path] = list(statuses)
        self.answer_headers[path] = dict(headers or {})

    def received(self, path: str) -> list[dict[str, Any]]:
        return [r for r in self.requests if r["path"].split("?")[0] == path]


def start_sink() -> tuple[Sink, ThreadingHTTPServer]:
    sink = Sink(url="")

    class Handler(BaseHTTPRequestHandler):
        def _handle(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            sink.requests.append(
                {
                    "method": self.command,
                    "path": self.path,
                    "headers": dict(self.headers),
                    "body": body.decode(),
                    "at": time.monotonic(),
                }
            )
            statuses = sink.script.get(self.path.split("?")[0], [])
            status = statuses.pop(0) if len(statuses) > 1 else (statuses[0] if statuses else 200)
            payload = json.dumps({"ok": status < 400}).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            for name, value in sink.answer_headers.get(self.path.split("?")[0], {}).items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(payload)

        do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _handle

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer((SINK_HOST, 0), Handler)
    sink.url = f"http://{SINK_HOST}:{server.server_port}"
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return sink, server


class Inbox:
    """aiosmtpd handler keeping every envelope."""

    def __init__(self) -> None:
        self.messages: list[Any] = []
        self.refuse: set[str] = set()  # recipients answered 550

    async def handle_RCPT(  # noqa: N802
        self, server: Any, session: Any, envelope: Any, address: str, options: Any
    ) -> str:
        if address in self.refuse:
            return "550 5.1.1 no such user"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        self.messages.append(envelope)
        return "250 OK"


@dataclass
class Platform:
    url: str
    sink: Sink
    inbox: Inbox
    smtp_port: int
    integrations: IntegrationStore
    runs: RunStore
    secrets: LocalSecretBackend
    secrets_file: Path

    def api(
        self, method: str, path: str, body: Any = None, token: str | None = ADMIN_TOKEN, **kw: Any
    ) -> requests.Response:
        """Call the management API as a user would, with the admin token unless told not to."""
        headers = {"Authorization": f"Bearer {token}"} if token is not None else {}
        return requests.request(
            method, self.url + path, json=body, headers=headers, timeout=60, **kw
        )

    def add(self, doc: dict[str, Any]) -> dict[str, Any]:
        """Create an integration through the API, as a user does; the stored document."""
        reply = self.api("POST", "/api/integrations/", doc)
        assert reply.status_code == 201, reply.text
        return reply.json()

    def send(self, integration: dict[str, Any], body: Any) -> str:
        """POST a webhook to the integration's URL (on this server); the queued run's id."""
        path = integration["webhookUrl"].removeprefix(SITE_URL)
        reply = requests.post(self.url + path, json=body, timeout=30)
        assert reply.status_code == 202, reply.text
        return str(reply.json()["runId"])

    def create(self, doc: dict[str, Any]) -> dict[str, Any]:
        """Store an integration as the API will: secrets moved out, a random webhook path."""
        integration_id = pysecrets.token_hex(8)
        doc = {
            "active": True,
            **doc,
            "id": integration_id,
            "webhookPath": pysecrets.token_urlsafe(16),
        }
        return self.integrations.create(store_secrets(doc, self.secrets, integration_id))

    def wait(
        self,
        run_id: str,
        statuses: tuple[str, ...] = ("success", "error", "skipped", "dead_lettered"),
        timeout: float = 60,
        sweep_every: float | None = None,
    ) -> dict[str, Any]:
        """The run once its status is one of `statuses`.

        With `sweep_every`, the reconciler sweeps at that interval meanwhile, as the
        scheduled pull function does in the cloud: a run that is retried must not depend on
        the emulator's redelivery alone, which can stop under load (docs/data-plane.md).
        """
        from mapper.services import reconciler

        deadline = time.monotonic() + timeout
        swept = time.monotonic()
        run = None
        while time.monotonic() < deadline:
            run = self.runs.get(run_id)
            if run and run["status"] in statuses:
                return run
            if sweep_every is not None and time.monotonic() - swept >= sweep_every:
                reconciler().sweep()
                swept = time.monotonic()
            time.sleep(0.2)
        raise AssertionError(f"run {run_id} still {run and run['status']} after {timeout}s")


def running_platform(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Platform]:
    """The platform of the test session (the `platform` fixture, registered once in
    tests/conftest.py): its functions run in this process and share its clients, so there
    must never be two."""
    if shutil.which("gcloud") is None:
        pytest.fail("gcloud with the Firestore and Pub/Sub emulators is required")
    tmp: Path = tmp_path_factory.mktemp("platform")
    sink, sink_server = start_sink()
    inbox = Inbox()
    smtp_port = free_port()
    smtp = Controller(inbox, hostname=SINK_HOST, port=smtp_port)
    smtp.start()
    emulators: Emulators = start_emulators(project="demo-e2e")
    secrets_file = tmp / "local-secrets.json"
    env = {
        **emulators.env(),
        "SECRET_BACKEND": f"local:{secrets_file}",
        "EGRESS_ALLOW_CIDRS": f"{SINK_HOST}/32",
        "MAX_BODY_BYTES": str(MAX_BODY),
        "CONFIG_CACHE_SECONDS": "0",
        "ADMIN_TOKEN": ADMIN_TOKEN,
        "SITE_URL": SITE_URL,
        "API_MAX_BODY_BYTES": str(API_MAX_BODY),
        "PUSH_VERIFY_OIDC": "false",  # the emulator sends no token; tests/e2e/test_oidc.py
        # Tests send wrong tokens on purpose, all from 127.0.0.1 (schemathesis too, once per
        # operation): the sign-in limit would refuse them all. tests/e2e/test_team.py lowers it.
        "AUTH_FAILURE_LIMIT": "100000",
        # Notification mail goes to the same aiosmtpd inbox (tests/e2e/test_notify.py).
        "NOTIFY_SMTP_HOST": SINK_HOST,
        "NOTIFY_SMTP_PORT": str(smtp_port),
        "NOTIFY_SMTP_TLS": "none",
        "NOTIFY_SMTP_FROM": "mapper@example.test",
    }
    server: LocalServer | None = None
    try:
        with pytest.MonkeyPatch.context() as mp:
            for name, value in env.items():
                mp.setenv(name, value)
            server = serve(env)
            # Pub/Sub push subscriptions must reach this server (the API reads it lazily).
            mp.setenv("PUSH_BASE_URL", server.url)
            db = firestore.Client(project="demo-e2e")
            yield Platform(
                url=server.url,
                sink=sink,
                inbox=inbox,
                smtp_port=smtp_port,
                integrations=IntegrationStore(db),
                runs=RunStore(db),
                secrets=LocalSecretBackend(secrets_file),
                secrets_file=secrets_file,
            )
    finally:
        if server is not None:
            server.stop()
        smtp.stop()
        sink_server.shutdown()
        sink_server.server_close()
        emulators.stop()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """Debian's Chromium, headless, once per UI test module (tests/e2e/ui_support.py)."""
    from .ui_support import chromium  # it imports this module: imported when first used

    with chromium() as launched:
        yield launched


@pytest.fixture
def ui(platform: Platform, browser: Any) -> Iterator[Any]:
    """A signed-in tab of the web UI (tests/e2e/ui_support.py), closed after the test.

    Modules that check more at the end (no console problems, screenshots) define their own.
    """
    from .ui_support import Ui  # it imports this module: imported when first used

    tab = Ui(browser, platform)
    tab.sign_in()
    yield tab
    tab.close()
