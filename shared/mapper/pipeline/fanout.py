"""Fan-out: one run, several targets, each attempted, retried and recorded on its own.

A fan-out run keeps one delivery per target in `deliveries` (target, status, attempts,
outgoingRequest, outgoingResponse, errorMessage, apiCallTimeMs, and nextAttemptAt while
that target is retrying). A delivery that has ended is never attempted again by the same
run: a redelivery, a republish or a retry of the run sends only to the targets still
retrying, and a redrive starts its new run with the deliveries that succeeded. A target
with `rateLimit` waits in its own delivery queue meanwhile: its delivery is `queued`. The
run's status follows from its deliveries (`run_status`). Pure: no clock, no cloud library.
docs/delivery.md ("Fan-out") tells the whole story.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from .runs import TERMINAL, RunStatus

# A delivery that went through: a redrive of the run does not send it again.
DELIVERED = frozenset({RunStatus.SUCCESS, RunStatus.SKIPPED})


def previous(run: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """The run's deliveries so far, by target name."""
    found = run.get("deliveries")
    if not isinstance(found, list):
        return {}
    return {
        str(d["target"]): dict(d) for d in found if isinstance(d, Mapping) and "target" in d
    }


def due(delivery: Mapping[str, Any] | None, now: str) -> bool:
    """True when this target is to be attempted now: never yet, or retrying and due."""
    if delivery is None:
        return True
    if delivery.get("status") in TERMINAL:
        return False  # ended for good: a success is never sent again
    when = delivery.get("nextAttemptAt")
    return not (isinstance(when, str) and when > now)


def run_status(deliveries: Iterable[Mapping[str, Any]]) -> RunStatus:
    """The run's status from its targets' deliveries.

    `retrying` while any target is; `queued` while any waits in its delivery queue; else
    `success` when every target succeeded (or was
    skipped by its condition, with at least one sent), `skipped` when all were skipped,
    `partial` when some succeeded and the others failed for good; else the worst of them.
    """
    statuses = [RunStatus(str(d.get("status"))) for d in deliveries]
    if RunStatus.RETRYING in statuses or not statuses:
        return RunStatus.RETRYING
    if RunStatus.QUEUED in statuses:
        return RunStatus.QUEUED
    if all(s == RunStatus.SKIPPED for s in statuses):
        return RunStatus.SKIPPED
    if all(s in DELIVERED for s in statuses):
        return RunStatus.SUCCESS
    if any(s in (RunStatus.SUCCESS, RunStatus.PARTIAL) for s in statuses):
        return RunStatus.PARTIAL
    if RunStatus.DEAD_LETTERED in statuses:
        return RunStatus.DEAD_LETTERED
    return RunStatus.ERROR


def next_attempt_at(deliveries: Iterable[Mapping[str, Any]]) -> str | None:
    """When the run is next attempted: the earliest of its retrying targets' times."""
    times = [
        str(d["nextAttemptAt"])
        for d in deliveries
        if d.get("status") == RunStatus.RETRYING and d.get("nextAttemptAt")
    ]
    return min(times) if times else None


def errors(deliveries: Iterable[Mapping[str, Any]]) -> str | None:
    """The run's errorMessage: each failing target's, named."""
    found = [f"{d['target']}: {d['errorMessage']}" for d in deliveries if d.get("errorMessage")]
    return "; ".join(found) if found else None


def delivered(run: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The deliveries of `run` that went through: a redrive of it does not send them again."""
    return [d for d in previous(run).values() if d.get("status") in DELIVERED]


def ended_as(deliveries: Iterable[Mapping[str, Any]], status: RunStatus) -> list[dict[str, Any]]:
    """The deliveries with those still retrying or queued ended as `status` (the run gave up)."""
    return [
        {**d, "status": status, "nextAttemptAt": None}
        if d.get("status") in (RunStatus.RETRYING, RunStatus.QUEUED)
        else dict(d)
        for d in deliveries
    ]
