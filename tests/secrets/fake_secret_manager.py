"""A tiny in-memory fake of Secret Manager's REST wire protocol, for tests only.

It implements just the four calls `mapper.secrets.SecretManagerBackend` makes, so that
the adapter is exercised through the real client library (`transport="rest"`):

    POST   /v1/projects/{p}/secrets?secretId={id}         create secret
    POST   /v1/projects/{p}/secrets/{s}:addVersion        add version
    GET    /v1/projects/{p}/secrets/{s}/versions/{v}:access access version
    DELETE /v1/projects/{p}/secrets/{s}                   delete secret

Like the real service it answers with the project *number* in resource names.
"""

from __future__ import annotations

import json
import re
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

PROJECT_NUMBER = "123456789012"

_SECRET_ID = re.compile(r"^[A-Za-z0-9_-]{1,255}$")
_CREATE = re.compile(r"^/v1/projects/([^/]+)/secrets$")
_ADD = re.compile(r"^/v1/projects/([^/]+)/secrets/([^/:]+):addVersion$")
_ACCESS = re.compile(r"^/v1/projects/([^/]+)/secrets/([^/]+)/versions/([^/:]+):access$")
_DELETE = re.compile(r"^/v1/projects/([^/]+)/secrets/([^/:]+)$")

_STATUS = {
    400: "INVALID_ARGUMENT",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    409: "ALREADY_EXISTS",
    503: "UNAVAILABLE",
}


@dataclass
class FakeSecretManager:
    """State of the fake: `deny` for 403s, `fail_next` 503s, `fail_add_version` for 400s."""

    project: str = "test-project"
    secrets: dict[str, list[str]] = field(default_factory=dict)  # id -> base64 payloads
    calls: list[tuple[str, str, Any]] = field(default_factory=list)
    deny: bool = False
    fail_next: int = 0
    fail_add_version: bool = False

    def handle(
        self, method: str, path: str, query: dict[str, list[str]], body: Any
    ) -> tuple[int, dict[str, Any]]:
        """Answer one request: (HTTP status, JSON body)."""
        self.calls.append((method, path, body))
        if self.fail_next > 0:
            self.fail_next -= 1
            return _error(503, "The service is currently unavailable.")
        if self.deny:
            return _error(403, "Permission denied on resource (or it may not exist).")
        if method == "POST" and (m := _CREATE.match(path)):
            return self._create(m.group(1), query.get("secretId", [""])[0], body)
        if method == "POST" and (m := _ADD.match(path)):
            if self.fail_add_version:
                return _error(400, "Payload is invalid.")
            return self._add(m.group(1), m.group(2), body)
        if method == "GET" and (m := _ACCESS.match(path)):
            return self._access(m.group(1), m.group(2), m.group(3))
        if method == "DELETE" and (m := _DELETE.match(path)):
            return self._delete(m.group(1), m.group(2))
        return _error(404, f"No route for {method} {path}")

    def _known_project(self, project: str) -> bool:
        return project in (self.project, PROJECT_NUMBER)

    def _create(self, project: str, secret_id: str, body: Any) -> tuple[int, dict[str, Any]]:
        if not self._known_project(project):
            return _error(403, "Permission denied on project.")
        if not _SECRET_ID.match(secret_id):
            return _error(400, "Invalid secret id.")
        if "automatic" not in (body or {}).get("replication", {}) and "userManaged" not in (
            body or {}
        ).get("replication", {}):
            return _error(400, "Secret.replication is required.")
        if secret_id in self.secrets:
            return _error(409, f"Secret [projects/{PROJECT_NUMBER}/secrets/{secret_id}] exists.")
        self.secrets[secret_id] = []
        return 200, {
            **body,
            "name": f"projects/{PROJECT_NUMBER}/secrets/{secret_id}",
            "createTime": "2024-01-01T00:00:00Z",
        }

    def _add(self, project: str, secret_id: str, body: Any) -> tuple[int, dict[str, Any]]:
        if not self._known_project(project) or secret_id not in self.secrets:
            return _error(404, f"Secret [{secret_id}] not found.")
        data = (body or {}).get("payload", {}).get("data")
        if data is None:
            return _error(400, "Payload is required.")
        self.secrets[secret_id].append(data)
        number = len(self.secrets[secret_id])
        return 200, {
            "name": f"projects/{PROJECT_NUMBER}/secrets/{secret_id}/versions/{number}",
            "state": "ENABLED",
            "createTime": "2024-01-01T00:00:00Z",
        }

    def _access(self, project: str, secret_id: str, version: str) -> tuple[int, dict[str, Any]]:
        versions = self.secrets.get(secret_id) if self._known_project(project) else None
        if not versions:
            return _error(404, f"Secret [{secret_id}] not found or has no versions.")
        index = len(versions) if version == "latest" else int(version) if version.isdigit() else 0
        if not 1 <= index <= len(versions):
            return _error(404, f"Secret Version [{secret_id}/{version}] not found.")
        name = f"projects/{PROJECT_NUMBER}/secrets/{secret_id}/versions/{index}"
        return 200, {"name": name, "payload": {"data": versions[index - 1]}}

    def _delete(self, project: str, secret_id: str) -> tuple[int, dict[str, Any]]:
        if not self._known_project(project) or secret_id not in self.secrets:
            return _error(404, f"Secret [{secret_id}] not found.")
        del self.secrets[secret_id]
        return 200, {}


def _error(code: int, message: str) -> tuple[int, dict[str, Any]]:
    # Google's JSON error envelope; google.api_core maps it by HTTP status.
    return code, {"error": {"code": code, "message": message, "status": _STATUS[code]}}


class FakeServer:
    """Serves a `FakeSecretManager` on 127.0.0.1 in a background thread."""

    def __init__(self, state: FakeSecretManager) -> None:
        self.state = state
        lock = threading.Lock()

        class Handler(BaseHTTPRequestHandler):
            def _serve(self) -> None:
                url = urlsplit(self.path)
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                body = json.loads(raw) if raw else None
                with lock:
                    status, answer = state.handle(self.command, url.path, parse_qs(url.query), body)
                data = json.dumps(answer).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = do_DELETE = _serve

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
                pass  # keep test output quiet

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.endpoint = f"http://127.0.0.1:{self._httpd.server_address[1]}"
        # A short poll interval keeps shutdown() (once per test) fast.
        self._thread = threading.Thread(target=self._httpd.serve_forever, args=(0.05,), daemon=True)

    def __enter__(self) -> FakeServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join()
