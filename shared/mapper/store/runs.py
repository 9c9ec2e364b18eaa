"""The `runs` collection: one run per incoming message, its id the idempotency key.

A run's payload fields are stored as JSON text (compressed when long), see `RunStore`."""

from __future__ import annotations

import functools
import json
import zlib
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, timedelta, timezone
from typing import Any

from google.api_core import exceptions as gexc
from google.cloud import firestore
from google.cloud.firestore_v1.base_query import FieldFilter
from google.cloud.firestore_v1.field_path import FieldPath

from ..errors import (
    InvalidQueryError,
    MapperError,
    NotFoundError,
    StoreError,
)
from ..firestore_writes import batch_creates, commit_creates, commit_update
from ..group_commit import GroupCommit
from ..pipeline.ports import Claim, Seen, held_by_live_lease, not_due, redrive_refused
from ..pipeline.runs import TERMINAL, RunStatus
from ..timestamps import iso_timestamp, now_iso
from .common import (
    _JSON_SUFFIX,
    DEFAULT_PAGE_SIZE,
    DEFAULT_RETENTION_DAYS,
    DELIVERIES_LIMIT_BYTES,
    DELIVERY_PAYLOAD_FIELDS,
    DELIVERY_TEXT_CHARS,
    OTHER_FIELD_LIMIT_BYTES,
    PAYLOAD_FIELDS,
    PREVIEW_CHARS,
    TEXT_LIMIT_CHARS,
    _dumps,
    _json_within,
    _packed,
    _page,
    _store_errors,
    _unpacked,
    is_valid_document_id,
    read_document,
)

# What a `success` drops when successful runs' payloads are not kept (RunStore's
# `keep_success_payloads`): the mapped output and the target's request and response. The
# same as a fan-out target's payload fields.
SUCCESS_DROPPED_FIELDS = DELIVERY_PAYLOAD_FIELDS
ALREADY_EXISTS = 6  # the gRPC code of a create refused because the document exists
# Looks at a run that keeps changing under a claim (a read, or a create refused) before
# giving up (busy).
CLAIM_TRIES = 5

SEARCH_FIELD = "searchValues"  # a run's `path=value` strings for ?key= (mapper.pipeline.search)
DELIVERIES_FIELD = "deliveries"  # a fan-out's per-target records, cut to their share
DURATION_FIELD = "apiCallTimeMs"  # ?min_duration_ms= compares it and lists the slowest first
RUN_FILTER_RULES = (
    "runs filter by integration_id with at most one of status, source_kind, key and "
    "min_duration_ms; since and until combine with all but min_duration_ms"
)


# --- runs ---------------------------------------------------------------------------------


def update_fields(fields: Mapping[str, Any]) -> dict[str, Any]:
    """The top-level fields a run's update writes, by name: `fields` encoded (and
    `updatedAt`), each stored form's other form deleted."""
    _check_status(fields.get("status"))
    updates: dict[str, Any] = {}
    for key, value in _encode_run({**fields, "updatedAt": now_iso()}).items():
        plain = key.removesuffix(_JSON_SUFFIX)
        # A field that went from null to an object, or back, must not keep its old form.
        other = plain + _JSON_SUFFIX if key == plain else plain
        updates[other] = firestore.DELETE_FIELD
        updates[key] = value
    return updates


def _created(run_id: str, code: int, message: str) -> bool | MapperError:
    """One create's answer in a BatchWrite: created, already there, or its own failure."""
    if code == 0:
        return True
    if code == ALREADY_EXISTS:
        return False
    return StoreError(f"Firestore could not create run {run_id}: code {code}: {message}")


