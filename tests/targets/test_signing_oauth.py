"""Outbound Standard Webhooks signatures and OAuth2 client credentials, against real servers."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs

import pytest
from standardwebhooks import Webhook

from mapper.engine.config import HttpTarget
from mapper.errors import RetryableTargetError
from mapper.targets import HttpTargetSender
from mapper.targets.egress import EgressPolicy
from mapper.targets.oauth import TokenCache
from mapper.targets.signing import new_signing_secret, signature_headers

from .support import DictSecrets

LOOPBACK = EgressPolicy(["127.0.0.0/8"])


def test_the_spec_test_vector() -> None:
    # From the Standard Webhooks specification's reference implementations.
    headers = signature_headers(
        "msg_p5jXN8AQM9LWM0D4loKWxJek",
        b'{"test": 2432232314}',
        ["whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"],
        1614265330,
    )
    assert headers["webhook-signature"] == "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
    assert headers["webhook-timestamp"] == "1614265330"


@dataclass
class Receiver:
    """A target that records requests and checks bearer tokens it issued."""

    url: str = ""
    requests: list[dict[str, Any]] = field(default_factory=list)
    issued: list[str] = field(default_factory=list)
    revoked: set[str] = field(default_factory=set)
    token_requests: list[dict[str, list[str]]] = field(default_factory=list)
    client_secret: str = "c-secret"
    expires_in: int = 3600


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    state = Receiver()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            if self.path == "/token":
                form = parse_qs(body.decode())
                state.token_requests.append(form)
                if form.get("client_secret") != [state.client_secret]:
                    return self._answer(401, {"error": "invalid_client"})
                token = f"tok-{len(state.issued)}"
                state.issued.append(token)
                return self._answer(200, {"access_token": token, "token_type": "Bearer",
                                          "expires_in": state.expires_in})
            state.requests.append({"headers": dict(self.headers), "body": body})
            auth = self.headers.get("Authorization", "")
            if self.path == "/protected":
                token = auth.removeprefix("Bearer ")
                if token not in state.issued or token in state.revoked:
                    return self._answer(401, {"error": "bad token"})
            return self._answer(200, {"ok": True})

        def _answer(self, status: int, payload: Any) -> None:
            data = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    state.url = f"http://127.0.0.1:{server.server_port}"
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield state
    server.shutdown()
    server.server_close()


def test_what_we_send_verifies_with_the_official_package(receiver: Receiver) -> None:
    secret = new_signing_secret()
    target = HttpTarget.model_validate(
        {"type": "http", "url": f"{receiver.url}/hook", "signing": {"secret": secret}}
    )
    sender = HttpTargetSender(target, DictSecrets(), LOOPBACK)
    sender.send({"order": 7}, {}, run_id="i1.run-7")
    sender.send({"order": 7}, {}, run_id="i1.run-7")  # a retry: same webhook-id
    sender.close()

    first, retry = receiver.requests
    lowered = {k.lower(): v for k, v in first["headers"].items()}
    assert Webhook(secret).verify(first["body"], lowered) == {"order": 7}
    assert lowered["webhook-id"] == "i1.run-7" == lowered["idempotency-key"]
    assert {k.lower(): v for k, v in retry["headers"].items()}["webhook-id"] == "i1.run-7"
    with pytest.raises(Exception):  # noqa: B017 - the package's own verification error
        Webhook(new_signing_secret()).verify(first["body"], lowered)


def test_during_the_overlap_both_keys_sign_then_only_the_new(receiver: Receiver) -> None:
    old, new = new_signing_secret(), new_signing_secret()
    def sent_with(until: str) -> dict[str, str]:
        target = HttpTarget.model_validate({
            "type": "http", "url": f"{receiver.url}/hook",
            "signing": {"secret": new, "previousSecret": old, "previousUntil": until},
        })
        sender = HttpTargetSender(target, DictSecrets(), LOOPBACK)
        sender.send({"a": 1}, {}, run_id="r1")
        sender.close()
        return {k.lower(): v for k, v in receiver.requests[-1]["headers"].items()}

    during = sent_with("2999-01-01T00:00:00Z")
    assert len(during["webhook-signature"].split(" ")) == 2
    body = receiver.requests[-1]["body"]
    assert Webhook(old).verify(body, during) and Webhook(new).verify(body, during)
    after = sent_with("2000-01-01T00:00:00Z")
    assert len(after["webhook-signature"].split(" ")) == 1
    with pytest.raises(Exception):  # noqa: B017
        Webhook(old).verify(receiver.requests[-1]["body"], after)


def oauth_target(receiver: Receiver, secret: str = "c-secret") -> HttpTarget:
    return HttpTarget.model_validate({
        "type": "http", "url": f"{receiver.url}/protected",
        "auth": {"type": "oauth2", "tokenUrl": f"{receiver.url}/token", "clientId": "app",
                 "clientSecret": secret, "scope": "write", "audience": "https://api"},
    })


def test_oauth2_token_is_cached_until_near_expiry(receiver: Receiver) -> None:
    clock = [0.0]
    tokens = TokenCache(clock=lambda: clock[0])
    sender = HttpTargetSender(oauth_target(receiver), DictSecrets(), LOOPBACK, tokens=tokens)
    first = sender.send({"n": 1}, {}, run_id="r1")
    sender.send({"n": 2}, {}, run_id="r2")
    assert receiver.issued == ["tok-0"]
    assert receiver.token_requests[0]["scope"] == ["write"]
    assert receiver.token_requests[0]["audience"] == ["https://api"]
    clock[0] = 3600 - 29  # within the renewal margin
    sender.send({"n": 3}, {}, run_id="r3")
    assert receiver.issued == ["tok-0", "tok-1"]
    assert "tok-0" in first.secret_values and "c-secret" in first.secret_values
    sender.close()


def test_oauth2_fetches_a_new_token_once_on_401(receiver: Receiver) -> None:
    tokens = TokenCache()
    sender = HttpTargetSender(oauth_target(receiver), DictSecrets(), LOOPBACK, tokens=tokens)
    sender.send({"n": 1}, {}, run_id="r1")
    receiver.revoked.add("tok-0")
    delivery = sender.send({"n": 2}, {}, run_id="r2")
    assert delivery.response["status"] == 200
    assert receiver.issued == ["tok-0", "tok-1"]
    sender.close()


def test_wrong_credentials_are_a_retryable_failure_with_the_reason(receiver: Receiver) -> None:
    sender = HttpTargetSender(
        oauth_target(receiver, secret="wrong-secret"), DictSecrets(), LOOPBACK, tokens=TokenCache()
    )
    with pytest.raises(RetryableTargetError) as info:
        sender.send({"n": 1}, {}, run_id="r1")
    assert "answered 401 (invalid_client)" in str(info.value)
    assert "wrong-secret" not in str(info.value)
    assert receiver.requests == []  # nothing reached the target
    sender.close()


def test_the_token_endpoint_is_behind_the_egress_policy(receiver: Receiver) -> None:
    sender = HttpTargetSender(
        oauth_target(receiver), DictSecrets(), EgressPolicy(), tokens=TokenCache()
    )
    with pytest.raises(Exception) as info:  # noqa: PT011
        sender.send({"n": 1}, {}, run_id="r1")
    assert "not allowlisted" in str(info.value)
    assert receiver.token_requests == []
    sender.close()
