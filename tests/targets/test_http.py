"""The HTTP target against a real local server, and the egress guard refusing before connect."""

from __future__ import annotations

import base64
import json
import socket
import ssl
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import requests

from mapper.engine.config import HttpTarget, SecretRef
from mapper.errors import (
    BlockedDestinationError,
    ConfigError,
    RetryableTargetError,
    TargetError,
)
from mapper.targets import TARGETS, Delivery, Target, build_target
from mapper.targets.egress import EgressPolicy
from mapper.targets.email import EmailTargetSender
from mapper.targets.http import MAX_RESPONSE_BODY_BYTES, HttpTargetSender

from .conftest import ConnectLog
from .support import LOOPBACK, Cert, DictSecrets, free_port

BIG_BODY = b"x" * (MAX_RESPONSE_BODY_BYTES * 3)
SECRET_REF = {"secret": "projects/p/secrets/token/versions/latest"}


class Recorder(BaseHTTPRequestHandler):
    """Records each request; the path picks the answer (/status/<n>, /slow, /big)."""

    server: RecordingServer

    def _handle(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        self.server.seen.append(
            {
                "method": self.command,
                "path": self.path,
                "headers": {k.lower(): v for k, v in self.headers.items()},
                "body": body,
            }
        )
        path = urlsplit(self.path).path
        if path == "/slow":
            time.sleep(1.0)
        if path.startswith("/status/"):
            status = int(path.rsplit("/", 1)[1])
            self.send_response(status)
            if 300 <= status < 400:
                query = urlsplit(self.path).query
                self.send_header("Location", f"http://elsewhere.invalid/next?{query}")
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"no")
            return
        payload = BIG_BODY if path == "/big" else b'{"ok": true}'
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _handle

    def log_message(self, format: str, *args: Any) -> None:
        pass  # keep test output quiet


class RecordingServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, tls: ssl.SSLContext | None = None) -> None:
        super().__init__(("127.0.0.1", 0), Recorder)
        if tls is not None:
            self.socket = tls.wrap_socket(self.socket, server_side=True)
        self.seen: list[dict[str, Any]] = []

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # a client that timed out leaves a broken pipe behind; expected here

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


def _serve(srv: RecordingServer) -> Iterator[RecordingServer]:
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    yield srv
    srv.shutdown()
    srv.server_close()
    thread.join()


@pytest.fixture(scope="module")
def server() -> Iterator[RecordingServer]:
    yield from _serve(RecordingServer())


@pytest.fixture(scope="module")
def tls_server(cert: Cert) -> Iterator[RecordingServer]:
    yield from _serve(RecordingServer(cert.server_context()))


@pytest.fixture(autouse=True)
def _fresh(server: RecordingServer) -> None:
    server.seen.clear()


@pytest.fixture
def make(secrets: DictSecrets) -> Iterator[Any]:
    """Build senders from camelCase target documents; closes them afterwards."""
    built: list[HttpTargetSender] = []

    def _make(egress: EgressPolicy = LOOPBACK, **doc: Any) -> HttpTargetSender:
        sender = HttpTargetSender(
            HttpTarget.model_validate({"type": "http", **doc}), secrets, egress
        )
        built.append(sender)
        return sender

    yield _make
    for sender in built:
        sender.close()


# --- what is sent -------------------------------------------------------------------------


@pytest.mark.parametrize("method", ["POST", "PUT", "PATCH"])
def test_body_methods_send_json(make: Any, server: RecordingServer, method: str) -> None:
    payload = {"amount": "12.50", "customer": {"email": "a@example.com"}, "tags": ["é"]}
    delivery = make(url=f"{server.base}/hook", method=method).send(payload, {"src": 1})

    (seen,) = server.seen
    assert seen["method"] == method
    assert seen["path"] == "/hook"
    assert seen["headers"]["content-type"] == "application/json"
    assert seen["headers"]["user-agent"].startswith("mapper/")
    assert json.loads(seen["body"]) == payload
    assert isinstance(delivery, Delivery)
    assert delivery.request["method"] == method
    assert delivery.request["url"] == f"{server.base}/hook"
    assert json.loads(delivery.request["body"]) == payload
    assert delivery.request["headers"]["Host"] == f"127.0.0.1:{server.server_address[1]}"
    assert delivery.response == {
        "status": 200,
        "headers": delivery.response["headers"],
        "body": '{"ok": true}',
        "truncated": False,
    }
    assert delivery.response["headers"]["Content-Type"] == "application/json"
    assert delivery.duration_ms > 0
    assert delivery.secret_values == []


