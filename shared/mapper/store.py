"""Firestore storage: integrations, runs, idempotency. The client is passed in, never made here.

    integrations/{id}  the integration document (CONTRACT.md section 2), as the API shows it
    runs/{id}          one run per incoming message (section 3); its id is the idempotency key

Google's errors leave this module as `StoreError` (retryable), except those that say
something about the document itself: `NotFoundError`, `ConflictError`, or `ConfigError` when
Firestore refuses an integration. A run's payload fields are stored as JSON text, see `RunStore`.
"""

from __future__ import annotations

import base64
import binascii
import functools
import hashlib
import itertools
import json
import re
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from datetime import datetime, timedelta, timezone
from typing import Any

from google.api_core import exceptions as gexc
from google.cloud import firestore
from google.cloud.firestore_v1.base_query import FieldFilter
from google.cloud.firestore_v1.field_path import FieldPath

from .engine.config import format_path
from .errors import (
    ConfigError,
    ConflictError,
    InvalidQueryError,
    NotFoundError,
    Problem,
    StoreError,
)
from .firestore_writes import commit_creates
from .group_commit import GroupCommit
from .json_text import dumps_text
from .pipeline.ports import Claim, held_by_live_lease
from .timestamps import iso_timestamp, now_iso
from .versions import version_record

# A Firestore document holds at most 1 MiB. Four payload fields at this budget, plus the run's
# metadata, stay well under it.
FIELD_LIMIT_BYTES = 200_000
PREVIEW_CHARS = 10_000
# Any other field of a run: text (errorMessage, say) is cut to this many characters, and an
# object or array (incomingHeaders, say) is held to this many bytes of JSON.
TEXT_LIMIT_CHARS = 10_000
OTHER_FIELD_LIMIT_BYTES = 20_000
DEFAULT_PAGE_SIZE = 50
VERSIONS = "versions"  # the subcollection of an integration holding its versions
DEFAULT_RETENTION_DAYS = 30  # runs expire through the TTL policy on `expireAt` (infra/)
MAX_PAGE_SIZE = 200

PAYLOAD_FIELDS = ("incomingPayload", "transformedPayload", "outgoingRequest", "outgoingResponse")
RUN_STATUSES = (
    "queued",
    "delivering",
    "success",
    "error",
    "skipped",
    "partial",
    "retrying",
    "dead_lettered",
)

TERMINAL_STATUSES = frozenset({"success", "error", "skipped", "partial", "dead_lettered"})
CLAIM_TRIES = 5  # reads of a run that keeps changing under a claim before giving up (busy)

SEARCH_FIELD = "searchValues"  # a run's `path=value` strings for ?key= (mapper.pipeline.search)
DURATION_FIELD = "apiCallTimeMs"  # ?min_duration_ms= compares it and lists the slowest first
RUN_FILTER_RULES = (
    "runs filter by integration_id with at most one of status, source_kind, key and "
    "min_duration_ms; since and until combine with all but min_duration_ms"
)

# Composite indexes that `RunStore.list` needs, one per combination of equality filters; a
# `since`/`until` range on createdAt uses the same index. With no equality filter Firestore's
# automatic single-field index on createdAt serves. `__name__` is spelled out because
# Firestore appends it anyway, and Terraform would otherwise see a diff on every plan.
RUN_INDEXES: tuple[tuple[tuple[str, str], ...], ...] = (
    # ?integration_id=
    (("integrationId", "ASCENDING"), ("createdAt", "DESCENDING"), ("__name__", "DESCENDING")),
    # ?status=
    (("status", "ASCENDING"), ("createdAt", "DESCENDING"), ("__name__", "DESCENDING")),
    # ?integration_id=&status=
    (
        ("integrationId", "ASCENDING"),
        ("status", "ASCENDING"),
        ("createdAt", "DESCENDING"),
        ("__name__", "DESCENDING"),
    ),
    # ?source_kind= and ?integration_id=&source_kind=
    (("sourceKind", "ASCENDING"), ("createdAt", "DESCENDING"), ("__name__", "DESCENDING")),
    (
        ("integrationId", "ASCENDING"),
        ("sourceKind", "ASCENDING"),
        ("createdAt", "DESCENDING"),
        ("__name__", "DESCENDING"),
    ),
    # ?key=path:value (array_contains on searchValues), alone or with ?integration_id=
    (("searchValues", "CONTAINS"), ("createdAt", "DESCENDING"), ("__name__", "DESCENDING")),
    (
        ("integrationId", "ASCENDING"),
        ("searchValues", "CONTAINS"),
        ("createdAt", "DESCENDING"),
        ("__name__", "DESCENDING"),
    ),
    # ?integration_id=&min_duration_ms= (slowest first; alone, the single-field index serves)
    (("integrationId", "ASCENDING"), ("apiCallTimeMs", "DESCENDING"), ("__name__", "DESCENDING")),
    # the reconciler: runs in flight whose last change is older than the horizon
    (("status", "ASCENDING"), ("updatedAt", "ASCENDING"), ("__name__", "ASCENDING")),
    # the stats: an integration's stuck runs
    (
        ("integrationId", "ASCENDING"),
        ("status", "ASCENDING"),
        ("updatedAt", "ASCENDING"),
        ("__name__", "ASCENDING"),
    ),
)
# `IntegrationStore.list`'s filters, each combination newest first (GET /api/integrations/).
INTEGRATION_INDEXES: tuple[tuple[tuple[str, str], ...], ...] = tuple(
    tuple((field, "ASCENDING") for field in fields)
    + (("createdAt", "DESCENDING"), ("__name__", "DESCENDING"))
    for size in (1, 2, 3)
    for fields in itertools.combinations(("source.type", "target.type", "active"), size)
)
# Fields no single-field query reads: large text (it would cost index writes) and the lease
# fields; `updatedAt` too, which only the composite indexes above use, so that a busy
# platform's ever-increasing timestamps do not load one single-field index.
RUN_INDEX_EXEMPTIONS = tuple(f"{field}Json" for field in PAYLOAD_FIELDS) + (
    "errorMessage",
    "deliveryId",
    "leaseUntil",
    "updatedAt",
)

