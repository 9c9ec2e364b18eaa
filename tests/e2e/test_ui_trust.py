"""The editor with a receiver's schema and a saved test case: the violation in the preview
before saving, the case saved from the sample, its failure, and Save anyway."""

from __future__ import annotations

import json

from playwright.sync_api import expect

from .conftest import Platform
from .ui_support import Ui

# The receiver wants order ids as strings; the sample's id is a number.
SCHEMA = {"type": "object", "required": ["id"], "properties": {"id": {"type": "string"}}}



def test_a_schema_violation_and_a_test_case_before_saving(ui: Ui, platform: Platform) -> None:
    page = ui.page
    ui.new_integration("Trusted orders", f"{platform.sink.url}/trusted")
    page.get_by_label("Receiver's JSON Schema (optional)").fill(json.dumps(SCHEMA))
    ui.step("Map")
    ui.paste_sample({"id": 7, "email": "ada@example.com"})
    ui.tree_field("id").locator(".tree-row").drag_to(page.locator(".drop-new"))
    ui.expect_preview({"id": 7})

    violations = page.locator("#panel-map [data-preview=violations]")
    expect(violations).to_be_visible()
    expect(violations).to_contain_text("Breaks the receiver's schema (1)")
    expect(violations.locator("li")).to_have_text(["id 7 is not of type 'string'"])

    # Step 3: the sample and its output become a saved test case, which fails on the schema.
    ui.step("Test")
    page.get_by_label("New test case name").fill("order seven")
    page.get_by_role("button", name="Save the sample as a test case").click()
    case = page.locator('li.test-case[data-case="order seven"]')
    expect(case.locator(".badge")).to_have_text("fail")
    expect(case).to_contain_text("the output breaks the target's schema")
    expect(case.locator("[data-preview=violations] li")).to_have_text(
        ["id 7 is not of type 'string'"]
    )
    expect(page.locator("[data-cases=summary]")).to_have_text(
        "0 passed, 1 failed. Nothing was sent."
    )

    # Step 4: Validate passes, Save is refused for the failing case, Save anyway saves.
    ui.step("Save")
    page.get_by_role("button", name="Validate").click()
    page.get_by_role("button", name="Save", exact=True).click()
    refused = page.locator("[data-save=tests-failed]")
    expect(refused).to_contain_text("Not saved: 1 of 1 test case(s) fail.")
    expect(refused).to_contain_text("order seven the output breaks the target's schema")
    page.get_by_role("button", name="Save anyway").click()
    expect(page.get_by_text("Saved as version 1")).to_be_visible()

    listed = platform.api("GET", "/api/integrations/?limit=200").json()["integrations"]
    [saved] = [i for i in listed if i["name"] == "Trusted orders"]
    assert saved["target"]["schema"] == SCHEMA
    assert saved["tests"] == [
        {"name": "order seven", "payload": {"id": 7, "email": "ada@example.com"},
         "expect": {"id": 7}}
    ]
    report = platform.api("POST", f"/api/integrations/{saved['id']}/run_tests/").json()
    assert (report["passed"], report["failed"]) == (0, 1)
    assert platform.sink.received("/trusted") == []  # nothing was ever sent
