"""A mail catcher for local mode: an SMTP server on loopback, and `/_local/mail` to read it.

Email integrations made with `make dev` can point at it (server `127.0.0.1`, the port
`make dev` prints, both TLS options off; loopback is the only plain-text server the local
stack allows). Nothing is relayed anywhere: messages are kept in memory, the last `KEEP`
of them, and listed as JSON, newest last, at `/_local/mail`. `/_local/mail/settings` gives
an email target's settings for it (`smtpServer`, `smtpPort`, `useTLS` and `useSSL` off):
the editor's "Use the local mail catcher" button reads them, and as every `/_local` route
they exist only in the local stack. Never deployed.
"""

from __future__ import annotations

import json
import logging
import socket
import threading
from collections import deque
from collections.abc import Callable, Iterable
from email import message_from_bytes, policy
from typing import Any

from aiosmtpd.controller import Controller

KEEP = 100
log = logging.getLogger(__name__)


class MailCatcher:
    """An aiosmtpd handler that keeps each message, and a WSGI app that lists them."""

    def __init__(self) -> None:
        self._mail: deque[dict[str, Any]] = deque(maxlen=KEEP)
        self._lock = threading.Lock()
        self._controller: Controller | None = None
        self.host = "127.0.0.1"
        self.port = 0

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        parsed = message_from_bytes(envelope.content, policy=policy.default)
        body = parsed.get_body(preferencelist=("plain", "html"))
        with self._lock:
            self._mail.append(
                {
                    "from": envelope.mail_from,
                    "to": list(envelope.rcpt_tos),
                    "subject": str(parsed.get("Subject", "")),
                    "headers": {k: str(v) for k, v in parsed.items()},
                    "body": body.get_content() if body is not None else "",
                }
            )
        # One line per message; aiosmtpd's own INFO lines (half a dozen per connection,
        # a reachability check included) are turned down in `start`.
        log.info("mail catcher: kept a message from %s to %s", envelope.mail_from,
                 ", ".join(envelope.rcpt_tos))
        return "250 OK: kept by the local mail catcher"

    def start(self, host: str = "127.0.0.1", port: int = 0) -> int:
        """Listen on `host` at `port` (0: a free one); the port it took."""
        logging.getLogger("mail.log").setLevel(logging.WARNING)
        # aiosmtpd's Controller checks that it listens by connecting to `port`: 0 would
        # never answer, so a free port is picked first.
        controller = Controller(self, hostname=host, port=port or _free_port(host))
        controller.start()  # raises if it cannot listen; then nothing is left running
        self._controller = controller
        self.host = host
        self.port = int(controller.server.sockets[0].getsockname()[1])
        return self.port

    def stop(self) -> None:
        if self._controller is not None:
            self._controller.stop()
            self._controller = None

    def settings(self) -> dict[str, Any]:
        """An email target's settings that reach this catcher (plain SMTP on loopback)."""
        return {"smtpServer": self.host, "smtpPort": self.port, "useTLS": False, "useSSL": False}

    def __call__(self, environ: dict[str, Any], start_response: Callable) -> Iterable[bytes]:
        if environ.get("PATH_INFO", "").rstrip("/").endswith("/settings"):
            if not self.port:
                return _json(start_response, "503 Service Unavailable", {"error": "not running"})
            return _json(start_response, "200 OK", self.settings())
        with self._lock:
            mail = {"mail": list(self._mail)}
        return _json(start_response, "200 OK", mail)


def _free_port(host: str) -> int:
    with socket.socket() as probe:
        probe.bind((host, 0))
        return int(probe.getsockname()[1])


def _json(start_response: Callable, status: str, body: Any) -> Iterable[bytes]:
    payload = json.dumps(body).encode()
    start_response(
        status, [("Content-Type", "application/json"), ("Content-Length", str(len(payload)))]
    )
    return [payload]
