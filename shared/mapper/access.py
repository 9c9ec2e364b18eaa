"""Who may call the management API: the bootstrap token, API keys, and failed sign-ins limited.

`Access.authenticate` takes the `Authorization` header and the client's address and returns
the `Principal` or a `Refusal` (401, or 429 once an address failed too often). Failures are
counted per address in this instance's memory: `FAILURE_LIMIT` in `FAILURE_WINDOW_SECONDS`,
then every request from that address is refused until the oldest failure leaves the window,
but for a correct API key: the limit slows guessing, it never locks out a valid key.
With a shared count (Firestore, every api instance), an address that failed here is also
held to what all instances counted for it, so that spreading guesses over instances does not
multiply the limit (docs/api.md, "Team use"). A refusal is logged with the reason and
address, never the credential presented.
"""

from __future__ import annotations

import hmac
import logging
import math
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

from .errors import MapperError
from .keys import BOOTSTRAP, Keys, Principal, looks_like_key, parse_key
from .pipeline.ports import SharedFailures

log = logging.getLogger(__name__)

FAILURE_LIMIT = 20  # failed sign-ins per address and window, then 429
FAILURE_WINDOW_SECONDS = 60.0
TRACKED_ADDRESSES = 10_000  # addresses remembered per instance (the stalest go first)


@dataclass(frozen=True)
class Refusal:
    """An answer instead of the route: status, code, sentence and headers."""

    status: int
    code: str
    message: str
    headers: dict[str, str] = field(default_factory=dict)


UNAUTHORIZED = Refusal(
    401, "unauthorized", "a valid bearer token is required", {"WWW-Authenticate": "Bearer"}
)


