"""Pause and resume delivery through the api function: editors only, audited, and while
paused webhooks are still accepted (202) and their runs held."""

from __future__ import annotations

from typing import Any

import pytest

from mapper.pipeline.runs import RunStatus
from tests.fakes import from_the_topic
from tests.functions.conftest import Fakes, client
from tests.functions.test_team import BOOT, bearer, make_key


@pytest.fixture
def api(fakes: Fakes, monkeypatch: pytest.MonkeyPatch) -> Any:
    monkeypatch.setenv("ADMIN_TOKEN", BOOT)
    monkeypatch.delenv("AUTH_FAILURE_LIMIT", raising=False)
    monkeypatch.delenv("DELIVER_URL", raising=False)
    return client("api")


def test_pause_holds_webhooks_and_resume_sends_them(api: Any, fakes: Fakes) -> None:
    reply = api.post("/api/integrations/i1/pause_delivery/", json={"reason": "maintenance"},
                     headers=bearer(BOOT))
    assert reply.status_code == 200, reply.get_json()
    delivery = reply.get_json()["delivery"]
    assert (delivery["state"], delivery["reason"], delivery["by"], delivery["held"]) == (
        "paused", "maintenance", "user", 0)

    webhook = client("webhook")
    accepted = webhook.post("/webhook/p-secret/", json={"n": 7})
    assert accepted.status_code == 202
    run_id = accepted.get_json()["runId"]
    worker = _worker()
    assert worker.process(from_the_topic(fakes.queue.messages.pop())) == RunStatus.HELD
    assert fakes.target.sent == []
    shown = api.get("/api/integrations/i1/", headers=bearer(BOOT)).get_json()
    assert shown["delivery"]["held"] == 1
    listed = api.get("/api/integrations/", headers=bearer(BOOT)).get_json()
    assert [i["delivery"]["held"] for i in listed["integrations"] if i["id"] == "i1"] == [1]

    reply = api.post("/api/integrations/i1/resume_delivery/", headers=bearer(BOOT))
    assert reply.status_code == 200
    assert reply.get_json()["delivery"] | {"since": None} == {
        "state": "active", "reason": None, "since": None, "by": None, "held": 0,
        "consecutiveFailures": 0,
    }
    assert worker.process(from_the_topic(fakes.queue.messages.pop())) == RunStatus.SUCCESS
    assert fakes.runs.get(run_id)["status"] == RunStatus.SUCCESS
    actions = [e["action"] for e in fakes.audit.entries]
    assert actions[-2:] == ["integration.pause_delivery", "integration.resume_delivery"]
    # The audit's diff shows what the pause changed.
    assert {"path": "delivery.state", "op": "change", "old": "active", "new": "paused"} in (
        fakes.audit.entries[-2]["diff"])


def test_a_viewer_may_not_pause(api: Any) -> None:
    viewer = make_key(api, "viewer")
    reply = api.post("/api/integrations/i1/pause_delivery/", json={},
                     headers=bearer(viewer["key"]))
    assert reply.status_code == 403


def test_a_reason_must_be_text(api: Any) -> None:
    reply = api.post("/api/integrations/i1/pause_delivery/", json={"reason": 5},
                     headers=bearer(BOOT))
    assert reply.status_code == 400


def _worker() -> Any:
    from mapper import services

    return services.worker()
