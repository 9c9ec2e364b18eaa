"""Integration versions: every save keeps the document as saved, with a one-line summary.

A version is written by `IntegrationStore` in the same transaction as the save it records
(create, replace, toggle, rollback), so the list of versions never misses a save and never
holds one that did not happen. It holds the document exactly as stored: secrets as
references, never values. docs/api.md ("Versions") says what rollback does with them.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .engine.config import parse_integration, server_fields
from .engine.diff import diff, summarize
from .errors import ConfigError

# Fields of the stored document that say when or where, not what: left out of summaries.
_NOT_CONTENT = ("version", "createdAt", "updatedAt")
SUMMARY_CHARS = 300  # a version's summary is cut to this many characters


def content(doc: Mapping[str, Any]) -> dict[str, Any]:
    """The part of a stored document a user wrote (no server-owned fields)."""
    server = set(server_fields()) | set(_NOT_CONTENT)
    return {key: value for key, value in doc.items() if key not in server}


def summary(previous: Mapping[str, Any] | None, current: Mapping[str, Any]) -> str:
    """What changed from `previous` to `current`, in one line ("created" for the first)."""
    if previous is None:
        return "created"
    text = summarize(diff(_settled(previous), _settled(current))) or "no change"
    return text if len(text) <= SUMMARY_CHARS else text[: SUMMARY_CHARS - 3] + "..."


def _settled(doc: Mapping[str, Any]) -> dict[str, Any]:
    """The content with every default filled in, so that `active` omitted and `true` agree."""
    mine = content(doc)
    try:
        parsed = parse_integration(mine)
    except ConfigError:
        return mine  # an old document the schema no longer accepts: compared as stored
    return parsed.model_dump(by_alias=True, mode="json")


def version_record(
    doc: Mapping[str, Any], previous: Mapping[str, Any] | None, note: str | None = None
) -> dict[str, Any]:
    """The version document for a save of `doc` (already holding its new `version`)."""
    said = summary(previous, doc)
    return {
        "version": doc["version"],
        "savedAt": doc.get("updatedAt"),
        "summary": f"{note}: {said}" if note else said,
        "document": dict(doc),
    }


def listed(record: Mapping[str, Any]) -> dict[str, Any]:
    """A version as `GET .../versions/` lists it."""
    return {key: record.get(key) for key in ("version", "savedAt", "summary")}