_JSON_SUFFIX = "Json"
_RESERVED_NAME = re.compile(r"__.*__")


# --- payload size -------------------------------------------------------------------------


def _json_within(
    value: Any, limit_bytes: int = FIELD_LIMIT_BYTES, preview_chars: int = PREVIEW_CHARS
) -> tuple[str, dict[str, Any] | None]:
    """The JSON text to store for `value`, and the stand-in used when `value` was too large."""
    text = _dumps(value)
    size = len(text.encode("utf-8"))
    if size <= limit_bytes:
        return text, None
    stand_in = {"truncated": True, "size": size, "preview": text[:preview_chars]}
    return _dumps(stand_in), stand_in


def _dumps(value: Any) -> str:
    return dumps_text(value, default=_json_default)


def _json_default(value: Any) -> Any:
    # A body that is not JSON reaches the run record as bytes.
    if isinstance(value, (bytes, bytearray)):
        return bytes(value).decode("utf-8", errors="replace")
    raise TypeError(f"{type(value).__name__} cannot be stored in a run record")


# --- integrations -------------------------------------------------------------------------


class IntegrationStore:
    """The `integrations` collection: documents in the contract's camelCase shape."""

    def __init__(self, client: firestore.Client, collection: str = "integrations") -> None:
        self._client = client
        self._collection = client.collection(collection)

    def _versions(self, integration_id: str) -> Any:
        # integrations/{id}/versions/{n}: one immutable document per save (mapper.versions).
        return self._collection.document(integration_id).collection(VERSIONS)

    def get(self, integration_id: str) -> dict[str, Any] | None:
        """The integration with this id, or None."""
        if not is_valid_document_id(integration_id):
            return None
        with _store_errors("read an integration"):
            snapshot = self._collection.document(integration_id).get()
        return _integration(snapshot) if snapshot.exists else None

    def find_by_field(self, field: str, value: Any) -> dict[str, Any] | None:
        """The first integration whose `field` (a dotted path) equals `value`, or None."""
        query = self._collection.where(filter=FieldFilter(field, "==", value)).limit(1)
        with _store_errors("query integrations"):
            snapshots = list(query.stream())
        return _integration(snapshots[0]) if snapshots else None

    def list_where(self, field: str, value: Any) -> list[dict[str, Any]]:
        """Every integration whose `field` (a dotted path such as `source.mode`) equals `value`."""
        query = self._collection.where(filter=FieldFilter(field, "==", value))
        with _store_errors("query integrations"):
            return [_integration(snapshot) for snapshot in query.stream()]

    def list(
        self,
        limit: int = DEFAULT_PAGE_SIZE,
        cursor: str | None = None,
        *,
        source_type: str | None = None,
        target_type: str | None = None,
        active: bool | None = None,
    ) -> tuple[list[dict[str, Any]], str | None]:
        """One page of integrations, newest first, and the cursor of the next page (or None).

        The filters combine freely: INTEGRATION_INDEXES holds an index for each combination.
        """
        query: Any = self._collection
        for field, value in (("source.type", source_type), ("target.type", target_type),
                             ("active", active)):
            if value is not None:
                query = query.where(filter=FieldFilter(field, "==", value))
        snapshots, next_cursor = _page(query, limit, cursor)
        return [_integration(snapshot) for snapshot in snapshots], next_cursor

    def create(self, doc: dict[str, Any]) -> dict[str, Any]:
        """Store a new integration, setting `id` (unless given), timestamps and `version` 1."""
        integration_id = doc.get("id") or uuid.uuid4().hex
        if not is_valid_document_id(integration_id):
            raise ConfigError([Problem("id", "not usable as a document id")])
        now = now_iso()
        data = {**doc, "id": integration_id, "createdAt": now, "updatedAt": now, "version": 1}
        _check_storable(_stored(data))
        batch = self._client.batch()  # the document and its version 1, both or neither
        batch.create(self._collection.document(integration_id), _stored(data))
        batch.create(
            self._versions(integration_id).document("1"), _stored_version(data, None)
        )
        with _store_errors("create an integration"):
            try:
                batch.commit()
            except gexc.AlreadyExists as exc:
                raise ConflictError(f"integration {integration_id} already exists") from exc
            except gexc.InvalidArgument as exc:
                raise _refused(exc) from exc
        return data

    def replace(
        self,
        integration_id: str,
        doc: dict[str, Any],
        expected_version: int | None = None,
        note: str | None = None,
    ) -> dict[str, Any]:
        """Replace the whole document, keeping `createdAt`, bumping `version`, keeping a version.

        `note` starts the version's summary (e.g. "rollback to version 3").

        Raises `NotFoundError` if it does not exist, `ConflictError` if `expected_version`
        is given and differs from the stored one.
        """
        if not is_valid_document_id(integration_id):
            raise NotFoundError(f"no integration {integration_id}")
        _check_storable(_stored(doc))
        ref = self._collection.document(integration_id)

        @firestore.transactional
        def replace_in(transaction: firestore.Transaction) -> dict[str, Any]:
            snapshot = ref.get(transaction=transaction)
            if not snapshot.exists:
                raise NotFoundError(f"no integration {integration_id}")
            current = _integration(snapshot)
            version = int(current.get("version") or 0)
            if expected_version is not None and version != expected_version:
                raise ConflictError(
                    f"integration {integration_id} is at version {version}, "
                    f"not {expected_version}; read it again"
                )
            now = now_iso()
            data = {
                **doc,
                "id": integration_id,
                "createdAt": current.get("createdAt", now),
                "updatedAt": now,
                "version": version + 1,
            }
            transaction.set(ref, _stored(data))
            record = _stored_version(data, current, note)
            transaction.set(self._versions(integration_id).document(str(version + 1)), record)
            return data

        with _store_errors("replace an integration"):
            try:
                return replace_in(self._client.transaction())
            except gexc.InvalidArgument as exc:
                raise _refused(exc) from exc

    def update_fields(self, integration_id: str, fields: dict[str, Any]) -> dict[str, Any]:
        """Set some top-level fields, bump `version`, keep a version; the updated integration."""
        if not is_valid_document_id(integration_id):
            raise NotFoundError(f"no integration {integration_id}")
        _check_storable(_stored(fields))
        ref = self._collection.document(integration_id)

        # A transaction, not a server-side increment: the version document needs the number.
        @firestore.transactional
        def update_in(transaction: firestore.Transaction) -> dict[str, Any]:
            snapshot = ref.get(transaction=transaction)
            if not snapshot.exists:
                raise NotFoundError(f"no integration {integration_id}")
            current = _integration(snapshot)
            version = int(current.get("version") or 0) + 1
            data = {**current, **fields, "updatedAt": now_iso(), "version": version}
            transaction.set(ref, _stored(data))
            record = _stored_version(data, current)
            transaction.set(self._versions(integration_id).document(str(version)), record)
            return data

        with _store_errors("update an integration"):
            try:
                return update_in(self._client.transaction())
            except gexc.InvalidArgument as exc:
                raise _refused(exc) from exc

    def delete(self, integration_id: str) -> bool:
        """Delete the integration; False if there was none."""
        if not is_valid_document_id(integration_id):
            return False
        option = self._client.write_option(exists=True)
        with _store_errors("delete an integration"):
            try:
                self._collection.document(integration_id).delete(option=option)
            except gexc.NotFound:
                return False
            # Firestore keeps a subcollection of a deleted document: delete the versions too.
            while True:
                refs = [s.reference for s in self._versions(integration_id).limit(400).stream()]
                if not refs:
                    break
                batch = self._client.batch()
                for version_ref in refs:
                    batch.delete(version_ref)
                batch.commit()
        return True

    def list_versions(
        self, integration_id: str, limit: int = DEFAULT_PAGE_SIZE, before: int | None = None
    ) -> list[dict[str, Any]]:
        """Up to `limit` versions (version, savedAt, summary), newest first, below `before`."""
        if not is_valid_document_id(integration_id):
            return []
        query: Any = self._versions(integration_id)
        if before is not None:
            query = query.where(filter=FieldFilter("version", "<", before))
        query = query.order_by("version", direction=firestore.Query.DESCENDING).limit(limit)
        query = query.select(["version", "savedAt", "summary"])
        with _store_errors("list versions"):
            return [snapshot.to_dict() or {} for snapshot in query.stream()]

    def get_version(self, integration_id: str, version: int) -> dict[str, Any] | None:
        """One version (version, savedAt, summary, document), or None."""
        if not is_valid_document_id(integration_id):
            return None
        with _store_errors("read a version"):
            snapshot = self._versions(integration_id).document(str(version)).get()
        if not snapshot.exists:
            return None
        record = snapshot.to_dict() or {}
        if isinstance(record.get("document"), dict):
            record["document"] = _read(record["document"])
        return record