class RunStore:
    """The `runs` collection; a run's id is its idempotency key.

    Runs hold whatever senders and targets produced, and Firestore refuses some JSON outright
    (an array directly inside an array, an empty key, a key like `__x__`) and indexes every
    nested field of a map. So each payload field, and any other field holding an object or
    array, is stored as JSON text in `<field>Json`, cut to a size budget, zlib-compressed
    (Firestore Bytes) when longer than COMPRESS_ABOVE_BYTES, and decoded on the way out:
    callers only ever see plain values. No query reads inside them.
    """

    def __init__(
        self,
        client: firestore.Client,
        collection: str = "runs",
        retention: timedelta | None = timedelta(days=DEFAULT_RETENTION_DAYS),
        *,
        keep_success_payloads: bool = True,
    ) -> None:
        self._client = client
        self._collection = client.collection(collection)
        self._retention = retention
        # False (SUCCESS_PAYLOAD_RETENTION_DAYS=0): a run recorded `success` drops what it
        # sent and got back in that same outcome write (SUCCESS_DROPPED_FIELDS).
        self._keep_success_payloads = keep_success_payloads
        # Runs created at once by concurrent requests share commits (mapper.group_commit).
        self._creates = GroupCommit(functools.partial(commit_creates, client))

    def create(self, run: dict[str, Any]) -> bool:
        """Store a new run under `run["id"]`; False (and nothing written) if it exists already."""
        data = self._new(run)
        with _store_errors("create a run"):
            return self._creates.create(self._collection.document(data["id"]), _encode_run(data))

    def create_each(self, runs: Sequence[dict[str, Any]]) -> list[bool | MapperError]:
        """Store new runs in one round trip, each on its own (`RunLog.create_each`).

        First one Commit of them all: the cheapest request when none exists (the Firestore
        emulator spends about half the CPU a run on a Commit as on a BatchWrite of the
        same runs; docs/performance.md). A Commit is all or none, so when one of them
        exists (its worker wrote it first) they go again in one BatchWrite, where each
        create is applied or refused on its own. A run Firestore refuses outright (an
        invalid value fails the whole request) is found by writing them one by one. Two
        runs with one id never share a request (Firestore would refuse it whole): the
        second goes in one after.
        """
        answers: dict[int, bool | MapperError] = {}
        waiting = list(range(len(runs)))
        while waiting:
            request: dict[str, int] = {}  # run id -> its index, first come
            for i in waiting:
                request.setdefault(runs[i]["id"], i)
            waiting = [i for i in waiting if request[runs[i]["id"]] != i]
            creates = [(self._collection.document(run_id), _encode_run(self._new(runs[i])))
                       for run_id, i in request.items()]
            for i, answer in zip(request.values(), self._batch(creates), strict=True):
                answers[i] = answer
        return [answers[i] for i in range(len(runs))]

    def _batch(self, creates: list[tuple[Any, dict[str, Any]]]) -> list[bool | MapperError]:
        """Each create's answer: one Commit, else one BatchWrite, else one by one."""
        try:
            with _store_errors("create runs"):
                commit_creates(self._client, creates)
            return [True] * len(creates)
        except StoreError as exc:
            if not isinstance(exc.__cause__, (gexc.AlreadyExists, gexc.InvalidArgument)):
                raise  # Firestore unreachable, say: every run's failure
            if len(creates) == 1 and isinstance(exc.__cause__, gexc.AlreadyExists):
                return [False]
        return self._each(creates)

    def _each(self, creates: list[tuple[Any, dict[str, Any]]]) -> list[bool | MapperError]:
        """Each create's answer from one BatchWrite; one by one if the request is refused."""
        try:
            with _store_errors("create runs"):
                statuses = batch_creates(self._client, creates)
            return [_created(ref.id, *status)
                    for (ref, _), status in zip(creates, statuses, strict=True)]
        except StoreError as exc:
            if len(creates) == 1 or not isinstance(exc.__cause__, gexc.InvalidArgument):
                raise  # Firestore unreachable, say: every run's failure alone too
        answers: list[bool | MapperError] = []
        for create in creates:
            try:
                answers.append(self._each([create])[0])
            except StoreError as exc:
                answers.append(exc)
        return answers

    def _new(self, run: Mapping[str, Any]) -> dict[str, Any]:
        """A new run's document (before encoding): its times, and its expiry."""
        run_id = run.get("id")
        if not isinstance(run_id, str) or not is_valid_document_id(run_id):
            raise ValueError(f"run id {run_id!r} is not usable as a document id")
        _check_status(run.get("status"))
        now = now_iso()
        data = {
            "attempts": 0,
            **run,
            "id": run_id,
            "createdAt": iso_timestamp(run.get("createdAt") or now),
            "updatedAt": iso_timestamp(run.get("updatedAt") or now),
        }
        if self._retention is not None:
            # A timestamp, not text: the Firestore TTL policy on `expireAt` deletes the run.
            data["expireAt"] = datetime.now(timezone.utc) + self._retention
        return data

    def _create_once(self, ref: Any, run: Mapping[str, Any], action: str) -> Any:
        """Write a new run alone (not grouped): its write time, or None if it exists."""
        with _store_errors(action):
            try:
                return ref.create(_encode_run(self._new(run))).update_time
            except gexc.AlreadyExists:
                return None

    def get(self, run_id: str) -> dict[str, Any] | None:
        """The whole run, payloads decoded, or None."""
        if not is_valid_document_id(run_id):
            return None
        with _store_errors("read a run"):
            snapshot = self._collection.document(run_id).get()
        return _decode_run(snapshot) if snapshot.exists else None

    def update(self, run_id: str, fields: Mapping[str, Any]) -> None:
        """Set some top-level fields of the run (and `updatedAt`); `NotFoundError` if missing."""
        self._update(run_id, self._updates(fields), "update a run")

    def _updates(self, fields: Mapping[str, Any]) -> dict[str, Any]:
        # Field names are quoted, so a key with a dot stays one top-level field.
        return {FieldPath(name).to_api_repr(): value
                for name, value in update_fields(fields).items()}

    def mark(self, run_id: str, status: str, **fields: Any) -> None:
        """Set the run's `status`, and any other fields given."""
        self.update(run_id, {**fields, "status": status})

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
        """Take the run for one delivery: one read, then one write conditional on that read.

        The write counts the attempt (a server-side increment), marks the run `delivering`
        and holds a lease until now + `lease_s`. It is conditional on the document being as
        it was read, so two deliveries racing for the same run cannot both claim it: the
        loser reads again and finds the lease. The write's time is the claim's token, which
        `finish` requires, so only the lease holder records the outcome.

        `seen` (the run as a read just before found it, `DeliveryStateStore.look`): that is
        the first read; nothing is read here unless the write finds the run changed since.
        `first` (the run's first record, from a message the intake published without
        recording it): a run read as missing is created from it with the lease already
        taken, one write on the condition that it does not exist; without `seen`, that
        create comes first and no read (the intake does not write the run: a second copy
        of the message is the only way it exists). A create refused because the run was
        written meanwhile goes on as above.
        """
        ref = self.reference(run_id)
        if ref is None:
            return Claim("missing")
        if first is not None and seen is None:
            seen = Seen(None)  # taken for missing: created, unless it exists after all
        for _ in range(CLAIM_TRIES):
            if seen is None:
                with _store_errors("read a run"):
                    seen = self.seen(run_id, *read_document(ref))
            run, version, seen = seen.run, seen.version, None
            if run is None:
                if first is None:
                    return Claim("missing")
                created = self._create_claimed(ref, run_id, first, delivery_id, lease_s)
                if created is not None:
                    return created
                continue  # written meanwhile (the intake's write, a second copy): read it
            if run.get("status") in TERMINAL:
                return Claim("done", run)
            now = datetime.now(timezone.utc)
            if held_by_live_lease(run, iso_timestamp(now)):
                return Claim("busy", run)
            if on_schedule and not_due(run, iso_timestamp(now)):
                return Claim("early", run)  # nothing written: the attempt is not counted
            until = iso_timestamp(now + timedelta(seconds=lease_s))
            updates = {
                "status": RunStatus.DELIVERING,
                "deliveryId": delivery_id,
                "leaseUntil": until,
                "attempts": firestore.Increment(1),
                "updatedAt": iso_timestamp(now),
            }
            with _store_errors("claim a run"):
                try:
                    result = commit_update(self._client, ref, updates,
                                           last_update_time=version)
                except gexc.FailedPrecondition:
                    continue  # changed since it was read: look again
            run.update(status=RunStatus.DELIVERING, deliveryId=delivery_id, leaseUntil=until)
            run["attempts"] = result.transform_results[0].integer_value
            return Claim("claimed", run, token=result.update_time)
        return Claim("busy")

    def _create_claimed(
        self, ref: Any, run_id: str, first: Mapping[str, Any], delivery_id: str,
        lease_s: float,
    ) -> Claim | None:
        """Create the run from its first record, already claimed; None if it exists."""
        now = datetime.now(timezone.utc)
        run = {
            **first,
            "id": run_id,
            "status": RunStatus.DELIVERING,
            "deliveryId": delivery_id,
            "leaseUntil": iso_timestamp(now + timedelta(seconds=lease_s)),
            "attempts": int(first.get("attempts") or 0) + 1,
            "updatedAt": iso_timestamp(now),
        }
        token = self._create_once(ref, run, "record a run")
        return None if token is None else Claim("claimed", run, token=token)

    def reference(self, run_id: str) -> Any:
        """The run's document (None: `run_id` cannot name one), to read along with another
        document in one call (`DeliveryStateStore.look`)."""
        return self._collection.document(run_id) if is_valid_document_id(run_id) else None

    @staticmethod
    def seen(run_id: str, fields: Mapping[str, Any] | None, version: Any) -> Seen:
        """A run read as its stored fields and update time (None: missing), as a claim
        starts from it: decoded, with its version."""
        return Seen(None) if fields is None else Seen(_decoded(fields, run_id), version)

    def finish(
        self, run_id: str, claim: Claim, status: str, fields: Mapping[str, Any]
    ) -> bool:
        """Record the outcome of a claimed delivery; False if the run changed since the claim.

        A run changes under its lease holder only once the lease has expired and another
        delivery (or the reconciler) took it over: then this outcome is not written.
        """
        _check_status(status)
        released = {**fields, "status": status, "deliveryId": None, "leaseUntil": None}
        dropped: tuple[str, ...] = ()
        if status == RunStatus.SUCCESS and not self._keep_success_payloads:
            released, dropped = _without_success_payloads(released), SUCCESS_DROPPED_FIELDS
        updates = update_fields(released)
        for name in dropped:  # whichever form an earlier attempt stored it in
            updates[name] = updates[name + _JSON_SUFFIX] = firestore.DELETE_FIELD
        with _store_errors("record a run's outcome"):
            try:
                commit_update(self._client, self._collection.document(run_id), updates,
                              last_update_time=claim.token)
            except (gexc.FailedPrecondition, gexc.NotFound):
                return False
        return True

    def end_unless_leased(
        self,
        run_id: str,
        status: str,
        fields: Mapping[str, Any],
        *,
        first: Mapping[str, Any] | None = None,
    ) -> str:
        """End a run that no live lease holds (dead letter, lost, a mapping that failed).

        Returns the run's status afterwards: `status` if this call ended it, else the status
        it keeps (already ended, or held by a live delivery), or "missing". `first` (the
        run's first record, as `claim` takes it): a run not recorded yet is recorded ended.
        """
        ref = self._collection.document(run_id) if is_valid_document_id(run_id) else None
        if ref is None:
            return "missing"
        for _ in range(CLAIM_TRIES):
            with _store_errors("read a run"):
                snapshot = ref.get()
            if not snapshot.exists:
                if first is None:
                    return "missing"
                ended = {**first, **fields, "id": run_id, "status": status}
                if self._create_once(ref, ended, "record an ended run") is not None:
                    return status
                continue  # recorded meanwhile (its worker took it): end that one
            current = snapshot.get("status")
            if current in TERMINAL or held_by_live_lease(snapshot.to_dict(), now_iso()):
                return str(current)
            updates = self._updates(
                {**fields, "status": status, "deliveryId": None, "leaseUntil": None}
            )
            option = self._client.write_option(last_update_time=snapshot.update_time)
            with _store_errors("end a run"):
                try:
                    ref.update(updates, option=option)
                except gexc.FailedPrecondition:
                    continue
            return status
        return RunStatus.DELIVERING

    def stale(
        self, statuses: Iterable[str], older_than_s: float, limit: int
    ) -> list[dict[str, Any]]:
        """Runs in `statuses` whose `updatedAt` is more than `older_than_s` seconds ago."""
        cutoff = iso_timestamp(datetime.now(timezone.utc) - timedelta(seconds=older_than_s))
        query = (
            self._collection.where(filter=FieldFilter("status", "in", list(statuses)))
            .where(filter=FieldFilter("updatedAt", "<", cutoff))
            .order_by("updatedAt")
            .limit(limit)
        )
        with _store_errors("find stale runs"):
            return [_decode_run(snapshot) for snapshot in query.stream()]

    def count_stale(self, integration_id: str, statuses: Iterable[str], older_than_s: float) -> int:
        """How many of this integration's runs in `statuses` are older than `older_than_s`."""
        cutoff = iso_timestamp(datetime.now(timezone.utc) - timedelta(seconds=older_than_s))
        query = (
            self._collection.where(filter=FieldFilter("integrationId", "==", integration_id))
            .where(filter=FieldFilter("status", "in", list(statuses)))
            .where(filter=FieldFilter("updatedAt", "<", cutoff))
        )
        with _store_errors("count stale runs"):
            [[result]] = query.count(alias="n").get()
        return int(result.value)

    def touch(self, run_id: str, **fields: Any) -> None:
        """Set some fields (and `updatedAt`), keeping the status."""
        self.update(run_id, fields)

    def due_retries(self, now: str, limit: int) -> list[dict[str, Any]]:
        """Runs `retrying` whose `nextAttemptAt` is at or before `now`, the longest due first."""
        query = (
            self._collection.where(filter=FieldFilter("status", "==", RunStatus.RETRYING))
            .where(filter=FieldFilter("nextAttemptAt", "<=", now))
            .order_by("nextAttemptAt")
            .limit(limit)
        )
        with _store_errors("find due retries"):
            return [_decode_run(snapshot) for snapshot in query.stream()]

    def touch_if_unchanged(self, run_id: str, seen_updated_at: str, **fields: Any) -> bool:
        """Set `fields` on a run read at `seen_updated_at`; False if it changed since."""
        ref = self._collection.document(run_id) if is_valid_document_id(run_id) else None
        if ref is None:
            return False
        with _store_errors("read a run"):
            snapshot = ref.get()
        if not snapshot.exists or snapshot.to_dict().get("updatedAt") != seen_updated_at:
            return False
        option = self._client.write_option(last_update_time=snapshot.update_time)
        with _store_errors("update a run"):
            try:
                ref.update(self._updates(fields), option=option)
            except (gexc.FailedPrecondition, gexc.NotFound):
                return False
        return True

    def claim_redrive(
        self, run_id: str, by: str, as_run: str, statuses: Iterable[str]
    ) -> str | None:
        """Take the run for one redrive (`by`: a job's id, or replay:<run>); None if taken now.

        Else why not: it is not in `statuses`, or another redrive took it (the reason names
        the run that one made). One read, then one write conditional on it, as `claim`: of
        two redrives racing for the same run, the loser reads again and finds it taken. The
        same `by` taking it again succeeds (a task delivered twice).
        """
        ref = self._collection.document(run_id) if is_valid_document_id(run_id) else None
        if ref is None:
            return "no such run"
        wanted = set(statuses)
        for _ in range(CLAIM_TRIES):
            with _store_errors("read a run"):
                snapshot = ref.get()
            if not snapshot.exists:
                return "no such run"
            refused = redrive_refused(snapshot.to_dict() or {}, by, wanted)
            if refused is not None:
                return refused
            option = self._client.write_option(last_update_time=snapshot.update_time)
            with _store_errors("claim a run for redrive"):
                try:
                    ref.update({"redrivenBy": by, "redrivenAs": as_run}, option=option)
                except gexc.FailedPrecondition:
                    continue  # changed since it was read: look again
            return None
        return "the run kept changing; redrive it again"

    def count_republish(self, run_id: str, seen_updated_at: str, republishes: int) -> bool:
        """Count a republish of a run read at `seen_updated_at`; False if it changed since.

        One read, then one write conditional on it: a delivery that claimed the run after
        the reconciler read it keeps its claim, which any other write would take away.
        """
        ref = self._collection.document(run_id) if is_valid_document_id(run_id) else None
        if ref is None:
            return False
        with _store_errors("read a run"):
            snapshot = ref.get()
        if not snapshot.exists or snapshot.to_dict().get("updatedAt") != seen_updated_at:
            return False
        updates = self._updates({"republishes": republishes, "unpublished": False})
        option = self._client.write_option(last_update_time=snapshot.update_time)
        with _store_errors("count a republish"):
            try:
                ref.update(updates, option=option)
            except (gexc.FailedPrecondition, gexc.NotFound):
                return False
        return True

    def list(
        self,
        integration_id: str | None = None,
        status: str | None = None,
        since: datetime | str | None = None,
        until: datetime | str | None = None,
        limit: int = DEFAULT_PAGE_SIZE,
        cursor: str | None = None,
        *,
        statuses: Iterable[str] | None = None,
        source_kind: str | None = None,
        key: str | None = None,
        min_duration_ms: float | None = None,
        oldest_first: bool = False,
    ) -> tuple[list[dict[str, Any]], str | None]:
        """One page of runs, newest first, and the next page's cursor (None on the last page).

        `since` is inclusive and `until` exclusive, both compared with `createdAt`. `key` is a
        search value (`path=value`, see `mapper.pipeline.search`). Filters combine as
        `RUN_FILTER_RULES` says; `min_duration_ms` lists the slowest first instead.
        `oldest_first` (an integration's runs of one status: a resume's held runs) turns the
        order round.
        """
        query = self._filtered(integration_id, status, statuses, source_kind, key, since, until)
        if min_duration_ms is not None:
            if since is not None or until is not None:
                raise InvalidQueryError(RUN_FILTER_RULES)
            query = query.where(filter=FieldFilter("apiCallTimeMs", ">=", min_duration_ms))
            snapshots, next_cursor = _page(query, limit, cursor, DURATION_FIELD)
        else:
            snapshots, next_cursor = _page(query, limit, cursor, oldest_first=oldest_first)
        return [_decode_run(snapshot) for snapshot in snapshots], next_cursor

    def count_matching(
        self,
        integration_id: str | None = None,
        statuses: Iterable[str] | None = None,
        since: datetime | str | None = None,
        until: datetime | str | None = None,
    ) -> int:
        """How many runs `list` would give with these filters, over all its pages."""
        query = self._filtered(integration_id, None, statuses, None, None, since, until)
        query = query.order_by("createdAt", direction=firestore.Query.DESCENDING)
        with _store_errors("count runs"):
            [[result]] = query.count(alias="n").get()
        return int(result.value)

    def _filtered(
        self,
        integration_id: str | None,
        status: str | None,
        statuses: Iterable[str] | None,
        source_kind: str | None,
        key: str | None,
        since: datetime | str | None,
        until: datetime | str | None,
    ) -> Any:
        # One equality filter besides the integration: each combination needs its own
        # composite index (RUN_INDEXES), so only the documented ones are allowed.
        chosen = [f for f in (status, statuses, source_kind, key) if f is not None]
        if len(chosen) > 1:
            raise InvalidQueryError(RUN_FILTER_RULES)
        query: Any = self._collection
        if integration_id is not None:
            query = query.where(filter=FieldFilter("integrationId", "==", integration_id))
        if status is not None:
            query = query.where(filter=FieldFilter("status", "==", status))
        if statuses is not None:
            query = query.where(filter=FieldFilter("status", "in", sorted(set(statuses))))
        if source_kind is not None:
            query = query.where(filter=FieldFilter("sourceKind", "==", source_kind))
        if key is not None:
            query = query.where(filter=FieldFilter(SEARCH_FIELD, "array_contains", key))
        if since is not None:
            query = query.where(filter=FieldFilter("createdAt", ">=", _bound("since", since)))
        if until is not None:
            query = query.where(filter=FieldFilter("createdAt", "<", _bound("until", until)))
        return query

    def count(
        self,
        integration_id: str,
        status: str | None = None,
        since: datetime | str | None = None,
    ) -> int:
        """How many runs of this integration (with this status, created since) there are."""
        query: Any = self._collection.where(
            filter=FieldFilter("integrationId", "==", integration_id)
        )
        if status is not None:
            query = query.where(filter=FieldFilter("status", "==", status))
        if since is not None:
            query = query.where(filter=FieldFilter("createdAt", ">=", _bound("since", since)))
        # Ordered as the list query is, so that the same composite indexes serve the count.
        query = query.order_by("createdAt", direction=firestore.Query.DESCENDING)
        with _store_errors("count runs"):
            [[result]] = query.count(alias="n").get()
        return int(result.value)

    def _update(self, run_id: str, updates: dict[str, Any], action: str) -> Any:
        if not is_valid_document_id(run_id):
            raise NotFoundError(f"no run {run_id}")
        with _store_errors(action):
            try:
                return self._collection.document(run_id).update(updates)
            except gexc.NotFound as exc:
                raise NotFoundError(f"no run {run_id}") from exc


