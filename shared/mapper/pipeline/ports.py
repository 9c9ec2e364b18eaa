"""What the pipeline needs from the outside world, as small interfaces.

The Firestore and Pub/Sub adapters (`mapper.store`, `mapper.queue`) implement them in the
cloud; `tests/fakes.py` implements them in memory, so that every rule of the pipeline is
proven in milliseconds, and the emulator suites prove the adapters.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol


class IntegrationSource(Protocol):
    """Where integration documents are read from."""

    def get(self, integration_id: str) -> dict[str, Any] | None:
        """The stored document, or None."""
        ...

    def find_by_field(self, field: str, value: Any) -> dict[str, Any] | None:
        """The first document whose `field` (a dotted path) equals `value`, or None."""
        ...


ClaimState = Literal["claimed", "done", "busy", "missing"]


@dataclass
class Claim:
    """The answer to "may this delivery send the run?".

    `claimed`: yes, the lease is ours until `lease_until`; `done`: the run already ended;
    `busy`: another delivery holds an unexpired lease; `missing`: there is no such run.
    """

    state: ClaimState
    run: dict[str, Any] = field(default_factory=dict)
    token: Any = None  # what `finish` checks: the run is as this claim left it


def held_by_live_lease(run: Mapping[str, Any], now_iso: str) -> bool:
    """Whether a delivery holds the run under a lease that has not run out at `now_iso`.

    Such a run is not sent by anyone else, ended by anyone else, or taken for lost.
    """
    lease = run.get("leaseUntil")
    return run.get("status") == "delivering" and bool(lease) and now_iso < str(lease)


class RunLog(Protocol):
    """The run records: one per incoming message, its id the idempotency key."""

    def create(self, run: dict[str, Any]) -> bool:
        """Store a new run; False (and nothing written) if one with its id exists."""
        ...

    def get(self, run_id: str) -> dict[str, Any] | None:
        """The whole run, or None."""
        ...

    def mark(self, run_id: str, status: str, **fields: Any) -> None:
        """Set the run's status and fields, whoever holds it (intake and reconciler only)."""
        ...

    def claim(self, run_id: str, delivery_id: str, lease_s: float) -> Claim:
        """Take the run for one delivery: count the attempt, hold a lease of `lease_s`."""
        ...

    def finish(self, run_id: str, claim: Claim, status: str, fields: Mapping[str, Any]) -> bool:
        """Record a claimed delivery's outcome; False if the run changed since the claim."""
        ...

    def end_unless_leased(self, run_id: str, status: str, fields: Mapping[str, Any]) -> str:
        """End a run not held by a live lease (dead letter, lost); the run's status after."""
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


class MessageQueue(Protocol):
    """The internal topic between intake and worker."""

    def publish(self, message: dict[str, Any], attributes: dict[str, str] | None = None) -> str:
        """Publish and wait until the queue has it; the message id."""
        ...


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


# --- paced delivery (docs/delivery.md) ----------------------------------------------------

Enqueued = Literal["queued", "already_queued"]


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
        """Add the task; "already_queued" when a task of that name exists (no error)."""
        ...

    def held(self, key: QueueKey) -> int:
        """How many tasks the queue holds now (waiting, scheduled, or being retried)."""
        ...