def _refused(exc: gexc.InvalidArgument) -> ConfigError:
    # Too large, too deep: nothing a retry would change.
    return ConfigError([Problem("", f"Firestore refused the document: {exc.message}")])


def _integration(snapshot: Any) -> dict[str, Any]:
    data = _read(snapshot.to_dict() or {})
    data.setdefault("id", snapshot.id)
    return data


# An integration's sample payload is kept as JSON text (`samplePayloadJson`): Firestore
# gives a map back with its keys sorted, and the sample must read as the user wrote it.
# A sample stored as a map before this still reads as one.
_SAMPLE = "samplePayload"


def _stored(doc: dict[str, Any]) -> dict[str, Any]:
    if _SAMPLE not in doc:
        return doc
    stored = {key: value for key, value in doc.items() if key != _SAMPLE}
    stored[_SAMPLE + _JSON_SUFFIX] = _dumps(doc[_SAMPLE])
    return stored


def _read(data: dict[str, Any]) -> dict[str, Any]:
    text = data.pop(_SAMPLE + _JSON_SUFFIX, None)
    if isinstance(text, str):
        data[_SAMPLE] = json.loads(text)
    return data


def _stored_version(
    data: dict[str, Any], current: dict[str, Any] | None, note: str | None = None
) -> dict[str, Any]:
    record = version_record(data, current, note)
    return {**record, "document": _stored(record["document"])}


