"""In-memory versions of the platform's own interfaces (mapper.pipeline.ports), for unit tests.

They keep the same rules as the Firestore and Pub/Sub adapters (a run created once, a claim
conditional on the run being as it was read, the lease) so that the pipeline's rules are
proven in milliseconds; tests/store proves the adapters keep them on the emulators.
"""

from __future__ import annotations

import copy
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime, timezone
from typing import Any

from mapper.errors import (
    ConflictError,
    DeliveryQueueNotFound,
    MapperError,
    NotFoundError,
    QueueError,
    StoreError,
)
from mapper.json_text import dumps_bytes
from mapper.pipeline.ports import (
    Admission,
    Claim,
    DeliveryTask,
    Enqueued,
    QueueConfig,
    QueueKey,
    Seen,
    held_by_live_lease,
    not_due,
    redrive_refused,
)
from mapper.pipeline.runs import TERMINAL, QueuedMessage, RunStatus
from mapper.timestamps import iso_timestamp, now_iso
from mapper.versions import version_record


class Clock:
    """A clock tests move by hand."""

    def __init__(self, start: float = 1_800_000_000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds

    def iso(self, offset: float = 0.0) -> str:
        return iso_timestamp(datetime.fromtimestamp(self.now + offset, tz=timezone.utc))


class FakeIntegrations:
    """Integration documents by id."""

    def __init__(self, *docs: dict[str, Any]) -> None:
        self.docs = {doc["id"]: copy.deepcopy(doc) for doc in docs}
        self.reads = 0
        self.versions: dict[str, dict[int, dict[str, Any]]] = {}  # id -> n -> version record

    def get(self, integration_id: str) -> dict[str, Any] | None:
        self.reads += 1
        doc = self.docs.get(integration_id)
        return copy.deepcopy(doc) if doc is not None else None

    def find_by_field(self, field: str, value: Any) -> dict[str, Any] | None:
        self.reads += 1
        for doc in self.docs.values():
            if doc.get(field) == value:
                return copy.deepcopy(doc)
        return None

    def create(self, doc: dict[str, Any]) -> dict[str, Any]:
        if doc["id"] in self.docs:
            raise ConflictError(f"integration {doc['id']} already exists")
        stored = {**copy.deepcopy(doc), "version": 1, "createdAt": "t", "updatedAt": "t"}
        self.docs[doc["id"]] = stored
        self._keep_version(stored, None)
        return copy.deepcopy(stored)

    def replace(
        self,
        integration_id: str,
        doc: dict[str, Any],
        expected_version: int | None = None,
        note: str | None = None,
    ) -> dict[str, Any]:
        current = self.docs.get(integration_id)
        if current is None:
            raise NotFoundError(f"no integration {integration_id}")
        if expected_version is not None and current["version"] != expected_version:
            raise ConflictError(f"integration {integration_id} changed")
        stored = {**copy.deepcopy(doc), "id": integration_id,
                  "version": current["version"] + 1, "createdAt": current.get("createdAt")}
        self.docs[integration_id] = stored
        self._keep_version(stored, current, note)
        return copy.deepcopy(stored)

    def update_fields(self, integration_id: str, fields: dict[str, Any]) -> dict[str, Any]:
        current = self.docs[integration_id]
        previous = copy.deepcopy(current)
        current.update(copy.deepcopy(fields), version=current["version"] + 1)
        self._keep_version(current, previous)
        return copy.deepcopy(current)

    def _keep_version(
        self, doc: dict[str, Any], previous: dict[str, Any] | None, note: str | None = None
    ) -> None:
        record = copy.deepcopy(version_record(doc, previous, note))
        self.versions.setdefault(doc["id"], {})[doc["version"]] = record

    def list_versions(
        self, integration_id: str, limit: int = 50, before: int | None = None
    ) -> list[dict[str, Any]]:
        kept = self.versions.get(integration_id, {})
        numbers = sorted((n for n in kept if before is None or n < before), reverse=True)
        return [
            {k: kept[n][k] for k in ("version", "savedAt", "summary")} for n in numbers[:limit]
        ]

    def get_version(self, integration_id: str, version: int) -> dict[str, Any] | None:
        found = self.versions.get(integration_id, {}).get(version)
        return copy.deepcopy(found) if found is not None else None

    def delete(self, integration_id: str) -> bool:
        return self.docs.pop(integration_id, None) is not None

    def list(
        self, limit: int = 50, cursor: str | None = None, **filters: Any
    ) -> tuple[list[dict], None]:
        fields = {"source_type": ("source", "type"), "target_type": ("target", "type")}
        found = [
            copy.deepcopy(d)
            for d in self.docs.values()
            if all(
                (d.get("active", True) if name == "active" else d[fields[name][0]][fields[name][1]])
                == value
                for name, value in filters.items()
            )
        ]
        return found[:limit], None

    def list_where(self, field: str, value: Any) -> list[dict[str, Any]]:
        found = []
        for doc in self.docs.values():
            node: Any = doc
            for part in field.split("."):
                node = node.get(part) if isinstance(node, dict) else None
            if node == value:
                found.append(copy.deepcopy(doc))
        return found


class FakeRuns:
    """The run log, with versions standing in for Firestore's update times."""

    def __init__(self, clock: Clock) -> None:
        self.clock = clock
        self.docs: dict[str, dict[str, Any]] = {}
        self.versions: dict[str, int] = {}
        self.writes = 0
        self.reads = 0
        self.batches: list[list[str]] = []  # the run ids of each `create_each`
        self.refused_ids: set[str] = set()  # run ids `create_each` fails alone
        self.down: MapperError | None = None  # raised by `create_each`: Firestore unreachable
        self.refused = 0  # creates refused because the run existed (a round trip, not billed)
        self._lock = threading.Lock()

    def create(self, run: dict[str, Any]) -> bool:
        with self._lock:
            if run["id"] in self.docs:
                self.refused += 1
                return False
            now = self.clock.iso()
            self.docs[run["id"]] = {"attempts": 0, "createdAt": now, "updatedAt": now, **run}
            self._wrote(run["id"])
            return True

    def create_each(self, runs: Sequence[dict[str, Any]]) -> list[bool | MapperError]:
        """Each run created on its own, in one round trip (counted in `batches`); a run whose
        id is in `refused_ids` fails alone, and `down` fails the whole round trip."""
        if self.down is not None:
            raise self.down
        self.batches.append([run["id"] for run in runs])
        return [StoreError(f"refused {run['id']}") if run["id"] in self.refused_ids
                else self.create(run) for run in runs]

    def get(self, run_id: str) -> dict[str, Any] | None:
        with self._lock:
            self.reads += 1
            doc = self.docs.get(run_id)
            return copy.deepcopy(doc) if doc is not None else None

    def written(self, run_id: str, timeout_s: float = 5.0) -> dict[str, Any] | None:
        """The run once a write from another thread has landed (the intake's, just after a
        202: RECORD_AT_ACCEPT); None if it has not within `timeout_s`."""
        deadline = time.monotonic() + timeout_s
        while (run := self.get(run_id)) is None and time.monotonic() < deadline:
            time.sleep(0.005)
        return run

    def mark(self, run_id: str, status: str, **fields: Any) -> None:
        self.touch(run_id, status=status, **fields)

    def touch(self, run_id: str, **fields: Any) -> None:
        with self._lock:
            if run_id not in self.docs:
                raise NotFoundError(f"no run {run_id}")
            self.docs[run_id].update(copy.deepcopy(fields), updatedAt=self.clock.iso())
            self._wrote(run_id)

    def count_republish(self, run_id: str, seen_updated_at: str, republishes: int) -> bool:
        with self._lock:
            self.reads += 1
            run = self.docs.get(run_id)
            if run is None or run.get("updatedAt") != seen_updated_at:
                return False
            run.update(republishes=republishes, unpublished=False, updatedAt=self.clock.iso())
            self._wrote(run_id)
            return True

    def touch_if_unchanged(self, run_id: str, seen_updated_at: str, **fields: Any) -> bool:
        with self._lock:
            self.reads += 1
            run = self.docs.get(run_id)
            if run is None or run.get("updatedAt") != seen_updated_at:
                return False
            run.update(copy.deepcopy(fields), updatedAt=self.clock.iso())
            self._wrote(run_id)
            return True

    def due_retries(self, now: str, limit: int) -> list[dict[str, Any]]:
        with self._lock:
            found = [
                copy.deepcopy(r)
                for r in self.docs.values()
                if r.get("status") == RunStatus.RETRYING
                and isinstance(r.get("nextAttemptAt"), str)
                and r["nextAttemptAt"] <= now
            ]
        return sorted(found, key=lambda r: r["nextAttemptAt"])[:limit]

    def claim_redrive(
        self, run_id: str, by: str, as_run: str, statuses: Iterable[str]
    ) -> str | None:
        with self._lock:
            self.reads += 1
            run = self.docs.get(run_id)
            if run is None:
                return "no such run"
            refused = redrive_refused(run, by, statuses)
            if refused is None:
                run.update(redrivenBy=by, redrivenAs=as_run)
                self._wrote(run_id)
            return refused

    def seen(self, run_id: str) -> Seen:
        """One read of the run with its version (as `DeliveryStates.look` reads it along)."""
        with self._lock:
            return self._read(run_id)

    def _read(self, run_id: str) -> Seen:
        self.reads += 1
        run = self.docs.get(run_id)
        return Seen(None) if run is None else Seen(copy.deepcopy(run), self.versions[run_id])

    def claim(
        self,
        run_id: str,
        delivery_id: str,
        lease_s: float,
        *,
        on_schedule: bool = True,
        first: Mapping[str, Any] | None = None,
        seen: Seen | None = None,
    ) -> Claim:
        with self._lock:
            if first is not None and seen is None:
                seen = Seen(None)  # created first, on the condition that it does not exist
            for _ in range(3):  # seen, created or changed since: at most one read more
                if seen is None:
                    seen = self._read(run_id)
                run, version, seen = seen.run, seen.version, None
                if run is None:
                    if first is None:
                        return Claim("missing")
                    if run_id in self.docs:
                        self.refused += 1
                        continue  # written since it was seen missing: read it
                    now = self.clock.iso()
                    self.docs[run_id] = {
                        "createdAt": now, **copy.deepcopy(dict(first)), "id": run_id,
                        "status": RunStatus.DELIVERING, "deliveryId": delivery_id,
                        "leaseUntil": self.clock.iso(lease_s),
                        "attempts": int(first.get("attempts") or 0) + 1, "updatedAt": now,
                    }
                    self._wrote(run_id)
                    return Claim("claimed", copy.deepcopy(self.docs[run_id]),
                                 token=self.versions[run_id])
                if run.get("status") in TERMINAL:
                    return Claim("done", run)
                if held_by_live_lease(run, self.clock.iso()):
                    return Claim("busy", run)
                if on_schedule and not_due(run, self.clock.iso()):
                    return Claim("early", run)
                if self.versions.get(run_id) != version:
                    continue  # the conditional write is refused: read again
                stored = self.docs[run_id]
                stored.update(
                    status=RunStatus.DELIVERING,
                    deliveryId=delivery_id,
                    leaseUntil=self.clock.iso(lease_s),
                    attempts=int(stored.get("attempts") or 0) + 1,
                    updatedAt=self.clock.iso(),
                )
                self._wrote(run_id)
                return Claim("claimed", copy.deepcopy(stored), token=self.versions[run_id])
            return Claim("busy")

    def finish(self, run_id: str, claim: Claim, status: str, fields: Mapping[str, Any]) -> bool:
        with self._lock:
            if self.versions.get(run_id) != claim.token:
                return False
            self.docs[run_id].update(
                copy.deepcopy(dict(fields)),
                status=status,
                deliveryId=None,
                leaseUntil=None,
                updatedAt=self.clock.iso(),
            )
            self._wrote(run_id)
            return True

    def end_unless_leased(
        self,
        run_id: str,
        status: str,
        fields: Mapping[str, Any],
        *,
        first: Mapping[str, Any] | None = None,
    ) -> str:
        with self._lock:
            self.reads += 1
            run = self.docs.get(run_id)
            if run is None and first is not None:
                now = self.clock.iso()
                self.docs[run_id] = {
                    "createdAt": now, **copy.deepcopy(dict(first)),
                    **copy.deepcopy(dict(fields)), "id": run_id, "status": status,
                    "updatedAt": now,
                }
                self._wrote(run_id)
                return status
            if run is None:
                return "missing"
            if run.get("status") in TERMINAL:
                return str(run["status"])
            if held_by_live_lease(run, self.clock.iso()):
                return RunStatus.DELIVERING
            run.update(
                copy.deepcopy(dict(fields)),
                status=status,
                deliveryId=None,
                leaseUntil=None,
                updatedAt=self.clock.iso(),
            )
            self._wrote(run_id)
            return status

    def stale(
        self, statuses: Iterable[str], older_than_s: float, limit: int
    ) -> list[dict[str, Any]]:
        cutoff = self.clock.iso(-older_than_s)
        wanted = set(statuses)
        with self._lock:
            found = [
                copy.deepcopy(r)
                for r in self.docs.values()
                if r.get("status") in wanted and r["updatedAt"] < cutoff
            ]
        return sorted(found, key=lambda r: r["updatedAt"])[:limit]

    def count(self, integration_id: str, status: str | None = None, since: Any = None) -> int:
        return sum(
            1
            for r in self.docs.values()
            if r.get("integrationId") == integration_id
            and (status is None or r.get("status") == status)
        )

    def count_stale(self, integration_id: str, statuses: Iterable[str], older_than_s: float) -> int:
        return sum(
            1
            for r in self.stale(statuses, older_than_s, 10_000)
            if r.get("integrationId") == integration_id
        )

    def list(
        self, integration_id: str | None = None, limit: int = 50, **filters: Any
    ) -> tuple[list[dict[str, Any]], str | None]:
        runs = [copy.deepcopy(r) for r in self._matching(integration_id, **filters)]
        runs.sort(key=lambda r: (r["createdAt"], r["id"]), reverse=not filters.get("oldest_first"))
        start = int(filters.get("cursor") or 0)  # the fake's cursor: an offset
        page = runs[start : start + limit]
        return page, str(start + limit) if start + limit < len(runs) else None

    def count_matching(self, integration_id: str | None = None, **filters: Any) -> int:
        return len(self._matching(integration_id, **filters))

    def _matching(
        self,
        integration_id: str | None = None,
        status: str | None = None,
        since: str | None = None,
        until: str | None = None,
        statuses: Iterable[str] | None = None,
        source_kind: str | None = None,
        key: str | None = None,
        min_duration_ms: float | None = None,
        **_: Any,
    ) -> list[dict[str, Any]]:
        """The runs RunStore.list's filters select (the fake compares timestamps as text)."""
        wanted = set(statuses) if statuses is not None else None
        return [
            r
            for r in self.docs.values()
            if (integration_id is None or r.get("integrationId") == integration_id)
            and (status is None or r.get("status") == status)
            and (wanted is None or r.get("status") in wanted)
            and (source_kind is None or r.get("sourceKind") == source_kind)
            and (key is None or key in (r.get("searchValues") or []))
            and (min_duration_ms is None or (r.get("apiCallTimeMs") or -1) >= min_duration_ms)
            and (since is None or r["createdAt"] >= since)
            and (until is None or r["createdAt"] < until)
        ]

    def _wrote(self, run_id: str) -> None:
        self.writes += 1
        self.versions[run_id] = self.versions.get(run_id, 0) + 1


class FakeQueue:
    """The internal topic: keeps what was published; can be told to fail."""

    def __init__(self) -> None:
        self.messages: list[dict[str, Any]] = []
        self.ordering_keys: list[str | None] = []  # each message's, in the same order
        self.failures = 0  # the next this many publishes fail

    def publish(
        self,
        message: dict[str, Any],
        attributes: dict[str, str] | None = None,
        ordering_key: str | None = None,
    ) -> str:
        if self.failures:
            self.failures -= 1
            raise QueueError("Pub/Sub could not publish (fake)")
        self.messages.append(copy.deepcopy(message))
        self.ordering_keys.append(ordering_key)
        return str(len(self.messages))

    def publish_many(self, messages: list[dict[str, Any]]) -> list[str | QueueError]:
        results: list[str | QueueError] = []
        for message in messages:
            try:
                results.append(self.publish(message))
            except QueueError as exc:
                results.append(exc)
        return results


def from_the_topic(message: dict[str, Any]) -> QueuedMessage:
    """A published message as the worker function gets it: the topic's bytes, decoded."""
    return QueuedMessage.from_bytes(dumps_bytes(message))
class FakeDeliveryQueues:
    """Per-target delivery queues (the `DeliveryQueue` port) that hold tasks and send none.

    Keeps Cloud Tasks' rules that callers rely on (tests/delivery/test_port_contract.py holds
    it and the Cloud Tasks adapter to the same ones): a task name is refused twice, also
    after `take`; a deleted queue is gone; pausing keeps accepting tasks. `take` plays the
    dispatcher: the due tasks of a running queue, oldest first, removed.
    """

    def __init__(self) -> None:
        self.configs: dict[QueueKey, QueueConfig] = {}
        self.paused: set[QueueKey] = set()
        self.tasks: dict[QueueKey, list[DeliveryTask]] = {}
        self._names: set[tuple[QueueKey, str, str, int]] = set()

    def ensure(self, key: QueueKey, config: QueueConfig) -> str:
        self.configs[key] = config
        self.tasks.setdefault(key, [])
        return f"fake/{key.integration_id}/{key.target}/g{key.generation}"

    def update(self, key: QueueKey, config: QueueConfig) -> None:
        self.ensure(key, config)

    def pause(self, key: QueueKey) -> None:
        self._existing(key)
        self.paused.add(key)

    def resume(self, key: QueueKey) -> None:
        self._existing(key)
        self.paused.discard(key)

    def delete(self, key: QueueKey) -> None:
        self.configs.pop(key, None)
        self.tasks.pop(key, None)
        self.paused.discard(key)

    def enqueue(self, key: QueueKey, task: DeliveryTask) -> Enqueued:
        tasks = self._existing(key)
        name = (key, task.run_id, task.target, task.resend)
        if name in self._names:
            return "already_added"
        self._names.add(name)
        tasks.append(task)
        return "added"

    def held(self, key: QueueKey) -> int:
        return len(self._existing(key))

    def take(self, key: QueueKey, now: float) -> list[DeliveryTask]:
        """What a running queue would dispatch at `now`, oldest first; removed from it."""
        if key in self.paused:
            return []
        tasks = self._existing(key)
        due = [t for t in tasks if t.not_before is None or t.not_before <= now]
        self.tasks[key] = [t for t in tasks if t not in due]
        return due

    def _existing(self, key: QueueKey) -> list[DeliveryTask]:
        if key not in self.tasks:
            raise DeliveryQueueNotFound(f"no delivery queue for {key}")
        return self.tasks[key]


class FakeDeliveryStates:
    """The `DeliveryStates` port in memory: pause, resume, failures in a row, generations.

    Given `runs`, `look` reads a run along with the state, as the Firestore store does.
    """

    def __init__(self, clock: Clock, runs: FakeRuns | None = None) -> None:
        self.clock = clock
        self.docs: dict[str, dict[str, Any]] = {}
        self.runs = runs
        self.reads = 0  # calls that read: `get`, or `look` with its run (one call, two docs)

    def get(self, integration_id: str) -> dict[str, Any] | None:
        self.reads += 1
        doc = self.docs.get(integration_id)
        return copy.deepcopy(doc) if doc is not None else None

    def look(
        self, integration_id: str, run_id: str | None = None
    ) -> tuple[dict[str, Any] | None, Seen | None]:
        state = self.get(integration_id)
        if run_id is None or self.runs is None:
            return state, None
        return state, self.runs.seen(run_id)

    def pause(self, integration_id: str, fields: Mapping[str, Any]) -> bool:
        doc = self.docs.setdefault(integration_id, {})
        if doc.get("state") == "paused":
            return False
        doc.update(copy.deepcopy(dict(fields)), state="paused", updatedAt=self.clock.iso())
        return True

    def resume(self, integration_id: str) -> dict[str, Any]:
        doc = self.docs.setdefault(integration_id, {})
        doc.update(state="active", reason=None, by=None, since=self.clock.iso(),
                   consecutiveFailures=0, resumes=int(doc.get("resumes") or 0) + 1)
        return copy.deepcopy(doc)

    def failed(self, integration_id: str) -> int:
        doc = self.docs.setdefault(integration_id, {})
        doc["consecutiveFailures"] = int(doc.get("consecutiveFailures") or 0) + 1
        return int(doc["consecutiveFailures"])

    def succeeded(self, integration_id: str) -> None:
        self.docs.setdefault(integration_id, {})["consecutiveFailures"] = 0

    def next_generation(self, integration_id: str, target: str = "target") -> int:
        doc = self.docs.setdefault(integration_id, {})
        if target != "target":
            generations = doc.setdefault("generations", {})
            generations[target] = int(generations.get(target) or 0) + 1
            return int(generations[target])
        doc["generation"] = int(doc.get("generation") or 0) + 1
        return int(doc["generation"])

    def forget(self, integration_id: str) -> None:
        doc = self.docs.setdefault(integration_id, {})
        doc.update(state="active", reason=None, by=None, consecutiveFailures=0)

    def drain_moved(self, integration_id: str, draining: bool) -> None:
        self.docs.setdefault(integration_id, {}).update(
            draining=draining, drainedAt=self.clock.iso()
        )

    def draining(self, limit: int) -> list[tuple[str, dict[str, Any]]]:
        found = [(i, copy.deepcopy(d)) for i, d in self.docs.items() if d.get("draining")]
        return found[:limit]


class PlainSecrets:
    """Secrets given in the test, by reference name."""

    def __init__(self, values: Mapping[str, str] | None = None) -> None:
        self.values = dict(values or {})

    def resolve(self, value: Any) -> str:
        if isinstance(value, str):
            return value
        name = value.get("secret") if isinstance(value, Mapping) else value.secret
        return self.values[name]


class CountingSignatureFailures:
    """Refused signatures, counted per integration."""

    def __init__(self) -> None:
        self.counts: dict[str, int] = {}
        self.last: dict[str, tuple[Mapping[str, str], str]] = {}

    def count(self, integration_id: str, headers: Mapping[str, str], reason: str) -> None:
        self.counts[integration_id] = self.counts.get(integration_id, 0) + 1
        self.last[integration_id] = (headers, reason)


class FakeSourceShapes:
    """Source shapes, one per integration, replaced whole (ours: SourceShapes)."""

    def __init__(self) -> None:
        self.shapes: dict[str, dict[str, Any]] = {}
        self.updates = 0

    def get(self, integration_id: str) -> dict[str, Any] | None:
        shape = self.shapes.get(integration_id)
        return copy.deepcopy(shape) if shape is not None else None

    def update(
        self, integration_id: str, change: Callable[[dict[str, Any] | None], dict[str, Any]]
    ) -> tuple[dict[str, Any] | None, dict[str, Any]]:
        before = self.get(integration_id)
        after = change(copy.deepcopy(before))
        self.shapes[integration_id] = copy.deepcopy(after)
        self.updates += 1
        return before, after

    def delete(self, integration_id: str) -> None:
        self.shapes.pop(integration_id, None)

    def pending_drift(self, limit: int) -> list[str]:
        return [key for key, shape in self.shapes.items() if shape.get("driftPending")][:limit]

    def take_drift(self, integration_id: str, window: int) -> dict[str, Any] | None:
        shape = self.shapes.get(integration_id)
        if not shape or not shape.get("driftPending"):
            return None
        if shape.get("driftNotifiedWindow") == window:
            return None
        taken = {"drift": copy.deepcopy(shape.get("driftNotices") or []),
                 "more": int(shape.get("driftNoticesMore") or 0)}
        shape.update(driftNotices=[], driftNoticesMore=0, driftPending=False,
                     driftNotifiedWindow=window)
        return taken


class FakeDedupeKeys:
    """Dedupe keys created once, taken over after their window (ours: DedupeKeys)."""

    def __init__(self) -> None:
        self.keys: dict[str, dict[str, Any]] = {}

    def claim(
        self, key: str, run_id: str, integration_id: str, window_s: float, now: float
    ) -> str:
        held = self.keys.get(key)
        if held is not None and held["createdAt"] + window_s > now:
            return str(held["runId"])
        self.keys[key] = {"runId": run_id, "integrationId": integration_id, "createdAt": now}
        return run_id

    def release(self, key: str, run_id: str) -> None:
        if self.keys.get(key, {}).get("runId") == run_id:
            del self.keys[key]


class FakePullState:
    """When each pull integration was last drained."""

    def __init__(self) -> None:
        self.states: dict[str, dict[str, Any]] = {}

    def get_many(self, integration_ids: list[str]) -> dict[str, dict[str, Any]]:
        return {i: dict(self.states[i]) for i in integration_ids if i in self.states}

    def record(self, integration_id: str, fields: dict[str, Any]) -> None:
        self.states.setdefault(integration_id, {}).update(fields)


class FakeSubscriptions:
    """Subscriptions holding messages until acknowledged (ours: mapper.pipeline.ports)."""

    def __init__(self) -> None:
        self.waiting: dict[str, list[Any]] = {}  # integration id -> Pulled messages
        self.acked: list[str] = []
        self.refuse: Exception | None = None

    def add(self, integration_id: str, *messages: Any) -> None:
        self.waiting.setdefault(integration_id, []).extend(messages)

    def pull(self, doc: dict[str, Any], max_messages: int) -> list[Any]:
        if self.refuse is not None:
            raise self.refuse
        unacked = [m for m in self.waiting.get(doc["id"], []) if m.ack_id not in self.acked]
        return unacked[:max_messages]

    def acknowledge(self, doc: dict[str, Any], ack_ids: list[str]) -> None:
        self.acked.extend(ack_ids)


class FakeKeyStore:
    """API key records by id (mapper.store.team.KeyStore); counts lastUsedAt writes."""

    def __init__(self) -> None:
        self.records: dict[str, dict[str, Any]] = {}
        self.reads = 0
        self.touches: list[tuple[str, str]] = []

    def get(self, key_id: str) -> dict[str, Any] | None:
        self.reads += 1
        record = self.records.get(key_id)
        return copy.deepcopy(record) if record is not None else None

    def create(self, record: dict[str, Any]) -> dict[str, Any]:
        if record["id"] in self.records:
            raise ConflictError(f"API key {record['id']} already exists")
        self.records[record["id"]] = copy.deepcopy(record)
        return record

    def list(self, limit: int = 50, cursor: str | None = None) -> tuple[list[dict], None]:
        newest = sorted(self.records.values(), key=lambda r: r["createdAt"], reverse=True)
        return [copy.deepcopy(r) for r in newest][:limit], None

    def delete(self, key_id: str) -> bool:
        return self.records.pop(key_id, None) is not None

    def touch(self, key_id: str, last_used_at: str) -> None:
        self.touches.append((key_id, last_used_at))
        if key_id in self.records:
            self.records[key_id]["lastUsedAt"] = last_used_at


class FakeAuditStore:
    """Audit entries in memory (mapper.store.team.AuditStore), filtered as the store filters."""

    def __init__(self) -> None:
        self.entries: list[dict[str, Any]] = []

    def add(self, entry: dict[str, Any]) -> dict[str, Any]:
        self.entries.append(copy.deepcopy(entry))
        return entry

    def list(
        self,
        integration_id: str | None = None,
        key_id: str | None = None,
        since: str | None = None,
        until: str | None = None,
        limit: int = 50,
        cursor: str | None = None,
    ) -> tuple[list[dict[str, Any]], None]:
        found = [
            copy.deepcopy(e)
            for e in reversed(self.entries)
            if (integration_id is None or e.get("integrationId") == integration_id)
            and (key_id is None or e.get("actorKeyId") == key_id)
            and (since is None or e["createdAt"] >= iso_timestamp(since))
            and (until is None or e["createdAt"] < iso_timestamp(until))
        ]
        return found[:limit], None


class FakeRedriveJobs:
    """Redrive jobs, advanced only from the batch count they were read at."""

    def __init__(self, now: Callable[[], str] = now_iso) -> None:
        self.jobs: dict[str, dict[str, Any]] = {}
        self.now = now

    def create(self, job: dict[str, Any]) -> None:
        if job["id"] in self.jobs:
            raise ConflictError(f"job {job['id']} exists")
        self.jobs[job["id"]] = copy.deepcopy(job)

    def get(self, job_id: str) -> dict[str, Any] | None:
        job = self.jobs.get(job_id)
        return copy.deepcopy(job) if job is not None else None

    def list(self, limit: int = 50, cursor: str | None = None) -> tuple[list[dict], None]:
        newest = sorted(self.jobs.values(), key=lambda j: j["createdAt"], reverse=True)
        return [copy.deepcopy(j) for j in newest[:limit]], None

    def advance(self, job_id: str, batches_read: int, fields: dict[str, Any]) -> bool:
        job = self.jobs.get(job_id)
        if job is None or job["batches"] != batches_read:
            return False
        job.update(copy.deepcopy(fields), batches=batches_read + 1, updatedAt=self.now())
        return True

    def running(self, limit: int) -> list[dict[str, Any]]:
        return [copy.deepcopy(j) for j in self.jobs.values() if j["state"] == "running"][:limit]

    def touch(self, job_id: str, seen_updated_at: str, fields: dict[str, Any]) -> bool:
        job = self.jobs.get(job_id)
        if job is None or job["state"] != "running" or job["updatedAt"] != seen_updated_at:
            return False
        job.update(copy.deepcopy(fields), updatedAt=self.now())
        return True


class FakeNotifyWindows:
    """Notification minutes in memory, by the rules of mapper.store.notify.NotifyWindowStore."""

    def __init__(self) -> None:
        self.windows: dict[str, dict[str, Any]] = {}
        self.last: dict[str, int] = {}

    def admit(self, integration_id: str, event: str, now: float) -> Admission:
        window = int(now // 60)
        prefix = f"{integration_id}.{event}"
        key = f"{prefix}.{window}"
        if key in self.windows:
            self.windows[key]["count"] += 1
            return Admission(send=False, window=window)
        at = iso_timestamp(datetime.fromtimestamp(now, tz=timezone.utc))
        self.windows[key] = {"count": 1, "firstAt": at}
        previous, self.last[prefix] = self.last.get(prefix), window
        if previous is None or previous >= window:
            return Admission(send=True, window=window)
        last = self.windows.get(f"{prefix}.{previous}", {})
        held = max(int(last.get("count") or 1) - 1, 0)
        return Admission(send=True, window=window, held=held,
                         since=last.get("firstAt") if held else None)


class RecordingNotifier:
    """The Notifier port: records each event it is asked to send."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, str, dict[str, Any]]] = []

    def notify(self, integration: Any, event: Any, data: Mapping[str, Any]) -> bool:
        if integration.notify is None:
            return False
        self.sent.append((str(integration.id), str(event), dict(data)))
        return True
