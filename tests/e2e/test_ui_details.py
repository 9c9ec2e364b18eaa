"""The visual mapper's promises one by one: keyboard use, Save after Validate, errors at their
mapping, replay, secrets that are never shown, list actions, and payloads that stay text."""

from __future__ import annotations

import json
import re
import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path

import requests
from playwright.sync_api import Browser, expect

from .conftest import ADMIN_TOKEN, SITE_URL, Platform
from .ui_support import RUN_TIMEOUT_MS, Ui, shots_dir

EVIL_IMG = '<img src=x onerror="window.pwned=1">'
EVIL_SCRIPT = "<script>window.pwned=2</script>"



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


def test_the_list_filters_by_target_and_active_and_keeps_the_filter_in_the_url(
    ui: Ui, platform: Platform
) -> None:
    page = ui.page
    tag = uuid.uuid4().hex[:6]
    http = platform.add(
        {
            "name": f"Filtered http {tag}",
            "source": {"type": "webhook"},
            "target": {"type": "http", "url": f"{platform.sink.url}/filtered"},
        },
    )
    email = platform.add(
        {
            "name": f"Filtered email {tag}",
            "active": False,
            "source": {"type": "webhook"},
            "target": {
                "type": "email",
                "smtpServer": "127.0.0.2",
                "smtpPort": platform.smtp_port,
                "fromEmail": "mapper@example.com",
                "toEmail": "ops@example.com",
                "subject": "filtered",
                "useTLS": False,
            },
        },
    )
    http_row = page.locator(f'tr[data-id="{http["id"]}"]')
    email_row = page.locator(f'tr[data-id="{email["id"]}"]')
    page.reload()
    expect(http_row).to_be_visible()
    expect(email_row).to_be_visible()

    page.get_by_label("Target", exact=True).select_option("Email")
    expect(page).to_have_url(re.compile(r"#/integrations\?target=email$"))
    expect(email_row).to_be_visible()
    expect(http_row).to_have_count(0)

    page.reload()  # the filter is in the URL: a reload or a shared link keeps it
    expect(page.get_by_label("Target", exact=True)).to_have_value("email")
    expect(email_row).to_be_visible()
    expect(http_row).to_have_count(0)

    page.get_by_label("Active", exact=True).select_option("On")
    expect(page).to_have_url(re.compile(r"target=email&active=true$"))
    expect(email_row).to_have_count(0)  # it is paused
    page.get_by_label("Active", exact=True).select_option("Off")
    expect(email_row).to_be_visible()

    page.get_by_role("link", name="Clear").click()
    expect(page.get_by_label("Target", exact=True)).to_have_value("")
    expect(http_row).to_be_visible()
    expect(email_row).to_be_visible()


def test_a_long_run_list_pages_with_load_more_and_keeps_its_filter(
    ui: Ui, platform: Platform
) -> None:
    page = ui.page
    integration = platform.add(
        {
            "name": f"Paged {uuid.uuid4().hex[:6]}",
            "source": {"type": "webhook"},
            "target": {"type": "http", "url": f"{platform.sink.url}/paged"},
        },
    )
    for n in range(60):  # one page holds 50
        platform.runs.create(
            {
                "id": f"{integration['id']}.paged-{n:02d}",
                "integrationId": integration["id"],
                "sourceKind": "webhook",
                "status": "error",
                "incomingPayload": {"n": n},
                "errorMessage": "refused",
                "createdAt": f"2026-11-30T10:00:{n:02d}.000000Z",
            }
        )
    ui.open(f"#/runs?integration={integration['id']}")
    rows = page.locator(".runs-table tbody tr")
    expect(rows).to_have_count(50)
    expect(rows.first).to_have_attribute("data-run", f"{integration['id']}.paged-59")
    page.get_by_role("button", name="Load more").click()
    expect(rows).to_have_count(60)
    expect(rows.last).to_have_attribute("data-run", f"{integration['id']}.paged-00")
    expect(page.get_by_role("button", name="Load more")).to_be_hidden()


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