def test_delete_sends_body_only_when_payload_non_empty(make: Any, server: RecordingServer) -> None:
    sender = make(url=f"{server.base}/thing/1", method="DELETE")
    sender.send({"reason": "gone"}, {})
    sender.send({}, {})

    with_body, without = server.seen
    assert json.loads(with_body["body"]) == {"reason": "gone"}
    assert with_body["headers"]["content-type"] == "application/json"
    assert without["body"] == b""
    assert "content-type" not in without["headers"]


def test_get_sends_top_level_fields_as_query(make: Any, server: RecordingServer) -> None:
    payload = {
        "q": "a b&c",
        "n": 3,
        "ok": True,
        "obj": {"k": [1, "two"]},
        "list": [1, 2],
        "missing": None,
    }
    delivery = make(url=f"{server.base}/search?fixed=1", method="GET").send(payload, {})

    (seen,) = server.seen
    assert seen["method"] == "GET"
    assert seen["body"] == b""
    query = parse_qs(urlsplit(seen["path"]).query)
    assert query == {
        "fixed": ["1"],
        "q": ["a b&c"],
        "n": ["3"],
        "ok": ["true"],
        "obj": ['{"k":[1,"two"]}'],
        "list": ["[1,2]"],
    }
    assert delivery.request["body"] is None
    assert delivery.request["url"].startswith(f"{server.base}/search?fixed=1&q=")


def test_get_refuses_a_payload_that_is_not_an_object(make: Any, server: RecordingServer) -> None:
    with pytest.raises(TargetError, match="object payload") as info:
        make(url=f"{server.base}/search", method="GET").send([1, 2], {})
    assert not isinstance(info.value, RetryableTargetError)
    assert info.value.delivery is None
    assert server.seen == []


def test_custom_headers_and_content_type_override(make: Any, server: RecordingServer) -> None:
    sender = make(
        url=f"{server.base}/hook",
        headers={"X-Tenant": "acme", "content-type": "application/vnd.api+json"},
    )
    sender.send({"a": 1}, {})

    (seen,) = server.seen
    assert seen["headers"]["x-tenant"] == "acme"
    assert seen["headers"]["content-type"] == "application/vnd.api+json"


@pytest.mark.parametrize("name", ["Host", "content-length", "Transfer-Encoding"])
def test_framing_headers_are_refused_at_construction(make: Any, name: str) -> None:
    with pytest.raises(ConfigError) as info:
        make(url="http://127.0.0.1:1/", headers={name: "x"})
    assert info.value.problems[0].path == f"target.headers.{name}"


def test_config_needs_http_url_and_one_api_key_place(make: Any) -> None:
    with pytest.raises(ConfigError, match="target.url"):
        make(url="ftp://example.com/x")
    with pytest.raises(ConfigError, match="exactly one"):
        make(url="http://127.0.0.1:1/", auth={"type": "apiKey", "value": "k"})


# --- auth ---------------------------------------------------------------------------------


def test_bearer_auth(make: Any, server: RecordingServer) -> None:
    sender = make(
        url=f"{server.base}/hook",
        headers={"Authorization": "Bearer user-supplied"},  # the configured auth wins
        auth={"type": "bearer", "token": SECRET_REF},
    )
    delivery = sender.send({"a": 1}, {})

    (seen,) = server.seen
    assert seen["headers"]["authorization"] == "Bearer s3cret-token"
    # As sent; the redaction choke point scrubs it using secret_values.
    assert delivery.request["headers"]["Authorization"] == "Bearer s3cret-token"
    assert delivery.secret_values == ["s3cret-token"]
    assert "s3cret-token" not in repr(delivery)


