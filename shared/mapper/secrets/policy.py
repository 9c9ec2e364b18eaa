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
from typing import Any
from urllib.parse import urlsplit

from pydantic.alias_generators import to_snake

from ..engine.config import format_path, secret_paths
from ..errors import ConfigError, Problem, SecretError
from .backends import SECRET_ID_PREFIX, SecretBackend, looks_like_ref, sanitise

# Where write-only values sit in an integration document (docs/integration.md) is read
# from the schema's writeOnly marks by `secret_paths()`, once, when first needed: by field,
# not by name, as `value` is also the field of the `default` transform.


def secret_fields(doc: Mapping[str, Any]) -> list[tuple[str, Any]]:
    """Every write-only field present in `doc` (not null), as (JSON path, value)."""
    return [(_shown(path), value) for path, _, value in _slots(doc)]


def _shown(path: tuple[str, ...]) -> str:
    """("targets", "1", "url") -> targets[1].url, as validation names places."""
    return format_path([int(step) if step.isdigit() else step for step in path])


def _slots(doc: Any) -> list[tuple[tuple[str, ...], tuple[str | int, ...], Any]]:
    """(path by the schema's names, path as `doc` spells it, value) of each secret present.

    The model reads snake_case keys too (`client_secret` for `clientSecret`): a secret so
    spelt is still a secret, stored and checked like the other spelling. In a list (a
    fan-out's `targets`), the schema's `*` becomes the item's index, as text: a secret
    is stored for `targets-1-auth-token`, and stays with that place.
    """
    found = []
    for path in secret_paths():
        for spelt, value in _spellings(doc, path):
            if value is not None:
                named = tuple(
                    str(step) if isinstance(step, int) else name
                    for name, step in zip(path, spelt, strict=True)
                )
                found.append((named, spelt, value))
    return found


def _spellings(node: Any, path: tuple[str, ...]) -> list[tuple[tuple[str | int, ...], Any]]:
    if not path:
        return [((), node)]
    head, rest = path[0], path[1:]
    if head == "*":
        if not isinstance(node, list):
            return []
        return [
            ((i, *tail), value)
            for i, item in enumerate(node)
            for tail, value in _spellings(item, rest)
        ]
    if not isinstance(node, Mapping):
        return []
    out = []
    for key in dict.fromkeys((head, to_snake(head))):
        if key in node:
            out.extend(((key, *tail), value) for tail, value in _spellings(node[key], rest))
    return out


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


# The fields whose kept reference may name another field's secret: a rotation moves the
# signing key to previousSecret (Admin.rotate_signing_secret). Every other field keeps only
# the secret stored for it.
_MOVES_FROM: dict[tuple[str, ...], tuple[tuple[str, ...], ...]] = {
    ("target", "signing", "previousSecret"): (("target", "signing", "secret"),),
}


def _stored_for(path: tuple[str, ...]) -> re.Pattern[str]:
    """What follows `mapper-<integration id>-` in the ids of the secrets `path` may hold."""
    fields = (path, *_MOVES_FROM.get(path, ()))
    return re.compile("(?:" + "|".join(re.escape("-".join(f)) for f in fields) + r")-[0-9a-f]{12}")


def store_secrets(
    doc: Mapping[str, Any], backend: SecretBackend, integration_id: str
) -> dict[str, Any]:
    """A copy of `doc` with each plain secret stored and replaced by `{"secret": name}`.

    A field already holding `{"secret": name}` (optionally `"set": true`, as reads return
    it) means "unchanged" and is kept, but only if it names the secret this integration
    stored for that same field: otherwise one integration could send another's secret to
    its own target, or a field's secret could be moved where it is sent (the inbound
    signing secret into the target's bearer token). Empty
    strings are kept as they are (nothing to hide). If storing fails half way, the
    secrets already stored are deleted again before the error is raised.
    """
    if not integration_id:
        raise ValueError("store_secrets needs the integration id")
    out = copy.deepcopy(dict(doc))
    problems: list[Problem] = []
    plan: list[tuple[tuple[str, ...], tuple[str | int, ...], str]] = []
    for path, spelt, value in _slots(out):
        where = _shown(path)
        if looks_like_ref(value):
            if not is_secret_ref(value):
                continue  # {"set": true} alone: validation reports the missing name
            if not _owned(value["secret"], integration_id, path):
                problems.append(
                    Problem(
                        where,
                        "names a secret that was not stored for this field of this "
                        "integration; send the value itself instead",
                    )
                )
                continue
            _put(out, spelt, {"secret": value["secret"]})
        elif isinstance(value, str):
            if _has_control_character(value) and path != ("source", "credentials"):
                # Validation says so first; this keeps a caller that skipped it from storing.
                problems.append(Problem(where, "must not contain control characters"))
            elif value:
                plan.append((path, spelt, value))
        elif path == ("source", "credentials") and isinstance(value, Mapping):
            plan.append((path, spelt, json.dumps(value, separators=(",", ":"), sort_keys=True)))
        # Anything else (a number, a list) is left for validation to reject.
    if problems:
        raise ConfigError(problems)
    stored: list[str] = []
    try:
        for path, spelt, plain in plan:
            ref = backend.store(f"{sanitise(integration_id)}-{'-'.join(path)}", plain)
            stored.append(ref)
            _put(out, spelt, {"secret": ref})
    except BaseException:
        for ref in stored:
            with contextlib.suppress(SecretError):
                backend.delete(ref)
        raise
    return out


