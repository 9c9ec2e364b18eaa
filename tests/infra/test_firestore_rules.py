"""infra/firestore.rules: deployed by Terraform, and refusing every client SDK request.

The Firestore emulator is started with the rules file (`--rules`) and sent what a web or
mobile client SDK sends: REST requests without credentials, and with a signed-in user's
Firebase ID token (the emulator takes unsigned ones). Each is refused. The platform's own
path (Google's client library with admin credentials, as a service account in the cloud,
where IAM rather than rules applies) still reads and writes.
"""

from __future__ import annotations

import base64
import json
import shutil
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest

from local.emulators import Emulators, start_emulators

from .tfconfig import INFRA, Expr, load

RULES = INFRA / "firestore.rules"
PROJECT = "demo-rules"
# Requests to the emulator on 127.0.0.1 must not go through a proxy from the environment.
_HTTP = urllib.request.build_opener(urllib.request.ProxyHandler({}))
COLLECTIONS = ["integrations", "runs", "anything"]


def test_terraform_releases_the_rules_file() -> None:
    config = load()
    ruleset = config.resource("google_firebaserules_ruleset", "firestore").body
    [source] = ruleset["source"]
    assert source["files"] == [
        {"name": "firestore.rules", "content": Expr('file("${path.module}/firestore.rules")')}
    ]
    release = config.resource("google_firebaserules_release", "firestore").body
    # The release the (default) database reads its rules from.
    assert release["name"] == "cloud.firestore"
    assert "google_firebaserules_ruleset.firestore.name" in release["ruleset_name"]
    services = config.locals()["services"]
    assert "firebaserules.googleapis.com" in services


def test_the_rules_allow_nothing() -> None:
    text = RULES.read_text()
    assert "allow read, write: if false;" in text
    allows = [line for line in text.splitlines() if line.strip().startswith("allow")]
    assert allows == ["      allow read, write: if false;"]


@pytest.fixture(scope="module")
def emulator() -> Iterator[Emulators]:
    if shutil.which("gcloud") is None:
        pytest.skip("gcloud with the Firestore emulator is not installed")
    with start_emulators(pubsub=False, project=PROJECT, firestore_rules=RULES) as running:
        yield running


def request(
    host: str, method: str, path: str, body: Any = None, token: str | None = None
) -> tuple[int, dict[str, Any]]:
    """(status, JSON answer) of one REST request to the emulator, as a client SDK makes it."""
    headers = {"Content-Type": "application/json"}
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(f"http://{host}{path}", data=data, method=method, headers=headers)
    try:
        with _HTTP.open(req, timeout=10) as resp:
            return resp.status, json.loads(resp.read() or b"{}")
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"{}")


def user_token(project: str = PROJECT) -> str:
    """A signed-in user's Firebase ID token, unsigned (the emulator accepts those)."""

    def part(value: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(value).encode()).rstrip(b"=").decode()

    now = int(time.time())
    claims = {
        "iss": f"https://securetoken.google.com/{project}",
        "aud": project,
        "sub": "user-1",
        "user_id": "user-1",
        "iat": now,
        "auth_time": now,
        "exp": now + 3600,
        "firebase": {"sign_in_provider": "password", "identities": {}},
    }
    return f"{part({'alg': 'none', 'typ': 'JWT'})}.{part(claims)}."


def documents(project: str = PROJECT) -> str:
    return f"/v1/projects/{project}/databases/(default)/documents"


@pytest.fixture(scope="module")
def stored(emulator: Emulators) -> str:
    """A document in each collection, written the platform's way; the emulator's host."""
    from google.auth.credentials import AnonymousCredentials
    from google.cloud import firestore

    assert emulator.firestore_host is not None
    with pytest.MonkeyPatch.context() as env:
        env.setenv("FIRESTORE_EMULATOR_HOST", emulator.firestore_host)
        client = firestore.Client(project=PROJECT, credentials=AnonymousCredentials())
        for collection in COLLECTIONS:
            client.collection(collection).document("doc-1").set({"secretRef": "mapper-x"})
        # The platform reads back what it wrote: the rules do not stand in its way.
        assert client.collection("runs").document("doc-1").get().to_dict() == {
            "secretRef": "mapper-x"
        }
        client.close()
    return emulator.firestore_host


def refused(answer: tuple[int, dict[str, Any]]) -> bool:
    status, body = answer
    return status == 403 and body.get("error", {}).get("status") == "PERMISSION_DENIED"


@pytest.mark.slow
@pytest.mark.parametrize("signed_in", [False, True], ids=["no credentials", "signed-in user"])
@pytest.mark.parametrize("collection", COLLECTIONS)
def test_a_client_can_neither_read_nor_write(stored: str, collection: str, signed_in: bool) -> None:
    token = user_token() if signed_in else None
    doc = f"{documents()}/{collection}/doc-1"
    fields = {"fields": {"secretRef": {"stringValue": "stolen"}}}
    assert refused(request(stored, "GET", doc, token=token))
    assert refused(request(stored, "GET", f"{documents()}/{collection}", token=token))
    query = {"structuredQuery": {"from": [{"collectionId": collection}]}}
    assert refused(request(stored, "POST", f"{documents()}:runQuery", query, token=token))
    assert refused(request(stored, "PATCH", doc, fields, token=token))  # update
    assert refused(request(stored, "PATCH", f"{doc}-new", fields, token=token))  # create
    assert refused(request(stored, "DELETE", doc, token=token))


@pytest.mark.slow
def test_nothing_a_client_tried_took_effect(stored: str) -> None:
    # Read back with the emulator's admin credentials: the document is as the platform wrote it.
    status, body = request(stored, "GET", f"{documents()}/runs/doc-1", token="owner")
    assert status == 200
    assert body["fields"] == {"secretRef": {"stringValue": "mapper-x"}}
    status, _ = request(stored, "GET", f"{documents()}/runs/doc-1-new", token="owner")
    assert status == 404


@pytest.mark.slow
def test_the_same_requests_pass_where_rules_allow_them(stored: str) -> None:
    # The control: a project whose rules allow everything answers the identical requests,
    # so the refusals above come from infra/firestore.rules, not from the request's shape.
    open_rules = (
        "rules_version = '2';\nservice cloud.firestore { match /databases/{database}/documents "
        "{ match /{document=**} { allow read, write: if true; } } }"
    )
    status, _ = request(
        stored,
        "PUT",
        "/emulator/v1/projects/demo-open:securityRules",
        {"rules": {"files": [{"content": open_rules}]}},
    )
    assert status == 200
    doc = f"{documents('demo-open')}/runs/doc-1"
    fields = {"fields": {"secretRef": {"stringValue": "x"}}}
    assert request(stored, "PATCH", doc, fields, token=user_token("demo-open"))[0] == 200
    assert request(stored, "GET", doc)[0] == 200
