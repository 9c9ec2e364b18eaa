"""The fault suite's ordered case: 30 % failures on an integration with `orderingKey`.

The events are spread over `Experiment.keys` customers (`customer.id`, the integration's
`orderingKey`). Each customer's events are sent one after another, each once the one before
it was answered 202: that is the accept order to keep. The customers are sent at once. The
receiver fails a share of requests (500) at random. Beside the suite's own counts, per key:

- out of order: events whose first successful delivery came before that of an event
  accepted ahead of them (of the same key);
- overtaken: requests of an event that reached the receiver while an event accepted ahead
  of it (same key) had not yet been delivered though it was later (a later event tried
  while an earlier one was still failing: what a held key must prevent).

Both must be 0. docs/delivery.md ("Ordering"), docs/performance.md ("Fault suite").
"""

from __future__ import annotations

import json
import threading
import time
from typing import Any

import requests

from .experiments import (
    CONCURRENCY,
    Experiment,
    Result,
    _count,
    _Event,
    _send_one,
    _settle,
    make_order,
)
from .sink import RecordingSink
from .stack import Stack

ORDERING_PATH = "customer.id"


def run_ordered(stack: Stack, sink: RecordingSink, exp: Experiment) -> Result:
    """Run the ordered case against the running stack; the counts and the order checks."""
    sink.reset(exp.behaviour)
    integration = stack.add_integration(
        f"faults {exp.name}", f"{sink.url}/{exp.name}", exp.timeout_s
    )
    _order_by(stack, integration, ORDERING_PATH)
    by_key: dict[str, list[_Event]] = {f"{exp.name}-cus-{k}": [] for k in range(exp.keys)}
    keys = list(by_key)
    events = []
    for i in range(exp.n):
        customer = keys[i % len(keys)]
        order: dict[str, Any] = make_order(f"{exp.name}-{i}", i)
        order["customer"] = {**order["customer"], "id": customer}  # type: ignore[dict-item]
        event = _Event(f"{exp.name}-{i}", json.dumps(order).encode(), f"{exp.name}-key-{i}")
        by_key[customer].append(event)
        events.append(event)
    result = Result(exp, events=len(events))
    started = time.monotonic()
    _send_keys(integration["localWebhookUrl"], list(by_key.values()))
    sent_s = time.monotonic() - started
    result.settled = _settle(stack, sink, integration["id"], events, exp)
    _count(result, stack, sink, integration["id"], events, started)
    result.out_of_order, result.overtaken = order_breaks(sink, by_key.values())
    result.notes.append(f"stream sent in {sent_s:.1f} s over {exp.keys} keys")
    return result


def order_breaks(sink: RecordingSink, keys: Any) -> tuple[int, int]:
    """(events delivered out of accept order, requests that overtook an earlier event)."""
    received = sink.snapshot()  # in arrival order
    out_of_order = overtaken = 0
    for events in keys:
        accepted = [e.id for e in events if e.run_ids]  # the accept order of this key
        rank = {event_id: i for i, event_id in enumerate(accepted)}
        first_ok: dict[str, int] = {}  # event -> index in `received` of its first 200
        for at, r in enumerate(received):
            if r.event in rank and r.status == 200 and r.event not in first_ok:
                first_ok[str(r.event)] = at
        delivered = sorted(first_ok, key=first_ok.__getitem__)
        out_of_order += sum(
            1 for before, after in zip(delivered, delivered[1:], strict=False)
            if rank[before] > rank[after]
        )
        for at, r in enumerate(received):
            if r.event not in rank:
                continue
            ahead = accepted[: rank[str(r.event)]]
            if any(first_ok.get(e, -1) > at for e in ahead):
                overtaken += 1
    return out_of_order, overtaken


def _order_by(stack: Stack, integration: dict[str, Any], path: str) -> None:
    """Give the integration its `orderingKey` through the API, as a user would."""
    doc = {k: v for k, v in integration.items() if k != "localWebhookUrl"}
    doc["orderingKey"] = path
    reply = requests.put(
        f"{stack.url}/api/integrations/{integration['id']}/",
        json=doc,
        headers={"Authorization": f"Bearer {stack.admin_token}"},
        timeout=30,
    )
    if reply.status_code != 200:
        raise RuntimeError(f"could not set orderingKey: {reply.text}")


def _send_keys(url: str, keys: list[list[_Event]]) -> None:
    """Each key's events one after another (the accept order); up to CONCURRENCY keys at once."""
    queue = iter(keys)
    lock = threading.Lock()

    def sender() -> None:
        session = requests.Session()
        session.trust_env = False  # loopback only, never through a proxy
        try:
            while True:
                with lock:
                    events = next(queue, None)
                if events is None:
                    return
                for event in events:
                    _send_one(session, url, event)
        finally:
            session.close()

    threads = [threading.Thread(target=sender, daemon=True) for _ in range(CONCURRENCY)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=3600)