def _check_storable(doc: dict[str, Any]) -> None:
    problems = list(_unstorable(doc, []))
    if problems:
        raise ConfigError(problems)


def _unstorable(value: Any, parts: list[str | int]) -> Iterator[Problem]:
    """What Firestore would refuse: arrays directly in arrays, empty or reserved keys."""
    if isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, str) or not key or _RESERVED_NAME.fullmatch(key):
                yield Problem(
                    format_path([*parts, str(key)]),
                    "keys must be non-empty text and not of the form __name__",
                )
            else:
                yield from _unstorable(item, [*parts, key])
    elif isinstance(value, list):
        for index, item in enumerate(value):
            if isinstance(item, list):
                yield Problem(
                    format_path([*parts, index]),
                    "an array directly inside an array cannot be stored; wrap it in an object",
                )
            else:
                yield from _unstorable(item, [*parts, index])


# --- runs ---------------------------------------------------------------------------------


class RunStore:
    """The `runs` collection; a run's id is its idempotency key.

    Runs hold whatever senders and targets produced, and Firestore refuses some JSON outright
    (an array directly inside an array, an empty key, a key like `__x__`) and indexes every
    nested field of a map. So each payload field, and any other field holding an object or
    array, is stored as JSON text in `<field>Json`, cut to a size budget, and decoded on the
    way out: callers only ever see plain values. No query reads inside them.
    """

    def __init__(
        self,
        client: firestore.Client,
        collection: str = "runs",
        retention: timedelta | None = timedelta(days=DEFAULT_RETENTION_DAYS),
    ) -> None:
        self._client = client
        self._collection = client.collection(collection)
        self._retention = retention
        # Runs created at once by concurrent requests share commits (mapper.group_commit).
        self._creates = GroupCommit(functools.partial(commit_creates, client))

    def create(self, run: dict[str, Any]) -> bool:
        """Store a new run under `run["id"]`; False (and nothing written) if it exists already."""
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
        with _store_errors("create a run"):
            return self._creates.create(self._collection.document(run_id), _encode_run(data))

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
        _check_status(fields.get("status"))
        updates: dict[str, Any] = {}
        for key, value in _encode_run({**fields, "updatedAt": now_iso()}).items():
            plain = key.removesuffix(_JSON_SUFFIX)
            # A field that went from null to an object, or back, must not keep its old form.
            other = plain + _JSON_SUFFIX if key == plain else plain
            # Field names are quoted, so a key with a dot stays one top-level field.
            updates[FieldPath(other).to_api_repr()] = firestore.DELETE_FIELD
            updates[FieldPath(key).to_api_repr()] = value
        return updates

    def mark(self, run_id: str, status: str, **fields: Any) -> None:
        """Set the run's `status`, and any other fields given."""
        self.update(run_id, {**fields, "status": status})

    def claim(self, run_id: str, delivery_id: str, lease_s: float) -> Claim:
        """Take the run for one delivery: one read, then one write conditional on that read.

        The write counts the attempt (a server-side increment), marks the run `delivering`
        and holds a lease until now + `lease_s`. It is conditional on the document being as
        it was read, so two deliveries racing for the same run cannot both claim it: the
        loser reads again and finds the lease. The write's time is the claim's token, which
        `finish` requires, so only the lease holder records the outcome.
        """
        ref = self._collection.document(run_id) if is_valid_document_id(run_id) else None
        if ref is None:
            return Claim("missing")
        for _ in range(CLAIM_TRIES):
            with _store_errors("read a run"):
                snapshot = ref.get()
            if not snapshot.exists:
                return Claim("missing")
            run = _decode_run(snapshot)
            if run.get("status") in TERMINAL_STATUSES:
                return Claim("done", run)
            now = datetime.now(timezone.utc)
            if held_by_live_lease(run, iso_timestamp(now)):
                return Claim("busy", run)
            until = iso_timestamp(now + timedelta(seconds=lease_s))
            updates = {
                "status": "delivering",
                "deliveryId": delivery_id,
                "leaseUntil": until,
                "attempts": firestore.Increment(1),
                "updatedAt": iso_timestamp(now),
            }
            option = self._client.write_option(last_update_time=snapshot.update_time)
            with _store_errors("claim a run"):
                try:
                    result = ref.update(updates, option=option)
                except gexc.FailedPrecondition:
                    continue  # changed since it was read: look again
            run.update(status="delivering", deliveryId=delivery_id, leaseUntil=until)
            run["attempts"] = result.transform_results[0].integer_value
            return Claim("claimed", run, token=result.update_time)
        return Claim("busy")

    def finish(
        self, run_id: str, claim: Claim, status: str, fields: Mapping[str, Any]
    ) -> bool:
        """Record the outcome of a claimed delivery; False if the run changed since the claim.

        A run changes under its lease holder only once the lease has expired and another
        delivery (or the reconciler) took it over: then this outcome is not written.
        """
        _check_status(status)
        released = {**fields, "status": status, "deliveryId": None, "leaseUntil": None}
        updates = self._updates(released)
        option = self._client.write_option(last_update_time=claim.token)
        with _store_errors("record a run's outcome"):
            try:
                self._collection.document(run_id).update(updates, option=option)
            except (gexc.FailedPrecondition, gexc.NotFound):
                return False
        return True

    def end_unless_leased(self, run_id: str, status: str, fields: Mapping[str, Any]) -> str:
        """End a run that no live lease holds (dead letter, lost, a mapping that failed).

        Returns the run's status afterwards: `status` if this call ended it, else the status
        it keeps (already ended, or held by a live delivery), or "missing".
        """
        ref = self._collection.document(run_id) if is_valid_document_id(run_id) else None
        if ref is None:
            return "missing"
        for _ in range(CLAIM_TRIES):
            with _store_errors("read a run"):
                snapshot = ref.get()
            if not snapshot.exists:
                return "missing"
            current = snapshot.get("status")
            if current in TERMINAL_STATUSES or held_by_live_lease(snapshot.to_dict(), now_iso()):
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
        return "delivering"

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
    ) -> tuple[list[dict[str, Any]], str | None]:
        """One page of runs, newest first, and the next page's cursor (None on the last page).

        `since` is inclusive and `until` exclusive, both compared with `createdAt`. `key` is a
        search value (`path=value`, see `mapper.pipeline.search`). Filters combine as
        `RUN_FILTER_RULES` says; `min_duration_ms` lists the slowest first instead.
        """
        query = self._filtered(integration_id, status, statuses, source_kind, key, since, until)
        if min_duration_ms is not None:
            if since is not None or until is not None:
                raise InvalidQueryError(RUN_FILTER_RULES)
            query = query.where(filter=FieldFilter("apiCallTimeMs", ">=", min_duration_ms))
            snapshots, next_cursor = _page(query, limit, cursor, DURATION_FIELD)
        else:
            snapshots, next_cursor = _page(query, limit, cursor)
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


