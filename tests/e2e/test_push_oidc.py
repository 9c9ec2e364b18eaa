"""The push function's OIDC check, with RS256 tokens minted here against a local key set.

The emulator sends no token, so the function is loaded by target (as functions-framework's
own tests do) with verification on, and driven with a test client; the integration, the
runs and the queue are the running platform's, on the emulators.
"""

from __future__ import annotations

import base64
import json
import threading
import time
import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import functions_framework
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from google.cloud import pubsub_v1

from mapper import services

from .conftest import Platform

ROOT = Path(__file__).resolve().parents[2]
AUDIENCE = "https://push.mapper.example.test"
PUSHER = "pubsub-push@demo-e2e.iam.gserviceaccount.com"
KID = "test-key-1"


@pytest.fixture(scope="module")
def signing_key() -> Any:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture(scope="module")
def key_set_url(signing_key: Any) -> Iterator[str]:
    jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(signing_key.public_key()))
    body = json.dumps({"keys": [{**jwk, "kid": KID, "alg": "RS256", "use": "sig"}]}).encode()

    class KeySet(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), KeySet)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_port}/certs"
    server.shutdown()
    server.server_close()


@pytest.fixture(scope="module")
def push_client(platform: Platform, key_set_url: str) -> Iterator[Any]:
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("PUSH_VERIFY_OIDC", "true")
        mp.setenv("PUSH_AUDIENCE", AUDIENCE)
        mp.setenv("PUSH_SERVICE_ACCOUNT", PUSHER)
        mp.setenv("OIDC_CERTS_URL", key_set_url)
        # The verifier is built once per process (mapper.services): build it anew for
        # these settings, and again without them afterwards.
        _rebuild_intake()
        app = functions_framework.create_app(
            "pubsub_push", str(ROOT / "functions/pubsub_push/main.py"), "http"
        )
        yield app.test_client()
    _rebuild_intake()


def _rebuild_intake() -> None:
    services.push_verifier.cache_clear()
    services.intake.cache_clear()


def token(key: Any, **overrides: Any) -> str:
    now = int(time.time())
    claims = {
        "iss": "https://accounts.google.com",
        "aud": AUDIENCE,
        "email": PUSHER,
        "email_verified": True,
        "iat": now,
        "exp": now + 600,
        "sub": "1234567890",
        **overrides,
    }
    claims = {k: v for k, v in claims.items() if v is not None}
    return jwt.encode(claims, key, algorithm="RS256", headers={"kid": KID})


def envelope(message_id: str) -> dict[str, Any]:
    data = base64.b64encode(json.dumps({"id": 1, "sku": "ok"}).encode()).decode()
    return {"message": {"data": data, "messageId": message_id, "attributes": {"kind": "order"}}}


@pytest.fixture(scope="module")
def push_path(platform: Platform) -> tuple[str, str]:
    publisher = pubsub_v1.PublisherClient()
    topic = f"oidc-{uuid.uuid4().hex[:8]}"
    publisher.create_topic(name=f"projects/demo-e2e/topics/{topic}")
    reply = platform.api(
        "POST",
        "/api/integrations/",
        {
            "name": "oidc",
            "source": {"type": "pubsub", "projectId": "demo-e2e", "topic": topic, "mode": "push"},
            "target": {"type": "http", "url": f"{platform.sink.url}/oidc"},
        },
    )
    assert reply.status_code == 201, reply.text
    return reply.json()["id"], f"/pubsub/{reply.json()['pushPath']}/"


def test_a_token_for_our_audience_and_account_is_accepted(
    platform: Platform, push_client: Any, push_path: tuple[str, str], signing_key: Any
) -> None:
    integration_id, path = push_path
    reply = push_client.post(
        path, json=envelope("ok-1"), headers={"Authorization": f"Bearer {token(signing_key)}"}
    )
    assert reply.status_code == 204, reply.get_data(as_text=True)
    assert platform.wait(f"{integration_id}.ok-1")["status"] == "success"


@pytest.mark.parametrize(
    ("case", "make_header"),
    [
        ("missing", lambda key: None),
        ("wrong audience", lambda key: f"Bearer {token(key, aud='https://elsewhere.example')}"),
        ("wrong email", lambda key: f"Bearer {token(key, email='intruder@evil.example')}"),
        ("unverified email", lambda key: f"Bearer {token(key, email_verified=False)}"),
        (
            "expired",
            lambda key: (
                f"Bearer {token(key, iat=int(time.time()) - 7200, exp=int(time.time()) - 3600)}"
            ),
        ),
        ("wrong issuer", lambda key: f"Bearer {token(key, iss='https://evil.example')}"),
        (
            "unsigned",
            lambda key: (
                "Bearer "
                + jwt.encode(
                    {"aud": AUDIENCE, "email": PUSHER, "exp": int(time.time()) + 600},
                    None,
                    algorithm="none",
                    headers={"kid": KID},
                )
            ),
        ),
        (
            "signed by another key",
            lambda key: (
                "Bearer " + token(rsa.generate_private_key(public_exponent=65537, key_size=2048))
            ),
        ),
        ("not a bearer token", lambda key: "Basic dXNlcjpwYXNz"),
    ],
)
def test_a_bad_or_missing_token_is_refused_and_nothing_queued(
    platform: Platform,
    push_client: Any,
    push_path: tuple[str, str],
    signing_key: Any,
    case: str,
    make_header: Any,
) -> None:
    integration_id, path = push_path
    message_id = "bad-" + uuid.uuid4().hex[:8]
    header = make_header(signing_key)
    headers = {"Authorization": header} if header else {}
    reply = push_client.post(path, json=envelope(message_id), headers=headers)
    assert reply.status_code == 401, (case, reply.get_data(as_text=True))
    assert reply.get_json()["code"] == "unauthenticated"
    assert platform.runs.get(f"{integration_id}.{message_id}") is None
