"""`source.dedupe` as the webhook and push functions answer it: 202 duplicate naming the
first run, 204 for a push; the source schema as the API shows it, to a viewer too."""

from __future__ import annotations

import base64

import pytest

from mapper.engine.config import parse_integration
from mapper.pipeline.shape import ShapeRecorder
from tests.functions.conftest import Fakes, client
from tests.pipeline.support import HOOK

DEDUPE = {"paths": ["data.id"], "windowSeconds": 3600}
BOOT = "boot-" + "s" * 30


def test_webhook_answers_202_duplicate_with_the_first_run_id(fakes: Fakes) -> None:
    fakes.integrations.docs["d1"] = {
        **HOOK, "id": "d1", "webhookPath": "dedupe-path",
        "source": {"type": "webhook", "dedupe": DEDUPE},
    }
    web = client("webhook")
    first = web.post("/webhook/dedupe-path/", json={"data": {"id": "evt_1"}})
    assert first.status_code == 202 and first.get_json()["status"] == "queued"
    second = web.post("/webhook/dedupe-path/", json={"data": {"id": "evt_1"}})
    assert second.status_code == 202
    assert second.get_json() == {"status": "duplicate", "runId": first.get_json()["runId"]}
    assert len(fakes.queue.messages) == 1


def test_push_acknowledges_a_duplicate_with_204(fakes: Fakes) -> None:
    fakes.integrations.docs["d2"] = {
        **HOOK, "id": "d2", "pushPath": "dedupe-push",
        "source": {"type": "pubsub", "projectId": "p", "topic": "t", "mode": "push",
                   "dedupe": DEDUPE},
    }
    push = client("pubsub_push")
    data = base64.b64encode(b'{"data": {"id": 5}}').decode()
    for n in (1, 2):
        envelope = {"message": {"messageId": f"m{n}", "data": data}, "subscription": "s"}
        assert push.post("/pubsub/dedupe-push/", json=envelope).status_code == 204
    assert len(fakes.queue.messages) == 1 and list(fakes.runs.docs) == ["d2.m1"]


def test_a_viewer_reads_the_source_schema_with_drift_flagged_where_a_mapping_reads(
    fakes: Fakes, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ADMIN_TOKEN", BOOT)
    monkeypatch.delenv("AUTH_FAILURE_LIMIT", raising=False)
    api = client("api")
    recorder = ShapeRecorder(fakes.shapes, flush_seconds=0, clock=fakes.clock)
    integration = parse_integration(HOOK)  # its mapping reads `n`
    for n in range(25):  # `n` renamed `m` after 5 payloads
        recorder.observe(integration, {"n": n, "k": 1} if n < 5 else {"m": n, "k": 1})
    made = api.post("/api/keys/", json={"name": "v", "role": "viewer"},
                    headers={"Authorization": f"Bearer {BOOT}"}).get_json()
    reply = api.get("/api/integrations/i1/source_schema/",
                    headers={"Authorization": f"Bearer {made['key']}"})
    assert reply.status_code == 200, reply.get_json()
    shape = reply.get_json()
    assert [p["path"] for p in shape["paths"]] == ["k", "m", "n"]
    assert [(d["path"], d["kind"], d["mapped"]) for d in shape["drift"]] == [
        ("n", "missing", True)
    ]
    missing = api.get("/api/integrations/nope/source_schema/",
                      headers={"Authorization": f"Bearer {made['key']}"})
    assert missing.status_code == 404


def test_deleting_an_integration_forgets_its_shape(
    fakes: Fakes, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ADMIN_TOKEN", BOOT)
    ShapeRecorder(fakes.shapes, clock=fakes.clock).observe(parse_integration(HOOK), {"n": 1})
    assert "i1" in fakes.shapes.shapes
    reply = client("api").delete("/api/integrations/i1/",
                                 headers={"Authorization": f"Bearer {BOOT}"})
    assert reply.status_code == 204, reply.get_json()
    assert fakes.shapes.shapes == {}
