"""The API reference's viewer is shipped, not fetched: the vendored files are the pinned npm
package's own (each checked against its manifest's sha256), licensed, small, and the only
scripts and styles the page loads."""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path
from typing import Any

import pytest

STATIC = Path(__file__).resolve().parents[2] / "functions" / "api" / "static"
VENDOR = STATIC / "vendor"
DOCS_HTML = STATIC / "docs.html"
# The whole vendored viewer is committed and deployed with the api function.
MAX_VENDORED_BYTES = 5 * 1024 * 1024


def _manifests() -> list[Path]:
    return sorted(VENDOR.glob("*/manifest.json"))


def _manifest(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text())


def test_there_is_one_vendored_viewer_with_a_manifest() -> None:
    directories = [p for p in VENDOR.iterdir() if p.is_dir()]
    assert [m.parent for m in _manifests()] == directories == directories[:1]


@pytest.mark.parametrize("manifest_path", _manifests(), ids=lambda p: p.parent.name)
def test_every_vendored_file_has_its_pinned_checksum(manifest_path: Path) -> None:
    manifest = _manifest(manifest_path)
    folder = manifest_path.parent
    assert folder.name == f"{manifest['name']}-{manifest['version']}"
    assert re.fullmatch(r"\d+\.\d+\.\d+", manifest["version"]), "pin an exact version"
    assert manifest["tarball"].endswith(f"/{manifest['name']}-{manifest['version']}.tgz")
    listed = set(manifest["files"])
    present = {p.name for p in folder.iterdir()} - {"manifest.json"}
    assert present == listed, "every vendored file is listed, and every listed file is there"
    for name, expected in manifest["files"].items():
        data = (folder / name).read_bytes()
        assert hashlib.sha256(data).hexdigest() == expected["sha256"], f"{name} was changed"
        assert len(data) == expected["bytes"], name


@pytest.mark.parametrize("manifest_path", _manifests(), ids=lambda p: p.parent.name)
def test_the_viewer_ships_its_license_and_stays_small(manifest_path: Path) -> None:
    folder = manifest_path.parent
    assert "LICENSE" in _manifest(manifest_path)["files"]
    assert (folder / "LICENSE").read_text().strip()
    total = sum(p.stat().st_size for p in folder.iterdir())
    assert total < MAX_VENDORED_BYTES, f"{total} bytes vendored"


def test_the_docs_page_loads_only_local_files_and_no_inline_code() -> None:
    html = DOCS_HTML.read_text()
    [manifest_path] = _manifests()
    folder = manifest_path.parent.name
    sources = re.findall(r'<script[^>]*\ssrc="([^"]+)"', html)
    styles = re.findall(r'<link[^>]*rel="stylesheet"[^>]*href="([^"]+)"', html)
    assert sources == [f"/vendor/{folder}/swagger-ui-bundle.js", "/docs.js"]
    assert styles == [f"/vendor/{folder}/swagger-ui.css", "/docs.css"]
    for local in [*sources, *styles]:
        assert (STATIC / local.lstrip("/")).is_file(), local
    assert len(re.findall(r"<script", html)) == len(sources), "no inline <script>"
    assert "<style" not in html and " style=" not in html, "no inline style"
    assert not re.search(r'(src|href)="(https?:)?//', html), "nothing from another origin"
