"""The visual mapper as a new user meets it: sign in, map a webhook onto an HTTP target, go live.

Screenshots of each step go to UI_SCREENSHOT_DIR (docs/screenshots for the README) or a
temporary directory.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import requests
from playwright.sync_api import Browser, expect

from .conftest import SITE_URL, Platform
from .ui_support import RUN_TIMEOUT_MS, Ui, shots_dir

SAMPLE = {
    "id": "ord_1001",
    "status": "paid",
    "customer": {"email": "ada@example.com", "name": "Ada Lovelace"},
    "items": [{"sku": "A-1", "qty": 2}, {"sku": "B-7", "qty": 1}],
}


def test_a_new_user_maps_a_webhook_to_http_and_sees_it_delivered(
    platform: Platform, browser: Browser, tmp_path: Path
) -> None:
    ui = Ui(browser, platform, shots_dir(tmp_path))
    page = ui.page
    ui.open()
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    ui.shot("01-sign-in")
    ui.sign_in()

    # Step 1: name, webhook source, HTTP target.
    ui.new_integration("Orders to fulfilment", f"{platform.sink.url}/ui-flow")
    expect(page.get_by_text("The webhook URL is assigned when you first save.")).to_be_visible()
    ui.shot("03-configure")

    # Step 2: paste a sample, drag three fields onto output fields.
    ui.step("Map")
    ui.paste_sample(SAMPLE)
    page.get_by_role("button", name="Add output field").click()
    ui.mapping(0).get_by_label("Output field", exact=True).fill("orderId")
    ui.tree_field("id").locator(".tree-row").drag_to(ui.mapping(0))
    expect(ui.mapping(0).get_by_label("From", exact=True)).to_have_value("id")
    ui.tree_field("customer.email").locator(".tree-row").drag_to(page.locator(".drop-new"))
    expect(ui.mapping(1).get_by_label("Output field", exact=True)).to_have_value("email")
    ui.tree_field("customer.name").locator(".tree-row").drag_to(page.locator(".drop-new"))
    expect(ui.mapping(2).get_by_label("From", exact=True)).to_have_value("customer.name")
    ui.mapping(2).get_by_label("Output field", exact=True).fill("customer.name")
    ui.expect_preview(
        {"orderId": "ord_1001", "email": "ada@example.com", "customer": {"name": "Ada Lovelace"}}
    )

    # A transform and a condition: the preview follows every edit.
    ui.mapping(2).get_by_label("Transform to add").select_option("uppercase")
    ui.mapping(2).get_by_role("button", name="Add transform").click()
    ui.expect_preview(
        {"orderId": "ord_1001", "email": "ada@example.com", "customer": {"name": "ADA LOVELACE"}}
    )
    condition = page.get_by_label("Condition (optional)")
    condition.fill("data.status === 'refunded'")
    expect(page.locator("#panel-map .preview")).to_have_attribute("data-state", "ok")
    expect(page.locator("#panel-map .preview-status")).to_contain_text("condition is false")
    condition.fill("data.status === 'paid'")
    ui.expect_preview(
        {"orderId": "ord_1001", "email": "ada@example.com", "customer": {"name": "ADA LOVELACE"}}
    )
    ui.shot("04-map")

    # The draft survives a reload.
    # Once the draft as shown is stored (the editor stores it a moment after each change).
    page.wait_for_function(
        """() => Object.keys(localStorage).some((k) => k.startsWith('mapper.draft.')
            && localStorage.getItem(k).includes("data.status === 'paid'")
            && localStorage.getItem(k).includes('"uppercase"'))"""
    )
    page.reload()
    expect(ui.mapping(2).get_by_label("Output field", exact=True)).to_have_value("customer.name")
    expect(page.get_by_label("Condition (optional)")).to_have_value("data.status === 'paid'")

    # Step 3: the preview beside the input.
    ui.step("Test")
    expect(page.locator("#panel-test [data-preview=output]")).to_contain_text("ADA LOVELACE")
    ui.shot("05-test")

    # Step 4: Save appears once Validate passes.
    ui.step("Save")
    save = page.get_by_role("button", name="Save", exact=True)
    expect(save).to_be_hidden()
    page.get_by_role("button", name="Validate").click()
    expect(page.get_by_text("Valid. Ready to save.")).to_be_visible()
    ui.shot("06-validate")
    save.click()
    expect(page.get_by_text("✓ Saved.")).to_be_visible()
    expect(page.get_by_role("heading", name="Orders to fulfilment")).to_be_visible()
    integration_id = page.url.split("#/integrations/")[1].split("/")[0]

    # Where to send events: the URL with a Copy button, and a curl line that works as is.
    saved = platform.api("GET", f"/api/integrations/{integration_id}/").json()
    address = page.get_by_label("URL to send events to", exact=True)
    expect(address).to_have_value(saved["webhookUrl"])
    page.get_by_role("button", name="Copy URL to send events to").click()
    expect(page.locator("#notice")).to_have_text("Copied to the clipboard.")
    assert page.evaluate("navigator.clipboard.readText()") == saved["webhookUrl"]
    command = page.get_by_label("curl command", exact=True).input_value()
    assert saved["webhookUrl"] in command and "Content-Type: application/json" in command
    page.get_by_role("button", name="Copy curl command").click()
    assert page.evaluate("navigator.clipboard.readText()") == command
    ui.shot("07-saved")
    # Run in a shell as copied (the site's public address swapped for this test server's).
    ran = subprocess.run(
        ["sh", "-c", command.replace(SITE_URL, platform.url)],
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    )
    curl_run = json.loads(ran.stdout)["runId"]
    assert platform.wait(curl_run)["status"] == "success"
    [from_curl] = platform.sink.received("/ui-flow")
    assert json.loads(from_curl["body"])["orderId"] == SAMPLE["id"]

    # A webhook from outside, as curl would send it.
    ui.step("Configure")
    path = ui.webhook_path()
    event = {
        **SAMPLE,
        "id": "ord_2002",
        "customer": {"email": "grace@example.com", "name": "Grace"},
    }
    reply = requests.post(platform.url + path, json=event, timeout=30)
    assert reply.status_code == 202, reply.text
    run_id = reply.json()["runId"]

    # Its run appears in the integration's history, then in full with what the sink got.
    ui.step("Test")
    row = page.locator(f'#panel-test tr[data-run="{run_id}"]')
    expect(row.locator(".badge")).to_have_text("success", timeout=RUN_TIMEOUT_MS)
    row.get_by_role("link").click()
    expect(page.get_by_role("heading", name="Run")).to_contain_text(run_id)
    received = platform.sink.received("/ui-flow")[-1]
    delivered = json.loads(received["body"])
    assert delivered == {
        "orderId": "ord_2002",
        "email": "grace@example.com",
        "customer": {"name": "GRACE"},
    }
    shown = json.loads(page.get_by_label("Transformed payload").inner_text())
    assert shown == delivered
    sent = json.loads(page.get_by_label("Outgoing body").inner_text())
    assert sent == delivered
    expect(page.locator(".run-part", has_text="Response")).to_contain_text("Status 200")
    ui.shot("08-run")

    # And in the runs list, filtered by status.
    # (With the integration too: other suites of the session keep adding runs.)
    page.get_by_role("link", name="All runs").click()
    page.get_by_label("Status").select_option("success")
    page.get_by_label("Integration", exact=True).select_option(integration_id)
    page.get_by_role("button", name="Apply").click()
    expect(page.locator(f'tr[data-run="{run_id}"]')).to_be_visible()
    ui.shot("09-runs")

    # A filter that matches nothing says so, with the way back (`delivering` is offered as
    # every status of mapper.pipeline.runs is; this integration's runs have all ended).
    page.get_by_label("Status").select_option("delivering")
    page.get_by_label("Integration", exact=True).select_option(integration_id)
    page.get_by_role("button", name="Apply").click()
    expect(page.locator(".results")).to_have_text(
        "No runs match these filters. Show all runs", use_inner_text=True
    )
    page.get_by_role("link", name="Show all runs").click()
    expect(page.get_by_label("Status")).to_have_value("")
    expect(page.locator("tr[data-run]").first).to_be_visible()

    # Send test event runs the saved integration for real, with the saved sample.
    ui.open(f"#/integrations/{integration_id}/save")
    page.get_by_role("button", name="Send test event").click()
    expect(page.locator(".test-line .badge")).to_have_text("success", timeout=RUN_TIMEOUT_MS)
    assert len(platform.sink.received("/ui-flow")) == 3
    assert json.loads(platform.sink.received("/ui-flow")[2]["body"])["orderId"] == "ord_1001"

    # The list shows how it has been doing.
    ui.open("#/integrations")
    row = page.locator(f'tr[data-id="{integration_id}"]')
    expect(row.locator(".badge", has_text="success")).to_be_visible()
    expect(row.locator("td[data-stat=rate]")).to_contain_text("100%")
    expect(row.locator("td[data-stat=inFlight]")).to_have_text("0")
    ui.shot("02-integrations")
    ui.close()
