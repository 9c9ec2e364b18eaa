"""Pause and resume delivery in the UI (Debian's Chromium): pause with a reason in the list,
send events, see them held in the list and the editor's header, resume there, the runs
succeed; the configure step offers rate limit, retries and the circuit breaker."""

from __future__ import annotations

from pathlib import Path

from playwright.sync_api import Browser, expect

from .conftest import Platform
from .ui_support import RUN_TIMEOUT_MS, Ui, shots_dir


def test_pause_hold_and_resume_from_the_ui(
    platform: Platform, browser: Browser, tmp_path: Path
) -> None:
    hook = platform.add({
        "name": "Held orders",
        "source": {"type": "webhook"},
        "mappings": [{"source": "n", "target": "number"}],
        "target": {"type": "http", "url": f"{platform.sink.url}/ui-held"},
    })
    ui = Ui(browser, platform, shots_dir(tmp_path))
    page = ui.page
    ui.sign_in()
    row = page.locator(f'tr[data-id="{hook["id"]}"]')
    row.get_by_label("Why pause delivery of Held orders").fill("receiver upgrade")
    row.get_by_role("button", name="Pause delivery: Held orders").click()
    expect(row.locator(".delivery-state")).to_have_text("Paused: receiver upgrade · 0 held")

    run_ids = [platform.send(hook, {"n": i}) for i in range(3)]
    for run_id in run_ids:
        assert platform.wait(run_id, statuses=("held",))["status"] == "held"
    assert platform.sink.received("/ui-held") == []

    page.reload()
    expect(row.locator(".delivery-state")).to_have_text("Paused: receiver upgrade · 3 held")
    ui.shot("delivery-paused-list")

    row.get_by_role("link", name="Open Held orders").click()
    head = page.locator(".delivery-head")
    expect(head.locator(".delivery-state")).to_have_text("Paused: receiver upgrade · 3 held")
    # The configure step's delivery settings.
    expect(page.get_by_label("Requests a second")).to_be_visible()
    expect(page.get_by_label("Attempts in all")).to_be_visible()
    expect(page.get_by_label("Pause after failures in a row")).to_be_visible()
    ui.shot("delivery-paused-editor")

    head.get_by_role("button", name="Resume delivery: Held orders").click()
    expect(head.locator(".delivery-state")).to_have_text("Delivering")
    for run_id in run_ids:
        run = platform.wait(run_id, timeout=RUN_TIMEOUT_MS / 1000)
        assert run["status"] == "success"
    assert len(platform.sink.received("/ui-held")) == 3
    ui.close()
