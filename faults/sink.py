"""The target of the fault suite: records every request's event and Idempotency-Key.

It can answer 500 to a share of requests (`fail_rate`), hold a share past the target's
timeout before answering 200 (`hang_rate`, `hang_s`), and deduplicate by Idempotency-Key
as a careful receiver does (`dedup`: a key seen before is answered 200 and not applied).
A hung request counts as delivered: the receiver got it and applies it, even though the
platform stopped waiting for the answer.
"""

from __future__ import annotations

import json
import random
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

SINK_HOST = "127.0.0.2"  # loopback, allowlisted for the platform by EGRESS_ALLOW_CIDRS
KEY_HEADER = "Idempotency-Key"


@dataclass(frozen=True)
class Received:
    """One request the sink answered."""

    event: str | None  # the event id the payload carries (`orderId`)
    key: str | None  # the Idempotency-Key header, if any
    status: int
    at: float  # time.monotonic() on arrival
    applied: bool  # False when the receiver deduplicated it or refused it


@dataclass
class Behaviour:
    """How the sink answers: shares of failures and hangs, and whether it deduplicates."""

    fail_rate: float = 0.0
    hang_rate: float = 0.0
    hang_s: float = 8.0
    dedup: bool = False
    seed: int = 12


@dataclass
class RecordingSink:
    """A threaded HTTP server on SINK_HOST; `received` holds every request in order."""

    behaviour: Behaviour = field(default_factory=Behaviour)
    received: list[Received] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        self._rng = random.Random(self.behaviour.seed)
        self._seen_keys: set[str] = set()
        self._server = ThreadingHTTPServer((SINK_HOST, 0), _handler(self))
        self._server.daemon_threads = True
        self.url = f"http://{SINK_HOST}:{self._server.server_port}"
        threading.Thread(target=self._server.serve_forever, name="sink", daemon=True).start()

    def reset(self, behaviour: Behaviour) -> None:
        """Forget what was received and answer as `behaviour` says from now on."""
        with self._lock:
            self.behaviour = behaviour
            self._rng = random.Random(behaviour.seed)
            self._seen_keys.clear()
            self.received = []

    def snapshot(self) -> list[Received]:
        """What was received so far."""
        with self._lock:
            return list(self.received)

    def stop(self) -> None:
        """Stop serving."""
        self._server.shutdown()
        self._server.server_close()

    def answer(self, event: str | None, key: str | None) -> tuple[int, float]:
        """Decide the answer to one request (status, seconds to hold it) and record it."""
        with self._lock:
            b = self.behaviour
            draw = self._rng.random()
            if draw < b.fail_rate:
                status, hold, applied = 500, 0.0, False
            else:
                hold = b.hang_s if draw < b.fail_rate + b.hang_rate else 0.0
                status = 200
                applied = not (b.dedup and key is not None and key in self._seen_keys)
                if key is not None:
                    self._seen_keys.add(key)
            self.received.append(Received(event, key, status, time.monotonic(), applied))
        return status, hold


def _handler(sink: RecordingSink) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 - http.server's naming
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            try:
                event = json.loads(body).get("orderId")
            except (ValueError, AttributeError):
                event = None
            status, hold = sink.answer(event, self.headers.get(KEY_HEADER))
            if hold:
                time.sleep(hold)  # past the target's timeout: the platform has given up
            payload = json.dumps({"ok": status < 400}).encode()
            try:
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)
            except OSError:
                pass  # the platform closed the connection after its timeout

        def log_message(self, *args: Any) -> None:
            pass

    return Handler
