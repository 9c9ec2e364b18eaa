"""History, backtest, redrive and run search in the browser, against the running platform.

Runs that must exist before the browser looks are made two ways, each said where: delivered
through the platform (a webhook posted and processed), or written to the run store as the
platform leaves them (dead-lettered runs, which the platform takes minutes of retries to make).
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, expect

from .conftest import Platform
from .ui_support import Ui, shots_dir


@pytest.fixture
def ui(platform: Platform, browser: Browser, tmp_path: Path) -> Iterator[Ui]:
    tab = Ui(browser, platform, shots_dir(tmp_path))
    tab.sign_in()
    yield tab
    tab.close()


def orders(platform: Platform, name: str, path: str, **extra: Any) -> dict[str, Any]:
    return platform.add(
        {
            "name": name,
            "source": {"type": "webhook"},
            "mappings": [
                {"source": "n", "target": "number"},
                {"source": "customer.email", "target": "email"},
            ],
            "target": {"type": "http", "url": f"{platform.sink.url}{path}", "method": "POST"},
            **extra,
        }
    )


def test_history_compares_two_versions_and_rolls_back(ui: Ui, platform: Platform) -> None:
    page = ui.page
    name = f"Versioned {uuid.uuid4().hex[:6]}"
    created = orders(platform, name, "/history-v1")
    # A run processed by version 1, through the platform, before the change.
    run_id = platform.send(created, {"n": 1, "customer": {"email": "h@example.com"}})
    assert platform.wait(run_id)["integrationVersion"] == 1
    changed = {**created, "target": {**created["target"], "url": f"{platform.sink.url}/history-v2"}}
    assert platform.api("PUT", f"/api/integrations/{created['id']}/", changed).status_code == 200

    # The run links to the version that processed it.
    ui.open(f"#/runs/{run_id}")
    page.get_by_role("link", name="see it in the history").click()
    expect(page.get_by_role("heading", name=f"History of {name}")).to_be_visible()
    rows = page.locator("tr[data-version]")
    expect(rows).to_have_count(2)
    expect(page.locator('tr[data-version="1"]')).to_contain_text("ran the run")
    expect(page.locator('tr[data-version="2"]')).to_contain_text("target.url changed")
    expect(page.locator('tr[data-version="2"]')).to_contain_text("current")

    # Versions 1 and 2 side by side: only the URL line differs.
    table = page.locator("table.side-by-side")
    expect(table).to_be_visible()
    expect(page.locator("[data-changed-lines]")).to_have_attribute("data-changed-lines", "2")
    expect(table.locator("td.removed")).to_have_text(re.compile(r'"url": ".*/history-v1"'))
    expect(table.locator("td.added")).to_have_text(re.compile(r'"url": ".*/history-v2"'))
    ui.shot("15-history")

    # Roll back to version 1, after a confirmation.
    page.get_by_role("button", name="Roll back to version 1").click()
    dialog = page.get_by_role("dialog")
    expect(dialog).to_contain_text("saved as a new version (3)")
    dialog.get_by_role("button", name="Roll back to version 1").click()
    expect(page.locator('tr[data-version="3"]')).to_contain_text("rollback to version 1")
    expect(page.locator('tr[data-version="3"]')).to_contain_text("current")
    stored = platform.api("GET", f"/api/integrations/{created['id']}/").json()
    assert stored["version"] == 3 and stored["target"]["url"].endswith("/history-v1")
    # Now comparing 1 with 3: the same content.
    expect(page.locator("[data-changed-lines]")).to_have_attribute("data-changed-lines", "0")


def test_try_on_recent_runs_shows_totals_and_each_differing_run(ui: Ui, platform: Platform) -> None:
    page = ui.page
    name = f"Backtested {uuid.uuid4().hex[:6]}"
    created = orders(platform, name, "/backtested")
    # Four runs delivered through the platform: webhooks posted, processed by the worker.
    run_ids = [
        platform.send(created, {"n": n, "customer": {"email": f"c{n}@example.com"}})
        for n in range(4)
    ]
    for run_id in run_ids:
        assert platform.wait(run_id)["status"] == "success"
    sent = len(platform.sink.requests)

    ui.open(f"#/integrations/{created['id']}/map")
    # The draft: the output field email renamed, and a condition that skips n = 3.
    ui.mapping(1).get_by_label("Output field", exact=True).fill("contact")
    page.get_by_label("Condition (optional)").fill("data.n !== 3")
    ui.step("Test")
    page.get_by_role("button", name="Try on recent runs").click()
    totals = page.get_by_role("list", name="Backtest totals")
    for total, value in (("runs", "4"), ("same", "0"), ("changed", "3"), ("nowSkipped", "1"),
                         ("nowFailing", "0")):
        expect(totals.locator(f'[data-total="{total}"] strong')).to_have_text(value)
    shown = page.locator(".backtest-run")
    expect(shown).to_have_count(4)
    first = page.locator(f'.backtest-run[data-run="{run_ids[0]}"]')
    expect(first.locator('tr[data-diff-path="email"] td.old')).to_have_text('"c0@example.com"')
    expect(first.locator('tr[data-diff-path="contact"] td.new')).to_have_text('"c0@example.com"')
    expect(page.locator(f'.backtest-run[data-run="{run_ids[3]}"]')).to_contain_text("now skipped")
    ui.shot("16-backtest")

    # Nothing was sent, nothing stored, the draft kept; Save is one click away.
    assert len(platform.sink.requests) == sent
    listed = platform.api("GET", f"/api/runs/?integration_id={created['id']}").json()["runs"]
    assert len(listed) == 4
    page.get_by_role("link", name="Validate and save").click()
    expect(page.get_by_role("tab", name="Save")).to_have_attribute("aria-selected", "true")
    page.locator("#validate").click()
    page.locator("#save").click()
    expect(page.locator(".notice-text")).to_contain_text(f"Saved {name}")
    saved = platform.api("GET", f"/api/integrations/{created['id']}/").json()
    assert saved["mappings"][1]["target"] == "contact" and saved["condition"] == "data.n !== 3"


def test_redrive_sends_dead_lettered_runs_again_and_shows_the_job_done(
    ui: Ui, platform: Platform
) -> None:
    page = ui.page
    name = f"Redriven {uuid.uuid4().hex[:6]}"
    created = orders(platform, name, "/ui-redriven")
    # Dead-lettered runs written as the dead-letter function leaves them (making them through
    # the platform takes every retry's backoff); the redrive itself runs on the platform.
    for n in range(3):
        platform.runs.create(
            {
                "id": f"{created['id']}.dead-{n}",
                "integrationId": created["id"],
                "integrationVersion": 1,
                "sourceKind": "webhook",
                "status": "dead_lettered",
                "incomingPayload": {"n": n, "customer": {"email": f"d{n}@example.com"}},
                "incomingHeaders": {"content-type": "application/json"},
                "incomingAttributes": {},
                "attempts": 5,
                "errorMessage": "gave up after 5 attempts: 503 from the target",
                "createdAt": (datetime.now(timezone.utc) - timedelta(minutes=5 - n)).isoformat(),
            }
        )
    ui.open(f"#/runs?integration={created['id']}&status=dead_lettered")
    expect(page.locator("tr[data-run]")).to_have_count(3)
    page.get_by_text("Redrive failed runs").click()
    expect(page.get_by_label("dead lettered")).to_be_checked()
    expect(page.get_by_label("error", exact=True)).not_to_be_checked()
    page.get_by_role("button", name="Count failed runs").click()
    expect(page.locator("[data-dry-count]")).to_have_attribute("data-dry-count", "3")
    assert platform.sink.received("/ui-redriven") == []
    page.get_by_role("button", name="Redrive 3 runs…").click()
    page.get_by_role("dialog").get_by_role("button", name="Redrive").click()
    expect(page.locator("[data-job-state]")).to_have_attribute("data-job-state", "done",
                                                               timeout=60_000)
    expect(page.locator("[data-job-state]")).to_have_text(
        "Done: 3 of 3 resent as new runs.")
    ui.shot("17-redrive")
    page.get_by_role("link", name="See the new runs").click()
    expect(page.locator("tr[data-run]")).to_have_count(3)
    for n in range(3):
        run = next(r for r in platform.api(
            "GET", f"/api/runs/?integration_id={created['id']}&source_kind=replay"
        ).json()["runs"] if r["replayOf"] == f"{created['id']}.dead-{n}")
        assert platform.wait(run["id"])["status"] == "success"
    received = platform.sink.received("/ui-redriven")
    assert sorted(json.loads(r["body"])["number"] for r in received) == [0, 1, 2]


def test_runs_are_found_by_search_key_source_kind_and_duration(
    ui: Ui, platform: Platform
) -> None:
    page = ui.page
    name = f"Searched {uuid.uuid4().hex[:6]}"
    created = orders(platform, name, "/searched", searchKeys=["customer.email"])
    wanted = platform.send(created, {"n": 1, "customer": {"email": "find@example.com"}})
    other = platform.send(created, {"n": 2, "customer": {"email": "other@example.com"}})
    for run_id in (wanted, other):
        assert platform.wait(run_id)["status"] == "success"

    ui.open(f"#/runs?integration={created['id']}")
    expect(page.locator("tr[data-run]")).to_have_count(2)
    page.get_by_label("Search key").fill("customer.email:find@example.com")
    page.get_by_role("button", name="Apply").click()
    expect(page).to_have_url(re.compile(r"key=customer\.email%3Afind%40example\.com"))
    expect(page.locator("tr[data-run]")).to_have_count(1)
    expect(page.locator(f'tr[data-run="{wanted}"]')).to_be_visible()
    # Each run links to the version that processed it.
    expect(page.locator(f'tr[data-run="{wanted}"] [data-version-link]')).to_have_text("v1")

    page.get_by_label("Search key").fill("")
    page.get_by_label("Source kind").select_option("test")
    page.get_by_role("button", name="Apply").click()
    expect(page.locator("[data-empty=filtered]")).to_be_visible()
    page.get_by_label("Source kind").select_option("webhook")
    page.get_by_role("button", name="Apply").click()
    expect(page.locator("tr[data-run]")).to_have_count(2)

    # Slow runs: a threshold no local delivery reaches finds none; 0 ms finds both.
    page.get_by_label("Source kind").select_option("")
    page.get_by_label("Slower than (ms)").fill("60000")
    page.get_by_role("button", name="Apply").click()
    expect(page.locator("[data-empty=filtered]")).to_be_visible()
    page.get_by_label("Slower than (ms)").fill("0")
    page.get_by_role("button", name="Apply").click()
    expect(page.locator("tr[data-run]")).to_have_count(2)
