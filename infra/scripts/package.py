"""Build each function's source zip, named by its content hash (deploy.sh runs this).

    python3 infra/scripts/package.py --out build/deploy/functions --tfvars FILE [NAME ...]

A zip holds what Cloud Functions builds from: the function's directory (main.py and any
module or static file beside it), a copy of shared/mapper/ as mapper/, and the run-time
requirements.txt without the lines that install the mapper package from the repository.
Files fetched from npm (scripts/js-packages.json: SES, Swagger UI) sit in git-ignored
folders inside those and go in with them; a zip is refused while one is missing.
Entries are sorted, stored uncompressed, and their dates and modes fixed, so the same code
always gives the same bytes and the same name: a function whose code did not change is not
redeployed. The tfvars file written maps each function to its zip (`function_sources`).
Standard library only: deploy.sh runs it with whatever python3 the machine has.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import zipfile
from collections.abc import Iterable, Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
HASH_CHARS = 24
# Zip's earliest date: the same for every entry, whatever the checkout's file times.
FIXED_DATE = (1980, 1, 1, 0, 0, 0)
SKIP_DIRS = frozenset({"__pycache__", ".pytest_cache", ".ruff_cache", "tests"})
SKIP_SUFFIXES = (".pyc", ".pyo")
# Requirement lines that point into the repository (the mapper package), which the zip
# carries as files instead.
LOCAL_REQUIREMENT_PREFIXES = ("-e", "-r", "--requirement", ".", "/", "file:")
# Other projects' files the zips carry, fetched and not committed (docs/dependencies.md).
JS_MANIFEST = "scripts/js-packages.json"


def function_names(root: Path = ROOT) -> list[str]:
    """Every function: a directory under functions/ with a main.py."""
    return sorted(p.parent.name for p in (root / "functions").glob("*/main.py"))


def _files(base: Path) -> Iterator[Path]:
    for path in sorted(base.rglob("*")):
        relative = path.relative_to(base)
        if any(part in SKIP_DIRS or part.endswith(".egg-info") for part in relative.parts):
            continue
        if path.is_file() and not path.name.endswith(SKIP_SUFFIXES):
            yield path


def runtime_requirements(root: Path = ROOT, extra: Iterable[str] = ()) -> str:
    """requirements.txt as the function's build installs it: pins only, nothing local."""
    lines = []
    for line in [*(root / "requirements.txt").read_text().splitlines(), *extra]:
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        if stripped.startswith(LOCAL_REQUIREMENT_PREFIXES) or "./shared" in stripped:
            continue
        if stripped not in lines:
            lines.append(stripped)
    return "\n".join(lines) + "\n"


def unfetched(function_dir: Path, root: Path = ROOT) -> list[str]:
    """Files of scripts/js-packages.json that this zip would carry but that are missing or
    not the pinned bytes (scripts/fetch_js.py fetches them; deploy.sh runs it first)."""
    manifest = root / JS_MANIFEST
    if not manifest.is_file():
        return []
    carried = (function_dir.resolve(), (root / "shared" / "mapper").resolve())
    wrong = []
    for package in json.loads(manifest.read_text())["packages"].values():
        into = (root / package["into"]).resolve()
        if not any(into == base or base in into.parents for base in carried):
            continue
        for file_name, pinned in package["files"].items():
            path = into / file_name
            if not path.is_file() or hashlib.sha256(path.read_bytes()).hexdigest() != pinned[
                "sha256"
            ]:
                wrong.append(path.relative_to(root.resolve()).as_posix())
    return wrong


def contents(name: str, root: Path = ROOT) -> dict[str, bytes]:
    """Archive name -> bytes of everything the zip of function `name` holds."""
    function_dir = root / "functions" / name
    if not (function_dir / "main.py").is_file():
        raise FileNotFoundError(f"functions/{name}/main.py does not exist")
    if missing := unfetched(function_dir, root):
        raise FileNotFoundError(
            f"{', '.join(missing)}: missing or not the pinned file; run"
            " `python3 scripts/fetch_js.py` (deploy.sh does) before packaging"
        )
    entries: dict[str, bytes] = {}
    own_requirements: list[str] = []
    for path in _files(function_dir):
        arcname = path.relative_to(function_dir).as_posix()
        if arcname == "requirements.txt":
            own_requirements = path.read_text().splitlines()
            continue
        entries[arcname] = path.read_bytes()
    for path in _files(root / "shared" / "mapper"):
        arcname = "mapper/" + path.relative_to(root / "shared" / "mapper").as_posix()
        if arcname in entries:
            raise ValueError(f"functions/{name}/{arcname} would shadow the mapper package")
        entries[arcname] = path.read_bytes()
    entries["requirements.txt"] = runtime_requirements(root, own_requirements).encode()
    return entries


def content_hash(entries: dict[str, bytes]) -> str:
    """A hash of the names and bytes of the entries (not of the zip, nor of file times)."""
    digest = hashlib.sha256()
    for arcname in sorted(entries):
        data = entries[arcname]
        digest.update(f"{arcname}\0{len(data)}\0".encode())
        digest.update(data)
    return digest.hexdigest()[:HASH_CHARS]


def write_zip(entries: dict[str, bytes], path: Path) -> None:
    """Write the entries as a zip whose bytes depend on nothing else."""
    tmp = path.with_suffix(".tmp")
    with zipfile.ZipFile(tmp, "w") as archive:
        for arcname in sorted(entries):
            info = zipfile.ZipInfo(arcname, date_time=FIXED_DATE)
            # Stored, not deflated: compressed bytes vary with the zlib version, and the
            # zip of the same code must be the same object on every machine.
            info.compress_type = zipfile.ZIP_STORED
            info.external_attr = 0o644 << 16
            info.create_system = 3  # Unix, so that the mode above is read
            archive.writestr(info, entries[arcname])
    tmp.replace(path)


def package(name: str, out_dir: Path, root: Path = ROOT) -> Path:
    """The zip of function `name` in out_dir, built unless a zip of this content is there."""
    entries = contents(name, root)
    path = out_dir / f"{name}-{content_hash(entries)}.zip"
    if not path.exists():
        out_dir.mkdir(parents=True, exist_ok=True)
        write_zip(entries, path)
    return path


def main(argv: list[str] | None = None) -> int:
    """Command line: build the zips and write the tfvars file naming them."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("names", nargs="*", help="functions to package (default: all)")
    parser.add_argument("--out", type=Path, required=True, help="directory of the zips")
    parser.add_argument("--tfvars", type=Path, help="write {function_sources: ...} here")
    parser.add_argument("--root", type=Path, default=ROOT, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    names = args.names or function_names(args.root)
    try:
        sources = {name: str(package(name, args.out, args.root).resolve()) for name in names}
    except (FileNotFoundError, ValueError) as exc:
        print(f"package.py: {exc}", file=sys.stderr)
        return 1
    if args.tfvars:
        args.tfvars.parent.mkdir(parents=True, exist_ok=True)
        args.tfvars.write_text(json.dumps({"function_sources": sources}, indent=2) + "\n")
    for name, path in sources.items():
        print(f"{name}: {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
