"""The team's records: API keys, the audit log, and failed sign-ins per address."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from datetime import datetime, timedelta, timezone
from typing import Any

from google.api_core import exceptions as gexc
from google.cloud import firestore
from google.cloud.firestore_v1.base_query import FieldFilter

from ..errors import (
    ConflictError,
)
from .common import (
    DEFAULT_PAGE_SIZE,
    OTHER_FIELD_LIMIT_BYTES,
    _integration,
    _json_within,
    _page,
    _store_errors,
    is_valid_document_id,
)
from .runs import _bound, _decode_run


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
