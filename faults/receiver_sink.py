"""The receiver of the receiver cases (faults/receivers.py): a target with a will of its own.

Unlike faults/sink.py, whose answers are shares of failures drawn at random, this one
answers as a real receiver's operator sets it, and the case changes that mid-run:

- `status`: what every request is answered (200; 503 while it is down; 400 to refuse);
- `per_second`: a rate limit. It admits at most that many requests in any sliding second
  and answers the others 429 with `Retry-After: 1`, as a rate-limited API does;
- `/notify` is a second endpoint, the operator's: it records the notifications the
  platform posts there (body and headers, to check their signature), and always answers 200.

Every request is recorded with its wall-clock arrival time (`time.time()`), so that it can
be compared with the times the platform records (a pause's `since`).
"""

from __future__ import annotations

import json
import threading
import time
from collections import deque
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from .sink import KEY_HEADER, SINK_HOST

NOTIFY_PATH = "/notify"
RATE_WINDOW_S = 1.0  # the rate limit's sliding window


@dataclass(frozen=True)
class Hit:
    """One request to the target: the event it carried and how it was answered."""

    path: str
    event: str | None  # the event id the payload carries (`orderId`)
    key: str | None  # the Idempotency-Key header
    status: int
    at: float  # time.time() on arrival


@dataclass(frozen=True)
class Notice:
    """One notification posted to the operator's endpoint."""

    body: bytes
    headers: dict[str, str]  # lower-cased names
    at: float


class ReceiverSink:
    """A threaded HTTP server on SINK_HOST; `hits` and `notices` in arrival order."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.status = 200
        self.per_second: int | None = None
        self._admitted: deque[float] = deque()
        self._hits: list[Hit] = []
        self._notices: list[Notice] = []
        self._server = ThreadingHTTPServer((SINK_HOST, 0), _handler(self))
        self._server.daemon_threads = True
        self.url = f"http://{SINK_HOST}:{self._server.server_port}"
        threading.Thread(target=self._server.serve_forever, name="receiver", daemon=True).start()

    def answer_with(self, status: int = 200, per_second: int | None = None) -> None:
        """Answer every later request `status`, within `per_second` if given."""
        with self._lock:
            self.status = status
            self.per_second = per_second
            self._admitted.clear()

    def hits(self, path: str) -> list[Hit]:
        """The requests to `path` so far."""
        with self._lock:
            return [h for h in self._hits if h.path == path]

    def notices(self) -> list[Notice]:
        """The notifications so far."""
        with self._lock:
            return list(self._notices)

    def stop(self) -> None:
        """Stop serving."""
        self._server.shutdown()
        self._server.server_close()

    def answer(self, path: str, event: str | None, key: str | None) -> int:
        """Decide one request's status and record it."""
        now = time.time()
        with self._lock:
            status = self.status
            if status < 400 and self.per_second is not None:
                while self._admitted and self._admitted[0] <= now - RATE_WINDOW_S:
                    self._admitted.popleft()
                if len(self._admitted) >= self.per_second:
                    status = 429
                else:
                    self._admitted.append(now)
            self._hits.append(Hit(path, event, key, status, now))
        return status

    def record_notice(self, body: bytes, headers: dict[str, str]) -> None:
        with self._lock:
            self._notices.append(Notice(body, headers, time.time()))


def _handler(sink: ReceiverSink) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 - http.server's naming
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            headers: dict[str, str] = {}
            if self.path == NOTIFY_PATH:
                sink.record_notice(body, {k.lower(): v for k, v in self.headers.items()})
                status = 200
            else:
                try:
                    event = json.loads(body).get("orderId")
                except (ValueError, AttributeError):
                    event = None
                status = sink.answer(self.path, event, self.headers.get(KEY_HEADER))
                if status == 429:
                    headers["Retry-After"] = "1"
            payload = json.dumps({"ok": status < 400}).encode()
            try:
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)
            except OSError:
                pass  # the platform stopped waiting

        def log_message(self, *args: Any) -> None:
            pass

    return Handler
