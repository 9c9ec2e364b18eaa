"""A mail catcher for local mode: an SMTP server on loopback, and `/_local/mail` to read it.

Email integrations made with `make dev` can point at it (server `127.0.0.1`, the port
`make dev` prints, both TLS options off; loopback is the only plain-text server the local
stack allows). Nothing is relayed anywhere: messages are kept in memory, the last `KEEP`
of them, and listed as JSON, newest last. Never deployed.
"""

from __future__ import annotations

import json
import socket
import threading
from collections import deque
from collections.abc import Callable, Iterable
from email import message_from_bytes, policy
from typing import Any

from aiosmtpd.controller import Controller

KEEP = 100


class MailCatcher:
    """An aiosmtpd handler that keeps each message, and a WSGI app that lists them."""

    def __init__(self) -> None:
        self._mail: deque[dict[str, Any]] = deque(maxlen=KEEP)
        self._lock = threading.Lock()
        self._controller: Controller | None = None
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
        return "250 OK: kept by the local mail catcher"

    def start(self, host: str = "127.0.0.1", port: int = 0) -> int:
        """Listen on `host` and `port` (0: any free one); the port it took."""
        # aiosmtpd's Controller makes sure it is up by connecting to the port it was given:
        # with 0 it connects to port 0 and fails. So a free port is chosen here first.
        controller = Controller(self, hostname=host, port=port or _free_port(host))
        controller.start()  # raises if it cannot listen; then nothing is left running
        self._controller = controller
        self.port = int(controller.server.sockets[0].getsockname()[1])
        return self.port

    def stop(self) -> None:
        if self._controller is not None:
            self._controller.stop()
            self._controller = None

    def __call__(self, environ: dict[str, Any], start_response: Callable) -> Iterable[bytes]:
        with self._lock:
            payload = json.dumps({"mail": list(self._mail)}).encode()
        start_response(
            "200 OK",
            [("Content-Type", "application/json"), ("Content-Length", str(len(payload)))],
        )
        return [payload]


def _free_port(host: str) -> int:
    with socket.socket() as probe:
        probe.bind((host, 0))
        return int(probe.getsockname()[1])