def _encode_run(run: dict[str, Any]) -> dict[str, Any]:
    data: dict[str, Any] = {}
    for key, value in run.items():
        if key.endswith(_JSON_SUFFIX):
            raise ValueError(f"run field {key!r} would be mistaken for a stored JSON field")
        if key in PAYLOAD_FIELDS:
            data[key + _JSON_SUFFIX], _ = _json_within(value)
        elif key == SEARCH_FIELD and isinstance(value, list):
            data[key] = [str(item) for item in value]  # queried (array_contains): kept native
        elif isinstance(value, (dict, list)):
            data[key + _JSON_SUFFIX], _ = _json_within(value, OTHER_FIELD_LIMIT_BYTES)
        elif isinstance(value, str) and len(value) > TEXT_LIMIT_CHARS:
            data[key] = value[:TEXT_LIMIT_CHARS] + " ... (truncated)"
        else:
            data[key] = value
    return data


def _decode_run(snapshot: Any) -> dict[str, Any]:
    run: dict[str, Any] = {}
    for key, value in (snapshot.to_dict() or {}).items():
        if key.endswith(_JSON_SUFFIX) and isinstance(value, str):
            run[key.removesuffix(_JSON_SUFFIX)] = json.loads(value)
        elif isinstance(value, datetime):
            run[key] = iso_timestamp(value)
        else:
            run[key] = value
    run.setdefault("id", snapshot.id)
    return run


def _check_status(status: Any) -> None:
    if status is not None and status not in RUN_STATUSES:
        raise ValueError(f"unknown run status {status!r}; expected one of {RUN_STATUSES}")


def _bound(name: str, value: datetime | str) -> str:
    try:
        return iso_timestamp(value)
    except (TypeError, ValueError) as exc:
        raise InvalidQueryError(f"{name} must be an ISO-8601 date or time") from exc


# --- shared -------------------------------------------------------------------------------


def is_valid_document_id(value: Any) -> bool:
    """Tell whether `value` can name a Firestore document (else nothing can be stored under it)."""
    return (
        isinstance(value, str)
        and 0 < len(value.encode("utf-8")) <= 1500
        and "/" not in value
        and value not in (".", "..")
        and not _RESERVED_NAME.fullmatch(value)
    )


def _page(
    query: Any, limit: int, cursor: str | None, field: str = "createdAt"
) -> tuple[list[Any], str | None]:
    """Newest (or largest) first by `field`, ties broken by document id: each shows once."""
    if not isinstance(limit, int) or limit < 1:
        raise InvalidQueryError("limit must be a whole number of at least 1")
    limit = min(limit, MAX_PAGE_SIZE)
    query = query.order_by(field, direction=firestore.Query.DESCENDING).order_by(
        FieldPath.document_id(), direction=firestore.Query.DESCENDING
    )
    if cursor:
        value, doc_id = _decode_cursor(cursor)
        if isinstance(value, str) != (field == "createdAt"):
            raise InvalidQueryError("cursor is not one this API returned for these filters")
        query = query.start_after({field: value, FieldPath.document_id(): doc_id})
    # One more than asked tells whether another page follows without a second query.
    with _store_errors("list documents"):
        snapshots = list(query.limit(limit + 1).stream())
    if len(snapshots) <= limit:
        return snapshots, None
    last = snapshots[limit - 1]
    return snapshots[:limit], _encode_cursor(last.get(field), last.id)