def test_basic_auth(make: Any, server: RecordingServer) -> None:
    sender = make(
        url=f"{server.base}/hook",
        auth={"type": "basic", "username": "ann", "password": SECRET_REF},
    )
    delivery = sender.send({"a": 1}, {})

    (seen,) = server.seen
    scheme, _, encoded = seen["headers"]["authorization"].partition(" ")
    assert scheme == "Basic"
    assert base64.b64decode(encoded).decode() == "ann:s3cret-token"
    assert set(delivery.secret_values) == {"s3cret-token", encoded}


def test_api_key_header(make: Any, server: RecordingServer) -> None:
    sender = make(
        url=f"{server.base}/hook",
        auth={"type": "apiKey", "header": "X-Api-Key", "value": "k-123"},
    )
    delivery = sender.send({"a": 1}, {})

    assert server.seen[0]["headers"]["x-api-key"] == "k-123"
    assert delivery.secret_values == ["k-123"]


def test_api_key_query_param(make: Any, server: RecordingServer) -> None:
    sender = make(
        url=f"{server.base}/hook",
        method="GET",
        auth={"type": "apiKey", "queryParam": "api_key", "value": "k 1&2"},
    )
    delivery = sender.send({"api_key": "from payload, overridden", "x": "1"}, {})

    query = parse_qs(urlsplit(server.seen[0]["path"]).query)
    assert query == {"api_key": ["k 1&2"], "x": ["1"]}
    # The URL holds the encoded form; secret_values lists it so it can be scrubbed too.
    assert any(v in delivery.request["url"] for v in delivery.secret_values if v != "k 1&2")
    assert "k 1&2" in delivery.secret_values


def test_error_messages_do_not_carry_the_query_secret(make: Any, server: RecordingServer) -> None:
    sender = make(
        url=f"{server.base}/status/302",
        auth={"type": "apiKey", "queryParam": "key", "value": "topsecret"},
    )
    with pytest.raises(TargetError) as info:
        sender.send({"a": 1}, {})
    assert "topsecret" not in str(info.value)
    assert "elsewhere.invalid" in str(info.value)


# --- classification -----------------------------------------------------------------------


@pytest.mark.parametrize("status", [500, 502, 503, 429, 408])
def test_retryable_statuses(make: Any, server: RecordingServer, status: int) -> None:
    with pytest.raises(RetryableTargetError, match=str(status)) as info:
        make(url=f"{server.base}/status/{status}").send({"a": 1}, {})
    assert info.value.retryable is True
    assert info.value.delivery.response["status"] == status
    assert info.value.delivery.response["body"] == "no"


@pytest.mark.parametrize("status", [400, 401, 404, 422])
def test_permanent_statuses(make: Any, server: RecordingServer, status: int) -> None:
    with pytest.raises(TargetError, match=str(status)) as info:
        make(url=f"{server.base}/status/{status}").send({"a": 1}, {})
    assert type(info.value) is TargetError
    assert info.value.retryable is False
    assert info.value.delivery.response["status"] == status


def test_redirect_is_not_followed(make: Any, server: RecordingServer) -> None:
    with pytest.raises(TargetError, match="302.*elsewhere.invalid/next") as info:
        make(url=f"{server.base}/status/302?a=1").send({"a": 1}, {})
    assert type(info.value) is TargetError
    assert len(server.seen) == 1  # nothing went to the Location
    assert info.value.delivery.response["headers"]["Location"].startswith("http://elsewhere")


def test_timeout_is_retryable(make: Any, server: RecordingServer) -> None:
    with pytest.raises(RetryableTargetError, match="timed out") as info:
        make(url=f"{server.base}/slow", timeoutSeconds=0.2).send({"a": 1}, {})
    assert info.value.delivery.response is None
    assert info.value.delivery.duration_ms >= 200


def test_connection_refused_is_retryable(make: Any) -> None:
    with pytest.raises(RetryableTargetError, match="failed to connect") as info:
        make(url=f"http://127.0.0.1:{free_port()}/").send({"a": 1}, {})
    assert info.value.delivery.request["method"] == "POST"


