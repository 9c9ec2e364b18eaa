"""Fan-out through the running functions: two real local receivers, each sent the event once."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import pytest
from playwright.sync_api import Browser, expect

from .conftest import Platform, Sink, start_sink
from .ui_support import Ui

FAST_RETRY = {"maxAttempts": 5, "initialBackoffSeconds": 1, "maxBackoffSeconds": 1}


@pytest.fixture(scope="module")
def second() -> Iterator[Sink]:
    """A second receiver, a real HTTP server of its own."""
    sink, server = start_sink()
    yield sink
    server.shutdown()
    server.server_close()


def fan_out(platform: Platform, second: Sink, crm: str, ops: str, **extra: Any) -> dict[str, Any]:
    return platform.add({
        "name": "fan-out",
        "source": {"type": "webhook"},
        "mappings": [{"source": "order.id", "target": "id"}],
        "targets": [
            {"type": "http", "name": "crm", "url": platform.sink.url + crm, "timeoutSeconds": 5},
            {"type": "http", "name": "ops", "url": second.url + ops, "timeoutSeconds": 5,
             "mappings": [{"source": "order.id", "target": "ops.order"}]},
        ],
        "retry": FAST_RETRY,
        **extra,
    })


def test_each_receiver_gets_the_event_once_though_one_failed_twice(
    platform: Platform, second: Sink, browser: Browser
) -> None:
    second.on("/ops-flaky", 500, 500, 200)
    integration = fan_out(platform, second, "/crm-steady", "/ops-flaky")

    run_id = platform.send(integration, {"order": {"id": 7}})
    run = platform.wait(run_id, timeout=120, sweep_every=2)

    assert run["status"] == "success", run.get("errorMessage")
    crm = platform.sink.received("/crm-steady")
    ops = second.received("/ops-flaky")
    assert len(crm) == 1  # never again because the other receiver failed
    assert len(ops) == 3  # 500, 500, then 200: accepted once
    assert {r["headers"]["Idempotency-Key"] for r in crm + ops} == {run_id}
    assert crm[0]["body"] == '{"id":7}' or '"id": 7' in crm[0]["body"]
    assert '"ops"' in ops[-1]["body"]
    deliveries = {d["target"]: d for d in run["deliveries"]}
    assert set(deliveries) == {"crm", "ops"}
    assert (deliveries["crm"]["status"], deliveries["crm"]["attempts"]) == ("success", 1)
    assert (deliveries["ops"]["status"], deliveries["ops"]["attempts"]) == ("success", 3)
    assert deliveries["ops"]["outgoingResponse"]["status"] == 200
    assert run["attempts"] == 3

    # The run page: one row per target, with its status, attempts and answer.
    ui = Ui(browser, platform)
    try:
        ui.sign_in()
        ui.open(f"#/runs/{run_id}")
        page = ui.page
        for name, attempts in (("crm", "1"), ("ops", "3")):
            row = page.locator(f'tr[data-delivery="{name}"]')
            expect(row.locator('[data-field="status"]')).to_contain_text("success")
            expect(row.locator('[data-field="attempts"]')).to_have_text(attempts)
            expect(row.locator('[data-field="response"]')).to_have_text("200")
        detail = page.locator('tr[data-delivery-detail="ops"] > td > details')
        detail.locator("> summary").click()
        expect(detail.get_by_label("Outgoing body")).to_contain_text("ops")
        assert ui.problems == []
    finally:
        ui.close()


def test_a_receiver_refusing_for_good_makes_a_partial_run_and_a_redrive_resends_it_alone(
    platform: Platform, second: Sink
) -> None:
    second.on("/ops-refuses", 400)
    integration = fan_out(platform, second, "/crm-once", "/ops-refuses")
    run_id = platform.send(integration, {"order": {"id": 8}})
    run = platform.wait(run_id, statuses=("partial", "success", "error", "dead_lettered"))
    assert run["status"] == "partial"
    assert {d["target"]: d["status"] for d in run["deliveries"]} == {
        "crm": "success", "ops": "error"}

    second.on("/ops-refuses", 200)
    reply = platform.api("POST", "/api/runs/redrive/",
                         {"statuses": ["partial"], "integrationId": integration["id"],
                          "dryRun": False})
    assert reply.status_code == 202, reply.text
    assert reply.json()["count"] == 1
    redriven_id = None
    for _ in range(300):
        redriven_id = (platform.runs.get(run_id) or {}).get("redrivenAs")
        if redriven_id and platform.runs.get(redriven_id):
            break
        time.sleep(0.2)
    assert redriven_id, "the partial run was not redriven"
    redriven = platform.wait(redriven_id)
    assert redriven["status"] == "success"
    assert len(platform.sink.received("/crm-once")) == 1  # not sent again by the redrive
    ops = second.received("/ops-refuses")
    assert len(ops) == 2
    assert {r["headers"]["Idempotency-Key"] for r in ops} == {run_id}  # the same event


def test_the_editor_adds_a_second_target_and_saves_a_fan_out(
    platform: Platform, second: Sink, browser: Browser
) -> None:
    ui = Ui(browser, platform)
    try:
        ui.sign_in()
        page = ui.page
        ui.new_integration("Fan-out from the editor", platform.sink.url + "/first")
        page.get_by_role("button", name="Add a target").click()
        targets = page.locator("fieldset.fanout-target")
        expect(targets).to_have_count(2)
        settings = targets.nth(1).get_by_label("Settings (JSON)")
        settings.fill(json.dumps({"method": "POST", "url": second.url + "/second",
                                  "headers": {}}))
        targets.nth(1).get_by_label("Name").fill("ops")
        ui.step("Save")
        page.get_by_role("button", name="Validate").click()
        expect(page.get_by_text("Valid. Ready to save.")).to_be_visible()
        page.get_by_role("button", name="Save", exact=True).click()
        expect(page.get_by_text("✓ Saved.")).to_be_visible(timeout=30_000)
        integration_id = page.url.split("#/integrations/")[1].split("/")[0]
        saved = platform.api("GET", f"/api/integrations/{integration_id}/").json()
        assert "target" not in saved
        assert [(t.get("name"), t["url"]) for t in saved["targets"]] == [
            ("target-1", platform.sink.url + "/first"), ("ops", second.url + "/second")]
        assert ui.problems == []
    finally:
        ui.close()
