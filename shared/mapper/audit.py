"""The audit log: who changed what through the API, when, and the diff, secrets hidden.

Each entry names the actor (an API key's id and name, or the bootstrap admin token), the
action and route, the target, and for documents the structural diff of before and after
(`mapper.engine.diff`) in which every secret, its value or its reference, reads `[SECRET]`;
a secret replaced by another shows as a change from `[SECRET]` to `[SECRET]`.
"""

from __future__ import annotations

import copy
import logging
import uuid
from collections.abc import Callable, Mapping
from typing import Any

from .engine.config import format_path, secret_places
from .engine.diff import diff
from .keys import Principal, parse_key
from .pipeline.ports import AuditRecords
from .timestamps import now_iso

log = logging.getLogger(__name__)

SECRET = "[SECRET]"
# Values that are secrets whatever field holds them: signing keys (and API keys, below).
SECRET_PREFIXES = ("whsec_",)
# Fields that are not the document's content: derived from others, or the state of the moment.
NOT_CONTENT = frozenset(
    {
        "updatedAt",
        "webhookUrl",
        "pushEndpoint",
        "listenerActive",
        "lastPulledAt",
        "listenerError",
        "signatureFailures",
        "newSigningSecret",  # a new signing key, shown once to its creator: never kept here
        "newNotifySecret",  # the same, for the key signing notify POSTs
    }
)


def redact(doc: Any) -> Any:
    """A copy of a document with every secret (value or reference) as `[SECRET]`."""
    if not isinstance(doc, Mapping):
        return _hide_refs(copy.deepcopy(doc))
    out = {k: v for k, v in copy.deepcopy(dict(doc)).items() if k not in NOT_CONTENT}
    for path in secret_places(out):
        node: Any = _at(out, path[:-1])
        if isinstance(node, dict) and node.get(path[-1]) is not None:
            node[path[-1]] = SECRET
    return _hide_refs(out)


def _hide_refs(value: Any) -> Any:
    # Anything shaped like a secret reference, wherever it sits: never shown.
    if isinstance(value, dict):
        if value and set(value) <= {"secret", "set"}:
            return SECRET
        return {k: _hide_refs(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_hide_refs(item) for item in value]
    if isinstance(value, str) and (value.startswith(SECRET_PREFIXES) or parse_key(value)):
        return SECRET
    return value


def changes(before: Any, after: Any) -> list[dict[str, Any]]:
    """The diff from `before` to `after` (None: did not exist), secrets as `[SECRET]`."""
    old = redact(before) if before is not None else {}
    found = diff(old, redact(after) if after is not None else {})
    if isinstance(before, Mapping) and isinstance(after, Mapping):
        places = dict.fromkeys([*secret_places(before), *secret_places(after)])
        for path in places:
            old, new = _at(before, path), _at(after, path)
            if old is not None and new is not None and old != new:
                found.append(
                    {"path": format_path(list(path)), "op": "change", "old": SECRET,
                     "new": SECRET}
                )
    return found


def _at(doc: Any, path: tuple[str | int, ...]) -> Any:
    node: Any = doc
    for key in path:
        if isinstance(key, int):  # a fan-out's targets[i]
            node = node[key] if isinstance(node, list) and 0 <= key < len(node) else None
        else:
            node = node.get(key) if isinstance(node, Mapping) else None
    return node


class AuditLog:
    """Records entries and reads them back in the API's shape."""

    def __init__(
        self, records: AuditRecords, *, new_id: Callable[[], str] = lambda: uuid.uuid4().hex
    ) -> None:
        self._records = records
        self._new_id = new_id

    def record(
        self,
        actor: Principal,
        action: str,
        route: str,
        target: tuple[str, str | None],
        *,
        before: Any = None,
        after: Any = None,
        integration_id: str | None = None,
        details: Any = None,
    ) -> dict[str, Any] | None:
        """Store one entry; None if the store failed (then logged whole: it holds no secret)."""
        entry = {
            "id": self._new_id(),
            "createdAt": now_iso(),
            "actorKeyId": actor.key_id,
            "actorName": actor.name,
            "actorRole": actor.role,
            "action": action,
            "route": route,
            "targetType": target[0],
            "targetId": target[1],
            "integrationId": integration_id,
            "diff": changes(before, after),
            "details": _hide_refs(details) if details is not None else None,
        }
        try:
            self._records.add(entry)
        except Exception:  # the change is made: its record must not turn it into an error
            log.exception("audit entry not stored: %s", _shown(entry))
            return None
        return _shown(entry)

    def list(self, **filters: Any) -> tuple[list[dict[str, Any]], str | None]:
        """One page of entries, newest first, as the API shows them."""
        entries, cursor = self._records.list(**filters)
        return [_shown(entry) for entry in entries], cursor


def _shown(entry: Mapping[str, Any]) -> dict[str, Any]:
    shown = {
        "id": entry["id"],
        "at": entry["createdAt"],
        "actor": {
            "keyId": entry.get("actorKeyId"),
            "name": entry.get("actorName"),
            "role": entry.get("actorRole"),
        },
        "action": entry.get("action"),
        "route": entry.get("route"),
        "target": {"type": entry.get("targetType"), "id": entry.get("targetId")},
        "integrationId": entry.get("integrationId"),
        "diff": entry.get("diff", []),
    }
    if entry.get("details") is not None:
        shown["details"] = entry["details"]
    return shown
