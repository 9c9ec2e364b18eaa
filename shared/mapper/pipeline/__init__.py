"""condition -> plan -> target -> run record. Knows nothing of HTTP or CloudEvents.

    runs.py           the run's vocabulary: statuses, source kinds, run ids, the queued message
    ports.py          the interfaces the pipeline needs (runs, integrations, queue, ...)
    integrations.py   typed integrations from a short per-instance cache
    intake.py         every source's request -> a queued run, or a recorded refusal
    rate_limit.py     source.rateLimit: a token bucket per integration and instance
    dedupe.py         source.dedupe: the first event with some values holds them for a window
    shape.py          the source shape: accepted payloads folded, sampled, drift found
    drift_notices.py  the tick's source.drift sender: drift the intake filed, notified once
    worker.py         a queued run -> claim -> condition, mapping, target -> outcome
    deliver.py        a delivery queue's task (run, target) -> the worker's send and record
    reconcile.py      runs in flight too long -> published again, or ended with a reason

The names below load their module when first used, so that importing `runs` or `ports`
(as the Firestore adapter and the test fakes do) loads no more than those two modules.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .intake import Intake, Receipt
    from .integrations import Integrations
    from .reconcile import Reconciler
    from .runs import QueuedMessage, RunStatus, SourceKind, run_id_for
    from .worker import LEASE_MARGIN_S, Worker, lease_seconds

_HOMES = {
    "Intake": "intake",
    "Receipt": "intake",
    "Integrations": "integrations",
    "Reconciler": "reconcile",
    "QueuedMessage": "runs",
    "RunStatus": "runs",
    "SourceKind": "runs",
    "run_id_for": "runs",
    "LEASE_MARGIN_S": "worker",
    "Worker": "worker",
    "lease_seconds": "worker",
}

__all__ = [
    "LEASE_MARGIN_S",
    "Intake",
    "Integrations",
    "QueuedMessage",
    "Receipt",
    "Reconciler",
    "RunStatus",
    "SourceKind",
    "Worker",
    "lease_seconds",
    "run_id_for",
]


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f".{home}", __name__), name)