def test_a_renamed_output_field_is_named_so_in_every_label(ui: Ui, platform: Platform) -> None:
    page = ui.page
    ui.new_integration("Renames", f"{platform.sink.url}/renames")
    ui.step("Map")
    ui.paste_sample({"customer": {"email": "a@b.c"}})
    ui.tree_field("customer.email").locator(".tree-row").drag_to(page.locator(".drop-new"))
    row = ui.mapping(0)
    row.get_by_label("Transform to add").select_option("custom")
    row.get_by_role("button", name="Add transform").click()
    expect(page.get_by_label("JavaScript for output field email")).to_be_visible()

    target = row.get_by_label("Output field", exact=True)
    target.fill("contact")
    expect(row).to_have_attribute("aria-label", "output field contact")
    expect(page.get_by_label("JavaScript for output field contact")).to_be_visible()
    expect(page.get_by_label("JavaScript for output field email")).to_have_count(0)
    expect(row.get_by_role("button", name="Remove output field contact")).to_be_visible()
    expect(row.get_by_label("Transform to add to output field contact")).to_be_visible()
    kind = row.get_by_label("Transform 1 of output field contact", exact=True)
    expect(kind).to_have_value("custom")
    expect(target).to_be_focused()  # renamed in place: the field being typed in stays
    ui.expect_preview({"contact": "a@b.c"})


def test_the_smtp_server_field_has_room_beside_its_port(ui: Ui) -> None:
    page = ui.page
    ui.new_integration("Mail", "")
    page.get_by_label("Email (SMTP)").check()
    server = page.get_by_label("SMTP server").bounding_box()
    port = page.get_by_label("Port", exact=True).bounding_box()
    assert server is not None and port is not None
    assert abs(server["y"] - port["y"]) < 2, "side by side, on one line"
    assert server["width"] >= 3 * port["width"], (server, port)


def test_the_idempotency_header_can_be_renamed_and_turned_off(
    ui: Ui, platform: Platform
) -> None:
    page = ui.page
    integration = platform.add(
        {
            "name": "Keys for the receiver",
            "source": {"type": "webhook"},
            "target": {"type": "http", "url": f"{platform.sink.url}/idempotency"},
        },
    )
    ui.open(f"#/integrations/{integration['id']}/configure")
    switch = page.get_by_label("Send the run id in a header")
    header = page.get_by_label("Idempotency header")
    expect(switch).to_be_checked()
    expect(header).to_have_attribute("placeholder", "Idempotency-Key")
    header.fill("X-Run-Id")

    def save(version: int) -> dict[str, object]:
        ui.step("Save")
        page.get_by_role("button", name="Validate").click()
        page.get_by_role("button", name="Save", exact=True).click()
        expect(page.get_by_text(f"Saved as version {version}")).to_be_visible()
        target = platform.api("GET", f"/api/integrations/{integration['id']}/").json()["target"]
        return dict(target)

    assert save(2)["idempotencyHeader"] == "X-Run-Id"
    keyed = platform.send(integration, {"n": 1})
    assert platform.wait(keyed)["status"] == "success"
    [first] = platform.sink.received("/idempotency")
    assert first["headers"]["X-Run-Id"] == keyed

    ui.step("Configure")
    switch.uncheck()
    expect(header).to_be_disabled()
    assert save(3)["idempotencyHeader"] is None
    plain = platform.send(integration, {"n": 2})
    assert platform.wait(plain)["status"] == "success"
    second = platform.sink.received("/idempotency")[1]
    assert {"x-run-id", "idempotency-key"}.isdisjoint(k.lower() for k in second["headers"])


def test_the_list_and_the_integration_show_runs_in_flight_stuck_and_failed(
    ui: Ui, platform: Platform
) -> None:
    page = ui.page
    name = f"Counted {uuid.uuid4().hex[:6]}"
    integration = platform.add(
        {
            "name": name,
            "source": {"type": "webhook"},
            "target": {"type": "http", "url": f"{platform.sink.url}/counted"},
        },
    )
    delivered = platform.send(integration, {"n": 1})
    assert platform.wait(delivered)["status"] == "success"
    # Runs as the platform leaves them when a message is dead-lettered, while one is being
    # retried, and when the queue lost one twenty minutes ago (past the reconciler's horizon).
    now = datetime.now(timezone.utc)
    lost = (now - timedelta(minutes=20)).isoformat()
    for status, when in (("dead_lettered", now.isoformat()), ("retrying", now.isoformat()),
                         ("queued", lost)):
        assert platform.runs.create(
            {
                "id": f"ui-{status}-{uuid.uuid4().hex}",
                "integrationId": integration["id"],
                "status": status,
                "sourceKind": "webhook",
                "createdAt": when,
                "updatedAt": when,
            }
        )
    stats = platform.api("GET", f"/api/integrations/{integration['id']}/stats/").json()
    assert (stats["success"], stats["inFlight"], stats["stuck"]) == (1, 2, 1), stats

    ui.open("#/integrations")
    page.reload()
    row = page.locator(f'tr[data-id="{integration["id"]}"]')
    # One success and one dead-lettered run: 50 %, not the 100 % that leaving it out gave.
    expect(row.locator("td[data-stat=rate]")).to_contain_text("50%")
    expect(row.locator("td[data-stat=rate]")).to_have_attribute("title", re.compile("1 failed"))
    expect(row.locator("td[data-stat=inFlight]")).to_have_text("2 1 stuck")

    row.get_by_role("link", name=name, exact=True).click()
    health = page.locator(".health")
    for count, shown in (("rate", "50%"), ("success", "1"), ("failed", "1"), ("inFlight", "2"),
                         ("stuck", "1")):
        expect(health.locator(f"[data-count={count}] strong")).to_have_text(shown)
    expect(page.locator("[data-warning=signature]")).to_have_count(0)