def _has_control_character(value: str) -> bool:
    return any(ch < " " or ch == "\x7f" for ch in value)


def _owned(ref: str, integration_id: str, path: tuple[str, ...]) -> bool:
    # The whole id must be `mapper-<this id>-<this field's path>-<12 hex>`: a prefix test
    # alone would let integration "a" claim the secrets of integration "a-b", and any field
    # would let a secret be moved to one that sends it (docs/security.md).
    match = _SECRET_ID_IN_REF.search(ref)
    prefix = f"{SECRET_ID_PREFIX}{sanitise(integration_id)}-"
    if not match or not match.group(1).startswith(prefix):
        return False
    return _stored_for(path).fullmatch(match.group(1)[len(prefix) :]) is not None


def mask_secrets(doc: Mapping[str, Any]) -> dict[str, Any]:
    """A copy of `doc` for reading: each secret field becomes `{"secret": name, "set": true}`."""
    out = copy.deepcopy(dict(doc))
    for _, spelt, value in _slots(out):
        if is_secret_ref(value):
            _put(out, spelt, {"secret": value["secret"], "set": True})
        elif value != "":  # an empty value hides nothing and must round-trip as is
            # A plain value should never be stored; if one is, still never show it.
            _put(out, spelt, {"set": True})
    return out


def _put(doc: dict[str, Any], path: tuple[str | int, ...], value: Any) -> None:
    node = doc
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value


# Where a target's credentials are sent, and which: a stored credential goes only where it
# went when it was given. Changing where (an HTTP target's scheme, host or port; an OAuth2
# token endpoint's; an SMTP server) while keeping the stored reference is refused, so that
# an editor cannot have the platform deliver a credential they cannot read to a host of
# their own. The signing keys stay: they are the platform's, and a receiver sees only
# signatures made with them, never the keys (docs/security.md).
# A fan-out's targets are compared by place (targets[i] before and after), as their
# secrets are stored by place.
def _sent_to(
    target: tuple[str | int, ...],
) -> tuple[tuple[tuple[str | int, ...], str, tuple[tuple[str | int, ...], ...]], ...]:
    auth = (*target, "auth")
    return (
        (
            (*target, "url"),
            "origin",
            tuple((*auth, name) for name in ("token", "password", "value", "clientSecret")),
        ),
        ((*auth, "tokenUrl"), "origin", ((*auth, "clientSecret"),)),
        ((*target, "smtpServer"), "host", ((*target, "smtpPassword"),)),
    )


def credentials_left_behind(old: Mapping[str, Any], new: Mapping[str, Any]) -> list[Problem]:
    """Kept credential references of `new` whose destination differs from `old`'s."""
    problems = []
    fanout = _at(new, ("targets",))
    places: list[tuple[str | int, ...]] = [("target",)]
    places += [("targets", i) for i in range(len(fanout) if isinstance(fanout, list) else 0)]
    checks = [check for place in places for check in _sent_to(place)]
    for where, kind, credentials in checks:
        before, after = _at(old, where), _at(new, where)
        if not isinstance(after, str):
            continue
        was = _destination(before, kind) if isinstance(before, str) else None
        if was is not None and was == _destination(after, kind):
            continue
        for path in credentials:
            if looks_like_ref(_at(new, path)):
                field = format_path(list(path))
                problems.append(
                    Problem(
                        field,
                        f"{format_path(list(where))} changed, and the stored {field} is not "
                        f"sent to "
                        f"a new {kind}: give {field} again",
                    )
                )
    return problems


def _destination(value: str, kind: str) -> tuple[str, str, int | None] | str | None:
    if kind == "host":
        return value.strip().rstrip(".").lower()
    try:
        parts = urlsplit(value.strip())
        scheme = parts.scheme.lower()
        return scheme, (parts.hostname or "").rstrip("."), parts.port or _PORTS.get(scheme)
    except ValueError:
        return None  # never equal to a valid one: the credentials must be given again


_PORTS = {"http": 80, "https": 443}


def _at(doc: Any, path: tuple[str | int, ...]) -> Any:
    """The value at `path` (the schema's names), however `doc` spells its keys."""
    for key in path:
        if isinstance(key, int):
            doc = doc[key] if isinstance(doc, list) and 0 <= key < len(doc) else None
            continue
        if not isinstance(doc, Mapping):
            return None
        doc = doc[key] if key in doc else doc.get(to_snake(key))
    return doc
