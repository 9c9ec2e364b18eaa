"""scripts/fetch_js.py: other projects' JavaScript comes from the npm registry, pinned by
integrity and sha256, into git-ignored folders; a wrong byte anywhere is refused."""

from __future__ import annotations

import base64
import hashlib
import importlib.util
import io
import json
import subprocess
import sys
import tarfile
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "scripts" / "fetch_js.py"


def _load() -> ModuleType:
    spec = importlib.util.spec_from_file_location("fetch_js", SCRIPT)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules["fetch_js"] = module  # dataclasses look their module up by name
    spec.loader.exec_module(module)
    return module


fetch_js = _load()
CODE = b"export const lockdown = () => {};\n"
LICENSE = b"Apache License 2.0, Copyright the authors\n"


def tarball(files: dict[str, bytes]) -> bytes:
    """An npm-style tarball: every file under package/."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        for name, data in files.items():
            info = tarfile.TarInfo(f"package/{name}")
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def integrity(data: bytes) -> str:
    return "sha512-" + base64.b64encode(hashlib.sha512(data).digest()).decode()


def pinned(source: str, data: bytes) -> dict[str, object]:
    return {"from": source, "sha256": hashlib.sha256(data).hexdigest(), "bytes": len(data)}


@pytest.fixture
def packed() -> bytes:
    return tarball({"dist/tool.min.js": CODE, "LICENSE": LICENSE, "dist/other.js": b"x"})


@pytest.fixture
def repo(tmp_path: Path, packed: bytes) -> Path:
    manifest = {
        "packages": {
            "@scope/tool": {
                "version": "1.2.3",
                "integrity": integrity(packed),
                "into": "pkg/vendor",
                "files": {
                    "tool.min.js": pinned("dist/tool.min.js", CODE),
                    "tool-1.2.3/LICENSE": pinned("LICENSE", LICENSE),
                },
            }
        }
    }
    (tmp_path / "manifest.json").write_text(json.dumps(manifest))
    return tmp_path


class Registry:
    """The registry as fetch() sees it: address -> tarball, and what was asked for."""

    def __init__(self, tarballs: dict[str, bytes]) -> None:
        self.tarballs = tarballs
        self.asked: list[str] = []

    def __call__(self, url: str) -> bytes:
        self.asked.append(url)
        return self.tarballs[url]


TOOL_URL = "https://registry.npmjs.org/@scope/tool/-/tool-1.2.3.tgz"


def test_the_pinned_files_are_taken_and_a_second_run_asks_nothing(
    repo: Path, packed: bytes
) -> None:
    packages = fetch_js.load(repo / "manifest.json", repo)
    registry = Registry({TOOL_URL: packed})
    assert fetch_js.fetch(packages, registry) == ["@scope/tool@1.2.3"]
    assert (repo / "pkg/vendor/tool.min.js").read_bytes() == CODE
    assert (repo / "pkg/vendor/tool-1.2.3/LICENSE").read_bytes() == LICENSE
    assert not (repo / "pkg/vendor/other.js").exists(), "only the listed files"
    assert fetch_js.fetch(packages, registry) == []
    assert registry.asked == [TOOL_URL]


def test_a_changed_file_is_fetched_again_and_a_stale_one_removed(
    repo: Path, packed: bytes
) -> None:
    packages = fetch_js.load(repo / "manifest.json", repo)
    registry = Registry({TOOL_URL: packed})
    fetch_js.fetch(packages, registry)
    (repo / "pkg/vendor/tool.min.js").write_bytes(b"tampered")
    (repo / "pkg/vendor/tool-1.2.2").mkdir()
    (repo / "pkg/vendor/tool-1.2.2/LICENSE").write_bytes(b"old")
    assert fetch_js.fetch(packages, registry) == ["@scope/tool@1.2.3"]
    assert (repo / "pkg/vendor/tool.min.js").read_bytes() == CODE
    assert not (repo / "pkg/vendor/tool-1.2.2").exists()


def test_a_tarball_that_is_not_the_pinned_one_is_refused(repo: Path) -> None:
    packages = fetch_js.load(repo / "manifest.json", repo)
    other = tarball({"dist/tool.min.js": CODE, "LICENSE": LICENSE, "extra": b"!"})
    with pytest.raises(fetch_js.FetchError, match="sha512"):
        fetch_js.fetch(packages, Registry({TOOL_URL: other}))
    assert not (repo / "pkg/vendor").exists(), "nothing written"


def test_a_file_that_is_not_the_pinned_bytes_is_refused(repo: Path) -> None:
    changed = tarball({"dist/tool.min.js": b"evil()", "LICENSE": LICENSE})
    manifest = json.loads((repo / "manifest.json").read_text())
    manifest["packages"]["@scope/tool"]["integrity"] = integrity(changed)
    (repo / "manifest.json").write_text(json.dumps(manifest))
    packages = fetch_js.load(repo / "manifest.json", repo)
    with pytest.raises(fetch_js.FetchError, match="dist/tool.min.js: sha256"):
        fetch_js.fetch(packages, Registry({TOOL_URL: changed}))


def test_a_file_the_tarball_lacks_is_refused(repo: Path) -> None:
    short = tarball({"LICENSE": LICENSE})
    manifest = json.loads((repo / "manifest.json").read_text())
    manifest["packages"]["@scope/tool"]["integrity"] = integrity(short)
    (repo / "manifest.json").write_text(json.dumps(manifest))
    packages = fetch_js.load(repo / "manifest.json", repo)
    with pytest.raises(fetch_js.FetchError, match="not in the tarball"):
        fetch_js.fetch(packages, Registry({TOOL_URL: short}))


def test_only_https_and_only_sha512() -> None:
    with pytest.raises(fetch_js.FetchError, match="only HTTPS"):
        fetch_js.download("http://registry.npmjs.org/x/-/x-1.0.0.tgz")
    with pytest.raises(fetch_js.FetchError, match="sha512"):
        fetch_js.check_integrity(b"x", "sha1-" + base64.b64encode(b"x").decode())


def test_check_names_the_setup_command_and_touches_nothing(repo: Path) -> None:
    result = subprocess.run(
        [sys.executable, str(SCRIPT), "--check", "--manifest", str(repo / "manifest.json"),
         "--root", str(repo)],
        capture_output=True, text=True, check=False,
    )
    assert result.returncode == 1
    assert "pkg/vendor/tool.min.js is missing" in result.stderr
    assert "make .venv/.installed" in result.stderr
    assert not (repo / "pkg").exists()


def test_the_real_manifest_is_fetched_and_git_ignored() -> None:
    # `make` fetched them; each is checked by its own test too (test_ui_vendor.py,
    # tests/security/test_sandbox_realm.py), this one holds the manifest's general rules.
    packages = fetch_js.load()
    assert {p.name for p in packages} >= {"ses", "swagger-ui-dist"}
    for package in packages:
        assert fetch_js.missing(package) == [], f"{package.name}: run make .venv/.installed"
        assert package.integrity.startswith("sha512-")
        assert package.tarball.startswith("https://registry.npmjs.org/")
        assert any("LICENSE" in f.name for f in package.files), "its licence ships with it"
        ignored = subprocess.run(
            ["git", "check-ignore", "-q", str(package.into / "x")], cwd=ROOT, check=False
        )
        assert ignored.returncode == 0, f"{package.into} is git-ignored"
