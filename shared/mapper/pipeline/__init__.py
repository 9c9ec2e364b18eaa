"""condition -> plan -> target -> run record. Knows nothing of HTTP or CloudEvents.

    ports.py          the interfaces the pipeline needs (runs, integrations, queue, ...)
    integrations.py   typed integrations from a short per-instance cache
    json_body.py      request bodies parsed as the JSON every stage can carry
    intake.py         every source's request -> a queued run, or a recorded refusal
    rate_limit.py     source.rateLimit: a token bucket per integration and instance
    worker.py         a queued run -> claim -> condition, mapping, target -> outcome
    reconcile.py      runs in flight too long -> published again, or ended with a reason
"""

from __future__ import annotations

from .intake import Intake, Receipt, decode_internal, run_id_for
from .integrations import Integrations
from .reconcile import Reconciler
from .worker import LEASE_MARGIN_S, Worker, lease_seconds

__all__ = [
    "LEASE_MARGIN_S",
    "Intake",
    "Integrations",
    "Receipt",
    "Reconciler",
    "Worker",
    "decode_internal",
    "lease_seconds",
    "run_id_for",
]
