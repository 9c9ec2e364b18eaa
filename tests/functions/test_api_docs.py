"""The API reference at /api/docs: served without a token with its fetched viewer, and a
clear 503 naming the setup command when the viewer was never fetched."""

from __future__ import annotations

import re
import shutil
import sys
from pathlib import Path
from typing import Any

import pytest

from functions.api import routes
from tests.functions.conftest import Fakes, client

STATIC = Path(routes.__file__).parent / "static"


@pytest.fixture
def api(fakes: Fakes, monkeypatch: pytest.MonkeyPatch) -> Any:
    monkeypatch.setenv("ADMIN_TOKEN", "boot-token-for-docs")
    return client("api")


def test_the_reference_and_its_viewer_are_served_without_a_token(api: Any) -> None:
    page = api.get("/api/docs")
    assert page.status_code == 200 and page.mimetype == "text/html"
    [bundle] = re.findall(r'"/(vendor/[^"]+\.js)"', page.get_data(as_text=True))
    script = api.get("/" + bundle)
    assert script.status_code == 200 and script.mimetype == "text/javascript"
    assert script.get_data() == (STATIC / bundle).read_bytes()


def test_a_viewer_never_fetched_is_a_503_naming_the_setup_command(
    api: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    bare = tmp_path / "static"
    shutil.copytree(STATIC, bare, ignore=shutil.ignore_patterns("vendor"))
    css, bundle = routes.unfetched(bare)
    assert css.endswith("/swagger-ui.css") and bundle.endswith("/swagger-ui-bundle.js")
    assert routes.unfetched(STATIC) == []
    # The api function imports its routes as a top-level module, beside main.py.
    monkeypatch.setattr(sys.modules["routes"], "STATIC", bare)
    for path in ("/api/docs", "/" + bundle):
        reply = api.get(path)
        assert reply.status_code == 503, path
        assert reply.get_json()["code"] == "not_fetched"
        assert "make .venv/.installed" in reply.get_json()["error"]
    assert api.get("/vendor/nothing-of-ours.js").status_code == 404
