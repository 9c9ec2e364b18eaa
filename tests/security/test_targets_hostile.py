"""Targets and secrets under attack (issue 13, items 7-11), through the real data plane.

Each attack goes in as a webhook body through the intake, is run by the worker with the
real senders (SMTP to aiosmtpd, HTTP to a local server) and the real local secret store,
and ends as one `error` run with the reason; nothing reaches the receiver, and the next
honest message of the same integration is delivered as usual.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote, quote_plus

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from mapper.engine.validate import problems_of
from mapper.errors import ConfigError, ListenerError
from mapper.redact import Redactor
from mapper.secrets import LocalSecretBackend, SecretResolver, store_secrets
from mapper.sources.subscriptions import PubSubClients
from mapper.targets.base import scrub

from .targets_support import (
    SMTP_PASSWORD,
    SMTP_USER,
    DataPlane,
    Mailbox,
    http_sink,
    smtp_server,
)

SERVICE_ACCOUNT = {
    "type": "service_account",
    "project_id": "p",
    "private_key": "-----BEGIN PRIVATE KEY-----\nMIIE...\n-----END PRIVATE KEY-----\n",
    "client_email": "sa@p.iam.gserviceaccount.com",
}


@pytest.fixture
def smtp() -> Iterator[tuple[Mailbox, int]]:
    box, controller, port = smtp_server()
    try:
        yield box, port
    finally:
        controller.stop()


def email_doc(port: int, **target: Any) -> dict[str, Any]:
    return {
        "name": "hostile email",
        "source": {"type": "webhook"},
        "mappings": [{"source": "name", "target": "name"}],
        "target": {
            "type": "email",
            "smtpServer": "127.0.0.1",
            "smtpPort": port,
            "fromEmail": "Mapper <mapper@example.com>",
            "toEmail": "ops@example.com",
            "useTLS": False,
            "subject": "Order for {{name}}",
            **target,
        },
    }


# --- 7: header injection through RFC 2047 encoded words ---------------------------------

ENCODED_WORD_ATTACKS = {
    "bcc": "=?utf-8?q?hi=0D=0ABcc:_victim@evil.test?=",
    "bare-lf": "=?utf-8?q?hi=0ABcc:_victim@evil.test?=",
    "base64": "=?utf-8?b?aGkNCkJjYzogdmljdGltQGV2aWwudGVzdA==?=",
    "content-type": "=?utf-8?q?hi=0D=0AContent-Type:_text/html=0D=0A=0D=0A<h1>pay_here</h1>?=",
    "in-text": "Ann =?UTF-8?Q?x=0D=0ABcc:_victim@evil.test?= Smith",
}


@pytest.mark.parametrize("attack", ENCODED_WORD_ATTACKS.values(), ids=ENCODED_WORD_ATTACKS)
def test_encoded_word_in_subject_fails_the_run_and_sends_nothing(
    smtp: tuple[Mailbox, int], tmp_path: Path, attack: str
) -> None:
    box, port = smtp
    plane = DataPlane(email_doc(port), tmp_path / "secrets.json")

    run = plane.deliver({"name": attack})

    assert run["status"] == "error"
    assert "Subject" in run["errorMessage"]
    assert "encoded word" in run["errorMessage"]
    assert box.envelopes == []
    # The next honest message of the same integration goes out, with no extra header.
    ok = plane.deliver({"name": "Ann"})
    assert ok["status"] == "success"
    (message,) = box.messages()
    assert message["Subject"] == "Order for Ann"
    assert message["Bcc"] is None
    assert box.envelopes[0].rcpt_tos == ["ops@example.com"]


def test_encoded_word_in_a_recipient_name_fails_the_run(
    smtp: tuple[Mailbox, int], tmp_path: Path
) -> None:
    box, port = smtp
    doc = email_doc(port, toEmail="{{name}} <ann@example.com>", subject="Hi")
    run = DataPlane(doc, tmp_path / "secrets.json").deliver(
        {"name": "=?utf-8?q?Ann=0D=0ABcc:_victim@evil.test?="}
    )
    assert run["status"] == "error"
    assert "To" in run["errorMessage"] and "encoded word" in run["errorMessage"]
    assert box.envelopes == []


def test_encoded_word_written_by_the_integration_itself_is_checked_as_serialized(
    smtp: tuple[Mailbox, int], tmp_path: Path
) -> None:
    # Not from the payload, so the placeholder check does not see it: the check of the
    # header lines as serialized does.
    box, port = smtp
    doc = email_doc(port, subject="=?utf-8?q?hi=0D=0ABcc:_victim@evil.test?=")
    run = DataPlane(doc, tmp_path / "secrets.json").deliver({"name": "Ann"})
    assert run["status"] == "error"
    assert "header" in run["errorMessage"] and "Bcc" in run["errorMessage"]
    assert box.envelopes == []


def test_plain_text_that_looks_like_an_encoded_word_start_is_kept(
    smtp: tuple[Mailbox, int], tmp_path: Path
) -> None:
    # "=?" alone is not an encoded word: a subject asking "2+2=?" still goes out as written.
    box, port = smtp
    run = DataPlane(email_doc(port), tmp_path / "secrets.json").deliver({"name": "2+2=?"})
    assert run["status"] == "success", run.get("errorMessage")
    (message,) = box.messages()
    assert message["Subject"] == "Order for 2+2=?"


# --- 11: SMTP login over plain text --------------------------------------------------------


@pytest.fixture
def smtp_auth() -> Iterator[tuple[Mailbox, int]]:
    box, controller, port = smtp_server(auth=True)
    try:
        yield box, port
    finally:
        controller.stop()


def login_doc(port: int) -> dict[str, Any]:
    return email_doc(port, smtpUsername=SMTP_USER, smtpPassword=SMTP_PASSWORD, subject="Hi")


def test_login_over_plain_text_is_refused_before_connecting(
    smtp_auth: tuple[Mailbox, int], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("SMTP_PLAINTEXT_ALLOW", raising=False)
    box, port = smtp_auth
    run = DataPlane(login_doc(port), tmp_path / "secrets.json").deliver({"name": "Ann"})
    assert run["status"] == "error"
    assert "useTLS" in run["errorMessage"] and "SMTP_PLAINTEXT_ALLOW" in run["errorMessage"]
    assert SMTP_PASSWORD not in str(run)
    assert box.logins == [] and box.envelopes == []


def test_login_over_plain_text_to_an_allowlisted_server_is_sent(
    smtp_auth: tuple[Mailbox, int], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SMTP_PLAINTEXT_ALLOW", "mail.internal.test, 127.0.0.1")
    box, port = smtp_auth
    run = DataPlane(login_doc(port), tmp_path / "secrets.json").deliver({"name": "Ann"})
    assert run["status"] == "success", run.get("errorMessage")
    assert box.logins == [SMTP_USER.encode()]
    assert len(box.envelopes) == 1


def test_plain_text_without_login_is_not_affected(
    smtp: tuple[Mailbox, int], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # No credentials cross the wire: a relay on port 25 without TLS stays possible.
    monkeypatch.delenv("SMTP_PLAINTEXT_ALLOW", raising=False)
    box, port = smtp
    run = DataPlane(email_doc(port), tmp_path / "secrets.json").deliver({"name": "Ann"})
    assert run["status"] == "success"
    assert len(box.envelopes) == 1


# --- 8: secrets with control characters ----------------------------------------------------

CONTROL_SECRETS = {"trailing-lf": "tok-4f9a2c\n", "crlf": "tok-4f9a\r\n2c", "nul": "tok\x004f9a"}


def http_doc(url: str, auth: dict[str, Any]) -> dict[str, Any]:
    return {
        "name": "hostile http",
        "source": {"type": "webhook"},
        "mappings": [{"source": "name", "target": "name"}],
        "target": {"type": "http", "url": url, "auth": auth},
    }


@pytest.mark.parametrize("value", CONTROL_SECRETS.values(), ids=CONTROL_SECRETS)
@pytest.mark.parametrize(
    ("auth", "where"),
    [
        ({"type": "bearer", "token": "{v}"}, "target.auth.token"),
        ({"type": "basic", "username": "u", "password": "{v}"}, "target.auth.password"),
        ({"type": "apiKey", "header": "X-Key", "value": "{v}"}, "target.auth.value"),
    ],
)
def test_a_secret_with_control_characters_is_refused_when_saved(
    tmp_path: Path, value: str, auth: dict[str, Any], where: str
) -> None:
    auth = {k: value if v == "{v}" else v for k, v in auth.items()}
    doc = http_doc("https://hooks.example.com/x", auth)
    problems = problems_of(doc)
    assert [p.path for p in problems] == [where]
    assert "control character" in problems[0].message
    assert value not in problems[0].message
    # The store path refuses it as well, and keeps nothing.
    backend = LocalSecretBackend(tmp_path / "secrets.json")
    with pytest.raises(ConfigError) as info:
        store_secrets(doc, backend, "i1")
    assert [p.path for p in info.value.problems] == [where]
    assert not (tmp_path / "secrets.json").exists()


def test_other_secret_fields_refuse_control_characters_too() -> None:
    doc = {
        "name": "signed",
        "source": {"type": "webhook", "signature": {"scheme": "hmac-sha256", "secret": "k\n"}},
        "target": {"type": "email", "smtpServer": "smtp.example.com", "smtpUsername": "u",
                   "smtpPassword": "p\r\n", "fromEmail": "a@example.com",
                   "toEmail": "b@example.com"},
    }
    paths = sorted(p.path for p in problems_of(doc))
    assert paths == ["source.signature.secret", "target.smtpPassword"]


def test_a_pasted_service_account_key_keeps_its_line_breaks() -> None:
    key = json.dumps({**SERVICE_ACCOUNT}, indent=2)  # pasted from the file, as text
    doc = {
        "name": "pull",
        "source": {"type": "pubsub", "projectId": "p", "topic": "t", "credentials": key},
        "target": {"type": "http", "url": "https://hooks.example.com/x"},
    }
    assert "\n" in key
    assert problems_of(doc) == []


@pytest.mark.parametrize("value", ["tok-4f9a2c\n", "tok-4f9a\r\n2c"], ids=["lf", "crlf"])
@pytest.mark.parametrize("auth_type", ["bearer", "apiKey"])
def test_a_stored_secret_with_control_characters_never_reaches_the_run(
    tmp_path: Path, value: str, auth_type: str
) -> None:
    # A value stored before saves refused it (or written into Secret Manager by hand):
    # requests refuses the header and quotes it in its message, escaped.
    sink, server = http_sink()
    try:
        backend = LocalSecretBackend(tmp_path / "secrets.json")
        field = "token" if auth_type == "bearer" else "value"
        ref = backend.store(f"hostile-target-auth-{field}", value)
        auth = {"type": auth_type, field: {"secret": ref}}
        if auth_type == "apiKey":
            auth["header"] = "X-Key"
        plane = DataPlane(http_doc(sink.url + "/in", auth), tmp_path / "secrets.json")
        run = plane.deliver({"name": "Ann"})
    finally:
        server.shutdown()
        server.server_close()
    assert run["status"] == "error"
    assert "header" in run["errorMessage"]
    text = json.dumps(run)
    for form in (value, value.strip(), repr(value)[1:-1], json.dumps(value)[1:-1], "tok-4f9a"):
        assert form not in text and form not in run["errorMessage"], form
    assert sink.requests == []


@pytest.mark.parametrize("value", ["tok-4f9a2c\n", "tök\r\n4f9a'\"\\ 2c"])
def test_every_quoted_form_of_a_secret_is_scrubbed(value: str) -> None:
    forms = {
        "repr": repr(value),
        "repr of bytes": repr(value.encode()),
        "json": json.dumps(value),
        "json, unicode kept": json.dumps(value, ensure_ascii=False),
        "percent": quote(value, safe=""),
        "percent, plus": quote_plus(value),
    }
    for name, form in forms.items():
        sentence = f"header value: {form} refused"
        assert "4f9a" not in scrub(sentence, [value]), name
        assert "4f9a" not in Redactor([value]).scrub({"errorMessage": sentence})["errorMessage"]


# --- 10: credentials in a target URL --------------------------------------------------------

URLS_WITH_CREDENTIALS = [
    "https://ann:pa55-word@hooks.example.com/x",
    "https://ann@hooks.example.com/x",
    "https://:pa55-word@hooks.example.com/x",
    "https://ann:pa55-word@hooks.example.com:8443/x?y=1",
]


@pytest.mark.parametrize("url", URLS_WITH_CREDENTIALS)
def test_credentials_in_a_target_url_are_refused_at_validation(url: str) -> None:
    problems = problems_of(http_doc(url, {"type": "bearer", "token": "t0ken"}))
    assert [p.path for p in problems] == ["target.url"]
    assert "basic" in problems[0].message
    assert "pa55-word" not in problems[0].message


def test_an_at_sign_outside_the_host_part_is_not_credentials() -> None:
    doc = http_doc("https://hooks.example.com/x/@team?to=a@example.com", {"type": "bearer",
                                                                         "token": "t0ken"})
    assert problems_of(doc) == []


def test_a_stored_url_with_credentials_is_never_used(tmp_path: Path) -> None:
    # Saved before validation refused it: the message is still accepted (nothing a sender
    # sent is lost), and the worker ends its run `error` with the reason; nothing is sent.
    sink, server = http_sink()
    try:
        host = sink.url.removeprefix("http://")
        doc = http_doc(f"http://ann:pa55-word@{host}/in", {"type": "bearer", "token": "t0ken"})
        plane = DataPlane(doc, tmp_path / "secrets.json")
        run = plane.deliver({"name": "Ann"})
    finally:
        server.shutdown()
        server.server_close()
    assert run["status"] == "error"
    assert run["errorMessage"].startswith("target.url:")
    assert "pa55-word" not in run["errorMessage"]
    assert run["incomingPayload"] == {"name": "Ann"}  # kept, to redrive once fixed
    assert sink.requests == []


# --- 9: a service-account key whose token_uri points elsewhere -------------------------------

TOKEN_URIS_REFUSED = [
    "http://169.254.169.254/computeMetadata/v1/instance/service-accounts/default/token",
    "https://oauth2.googleapis.com.evil.test/token",
    "http://oauth2.googleapis.com/token",
    "https://oauth2.googleapis.com/token/../../x",
    "https://attacker.example/token",
]


@pytest.fixture(scope="module")
def service_account_key() -> dict[str, Any]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    return {
        "type": "service_account",
        "project_id": "p",
        "private_key_id": "k1",
        "private_key": pem,
        "client_email": "sa@p.iam.gserviceaccount.com",
        "client_id": "1",
        "token_uri": "https://oauth2.googleapis.com/token",
    }


def pubsub_doc(credentials: Any) -> dict[str, Any]:
    return {
        "name": "pull",
        "source": {"type": "pubsub", "projectId": "p", "topic": "t", "mode": "pull",
                   "credentials": credentials},
        "target": {"type": "http", "url": "https://hooks.example.com/x"},
    }


@pytest.mark.parametrize("token_uri", TOKEN_URIS_REFUSED)
@pytest.mark.parametrize("as_text", [False, True], ids=["object", "pasted-text"])
def test_a_token_uri_off_google_is_refused_at_validation(
    service_account_key: dict[str, Any], token_uri: str, as_text: bool
) -> None:
    key: Any = {**service_account_key, "token_uri": token_uri}
    if as_text:
        key = json.dumps(key, indent=2)
    problems = problems_of(pubsub_doc(key))
    assert [p.path for p in problems] == ["source.credentials.token_uri"]
    assert "oauth2.googleapis.com" in problems[0].message
    assert "PRIVATE KEY" not in problems[0].message


@pytest.mark.parametrize(
    "token_uri",
    [
        "https://oauth2.googleapis.com/token",
        "https://accounts.google.com/o/oauth2/token",
        "https://www.googleapis.com/oauth2/v4/token",
    ],
)
def test_google_token_endpoints_are_accepted(
    service_account_key: dict[str, Any], token_uri: str
) -> None:
    assert problems_of(pubsub_doc({**service_account_key, "token_uri": token_uri})) == []


@pytest.mark.parametrize("token_uri", TOKEN_URIS_REFUSED[:2])
def test_a_stored_key_with_a_token_uri_off_google_is_refused_where_credentials_are_built(
    tmp_path: Path, service_account_key: dict[str, Any], token_uri: str
) -> None:
    # Stored before validation refused it: google-auth would POST a signed assertion there.
    backend = LocalSecretBackend(tmp_path / "secrets.json")
    key = {**service_account_key, "token_uri": token_uri}
    ref = backend.store("i1-source-credentials", json.dumps(key))
    clients = PubSubClients(SecretResolver(backend, ttl_seconds=0))
    with pytest.raises(ListenerError) as info:
        clients.for_source({"credentials": {"secret": ref}})
    assert info.value.path == "source.credentials.token_uri"
    assert not info.value.retryable
    # The same key with Google's endpoint builds its clients (no network at build time).
    good = backend.store("i1-source-credentials", json.dumps(service_account_key))
    publisher, subscriber = clients.for_source({"credentials": {"secret": good}})
    assert publisher is not None and subscriber is not None
