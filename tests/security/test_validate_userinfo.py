"""URL fields hold no credentials, and a pasted service account key is for Google's universe.

The findings (docs/security.md): an OAuth2 `tokenUrl` of `https://user:password@host/` was
accepted and kept the password in the plain document; a key naming another
`universe_domain` was accepted, and google-auth builds its endpoints from it.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from mapper.engine.validate import problems_of

KEY = {
    "type": "service_account",
    "project_id": "p",
    "private_key": "-----BEGIN PRIVATE KEY-----\nMIIE\n-----END PRIVATE KEY-----\n",
    "client_email": "sa@p.iam.gserviceaccount.com",
    "token_uri": "https://oauth2.googleapis.com/token",
}


def http_doc(**target: Any) -> dict[str, Any]:
    return {
        "name": "n",
        "source": {"type": "webhook"},
        "target": {"type": "http", "url": "https://hooks.example.com/in", **target},
    }


@pytest.mark.parametrize(
    "token_url",
    [
        "https://client:s3cret@auth.example.com/token",
        "https://client@auth.example.com/token",
        "https://:s3cret@auth.example.com/token",
        "https://client:s3cret@auth.example.com:8443/token?x=1",
    ],
)
def test_the_token_url_holds_no_credentials(token_url: str) -> None:
    auth = {"type": "oauth2", "tokenUrl": token_url, "clientId": "c", "clientSecret": "s"}
    problems = problems_of(http_doc(auth=auth), allow=())
    assert [p.path for p in problems] == ["target.auth.tokenUrl"]
    assert "credentials" in problems[0].message
    snake = {"type": "oauth2", "token_url": token_url, "client_id": "c", "client_secret": "s"}
    assert [p.path for p in problems_of(http_doc(auth=snake), allow=())] == [
        "target.auth.tokenUrl"
    ]


def test_the_target_url_holds_no_credentials() -> None:
    doc = http_doc()
    doc["target"]["url"] = "https://user:pass@hooks.example.com/in"
    assert [p.path for p in problems_of(doc, allow=())] == ["target.url"]


@pytest.mark.parametrize("as_text", [False, True])
def test_a_key_of_another_universe_is_refused(as_text: bool) -> None:
    key: Any = {**KEY, "universe_domain": "evil.example.com"}
    doc = {
        "name": "n",
        "source": {"type": "pubsub", "projectId": "p", "topic": "t",
                   "credentials": json.dumps(key) if as_text else key},
        "target": {"type": "http", "url": "https://hooks.example.com/in"},
    }
    problems = problems_of(doc, allow=())
    assert [p.path for p in problems] == ["source.credentials.universe_domain"]
    doc["source"]["credentials"] = {**KEY, "universe_domain": "googleapis.com"}
    assert problems_of(doc, allow=()) == []
