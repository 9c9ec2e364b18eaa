"""The deliver function as deployed: a delivery task's run sent, recorded, retried, verified."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from mapper import services as services_module
from mapper.errors import RetryableTargetError
from mapper.pipeline.deliver import TargetedRun
from mapper.pipeline.runs import QueuedMessage
from tests.functions.conftest import Fakes, client

INVOKER = "mapper-tasks-invoker@p.iam.gserviceaccount.com"
AUDIENCE = "https://mapper-deliver-1.europe-west1.run.app"


def queued_task(fakes: Fakes, key: str, target: str = "target") -> bytes:
    """A run accepted by the webhook, as the body of its delivery task."""
    client("webhook").post("/webhook/p-secret/", json={"n": 3}, headers={"webhook-id": key})
    message = QueuedMessage.from_dict(fakes.queue.messages[-1])
    return json.dumps(TargetedRun(message, target).to_dict()).encode()


def test_a_task_is_sent_by_the_worker_and_recorded(fakes: Fakes) -> None:
    body = queued_task(fakes, "t1")

    reply = client("deliver").post("/", data=body)

    assert reply.status_code == 200 and reply.get_json() == {"status": "success"}
    run = fakes.runs.get("i1.t1")
    assert run["status"] == "success" and run["transformedPayload"] == {"number": 3}
    assert [s["runId"] for s in fakes.target.sent] == ["i1.t1"]
    # Sent again (the queue retried a lost answer): found done, not sent twice.
    assert client("deliver").post("/", data=body).get_json() == {"status": "success"}
    assert len(fakes.target.sent) == 1


def test_a_retryable_failure_answers_503_so_the_queue_retries(fakes: Fakes) -> None:
    body = queued_task(fakes, "t2")
    fakes.target.script = [RetryableTargetError]

    reply = client("deliver").post("/", data=body)

    assert reply.status_code == 503
    assert fakes.runs.get("i1.t2")["status"] == "retrying"


def test_a_task_for_a_target_the_integration_lacks_ends_its_run(fakes: Fakes) -> None:
    body = queued_task(fakes, "t3", target="crm")

    reply = client("deliver").post("/", data=body)

    assert reply.status_code == 200 and reply.get_json() == {"status": "error"}
    run = fakes.runs.get("i1.t3")
    assert run["errorMessage"] == "the integration has no target named 'crm'"
    assert fakes.target.sent == []


@pytest.mark.parametrize("body", [b"nope", b"[]", b'{"integrationId": "i1"}', b'{"runId": 1}'])
def test_a_body_that_is_no_task_is_acknowledged(fakes: Fakes, body: bytes) -> None:
    reply = client("deliver").post("/", data=body)
    assert reply.status_code == 200 and "not a delivery task" in reply.get_json()["skipped"]


def test_only_post(fakes: Fakes) -> None:
    assert client("deliver").get("/").status_code == 405


# --- OIDC ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def signing_key() -> Any:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture
def verified(fakes: Fakes, signing_key: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(signing_key.public_key()))
    keys = json.dumps({"keys": [{**jwk, "kid": "k1", "alg": "RS256", "use": "sig"}]}).encode()

    class KeySet(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802
            self.send_response(200)
            self.send_header("Content-Length", str(len(keys)))
            self.end_headers()
            self.wfile.write(keys)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), KeySet)
    threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
    monkeypatch.setenv("DELIVER_INVOKER_SERVICE_ACCOUNT", INVOKER)
    monkeypatch.setenv("DELIVER_AUDIENCE", AUDIENCE)
    monkeypatch.setenv("OIDC_CERTS_URL", f"http://127.0.0.1:{server.server_port}/certs")
    services_module.deliver_verifier.cache_clear()
    yield
    services_module.deliver_verifier.cache_clear()
    server.shutdown()
    server.server_close()


def token(key: Any, email: str = INVOKER, audience: str = AUDIENCE) -> str:
    now = int(time.time())
    claims = {"iss": "https://accounts.google.com", "aud": audience, "email": email,
              "email_verified": True, "iat": now, "exp": now + 300}
    return jwt.encode(claims, key, algorithm="RS256", headers={"kid": "k1"})


def test_cloud_tasks_tokens_for_the_invoker_are_required(
    fakes: Fakes, verified: None, signing_key: Any
) -> None:
    body = queued_task(fakes, "t4")
    deliver = client("deliver")

    assert deliver.post("/", data=body).status_code == 401
    for bad in (token(signing_key, email="someone@p.iam.gserviceaccount.com"),
                token(signing_key, audience="https://elsewhere.example")):
        reply = deliver.post("/", data=body, headers={"Authorization": f"Bearer {bad}"})
        assert reply.status_code == 401
    assert fakes.target.sent == []

    good = {"Authorization": f"Bearer {token(signing_key)}"}
    assert deliver.post("/", data=body, headers=good).get_json() == {"status": "success"}
