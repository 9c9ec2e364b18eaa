"""The shape of accepted payloads per integration: which paths they hold, with which types,
and when that drifts (docs/mapping.md, "Source shape and drift").

Sampled, not written per event: each instance folds the payloads it accepts into a
`ShapeDelta` in memory (`ShapeRecorder`), and merges it into the stored shape at most every
`flush_seconds` or `flush_events` (`merge`, run inside the store's transaction). Every
bound is named below and in docs/limits.md.

Consecutive counts survive sampling: a delta records, per path, the payloads after its last
sighting, and the stored count either grows by those (the instance never saw the path) or
restarts from them (it did). A type is compared with the established types the instance
read at its last flush, so a type change is counted from the first flush after the shape
settled. Counts from several instances interleave in the order their
flushes land, so drift across instances is approximate, never lost.

Drift on a path a mapping reads is found inside that same transaction, so exactly one merge
sees it begin; when the integration has `notify`, the merge also files it in the shape's
drift notices, which `drift_notices.DriftNotices` sends on the scheduled tick: the intake
itself never makes a network call for it.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, Literal

from ..engine.config import Integration
from ..engine.paths import WILDCARD, format_steps, parse_path
from ..errors import MapperError, PathError
from ..timestamps import epoch_iso
from .ports import SourceShapes

log = logging.getLogger("mapper.shape")

MAX_SHAPE_PATHS = 500  # paths kept per integration; more are counted in `truncated`
MAX_SHAPE_DEPTH = 10  # steps into a payload; deeper values are not walked
MAX_PATH_CHARS = 200  # a longer path (a key holding data, say) is not kept
ARRAY_ITEMS_SAMPLED = 20  # elements of each array walked for `[*]` paths
DRIFT_AFTER = 20  # consecutive payloads that make a path missing (or its type changed)
ESTABLISHED_AFTER = 20  # payloads after which a path appearing is `new` drift
DEFAULT_FLUSH_SECONDS = 10.0
DEFAULT_FLUSH_EVENTS = 1000
MAX_DRIFT_NOTICES = 50  # drift filed per integration until the tick sends it; more are counted
# The shape's fields that the tick's sender owns: every merge carries them over as they are.
NOTICE_FIELDS = ("driftNotices", "driftNoticesMore", "driftPending", "driftNotifiedWindow")

DriftKind = Literal["missing", "typeChanged", "new"]


def json_type(value: Any) -> str:
    """The JSON type of a parsed value."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, (int, float)):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object"


_JSON_TYPES = {
    type(None): "null", bool: "boolean", int: "number", float: "number", str: "string",
    list: "array", dict: "object",
}


def paths_of(data: Any) -> dict[str, set[str]]:
    """Each path of `data` (arrays as `[*]`) and the types found there, within the bounds."""
    found: dict[str, set[str]] = {}

    # Every accepted payload is walked (the webhook's request path): each path's text is
    # built from its parent's, as `format_steps` would write it, not formatted anew per node.
    def walk(value: Any, path: str, depth: int) -> None:
        if depth:
            if len(path) > MAX_PATH_CHARS:
                return
            types = found.get(path)
            if types is None:
                if len(found) >= MAX_SHAPE_PATHS:
                    return
                types = found[path] = set()
            types.add(_JSON_TYPES.get(type(value)) or json_type(value))
        if depth >= MAX_SHAPE_DEPTH:
            return
        if isinstance(value, dict):
            for key, item in value.items():
                walk(item, _child_path(path, key), depth + 1)
        elif isinstance(value, list):
            inner = path + "[*]"
            for item in value[:ARRAY_ITEMS_SAMPLED]:
                walk(item, inner, depth + 1)

    walk(data, "", 0)
    return found


def _child_path(path: str, key: Any) -> str:
    """`format_steps` of the parent's steps plus `key`, from the parent's text."""
    if type(key) is not str or any(c in key for c in '.[]"') or key != key.strip():
        return path + format_steps((key,))  # quoted (or an index): whatever comes before
    return f"{path}.{key}" if path else key


# --- the in-memory fold -------------------------------------------------------------------


