"""What the platform needs from the outside world, as small interfaces: the ports.

Every interface an adapter implements is here, once: the Firestore adapter (`mapper.store`)
implements the records, the Pub/Sub ones (`mapper.queue`, `mapper.sources.subscriptions`)
the queue, the subscriptions and the listeners; `tests/fakes.py` implements them in memory,
so that every rule is proven in milliseconds, and the emulator suites prove the adapters.
The pipeline, the pull runner, redrive, the control plane and the team modules name
these, never an adapter's class. (The leaf floors keep their own single interface beside
their implementations: `targets.Target`, `targets.SecretResolver`, `secrets.SecretBackend`.)
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import TYPE_CHECKING, Any, Literal, Protocol

from .runs import RunStatus

if TYPE_CHECKING:
    from ..engine.config import Integration
    from ..errors import MapperError
    from ..sources.subscriptions import Change, Pulled

Page = tuple[list[dict[str, Any]], str | None]  # one page of documents, and the next cursor

# --- integrations ------------------------------------------------------------------------


class IntegrationSource(Protocol):
    """Where integration documents are read from."""

    def get(self, integration_id: str) -> dict[str, Any] | None:
        """The stored document, or None."""
        ...

    def find_by_field(self, field: str, value: Any) -> dict[str, Any] | None:
        """The first document whose `field` (a dotted path) equals `value`, or None."""
        ...

    def list_where(self, field: str, value: Any) -> list[dict[str, Any]]:
        """Every document whose `field` (a dotted path) equals `value`."""
        ...


class IntegrationDocs(IntegrationSource, Protocol):
    """The integration documents as the control plane edits them, with their versions."""

    def list(
        self,
        limit: int = ...,
        cursor: str | None = None,
        *,
        source_type: str | None = None,
        target_type: str | None = None,
        active: bool | None = None,
    ) -> Page:
        """One page of documents, by id; the filters combine freely."""
        ...

    def create(self, doc: dict[str, Any]) -> dict[str, Any]:
        """Store a new document (version 1); `ConflictError` if its id is taken."""
        ...

    def replace(
        self,
        integration_id: str,
        doc: dict[str, Any],
        expected_version: int | None = None,
        note: str | None = None,
    ) -> dict[str, Any]:
        """Replace the whole document as a new version; `ConflictError` on a stale version."""
        ...

    def update_fields(self, integration_id: str, fields: dict[str, Any]) -> dict[str, Any]:
        """Set some top-level fields as a new version."""
        ...

    def delete(self, integration_id: str) -> bool:
        """Delete the document and its versions; False if there was none."""
        ...

    def list_versions(
        self, integration_id: str, limit: int = ..., before: int | None = None
    ) -> list[dict[str, Any]]:
        """Versions (version, savedAt, summary), newest first, below `before`."""
        ...

    def get_version(self, integration_id: str, version: int) -> dict[str, Any] | None:
        """One version (version, savedAt, summary, document), or None."""
        ...


# --- runs --------------------------------------------------------------------------------


ClaimState = Literal["claimed", "done", "busy", "early", "missing"]


@dataclass
class Claim:
    """The answer to "may this delivery send the run?".

    `claimed`: yes, the lease is ours until `lease_until`; `done`: the run already ended;
    `busy`: another delivery holds an unexpired lease; `early`: the run is `retrying` and its
    `nextAttemptAt` has not come (nothing written, no attempt counted); `missing`: there is
    no such run (and the claim was given no first record to create it from).
    """

    state: ClaimState
    run: dict[str, Any] = field(default_factory=dict)
    token: Any = None  # what `finish` checks: the run is as this claim left it


@dataclass(frozen=True)
class Seen:
    """A run as one read found it, for a claim to start from (`RunLog.claim(seen=...)`).

    `run` None: not recorded (yet). `version`: the run as read, which the claim's write is
    conditional on, so a run changed since the read is read again, never overwritten.
    """

    run: dict[str, Any] | None
    version: Any = None


def held_by_live_lease(run: Mapping[str, Any], now_iso: str) -> bool:
    """Whether a delivery holds the run under a lease that has not run out at `now_iso`.

    Such a run is not sent by anyone else, ended by anyone else, or taken for lost.
    """
    lease = run.get("leaseUntil")
    return run.get("status") == RunStatus.DELIVERING and bool(lease) and now_iso < str(lease)


def not_due(run: Mapping[str, Any], now_iso: str) -> bool:
    """Whether the run waits for its next attempt (`retrying`, `nextAttemptAt` after `now_iso`).

    A delivery that arrives before it does not attempt: the retry schedule is the run's.
    """
    when = run.get("nextAttemptAt")
    return run.get("status") == RunStatus.RETRYING and bool(when) and now_iso < str(when)


def redrive_refused(run: Mapping[str, Any], by: str, statuses: Iterable[str]) -> str | None:
    """Why `by` (a redrive job's id, or a replay) may not resend the run; None if it may.

    A run is resent at most once: whoever redrove it first recorded `redrivenBy` and the run
    it made (`redrivenAs`), which is the one to redrive next if that failed too.
    """
    taken = run.get("redrivenBy")
    if taken and taken != by:
        return f"already resent as run {run.get('redrivenAs')}; redrive that one"
    status = run.get("status")
    if status not in set(statuses):
        return f"the run is {status}, not redriven"
    return None


class RunLog(Protocol):
    """The run records: one per incoming message, its id the idempotency key."""

    def create(self, run: dict[str, Any]) -> bool:
        """Store a new run; False (and nothing written) if one with its id exists."""
        ...

    def create_each(self, runs: Sequence[dict[str, Any]]) -> list[bool | MapperError]:
        """Store new runs in one round trip, each on its own, not all or none: per run, in
        order, True (created), False (one with its id exists; left as it is) or that run's
        own error. A failure of the whole round trip raises."""
        ...

    def get(self, run_id: str) -> dict[str, Any] | None:
        """The whole run, or None."""
        ...

    def mark(self, run_id: str, status: str, **fields: Any) -> None:
        """Set the run's status and fields, whoever holds it (intake and reconciler only)."""
        ...

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
        """Take the run for one delivery: count the attempt, hold a lease of `lease_s`.

        `on_schedule=False`: not `early` before the run's `nextAttemptAt` (a fan-out target
        dispatched by its own queue keeps its own schedule, not the run's). `first`: the
        run's first record; a run not recorded yet is created from it, already claimed.
        `seen`: the run as a read just before found it (`DeliveryStates.look`): the claim
        starts from it, neither reading nor, when the run was there, trying to create it.
        """
        ...

    def finish(self, run_id: str, claim: Claim, status: str, fields: Mapping[str, Any]) -> bool:
        """Record a claimed delivery's outcome; False if the run changed since the claim."""
        ...

    def end_unless_leased(
        self,
        run_id: str,
        status: str,
        fields: Mapping[str, Any],
        *,
        first: Mapping[str, Any] | None = None,
    ) -> str:
        """End a run not held by a live lease (dead letter, lost); the run's status after.

        `first`: the run's first record; a run not recorded yet is recorded ended.
        """
        ...

    def stale(
        self, statuses: Iterable[str], older_than_s: float, limit: int
    ) -> list[dict[str, Any]]:
        """Runs in these statuses whose last change is older than `older_than_s` seconds."""
        ...

    def touch(self, run_id: str, **fields: Any) -> None:
        """Set some fields and `updatedAt`, keeping the status."""
        ...

    def count_republish(self, run_id: str, seen_updated_at: str, republishes: int) -> bool:
        """Count a republish of a run as read at `seen_updated_at`; False if it changed since."""
        ...

    def due_retries(self, now: str, limit: int) -> list[dict[str, Any]]:
        """Runs `retrying` whose `nextAttemptAt` is at or before `now` (ISO), longest due first."""
        ...

    def touch_if_unchanged(self, run_id: str, seen_updated_at: str, **fields: Any) -> bool:
        """Set `fields` on a run read at `seen_updated_at`; False if it changed since."""
        ...


class RunRecords(RunLog, Protocol):
    """The run records as the control plane and redrive read them."""

    def list(
        self,
        integration_id: str | None = None,
        status: str | None = None,
        since: datetime | str | None = None,
        until: datetime | str | None = None,
        limit: int = ...,
        cursor: str | None = None,
        *,
        statuses: Iterable[str] | None = None,
        source_kind: str | None = None,
        key: str | None = None,
        min_duration_ms: float | None = None,
        oldest_first: bool = False,
    ) -> Page:
        """One page of runs, newest first (the slowest first with `min_duration_ms`, the
        oldest first with `oldest_first`)."""
        ...

    def count_matching(
        self,
        integration_id: str | None = None,
        statuses: Iterable[str] | None = None,
        since: datetime | str | None = None,
        until: datetime | str | None = None,
    ) -> int:
        """How many runs `list` would give with these filters, over all its pages."""
        ...

    def claim_redrive(
        self, run_id: str, by: str, as_run: str, statuses: Iterable[str]
    ) -> str | None:
        """Take an ended run for one redrive job; None, or why it cannot be taken."""
        ...

    def count(
        self, integration_id: str, status: str | None = None, since: datetime | str | None = None
    ) -> int:
        """How many runs of this integration (with this status, created since) there are."""
        ...

    def count_stale(
        self, integration_id: str, statuses: Iterable[str], older_than_s: float
    ) -> int:
        """How many of this integration's runs in `statuses` are older than `older_than_s`."""
        ...


# --- queues and subscriptions ------------------------------------------------------------


class MessageQueue(Protocol):
    """A topic: the internal one between intake and worker, or the pull-tasks one."""

    def publish(
        self,
        message: dict[str, Any],
        attributes: dict[str, str] | None = None,
        ordering_key: str | None = None,
    ) -> str:
        """Publish and wait until the queue has it; the message id.

        Messages with one `ordering_key` are delivered one at a time, in the order their
        publish returned (pipeline.ordering).
        """
        ...

    def publish_many(self, messages: list[dict[str, Any]]) -> list[str | Exception]:
        """Publish every message at once; per message, its id or the error that kept it."""
        ...


class Subscriptions(Protocol):
    """Pulls from and acknowledges on an integration's subscription."""

    def pull(self, doc: dict[str, Any], max_messages: int) -> list[Pulled]:
        """Up to `max_messages` messages; [] when none arrived while waiting."""
        ...

    def acknowledge(self, doc: dict[str, Any], ack_ids: list[str]) -> None:
        """Acknowledge these messages; `ListenerError` saying why not."""
        ...


class PullState(Protocol):
    """When each pull integration was last drained, and its last error."""

    def get_many(self, integration_ids: list[str]) -> dict[str, dict[str, Any]]:
        """The state of each integration that has one, by id."""
        ...

    def record(self, integration_id: str, fields: dict[str, Any]) -> None:
        """Merge `fields` into the integration's state."""
        ...


class Listeners(Protocol):
    """Keeps a Pub/Sub integration's subscription in step with its document."""

    def prepare(self, new: dict[str, Any], old: dict[str, Any] | None) -> Change:
        """Make or change the subscription; the Change commits or rolls back after the save."""
        ...

    def remove(self, doc: dict[str, Any]) -> None:
        """Delete the subscription the platform created for this integration, if any."""
        ...

    def is_listening(self, doc: dict[str, Any]) -> bool:
        """Whether the subscription exists and is attached as the document says."""
        ...

    def publish_test(self, doc: dict[str, Any], payload: Any) -> str:
        """Publish a sample message to the integration's topic; its message id."""
        ...


# --- senders and the team ----------------------------------------------------------------


class TokenVerifier(Protocol):
    """Checks the OIDC token Google attaches to push and Scheduler requests."""

    def verify(self, authorization: str | None) -> Any:
        """The token's claims, or `UnauthenticatedError`."""
        ...


class SignatureFailures(Protocol):
    """Counts refused signatures per integration and time window (one marker, not a run each)."""

    def count(self, integration_id: str, headers: Mapping[str, str], reason: str) -> None:
        """Add one refusal to the integration's marker for the current window."""
        ...

    def latest(self, integration_id: str) -> dict[str, Any] | None:
        """The integration's most recent marker, as the API shows it, or None."""
        ...


class SharedFailures(Protocol):
    """Failed sign-ins counted by every instance, per address and numbered window."""

    def add(self, address: str, window: int) -> None:
        """Count one failure of `address` in `window`."""
        ...

    def count(self, address: str, windows: Iterable[int]) -> int:
        """The failures of `address` in these windows."""
        ...


class KeyRecords(Protocol):
    """The API keys' records (a digest, never the secret)."""

    def get(self, key_id: str) -> dict[str, Any] | None:
        """One record, or None."""
        ...

    def create(self, record: dict[str, Any]) -> dict[str, Any]:
        """Store a new record; the record as stored."""
        ...

    def list(self, limit: int, cursor: str | None) -> Page:
        """One page of records."""
        ...

    def delete(self, key_id: str) -> bool:
        """Delete a record; False if there was none."""
        ...

    def touch(self, key_id: str, last_used_at: str) -> None:
        """Note when the key was last used."""
        ...


class AuditRecords(Protocol):
    """The audit log's entries."""

    def add(self, entry: dict[str, Any]) -> dict[str, Any]:
        """Store one entry; the entry as stored."""
        ...

    def list(
        self,
        integration_id: str | None = None,
        key_id: str | None = None,
        since: datetime | str | None = None,
        until: datetime | str | None = None,
        limit: int = ...,
        cursor: str | None = None,
    ) -> Page:
        """One page of entries, newest first."""
        ...


class RedriveJobs(Protocol):
    """Where bulk redrive jobs are kept."""

    def create(self, job: dict[str, Any]) -> None:
        """Store a new job."""
        ...

    def get(self, job_id: str) -> dict[str, Any] | None:
        """One job, or None."""
        ...

    def list(self, limit: int, cursor: str | None) -> Page:
        """One page of jobs, newest first."""
        ...

    def advance(self, job_id: str, batches_read: int, fields: dict[str, Any]) -> bool:
        """Record a batch's progress if the job is still at `batches_read`; False if not."""
        ...

    def running(self, limit: int) -> list[dict[str, Any]]:
        """Jobs not yet finished."""
        ...

    def touch(self, job_id: str, seen_updated_at: str, fields: dict[str, Any]) -> bool:
        """Set fields if the job is unchanged since `seen_updated_at`; False if it changed."""
        ...


# --- source shape and dedupe (docs/mapping.md) -------------------------------------------


class SourceShapes(Protocol):
    """The shape of each integration's accepted payloads, one document per integration."""

    def get(self, integration_id: str) -> dict[str, Any] | None:
        """The stored shape, or None."""
        ...

    def update(
        self,
        integration_id: str,
        change: Callable[[dict[str, Any] | None], dict[str, Any]],
    ) -> tuple[dict[str, Any] | None, dict[str, Any]]:
        """Replace the shape with `change(stored)` atomically; (before, after)."""
        ...

    def delete(self, integration_id: str) -> None:
        """Forget an integration's shape."""
        ...

    def pending_drift(self, limit: int) -> list[str]:
        """Integrations whose shape holds drift notices not yet taken (at most `limit`)."""
        ...

    def take_drift(self, integration_id: str, window: int) -> dict[str, Any] | None:
        """Take the drift notices (`{"drift", "more"}`), clearing them in the same
        transaction; None when there are none, or some were already taken in `window`."""
        ...


class DedupeKeys(Protocol):
    """Which run first carried each `source.dedupe` value, for its window."""

    def claim(
        self, key: str, run_id: str, integration_id: str, window_s: float, now: float
    ) -> str:
        """The run holding `key`: `run_id` when this call took it (none held it in its window)."""
        ...

    def release(self, key: str, run_id: str) -> None:
        """Free `key` if `run_id` holds it: that run was not queued after all."""
        ...


# --- paced delivery (docs/delivery.md) ----------------------------------------------------

Enqueued = Literal["added", "already_added"]  # a task added, or one of its name exists


@dataclass(frozen=True)
class QueueKey:
    """Which delivery queue: one per paced or pausable target of an integration.

    `generation` counts the target's queues deleted so far. A deleted queue's name is
    never used again (Cloud Tasks keeps it tombstoned for days): the control plane bumps
    the generation before it deletes, and the next queue of the target gets a new name.
    """

    integration_id: str
    target: str
    generation: int = 0


@dataclass(frozen=True)
class RetryPolicy:
    """How the queue retries a task whose dispatch answered non-2xx."""

    max_attempts: int = 10  # attempts in all, the first one included; -1 for no limit
    min_backoff_s: float = 10.0
    max_backoff_s: float = 600.0
    max_retry_duration_s: float = 0.0  # 0: no age limit


@dataclass(frozen=True)
class QueueConfig:
    """How fast a queue may dispatch: `rateLimit` and `retry` of the integration."""

    per_second: float
    max_concurrent: int
    retry: RetryPolicy = field(default_factory=RetryPolicy)

    def __post_init__(self) -> None:
        if self.per_second <= 0 or self.max_concurrent < 1:
            raise ValueError("a queue needs per_second > 0 and max_concurrent >= 1")


@dataclass(frozen=True)
class DeliveryTask:
    """One run to send to one target, through that target's queue.

    `resend` is 0 for a run's first send and counts up for each redrive or replay of it:
    a task's name is refused for a while after the task ran, so a resend needs its own.
    """

    run_id: str
    target: str
    body: Mapping[str, Any]  # what the deliver function receives, as JSON
    not_before: float | None = None  # epoch seconds; None: as soon as the rate allows
    resend: int = 0


class DeliveryQueue(Protocol):
    """Per-target task queues that pace delivery: Cloud Tasks, or the local stand-in."""

    def ensure(self, key: QueueKey, config: QueueConfig) -> str:
        """Create the queue, or bring an existing one to `config`; the queue's name."""
        ...

    def update(self, key: QueueKey, config: QueueConfig) -> None:
        """Change an existing queue's rate, concurrency and retries."""
        ...

    def pause(self, key: QueueKey) -> None:
        """Stop dispatching; tasks keep being accepted and are held."""
        ...

    def resume(self, key: QueueKey) -> None:
        """Dispatch again: held tasks first, oldest first, within the rate."""
        ...

    def delete(self, key: QueueKey) -> None:
        """Delete the queue and its tasks; nothing if it does not exist."""
        ...

    def enqueue(self, key: QueueKey, task: DeliveryTask) -> Enqueued:
        """Add the task; "already_added" when a task of that name exists (no error)."""
        ...

    def held(self, key: QueueKey) -> int:
        """How many tasks the queue holds now (waiting, scheduled, or being retried)."""
        ...


class DeliveryStates(Protocol):
    """Per integration: whether its delivery is paused, its queue's generation, its failures.

    One small document per integration, apart from the integration's own (a pause is not a
    new version of it, and the worker reads it fresh, past the configuration cache).
    Fields: `state` ("active" | "paused"), `reason`, `since`, `by` ("user" | "circuit"),
    `generation` (the single target queue's), `generations` (a fan-out's, by target name),
    `resumes`, `consecutiveFailures`, and a resume's drain: `draining`, `drainedAt`.
    """

    def get(self, integration_id: str) -> dict[str, Any] | None:
        """The integration's delivery state, or None (active, generation 0, no failures)."""
        ...

    def look(
        self, integration_id: str, run_id: str | None = None
    ) -> tuple[dict[str, Any] | None, Seen | None]:
        """The delivery state (as `get`) and, given `run_id`, the run as it is now, read
        together: a delivery's first look, one round trip. Seen None: the run was not read."""
        ...

    def pause(self, integration_id: str, fields: Mapping[str, Any]) -> bool:
        """Pause (with reason, since, by) unless already paused; whether this call paused it."""
        ...

    def resume(self, integration_id: str) -> dict[str, Any]:
        """Mark delivery active, count a resume, reset the failures; the state after."""
        ...

    def failed(self, integration_id: str) -> int:
        """Count one more failed attempt in a row (a server-side increment); the count."""
        ...

    def succeeded(self, integration_id: str) -> None:
        """Reset the failures in a row to 0."""
        ...

    def next_generation(self, integration_id: str, target: str = "target") -> int:
        """Count a target queue's generation up (before deleting its queue); the new one."""
        ...

    def forget(self, integration_id: str) -> None:
        """Drop the state of a deleted integration (its generation is kept: names stay used)."""
        ...

    def drain_moved(self, integration_id: str, draining: bool) -> None:
        """Record that a resume's drain moved on now (`drainedAt`), or ended (`draining`)."""
        ...

    def draining(self, limit: int) -> list[tuple[str, dict[str, Any]]]:
        """Up to `limit` integrations whose drain has not ended, with their states."""
        ...


# --- notifications (docs/delivery.md, "Notifications") -----------------------------------


class NotifyEvent(StrEnum):
    """The operational events an integration's `notify` receives."""

    DELIVERY_PAUSED = "delivery.paused"
    DELIVERY_RESUMED = "delivery.resumed"
    RUN_DEAD_LETTERED = "run.dead_lettered"
    SOURCE_DRIFT = "source.drift"


@dataclass(frozen=True)
class Notification:
    """One event as it is POSTed and mailed: `{"type", "integrationId", "at", "data"}`."""

    type: NotifyEvent
    integration_id: str
    at: str  # ISO-8601
    data: Mapping[str, Any]

    def to_dict(self) -> dict[str, Any]:
        return {
            "type": str(self.type),
            "integrationId": self.integration_id,
            "at": self.at,
            "data": dict(self.data),
        }


@dataclass(frozen=True)
class Admission:
    """Whether this event is sent now, and what was held back since the last one sent.

    `held` events of the same integration and type came after the previous notification,
    sent at `since`, within its minute; the one sent now carries their count.
    """

    send: bool
    window: int = 0  # the minute (since the epoch) this notification is sent in
    held: int = 0
    since: str | None = None


class NotifyWindows(Protocol):
    """One notification per integration, type and minute, counted across instances."""

    def admit(self, integration_id: str, event: str, now: float) -> Admission:
        """Send (the first of its minute: the count held back before it) or hold and count."""
        ...


class Notifier(Protocol):
    """Sends an integration's operational events to its `notify` url and email."""

    def notify(
        self, integration: Integration, event: NotifyEvent, data: Mapping[str, Any]
    ) -> bool:
        """Send or count the event; True when a notification went out. Never raises."""
        ...
