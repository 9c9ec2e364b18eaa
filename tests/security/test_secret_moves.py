"""A stored secret cannot be read back by moving its reference, or by moving its target.

The attacks (docs/security.md): an editor put the inbound signing secret's reference in the
target's bearer token field, and a test send delivered `Bearer <signing secret>` to the
target; an editor changed the target's host and the stored bearer token went there.
"""

from __future__ import annotations

import copy
import uuid
from typing import Any

import pytest
import requests

from tests.e2e.conftest import SINK_HOST, Platform
from tests.e2e.test_team import make_key

INBOUND = "INBOUND-HMAC-S3CRET-" + uuid.uuid4().hex
TOKEN = "target-token-" + uuid.uuid4().hex


@pytest.fixture(scope="module")
def editor(platform: Platform) -> str:
    return str(make_key(platform, "editor", "secret mover")["key"])


def http_doc(platform: Platform, path: str, auth: dict[str, Any]) -> dict[str, Any]:
    return {
        "name": "secret mover",
        "source": {
            "type": "webhook",
            "signature": {"scheme": "hmac-sha256", "secret": INBOUND},
        },
        "target": {"type": "http", "url": f"{platform.sink.url}{path}", "auth": auth},
    }


def put(platform: Platform, editor: str, saved: dict[str, Any], doc: dict[str, Any]) -> Any:
    return platform.api("PUT", f"/api/integrations/{saved['id']}/", doc, token=editor)


def paths(reply: requests.Response) -> list[str]:
    assert reply.status_code == 400, reply.text
    return [p["path"] for p in reply.json()["problems"]]


def test_a_secret_reference_moved_to_another_field_is_refused(
    platform: Platform, editor: str
) -> None:
    saved = platform.add(http_doc(platform, "/moved", {"type": "bearer", "token": TOKEN}))
    moved = copy.deepcopy(saved)
    moved["target"]["auth"]["token"] = saved["source"]["signature"]["secret"]
    assert paths(put(platform, editor, saved, moved)) == ["target.auth.token"]

    # Spelt as snake_case, which the document's model also reads.
    oauth = copy.deepcopy(saved)
    oauth["target"]["auth"] = {
        "type": "oauth2", "token_url": f"{platform.sink.url}/token", "client_id": "c",
        "client_secret": saved["source"]["signature"]["secret"],
    }
    assert paths(put(platform, editor, saved, oauth)) == ["target.auth.clientSecret"]

    platform.api("POST", f"/api/integrations/{saved['id']}/test/", {"payload": {"a": 1}},
                 token=editor)
    for request in platform.sink.received("/moved"):
        assert INBOUND not in str(request)


def test_the_signing_rotation_still_moves_its_own_key(platform: Platform, editor: str) -> None:
    doc = http_doc(platform, "/signed", {"type": "bearer", "token": TOKEN})
    doc["target"]["signing"] = {}
    saved = platform.add(doc)
    rotated = platform.api(
        "POST", f"/api/integrations/{saved['id']}/rotate_signing_secret/", token=editor
    )
    assert rotated.status_code == 200, rotated.text
    again = put(platform, editor, saved, {**rotated.json(), "newSigningSecret": None})
    assert again.status_code == 200, again.text


def test_changing_the_target_origin_needs_the_credentials_again(
    platform: Platform, editor: str
) -> None:
    saved = platform.add(http_doc(platform, "/origin", {"type": "bearer", "token": TOKEN}))
    same_origin = copy.deepcopy(saved)
    same_origin["target"]["url"] = f"{platform.sink.url}/origin-2"
    same = put(platform, editor, saved, same_origin)
    assert same.status_code == 200, same.text

    elsewhere = copy.deepcopy(same.json())
    port = int(platform.sink.url.rsplit(":", 1)[1])
    for url in (f"http://{SINK_HOST}:{port + 1}/steal", f"https://{SINK_HOST}:{port}/steal"):
        elsewhere["target"]["url"] = url
        assert paths(put(platform, editor, saved, elsewhere)) == ["target.auth.token"]
    elsewhere["target"]["auth"]["token"] = "given-again"
    assert put(platform, editor, saved, elsewhere).status_code == 200


def test_a_rollback_does_not_send_todays_credentials_to_yesterdays_host(
    platform: Platform, editor: str
) -> None:
    port = int(platform.sink.url.rsplit(":", 1)[1])
    doc = http_doc(platform, "/x", {"type": "bearer", "token": "attackers-own"})
    doc["target"]["url"] = f"http://{SINK_HOST}:{port + 1}/attacker"
    saved = platform.add(doc)
    fixed = copy.deepcopy(saved)
    fixed["target"]["url"] = f"{platform.sink.url}/real"
    fixed["target"]["auth"]["token"] = TOKEN
    assert put(platform, editor, saved, fixed).status_code == 200
    back = platform.api(
        "POST", f"/api/integrations/{saved['id']}/rollback/", {"version": 1}, token=editor
    )
    assert paths(back) == ["target.auth.token"]


def test_oauth_and_smtp_destinations(platform: Platform, editor: str) -> None:
    oauth = {"type": "oauth2", "tokenUrl": f"{platform.sink.url}/token", "clientId": "c",
             "clientSecret": "client-s3cret"}
    saved = platform.add(http_doc(platform, "/oauth", oauth))
    moved = copy.deepcopy(saved)
    port = int(platform.sink.url.rsplit(":", 1)[1])
    moved["target"]["auth"]["tokenUrl"] = f"http://{SINK_HOST}:{port + 1}/token"
    assert paths(put(platform, editor, saved, moved)) == ["target.auth.clientSecret"]

    mail = platform.add({
        "name": "mail mover",
        "source": {"type": "webhook"},
        "target": {"type": "email", "smtpServer": SINK_HOST, "smtpPort": platform.smtp_port,
                   "smtpUsername": "u", "smtpPassword": "smtp-s3cret",
                   "fromEmail": "a@example.com", "toEmail": "b@example.com", "useTLS": False},
    })
    moved = copy.deepcopy(mail)
    moved["target"]["smtpServer"] = "mail.example.com"
    assert paths(put(platform, editor, mail, moved)) == ["target.smtpPassword"]
