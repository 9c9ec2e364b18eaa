"""infra/scripts/package.py: what a function's zip holds, and that its name is its content."""

from __future__ import annotations

import hashlib
import importlib.util
import json
import sys
import zipfile
from pathlib import Path
from types import ModuleType

import pytest

from .tfconfig import INFRA, ROOT, run

SCRIPT = INFRA / "scripts" / "package.py"


def _load() -> ModuleType:
    spec = importlib.util.spec_from_file_location("infra_package", SCRIPT)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


package = _load()


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """A small repository: two functions, the mapper package, requirements with a local line."""
    root = tmp_path / "repo"
    (root / "functions" / "hook" / "static").mkdir(parents=True)
    (root / "functions" / "hook" / "main.py").write_text("def hook(request): ...\n")
    (root / "functions" / "hook" / "routes.py").write_text("ROUTES = []\n")
    (root / "functions" / "hook" / "static" / "index.html").write_text("<html></html>\n")
    (root / "functions" / "hook" / "__pycache__").mkdir()
    (root / "functions" / "hook" / "__pycache__" / "main.cpython-311.pyc").write_bytes(b"x")
    (root / "functions" / "other").mkdir()
    (root / "functions" / "other" / "main.py").write_text("def other(event): ...\n")
    (root / "functions" / "not_a_function").mkdir()
    mapper = root / "shared" / "mapper"
    (mapper / "targets").mkdir(parents=True)
    (mapper / "__init__.py").write_text("")
    (mapper / "runtime.js").write_text("// js\n")
    (mapper / "targets" / "http.py").write_text("X = 1\n")
    (root / "shared" / "mapper.egg-info").mkdir()
    (root / "shared" / "mapper.egg-info" / "PKG-INFO").write_text("x")
    (root / "requirements.txt").write_text(
        "# comment\nFlask==3.1.3\n-e ./shared\n./shared\n-r other.txt\nrequests==2.34.2\n"
    )
    return root


def names(path: Path) -> list[str]:
    with zipfile.ZipFile(path) as archive:
        return archive.namelist()


def test_zip_holds_the_function_the_mapper_package_and_requirements(
    repo: Path, tmp_path: Path
) -> None:
    path = package.package("hook", tmp_path / "out", repo)
    assert names(path) == [
        "main.py",
        "mapper/__init__.py",
        "mapper/runtime.js",
        "mapper/targets/http.py",
        "requirements.txt",
        "routes.py",
        "static/index.html",
    ]
    with zipfile.ZipFile(path) as archive:
        requirements = archive.read("requirements.txt").decode()
        info = archive.getinfo("main.py")
    assert requirements == "Flask==3.1.3\nrequests==2.34.2\n"
    assert info.date_time == (1980, 1, 1, 0, 0, 0)


def test_name_is_the_content_hash_and_bytes_are_reproducible(repo: Path, tmp_path: Path) -> None:
    first = package.package("hook", tmp_path / "a", repo)
    second = package.package("hook", tmp_path / "b", repo)
    assert first.name == second.name
    assert first.name.startswith("hook-") and first.suffix == ".zip"
    assert first.read_bytes() == second.read_bytes()
    # File times are not content.
    (repo / "functions" / "hook" / "main.py").touch()
    assert package.package("hook", tmp_path / "c", repo).name == first.name


def test_any_change_in_the_function_or_mapper_gives_a_new_name(repo: Path, tmp_path: Path) -> None:
    before = package.package("hook", tmp_path / "out", repo).name
    (repo / "shared" / "mapper" / "targets" / "http.py").write_text("X = 2\n")
    after_mapper = package.package("hook", tmp_path / "out", repo).name
    (repo / "functions" / "hook" / "routes.py").write_text("ROUTES = [1]\n")
    after_function = package.package("hook", tmp_path / "out", repo).name
    assert len({before, after_mapper, after_function}) == 3


def test_the_name_matches_what_terraform_accepts(repo: Path, tmp_path: Path) -> None:
    import re

    path = package.package("other", tmp_path / "out", repo)
    # variables.tf, function_sources validation.
    assert re.search(r"-[0-9a-f]{16,64}\.zip$", path.name)


def test_a_missing_function_is_an_error(repo: Path, tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="functions/nope/main.py"):
        package.package("nope", tmp_path / "out", repo)


def test_a_fetched_file_missing_or_changed_refuses_the_zip(repo: Path, tmp_path: Path) -> None:
    vendor = repo / "shared" / "mapper" / "engine" / "vendor"
    vendor.mkdir(parents=True)
    (vendor / "ses.js").write_bytes(b"lockdown")
    (repo / "scripts").mkdir()
    pins = {"ses.js": {"from": "dist/ses.js", "sha256": hashlib.sha256(b"lockdown").hexdigest(),
                       "bytes": 8}}
    other = {"into": "functions/elsewhere/vendor", "files": {"x.js": {"sha256": "0" * 64}}}
    (repo / "scripts" / "js-packages.json").write_text(json.dumps({"packages": {
        "ses": {"into": "shared/mapper/engine/vendor", "files": pins}, "other": other}}))
    # Present and pinned: carried; another function's missing file is not this zip's business.
    assert "mapper/engine/vendor/ses.js" in names(package.package("hook", tmp_path / "a", repo))
    (vendor / "ses.js").write_bytes(b"changed")
    with pytest.raises(FileNotFoundError, match=r"engine/vendor/ses.js.*fetch_js.py"):
        package.package("hook", tmp_path / "b", repo)
    (vendor / "ses.js").unlink()
    with pytest.raises(FileNotFoundError, match=r"engine/vendor/ses.js"):
        package.package("hook", tmp_path / "c", repo)


def test_function_names_are_directories_with_a_main(repo: Path) -> None:
    assert package.function_names(repo) == ["hook", "other"]


def test_command_line_writes_the_tfvars(repo: Path, tmp_path: Path) -> None:
    tfvars = tmp_path / "sources.tfvars.json"
    result = run(
        [
            sys.executable,
            str(SCRIPT),
            "--root",
            str(repo),
            "--out",
            str(tmp_path / "out"),
            "--tfvars",
            str(tfvars),
        ]
    )
    assert result.returncode == 0, result.stderr
    sources = json.loads(tfvars.read_text())["function_sources"]
    assert set(sources) == {"hook", "other"}
    assert all(Path(p).is_file() and Path(p).is_absolute() for p in sources.values())


def test_the_real_functions_package(tmp_path: Path) -> None:
    for name in package.function_names(ROOT):
        content = names(package.package(name, tmp_path, ROOT))
        assert "main.py" in content and "requirements.txt" in content
        assert "mapper/__init__.py" in content and "mapper/engine/runtime.js" in content
        assert not any("__pycache__" in n or n.endswith(".pyc") for n in content)
        # SES is fetched (scripts/fetch_js.py), not committed: every zip carries it all the same.
        assert "mapper/engine/vendor/ses-lockdown.umd.min.js" in content
        assert "mapper/engine/vendor/ses-LICENSE" in content
    api = names(package.package("api", tmp_path, ROOT))
    viewer = [n for n in api if n.startswith("static/vendor/swagger-ui-dist-")]
    assert any(n.endswith("/swagger-ui-bundle.js") for n in viewer), api