def _encode_cursor(created_at: str | float, doc_id: str) -> str:
    raw = json.dumps([created_at, doc_id], separators=(",", ":")).encode("utf-8")
    return base64.urlsafe_b64encode(raw).decode("ascii").rstrip("=")


def _decode_cursor(cursor: str) -> tuple[str | float, str]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        created_at, doc_id = json.loads(raw)
    except (binascii.Error, ValueError, TypeError) as exc:
        raise InvalidQueryError("cursor is not one this API returned") from exc
    ordered_by = (str, int, float)  # createdAt, or apiCallTimeMs (slowest first)
    if (
        not isinstance(created_at, ordered_by)
        or isinstance(created_at, bool)
        or not is_valid_document_id(doc_id)
    ):
        raise InvalidQueryError("cursor is not one this API returned")
    return created_at, doc_id


@contextmanager
def _store_errors(action: str) -> Iterator[None]:
    """Turn Google's errors into `StoreError`, keeping the original as the cause."""
    try:
        yield
    except gexc.GoogleAPIError as exc:
        raise StoreError(f"Firestore could not {action}: {exc}") from exc
    except ValueError as exc:
        # A transaction that keeps aborting ends as a ValueError wrapping Google's error.
        if isinstance(exc.__cause__, gexc.GoogleAPIError):
            raise StoreError(f"Firestore could not {action}: {exc}") from exc
        raise


# --- pull state ---------------------------------------------------------------------------


class PullStateStore:
    """The `pullState` collection: when each pull integration was last drained, and how it went.

    Kept apart from the integration document so that draining never bumps its `version`.
    """

    def __init__(self, client: firestore.Client, collection: str = "pullState") -> None:
        self._client = client
        self._collection = client.collection(collection)

    def get_many(self, integration_ids: list[str]) -> dict[str, dict[str, Any]]:
        """The state of each integration that has one, by id."""
        refs = [self._collection.document(i) for i in integration_ids if is_valid_document_id(i)]
        if not refs:
            return {}
        with _store_errors("read pull state"):
            return {s.id: s.to_dict() or {} for s in self._client.get_all(refs) if s.exists}

    def record(self, integration_id: str, fields: dict[str, Any]) -> None:
        """Merge `fields` into the integration's state."""
        with _store_errors("record pull state"):
            self._collection.document(integration_id).set(fields, merge=True)


# --- refused signatures -------------------------------------------------------------------

SIGNATURE_WINDOW_S = 3600  # one marker per integration and hour


class SignInFailureStore:
    """The `signInFailures` collection: failed API sign-ins per client address and window.

    Every api instance counts here, so that an address cannot get the failure limit again on
    each instance it reaches (mapper.access). One small document per address and window,
    named by a hash of the address (never the address itself, nor what was presented);
    expired by the TTL policy on `expireAt` a day later.
    """

    def __init__(
        self,
        client: firestore.Client,
        collection: str = "signInFailures",
        retention: timedelta = timedelta(days=1),
    ) -> None:
        self._client = client
        self._collection = client.collection(collection)
        self._retention = retention

    def add(self, address: str, window: int) -> None:
        """Count one failure of `address` in `window` (a window's number since the epoch)."""
        data = {
            "window": window,
            "count": firestore.Increment(1),
            "expireAt": datetime.now(timezone.utc) + self._retention,
        }
        with _store_errors("count a failed sign-in"):
            self._collection.document(_sign_in_doc_id(address, window)).set(data, merge=True)

    def count(self, address: str, windows: Iterable[int]) -> int:
        """Failures of `address` in these windows, counted by every instance."""
        refs = [self._collection.document(_sign_in_doc_id(address, w)) for w in windows]
        with _store_errors("read failed sign-ins"):
            found = self._client.get_all(refs)
            return sum(int((s.to_dict() or {}).get("count") or 0) for s in found if s.exists)


def _sign_in_doc_id(address: str, window: int) -> str:
    return f"{hashlib.sha256(address.encode()).hexdigest()[:32]}.{window}"


