"""Write-only fields of an integration document: which they are, moved out, masked on reads.

`store_secrets` swaps the plain values of an integration document for references before it
is written to Firestore, and `mask_secrets` hides the references' targets on reads. Where
the values are kept is `mapper.secrets.backends`.
"""

from __future__ import annotations

import contextlib
import copy
import json
import re
from collections.abc import Mapping
from functools import cache
from typing import Any

from ..engine.config import secret_paths
from ..errors import ConfigError, Problem, SecretError
from .backends import SECRET_ID_PREFIX, SecretBackend, looks_like_ref, sanitise

# Where write-only values sit in an integration document (docs/integration.md) is read
# from the schema's writeOnly marks by `secret_paths()`, once, when first needed: by field,
# not by name, as `value` is also the field of the `default` transform.


def secret_fields(doc: Mapping[str, Any]) -> list[tuple[str, Any]]:
    """Every write-only field present in `doc` (not null), as (JSON path, value)."""
    return [(".".join(path), value) for path, value in _secret_slots(doc)]


def _secret_slots(doc: Any) -> list[tuple[tuple[str, ...], Any]]:
    found = []
    for path in secret_paths():
        node = doc
        for key in path:
            node = node.get(key) if isinstance(node, Mapping) else None
        if node is not None:
            found.append((path, node))
    return found


def is_secret_ref(value: Any) -> bool:
    """True for `{"secret": name}` / `{"secret": name, "set": true}`, the stored form."""
    return (
        isinstance(value, Mapping)
        and "secret" in value
        and set(value) <= {"secret", "set"}
        and isinstance(value["secret"], str)
        and bool(value["secret"])
    )


def secret_refs(doc: Mapping[str, Any]) -> list[str]:
    """The references held by a stored document (to delete them with it)."""
    return [value["secret"] for _, value in secret_fields(doc) if is_secret_ref(value)]


def obsolete_refs(old: Mapping[str, Any], new: Mapping[str, Any]) -> list[str]:
    """References of `old` that `new` no longer holds (delete them after the write)."""
    kept = set(secret_refs(new))
    return [ref for ref in secret_refs(old) if ref not in kept]


_SECRET_ID_IN_REF = re.compile(r"secrets/([A-Za-z0-9_-]+)(?:/versions/[^/]+)?$")


@cache
def _owned_tail() -> re.Pattern[str]:
    """What follows `mapper-<integration id>-` in the id of a secret that store_secrets made."""
    return re.compile(
        "(?:" + "|".join("-".join(path) for path in secret_paths()) + r")-[0-9a-f]{12}"
    )


def store_secrets(
    doc: Mapping[str, Any], backend: SecretBackend, integration_id: str
) -> dict[str, Any]:
    """A copy of `doc` with each plain secret stored and replaced by `{"secret": name}`.

    A field already holding `{"secret": name}` (optionally `"set": true`, as reads return
    it) means "unchanged" and is kept, but only if it names a secret of this integration:
    otherwise one integration could send another's secret to its own target. Empty
    strings are kept as they are (nothing to hide). If storing fails half way, the
    secrets already stored are deleted again before the error is raised.
    """
    if not integration_id:
        raise ValueError("store_secrets needs the integration id")
    out = copy.deepcopy(dict(doc))
    problems: list[Problem] = []
    plan: list[tuple[tuple[str, ...], str]] = []
    for path, value in _secret_slots(out):
        where = ".".join(path)
        if looks_like_ref(value):
            if not is_secret_ref(value):
                continue  # {"set": true} alone: validation reports the missing name
            if not _owned(value["secret"], integration_id):
                problems.append(
                    Problem(
                        where,
                        "names a secret that does not belong to this integration; "
                        "send the value itself instead",
                    )
                )
                continue
            _put(out, path, {"secret": value["secret"]})
        elif isinstance(value, str):
            if _has_control_character(value) and path != ("source", "credentials"):
                # Validation says so first; this keeps a caller that skipped it from storing.
                problems.append(Problem(where, "must not contain control characters"))
            elif value:
                plan.append((path, value))
        elif path == ("source", "credentials") and isinstance(value, Mapping):
            plan.append((path, json.dumps(value, separators=(",", ":"), sort_keys=True)))
        # Anything else (a number, a list) is left for validation to reject.
    if problems:
        raise ConfigError(problems)
    stored: list[str] = []
    try:
        for path, plain in plan:
            ref = backend.store(f"{sanitise(integration_id)}-{'-'.join(path)}", plain)
            stored.append(ref)
            _put(out, path, {"secret": ref})
    except BaseException:
        for ref in stored:
            with contextlib.suppress(SecretError):
                backend.delete(ref)
        raise
    return out


def _has_control_character(value: str) -> bool:
    return any(ch < " " or ch == "\x7f" for ch in value)


def _owned(ref: str, integration_id: str) -> bool:
    # The whole id must be `mapper-<this id>-<field path>-<12 hex>`: a prefix test alone
    # would let integration "a" claim the secrets of integration "a-b".
    match = _SECRET_ID_IN_REF.search(ref)
    prefix = f"{SECRET_ID_PREFIX}{sanitise(integration_id)}-"
    if not match or not match.group(1).startswith(prefix):
        return False
    return _owned_tail().fullmatch(match.group(1)[len(prefix) :]) is not None


def mask_secrets(doc: Mapping[str, Any]) -> dict[str, Any]:
    """A copy of `doc` for reading: each secret field becomes `{"secret": name, "set": true}`."""
    out = copy.deepcopy(dict(doc))
    for path, value in _secret_slots(out):
        if is_secret_ref(value):
            _put(out, path, {"secret": value["secret"], "set": True})
        elif value != "":  # an empty value hides nothing and must round-trip as is
            # A plain value should never be stored; if one is, still never show it.
            _put(out, path, {"set": True})
    return out


def _put(doc: dict[str, Any], path: tuple[str, ...], value: Any) -> None:
    node = doc
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value
