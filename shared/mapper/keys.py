"""Named API keys with roles: made, hashed, verified, listed and revoked. No HTTP here.

A key reads `mk_<id>_<secret>`: `<id>` (16 hex characters, shown in lists as the key's
prefix) finds its record without a scan, `<secret>` is 32 random bytes, URL-safe. The record
holds a per-key salt and SHA-256(salt + secret), never the key; a secret of 256 random bits
needs no slow hash. Verified keys are kept per instance for at most `KEY_CACHE_SECONDS`, so
a revoked key stops working on every instance within that bound (docs/api.md, "Team use").
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets as pysecrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from .errors import ConfigError, NotFoundError, Problem
from .pipeline.ports import KeyRecords
from .timestamps import epoch_iso, iso_timestamp

ROLES = ("viewer", "editor", "admin")  # each may do all that the ones before it may
KEY_PREFIX = "mk_"
SECRET_BYTES = 32
ID_BYTES = 8
SALT_BYTES = 16
KEY_CACHE_SECONDS = 10.0  # a revoked key is refused on every instance within this
KEY_CACHE_SIZE = 1_000  # verified keys kept per instance (the oldest go first)
LAST_USED_EVERY_SECONDS = 60.0  # lastUsedAt written at most this often per key and instance
MAX_NAME_CHARS = 100
BOOTSTRAP_NAME = "bootstrap admin token"
_KEY = re.compile(r"^mk_([0-9a-f]{16})_([A-Za-z0-9_-]{43})$")
_SHOWN = ("id", "name", "role", "prefix", "createdAt", "lastUsedAt", "expiresAt", "createdBy")


def allows(role: str, needed: str) -> bool:
    """Whether `role` may do what `needed` may (admin > editor > viewer)."""
    if role not in ROLES or needed not in ROLES:
        return False
    return ROLES.index(role) >= ROLES.index(needed)


@dataclass(frozen=True)
class Principal:
    """Who a request comes from: a key (its id and name) or the bootstrap admin token."""

    key_id: str | None
    name: str
    role: str
    expires_at: str | None = None

    def actor(self) -> dict[str, Any]:
        """As audit entries name it."""
        return {"keyId": self.key_id, "name": self.name, "role": self.role}


BOOTSTRAP = Principal(None, BOOTSTRAP_NAME, "admin")


def parse_key(text: str) -> tuple[str, str] | None:
    """(id, secret) of a presented key, or None when it is not shaped like one."""
    found = _KEY.match(text)
    return (found.group(1), found.group(2)) if found else None


def looks_like_key(text: str) -> bool:
    """Whether a presented credential is shaped like an API key (`mk_...`)."""
    return text.startswith(KEY_PREFIX)


def digest(salt: str, secret: str) -> str:
    """SHA-256 of salt and secret, hex: what the record keeps in place of the key."""
    return hashlib.sha256(base64.urlsafe_b64decode(salt) + secret.encode("ascii")).hexdigest()


def shown(record: dict[str, Any]) -> dict[str, Any]:
    """A key record as the API lists it: never its hash or salt."""
    return {name: record.get(name) for name in _SHOWN}


@dataclass
class _Cached:
    record: dict[str, Any]
    verified_at: float  # monotonic
    touched_at: float  # wall clock of the last lastUsedAt written or read


class Keys:
    """Create, list, revoke and verify API keys, with a short per-instance cache."""

    def __init__(
        self,
        records: KeyRecords,
        *,
        clock: Callable[[], float] = time.time,
        monotonic: Callable[[], float] | None = None,
        cache_seconds: float = KEY_CACHE_SECONDS,
        touch_every: float = LAST_USED_EVERY_SECONDS,
    ) -> None:
        self._records = records
        self._clock = clock
        self._monotonic = monotonic or (clock if clock is not time.time else time.monotonic)
        self._cache_seconds = cache_seconds
        self._touch_every = touch_every
        self._cache: dict[str, _Cached] = {}  # sha256 of the presented key -> record
        self._lock = threading.Lock()

    def create(
        self, name: str, role: str, expires_at: str | None, created_by: Principal
    ) -> tuple[dict[str, Any], str]:
        """A new key: its shown record, and the key itself (to show this once)."""
        problems = []
        if not isinstance(name, str) or not name.strip() or len(name) > MAX_NAME_CHARS:
            problems.append(Problem("name", f"must be 1 to {MAX_NAME_CHARS} characters"))
        if role not in ROLES:
            problems.append(Problem("role", f"must be one of {', '.join(ROLES)}"))
        expiry = None
        if expires_at is not None:
            try:
                expiry = iso_timestamp(expires_at)
            except (TypeError, ValueError):
                problems.append(Problem("expiresAt", "must be an ISO-8601 date and time"))
            else:
                if expiry <= self._now_iso():
                    problems.append(Problem("expiresAt", "must be in the future"))
        if problems:
            raise ConfigError(problems)
        key_id = pysecrets.token_hex(ID_BYTES)
        secret = pysecrets.token_urlsafe(SECRET_BYTES)
        salt = base64.urlsafe_b64encode(pysecrets.token_bytes(SALT_BYTES)).decode("ascii")
        record = {
            "id": key_id,
            "name": name.strip(),
            "role": role,
            "prefix": f"{KEY_PREFIX}{key_id}",
            "salt": salt,
            "hash": digest(salt, secret),
            "createdAt": self._now_iso(),
            "lastUsedAt": None,
            "expiresAt": expiry,
            "createdBy": created_by.actor(),
        }
        self._records.create(record)
        return shown(record), f"{KEY_PREFIX}{key_id}_{secret}"

    def list(self, limit: int, cursor: str | None) -> tuple[list[dict[str, Any]], str | None]:
        """One page of keys, newest first, as shown."""
        records, next_cursor = self._records.list(limit, cursor)
        return [shown(record) for record in records], next_cursor

    def revoke(self, key_id: str) -> dict[str, Any]:
        """Delete the key (refused here at once, on other instances within the cache bound)."""
        record = self._records.get(key_id)
        if record is None or not self._records.delete(key_id):
            raise NotFoundError(f"no API key {key_id}")
        with self._lock:
            for fingerprint in [f for f, c in self._cache.items() if c.record["id"] == key_id]:
                del self._cache[fingerprint]
        return shown(record)

    def verify(self, presented: str) -> Principal | None:
        """The key's principal, or None for an unknown, wrong, expired or revoked key."""
        parsed = parse_key(presented)
        if parsed is None:
            return None
        fingerprint = hashlib.sha256(presented.encode("ascii")).hexdigest()
        now = self._monotonic()
        with self._lock:
            cached = self._cache.get(fingerprint)
        if cached is None or now - cached.verified_at >= self._cache_seconds:
            cached = self._load(fingerprint, *parsed)
            if cached is None:
                return None
        record = cached.record
        if record.get("expiresAt") and record["expiresAt"] <= self._now_iso():
            return None
        self._touch(cached)
        return Principal(record["id"], record["name"], record["role"], record.get("expiresAt"))

    def _load(self, fingerprint: str, key_id: str, secret: str) -> _Cached | None:
        record = self._records.get(key_id)
        with self._lock:
            self._cache.pop(fingerprint, None)
        if record is None or not isinstance(record.get("salt"), str):
            return None
        if not hmac.compare_digest(digest(record["salt"], secret), str(record.get("hash"))):
            return None
        touched = _epoch(record.get("lastUsedAt"))
        cached = _Cached(record, self._monotonic(), touched)
        with self._lock:
            if len(self._cache) >= KEY_CACHE_SIZE:
                del self._cache[next(iter(self._cache))]
            self._cache[fingerprint] = cached
        return cached

    def _touch(self, cached: _Cached) -> None:
        # One write a minute per key at most, not one per request.
        now = self._clock()
        if now - cached.touched_at < self._touch_every:
            return
        cached.touched_at = now
        when = self._now_iso()
        cached.record["lastUsedAt"] = when
        self._records.touch(cached.record["id"], when)

    def _now_iso(self) -> str:
        return epoch_iso(self._clock())


def _epoch(value: Any) -> float:
    if not isinstance(value, str):
        return float("-inf")
    try:
        return datetime.fromisoformat(value).timestamp()
    except ValueError:
        return float("-inf")
