"""The source drift badge (list and editor) and the Source shape panel, in Chromium, over a
shape written to the Firestore emulator by the real store."""

from __future__ import annotations

from google.cloud import firestore
from playwright.sync_api import expect

from mapper.engine.config import parse_integration
from mapper.pipeline.shape import ShapeRecorder
from mapper.store.shapes import SourceShapeStore
from tests.fakes import Clock

from .conftest import Platform
from .ui_support import Ui


def test_drift_on_a_mapped_path_is_a_badge_and_the_panel_lists_it(
    ui: Ui, platform: Platform
) -> None:
    doc = platform.create({
        "name": "Drifting orders",
        "source": {"type": "webhook"},
        "mappings": [{"source": "order.email", "target": "email"}],
        "target": {"type": "http", "url": platform.sink.url + "/drift-ui"},
    })
    calm = platform.create({
        "name": "Calm orders",
        "source": {"type": "webhook"},
        "mappings": [{"source": "order.id", "target": "id"}],
        "target": {"type": "http", "url": platform.sink.url + "/calm-ui"},
    })
    recorder = ShapeRecorder(
        SourceShapeStore(firestore.Client(project="demo-e2e")), flush_seconds=0, clock=Clock()
    )
    for integration in (doc, calm):
        typed = parse_integration(integration)
        for n in range(25):  # order.email renamed order.mail after 5 payloads
            order = {"id": n, "email": "a@x.test"} if n < 5 else {"id": n, "mail": "a@x.test"}
            recorder.observe(typed, {"order": order})

    page = ui.page
    page.reload()
    drifting = page.locator(f'tr[data-id="{doc["id"]}"]')
    expect(drifting.locator("[data-badge=drift]")).to_have_text("source drift")
    expect(drifting.locator("[data-badge=drift]")).to_have_attribute(
        "title", "A mapping reads: order.email (missing)")
    # The other one lost order.email too, but no mapping of it reads that path.
    expect(page.locator(f'tr[data-id="{calm["id"]}"]')).to_be_visible()
    expect(page.locator(f'tr[data-id="{calm["id"]}"] [data-badge=drift]')).to_have_count(0)

    drifting.get_by_role("link", name="Drifting orders", exact=True).click()
    expect(page.locator(".editor-head [data-badge=drift]")).to_have_text("source drift")
    panel = page.locator("[data-panel=source-shape]")
    expect(panel).to_have_attribute("open", "")
    expect(panel.locator("summary")).to_contain_text("4 paths from 25 payloads")
    drift = panel.locator('.drift-list li[data-path="order.email"]')
    expect(drift).to_have_attribute("data-kind", "missing")
    expect(drift).to_contain_text("read by a mapping")
    expect(panel.locator('tbody tr[data-path="order.mail"] td').first).to_have_text("string")
    expect(panel.locator(".drift-list li")).to_have_count(1)
