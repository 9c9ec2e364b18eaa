"""notifyWindows/{integration}.{type}.{minute}: one notification per integration, type and
minute, whichever instance sends it (docs/delivery.md, "Notifications").

The first event of a minute creates its window document (`create()`: exactly one caller
wins, across instances) and is sent; the others add one to its `count` and are held back.
The winner also reads and moves the `{integration}.{type}.last` pointer to its own window,
so it knows the window sent before it and how many events that one held back. A sent
notification costs four operations, a held one a single increment. Every document expires
through the TTL policy on `expireAt` (infra/firestore.tf).
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

from google.api_core import exceptions as gexc
from google.cloud import firestore

from ..pipeline.ports import Admission
from ..timestamps import iso_timestamp
from .common import _store_errors

WINDOW_S = 60
DEFAULT_RETENTION = timedelta(days=7)  # a count held back longer is not carried


class NotifyWindowStore:
    """The `NotifyWindows` port over Firestore."""

    def __init__(
        self,
        client: firestore.Client,
        collection: str = "notifyWindows",
        retention: timedelta = DEFAULT_RETENTION,
    ) -> None:
        self._collection = client.collection(collection)
        self._retention = retention

    def admit(self, integration_id: str, event: str, now: float) -> Admission:
        """Send (the first of its minute, with the count held back before) or hold."""
        window = int(now // WINDOW_S)
        at = datetime.fromtimestamp(now, tz=timezone.utc)
        expire = at + self._retention
        prefix = f"{integration_id}.{event}"
        ref = self._collection.document(f"{prefix}.{window}")
        first = {
            "integrationId": integration_id,
            "type": event,
            "window": window,
            "count": 1,
            "firstAt": iso_timestamp(at),
            "expireAt": expire,
        }
        with _store_errors("count a notification"):
            try:
                ref.create(first)
            except gexc.AlreadyExists:
                ref.update({"count": firestore.Increment(1)})
                return Admission(send=False, window=window)
            pointer = self._collection.document(f"{prefix}.last")
            before = _data(pointer.get())
            pointer.set({"window": window, "expireAt": expire})
            previous = before.get("window")
            if not isinstance(previous, int) or previous >= window:
                return Admission(send=True, window=window)
            last = _data(self._collection.document(f"{prefix}.{previous}").get())
        held = int(last.get("count") or 1) - 1
        return Admission(
            send=True, window=window, held=max(held, 0),
            since=last.get("firstAt") if held > 0 else None,
        )


def _data(snapshot: Any) -> dict[str, Any]:
    return (snapshot.to_dict() or {}) if snapshot.exists else {}
