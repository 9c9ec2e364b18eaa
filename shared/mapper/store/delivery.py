"""The `deliveryState` collection: whether an integration's delivery is paused, and why.

One document per integration, kept apart from the integration document: a pause is not a
new version of it, the circuit breaker counts failures with increments (no read), and the
worker reads it fresh on every run, past the configuration cache (docs/delivery.md,
"Pause and resume"), in the same call as the run it is about to claim (`look`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from google.cloud import firestore
from google.cloud.firestore_v1.base_query import FieldFilter

from ..pipeline.ports import Seen
from ..timestamps import now_iso
from .common import _store_errors, read_documents, read_fields
from .runs import RunStore

ACTIVE = "active"
SINGLE_TARGET = "target"  # the name of an integration's single `target` (pipeline.pacing)
PAUSED = "paused"


class DeliveryStateStore:
    """The `DeliveryStates` port on Firestore."""

    def __init__(
        self,
        client: firestore.Client,
        collection: str = "deliveryState",
        *,
        runs: RunStore | None = None,
    ) -> None:
        self._client = client
        self._collection = client.collection(collection)
        self._runs = runs  # whose runs `look` reads along (None: it reads the state alone)

    def get(self, integration_id: str) -> dict[str, Any] | None:
        """The integration's delivery state, or None."""
        with _store_errors("read the delivery state"):  # on every run: the cheaper read
            return read_fields(self._collection.document(integration_id))

    def look(
        self, integration_id: str, run_id: str | None = None
    ) -> tuple[dict[str, Any] | None, Seen | None]:
        """The delivery state and, given `run_id`, the run, in one BatchGetDocuments call.

        Each document is one read, billed as two separate reads would be; what it saves
        is the round trip of the claim's own read (docs/performance.md).
        """
        run_ref = None
        if run_id is not None and self._runs is not None:
            run_ref = self._runs.reference(run_id)
        if run_ref is None:
            return self.get(integration_id), None
        state_ref = self._collection.document(integration_id)
        with _store_errors("read the delivery state and the run"):
            read = read_documents(self._client, [state_ref, run_ref])
        state, _ = read[state_ref._document_path]
        return state, RunStore.seen(run_ref.id, *read[run_ref._document_path])

    def pause(self, integration_id: str, fields: Mapping[str, Any]) -> bool:
        """Pause unless already paused, in one transaction; whether this call paused it."""
        ref = self._collection.document(integration_id)
        transaction = self._client.transaction()

        @firestore.transactional
        def paused(tx: Any) -> bool:
            snapshot = ref.get(transaction=tx)
            if snapshot.exists and (snapshot.to_dict() or {}).get("state") == PAUSED:
                return False
            tx.set(ref, {**fields, "state": PAUSED, "updatedAt": now_iso()}, merge=True)
            return True

        with _store_errors("pause delivery"):
            return bool(paused(transaction))

    def resume(self, integration_id: str) -> dict[str, Any]:
        """Mark delivery active, count a resume, reset the failures; the state after."""
        ref = self._collection.document(integration_id)
        with _store_errors("resume delivery"):
            ref.set(
                {
                    "state": ACTIVE,
                    "reason": None,
                    "by": None,
                    "since": now_iso(),
                    "consecutiveFailures": 0,
                    "resumes": firestore.Increment(1),
                    "updatedAt": now_iso(),
                },
                merge=True,
            )
            return ref.get().to_dict() or {}

    def failed(self, integration_id: str) -> int:
        """Count one more failed attempt in a row; the count after (one write, no read)."""
        ref = self._collection.document(integration_id)
        with _store_errors("count a failed attempt"):
            result = ref.set({"consecutiveFailures": firestore.Increment(1)}, merge=True)
        return int(result.transform_results[0].integer_value)

    def succeeded(self, integration_id: str) -> None:
        """Reset the failures in a row."""
        with _store_errors("reset the failed attempts"):
            self._collection.document(integration_id).set(
                {"consecutiveFailures": 0}, merge=True
            )

    def next_generation(self, integration_id: str, target: str = SINGLE_TARGET) -> int:
        """Count a target queue's generation up; the new generation.

        The single target's is `generation`; a fan-out target's is `generations.<name>`,
        so that deleting one target's queue renames no other target's.
        """
        ref = self._collection.document(integration_id)
        counted: dict[str, Any] = (
            {"generation": firestore.Increment(1)} if target == SINGLE_TARGET
            else {"generations": {target: firestore.Increment(1)}}
        )
        with _store_errors("count the queue's generation"):
            result = ref.set(counted, merge=True)
        return int(result.transform_results[0].integer_value)

    def drain_moved(self, integration_id: str, draining: bool) -> None:
        """Record that a resume's drain moved on now (`drainedAt`), or ended (`draining`)."""
        with _store_errors("record a resume's drain"):
            self._collection.document(integration_id).set(
                {"draining": draining, "drainedAt": now_iso()}, merge=True
            )

    def draining(self, limit: int) -> list[tuple[str, dict[str, Any]]]:
        """Up to `limit` integrations whose drain has not ended, with their states."""
        query = self._collection.where(filter=FieldFilter("draining", "==", True)).limit(limit)
        with _store_errors("list the resumes' drains"):
            return [(s.id, s.to_dict() or {}) for s in query.stream()]

    def forget(self, integration_id: str) -> None:
        """Drop a deleted integration's pause and counts, keeping its queue's generation."""
        with _store_errors("forget the delivery state"):
            self._collection.document(integration_id).set(
                {"state": ACTIVE, "reason": None, "by": None, "consecutiveFailures": 0},
                merge=True,
            )
