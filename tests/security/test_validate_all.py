"""Validation that sees everything: target URLs, and every problem of a document at once.

Issue 13, items 12 and 13, through `problems_of` / `validate`, as the API and the CLI call
them.
"""

from __future__ import annotations

import ipaddress
from typing import Any

import pytest

from mapper.engine import addresses
from mapper.engine.sandbox import init_v8
from mapper.engine.validate import problems_of, validate
from mapper.errors import ConfigError
from mapper.targets.egress import EgressPolicy

init_v8()


def http_doc(url: str, **target: Any) -> dict[str, Any]:
    return {
        "name": "urls",
        "source": {"type": "webhook"},
        "mappings": [{"source": "a", "target": "a"}],
        "target": {"type": "http", "url": url, **target},
    }


BAD_URLS = {
    "not a url": "must not contain spaces",
    "ftp://x": "http:// or https://",
    "htps//hooks.example.com/x": "http:// or https://",
    "hooks.example.com/x": "http:// or https://",
    "https:/hooks.example.com/x": "http:// or https://",
    "javascript:alert(1)": "http:// or https://",
    "file:///etc/passwd": "http:// or https://",
    "http://": "has no host",
    "https:///x": "has no host",
    "https://hooks.example.com:99999/x": "not a valid URL",
    "https://hooks.example.com:https/x": "not a valid URL",
    "https://hooks.example.com:0/x": "port 0",
    "https://hooks..example.com/x": "not a valid host name",
    "https://hooks.exa$mple.com/x": "not a valid host name",
    "https://hooks.example.com/a\nb": "control characters",
    "http://169.254.169.254/computeMetadata/v1/": "not allowlisted",
    "http://10.0.0.1/": "not allowlisted",
    "http://[::1]/": "not allowlisted",
    "http://[::ffff:127.0.0.1]/": "not allowlisted",
    "http://127.1/": "not allowlisted",
    "http://2130706433/": "not allowlisted",
    "http://0x7f.0.0.1/": "not allowlisted",
    "http://[fec0::1]/": "not allowlisted",
    # As loopback, like 127.0.0.1 (it is judged once resolved too, when a message is sent).
    "https://localhost:8443/": "not allowlisted",
    "http://api.localhost/": "not allowlisted",
    "http://metadata.google.internal/": "metadata server",
    "http://METADATA/": "metadata server",
}


@pytest.mark.parametrize(("url", "reason"), BAD_URLS.items(), ids=list(BAD_URLS))
def test_a_target_url_no_message_could_be_sent_to_fails_validation(url: str, reason: str) -> None:
    problems = problems_of(http_doc(url), allow=[])
    assert [p.path for p in problems] == ["target.url"]
    assert reason in problems[0].message
    with pytest.raises(ConfigError):
        validate(http_doc(url), allow=[])


@pytest.mark.parametrize(
    "url",
    [
        "https://hooks.example.com/x",
        "http://hooks.example.com:8080/a/b?c=d&e=f#g",
        "HTTPS://Hooks.Example.COM/x",
        "https://bücher.example/x",
        "https://[2606:4700:4700::1111]/dns",
        "https://8.8.8.8/",
        "https://1password.com/",
        "http://my_service.internal:8080/in",
        "https://hooks.example.com./x",
    ],
)
def test_a_sendable_target_url_passes(url: str) -> None:
    assert problems_of(http_doc(url), allow=[]) == []


def test_an_allowlisted_private_address_passes(monkeypatch: pytest.MonkeyPatch) -> None:
    assert problems_of(http_doc("http://10.1.2.3/x"), allow=["10.0.0.0/8"]) == []
    monkeypatch.setenv("EGRESS_ALLOW_CIDRS", "192.0.2.0/24, 10.1.2.0/24")
    assert problems_of(http_doc("http://10.1.2.3/x")) == []
    [problem] = problems_of(http_doc("http://10.1.3.3/x"))
    assert problem.path == "target.url" and "EGRESS_ALLOW_CIDRS" in problem.message


def test_the_email_server_host_is_checked_too() -> None:
    def email_doc(server: str) -> dict[str, Any]:
        return {
            "name": "mail",
            "source": {"type": "webhook"},
            "target": {
                "type": "email",
                "smtpServer": server,
                "fromEmail": "a@example.com",
                "toEmail": "b@example.com",
            },
        }

    assert problems_of(email_doc("smtp.example.com"), allow=[]) == []
    for server, reason in [
        ("169.254.169.254", "not allowlisted"),
        ("smtp example com", "not a valid host name"),
        ("metadata.google.internal", "metadata server"),
    ]:
        problems = problems_of(email_doc(server), allow=[])
        assert [p.path for p in problems] == ["target.smtpServer"]
        assert reason in problems[0].message