class SignatureFailureStore:
    """The `signatureFailures` collection: refused webhook signatures, counted per window.

    A request with a bad signature is not the sender's message (anyone who learned the URL
    can send one), so it is not kept as a run: each refusal adds one to its integration's
    marker for the hour (count, first and last seen, the latest headers and reason). A
    flood therefore costs one small document per integration and hour, not a run each.
    """

    def __init__(
        self,
        client: firestore.Client,
        collection: str = "signatureFailures",
        retention: timedelta | None = timedelta(days=DEFAULT_RETENTION_DAYS),
    ) -> None:
        self._collection = client.collection(collection)
        self._retention = retention

    def count(self, integration_id: str, headers: Mapping[str, str], reason: str) -> None:
        """Add one refusal to this hour's marker (best effort: never fails the request)."""
        now = datetime.now(timezone.utc)
        window = int(now.timestamp()) // SIGNATURE_WINDOW_S * SIGNATURE_WINDOW_S
        data: dict[str, Any] = {
            "integrationId": integration_id,
            "windowStart": window,
            "count": firestore.Increment(1),
            "firstSeen": firestore.Minimum(now.timestamp()),
            "lastSeen": firestore.Maximum(now.timestamp()),
            "reason": reason[:TEXT_LIMIT_CHARS],
            "sampleHeadersJson": _json_within(dict(headers), OTHER_FIELD_LIMIT_BYTES)[0],
        }
        if self._retention is not None:
            data["expireAt"] = now + self._retention
        doc_id = f"{integration_id}.{window}"
        if not is_valid_document_id(doc_id):
            return
        try:
            self._collection.document(doc_id).set(data, merge=True)
        except gexc.GoogleAPIError:
            pass  # counting is best effort: the sender still gets its 401

    def latest(self, integration_id: str) -> dict[str, Any] | None:
        """The integration's most recent marker, as the API shows it, or None."""
        query = (
            self._collection.where(filter=FieldFilter("integrationId", "==", integration_id))
            .order_by("windowStart", direction=firestore.Query.DESCENDING)
            .limit(1)
        )
        with _store_errors("read signature failures"):
            found = list(query.stream())
        if not found:
            return None
        data = found[0].to_dict() or {}
        return {
            "count": int(data.get("count") or 0),
            "firstSeenAt": _from_epoch(data.get("firstSeen")),
            "lastSeenAt": _from_epoch(data.get("lastSeen")),
            "reason": data.get("reason"),
            "sampleHeaders": json.loads(data.get("sampleHeadersJson") or "{}"),
        }


def _from_epoch(value: Any) -> str | None:
    if not isinstance(value, (int, float)):
        return None
    return iso_timestamp(datetime.fromtimestamp(value, tz=timezone.utc))


# --- API keys -----------------------------------------------------------------------------


class KeyStore:
    """The `apiKeys` collection: one document per API key, holding its hash, never the key.

    Revoking deletes the document, so that every lookup of the key finds nothing from then on.
    """

    def __init__(self, client: firestore.Client, collection: str = "apiKeys") -> None:
        self._client = client
        self._collection = client.collection(collection)

    def get(self, key_id: str) -> dict[str, Any] | None:
        """The key's record, or None."""
        if not is_valid_document_id(key_id):
            return None
        with _store_errors("read an API key"):
            snapshot = self._collection.document(key_id).get()
        return _integration(snapshot) if snapshot.exists else None

    def create(self, record: dict[str, Any]) -> dict[str, Any]:
        """Store a new key record under `record["id"]`."""
        with _store_errors("create an API key"):
            try:
                self._collection.document(record["id"]).create(record)
            except gexc.AlreadyExists as exc:
                raise ConflictError(f"API key {record['id']} already exists") from exc
        return record

    def list(
        self, limit: int = DEFAULT_PAGE_SIZE, cursor: str | None = None
    ) -> tuple[list[dict[str, Any]], str | None]:
        """One page of key records, newest first, and the next page's cursor (or None)."""
        snapshots, next_cursor = _page(self._collection, limit, cursor)
        return [_integration(snapshot) for snapshot in snapshots], next_cursor

    def delete(self, key_id: str) -> bool:
        """Delete the key's record; False if there was none."""
        if not is_valid_document_id(key_id):
            return False
        with _store_errors("delete an API key"):
            try:
                option = self._client.write_option(exists=True)
                self._collection.document(key_id).delete(option=option)
            except gexc.NotFound:
                return False
        return True

    def touch(self, key_id: str, last_used_at: str) -> None:
        """Set `lastUsedAt` (best effort: a key revoked meanwhile is not brought back)."""
        if not is_valid_document_id(key_id):
            return
        try:
            self._collection.document(key_id).update({"lastUsedAt": last_used_at})
        except gexc.GoogleAPIError:
            pass  # a missed lastUsedAt costs nothing; the request it came with goes on


# --- the audit log ------------------------------------------------------------------------

DEFAULT_AUDIT_RETENTION_DAYS = 365  # audit entries expire through the TTL policy on expireAt
AUDIT_DIFF_LIMIT_BYTES = 400_000  # a larger diff is kept as a truncated preview
# `AuditStore.list` filters by integration, by key, or both, newest first: one composite
# index per combination (a since/until range on createdAt uses the same index).
AUDIT_INDEXES: tuple[tuple[tuple[str, str], ...], ...] = (
    (("integrationId", "ASCENDING"), ("createdAt", "DESCENDING"), ("__name__", "DESCENDING")),
    (("actorKeyId", "ASCENDING"), ("createdAt", "DESCENDING"), ("__name__", "DESCENDING")),
    (
        ("actorKeyId", "ASCENDING"),
        ("integrationId", "ASCENDING"),
        ("createdAt", "DESCENDING"),
        ("__name__", "DESCENDING"),
    ),
)
AUDIT_INDEX_EXEMPTIONS = ("diffJson", "detailsJson")


