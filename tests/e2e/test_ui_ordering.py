"""The configure step's orderingKey field, in Debian's Chromium: set, saved, cleared."""

from __future__ import annotations

from playwright.sync_api import expect

from .conftest import Platform
from .ui_support import Ui


def test_the_ordering_key_is_set_and_cleared_in_the_configure_step(
    ui: Ui, platform: Platform
) -> None:
    page = ui.page
    integration = platform.add({
        "name": "Ordered",
        "source": {"type": "webhook"},
        "target": {"type": "http", "url": f"{platform.sink.url}/ordered"},
    })
    url = f"/api/integrations/{integration['id']}/"
    ui.open(f"#/integrations/{integration['id']}/configure")
    field = page.get_by_label("Deliver in order per (optional)", exact=True)
    expect(field).to_have_value("")
    field.fill("data.customer.id")
    ui.step("Save")
    page.get_by_role("button", name="Validate").click()
    page.get_by_role("button", name="Save", exact=True).click()
    expect(page.get_by_text("Saved as version 2")).to_be_visible()
    assert platform.api("GET", url).json()["orderingKey"] == "data.customer.id"

    ui.step("Configure")
    expect(field).to_have_value("data.customer.id")
    field.fill("")
    ui.step("Save")
    page.get_by_role("button", name="Validate").click()
    page.get_by_role("button", name="Save", exact=True).click()
    expect(page.get_by_text("Saved as version 3")).to_be_visible()
    assert platform.api("GET", url).json().get("orderingKey") is None
