"""A user's whole mapping journey in Chromium: a JSONata integration, a saved test case with
the output the receiver needs, the receiver's JSON Schema on the target, the violation (with
its path) seen before saving, the mapping fixed, the case passing, the save; then an event
sent to it is delivered as the case expects."""

from __future__ import annotations

import json

import requests
from playwright.sync_api import expect

from .conftest import Platform
from .ui_support import RUN_TIMEOUT_MS, VIEWPORT, Ui

SAMPLE = {"id": 7, "customer": {"email": "ada@example.com"},
          "items": [{"sku": "tea", "price": 450}, {"sku": "jam", "price": 125}]}
# The receiver takes order ids as strings.
SCHEMA = {
    "type": "object",
    "required": ["order", "email", "total"],
    "properties": {"order": {"type": "object", "required": ["id"],
                             "properties": {"id": {"type": "string"}}}},
}
FIRST_TRY = '{"order": {"id": id}, "email": customer.email, "total": $sum(items.price) / 100}'
FIXED = '{"order": {"id": $string(id)}, "email": customer.email, "total": $sum(items.price) / 100}'
WANTED = {"order": {"id": "7"}, "email": "ada@example.com", "total": 5.75}



def test_a_jsonata_mapping_is_built_tested_against_the_schema_saved_and_delivered(
    ui: Ui, platform: Platform
) -> None:
    page = ui.page
    ui.new_integration("JSONata journey", f"{platform.sink.url}/journey")

    # Step 2: JSONata beside the output fields, with its live preview.
    ui.step("Map")
    ui.paste_sample(SAMPLE)
    panel = page.locator("#panel-map")
    panel.get_by_role("radio", name="JSONata").check()
    panel.get_by_label("JSONata expression").fill(FIRST_TRY)
    ui.expect_preview({"order": {"id": 7}, "email": "ada@example.com", "total": 5.75})

    # Step 3: a test case that says what the receiver needs; the mapping does not make it yet.
    ui.step("Test")
    page.get_by_label("New test case name").fill("order seven")
    page.get_by_label("Expected output (JSON, optional)").fill(json.dumps(WANTED))
    page.get_by_role("button", name="Save the sample as a test case").click()
    case = page.locator('li.test-case[data-case="order seven"]')
    expect(case.locator(".badge")).to_have_text("fail")
    expect(page.locator("[data-cases=summary]")).to_have_text(
        "0 passed, 1 failed. Nothing was sent.")

    # Step 1: the receiver's schema on the target.
    ui.step("Configure")
    page.get_by_label("Receiver's JSON Schema (optional)").fill(json.dumps(SCHEMA))

    # Step 2: the preview names the violation and its path, before anything is saved.
    ui.step("Map")
    violations = panel.locator("[data-preview=violations]")
    expect(violations).to_contain_text("Breaks the receiver's schema (1)")
    expect(violations.locator("li")).to_have_text(["order.id 7 is not of type 'string'"])
    listed = platform.api("GET", "/api/integrations/?limit=200").json()["integrations"]
    assert "JSONata journey" not in [i["name"] for i in listed]  # not saved yet

    # The mapping fixed: no violation, and the case passes.
    panel.get_by_label("JSONata expression").fill(FIXED)
    ui.expect_preview(WANTED)
    expect(violations).to_be_hidden()
    ui.step("Test")
    expect(case.locator(".badge")).to_have_text("pass")
    expect(page.locator("[data-cases=summary]")).to_have_text(
        "1 passed, 0 failed. Nothing was sent.")
    assert page.evaluate("document.documentElement.scrollWidth") <= VIEWPORT["width"]

    # Step 4: saved at once, its case passing.
    ui.step("Save")
    page.get_by_role("button", name="Validate").click()
    expect(page.get_by_text("Valid. Ready to save.")).to_be_visible()
    page.get_by_role("button", name="Save", exact=True).click()
    expect(page.get_by_text("✓ Saved.")).to_be_visible()
    expect(page.locator("[data-save=tests-failed]")).to_have_count(0)
    integration_id = page.url.split("#/integrations/")[1].split("/")[0]
    saved = platform.api("GET", f"/api/integrations/{integration_id}/").json()
    assert saved["jsonata"] == FIXED and saved["target"]["schema"] == SCHEMA
    assert saved["tests"] == [{"name": "order seven", "payload": SAMPLE, "expect": WANTED}]
    assert platform.sink.received("/journey") == []  # nothing was sent while building it

    # An event from outside is delivered as the case expects, and its run shows success.
    ui.step("Configure")
    event = {**SAMPLE, "id": 8, "items": [{"sku": "tea", "price": 450}]}
    reply = requests.post(platform.url + ui.webhook_path(), json=event, timeout=30)
    assert reply.status_code == 202, reply.text
    run_id = reply.json()["runId"]
    ui.step("Test")
    row = page.locator(f'#panel-test tr[data-run="{run_id}"]')
    expect(row.locator(".badge")).to_have_text("success", timeout=RUN_TIMEOUT_MS)
    [delivered] = platform.sink.received("/journey")
    assert json.loads(delivered["body"]) == {
        "order": {"id": "8"}, "email": "ada@example.com", "total": 4.5}
