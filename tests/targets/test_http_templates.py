"""HTTP targets with `{{path}}` placeholders in the URL and header values, on a real server."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from mapper.engine.config import HttpTarget
from mapper.errors import BlockedDestinationError, ConfigError, TargetError
from mapper.targets.egress import EgressPolicy
from mapper.targets.http import HttpTargetSender

from .support import LOOPBACK, DictSecrets


class _Recorder(BaseHTTPRequestHandler):
    server: _Server

    def _handle(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.server.seen.append({"path": self.path, "headers": dict(self.headers.items())})
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    do_GET = do_POST = _handle

    def log_message(self, *args: Any) -> None:
        pass


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Recorder)
        self.seen: list[dict[str, Any]] = []

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


@pytest.fixture(scope="module")
def server() -> Iterator[_Server]:
    srv = _Server()
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    yield srv
    srv.shutdown()
    srv.server_close()
    thread.join()


@pytest.fixture(autouse=True)
def _fresh(server: _Server) -> None:
    server.seen.clear()


def _sender(egress: EgressPolicy = LOOPBACK, **doc: Any) -> HttpTargetSender:
    config = HttpTarget.model_validate({"type": "http", **doc})
    return HttpTargetSender(config, DictSecrets(), egress)


def test_placeholders_in_path_and_query_are_filled_and_recorded(server: _Server) -> None:
    sender = _sender(url=server.base + "/customers/{{ customer.id }}/orders?ref={{ref}}")
    delivery = sender.send({"customer": {"id": 42}, "ref": "A-1"}, {})

    assert server.seen[0]["path"] == "/customers/42/orders?ref=A-1"
    assert delivery.request["url"] == server.base + "/customers/42/orders?ref=A-1"


def test_a_missing_value_falls_back_to_the_source_payload(server: _Server) -> None:
    sender = _sender(url=server.base + "/u/{{id}}")
    sender.send({"other": 1}, {"id": "from-source"})

    assert server.seen[0]["path"] == "/u/from-source"


@pytest.mark.parametrize(
    ("value", "path"),
    [
        ("a/b", "/files/a%2Fb/meta"),
        ("x?admin=1", "/files/x%3Fadmin%3D1/meta"),
        ("x#frag", "/files/x%23frag/meta"),
        ("50%", "/files/50%25/meta"),
        ("../../admin", "/files/..%2F..%2Fadmin/meta"),
        ("é ü", "/files/%C3%A9%20%C3%BC/meta"),
    ],
)
def test_a_value_stays_one_path_segment(server: _Server, value: str, path: str) -> None:
    _sender(url=server.base + "/files/{{name}}/meta").send({"name": value}, {})

    assert server.seen[0]["path"] == path


def test_a_value_stays_one_query_value(server: _Server) -> None:
    _sender(url=server.base + "/s?q={{q}}&page=1").send({"q": "a&page=99#x"}, {})

    assert server.seen[0]["path"] == "/s?q=a%26page%3D99%23x&page=1"


@pytest.mark.parametrize("value", ["..", "."])
def test_a_value_that_would_climb_the_path_is_refused(server: _Server, value: str) -> None:
    with pytest.raises(TargetError, match="climb the path"):
        _sender(url=server.base + "/files/{{name}}/meta").send({"name": value}, {})
    assert server.seen == []


def test_dots_made_of_two_values_are_refused_too(server: _Server) -> None:
    with pytest.raises(TargetError, match="climb the path"):
        _sender(url=server.base + "/f/{{a}}{{b}}").send({"a": ".", "b": "."}, {})
    assert server.seen == []


def test_dots_inside_a_segment_are_sent(server: _Server) -> None:
    _sender(url=server.base + "/f/{{name}}.json").send({"name": ".."}, {})

    assert server.seen[0]["path"] == "/f/...json"


@pytest.mark.parametrize("payload", [{}, {"id": None}, {"id": ""}])
def test_a_missing_path_value_is_refused(server: _Server, payload: dict[str, Any]) -> None:
    with pytest.raises(TargetError, match="missing or empty"):
        _sender(url=server.base + "/users/{{id}}", method="DELETE").send(payload, {})
    assert server.seen == []


def test_a_missing_query_value_is_sent_empty(server: _Server) -> None:
    _sender(url=server.base + "/s?q={{q}}").send({}, {})

    assert server.seen[0]["path"] == "/s?q="


def test_get_appends_the_payload_fields_after_the_templated_query(server: _Server) -> None:
    _sender(url=server.base + "/s/{{id}}?a={{id}}", method="GET").send({"id": "7"}, {})

    assert server.seen[0]["path"] == "/s/7?a=7&id=7"


@pytest.mark.parametrize(
    "url",
    [
        "http://{{host}}/x",
        "http://127.0.0.1:{{port}}/x",
        "{{scheme}}://example.com/x",
        "http://user{{x}}.example.com/x",
        "http://example.com/x#{{frag}}",
    ],
)
def test_placeholders_outside_path_and_query_are_refused(url: str) -> None:
    with pytest.raises(ConfigError) as caught:
        _sender(url=url)
    assert caught.value.problems[0].path == "target.url"


def test_a_placeholder_whose_path_does_not_parse_is_refused() -> None:
    with pytest.raises(ConfigError) as caught:
        _sender(url="http://example.com/{{a..b}}", headers={"X-A": "{{[}}"})
    assert [p.path for p in caught.value.problems] == ["target.url", "target.headers.X-A"]


def test_header_values_are_filled(server: _Server) -> None:
    sender = _sender(url=server.base + "/h", headers={"X-Tenant": "t-{{tenant}}", "X-Fixed": "1"})
    delivery = sender.send({"tenant": "acme"}, {})

    assert server.seen[0]["headers"]["X-Tenant"] == "t-acme"
    assert server.seen[0]["headers"]["X-Fixed"] == "1"
    assert delivery.request["headers"]["X-Tenant"] == "t-acme"


@pytest.mark.parametrize("value", ["a\r\nX-Admin: 1", "a\nb", "a\rb", "a\0b"])
def test_a_line_break_in_a_header_value_is_refused(server: _Server, value: str) -> None:
    sender = _sender(url=server.base + "/h", headers={"X-Tenant": "{{tenant}}"})
    with pytest.raises(TargetError, match="X-Tenant header's value for {{tenant}}"):
        sender.send({"tenant": value}, {})
    assert server.seen == []


def test_egress_applies_to_the_final_url(server: _Server) -> None:
    # The host is fixed text, so the final URL's host is the template's: still refused.
    sender = _sender(url=server.base + "/u/{{id}}", egress=EgressPolicy())
    with pytest.raises(BlockedDestinationError):
        sender.send({"id": "1"}, {})
    assert server.seen == []
