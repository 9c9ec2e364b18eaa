"""`source.rateLimit`: a token bucket per integration, in this instance's memory.

Each integration with `rateLimit: {"perSecond": n}` has a bucket of max(1, n) tokens, filled
at n a second; a request takes one, or is refused with the seconds until the next token.
The count is per instance, on purpose: a shared per-second counter in Firestore would cost a
write per request on one document, past what one document takes (about one write a second
sustained). So the sum over instances is at most n times the receiving function's instances
(`max_instances`, 20 for webhook and pubsub_push): docs/limits.md.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable
from dataclasses import dataclass


@dataclass
class _Bucket:
    tokens: float
    at: float


class RateLimiter:
    """Token buckets by name (an integration id), each at the rate its caller passes."""

    def __init__(self, clock: Callable[[], float]) -> None:
        self._clock = clock
        self._buckets: dict[str, _Bucket] = {}
        self._lock = threading.Lock()

    def wait(self, name: str, per_second: float) -> int | None:
        """Take a token for `name`: None, or the whole seconds to wait for one (at least 1)."""
        now = self._clock()
        burst = max(1.0, per_second)
        with self._lock:
            bucket = self._buckets.setdefault(name, _Bucket(burst, now))
            # A clock that went back fills nothing; a rate that changed applies from now on.
            elapsed = max(0.0, now - bucket.at)
            bucket.tokens = min(burst, bucket.tokens + elapsed * per_second)
            bucket.at = now
            if bucket.tokens >= 1.0:
                bucket.tokens -= 1.0
                return None
            return max(1, math.ceil((1.0 - bucket.tokens) / per_second))