class AuditStore:
    """The `auditLog` collection: one entry per change made through the API.

    The diff and the details hold any JSON, so they are stored as JSON text (as a run's
    payloads are, see `RunStore`) and decoded on the way out.
    """

    def __init__(
        self,
        client: firestore.Client,
        collection: str = "auditLog",
        retention: timedelta | None = timedelta(days=DEFAULT_AUDIT_RETENTION_DAYS),
    ) -> None:
        self._collection = client.collection(collection)
        self._retention = retention

    def add(self, entry: dict[str, Any]) -> dict[str, Any]:
        """Store a new entry (its `id` and `createdAt` set by the caller); the entry."""
        data = {k: v for k, v in entry.items() if k not in ("diff", "details")}
        data["diffJson"], _ = _json_within(entry.get("diff", []), AUDIT_DIFF_LIMIT_BYTES)
        if entry.get("details") is not None:
            data["detailsJson"], _ = _json_within(entry["details"], OTHER_FIELD_LIMIT_BYTES)
        if self._retention is not None:
            data["expireAt"] = datetime.now(timezone.utc) + self._retention
        with _store_errors("record an audit entry"):
            self._collection.document(entry["id"]).create(data)
        return entry

    def list(
        self,
        integration_id: str | None = None,
        key_id: str | None = None,
        since: datetime | str | None = None,
        until: datetime | str | None = None,
        limit: int = DEFAULT_PAGE_SIZE,
        cursor: str | None = None,
    ) -> tuple[list[dict[str, Any]], str | None]:
        """One page of entries, newest first (`since` inclusive, `until` exclusive)."""
        query: Any = self._collection
        if integration_id is not None:
            query = query.where(filter=FieldFilter("integrationId", "==", integration_id))
        if key_id is not None:
            query = query.where(filter=FieldFilter("actorKeyId", "==", key_id))
        if since is not None:
            query = query.where(filter=FieldFilter("createdAt", ">=", _bound("since", since)))
        if until is not None:
            query = query.where(filter=FieldFilter("createdAt", "<", _bound("until", until)))
        snapshots, next_cursor = _page(query, limit, cursor)
        return [_decode_run(snapshot) for snapshot in snapshots], next_cursor


# --- redrive jobs -------------------------------------------------------------------------


class RedriveJobStore:
    """The `redriveJobs` collection: one document per bulk redrive (mapper.redrive).

    A job holds its filter, its progress and a cursor into the runs it resends. Each task
    advances it by one batch, conditionally on the batch count it read, so that two
    deliveries of the same task never both count (or continue) the same batch.
    """

    def __init__(
        self,
        client: firestore.Client,
        collection: str = "redriveJobs",
        retention: timedelta | None = timedelta(days=DEFAULT_RETENTION_DAYS),
    ) -> None:
        self._client = client
        self._collection = client.collection(collection)
        self._retention = retention

    def create(self, job: dict[str, Any]) -> None:
        """Store a new job under `job["id"]`."""
        data = dict(job)
        if self._retention is not None:
            data["expireAt"] = datetime.now(timezone.utc) + self._retention
        with _store_errors("create a redrive job"):
            self._collection.document(job["id"]).create(data)

    def get(self, job_id: str) -> dict[str, Any] | None:
        """The job, or None."""
        if not is_valid_document_id(job_id):
            return None
        with _store_errors("read a redrive job"):
            snapshot = self._collection.document(job_id).get()
        return _job(snapshot) if snapshot.exists else None

    def list(
        self, limit: int = DEFAULT_PAGE_SIZE, cursor: str | None = None
    ) -> tuple[list[dict[str, Any]], str | None]:
        """One page of jobs, newest first, and the next page's cursor (or None)."""
        snapshots, next_cursor = _page(self._collection, limit, cursor)
        return [_job(snapshot) for snapshot in snapshots], next_cursor

    def advance(self, job_id: str, batches_read: int, fields: dict[str, Any]) -> bool:
        """Set `fields` and count one more batch, if the job is still at `batches_read`."""
        return self._update_if(
            job_id,
            lambda job: job.get("batches") == batches_read,
            {**fields, "batches": batches_read + 1},
            "advance a redrive job",
        )

    def running(self, limit: int) -> list[dict[str, Any]]:
        """Up to `limit` jobs still `running` (the reconciler looks for stalled ones)."""
        query = self._collection.where(filter=FieldFilter("state", "==", "running")).limit(limit)
        with _store_errors("list running redrive jobs"):
            return [_job(snapshot) for snapshot in query.stream()]

    def touch(self, job_id: str, seen_updated_at: str, fields: dict[str, Any]) -> bool:
        """Set `fields` on a running job read at `seen_updated_at`; False if it changed since."""
        return self._update_if(
            job_id,
            lambda job: job.get("state") == "running" and job.get("updatedAt") == seen_updated_at,
            fields,
            "update a redrive job",
        )

    def _update_if(
        self,
        job_id: str,
        still: Callable[[dict[str, Any]], bool],
        fields: dict[str, Any],
        doing: str,
    ) -> bool:
        """Set `fields` (and `updatedAt`) in one transaction if the job is `still` as read."""
        ref = self._collection.document(job_id)

        @firestore.transactional
        def update_in(transaction: firestore.Transaction) -> bool:
            snapshot = ref.get(transaction=transaction)
            if not snapshot.exists or not still(snapshot.to_dict() or {}):
                return False
            transaction.update(ref, {**fields, "updatedAt": now_iso()})
            return True

        with _store_errors(doing):
            return update_in(self._client.transaction())


def _job(snapshot: Any) -> dict[str, Any]:
    """A stored job as the redriver reads it (the TTL field left out)."""
    job = snapshot.to_dict() or {}
    job.pop("expireAt", None)
    return job
