"""What the pipeline needs from the outside world, as small interfaces.

The Firestore and Pub/Sub adapters (`mapper.store`, `mapper.queue`) implement them in the
cloud; `tests/fakes.py` implements them in memory, so that every rule of the pipeline is
proven in milliseconds, and the emulator suites prove the adapters.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

from .runs import RunStatus


class IntegrationSource(Protocol):
    """Where integration documents are read from."""

    def get(self, integration_id: str) -> dict[str, Any] | None:
        """The stored document, or None."""
        ...

    def find_by_field(self, field: str, value: Any) -> dict[str, Any] | None:
        """The first document whose `field` (a dotted path) equals `value`, or None."""
        ...


ClaimState = Literal["claimed", "done", "busy", "early", "missing"]


@dataclass
class Claim:
    """The answer to "may this delivery send the run?".

    `claimed`: yes, the lease is ours until `lease_until`; `done`: the run already ended;
    `busy`: another delivery holds an unexpired lease; `early`: the run is `retrying` and its
    `nextAttemptAt` has not come (nothing written, no attempt counted); `missing`: there is
    no such run.
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

    def due_retries(self, now: str, limit: int) -> list[dict[str, Any]]:
        """Runs `retrying` whose `nextAttemptAt` is at or before `now` (ISO), longest due first."""
        ...

    def touch_if_unchanged(self, run_id: str, seen_updated_at: str, **fields: Any) -> bool:
        """Set `fields` on a run read at `seen_updated_at`; False if it changed since."""
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
