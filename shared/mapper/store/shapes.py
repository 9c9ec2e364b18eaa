"""sourceShapes/{integration id} and dedupeKeys/{key}: what `source_schema` and
`source.dedupe` keep (mapper.pipeline.shape, mapper.pipeline.dedupe)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from typing import Any

from google.api_core import exceptions as gexc
from google.cloud import firestore
from google.cloud.firestore_v1.base_query import FieldFilter

from ..timestamps import now_iso
from .common import _store_errors, is_valid_document_id


class SourceShapeStore:
    """One document per integration: the merged shape of its accepted payloads."""

    def __init__(self, client: firestore.Client, collection: str = "sourceShapes") -> None:
        self._client = client
        self._collection = client.collection(collection)

    def get(self, integration_id: str) -> dict[str, Any] | None:
        """The stored shape, or None."""
        if not is_valid_document_id(integration_id):
            return None
        with _store_errors("read a source shape"):
            snapshot = self._collection.document(integration_id).get()
        return snapshot.to_dict() if snapshot.exists else None

    def update(
        self,
        integration_id: str,
        change: Callable[[dict[str, Any] | None], dict[str, Any]],
    ) -> tuple[dict[str, Any] | None, dict[str, Any]]:
        """Replace the shape with `change(stored)` in a transaction; (before, after)."""
        ref = self._collection.document(integration_id)

        @firestore.transactional
        def update_in(transaction: firestore.Transaction) -> tuple[Any, dict[str, Any]]:
            snapshot = ref.get(transaction=transaction)
            before = snapshot.to_dict() if snapshot.exists else None
            after = {**change(before), "updatedAt": now_iso()}
            transaction.set(ref, after)
            return before, after

        with _store_errors("record a source shape"):
            return update_in(self._client.transaction())

    def delete(self, integration_id: str) -> None:
        """Forget an integration's shape (it was deleted)."""
        if is_valid_document_id(integration_id):
            with _store_errors("delete a source shape"):
                self._collection.document(integration_id).delete()

    def pending_drift(self, limit: int) -> list[str]:
        """Integrations whose shape holds drift notices not yet taken (at most `limit`)."""
        query = (
            self._collection.where(filter=FieldFilter("driftPending", "==", True))
            .select(["driftPending"])  # not the paths: the ids are all the tick needs
            .limit(limit)
        )
        with _store_errors("list source drift to notify"):
            return [snapshot.id for snapshot in query.stream()]

    def take_drift(self, integration_id: str, window: int) -> dict[str, Any] | None:
        """Take the drift notices (`{"drift", "more"}`), clearing them in the same
        transaction; None when there are none, or some were already taken in `window`."""
        if not is_valid_document_id(integration_id):
            return None
        ref = self._collection.document(integration_id)

        @firestore.transactional
        def take_in(transaction: firestore.Transaction) -> dict[str, Any] | None:
            snapshot = ref.get(transaction=transaction)
            shape = snapshot.to_dict() if snapshot.exists else None
            if not shape or not shape.get("driftPending"):
                return None
            if shape.get("driftNotifiedWindow") == window:
                return None  # one notification a minute: the next tick takes these
            transaction.update(ref, {
                "driftNotices": [], "driftNoticesMore": 0, "driftPending": False,
                "driftNotifiedWindow": window,
            })
            return {
                "drift": list(shape.get("driftNotices") or []),
                "more": int(shape.get("driftNoticesMore") or 0),
            }

        with _store_errors("take source drift to notify"):
            return take_in(self._client.transaction())


class DedupeKeyStore:
    """One document per `source.dedupe` key: the first run with those values, and its time.

    `expireAt` (the end of the window) lets the TTL policy in infra/firestore.tf delete it;
    a key found after its window, not deleted yet, is taken over as if it were absent.
    """

    def __init__(self, client: firestore.Client, collection: str = "dedupeKeys") -> None:
        self._client = client
        self._collection = client.collection(collection)

    def claim(
        self, key: str, run_id: str, integration_id: str, window_s: float, now: float
    ) -> str:
        """The run holding `key`: `run_id` when this call took it (none held it in its window)."""
        ref = self._collection.document(key)
        held = {
            "runId": run_id,
            "integrationId": integration_id,
            "createdAt": now,
            "expireAt": datetime.fromtimestamp(now, tz=timezone.utc) + timedelta(seconds=window_s),
        }
        with _store_errors("claim a dedupe key"):
            try:
                ref.create(held)
                return run_id
            except gexc.AlreadyExists:
                pass

            @firestore.transactional
            def take_over(transaction: firestore.Transaction) -> str:
                existing = ref.get(transaction=transaction).to_dict() or {}
                if existing and float(existing.get("createdAt") or 0) + window_s > now:
                    return str(existing.get("runId"))
                transaction.set(ref, held)  # its window is over (or it was just deleted)
                return run_id

            return take_over(self._client.transaction())

    def release(self, key: str, run_id: str) -> None:
        """Free `key` if `run_id` holds it: that run was not queued after all."""
        ref = self._collection.document(key)

        @firestore.transactional
        def release_in(transaction: firestore.Transaction) -> None:
            existing = ref.get(transaction=transaction).to_dict() or {}
            if existing.get("runId") == run_id:
                transaction.delete(ref)

        with _store_errors("release a dedupe key"):
            release_in(self._client.transaction())