@dataclass
class PathDelta:
    """One path as one instance saw it since its last flush."""

    types: set[str]
    first_at: str
    last_at: str
    misses_after: int = 0  # payloads since its last sighting that lacked it
    miss_since: str | None = None  # when the first of those arrived
    off_run: int = 0  # latest sightings in a row with a type outside the established ones
    off_since: str | None = None
    all_off: bool = True  # every sighting since the flush was off: the stored run goes on


@dataclass
class ShapeDelta:
    """What one instance folded for one integration since its last flush."""

    payloads: int = 0
    first_at: str = ""
    paths: dict[str, PathDelta] = field(default_factory=dict)
    truncated: int = 0  # paths not kept: past MAX_SHAPE_PATHS


def fold(
    delta: ShapeDelta,
    data: Any,
    now: str,
    established: dict[str, set[str]],
    found: dict[str, set[str]] | None = None,
) -> None:
    """Add one accepted payload to `delta`; `established`: the stored types of each path;
    `found`: `paths_of(data)` when the caller has it already."""
    found = paths_of(data) if found is None else found
    delta.payloads += 1
    delta.first_at = delta.first_at or now
    for path, seen in delta.paths.items():
        if path not in found:
            seen.misses_after += 1
            seen.miss_since = seen.miss_since or now
    for path, types in found.items():
        seen = delta.paths.get(path)
        if seen is None:
            if len(delta.paths) >= MAX_SHAPE_PATHS:
                delta.truncated += 1
                continue
            seen = delta.paths[path] = PathDelta(set(), now, now)
        seen.types |= types
        seen.last_at = now
        seen.misses_after, seen.miss_since = 0, None
        baseline = established.get(path)
        if baseline and not types <= baseline:
            seen.off_run += 1
            seen.off_since = seen.off_since or now
        else:
            seen.off_run, seen.off_since, seen.all_off = 0, None, False


# --- the stored shape ---------------------------------------------------------------------


def merge(stored: dict[str, Any] | None, delta: ShapeDelta, integration_id: str) -> dict[str, Any]:
    """The stored shape after `delta`: the document `SourceShapes` keeps."""
    stored = stored or {}
    before = int(stored.get("payloads") or 0)
    established = before >= ESTABLISHED_AFTER
    paths = {p["path"]: dict(p) for p in stored.get("paths") or []}
    for path, entry in paths.items():
        seen = delta.paths.get(path)
        if seen is None:  # not in any payload this instance folded
            entry["misses"] = int(entry.get("misses") or 0) + delta.payloads
            if delta.payloads:
                entry["missingSince"] = entry.get("missingSince") or delta.first_at
            continue
        _merge_sighting(entry, seen, established)
    truncated = int(stored.get("truncated") or 0) + delta.truncated
    for path, seen in delta.paths.items():
        if path in paths:
            continue
        if len(paths) >= MAX_SHAPE_PATHS:
            truncated += 1
            continue
        entry = {"path": path, "types": [], "baseline": [], "firstSeen": seen.first_at}
        if established:
            entry["new"] = True
        _merge_sighting(entry, seen, established=False)
        paths[path] = entry
    return {
        "integrationId": integration_id,
        "payloads": before + delta.payloads,
        "truncated": truncated,
        "paths": sorted(paths.values(), key=lambda p: p["path"]),
    }


def _merge_sighting(entry: dict[str, Any], seen: PathDelta, established: bool) -> None:
    entry["types"] = sorted(set(entry.get("types") or []) | seen.types)
    if not established:  # the types a path may have: all it had until the shape settled
        entry["baseline"] = sorted(set(entry.get("baseline") or []) | seen.types)
    entry["firstSeen"] = min(entry.get("firstSeen") or seen.first_at, seen.first_at)
    entry["lastSeen"] = max(entry.get("lastSeen") or seen.last_at, seen.last_at)
    entry["misses"] = seen.misses_after
    entry["missingSince"] = seen.miss_since
    if not established:  # nothing to differ from yet
        entry["offRun"], entry["offSince"] = 0, None
    elif seen.all_off and seen.off_run:
        entry["offRun"] = int(entry.get("offRun") or 0) + seen.off_run
        entry["offSince"] = entry.get("offSince") or seen.off_since
    else:
        entry["offRun"], entry["offSince"] = seen.off_run, seen.off_since


