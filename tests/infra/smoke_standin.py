"""A local stand-in for a deployed platform's URLs, for testing infra/scripts/smoke.py.

It answers the routes the smoke uses as the contract says (docs/integration.md, docs/api.md):
integrations are created and deleted with the admin token, webhooks answer 202 / 401 / 404
/ 503, runs are listed newest first. Deliveries happen at once: a target URL that is one of
its own webhooks is POSTed to; one that answers 2xx ends the run `success`, any other
answer leaves it `retrying` and, while `dead_letter` is on, `dead_lettered` at the next
read (as the dead-letter path would). Pull messages wait for `POST /_standin/tick`, which
the fake gcloud's `scheduler jobs run` sends.
"""

from __future__ import annotations

import json
import secrets
import threading
import urllib.error
import urllib.request
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

TOKEN = "smoke-admin-token"


class Standin:
    """The stand-in's state and its server; `url` is its base."""

    def __init__(self) -> None:
        self.integrations: dict[str, dict[str, Any]] = {}
        self.runs: dict[str, dict[str, Any]] = {}
        self.pending: list[tuple[str, Any]] = []
        # Webhook runs not read by id yet: the first read answers 404, as the platform does
        # until the worker takes the message of an event without a key and records its run.
        self.unrecorded: set[str] = set()
        self.dead_letter = True
        self.lock = threading.RLock()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> Standin:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()

    # --- behaviour --------------------------------------------------------------------

    def create(self, doc: dict[str, Any]) -> dict[str, Any]:
        with self.lock:
            saved = {**doc, "id": secrets.token_hex(8)}
            if doc["source"]["type"] == "webhook":
                saved["webhookPath"] = secrets.token_urlsafe(16)
                saved["webhookUrl"] = f"{self.url}/webhook/{saved['webhookPath']}/"
            self.integrations[saved["id"]] = saved
            return saved

    def receive(self, integration: dict[str, Any], payload: Any) -> dict[str, Any]:
        """Record a run and deliver it at once."""
        with self.lock:
            run = {
                "id": secrets.token_hex(8),
                "integrationId": integration["id"],
                "status": "queued",
                "attempts": 0,
                "incomingPayload": payload,
                "createdAt": datetime.now(timezone.utc).isoformat(),
            }
            self.runs[run["id"]] = run
        self.deliver(integration, run)
        return run

    def deliver(self, integration: dict[str, Any], run: dict[str, Any]) -> None:
        if integration.get("condition") == "false":
            run["status"] = "skipped"
            return
        run["attempts"] += 1
        request = urllib.request.Request(
            integration["target"]["url"],
            data=json.dumps(run["incomingPayload"]).encode(),
            method="POST",
            headers={"Content-Type": "application/json"},
        )
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        try:
            with opener.open(request, timeout=10) as resp:
                ok = 200 <= resp.status < 300
        except (urllib.error.URLError, OSError):
            ok = False
        run["status"] = "success" if ok else "retrying"

    def read_run(self, run_id: str) -> dict[str, Any] | None:
        with self.lock:
            run = self.runs.get(run_id)
            if run and run["status"] == "retrying" and self.dead_letter:
                run.update(status="dead_lettered", attempts=5)
            return run

    def tick(self) -> None:
        with self.lock:
            pending, self.pending = self.pending, []
        for integration_id, payload in pending:
            integration = self.integrations.get(integration_id)
            if integration is not None:
                self.receive(integration, payload)


def _handler(standin: Standin) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: object) -> None:  # quiet
            pass

        def _answer(self, status: int, body: Any = None) -> None:
            data = b"" if body is None else json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def _body(self) -> Any:
            length = int(self.headers.get("Content-Length") or 0)
            return json.loads(self.rfile.read(length) or b"null")

        def _authorized(self) -> bool:
            if self.headers.get("Authorization") != f"Bearer {TOKEN}":
                self._answer(401, {"error": "unauthorized"})
                return False
            return True

        def do_POST(self) -> None:  # noqa: N802 - http.server's name
            path = urlsplit(self.path).path
            parts = [p for p in path.split("/") if p]
            body = self._body()
            if parts[:1] == ["webhook"]:
                return self._webhook(parts[1], body)
            if parts == ["_standin", "tick"]:
                standin.tick()
                return self._answer(200, {})
            if not self._authorized():
                return None
            if parts == ["api", "integrations"]:
                return self._answer(201, standin.create(body))
            if len(parts) == 4 and parts[3] == "test_pubsub":
                integration = standin.integrations.get(parts[2])
                if integration is None:
                    return self._answer(404, {"error": "not found"})
                payload = body.get("payload")
                if integration["source"]["mode"] == "pull":
                    standin.pending.append((integration["id"], payload))
                else:
                    standin.receive(integration, payload)
                return self._answer(200, {"messageId": secrets.token_hex(6)})
            return self._answer(404, {"error": "not found"})

        def _webhook(self, webhook_path: str, body: Any) -> None:
            found = [
                i for i in standin.integrations.values() if i.get("webhookPath") == webhook_path
            ]
            if not found:
                return self._answer(404, {"error": "not found"})
            integration = found[0]
            if not integration.get("active", True):
                return self._answer(503, {"error": "inactive"})
            if integration["source"].get("signature"):
                return self._answer(401, {"error": "bad signature"})
            run = standin.receive(integration, body)
            with standin.lock:
                standin.unrecorded.add(run["id"])
            return self._answer(202, {"status": "queued", "runId": run["id"]})

        def do_GET(self) -> None:  # noqa: N802
            if not self._authorized():
                return
            split = urlsplit(self.path)
            parts = [p for p in split.path.split("/") if p]
            if parts == ["api", "runs"]:
                wanted = parse_qs(split.query).get("integration_id", [None])[0]
                runs = [
                    standin.read_run(r["id"])
                    for r in list(standin.runs.values())
                    if wanted in (None, r["integrationId"])
                ]
                runs.sort(key=lambda r: r["createdAt"], reverse=True)
                return self._answer(200, {"runs": runs, "nextCursor": None})
            if len(parts) == 3 and parts[:2] == ["api", "runs"]:
                with standin.lock:
                    if parts[2] in standin.unrecorded:
                        standin.unrecorded.discard(parts[2])
                        return self._answer(404, {"error": "no"})
                run = standin.read_run(parts[2])
                return self._answer(200, run) if run else self._answer(404, {"error": "no"})
            return self._answer(404, {"error": "not found"})

        def do_DELETE(self) -> None:  # noqa: N802
            if not self._authorized():
                return
            parts = [p for p in urlsplit(self.path).path.split("/") if p]
            if len(parts) == 3 and parts[:2] == ["api", "integrations"]:
                with standin.lock:
                    gone = standin.integrations.pop(parts[2], None)
                return self._answer(204) if gone else self._answer(404, {"error": "no"})
            return self._answer(404, {"error": "not found"})

    return Handler
