"""The editor's transform menu comes from the API's schema: the library is offered, each
transform with the controls its options call for, with no list of them in the UI's code."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, expect

from mapper.engine.transforms import kinds

from .conftest import Platform
from .ui_support import Ui

STATIC = Path(__file__).resolve().parents[2] / "functions" / "api" / "static"


@pytest.fixture
def ui(platform: Platform, browser: Browser) -> Iterator[Ui]:
    tab = Ui(browser, platform)
    tab.sign_in()
    yield tab
    assert tab.problems == []
    tab.close()


def test_no_transform_is_named_in_the_uis_code() -> None:
    # The menu below can only come from the schema: no static file names these types.
    for path in STATIC.glob("*.js"):
        text = path.read_text(encoding="utf-8")
        for name in ("'date'", '"date"', "'lookup'", '"lookup"', "'base64'", '"base64"'):
            assert name not in text, f"{path.name} names {name}"


def test_the_date_transform_is_offered_with_its_fields(ui: Ui, platform: Platform) -> None:
    page = ui.page
    ui.new_integration("Dates", f"{platform.sink.url}/dates")
    ui.step("Map")
    ui.paste_sample({"placed": "27/11/2026 13:05", "price": "2599"})
    ui.tree_field("placed").locator(".tree-row").drag_to(page.locator(".drop-new"))
    row = ui.mapping(0)
    menu = row.get_by_label("Transform to add")
    expect(menu.locator("option")).to_have_count(len(kinds()))
    expect(menu.locator("option[value=date]")).to_have_text("Date")
    menu.select_option("date")
    row.get_by_role("button", name="Add transform").click()

    card = row.locator('li.transform[data-path="mappings[0].transforms[0]"]')
    expect(card.get_by_label("From", exact=True)).to_be_visible()
    expect(card.get_by_label("To", exact=True)).to_be_visible()
    expect(card.get_by_label("Time zone (optional)")).to_be_visible()
    # Left as it is, "from" is ISO 8601: the sample's date is refused at its transform.
    expect(card.locator(".problem")).to_contain_text("is not an ISO 8601 date")
    card.get_by_label("From", exact=True).fill("%d/%m/%Y %H:%M")
    card.get_by_label("Time zone (optional)").fill("Europe/Paris")
    ui.expect_preview({"placed": "2026-11-27T13:05:00+01:00"})
    card.get_by_label("To", exact=True).fill("unix")
    ui.expect_preview({"placed": 1795781100})


def test_options_get_selects_checkboxes_and_json(ui: Ui, platform: Platform) -> None:
    page = ui.page
    ui.new_integration("Controls", f"{platform.sink.url}/controls")
    ui.step("Map")
    ui.paste_sample({"price": "25.5", "country": "gb"})
    ui.tree_field("price").locator(".tree-row").drag_to(page.locator(".drop-new"))
    ui.tree_field("country").locator(".tree-row").drag_to(page.locator(".drop-new"))

    price = ui.mapping(0)
    price.get_by_label("Transform to add").select_option("number")
    price.get_by_role("button", name="Add transform").click()
    price.get_by_label("Decimals (optional)").fill("2")
    price.get_by_label("Output", exact=True).select_option("string")

    country = ui.mapping(1)
    country.get_by_label("Transform to add").select_option("lookup")
    country.get_by_role("button", name="Add transform").click()
    country.get_by_label("Table (JSON object)").fill('{"gb": "United Kingdom"}')
    country.get_by_label("Transform to add").select_option("base64")
    country.get_by_role("button", name="Add transform").click()
    country.get_by_label("URL-safe alphabet").check()
    ui.expect_preview({"price": "25.50", "country": "VW5pdGVkIEtpbmdkb20"})