class FailureLimiter:
    """Failed sign-ins per client address in a sliding window, in this instance's memory.

    With `shared`, an address with a failure in this instance's window is also refused once
    the failures every instance counted for it in the current and the previous fixed window
    reach the limit; an address new to this instance is checked there after its first
    failure here, so spreading over n instances gains at most n tries. The shared count is
    best effort: when Firestore cannot be reached, this instance's count still holds.
    """

    def __init__(
        self,
        limit: int = FAILURE_LIMIT,
        window_s: float = FAILURE_WINDOW_SECONDS,
        clock: Callable[[], float] = time.monotonic,
        shared: SharedFailures | None = None,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        self.limit = limit
        self.window_s = window_s
        self._clock = clock
        self._shared = shared
        self._wall_clock = wall_clock
        self._failures: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def retry_after(self, address: str) -> int | None:
        """Seconds until `address` may try again, or None when it may now."""
        now = self._clock()
        with self._lock:
            times = self._recent(address, now)
            if times is None:
                return None
            if len(times) >= self.limit:
                return max(1, math.ceil(times[0] + self.window_s - now))
        return self._shared_retry_after(address)

    def _shared_retry_after(self, address: str) -> int | None:
        if self._shared is None:
            return None
        wall = self._wall_clock()
        window = self._window(wall)
        try:
            counted = self._shared.count(address, (window - 1, window))
        except MapperError as exc:
            log.warning("failed sign-ins of other instances not read: %s", exc)
            return None
        if counted < self.limit:
            return None
        # The previous window stops counting when this one ends.
        return max(1, math.ceil((window + 1) * self.window_s - wall))

    def _window(self, wall: float) -> int:
        """The shared count's fixed window holding the time `wall`, by number."""
        return int(wall // self.window_s)

    def failed(self, address: str) -> None:
        """Count one failed sign-in from `address` (here, and where every instance sees it)."""
        if self._shared is not None:
            try:
                self._shared.add(address, self._window(self._wall_clock()))
            except MapperError as exc:
                log.warning("failed sign-in not counted for other instances: %s", exc)
        now = self._clock()
        with self._lock:
            times = self._recent(address, now)
            if times is None:
                if len(self._failures) >= TRACKED_ADDRESSES:
                    del self._failures[next(iter(self._failures))]
                times = self._failures[address] = deque()
            times.append(now)
            while len(times) > self.limit:
                times.popleft()

    def _recent(self, address: str, now: float) -> deque[float] | None:
        times = self._failures.get(address)
        if times is None:
            return None
        while times and times[0] <= now - self.window_s:
            times.popleft()
        if not times:
            del self._failures[address]
            return None
        return times


class Access:
    """Turns a request's credentials into a `Principal`, or a refusal."""

    def __init__(self, keys: Keys, limiter: FailureLimiter | None = None) -> None:
        self.keys = keys
        self.limiter = limiter or FailureLimiter()

    def authenticate(
        self, authorization: str, address: str, admin_token: str, where: str
    ) -> Principal | Refusal:
        """The principal behind `Authorization: Bearer ...`, or why not (logged)."""
        scheme, _, given = authorization.partition(" ")
        given = given.strip()
        if scheme.lower() == "bearer" and parse_key(given) is not None:
            # A well-formed API key is checked even from a limited address: its 256-bit
            # secret cannot be guessed, and a shared address (a NAT) must not lock out the
            # valid keys behind it. A wrong one is counted and still refused as limited.
            principal = self.keys.verify(given)
            if principal is not None:
                return principal
            limited = self._limited(address, where)
            self.limiter.failed(address)
            log.warning("api refused %s from %s: %s", where, address, _key_reason(given))
            return limited or UNAUTHORIZED
        limited = self._limited(address, where)
        if limited is not None:
            return limited
        if scheme.lower() != "bearer" or not given:
            # Nothing presented: no guess to count.
            log.warning("api refused %s from %s: no bearer credential", where, address)
            return UNAUTHORIZED
        if looks_like_key(given):
            principal = self.keys.verify(given)
            reason = _key_reason(given)
        else:
            expected = admin_token.encode()
            matches = hmac.compare_digest(given.encode("utf-8", "replace"), expected)
            principal = BOOTSTRAP if matches else None
            reason = "not the admin token nor an API key"
        if principal is None:
            self.limiter.failed(address)
            log.warning("api refused %s from %s: %s", where, address, reason)
            return UNAUTHORIZED
        return principal


    def _limited(self, address: str, where: str) -> Refusal | None:
        """The 429 for an address that failed too often, or None."""
        wait = self.limiter.retry_after(address)
        if wait is None:
            return None
        log.warning("api refused %s from %s: too many failed sign-ins", where, address)
        return Refusal(
            429,
            "too_many_failures",
            f"too many failed sign-ins from this address; retry in {wait} s",
            {"Retry-After": str(wait)},
        )


def _key_reason(given: str) -> str:
    # The key's id is not secret (lists show it as the prefix); the rest is never logged.
    parsed = parse_key(given)
    if parsed is None:
        return "a malformed API key"
    return f"API key mk_{parsed[0]} unknown, revoked, expired or wrong"


def forbidden(principal: Principal, needed: str, where: str, address: str) -> Refusal:
    """The 403 for a principal whose role is short of `needed` (logged)."""
    log.warning(
        "api refused %s from %s: %s (%s) has role %s, needs %s",
        where,
        address,
        principal.name,
        principal.key_id or "bootstrap",
        principal.role,
        needed,
    )
    return Refusal(
        403, "forbidden", f"this key's role is {principal.role}: {where} needs role {needed}"
    )


def client_address(remote_addr: str | None, forwarded_for: str | None, hops: int) -> str:
    """The caller's address: the `hops`-th X-Forwarded-For entry from the right, else the peer.

    Google's front end appends the address it saw to X-Forwarded-For, so the last entry is
    the client's (hops=1); anything left of it was written by the client and is not trusted.
    """
    entries = [e.strip() for e in (forwarded_for or "").split(",") if e.strip()]
    if hops >= 1 and len(entries) >= hops:
        return entries[-hops]
    return remote_addr or "unknown"