def baseline_of(stored: dict[str, Any] | None) -> dict[str, set[str]]:
    """The established types of each stored path (what `fold` compares sightings with)."""
    return {p["path"]: set(p.get("baseline") or []) for p in (stored or {}).get("paths") or []}


def drift_of(stored: dict[str, Any] | None) -> list[dict[str, Any]]:
    """The drift a stored shape shows: missing, typeChanged and new paths, by path."""
    found: list[dict[str, Any]] = []
    for entry in (stored or {}).get("paths") or []:
        path = entry["path"]
        if int(entry.get("misses") or 0) >= DRIFT_AFTER:
            found.append({"path": path, "kind": "missing", "since": entry.get("missingSince")})
        elif int(entry.get("offRun") or 0) >= DRIFT_AFTER:
            found.append({"path": path, "kind": "typeChanged", "since": entry.get("offSince")})
        elif entry.get("new"):
            found.append({"path": path, "kind": "new", "since": entry.get("firstSeen")})
    return found


def fresh_drift(
    before: dict[str, Any] | None, after: dict[str, Any], reads: Iterable[str]
) -> list[dict[str, Any]]:
    """Drift on a path a mapping reads that `after` shows and `before` did not."""
    reads = list(reads)
    known = {(d["path"], d["kind"]) for d in drift_of(before)}
    return [
        {**d, "mapped": True}
        for d in drift_of(after)
        if (d["path"], d["kind"]) not in known and is_read(d["path"], reads)
    ]


def with_notices(
    before: dict[str, Any] | None, after: dict[str, Any], fresh: list[dict[str, Any]]
) -> dict[str, Any]:
    """`after` with the drift notices `before` held, and `fresh` filed for the tick."""
    kept = {name: before[name] for name in NOTICE_FIELDS if before and name in before}
    shape = {**after, **kept}
    if not fresh:
        return shape
    notices = list(shape.get("driftNotices") or [])
    room = max(MAX_DRIFT_NOTICES - len(notices), 0)
    shape["driftNotices"] = notices + fresh[:room]
    shape["driftNoticesMore"] = int(shape.get("driftNoticesMore") or 0) + len(fresh[room:])
    shape["driftPending"] = True
    return shape


def source_schema(stored: dict[str, Any] | None, read: Iterable[str] = ()) -> dict[str, Any]:
    """The API's view: paths with types and times, drift (flagged `mapped` where read)."""
    reads = list(read)
    paths = [
        {"path": p["path"], "types": p.get("types") or [], "firstSeen": p.get("firstSeen"),
         "lastSeen": p.get("lastSeen")}
        for p in (stored or {}).get("paths") or []
    ]
    drift = [{**d, "mapped": is_read(d["path"], reads)} for d in drift_of(stored)]
    return {
        "paths": paths,
        "drift": drift,
        "payloads": int((stored or {}).get("payloads") or 0),
        "truncated": int((stored or {}).get("truncated") or 0),
    }


# --- what the mappings read ---------------------------------------------------------------


def read_paths(integration: Integration) -> list[str]:
    """The payload paths the mappings read (the integration's and each fan-out target's own):
    sources, concat fields, template placeholders.

    Indexes read as `[*]`, as the shape writes arrays. A custom (JavaScript) transform and
    the condition are code, which is not analysed: what they read is not listed.
    """
    found: list[str] = []
    mappings = list(integration.mappings)
    for target in integration.targets or []:  # a fan-out target's own mappings
        mappings.extend(getattr(target, "mappings", None) or [])
    for mapping in mappings:
        if mapping.source:
            found.append(mapping.source)
        for transform in mapping.transforms:
            found.extend(getattr(transform, "fields", None) or [])
            template = getattr(transform, "template", None)
            if isinstance(template, str):
                found.extend(_placeholders(template, mapping.source))
    return sorted({p for p in (_as_shape_path(f) for f in found) if p})


