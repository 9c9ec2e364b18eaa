"""A request bin for local mode: `/_local/inbox` keeps what targets were sent, to look at.

Any method except GET records the request (method, path, query, headers, body) and
answers 200; `GET /_local/inbox` lists the last requests, newest last. It lets the README's
walkthrough run on one machine with no other server. Only `make dev` mounts it; it is never
deployed.
"""

from __future__ import annotations

import json
import threading
from collections import deque
from collections.abc import Callable, Iterable
from typing import Any

KEEP = 100
MAX_BODY = 1_000_000


class Inbox:
    """A WSGI app holding the last `KEEP` requests in memory."""

    def __init__(self) -> None:
        self._received: deque[dict[str, Any]] = deque(maxlen=KEEP)
        self._lock = threading.Lock()

    def __call__(self, environ: dict[str, Any], start_response: Callable) -> Iterable[bytes]:
        if environ["REQUEST_METHOD"] == "GET":
            with self._lock:
                body: Any = {"received": list(self._received)}
        else:
            length = int(environ.get("CONTENT_LENGTH") or 0)
            raw = environ["wsgi.input"].read(min(length, MAX_BODY)) if length else b""
            text = raw.decode("utf-8", errors="replace")
            try:
                content: Any = json.loads(text) if text else None
            except ValueError:
                content = text
            request = {
                "method": environ["REQUEST_METHOD"],
                "path": environ.get("PATH_INFO", ""),
                "query": environ.get("QUERY_STRING", ""),
                "contentType": environ.get("CONTENT_TYPE", ""),
                # As received, Authorization included: this bin is for seeing what a target
                # would get (say, that the bearer token arrived). Local only.
                "headers": _headers(environ),
                "body": content,
            }
            with self._lock:
                self._received.append(request)
                body = {"ok": True, "count": len(self._received)}
        payload = json.dumps(body).encode()
        start_response(
            "200 OK",
            [("Content-Type", "application/json"), ("Content-Length", str(len(payload)))],
        )
        return [payload]


def _headers(environ: dict[str, Any]) -> dict[str, str]:
    headers = {
        key[5:].replace("_", "-").title(): str(value)
        for key, value in environ.items()
        if key.startswith("HTTP_")
    }
    if environ.get("CONTENT_TYPE"):
        headers["Content-Type"] = environ["CONTENT_TYPE"]
    return headers