def test_refused_signatures_are_shown_on_the_integration(
    platform: Platform, browser: Browser, tmp_path: Path
) -> None:
    ui = Ui(browser, platform, shots_dir(tmp_path))
    ui.sign_in()
    page = ui.page
    integration = platform.add(
        {
            "name": "Signed by the sender",
            "source": {
                "type": "webhook",
                "signature": {"scheme": "hmac-sha256", "secret": "ui-" + uuid.uuid4().hex},
            },
            "target": {"type": "http", "url": f"{platform.sink.url}/signed-ui"},
        },
    )
    ui.open(f"#/integrations/{integration['id']}/configure")
    expect(page.get_by_role("heading", name="Signed by the sender")).to_be_visible()
    expect(page.locator("[data-warning=signature]")).to_have_count(0)

    path = integration["webhookUrl"].removeprefix(SITE_URL)
    forged = requests.post(
        platform.url + path,
        data=b'{"n": 1}',
        headers={"Content-Type": "application/json", "X-Hub-Signature-256": "sha256=" + "0" * 64},
        timeout=30,
    )
    assert forged.status_code == 401, forged.text
    failures = platform.api("GET", f"/api/integrations/{integration['id']}/").json()[
        "signatureFailures"
    ]
    assert failures["count"] == 1
    assert platform.sink.received("/signed-ui") == []  # its own path: others post to /signed

    page.reload()
    warning = page.locator("[data-warning=signature]")
    expect(warning).to_contain_text("1 webhook request was refused for a bad signature")
    expect(warning).to_contain_text(failures["reason"])
    warning.get_by_text("Headers of the latest one").click()
    sample = page.get_by_label("Headers of the latest refused request")
    for name in failures["sampleHeaders"]:
        expect(sample).to_contain_text(name)
    ui.shot("10-signature-warning")
    ui.close()


def test_the_api_reference_lists_every_operation_without_a_token(
    platform: Platform, browser: Browser, tmp_path: Path
) -> None:
    document = requests.get(platform.url + "/api/openapi.json", timeout=10).json()
    operations = sorted(
        f"{method.upper()} {path}"
        for path, item in document["paths"].items()
        for method in item
        if method in {"get", "put", "post", "delete", "patch"}
    )
    for address in ("/api/docs", "/api/docs/"):
        reply = requests.get(platform.url + address, timeout=10)
        assert reply.status_code == 200, address
        assert reply.headers["Content-Type"].startswith("text/html")
        policy = reply.headers["Content-Security-Policy"]
        assert "script-src 'self';" in policy and "unsafe" not in policy

    ui = Ui(browser, platform, shots_dir(tmp_path))  # never signed in
    page = ui.page
    page.goto(platform.url + "/api/docs")
    blocks = page.locator(".opblock")
    expect(blocks).to_have_count(len(operations), timeout=20_000)
    shown = sorted(
        f"{block.locator('.opblock-summary-method').inner_text()} "
        f"{block.locator('.opblock-summary-path').get_attribute('data-path')}"
        for block in blocks.all()
    )
    assert shown == operations
    page.locator(".opblock-summary", has_text="/api/runs/{id}/replay/").click()
    expect(page.locator(".opblock-body").first).to_contain_text("replay")
    ui.shot("11-api-docs")
    ui.close()  # fails on any script error or Content-Security-Policy refusal


