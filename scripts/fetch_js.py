"""Fetch the pinned npm packages' files the platform ships (scripts/js-packages.json).

    python3 scripts/fetch_js.py            fetch what is missing or changed, check everything
    python3 scripts/fetch_js.py --check    check only, never touch the network

The repository holds no other project's code: `make` (the setup step of `make test` and
`make dev`) and deploy.sh run this. For each package of the manifest it downloads the
registry's tarball over HTTPS, checks it against the pinned `integrity` (sha512, as npm
does), takes the listed files out of it and checks each one's sha256, then writes them
under `into` (a git-ignored folder inside the package or function that loads them, so the
editable install and the functions' source zips both carry them). Files already there
with the pinned sha256 are left alone: a second run needs no network. Adding a package is
one entry in the manifest. Standard library only: no npm, any python3.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import io
import json
import sys
import tarfile
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MANIFEST = ROOT / "scripts" / "js-packages.json"
REGISTRY = "https://registry.npmjs.org"
SETUP_COMMAND = "make .venv/.installed (or: python3 scripts/fetch_js.py)"
# The largest tarball we accept: swagger-ui-dist is about 3.4 MB packed.
MAX_TARBALL_BYTES = 50 * 1024 * 1024
TIMEOUT_SECONDS = 60


class FetchError(Exception):
    """A package could not be fetched, or is not the one pinned."""


@dataclass(frozen=True)
class PinnedFile:
    """One file taken from a tarball: where it goes, where it comes from, its sha256."""

    name: str  # relative to the package's `into`
    source: str  # relative to the tarball's package/ folder
    sha256: str
    size: int


@dataclass(frozen=True)
class Package:
    """One manifest entry: an exact version, its tarball's integrity, the files to take."""

    name: str
    version: str
    integrity: str
    into: Path
    files: tuple[PinnedFile, ...]

    @property
    def tarball(self) -> str:
        # The registry's address for a tarball; a scoped name keeps its scope in the path.
        basename = self.name.rsplit("/", 1)[-1]
        return f"{REGISTRY}/{self.name}/-/{basename}-{self.version}.tgz"


def load(manifest: Path = MANIFEST, root: Path = ROOT) -> list[Package]:
    """The manifest's packages, with `into` resolved against the repository."""
    packages = []
    for name, entry in json.loads(manifest.read_text(encoding="utf-8"))["packages"].items():
        files = tuple(
            PinnedFile(target, spec["from"], spec["sha256"], spec["bytes"])
            for target, spec in entry["files"].items()
        )
        packages.append(
            Package(name, entry["version"], entry["integrity"], root / entry["into"], files)
        )
    return packages


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def missing(package: Package) -> list[PinnedFile]:
    """The package's files that are absent or not the pinned bytes."""
    wrong = []
    for pinned in package.files:
        path = package.into / pinned.name
        if not path.is_file() or _sha256(path.read_bytes()) != pinned.sha256:
            wrong.append(pinned)
    return wrong


def check_integrity(data: bytes, integrity: str) -> None:
    """Raise unless `data` matches an npm integrity string (sha512-<base64>)."""
    algorithm, _, expected = integrity.partition("-")
    if algorithm != "sha512":
        raise FetchError(f"integrity {integrity!r}: pin the registry's sha512 dist.integrity")
    actual = base64.b64encode(hashlib.sha512(data).digest()).decode()
    if actual != expected:
        raise FetchError(f"the tarball's sha512 is {actual}, the manifest pins {expected}")


def download(url: str) -> bytes:
    """The tarball's bytes, over HTTPS only, size-bounded."""
    if not url.startswith("https://"):
        raise FetchError(f"{url}: only HTTPS")
    try:
        with urllib.request.urlopen(url, timeout=TIMEOUT_SECONDS) as response:
            data = response.read(MAX_TARBALL_BYTES + 1)
    except OSError as exc:
        raise FetchError(f"cannot download {url}: {exc}") from exc
    if len(data) > MAX_TARBALL_BYTES:
        raise FetchError(f"{url} is larger than {MAX_TARBALL_BYTES} bytes")
    return data


def extract(package: Package, tarball: bytes) -> dict[str, bytes]:
    """Target name -> bytes of each pinned file, read from the tarball and checked."""
    check_integrity(tarball, package.integrity)
    taken: dict[str, bytes] = {}
    with tarfile.open(fileobj=io.BytesIO(tarball), mode="r:gz") as archive:
        for pinned in package.files:
            # Members are read by name, never extracted as paths: nothing can land elsewhere.
            label = f"{package.name}@{package.version} {pinned.source}"
            try:
                member = archive.getmember(f"package/{pinned.source}")
            except KeyError:
                raise FetchError(f"{label}: not in the tarball") from None
            handle = archive.extractfile(member) if member.isfile() else None
            if handle is None:
                raise FetchError(f"{label}: not a file")
            data = handle.read()
            if _sha256(data) != pinned.sha256 or len(data) != pinned.size:
                raise FetchError(
                    f"{label}: sha256 {_sha256(data)}, {len(data)} bytes;"
                    f" the manifest pins {pinned.sha256}, {pinned.size} bytes"
                )
            taken[pinned.name] = data
    return taken


def install(package: Package, files: dict[str, bytes]) -> None:
    """Write the checked files under the package's folder, each replaced whole."""
    for name, data in files.items():
        path = package.into / name
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_bytes(data)
        tmp.replace(path)


def remove_unlisted(packages: list[Package]) -> list[Path]:
    """Delete files in the fetched folders that no package lists (an older version's)."""
    wanted = {(p.into / f.name).resolve() for p in packages for f in p.files}
    removed = []
    for folder in {p.into for p in packages}:
        if not folder.is_dir():
            continue
        for path in sorted(folder.rglob("*"), reverse=True):
            if path.is_file() and path.resolve() not in wanted:
                path.unlink()
                removed.append(path)
            elif path.is_dir() and not any(path.iterdir()):
                path.rmdir()
    return removed


def fetch(
    packages: list[Package], fetcher: Callable[[str], bytes] = download
) -> list[str]:
    """Bring every package's files to the pinned bytes; the packages that were fetched."""
    fetched = []
    for package in packages:
        if missing(package):
            install(package, extract(package, fetcher(package.tarball)))
            fetched.append(f"{package.name}@{package.version}")
    remove_unlisted(packages)
    return fetched


def main(argv: list[str] | None = None) -> int:
    """Command line: fetch (default) or --check."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="check only, no network")
    parser.add_argument("--manifest", type=Path, default=MANIFEST, help=argparse.SUPPRESS)
    parser.add_argument("--root", type=Path, default=ROOT, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    packages = load(args.manifest, args.root)
    if args.check:
        wrong = [(p, f) for p in packages for f in missing(p)]
        for package, pinned in wrong:
            where = (package.into / pinned.name).relative_to(args.root)
            print(f"fetch_js.py: {where} is missing or changed", file=sys.stderr)
        if wrong:
            print(f"fetch_js.py: run {SETUP_COMMAND}", file=sys.stderr)
        return 1 if wrong else 0
    try:
        fetched = fetch(packages)
    except FetchError as exc:
        print(f"fetch_js.py: {exc}", file=sys.stderr)
        return 1
    for name in fetched:
        print(f"fetch_js.py: fetched {name}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
