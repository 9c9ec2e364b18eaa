"""The web UI under test: Debian's Chromium driven by Playwright, against the running platform.

Chromium comes from the distribution (`apt-get install -y chromium`), never from
`playwright install`. Each `Ui` is one browser context (its own sessionStorage and
localStorage) and records every script error and Content-Security-Policy refusal, so that
`close()` fails a test whose page misbehaved even where nothing visible broke.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, Locator, Page, expect, sync_playwright

from .conftest import ADMIN_TOKEN, SITE_URL, Platform

CHROMIUM = os.environ.get("UI_CHROMIUM", "/usr/bin/chromium")
# Without the background-networking flags Chromium's own connections are refused on a
# closed network and slow every start.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
VIEWPORT = {"width": 1280, "height": 800}
RUN_TIMEOUT_MS = 30_000
# UI_SCREENSHOT_DIR=docs/screenshots refreshes the README's pictures; by default they go to
# a temporary directory, so that a test run leaves the repository as it was.
SCREENSHOT_DIR = os.environ.get("UI_SCREENSHOT_DIR")
# The first API call of a session starts the api function's clients: allow for it.
SIGN_IN_TIMEOUT_MS = 30_000
expect.set_options(timeout=10_000)


@contextmanager
def chromium() -> Iterator[Browser]:
    """A headless Chromium for one test module."""
    if not Path(CHROMIUM).is_file():
        pytest.fail(f"{CHROMIUM} is missing: the UI tests need `apt-get install -y chromium`")
    with sync_playwright() as driver:
        browser = driver.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
        )
        try:
            yield browser
        finally:
            browser.close()


class Ui:
    """One signed-in browser tab on the platform."""

    def __init__(self, browser: Browser, platform: Platform, shots: Path | None = None) -> None:
        self.platform = platform
        # Clipboard access lets a test read what a Copy button copied, as a paste would.
        self.context = browser.new_context(
            viewport=VIEWPORT,
            service_workers="block",
            permissions=["clipboard-read", "clipboard-write"],
        )
        self.context.set_default_timeout(10_000)
        self.page: Page = self.context.new_page()
        self.problems: list[str] = []
        self.shots = shots
        self.page.on("console", self._console)
        self.page.on("pageerror", lambda exc: self.problems.append(f"page error: {exc}"))

    def _console(self, message: Any) -> None:
        # A 4xx answer is logged by Chromium as "Failed to load resource"; the UI expects
        # some (a failing preview answers 422). Everything else is a real problem.
        if message.type == "error" and not message.text.startswith("Failed to load resource"):
            self.problems.append(f"console: {message.text}")

    # --- navigation -----------------------------------------------------------------------

    def open(self, hash_route: str = "") -> None:
        self.page.goto(f"{self.platform.url}/{hash_route}")

    def sign_in(self, token: str = ADMIN_TOKEN) -> None:
        self.open()
        self.page.get_by_label("Admin token").fill(token)
        self.page.get_by_role("button", name="Sign in").click()
        heading = self.page.get_by_role("heading", name="Integrations", level=1)
        expect(heading).to_be_visible(timeout=SIGN_IN_TIMEOUT_MS)

    def step(self, name: str) -> None:
        self.page.get_by_role("tab", name=name).click()
        expect(self.page.get_by_role("tab", name=name)).to_have_attribute("aria-selected", "true")

    def shot(self, name: str) -> None:
        """Save a screenshot of the page as it is now (PNG)."""
        if self.shots is not None:
            self.shots.mkdir(parents=True, exist_ok=True)
            # A passing notice would cover content. (Playwright's `style=` option would be an
            # inline style, which the page's CSP rightly refuses.)
            self.page.evaluate("document.getElementById('notice')?.replaceChildren()")
            self.page.screenshot(path=str(self.shots / f"{name}.png"), full_page=True)

    # --- the editor ---------------------------------------------------------------------------

    def new_integration(self, name: str, target_url: str) -> None:
        self.page.get_by_role("link", name="New integration").click()
        expect(self.page.get_by_role("heading", name="New integration")).to_be_visible()
        self.page.get_by_label("Name", exact=True).fill(name)
        self.page.get_by_label("URL", exact=True).fill(target_url)

    def paste_sample(self, sample: Any) -> None:
        self.page.get_by_label("Paste a JSON payload").fill(json.dumps(sample, indent=2))
        expect(self.page.get_by_role("tree")).to_be_visible()

    def tree_field(self, path: str) -> Locator:
        return self.page.locator(f'[role=treeitem][data-path="{path}"]')

    def mapping(self, index: int) -> Locator:
        return self.page.locator(f'li.mapping[data-path="mappings[{index}]"]')

    def preview_output(self) -> Any:
        """The live preview's output once it is shown, as JSON."""
        block = self.page.locator("#panel-map [data-preview=output]")
        expect(block).to_be_visible()
        return json.loads(block.inner_text())

    def expect_preview(self, expected: Any) -> None:
        block = self.page.locator("#panel-map [data-preview=output]")
        # Keys in mapping order, as the target receives them; JSON.stringify(v, null, 2)
        # indents like this.
        text = json.dumps(expected, indent=2, ensure_ascii=False)
        expect(block).to_have_text(text)

    def webhook_path(self) -> str:
        """The path part of the webhook URL shown in step 1 (it is under SITE_URL)."""
        url = self.page.get_by_label("Webhook URL", exact=True).input_value()
        assert url.startswith(f"{SITE_URL}/webhook/"), url
        return url.removeprefix(SITE_URL)

    # --- the end ------------------------------------------------------------------------------

    def close(self) -> None:
        """Close the tab; fail if its page logged a script error or a CSP refusal."""
        problems = list(self.problems)
        self.context.close()
        assert not problems, problems


def shots_dir(tmp: Path) -> Path:
    return Path(SCREENSHOT_DIR) if SCREENSHOT_DIR else tmp / "screenshots"
