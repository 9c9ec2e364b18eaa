"""What the cloud bills for what `bench/cost.py` counted: list prices, free tiers, arithmetic.

Pure: no cloud library, no clock. Everything priced here is a count the bench measured (per
event) times one price of PRICES; the free tiers are subtracted per month. docs/deploy.md
("What it costs under load") is generated from the JSON the bench writes with these numbers.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass

DAY_S = 86_400
MONTH_DAYS = 30  # a billing month, and the run history kept (run_retention_days = 30)
MONTH_S = MONTH_DAYS * DAY_S
GIB = 1024**3
TIB = 1024**4
# Pub/Sub bills at least this many bytes for each publish, push or pull request.
PUBSUB_MIN_REQUEST_BYTES = 1000
# Cloud Run bills an instance's busy time rounded up to the next 100 ms.
RUN_BILLING_GRANULARITY_S = 0.1
# Cloud Run's autoscaler keeps instances near 60 % of their CPU and 60 % of their request
# concurrency (its default targets, "About instance autoscaling" in the Cloud Run docs).
AUTOSCALE_TARGET = 0.6

PRICES_AS_OF = "2026-12-01"
PRICE_REGION = "us-central1 (Tier 1)"
# Each list price with its free tier per month (0: none), and the pricing page it is from.
PRICES: dict[str, dict[str, float | str]] = {
    "run_requests": {"price": 0.40, "per": 1e6, "free": 2e6, "unit": "requests",
                     "source": "Cloud Run pricing (request-based billing)"},
    "run_vcpu_s": {"price": 0.000024, "per": 1, "free": 180_000, "unit": "vCPU-seconds",
                   "source": "Cloud Run pricing (request-based billing)"},
    "run_gib_s": {"price": 0.0000025, "per": 1, "free": 360_000, "unit": "GiB-seconds",
                  "source": "Cloud Run pricing (request-based billing)"},
    "firestore_reads": {"price": 0.03, "per": 1e5, "free": 50_000 * MONTH_DAYS,
                        "unit": "document reads", "source": "Firestore pricing"},
    "firestore_writes": {"price": 0.09, "per": 1e5, "free": 20_000 * MONTH_DAYS,
                         "unit": "document writes", "source": "Firestore pricing"},
    "firestore_deletes": {"price": 0.01, "per": 1e5, "free": 20_000 * MONTH_DAYS,
                          "unit": "document deletes", "source": "Firestore pricing"},
    "firestore_storage": {"price": 0.15, "per": GIB, "free": GIB, "unit": "bytes a month",
                          "source": "Firestore pricing"},
    "pubsub_bytes": {"price": 40.0, "per": TIB, "free": 10 * GIB, "unit": "bytes",
                     "source": "Pub/Sub pricing (throughput, Message Delivery Basic)"},
    "logging_bytes": {"price": 0.50, "per": GIB, "free": 50 * GIB, "unit": "bytes",
                      "source": "Google Cloud Observability pricing (Cloud Logging ingestion)"},
    "tasks_operations": {"price": 0.40, "per": 1e6, "free": 1e6, "unit": "operations",
                         "source": "Cloud Tasks pricing"},
}
# The lines of the bill, in the order the tables show them.
LINES = (
    ("firestore_reads", "Firestore reads"),
    ("firestore_writes", "Firestore writes"),
    ("firestore_deletes", "Firestore deletes (TTL)"),
    ("firestore_storage", "Firestore storage (30 days of runs)"),
    ("pubsub_bytes", "Pub/Sub throughput"),
    ("run_requests", "function requests"),
    ("run_vcpu_s", "function vCPU time"),
    ("run_gib_s", "function memory time"),
    ("logging_bytes", "log ingestion"),
    ("tasks_operations", "Cloud Tasks operations"),
)


def pubsub_billed_bytes(request_bytes: int) -> int:
    """What Pub/Sub bills for one request carrying `request_bytes` of messages."""
    return max(PUBSUB_MIN_REQUEST_BYTES, request_bytes)


def pubsub_message_bytes(
    data: int, attributes: Mapping[str, str], message_id: str = "", ordering_key: str = ""
) -> int:
    """One message's billed size: data, attribute keys and values, id, key, 20 for the time."""
    attrs = sum(len(k.encode()) + len(v.encode()) for k, v in attributes.items())
    return data + attrs + len(message_id.encode()) + len(ordering_key.encode()) + 20


def billed_instance_seconds(duration_s: float) -> float:
    """One busy period of an instance as Cloud Run bills it: rounded up to the next 100 ms."""
    steps = math.ceil(round(duration_s / RUN_BILLING_GRANULARITY_S, 9))
    return max(1, steps) * RUN_BILLING_GRANULARITY_S


def autoscaled_instance_seconds(
    cpu_s: float, request_s: float, cpus: float, concurrency: float
) -> float:
    """Instance time a steady high rate bills for work measured as `cpu_s` CPU seconds and
    `request_s` seconds of requests in flight (their durations added up).

    The autoscaler runs as many instances as the larger of its two drivers asks for: CPU
    used per second over the instance's CPUs, and requests at once over its concurrency,
    each divided by its target. Spread over the events, that is this many instance seconds
    (a busy instance is billed whole under request-based billing).
    """
    by_cpu = cpu_s / (cpus * AUTOSCALE_TARGET)
    by_requests = request_s / (concurrency * AUTOSCALE_TARGET)
    return max(by_cpu, by_requests)


@dataclass(frozen=True)
class PerEvent:
    """What one event costs in billed units, each an average over the measured events."""

    firestore_reads: float
    firestore_writes: float
    firestore_deletes: float
    stored_bytes: float  # one run's document and index entries, kept for the retention
    pubsub_bytes: float  # billed: publishes, pushes and dead-letter forwards, 1 KB minimum each
    run_requests: float
    run_vcpu_s: float
    run_gib_s: float
    logging_bytes: float
    tasks_operations: float

    def as_dict(self) -> dict[str, float]:
        """The fields by name (the JSON's shape)."""
        return asdict(self)


def quantities(per_event: PerEvent, events: float) -> dict[str, float]:
    """Each billed quantity for `events` events; storage in byte-months (each run is kept a
    month: run_retention_days = 30)."""
    amounts = {key: getattr(per_event, key) * events for key, _ in LINES if key in PER_EVENT}
    amounts["firestore_storage"] = per_event.stored_bytes * events
    return amounts


PER_EVENT = frozenset(PRICES) - {"firestore_storage"}


def dollars(key: str, quantity: float, free_tier: bool) -> float:
    """The list price of `quantity` units of one line, less its monthly free tier if asked."""
    price = PRICES[key]
    billable = max(0.0, quantity - float(price["free"])) if free_tier else quantity
    return billable / float(price["per"]) * float(price["price"])


def per_million(per_event: PerEvent) -> dict[str, float]:
    """Dollars per million events by line, without free tiers (what each further million costs)."""
    return {k: dollars(k, q, free_tier=False) for k, q in quantities(per_event, 1e6).items()}


def monthly(per_event: PerEvent, events_per_s: float) -> dict[str, float]:
    """Dollars a month by line at a steady rate, free tiers subtracted."""
    events = events_per_s * MONTH_S
    return {k: dollars(k, q, free_tier=True) for k, q in quantities(per_event, events).items()}