ADDRESSES = [
    "8.8.8.8", "1.1.1.1", "127.0.0.1", "127.0.0.2", "10.1.2.3", "172.16.0.1", "192.168.1.1",
    "169.254.169.254", "100.64.0.1", "192.0.0.8", "192.88.99.1", "198.18.0.1", "0.0.0.0",
    "224.0.0.1", "255.255.255.255", "::1", "::", "::ffff:127.0.0.1", "::ffff:8.8.8.8",
    "::127.0.0.1", "64:ff9b::7f00:1", "64:ff9b:1::1", "2002:7f00:1::1", "fd00::1",
    "fe80::1", "fec0::1", "ff02::1", "2001:db8::1", "2001:20::1", "3fff::1", "5f00::1",
    "2606:4700:4700::1111", "2001:4860:4860::8888",
]


@pytest.mark.parametrize("allow", [[], ["127.0.0.2/32", "10.0.0.0/8", "fd00::/8"]])
def test_the_engine_judges_ip_literals_as_the_egress_policy_does(allow: list[str]) -> None:
    policy = EgressPolicy(allow)
    networks = addresses.networks(allow)
    for text in ADDRESSES:
        ip = ipaddress.ip_address(text)
        assert addresses.is_refused(ip, networks) == policy.is_blocked(ip), text


# --- 13: every problem at once ---------------------------------------------------------------


def test_type_path_url_and_javascript_problems_come_in_one_pass() -> None:
    doc = {
        "name": "all at once",
        "source": {"type": "webhook"},
        "condition": "data.ok &&",
        "mappings": [
            {"source": "a", "target": "a", "transforms": [{"type": "substring", "start": -1}]},
            {"source": "b", "target": "b", "transforms": [{"type": "shout"}]},
            {
                "source": "c",
                "target": "c",
                "transforms": [{"type": "custom", "code": "const x = 1;\nreturn value +;"}],
            },
            {"source": "d", "target": "d..e"},
        ],
        "target": {"type": "http", "url": "htps//hooks.example.com/x"},
    }
    problems = {p.path: p.message for p in problems_of(doc, allow=[])}
    unknown = problems.pop("mappings[1].transforms[0]")
    assert unknown.startswith("unknown type 'shout'; expected one of 'uppercase'")
    assert problems == {
        "mappings[0].transforms[0].start": "must be an integer >= 0",
        "mappings[2].transforms[0].code": "SyntaxError: Unexpected token ';' (line 2, column 15)",
        "mappings[3].target": "'d..e': empty key at position 2",
        "target.url": "must start with http:// or https://",
        "condition": "SyntaxError: Unexpected end of input (line 1, column 11)",
    }


def test_javascript_is_checked_even_when_the_rest_of_the_document_has_no_valid_types() -> None:
    doc = {
        "name": 7,
        "mappings": [{"target": "x", "transforms": [{"type": "custom", "code": "return ("}]}],
    }
    paths = {p.path for p in problems_of(doc)}
    assert {"name", "source", "target", "mappings[0].transforms[0].code"} <= paths


@pytest.mark.parametrize(
    ("code", "line", "column"),
    [
        ("return value +;", 1, 15),
        ("const a = 1;\nconst b = 2;\n  return a +* b;", 3, 13),
        ("if (value) {\n  return 1;\n", 3, 1),  # ends too soon: at the end of the code
        ("return `unclosed", 1, 17),
        ("let x = 1;\nlet x = 2;\nreturn x", 2, 5),
        ("with (value) { return 1 }", 1, 1),  # strict mode, as the sandbox compiles it
        ("return await value", 1, 8),
    ],
)
def test_a_syntax_error_gives_line_and_column_in_the_users_code(
    code: str, line: int, column: int
) -> None:
    doc = {
        "name": "js",
        "source": {"type": "webhook"},
        "mappings": [
            {"source": "a", "target": "a", "transforms": [{"type": "custom", "code": code}]}
        ],
        "target": {"type": "http", "url": "https://example.com/"},
    }
    [problem] = problems_of(doc)
    assert problem.path == "mappings[0].transforms[0].code"
    assert problem.message.startswith("SyntaxError: ")
    assert problem.message.endswith(f"(line {line}, column {column})")


def test_a_condition_error_is_placed_in_the_condition() -> None:
    doc = {
        "name": "js",
        "source": {"type": "webhook"},
        "condition": "data.kind === 'order' &&\n  data.total >>> > 10",
        "target": {"type": "http", "url": "https://example.com/"},
    }
    assert [str(p) for p in problems_of(doc)] == [
        "condition: SyntaxError: Unexpected token '>' (line 2, column 18)"
    ]


def test_code_that_would_close_our_wrapper_is_refused_not_run() -> None:
    # Valid inside a script that wrapped it, invalid as a function body: V8 decides by the
    # body, and the position is left out rather than guessed.
    code = "return 1 }); globalThis.hacked = 1; (function () {"
    doc = http_doc("https://example.com/")
    doc["mappings"][0]["transforms"] = [{"type": "custom", "code": code}]
    [problem] = problems_of(doc)
    assert problem.path == "mappings[0].transforms[0].code"
    assert problem.message.startswith("SyntaxError: ")
    assert "line" not in problem.message
