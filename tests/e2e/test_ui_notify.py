"""The configure step's Notify card: a URL and an email saved into `notify`, the key made
on save shown once, and cleared fields removing `notify` again."""

from __future__ import annotations

from playwright.sync_api import expect

from .conftest import Platform
from .ui_support import Ui


def _save(ui: Ui) -> None:
    page = ui.page
    ui.step("Save")
    page.get_by_role("button", name="Validate").click()
    page.get_by_role("button", name="Save", exact=True).click()
    expect(page.get_by_text("✓ Saved.")).to_be_visible()


def test_the_notify_card_saves_url_and_email_and_shows_the_key_once(
    ui: Ui, platform: Platform
) -> None:
    page = ui.page
    ui.new_integration("Tells ops", f"{platform.sink.url}/ui-notify")
    page.get_by_label("Notify URL (optional)").fill(f"{platform.sink.url}/ops-ui")
    page.get_by_label("Notify email (optional)").fill("ops@example.com")
    ui.step("Map")
    ui.paste_sample({"n": 1})
    _save(ui)
    key = page.get_by_label("New notify key", exact=True).input_value()
    assert key.startswith("whsec_")
    assert key not in page.evaluate("JSON.stringify(localStorage)")
    integration_id = page.url.split("#/integrations/")[1].split("/")[0]
    stored = platform.api("GET", f"/api/integrations/{integration_id}/").json()
    assert stored["notify"]["url"] == f"{platform.sink.url}/ops-ui"
    assert stored["notify"]["email"] == "ops@example.com"
    assert stored["notify"]["secret"]["set"] is True

    page.reload()
    expect(page.get_by_label("New notify key", exact=True)).to_have_count(0)
    ui.step("Configure")
    expect(page.locator("[aria-labelledby=notify-title] .badge")).to_have_text("key set")
    page.get_by_label("Notify URL (optional)").fill("")
    page.get_by_label("Notify email (optional)").fill("")
    ui.step("Save")
    page.get_by_role("button", name="Validate").click()
    page.get_by_role("button", name="Save", exact=True).click()
    expect(page.get_by_text("Saved as version 2")).to_be_visible()
    cleared = platform.api("GET", f"/api/integrations/{integration_id}/").json()
    assert "notify" not in cleared