def test_a_signing_key_made_on_save_is_shown_once_and_never_stored(
    ui: Ui, platform: Platform
) -> None:
    page = ui.page
    ui.new_integration("Signs its requests", f"{platform.sink.url}/signing")
    page.get_by_label("Sign every request").check()
    ui.step("Map")
    ui.paste_sample({"n": 1})
    ui.step("Save")
    page.get_by_role("button", name="Validate").click()
    page.get_by_role("button", name="Save", exact=True).click()
    expect(page.get_by_text("✓ Saved.")).to_be_visible()
    key = page.get_by_label("New signing key", exact=True).input_value()
    assert key.startswith("whsec_")
    assert key not in page.evaluate("JSON.stringify(localStorage)")
    integration_id = page.url.split("#/integrations/")[1].split("/")[0]
    stored = platform.api("GET", f"/api/integrations/{integration_id}/").json()
    assert stored["target"]["signing"]["secret"]["set"] is True

    page.get_by_role("button", name="Send test event").click()
    expect(page.locator(".test-line .badge")).to_have_text("success", timeout=RUN_TIMEOUT_MS)
    [sent] = platform.sink.received("/signing")
    assert {"webhook-id", "webhook-signature"} <= {k.lower() for k in sent["headers"]}

    page.reload()
    expect(page.get_by_role("heading", name="Signs its requests")).to_be_visible()
    expect(page.get_by_label("New signing key", exact=True)).to_have_count(0)
    assert key not in page.content()
    ui.step("Configure")
    expect(page.locator("fieldset.signing .badge")).to_have_text("key set")


def test_a_conflict_loads_theirs_or_overwrites_and_changes_are_discarded_on_request(
    ui: Ui, platform: Platform
) -> None:
    page = ui.page
    name = f"Shared {uuid.uuid4().hex[:6]}"
    created = platform.add(
        {
            "name": name,
            "source": {"type": "webhook"},
            "target": {"type": "http", "url": f"{platform.sink.url}/shared"},
        }
    )
    path = f"/api/integrations/{created['id']}/"
    name_field = page.get_by_label("Name", exact=True)

    def rename_elsewhere(new: str) -> None:
        current = platform.api("GET", path).json()
        assert platform.api("PUT", path, {**current, "name": new}).status_code == 200

    def rename_here(new: str) -> None:
        ui.step("Configure")
        name_field.fill(new)
        ui.step("Save")

    def save_here() -> None:
        page.get_by_role("button", name="Validate").click()
        page.get_by_role("button", name="Save", exact=True).click()

    ui.open(f"#/integrations/{created['id']}/configure")
    expect(name_field).to_have_value(name)

    # Someone else saved first: Load their version drops mine.
    rename_elsewhere(f"{name} theirs")
    rename_here(f"{name} mine")
    save_here()
    conflict = page.locator(".validation .error-box")
    expect(conflict).to_contain_text("Someone changed this integration after you opened it.")
    conflict.get_by_role("button", name="Load their version (discard mine)").click()
    expect(page.locator("h1")).to_have_text(f"{name} theirs")
    expect(page.get_by_text("Saved as version 2")).to_be_visible()

    # Again, and Overwrite with mine saves over theirs.
    rename_elsewhere(f"{name} theirs again")
    rename_here(f"{name} mine")
    save_here()
    conflict.get_by_role("button", name="Overwrite with mine").click()
    expect(page.get_by_text("✓ Saved.")).to_be_visible()
    expect(page.get_by_text("Saved as version 4")).to_be_visible()
    assert platform.api("GET", path).json()["name"] == f"{name} mine"

    # Discard changes asks first, then the saved version is back.
    rename_here(f"{name} unsaved")
    expect(page.locator(".badge.changed")).to_have_text("Unsaved changes")
    page.get_by_role("button", name="Discard changes").click()
    page.get_by_role("dialog").get_by_role("button", name="Discard").click()
    expect(page.get_by_text("Changes discarded.")).to_be_visible()
    expect(page.locator(".badge.changed")).to_be_hidden()
    ui.step("Configure")
    expect(name_field).to_have_value(f"{name} mine")

    # Changes kept over a reload say so, and their Discard them does the same.
    name_field.fill(f"{name} stored")
    key = f"mapper.draft.{created['id']}"
    page.wait_for_function("(key) => (localStorage.getItem(key) || '').includes('stored')", arg=key)
    page.reload()
    banner = page.locator(".banner", has_text="Restored your unsaved changes")
    expect(banner).to_be_visible()
    expect(name_field).to_have_value(f"{name} stored")
    banner.get_by_role("button", name="Discard them").click()
    page.get_by_role("dialog").get_by_role("button", name="Discard").click()
    expect(name_field).to_have_value(f"{name} mine")
    expect(banner).to_be_hidden()
    assert page.evaluate("(key) => localStorage.getItem(key)", key) is None
