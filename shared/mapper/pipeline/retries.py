"""The retry schedule: when a failed delivery may be attempted again, and when never.

Counted from the run itself (its `attempts`, incremented at each claim, and its
`createdAt`, when the event was accepted), never from the queue's delivery count: a message
the reconciler publishes again starts Pub/Sub's count at 1, the run's goes on. Pure: no
cloud library, no clock of its own. docs/data-plane.md ("Retries") explains the mechanism.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from typing import Any

from ..engine.config import RetryPolicy
from ..timestamps import epoch_seconds

# Answers whose Retry-After the next attempt waits for (RFC 9110 15.5.9, 15.5.20, 6585 4).
RETRY_AFTER_STATUSES = frozenset({408, 429, 503})


@dataclass(frozen=True)
class Verdict:
    """What follows a failed attempt: another at `next_at` (epoch seconds), or none (`why`)."""

    next_at: float | None
    why: str | None = None


def exhausted(policy: RetryPolicy, run: Mapping[str, Any], now: float) -> str | None:
    """Why the run may not be attempted (again) at `now`, or None while it may."""
    attempts = int(run.get("attempts") or 0)
    if attempts > policy.max_attempts:
        return f"its {policy.max_attempts} attempts were used"
    age = now - accepted_at(run, now)
    if age > policy.max_age_seconds:
        return f"it is older than {policy.max_age_seconds} s"
    return None


def after_failure(
    policy: RetryPolicy,
    run: Mapping[str, Any],
    now: float,
    response: Mapping[str, Any] | None = None,
) -> Verdict:
    """The verdict on the run's latest attempt (its `attempts`th), which failed retryably."""
    attempts = int(run.get("attempts") or 0)
    if attempts >= policy.max_attempts:
        return Verdict(None, f"gave up after {attempts} attempts")
    wait = backoff_seconds(policy, attempts)
    asked = retry_after_seconds(response, now)
    if asked is not None:
        wait = max(wait, min(asked, float(policy.max_backoff_seconds)))
    deadline = accepted_at(run, now) + policy.max_age_seconds
    if now + wait > deadline:
        return Verdict(
            None,
            f"gave up after {attempts} attempts: the next would start more than "
            f"{policy.max_age_seconds} s after the event was accepted",
        )
    return Verdict(now + wait)


def backoff_seconds(policy: RetryPolicy, attempts: int) -> float:
    """The wait after `attempts` failed attempts: the initial backoff, doubled each time."""
    exponent = min(max(attempts - 1, 0), 32)  # 2**32 s is past any cap
    return float(min(policy.initial_backoff_seconds * 2**exponent, policy.max_backoff_seconds))


def retry_after_seconds(response: Mapping[str, Any] | None, now: float) -> float | None:
    """The wait a 408, 429 or 503 answer asked for in Retry-After (seconds or HTTP date)."""
    if not response or response.get("status") not in RETRY_AFTER_STATUSES:
        return None
    value = next(
        (str(v) for k, v in (response.get("headers") or {}).items()
         if k.lower() == "retry-after"),
        "",
    ).strip()
    if not value:
        return None
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None  # unreadable: the backoff alone
    if when.tzinfo is None:
        return None
    return max(0.0, when.timestamp() - now)


def accepted_at(run: Mapping[str, Any], default: float) -> float:
    """When the run's event was accepted (its `createdAt`), in epoch seconds."""
    try:
        return epoch_seconds(str(run.get("createdAt")))
    except ValueError:
        return default
