"""The map step offers JSONata beside output fields: a code box whose expression builds the
output, with the same live preview; its errors are shown at the box; it is saved."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, expect

from .conftest import Platform
from .ui_support import Ui


@pytest.fixture
def ui(platform: Platform, browser: Browser) -> Iterator[Ui]:
    tab = Ui(browser, platform)
    tab.sign_in()
    yield tab
    assert tab.problems == []
    tab.close()


def test_the_map_step_builds_the_output_with_jsonata(ui: Ui, platform: Platform) -> None:
    page = ui.page
    ui.new_integration("JSONata orders", f"{platform.sink.url}/ui-jsonata")
    ui.step("Map")
    ui.paste_sample(
        {"id": "o1", "items": [{"sku": "tea", "price": 450}, {"sku": "jam", "price": 125}]}
    )
    panel = page.locator("#panel-map")
    expect(panel.get_by_role("radio", name="Output fields")).to_be_checked()
    box = panel.get_by_label("JSONata expression")
    expect(box).to_be_hidden()

    panel.get_by_role("radio", name="JSONata").check()
    expect(box).to_be_visible()
    expect(panel.get_by_role("button", name="Add output field")).to_be_hidden()
    box.fill('{"order": id, "total": $sum(items.price) / 100, "skus": items.sku^($)}')
    ui.expect_preview({"order": "o1", "total": 5.75, "skus": ["jam", "tea"]})

    # A syntax error is shown at the box, with JSONata's code and position.
    box.fill('{"order": id')
    expect(panel.locator('[data-path="jsonata-box"] .problem')).to_contain_text(
        "S0203", timeout=10_000
    )
    box.fill('{"order": id}')
    ui.expect_preview({"order": "o1"})

    ui.step("Save")
    page.get_by_role("button", name="Validate").click()
    expect(page.get_by_text("Valid. Ready to save.")).to_be_visible()
    page.get_by_role("button", name="Save", exact=True).click()
    expect(page.get_by_text("✓ Saved.")).to_be_visible()
    integration_id = page.url.split("#/integrations/")[1].split("/")[0]
    saved = platform.api("GET", f"/api/integrations/{integration_id}/").json()
    assert saved["jsonata"] == '{"order": id}'
    assert saved.get("mappings", []) == []