def test_large_response_is_truncated(make: Any, server: RecordingServer) -> None:
    delivery = make(url=f"{server.base}/big").send({"a": 1}, {})
    assert delivery.response["truncated"] is True
    assert len(delivery.response["body"]) == MAX_RESPONSE_BODY_BYTES


@pytest.mark.parametrize("host", ["localhost", "127.0.0.1"])
def test_https_verifies_the_name_while_connecting_to_the_pinned_address(
    secrets: DictSecrets, tls_server: RecordingServer, cert: Cert, host: str
) -> None:
    config = HttpTarget(type="http", url=f"https://{host}:{tls_server.server_address[1]}/tls")
    with requests.Session() as session:
        session.verify = cert.cert_path  # trust the test's self-signed certificate
        delivery = HttpTargetSender(config, secrets, LOOPBACK, session=session).send({}, {})
    assert delivery.response["status"] == 200
    assert tls_server.seen[-1]["path"] == "/tls"
    assert tls_server.seen[-1]["headers"]["host"] == f"{host}:{tls_server.server_address[1]}"


def test_untrusted_certificate_fails_retryably(make: Any, tls_server: RecordingServer) -> None:
    tls_server.seen.clear()
    with pytest.raises(RetryableTargetError, match="CERTIFICATE_VERIFY_FAILED"):
        make(url=f"https://localhost:{tls_server.server_address[1]}/tls").send({}, {})
    assert tls_server.seen == []


def test_session_is_reused_per_sender(make: Any, server: RecordingServer) -> None:
    sender = make(url=f"{server.base}/hook")
    sender.send({"a": 1}, {})
    first = sender.session
    sender.send({"a": 2}, {})
    assert sender.session is first
    assert len(server.seen) == 2


# --- egress: refused before any connection ------------------------------------------------

BLOCKED_URLS = [
    "http://169.254.169.254/computeMetadata/v1/",
    "http://10.0.0.1:9/",
    "http://192.168.1.1:9/",
    "http://100.64.0.1:9/",
    "http://0.0.0.0:9/",
    "http://127.0.0.1:9/",
    "http://[::1]:9/",
    "http://[::ffff:127.0.0.1]:9/",
    "http://[::ffff:169.254.169.254]:9/",
    "http://[64:ff9b::7f00:1]:9/",
    "http://[2002:7f00:1::1]:9/",
    "http://[fd00::1]:9/",
    "http://[fe80::1]:9/",
    "http://[::127.0.0.1]:9/",  # IPv4-compatible: requests-hardened misses it
    "http://[fec0::1]:9/",  # site-local: requests-hardened misses it
    "http://localhost:9/",  # a name resolving to loopback
    "http://2130706433:9/",  # 127.0.0.1 written as one number
    "http://metadata.google.internal/computeMetadata/v1/",
    "https://metadata.google.internal./computeMetadata/v1/",
]


@pytest.mark.parametrize("url", BLOCKED_URLS)
def test_blocked_destinations_are_refused_before_connecting(
    make: Any, network_guard: ConnectLog, url: str
) -> None:
    sender = make(url=url, egress=EgressPolicy())
    with pytest.raises(BlockedDestinationError) as info:
        sender.send({"a": 1}, {})
    assert info.value.retryable is False
    assert info.value.delivery.response is None
    assert info.value.delivery.request["url"].startswith(url.split("/comp")[0])
    assert network_guard.attempts == []


def test_allowlist_permits_exactly_its_cidr(
    make: Any, server: RecordingServer, network_guard: ConnectLog
) -> None:
    only_one = EgressPolicy(["127.0.0.1/32"])
    make(url=f"{server.base}/hook", egress=only_one).send({"a": 1}, {})
    assert len(server.seen) == 1

    port = server.server_address[1]
    for url in [
        f"http://127.0.0.2:{port}/",
        f"http://[::1]:{port}/",
        "http://10.0.0.1:9/",
        "http://169.254.169.254/",
    ]:
        network_guard.attempts.clear()
        with pytest.raises(BlockedDestinationError):
            make(url=url, egress=only_one).send({"a": 1}, {})
        assert network_guard.attempts == []