def _without_success_payloads(fields: dict[str, Any]) -> dict[str, Any]:
    """A success's outcome without what was sent and answered (a fan-out's per target too).

    The incoming payload stays: a replay, a redrive and a mapping's backtest start from it.
    """
    kept = {k: v for k, v in fields.items() if k not in SUCCESS_DROPPED_FIELDS}
    if isinstance(kept.get(DELIVERIES_FIELD), list):
        kept[DELIVERIES_FIELD] = [
            {k: v for k, v in d.items() if k not in SUCCESS_DROPPED_FIELDS}
            if isinstance(d, dict) else d
            for d in kept[DELIVERIES_FIELD]
        ]
    return kept


def _encode_run(run: dict[str, Any]) -> dict[str, Any]:
    data: dict[str, Any] = {}
    for key, value in run.items():
        if key.endswith(_JSON_SUFFIX):
            raise ValueError(f"run field {key!r} would be mistaken for a stored JSON field")
        if key in PAYLOAD_FIELDS:
            data[key + _JSON_SUFFIX] = _packed(_json_within(value)[0])
        elif key == DELIVERIES_FIELD and isinstance(value, list):
            data[key + _JSON_SUFFIX] = _packed(_dumps(_deliveries_within(value)))
        elif key == SEARCH_FIELD and isinstance(value, list):
            data[key] = [str(item) for item in value]  # queried (array_contains): kept native
        elif isinstance(value, (dict, list)):
            data[key + _JSON_SUFFIX] = _packed(_json_within(value, OTHER_FIELD_LIMIT_BYTES)[0])
        elif isinstance(value, str) and len(value) > TEXT_LIMIT_CHARS:
            data[key] = value[:TEXT_LIMIT_CHARS] + " ... (truncated)"
        else:
            data[key] = value
    return data


