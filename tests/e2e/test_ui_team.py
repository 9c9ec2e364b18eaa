"""Team use in the browser: signing in with a key, what a viewer is shown, the Keys view and the
audit log. Keys are made through the API with the admin token, as an admin would."""

from __future__ import annotations

import re
import uuid
from pathlib import Path
from typing import Any

import requests
from playwright.sync_api import Browser, expect

from .conftest import Platform
from .ui_support import Ui, shots_dir

SECRET = "ui-team-s3cret-" + uuid.uuid4().hex


def make_key(platform: Platform, role: str, name: str) -> dict[str, Any]:
    reply = platform.api("POST", "/api/keys/", {"name": name, "role": role})
    assert reply.status_code == 201, reply.text
    return reply.json()


def http_doc(platform: Platform, name: str, path: str = "/team-ui") -> dict[str, Any]:
    return {
        "name": name,
        "source": {"type": "webhook"},
        "mappings": [{"source": "id", "target": "orderId"}],
        "target": {
            "type": "http",
            "url": f"{platform.sink.url}{path}",
            "auth": {"type": "bearer", "token": SECRET},
        },
    }


def test_a_viewer_is_shown_no_edit_controls_and_the_api_refuses_anyway(
    platform: Platform, browser: Browser
) -> None:
    name = f"Viewed {uuid.uuid4().hex[:6]}"
    created = platform.add(http_doc(platform, name))
    viewer = make_key(platform, "viewer", f"Vera {uuid.uuid4().hex[:4]}")
    ui = Ui(browser, platform)
    page = ui.page
    ui.sign_in(viewer["key"])

    who = page.locator("#who")
    expect(who).to_contain_text(viewer["name"])
    expect(who.locator("[data-role]")).to_have_text("viewer")
    expect(page.get_by_role("link", name="Keys", exact=True)).to_be_hidden()
    expect(page.get_by_role("link", name="Audit", exact=True)).to_be_hidden()
    expect(page.locator("#new-integration")).to_have_count(0)
    row = page.locator(f'tr[data-id="{created["id"]}"]')
    expect(row.get_by_role("switch")).to_be_disabled()
    expect(row.get_by_role("button", name=f"Delete {name}")).to_have_count(0)
    expect(row.get_by_role("button", name=f"Duplicate {name}")).to_have_count(0)

    # The editor reads, it does not change: fields read only, actions disabled with the reason.
    row.get_by_role("link", name=name, exact=True).click()
    expect(page.get_by_label("Name", exact=True)).to_have_value(name)
    expect(page.get_by_label("Name", exact=True)).not_to_be_editable()
    ui.step("Test")
    expect(page.get_by_role("button", name="Try on recent runs")).to_be_disabled()
    ui.step("Save")
    validate = page.locator("#validate")
    expect(validate).to_be_disabled()
    expect(validate).to_have_attribute("title", "Your role may only read: changing, testing, "
                                       "replaying and redriving need role editor.")
    expect(page.locator("#send-test")).to_be_disabled()

    # Runs: no Redrive. Keys and Audit say the role may not see them (the API refuses them).
    page.get_by_role("link", name="Runs", exact=True).click()
    expect(page.get_by_role("heading", name="Runs", level=1)).to_be_visible()
    expect(page.get_by_text("Redrive failed runs")).to_have_count(0)
    ui.open("#/keys")
    expect(page.locator("[data-denied]")).to_contain_text("Your role (viewer) may not see")

    # Hiding is a courtesy: the same key, sent from the page, is refused by the API.
    status = page.evaluate(
        """async (id) => (await fetch(`/api/integrations/${id}/toggle_active/`, {method: 'POST',
          headers: {Authorization: `Bearer ${sessionStorage.getItem('mapper.token')}`}})).status""",
        created["id"],
    )
    assert status == 403
    assert platform.api("GET", f"/api/integrations/{created['id']}/").json()["active"] is True
    ui.close()


