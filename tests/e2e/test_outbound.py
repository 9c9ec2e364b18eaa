"""What receivers get from us, through the running platform: signatures they can verify with
the official package, the same key on every attempt, OAuth2 tokens that never reach a run."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs

import pytest
from standardwebhooks import Webhook

from .conftest import SINK_HOST, Platform


def lowered(headers: dict[str, str]) -> dict[str, str]:
    return {k.lower(): v for k, v in headers.items()}


def signed(platform: Platform, path: str) -> dict[str, Any]:
    return platform.add({
        "name": "signed out",
        "source": {"type": "webhook"},
        "target": {"type": "http", "url": platform.sink.url + path,
                   "signing": {"scheme": "standard-webhooks"}},
    })


def test_signed_deliveries_verify_and_rotation_overlaps(platform: Platform) -> None:
    created = signed(platform, "/signed-out")
    first_key = created["newSigningSecret"]
    assert first_key.startswith("whsec_")
    assert created["target"]["signing"]["secret"]["set"] is True
    shown = platform.api("GET", f"/api/integrations/{created['id']}/").json()
    assert "newSigningSecret" not in shown and first_key not in json.dumps(shown)

    platform.sink.on("/signed-out", 503, 200)  # one retry: the same webhook-id both times
    run = platform.wait(platform.send(created, {"n": 1}))
    assert run["status"] == "success"
    attempts = platform.sink.received("/signed-out")
    assert len(attempts) == 2
    ids = {lowered(a["headers"])["webhook-id"] for a in attempts}
    assert ids == {run["id"]} == {lowered(a["headers"])["idempotency-key"] for a in attempts}
    for attempt in attempts:
        assert Webhook(first_key).verify(attempt["body"], lowered(attempt["headers"])) == {"n": 1}

    rotated = platform.api("POST", f"/api/integrations/{created['id']}/rotate_signing_secret/")
    assert rotated.status_code == 200, rotated.text
    second_key = rotated.json()["newSigningSecret"]
    assert second_key != first_key
    platform.wait(platform.send(created, {"n": 2}))
    last = platform.sink.received("/signed-out")[-1]
    headers = lowered(last["headers"])
    assert len(headers["webhook-signature"].split(" ")) == 2  # both sign during the overlap
    assert Webhook(first_key).verify(last["body"], headers) == {"n": 2}
    assert Webhook(second_key).verify(last["body"], headers) == {"n": 2}
    everything = json.dumps(platform.runs.list(integration_id=created["id"])[0])
    assert first_key not in everything and second_key not in everything


@pytest.fixture(scope="module")
def token_server() -> Iterator[dict[str, Any]]:
    state: dict[str, Any] = {"issued": [], "requests": 0}

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802
            form = parse_qs(self.rfile.read(int(self.headers["Content-Length"])).decode())
            state["requests"] += 1
            if form.get("client_secret") != ["oauth-secret-e2e"]:
                body, status = {"error": "invalid_client"}, 401
            else:
                token = f"e2e-access-token-{len(state['issued'])}"
                state["issued"].append(token)
                body, status = {"access_token": token, "expires_in": 3600}, 200
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer((SINK_HOST, 0), Handler)
    state["url"] = f"http://{SINK_HOST}:{server.server_port}/token"
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield state
    server.shutdown()
    server.server_close()


def test_oauth2_tokens_are_used_and_never_recorded(
    platform: Platform, token_server: dict[str, Any]
) -> None:
    def integration(secret: str, path: str) -> dict[str, Any]:
        return platform.add({
            "name": "oauth out",
            "source": {"type": "webhook"},
            "target": {"type": "http", "url": platform.sink.url + path, "auth": {
                "type": "oauth2", "tokenUrl": token_server["url"], "clientId": "e2e",
                "clientSecret": secret}},
        })

    good = integration("oauth-secret-e2e", "/oauth-out")
    runs = [platform.wait(platform.send(good, {"n": n})) for n in range(2)]
    assert [r["status"] for r in runs] == ["success", "success"]
    sent = platform.sink.received("/oauth-out")
    assert {lowered(s["headers"])["authorization"] for s in sent} == {
        "Bearer e2e-access-token-0"  # one token, cached for the second delivery
    }
    for run in runs:
        assert run["outgoingRequest"]["headers"]["Authorization"] == "[REDACTED]"
        assert "e2e-access-token" not in json.dumps(run)

    bad = integration("not-the-secret", "/oauth-refused")
    run = platform.wait(platform.send(bad, {"n": 9}), statuses=("retrying", "dead_lettered"))
    assert "answered 401 (invalid_client)" in run["errorMessage"]
    assert "not-the-secret" not in json.dumps(run)
    assert platform.sink.received("/oauth-refused") == []


def test_an_email_some_recipients_refuse_ends_partial(platform: Platform) -> None:
    platform.inbox.refuse.add("gone@example.com")
    created = platform.add({
        "name": "partial mail",
        "source": {"type": "webhook"},
        "target": {"type": "email", "smtpServer": SINK_HOST, "smtpPort": platform.smtp_port,
                   "fromEmail": "mapper@example.com", "toEmail": "{{to}}",
                   "subject": "Order {{id}}", "useTLS": False},
    })
    run = platform.wait(
        platform.send(created, {"to": "ops@example.com, gone@example.com", "id": 3}),
        statuses=("success", "error", "partial", "dead_lettered"),
    )
    assert run["status"] == "partial"
    assert run["errorMessage"] == "sent to ops@example.com but refused for gone@example.com 550"
    assert run["outgoingResponse"]["refused"]["gone@example.com"][0] == 550
    assert run["attempts"] == 1  # not retried: ops@example.com must not get it twice
    got = [m for m in platform.inbox.messages if b"Order 3" in m.content]
    assert [m.rcpt_tos for m in got] == [["ops@example.com"]]
