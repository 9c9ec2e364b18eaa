"""Every Markdown file the repository's files cite is in the repository: the project's own
docs are its reference, so a citation of a document kept elsewhere (a CONTRACT.md, a
STYLE.md) is a reader's dead end."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
# A path with a folder (docs/api.md, ../README.md), an upper-case name (README.md), or a
# Markdown link's target ((integration.md#the-run-record)). A lower-case bare name in code
# is usually a path being built (`ROOT / "docs" / "deploy.md"`), not a citation.
REFERENCE = re.compile(
    r"(?<![\w./@-])((?:\.\.?/)?(?:[\w.-]+/)+[\w.-]+\.md|[A-Z][A-Z0-9_-]*\.md)(?![\w/])"
    r"|\]\(([\w./-]+\.md)(?:#[\w-]*)?\)"
)


def _tracked() -> list[Path]:
    listed = subprocess.run(
        ["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True
    ).stdout.decode()
    return [ROOT / name for name in listed.split("\0") if name]


def dead_references(path: Path, text: str) -> list[str]:
    """The .md files `text` (the content of `path`) cites that exist neither from the
    repository's root nor from the file's own folder."""
    dead = []
    for match in REFERENCE.finditer(text):
        cited = match.group(1) or match.group(2)
        if not ((ROOT / cited).is_file() or (path.parent / cited).is_file()):
            dead.append(cited)
    return dead


def test_the_pattern_finds_a_citation_of_a_missing_document() -> None:
    here = ROOT / "shared" / "mapper" / "store.py"
    assert dead_references(here, "# the document (CONTRACT.md section 2)") == ["CONTRACT.md"]
    assert dead_references(here, "see docs/nowhere.md and [x](gone.md#a)") == [
        "docs/nowhere.md",
        "gone.md",
    ]
    assert dead_references(here, "see docs/api.md, README.md and [m](docs/mapping.md)") == []
    docs = ROOT / "docs" / "api.md"
    assert dead_references(docs, "[the run](integration.md#the-run-record)") == []


def test_every_cited_markdown_file_is_in_the_repository() -> None:
    dead = {}
    for path in _tracked():
        if path == Path(__file__).resolve():
            continue  # its own examples of dead citations, above
        try:
            text = path.read_text(encoding="utf-8")
        except (UnicodeDecodeError, FileNotFoundError, IsADirectoryError):
            continue  # binary files, and files deleted but not yet committed
        if found := dead_references(path, text):
            dead[path.relative_to(ROOT).as_posix()] = sorted(set(found))
    assert dead == {}, "cite the project's own docs (docs/*.md, README.md) instead"