def test_the_keys_view_shows_a_new_key_once_copies_it_and_revokes_it(
    platform: Platform, browser: Browser, tmp_path: Path
) -> None:
    ui = Ui(browser, platform, shots_dir(tmp_path))
    page = ui.page
    ui.sign_in()
    expect(page.locator("#who")).to_contain_text("bootstrap admin token")
    page.get_by_role("link", name="Keys", exact=True).click()
    expect(page.get_by_role("heading", name="API keys")).to_be_visible()
    name = f"CI deploys {uuid.uuid4().hex[:6]}"
    page.get_by_label("Name", exact=True).fill(name)
    page.get_by_label("Role").select_option("editor")
    page.get_by_role("button", name="Create key").click()

    shown = page.get_by_label("New API key", exact=True)
    expect(shown).to_have_value(re.compile(r"^mk_[0-9a-f]{16}_"))
    key = shown.input_value()
    assert key.startswith("mk_"), key
    page.get_by_role("button", name="Copy New API key").click()
    assert page.evaluate("navigator.clipboard.readText()") == key
    # The key works, with the role chosen.
    me = requests.get(f"{platform.url}/api/whoami/", headers={"Authorization": f"Bearer {key}"},
                      timeout=30)
    assert me.status_code == 200 and me.json()["name"] == name and me.json()["role"] == "editor"

    row = page.locator("tr", has=page.get_by_role("rowheader", name=name))
    prefix = "_".join(key.split("_", 2)[:2])  # mk_<id>; the secret may hold "_" itself
    expect(row).to_contain_text(prefix)
    expect(row).to_contain_text("editor")
    ui.shot("13-keys")
    # Shown once: gone when the view is opened again, and never in storage.
    page.get_by_role("link", name="Runs", exact=True).click()
    page.get_by_role("link", name="Keys", exact=True).click()
    expect(row).to_be_visible()
    assert key not in page.content()
    assert key not in page.evaluate("JSON.stringify(localStorage) + JSON.stringify(sessionStorage)")

    row.get_by_role("button", name=f"Revoke {name}").click()
    dialog = page.get_by_role("dialog")
    expect(dialog).to_contain_text(prefix)
    dialog.get_by_role("button", name="Revoke").click()
    expect(page.get_by_role("rowheader", name=name)).to_have_count(0)
    gone = requests.get(f"{platform.url}/api/whoami/", headers={"Authorization": f"Bearer {key}"},
                        timeout=30)
    assert gone.status_code == 401
    ui.close()


def test_the_audit_view_shows_who_changed_what_without_the_secret(
    platform: Platform, browser: Browser, tmp_path: Path
) -> None:
    editor = make_key(platform, "editor", f"Eddie {uuid.uuid4().hex[:4]}")
    name = f"Audited {uuid.uuid4().hex[:6]}"
    created = platform.add(http_doc(platform, name))
    changed = {**created, "target": {**created["target"], "url": f"{platform.sink.url}/moved",
                                     "auth": {"type": "bearer", "token": SECRET + "-new"}}}
    replaced = platform.api("PUT", f"/api/integrations/{created['id']}/", changed,
                            token=editor["key"])
    assert replaced.status_code == 200, replaced.text

    ui = Ui(browser, platform, shots_dir(tmp_path))
    page = ui.page
    ui.sign_in()
    page.get_by_role("link", name="Audit", exact=True).click()
    expect(page.get_by_role("heading", name="Audit log")).to_be_visible()
    page.get_by_label("Integration", exact=True).select_option(created["id"])
    page.get_by_role("button", name="Apply").click()
    entries = page.locator(".audit-entry")
    expect(entries).to_have_count(2)
    # Newest first: the editor's replace, then the admin's create.
    change = entries.nth(0)
    expect(change).to_have_attribute("data-action", "integration.replace")
    expect(change.locator(".audit-actor")).to_have_text(editor["name"])
    expect(change).to_contain_text("PUT /api/integrations/{id}/")
    url_row = change.locator('tr[data-diff-path="target.url"]')
    expect(url_row.locator("td.old")).to_have_text(f'"{platform.sink.url}/team-ui"')
    expect(url_row.locator("td.new")).to_have_text(f'"{platform.sink.url}/moved"')
    token_row = change.locator('tr[data-diff-path="target.auth.token"]')
    expect(token_row.locator("td.old")).to_have_text('"[SECRET]"')
    expect(token_row.locator("td.new")).to_have_text('"[SECRET]"')
    expect(entries.nth(1)).to_have_attribute("data-action", "integration.create")
    assert SECRET not in page.content()

    # The key filter narrows to the editor's change.
    page.get_by_label("Key", exact=True).select_option(editor["id"])
    page.get_by_role("button", name="Apply").click()
    expect(entries).to_have_count(1)
    expect(entries.nth(0)).to_have_attribute("data-action", "integration.replace")
    ui.shot("14-audit")
    ui.close()
