"""Senders kept across runs within an instance, one per distinct target, so that connections
are kept alive between deliveries (docs/delivery.md, "Connections to targets").

    pool = TargetPool()                          # a TargetFactory: Worker(targets=pool)
    target = pool(config, secrets, egress)       # the kept sender for this configuration
    try: target.send(...)
    finally: target.close()                      # hands it back; the connections stay open

Building a sender per delivery cost a new session, four adapters and a new TCP (and TLS)
connection for every message, most of the worker's CPU outside Firestore. Only what nothing
per-message lives in is kept: HTTP senders (an email target still opens its SMTP
conversation per message). The key is the whole target configuration (URL, method,
headers, auth and its secret references, signing, timeout), with the secret resolver and
egress policy it was built with: two integrations share a sender only when their targets
are the same in every respect, so one never sends with the other's credentials. The
egress policy still judges every request, on a kept connection too: requests-hardened
resolves and pins the address per request, and a connection is only reused for the same
pinned address. At most `MAX_POOLED_TARGETS` senders are kept, the least recently used
one closed beyond that (once no delivery is using it).
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

from ..engine.config import HttpTarget
from . import TargetFactory, build_target
from .base import Delivery, SecretResolver, Target
from .egress import EgressPolicy

MAX_POOLED_TARGETS = 64  # distinct target configurations kept open per instance


@dataclass
class _Entry:
    sender: Target
    users: int = 0
    evicted: bool = False


class TargetPool:
    """A `TargetFactory` that keeps one sender per distinct HTTP target configuration."""

    def __init__(self, size: int = MAX_POOLED_TARGETS, build: TargetFactory = build_target) -> None:
        if size < 1:
            raise ValueError("a target pool keeps at least one sender")
        self._size = size
        self._build = build
        self._entries: OrderedDict[tuple[Any, ...], _Entry] = OrderedDict()
        self._lock = threading.Lock()

    def __call__(self, config: Any, secrets: SecretResolver, egress: EgressPolicy) -> Target:
        """The sender for `config`; close() hands it back (the pool keeps it open)."""
        if not isinstance(config, HttpTarget):
            return self._build(config, secrets, egress)
        key = (config.model_dump_json(by_alias=True), id(secrets), id(egress))
        with self._lock:
            entry = self._entries.get(key)
            if entry is None:
                # No I/O while building: the session connects on first use.
                entry = _Entry(self._build(config, secrets, egress))
                self._entries[key] = entry
                while len(self._entries) > self._size:
                    _, old = self._entries.popitem(last=False)
                    old.evicted = True
                    if old.users == 0:
                        old.sender.close()
            else:
                self._entries.move_to_end(key)
            entry.users += 1
        return _Lease(self, entry)

    def __len__(self) -> int:
        with self._lock:
            return len(self._entries)

    def close(self) -> None:
        """Close every kept sender not in use; those in use close when handed back."""
        with self._lock:
            entries = list(self._entries.values())
            self._entries.clear()
            for entry in entries:
                entry.evicted = True
                if entry.users == 0:
                    entry.sender.close()

    def _release(self, entry: _Entry) -> None:
        with self._lock:
            entry.users -= 1
            if entry.evicted and entry.users == 0:
                entry.sender.close()


class _Lease:
    """One delivery's use of a kept sender: sends through it, close() hands it back."""

    def __init__(self, pool: TargetPool, entry: _Entry) -> None:
        self._pool = pool
        self._entry: _Entry | None = entry

    @property
    def sender(self) -> Target:
        """The kept sender (for tests and diagnostics)."""
        assert self._entry is not None, "the target was handed back"
        return self._entry.sender

    def send(self, payload: Any, context: Any, run_id: str | None = None) -> Delivery:
        """Deliver through the kept sender."""
        return self.sender.send(payload, context, run_id=run_id)

    def close(self) -> None:
        """Hand the sender back to the pool (once; again does nothing)."""
        entry, self._entry = self._entry, None
        if entry is not None:
            self._pool._release(entry)
