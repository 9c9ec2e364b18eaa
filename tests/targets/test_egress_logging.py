"""An allowlisted delivery logs no refusal (requests-hardened warns before we apply it)."""

from __future__ import annotations

import logging
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from mapper.engine.config import HttpTarget
from mapper.errors import BlockedDestinationError
from mapper.targets import HttpTargetSender
from mapper.targets.egress import EgressPolicy

from .support import DictSecrets


class _Ok(BaseHTTPRequestHandler):
    def do_POST(self) -> None:  # noqa: N802
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


def test_an_allowlisted_loopback_delivery_logs_no_forbidden_ip_warning(
    caplog: pytest.LogCaptureFixture,
) -> None:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Ok)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_port}/hook"
    try:
        with caplog.at_level(logging.WARNING):
            allowed = HttpTargetSender(
                HttpTarget(type="http", url=url), DictSecrets(), EgressPolicy(["127.0.0.0/8"])
            )
            assert allowed.send({"a": 1}, {}, run_id="r1").response["status"] == 200
            allowed.close()
        assert "Forbidden IP" not in caplog.text

    finally:
        server.shutdown()
        server.server_close()


def test_an_allowlisted_smtp_address_logs_no_forbidden_ip_warning_and_a_refusal_does(
    caplog: pytest.LogCaptureFixture,
) -> None:
    # The SMTP target resolves through `resolve()`, outside requests' adapters.
    with caplog.at_level(logging.WARNING):
        assert str(EgressPolicy(["127.0.0.0/8"]).resolve("127.0.0.1", 2525)) == "127.0.0.1"
    assert "Forbidden IP" not in caplog.text
    # A name is judged once resolved, where requests-hardened warns: kept for a refusal.
    with caplog.at_level(logging.WARNING), pytest.raises(BlockedDestinationError):
        EgressPolicy().resolve("localhost", 2525)
    assert "Forbidden IP" in caplog.text