def test_a_passed_in_session_is_guarded_too(
    secrets: DictSecrets, network_guard: ConnectLog
) -> None:
    config = HttpTarget(type="http", url="http://10.0.0.1:9/")
    with requests.Session() as session:
        sender = HttpTargetSender(config, secrets, EgressPolicy(), session=session)
        with pytest.raises(BlockedDestinationError):
            sender.send({"a": 1}, {})
    assert network_guard.attempts == []


def test_name_is_resolved_once_and_the_checked_address_is_used(
    make: Any,
    server: RecordingServer,
    network_guard: ConnectLog,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # A rebinding DNS: first answer allowlisted loopback, every later one 10.0.0.1.
    real = socket.getaddrinfo
    answers: list[str] = []

    def rebinding(host: Any, port: Any, *args: Any, **kwargs: Any) -> Any:
        if host == "rebind.test":
            answers.append(host)
            host = "127.0.0.1" if len(answers) == 1 else "10.0.0.1"
        return real(host, port, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", rebinding)
    port = server.server_address[1]
    delivery = make(url=f"http://rebind.test:{port}/hook").send({"a": 1}, {})

    assert delivery.response["status"] == 200
    assert answers == ["rebind.test"]
    assert [a[0] for a in network_guard.attempts] == ["127.0.0.1"]
    assert server.seen[0]["headers"]["host"] == f"rebind.test:{port}"


# --- the policy itself --------------------------------------------------------------------


def test_policy_from_env() -> None:
    policy = EgressPolicy.from_env({"EGRESS_ALLOW_CIDRS": " 10.8.0.0/16, fd12::/64 ,"})
    assert [str(n) for n in policy.allow_networks] == ["10.8.0.0/16", "fd12::/64"]
    assert EgressPolicy.from_env({}).allow_networks == ()


@pytest.mark.parametrize("bad", ["10.0.0.1/8", "not-a-cidr", "10.0.0.0/33"])
def test_policy_rejects_bad_cidrs(bad: str) -> None:
    with pytest.raises(ValueError, match="EGRESS_ALLOW_CIDRS"):
        EgressPolicy([bad])


@pytest.mark.parametrize(
    ("address", "blocked"),
    [
        ("8.8.8.8", False),
        ("2606:4700::1111", False),
        ("::ffff:8.8.8.8", False),
        ("::127.0.0.1", True),
        ("::ffff:0:7f00:1", True),
        ("fec0::1", True),
        ("64:ff9b::a00:1", True),
        ("ff02::1", True),
        ("224.0.0.1", True),
    ],
)
def test_policy_ranges(address: str, blocked: bool) -> None:
    import ipaddress

    assert EgressPolicy().is_blocked(ipaddress.ip_address(address)) is blocked


def test_allowlist_judges_ipv4_mapped_as_ipv4() -> None:
    import ipaddress

    policy = EgressPolicy(["127.0.0.0/8"])
    assert not policy.is_blocked(ipaddress.ip_address("::ffff:127.0.0.1"))
    assert policy.is_blocked(ipaddress.ip_address("::1"))


# --- the registry -------------------------------------------------------------------------


def test_registry_builds_by_type(secrets: DictSecrets) -> None:
    assert TARGETS == {"http": HttpTargetSender, "email": EmailTargetSender}
    http = build_target(HttpTarget(type="http", url="https://example.com/"), secrets, LOOPBACK)
    assert isinstance(http, HttpTargetSender)
    assert isinstance(http, Target)

    class Unknown:
        type = "ftp"

    with pytest.raises(ConfigError, match="target.type"):
        build_target(Unknown(), secrets, LOOPBACK)


def test_secret_refs_resolve_through_the_resolver(secrets: DictSecrets) -> None:
    assert secrets.resolve("plain") == "plain"
    assert secrets.resolve(SecretRef(secret=SECRET_REF["secret"])) == "s3cret-token"
