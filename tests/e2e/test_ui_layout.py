"""The UI at a laptop's width, and the configure step's offer of the local mail catcher."""

from __future__ import annotations

import json

from playwright.sync_api import Browser, Route, expect

from .conftest import SINK_HOST, Platform
from .ui_support import VIEWPORT, Ui

# Every control of the runs filter bar, and the right edges it must stay within: its own
# field's, the form's and the page's. 0.5 px for subpixel rounding.
_OVERFLOWS = """(form) => {
  const main = document.querySelector('main').getBoundingClientRect();
  const bar = form.getBoundingClientRect();
  const out = [];
  for (const node of form.querySelectorAll('label, input, select, button, a.button')) {
    const box = node.getBoundingClientRect();
    const cell = (node.closest('.field, .buttons') || form).getBoundingClientRect();
    const name = node.textContent.trim() || node.id || node.tagName;
    const outside = box.right > cell.right + 0.5 || box.left < cell.left - 0.5;
    if (outside) out.push(`${name} leaves its field`);
    if (box.right > bar.right + 0.5) out.push(`${name} leaves the filter bar`);
    if (box.right > main.right + 0.5) out.push(`${name} leaves the page`);
    const cut = node.tagName === 'LABEL' && node.scrollWidth > node.clientWidth + 1;
    if (cut) out.push(`${name} is cut`);
  }
  if (bar.right > main.right + 0.5) out.push('the filter bar leaves the page');
  return out;
}"""


def test_no_runs_filter_control_overflows_at_1280_px(ui: Ui) -> None:
    assert VIEWPORT["width"] == 1280
    page = ui.page
    page.get_by_role("link", name="Runs").click()
    form = page.get_by_role("form", name="Filter runs")
    expect(form.get_by_label("Slower than (ms)")).to_be_visible()
    assert form.evaluate(_OVERFLOWS) == []
    assert page.evaluate("document.documentElement.scrollWidth") <= VIEWPORT["width"]


def test_no_mail_catcher_is_offered_without_the_local_routes(ui: Ui) -> None:
    page = ui.page
    ui.new_integration("Mail", "")
    page.get_by_label("Email (SMTP)").check()
    expect(page.get_by_label("SMTP server")).to_be_visible()
    # This test platform mounts no /_local routes, as in the cloud.
    expect(page.get_by_text("STARTTLS is on by default")).to_be_visible()
    expect(page.get_by_role("button", name="Use the local mail catcher")).to_have_count(0)


def test_the_local_mail_catcher_button_fills_server_port_and_turns_tls_off(
    platform: Platform, browser: Browser
) -> None:
    # Under make dev, /_local/mail/settings names the catcher (here: the test SMTP server).
    settings = {
        "smtpServer": SINK_HOST,
        "smtpPort": platform.smtp_port,
        "useTLS": False,
        "useSSL": False,
    }

    def local_settings(route: Route) -> None:
        route.fulfill(status=200, content_type="application/json", body=json.dumps(settings))

    tab = Ui(browser, platform)
    tab.context.route("**/_local/mail/settings", local_settings)
    tab.sign_in()
    page = tab.page
    tab.new_integration("Mail", "")
    page.get_by_label("Email (SMTP)").check()
    expect(page.get_by_label("STARTTLS (useTLS)")).to_be_checked()
    page.get_by_role("button", name="Use the local mail catcher").click()
    expect(page.get_by_label("SMTP server")).to_have_value(SINK_HOST)
    expect(page.get_by_label("Port", exact=True)).to_have_value(str(platform.smtp_port))
    expect(page.get_by_label("STARTTLS (useTLS)")).not_to_be_checked()
    expect(page.get_by_label("Implicit TLS (useSSL)")).not_to_be_checked()
    tab.close()
