"""A missing PUSH_SERVICE_ACCOUNT fails only what needs it, with a 503 naming the setting.

Before, building the API's control plane built the push check, which raised on the empty
account: every `/api/` request answered 500.
"""

from __future__ import annotations

import logging
from typing import Any

import pytest

from mapper import services as services_module

from .conftest import Fakes, client

BOOT = "boot-token-for-not-configured"
PUSH_DOC = {
    "name": "push",
    "source": {"type": "pubsub", "projectId": "theirs", "topic": "t", "mode": "push"},
    "target": {"type": "http", "url": "https://example.com/in"},
}


@pytest.fixture
def unset(fakes: Fakes, monkeypatch: pytest.MonkeyPatch) -> Fakes:
    monkeypatch.setenv("ADMIN_TOKEN", BOOT)
    monkeypatch.setenv("PUSH_VERIFY_OIDC", "true")
    monkeypatch.delenv("PUSH_SERVICE_ACCOUNT", raising=False)
    for name in ("push_verifier", "intake", "admin", "listeners", "redriver"):
        getattr(services_module, name).cache_clear()
    return fakes


def test_the_api_answers_and_names_the_setting_where_it_is_needed(
    unset: Fakes, caplog: pytest.LogCaptureFixture
) -> None:
    api = client("api")
    auth = {"Authorization": f"Bearer {BOOT}"}
    with caplog.at_level(logging.ERROR):
        listed = api.get("/api/integrations/", headers=auth)
        assert listed.status_code == 200, listed.get_json()
        api.get("/api/integrations/", headers=auth)
    named = [r for r in caplog.records if "PUSH_SERVICE_ACCOUNT is not set" in r.getMessage()]
    assert len(named) == 1

    created = api.post("/api/integrations/", json=PUSH_DOC, headers=auth)
    assert created.status_code == 503
    body: Any = created.get_json()
    assert body["code"] == "not_configured"
    assert body["error"].startswith("PUSH_SERVICE_ACCOUNT is not set: ")


def test_pushes_are_kept_with_a_503_naming_the_setting(unset: Fakes) -> None:
    pushed = client("pubsub_push").post("/pubsub/push-path/", json={"message": {}})
    assert pushed.status_code == 503
    # Any 5xx makes Pub/Sub keep the message; the log names the setting (above).
    assert pushed.get_json()["code"] == "not_configured"
    assert pushed.headers["Retry-After"]