def _placeholders(template: str, source: str | None) -> list[str]:
    from ..engine.templates import PLACEHOLDER

    found = []
    for match in PLACEHOLDER.finditer(template):
        found.append(match.group(1))  # read from the payload when the value lacks it
        if source:
            found.append(f"{source}.{match.group(1)}")
    return found


def _as_shape_path(path: str) -> str | None:
    try:
        steps = parse_path(path)
    except PathError:
        return None
    return format_steps(tuple(WILDCARD if isinstance(s, int) else s for s in steps))


def is_read(path: str, reads: Iterable[str]) -> bool:
    """Whether a mapping reads `path`, something inside it, or an object holding it."""
    for read in reads:
        if read == path or _inside(read, path) or _inside(path, read):
            return True
    return False


def _inside(path: str, outer: str) -> bool:
    return path.startswith(outer + ".") or path.startswith(outer + "[")


# --- the recorder -------------------------------------------------------------------------

DriftHook = Callable[[Integration, list[dict[str, Any]]], None]


class ShapeRecorder:
    """Folds accepted payloads per integration and flushes them now and then (one instance)."""

    def __init__(
        self,
        shapes: SourceShapes,
        *,
        flush_seconds: float = DEFAULT_FLUSH_SECONDS,
        flush_events: int = DEFAULT_FLUSH_EVENTS,
        on_drift: DriftHook | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._shapes = shapes
        self._flush_seconds = flush_seconds
        self._flush_events = flush_events
        self._on_drift = on_drift  # told of fresh drift on read paths: the log line
        self._clock = clock
        self._lock = threading.Lock()
        self._deltas: dict[str, ShapeDelta] = {}
        self._baselines: dict[str, dict[str, set[str]]] = {}
        self._flushed_at: dict[str, float] = {}

    def observe(self, integration: Integration, data: Any) -> None:
        """Fold one accepted payload; flush when due. Never raises: the shape is a sample."""
        assert integration.id is not None
        key, now = integration.id, self._clock()
        found = paths_of(data)  # outside the lock: the other requests' threads need not wait
        with self._lock:
            delta = self._deltas.setdefault(key, ShapeDelta())
            # The first payload an instance sees of an integration is flushed at once.
            self._flushed_at.setdefault(key, now - self._flush_seconds)
            fold(delta, data, epoch_iso(now), self._baselines.get(key, {}), found)
            due = (
                delta.payloads >= self._flush_events
                or now - self._flushed_at[key] >= self._flush_seconds
            )
            if not due:
                return
            del self._deltas[key]
            self._flushed_at[key] = now
        self._flush(integration, delta)

    def _flush(self, integration: Integration, delta: ShapeDelta) -> None:
        assert integration.id is not None
        reads = read_paths(integration)
        notified = integration.notify is not None
        fresh: list[dict[str, Any]] = []

        def change(stored: dict[str, Any] | None) -> dict[str, Any]:
            after = merge(stored, delta, str(integration.id))
            # Found against the stored shape the transaction read: one merge sees a drift
            # begin, whichever instance makes it (a retried transaction finds it again).
            fresh[:] = fresh_drift(stored, after, reads)
            return with_notices(stored, after, fresh if notified else [])

        try:
            _, after = self._shapes.update(integration.id, change)
        except MapperError as exc:
            log.warning("integration %s: source shape not recorded: %s", integration.id, exc)
            return
        with self._lock:
            self._baselines[integration.id] = baseline_of(after)
        if fresh and self._on_drift is not None:
            try:
                self._on_drift(integration, fresh)
            except MapperError as exc:
                log.warning("integration %s: source.drift not logged: %s", integration.id, exc)


def log_drift(integration: Integration, drift: list[dict[str, Any]]) -> None:
    """The intake's `source.drift` log line, one per merge that found drift on read paths
    (the notification itself is sent by the tick: `drift_notices.DriftNotices`)."""
    log.warning(
        "source.drift: integration %s: %s", integration.id,
        ", ".join(f"{d['path']} {d['kind']}" for d in drift),
        extra={"event": "source.drift", "integrationId": integration.id},
    )
