"""The run: its statuses, where it came from, its id, and the message that queues it.

The one home of the run's vocabulary. Everything that names a status or a source kind
imports it from here (the Firestore adapter, the API's contract, the reconciler, redrive,
the fakes); the web UI keeps a mirror that a test holds to this module. Pure: no cloud
library, no HTTP.

Modelled on httpx's `_status_codes.py`: an enum whose members say what they mean, and the
groups of them that rules are written against.
"""

from __future__ import annotations

import hashlib
import json
import re
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from ..json_text import dumps_bytes
from ..timestamps import epoch_iso


class RunStatus(StrEnum):
    """Where a run stands. A run starts `queued` and ends in one of `TERMINAL`."""

    # Recorded and on the internal topic, waiting for a worker (or for the reconciler to
    # publish it again when the publish failed).
    QUEUED = "queued"
    # A worker holds the run under a lease (`leaseUntil`) and is sending it now.
    DELIVERING = "delivering"
    # The target accepted the output (every target, for a fan-out).
    SUCCESS = "success"
    # Failed for good: bad input, a mapping or condition error, a target that refused the
    # request (4xx other than 408/429), or a setting that cannot work. Not retried.
    ERROR = "error"
    # The condition was falsy: nothing was sent, on purpose.
    SKIPPED = "skipped"
    # A fan-out where some targets succeeded and some did not.
    PARTIAL = "partial"
    # The last attempt failed in a way worth retrying; another attempt is scheduled.
    RETRYING = "retrying"
    # Every attempt the retry policy allows failed (or the run grew too old): kept for
    # redrive, never attempted again by itself.
    DEAD_LETTERED = "dead_lettered"
    # Delivery of its integration is paused (by a user, or by the circuit breaker): kept,
    # not sent, until delivery is resumed, which sends the held runs oldest first.
    HELD = "held"

    @property
    def is_terminal(self) -> bool:
        """Whether the run has ended (nothing will change it but a redrive or replay)."""
        return self in TERMINAL


# The run has ended: the stats count these, the UI stops polling.
TERMINAL = frozenset(
    {
        RunStatus.SUCCESS,
        RunStatus.ERROR,
        RunStatus.SKIPPED,
        RunStatus.PARTIAL,
        RunStatus.DEAD_LETTERED,
    }
)
# Not ended and not held by anyone for good: the reconciler looks for these when stale.
# A `held` run is neither ended nor in flight: it waits on purpose, for as long as delivery
# stays paused, so the reconciler must never take it for lost (resume sends it).
IN_FLIGHT = frozenset({RunStatus.QUEUED, RunStatus.DELIVERING, RunStatus.RETRYING})
# What a bulk redrive may send again: runs that ended failing. A `retrying` run is still in
# flight (the platform attempts it again by itself), so it is not redriven; a `held` run
# is sent by resume, so a redrive would send it twice.
# A partial run's redrive sends only to its targets that did not succeed (pipeline.fanout).
REDRIVABLE = frozenset({RunStatus.ERROR, RunStatus.DEAD_LETTERED, RunStatus.PARTIAL})


class SourceKind(StrEnum):
    """How a run's message reached the platform (the run's `sourceKind`)."""

    WEBHOOK = "webhook"  # POST /webhook/{path}/
    PUBSUB_PUSH = "pubsub-push"  # a push subscription's POST /pubsub/{path}/
    PUBSUB_PULL = "pubsub-pull"  # drained from a pull subscription by the scheduled pull
    TEST = "test"  # a test event sent from the API or the UI
    REPLAY = "replay"  # a recorded run processed again (replay or bulk redrive)


_KEY_CHARS = re.compile(r"^[A-Za-z0-9_.:=+-]{1,200}$")


def run_id_for(integration_id: str, key: str | None) -> str:
    """The run id: the sender's idempotency key scoped to its integration, else a new one.

    Scoped so that two senders using the same key on two integrations never collide; a key
    with characters a document id cannot hold is replaced by its hash.
    """
    if not key:
        return f"{integration_id}.{uuid.uuid4().hex}"
    if not _KEY_CHARS.match(key):
        key = "h" + hashlib.sha256(key.encode()).hexdigest()[:40]
    return f"{integration_id}.{key}"


def event_id(run: Mapping[str, Any]) -> str:
    """The id the receiver knows the run's event by (`Idempotency-Key`, `webhook-id`).

    The run's own id, except for a redriven or replayed run: its event's first run's id
    (`originalRunId`), so that the receiver sees the same event again and can deduplicate.
    """
    return str(run.get("originalRunId") or run["id"])