def _deliveries_within(deliveries: list[Any]) -> list[Any]:
    """A fan-out's deliveries cut to their share of the run: each payload as the run's own."""
    share = DELIVERIES_LIMIT_BYTES // (len(DELIVERY_PAYLOAD_FIELDS) * max(1, len(deliveries)))
    preview = min(PREVIEW_CHARS, share // 2)
    out = []
    for delivery in deliveries:
        if not isinstance(delivery, dict):
            out.append(delivery)
            continue
        cut = dict(delivery)
        for field in DELIVERY_PAYLOAD_FIELDS:
            if field in cut:
                _, stand_in = _json_within(cut[field], share, preview)
                if stand_in is not None:
                    cut[field] = stand_in
        message = cut.get("errorMessage")
        if isinstance(message, str) and len(message) > DELIVERY_TEXT_CHARS:
            cut["errorMessage"] = message[:DELIVERY_TEXT_CHARS] + " ... (truncated)"
        out.append(cut)
    return out


def _decode_run(snapshot: Any) -> dict[str, Any]:
    return _decoded(snapshot.to_dict() or {}, snapshot.id)


def _decoded(fields: Mapping[str, Any], run_id: str) -> dict[str, Any]:
    """A run as callers see it, from its stored fields (`snapshot.to_dict()`)."""
    run: dict[str, Any] = {}
    undecodable: list[str] = []
    for key, value in fields.items():
        if key.endswith(_JSON_SUFFIX) and isinstance(value, (str, bytes)):
            try:  # compressed above COMPRESS_ABOVE_BYTES (mapper.store.common)
                run[key.removesuffix(_JSON_SUFFIX)] = json.loads(_unpacked(value))
            except (ValueError, RecursionError, zlib.error):
                # One bad field (an older release's, a hand edit) must not fail every list
                # that holds the run: it is shown as unreadable instead (docs/security.md).
                undecodable.append(key.removesuffix(_JSON_SUFFIX))
        elif isinstance(value, datetime):
            run[key] = iso_timestamp(value)
        else:
            run[key] = value
    run.setdefault("id", run_id)
    if undecodable:
        run["undecodable"] = undecodable
        run["readError"] = f"stored fields could not be read: {', '.join(undecodable)}"
        run["incomingRaw"] = run.get("incomingRaw") or "incomingPayload" in undecodable
    return run


def _check_status(status: Any) -> None:
    if status is not None and status not in tuple(RunStatus):
        expected = tuple(s.value for s in RunStatus)
        raise ValueError(f"unknown run status {status!r}; expected one of {expected}")


def _bound(name: str, value: datetime | str) -> str:
    try:
        return iso_timestamp(value)
    except (TypeError, ValueError) as exc:
        raise InvalidQueryError(f"{name} must be an ISO-8601 date or time") from exc
