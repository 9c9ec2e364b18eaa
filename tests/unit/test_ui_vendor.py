"""The API reference's viewer is fetched, never committed: the files under static/vendor/
are the pinned npm package's own (each checked against the sha256 in
scripts/js-packages.json), licensed, small, git-ignored, and the only scripts and styles
the page loads."""

from __future__ import annotations

import hashlib
import json
import re
import subprocess
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
STATIC = ROOT / "functions" / "api" / "static"
VENDOR = STATIC / "vendor"
DOCS_HTML = STATIC / "docs.html"
MANIFEST = ROOT / "scripts" / "js-packages.json"
# The whole fetched viewer is deployed with the api function.
MAX_VENDORED_BYTES = 5 * 1024 * 1024


def _viewer() -> dict[str, Any]:
    return json.loads(MANIFEST.read_text())["packages"]["swagger-ui-dist"]


def test_the_viewer_is_pinned_and_fetched_into_the_static_vendor_folder() -> None:
    viewer = _viewer()
    assert re.fullmatch(r"\d+\.\d+\.\d+", viewer["version"]), "pin an exact version"
    assert viewer["integrity"].startswith("sha512-")
    assert (ROOT / viewer["into"]) == VENDOR
    folders = {name.split("/")[0] for name in viewer["files"]}
    assert folders == {f"swagger-ui-dist-{viewer['version']}"}
    assert [p.name for p in VENDOR.iterdir()] == [*folders], "nothing else under vendor/"


def test_every_fetched_file_has_its_pinned_checksum() -> None:
    files = _viewer()["files"]
    present = {p.relative_to(VENDOR).as_posix() for p in VENDOR.rglob("*") if p.is_file()}
    assert present == set(files), "every fetched file is listed, and every listed file is there"
    for name, expected in files.items():
        data = (VENDOR / name).read_bytes()
        assert hashlib.sha256(data).hexdigest() == expected["sha256"], f"{name} was changed"
        assert len(data) == expected["bytes"], name


def test_the_viewer_is_not_in_the_repository() -> None:
    tracked = subprocess.run(
        ["git", "ls-files", "--", str(VENDOR)], cwd=ROOT, capture_output=True, text=True,
        check=True,
    ).stdout
    assert tracked == ""
    ignored = subprocess.run(
        ["git", "check-ignore", "-q", str(VENDOR / "x.js")], cwd=ROOT, check=False
    )
    assert ignored.returncode == 0, "functions/api/static/vendor/ is git-ignored"


def test_the_viewer_ships_its_license_and_stays_small() -> None:
    [folder] = [p for p in VENDOR.iterdir()]
    assert f"{folder.name}/LICENSE" in _viewer()["files"]
    assert (folder / "LICENSE").read_text().strip()
    total = sum(p.stat().st_size for p in folder.iterdir())
    assert total < MAX_VENDORED_BYTES, f"{total} bytes fetched"


def test_the_docs_page_loads_only_local_files_and_no_inline_code() -> None:
    html = DOCS_HTML.read_text()
    folder = f"swagger-ui-dist-{_viewer()['version']}"
    sources = re.findall(r'<script[^>]*\ssrc="([^"]+)"', html)
    styles = re.findall(r'<link[^>]*rel="stylesheet"[^>]*href="([^"]+)"', html)
    assert sources == [f"/vendor/{folder}/swagger-ui-bundle.js", "/docs.js"]
    assert styles == [f"/vendor/{folder}/swagger-ui.css", "/docs.css"]
    for local in [*sources, *styles]:
        assert (STATIC / local.lstrip("/")).is_file(), local
    assert len(re.findall(r"<script", html)) == len(sources), "no inline <script>"
    assert "<style" not in html and " style=" not in html, "no inline style"
    assert not re.search(r'(src|href)="(https?:)?//', html), "nothing from another origin"
