"""The visual mapper's promises one by one: keyboard use, Save after Validate, errors at their
mapping, replay, secrets that are never shown, list actions, and payloads that stay text."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator

import pytest
import requests
from playwright.sync_api import Browser, expect

from .conftest import ADMIN_TOKEN, Platform
from .ui_support import RUN_TIMEOUT_MS, Ui, chromium

EVIL_IMG = '<img src=x onerror="window.pwned=1">'
EVIL_SCRIPT = "<script>window.pwned=2</script>"


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with chromium() as launched:
        yield launched


@pytest.fixture
def ui(platform: Platform, browser: Browser) -> Iterator[Ui]:
    tab = Ui(browser, platform)
    tab.sign_in()
    yield tab
    tab.close()


def test_the_token_is_checked_and_kept_out_of_urls_and_storage(
    platform: Platform, browser: Browser
) -> None:
    tab = Ui(browser, platform)
    page = tab.page
    tab.open()
    page.get_by_label("Admin token").fill("not-the-token")
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("alert")).to_have_text("That token was refused.")
    tab.sign_in()
    assert page.evaluate("sessionStorage.getItem('mapper.token')") == ADMIN_TOKEN
    assert ADMIN_TOKEN not in page.evaluate("JSON.stringify(localStorage)")
    page.get_by_role("link", name="Runs").click()
    assert ADMIN_TOKEN not in page.url
    page.get_by_role("button", name="Sign out").click()
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    assert page.evaluate("sessionStorage.getItem('mapper.token')") is None
    headers = requests.get(platform.url + "/", timeout=10).headers
    assert "script-src 'self'" in headers["Content-Security-Policy"]
    tab.close()


def test_a_mapping_made_with_the_keyboard_alone(ui: Ui, platform: Platform) -> None:
    page = ui.page
    ui.new_integration("Keyboard", f"{platform.sink.url}/keyboard")
    page.get_by_role("tab", name="Configure").focus()
    page.keyboard.press("ArrowRight")
    expect(page.get_by_role("tab", name="Map")).to_have_attribute("aria-selected", "true")
    page.get_by_label("Paste a JSON payload").focus()
    page.keyboard.insert_text('{"id": 1, "customer": {"email": "A@B.C", "name": "x"}}')
    expect(ui.tree_field("customer.email")).to_be_visible()
    focused = page.locator(":focus")
    for _ in range(3):  # Load file…, Format, then into the tree
        page.keyboard.press("Tab")
    expect(focused).to_have_attribute("data-path", "id")

    # Pick a field with Enter, place it as a new output field.
    page.keyboard.press("ArrowDown")
    page.keyboard.press("ArrowDown")
    expect(focused).to_have_attribute("data-path", "customer.email")
    page.keyboard.press("Enter")
    expect(focused).to_have_text("A new output field")
    page.keyboard.press("Enter")
    expect(ui.mapping(0).get_by_label("From", exact=True)).to_have_value("customer.email")
    expect(ui.mapping(0).get_by_label("Output field", exact=True)).to_have_value("email")
    expect(focused).to_have_attribute("data-path", "customer.email")  # back in the tree

    # Escape puts a picked field back.
    page.keyboard.press("ArrowUp")
    page.keyboard.press("ArrowUp")
    page.keyboard.press("Enter")
    expect(page.locator(".placement")).to_be_visible()
    page.keyboard.press("Escape")
    expect(page.locator(".placement")).to_be_hidden()
    expect(focused).to_have_attribute("data-path", "id")

    # Pick again, arrow to "A new output field" past the existing one.
    page.keyboard.press("Enter")
    expect(focused).to_have_text("email")
    page.keyboard.press("ArrowRight")
    page.keyboard.press("Enter")
    expect(ui.mapping(1).get_by_label("From", exact=True)).to_have_value("id")

    # A transform from the keyboard: Tab to the transform list, choose, add.
    ui.mapping(0).get_by_label("Output field", exact=True).focus()
    for _ in range(3):  # From, Remove, the transform list
        page.keyboard.press("Tab")
    expect(focused).to_have_accessible_name("Transform to add to output field email")
    page.keyboard.press("ArrowDown")  # Uppercase -> Lowercase
    page.keyboard.press("Tab")
    page.keyboard.press("Enter")
    expect(ui.mapping(0).locator("li.transform select")).to_have_value("lowercase")
    ui.expect_preview({"email": "a@b.c", "id": 1})


def test_save_is_offered_only_after_validate_passes(ui: Ui, platform: Platform) -> None:
    page = ui.page
    ui.new_integration("Gated", "")
    ui.step("Save")
    save = page.get_by_role("button", name="Save", exact=True)
    validate = page.get_by_role("button", name="Validate")
    expect(save).to_be_hidden()
    validate.click()
    problem = page.locator(".validation li", has_text="target.url")
    expect(problem).to_be_visible()
    expect(save).to_be_hidden()
    expect(page.get_by_role("tab", name="Configure").locator(".count")).to_have_text("1")

    # "Show" goes to the field, which says what is wrong with it.
    problem.get_by_role("button", name="Show").click()
    url = page.get_by_label("URL", exact=True)
    expect(url).to_be_focused()
    expect(url).to_have_attribute("aria-invalid", "true")
    expect(page.locator('#panel-configure .problem[data-from="validate"]')).to_be_visible()
    url.fill(f"{platform.sink.url}/gated")
    expect(url).not_to_have_attribute("aria-invalid", "true")

    ui.step("Save")
    expect(page.get_by_text("Changed since the last validation")).to_be_visible()
    expect(save).to_be_hidden()
    validate.click()
    expect(save).to_be_visible()

    # Any change hides it again until the next Validate.
    ui.step("Configure")
    page.get_by_label("Name", exact=True).fill("Gated, renamed")
    ui.step("Save")
    expect(save).to_be_hidden()
    validate.click()
    save.click()
    expect(page.get_by_text("✓ Saved.")).to_be_visible()
    expect(page.get_by_role("heading", name="Gated, renamed")).to_be_visible()


def test_javascript_errors_are_shown_at_their_mapping(ui: Ui, platform: Platform) -> None:
    page = ui.page
    ui.new_integration("Errors", f"{platform.sink.url}/errors")
    ui.step("Map")
    ui.paste_sample({"customer": {"name": "ada"}, "plan": "pro"})
    ui.tree_field("plan").locator(".tree-row").drag_to(page.locator(".drop-new"))
    ui.tree_field("customer.name").locator(".tree-row").drag_to(page.locator(".drop-new"))
    broken = ui.mapping(1)
    broken.get_by_label("Transform to add").select_option("custom")
    broken.get_by_role("button", name="Add transform").click()
    code = page.get_by_label("JavaScript for output field name")
    code.fill("const shout = value.toUpperCase();\nreturn value.nope.deeper;")
    transform = broken.locator('li.transform[data-path="mappings[1].transforms[0]"]')
    expect(transform.locator(".problem")).to_contain_text("Cannot read properties of undefined")
    expect(ui.mapping(0).locator(".problem")).to_have_count(0)
    expect(page.locator("#panel-map .preview-status")).to_contain_text("mappings[1].transforms[0]")
    expect(page.get_by_role("tab", name="Map").locator(".count")).to_have_text("1")
    expect(broken.locator(".code-gutter span")).to_have_count(2)  # line numbers

    # A condition that does not compile is shown at the condition.
    condition = page.get_by_label("Condition (optional)")
    condition.fill("data.plan === (")
    expect(condition).to_have_attribute("aria-invalid", "true")
    expect(page.locator(".code-field .problem").first).to_contain_text("SyntaxError")

    condition.fill("data.plan === 'pro'")
    code.fill("return value.toUpperCase()")
    ui.expect_preview({"plan": "pro", "name": "ADA"})
    expect(page.locator("#panel-map .problem")).to_have_count(0)


def test_replay_from_the_run_detail(ui: Ui, platform: Platform) -> None:
    page = ui.page
    integration = platform.add(
        {
            "name": "Replay me",
            "source": {"type": "webhook"},
            "mappings": [{"source": "n", "target": "number"}],
            "target": {"type": "http", "url": f"{platform.sink.url}/ui-replay"},
        },
    )
    original = platform.send(integration, {"n": 42})
    assert platform.wait(original)["status"] == "success"
    ui.open(f"#/runs/{original}")
    expect(page.get_by_role("heading", name="Run")).to_contain_text(original)
    page.get_by_role("button", name="Replay").click()
    expect(page.get_by_role("heading", name="Run")).not_to_contain_text(original)
    facts = page.locator(".facts")
    expect(facts.get_by_role("link", name=original)).to_be_visible()
    expect(facts).to_contain_text("replay")
    expect(page.locator(".page-head .badge")).to_have_text("success", timeout=RUN_TIMEOUT_MS)
    bodies = [json.loads(r["body"]) for r in platform.sink.received("/ui-replay")]
    assert bodies == [{"number": 42}, {"number": 42}]


def test_secrets_show_as_set_and_are_replaced_never_read(ui: Ui, platform: Platform) -> None:
    page = ui.page
    old_token = "tok_ui_old_" + uuid.uuid4().hex
    new_token = "tok_ui_new_" + uuid.uuid4().hex
    integration = platform.add(
        {
            "name": "Secret keeper",
            "source": {"type": "webhook"},
            "target": {
                "type": "http",
                "url": f"{platform.sink.url}/secret",
                "auth": {"type": "bearer", "token": old_token},
            },
        },
    )
    ui.open(f"#/integrations/{integration['id']}/configure")
    token_field = page.locator('[data-path="target.auth.token"]')
    expect(token_field.locator(".badge")).to_have_text("set")
    expect(page.get_by_text("Unsaved changes")).to_be_hidden()  # opening changes nothing
    assert old_token not in page.content()

    page.get_by_role("button", name="Replace Token").click()
    page.get_by_label("Token", exact=True).fill(new_token)
    page.wait_for_timeout(400)  # the draft is stored after a short pause
    stored = page.evaluate("JSON.stringify(localStorage)")
    assert integration["id"] in stored and new_token not in stored

    ui.step("Save")
    page.get_by_role("button", name="Validate").click()
    page.get_by_role("button", name="Save", exact=True).click()
    expect(page.get_by_text("Saved as version 2")).to_be_visible()
    ui.step("Configure")
    expect(token_field.locator(".badge")).to_have_text("set")
    assert new_token not in page.content()
    saved = platform.api("GET", f"/api/integrations/{integration['id']}/").json()
    assert saved["target"]["auth"]["token"]["secret"] != integration["target"]["auth"]["token"]
    assert new_token in platform.secrets_file.read_text()


def test_list_toggle_duplicate_and_delete_with_confirmation(ui: Ui, platform: Platform) -> None:
    page = ui.page
    name = f"Listed {uuid.uuid4().hex[:6]}"
    integration = platform.add(
        {
            "name": name,
            "source": {"type": "webhook"},
            "target": {"type": "http", "url": f"{platform.sink.url}/listed"},
        },
    )
    page.reload()
    row = page.locator(f'tr[data-id="{integration["id"]}"]')
    expect(row).to_contain_text("Webhook")
    switch = row.get_by_role("switch", name=f"Active: {name}")
    expect(switch).to_have_attribute("aria-checked", "true")
    switch.click()
    expect(switch).to_have_attribute("aria-checked", "false")
    assert platform.api("GET", f"/api/integrations/{integration['id']}/").json()["active"] is False

    row.get_by_role("button", name=f"Duplicate {name}").click()
    expect(page.get_by_label("Name", exact=True)).to_have_value(f"Copy of {name}")
    page.get_by_role("link", name="← Integrations").click()
    drafts = page.locator(".drafts")
    expect(drafts).to_contain_text(f"Copy of {name}")
    drafts.get_by_role("button", name=f"Discard draft Copy of {name}").click()
    page.get_by_role("dialog").get_by_role("button", name="Discard").click()
    expect(drafts).to_be_hidden()

    row.get_by_role("button", name=f"Delete {name}").click()
    dialog = page.get_by_role("dialog")
    expect(dialog).to_contain_text(f"Delete {name}?")
    dialog.get_by_role("button", name="Cancel").click()
    expect(row).to_be_visible()
    row.get_by_role("button", name=f"Delete {name}").click()
    dialog.get_by_role("button", name="Delete").click()
    expect(row).to_have_count(0)
    assert platform.api("GET", f"/api/integrations/{integration['id']}/").status_code == 404


def test_payload_html_is_shown_as_text_and_never_runs(ui: Ui, platform: Platform) -> None:
    page = ui.page
    evil = EVIL_IMG + EVIL_SCRIPT
    payload = {
        "comment": evil,
        EVIL_IMG: EVIL_SCRIPT,
        "nested": {"<b>key</b>": '<iframe src="javascript:window.pwned=3"></iframe>'},
    }
    integration = platform.add(
        {
            "name": f"Hostile {EVIL_IMG}",
            "source": {"type": "webhook"},
            "mappings": [
                {"source": "comment", "target": "echo"},
                {
                    "source": "comment",
                    "target": "checked",
                    "transforms": [
                        {
                            "type": "custom",
                            "code": "if (data.explode) throw new Error(value); return value",
                        }
                    ],
                },
            ],
            "target": {"type": "http", "url": f"{platform.sink.url}/hostile"},
            "samplePayload": payload,
        },
    )
    delivered = platform.send(integration, payload)
    failed = platform.send(integration, {**payload, "explode": True})
    assert platform.wait(delivered)["status"] == "success"
    assert platform.wait(failed)["status"] == "error"

    def nothing_ran() -> None:
        assert page.evaluate("typeof window.pwned") == "undefined"
        assert page.locator("img, iframe, b").count() == 0
        assert page.locator("script").count() == 1  # app.js, from index.html

    ui.open(f"#/runs/{delivered}")
    as_json = json.dumps(evil)[1:-1]  # the text as a JSON string shows it, quotes escaped
    expect(page.get_by_label("Incoming payload")).to_contain_text(as_json)
    expect(page.get_by_label("Transformed payload")).to_contain_text(EVIL_SCRIPT)
    nothing_ran()
    ui.open(f"#/runs/{failed}")
    expect(page.locator("#run-error")).to_contain_text(EVIL_IMG)
    nothing_ran()
    ui.open(f"#/runs?status=error&integration={integration['id']}")
    expect(page.locator(f'tr[data-run="{failed}"] .error-cell')).to_contain_text(EVIL_IMG)
    nothing_ran()
    ui.open("#/integrations")
    expect(page.get_by_role("link", name=f"Hostile {EVIL_IMG}", exact=True)).to_be_visible()
    nothing_ran()
    ui.open(f"#/integrations/{integration['id']}/map")
    expect(page.locator('[role=treeitem][data-path="nested.<b>key</b>"]')).to_be_visible()
    expect(page.locator("#panel-map [data-preview=output]")).to_contain_text(EVIL_SCRIPT)
    nothing_ran()