@dataclass(frozen=True)
class QueuedMessage:
    """The internal topic's message: everything a worker needs to deliver one run.

    `recorded` False: the intake published it without writing the run (a webhook event
    under a fresh id), and the message holds the run's first record (`first_record`), which
    the worker writes when it first takes the message. A message without the field (an
    older release's) was recorded at accept. `recording` (with `recorded` False): the intake
    also writes the run itself, just after publishing (RECORD_AT_ACCEPT), so its worker
    most often finds it there and reads it before trying to create it.
    """

    run_id: str
    integration_id: str
    source_kind: str
    payload: Any
    accepted_at: float  # epoch seconds when the platform accepted the event
    integration_version: int | None = None
    headers: Mapping[str, str] = field(default_factory=dict)
    attributes: Mapping[str, str] = field(default_factory=dict)
    ordering_key: str | None = None  # the run's Pub/Sub ordering key (pipeline.ordering)
    recorded: bool = True
    search_values: tuple[str, ...] = ()  # the run's `searchValues` (pipeline.search)
    recording: bool = False

    @classmethod
    def for_run(
        cls, run: Mapping[str, Any], payload: Any, now: float, *, recorded: bool = True
    ) -> QueuedMessage:
        """The message that queues `run` (as recorded) with `payload`, accepted at `now`."""
        return cls(
            run_id=run["id"],
            integration_id=run["integrationId"],
            source_kind=run["sourceKind"],
            payload=payload,
            accepted_at=now,
            integration_version=run.get("integrationVersion"),
            headers=run.get("incomingHeaders") or {},
            attributes=run.get("incomingAttributes") or {},
            ordering_key=run.get("orderingKey"),
            recorded=recorded,
            search_values=tuple(run.get("searchValues") or ()),
        )

    @classmethod
    def again(cls, run: Mapping[str, Any], now: float) -> QueuedMessage:
        """The message for a recorded run, to publish it again (reconciler, due retries)."""
        return cls.for_run(run, run.get("incomingPayload"), now)

    def first_record(self) -> dict[str, Any]:
        """The run as the intake would have recorded it: `queued`, created at acceptance."""
        run: dict[str, Any] = {
            "id": self.run_id,
            "integrationId": self.integration_id,
            "integrationVersion": self.integration_version,
            "sourceKind": self.source_kind,
            "status": RunStatus.QUEUED,
            "incomingPayload": self.payload,
            "incomingHeaders": dict(self.headers),
            "incomingAttributes": dict(self.attributes),
            "attempts": 0,
            # The accept time, not the worker's: lists sort runs by when they reached us.
            "createdAt": epoch_iso(self.accepted_at),
        }
        if self.search_values:
            run["searchValues"] = list(self.search_values)
        if self.ordering_key:
            run["orderingKey"] = self.ordering_key
        return run

    def to_dict(self) -> dict[str, Any]:
        """The message as the JSON object on the topic (camelCase, as the run's fields)."""
        extra: dict[str, Any] = {}
        if self.ordering_key:
            extra["orderingKey"] = self.ordering_key
        if not self.recorded:
            extra["recorded"] = False
            if self.recording:  # of a recorded run (a paced task's, say) it says nothing
                extra["recording"] = True
        if self.search_values:
            extra["searchValues"] = list(self.search_values)
        return {
            "runId": self.run_id,
            "integrationId": self.integration_id,
            "integrationVersion": self.integration_version,
            "sourceKind": self.source_kind,
            "payload": self.payload,
            "headers": dict(self.headers),
            "attributes": dict(self.attributes),
            "acceptedAt": self.accepted_at,
            **extra,
        }

    def to_bytes(self) -> bytes:
        """The message as the topic carries it: compact UTF-8 JSON."""
        return dumps_bytes(self.to_dict())

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> QueuedMessage:
        """The message from its JSON object; KeyError when a required field is missing."""
        return cls(
            run_id=data["runId"],
            integration_id=data["integrationId"],
            source_kind=data.get("sourceKind", SourceKind.WEBHOOK),
            payload=data.get("payload"),
            accepted_at=float(data.get("acceptedAt") or 0.0),
            integration_version=data.get("integrationVersion"),
            headers=data.get("headers") or {},
            attributes=data.get("attributes") or {},
            ordering_key=data.get("orderingKey"),
            recorded=data.get("recorded") is not False,
            search_values=tuple(str(v) for v in data.get("searchValues") or ()),
            recording=data.get("recording") is True,
        )

    @classmethod
    def from_bytes(cls, data: bytes) -> QueuedMessage:
        """The message from the bytes `to_bytes` wrote."""
        return cls.from_dict(json.loads(data))
