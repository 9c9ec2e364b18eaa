"""The platform's own bookkeeping: pull state, refused-signature markers, redrive jobs."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta, timezone
from typing import Any

from google.api_core import exceptions as gexc
from google.cloud import firestore
from google.cloud.firestore_v1.base_query import FieldFilter

from ..timestamps import epoch_iso, now_iso
from .common import (
    DEFAULT_PAGE_SIZE,
    DEFAULT_RETENTION_DAYS,
    OTHER_FIELD_LIMIT_BYTES,
    TEXT_LIMIT_CHARS,
    _json_within,
    _page,
    _store_errors,
    is_valid_document_id,
)

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
    return epoch_iso(value)


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
