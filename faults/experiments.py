"""One fault experiment: send a stream of webhooks, inject a fault, wait, count what happened.

Every message is one event (an order whose `id` the mapping carries to the target as
`orderId`), sent as a real sender would: a message with a key (`webhook-id`) is sent again
with the same key after a 503 or a broken connection; a key-less one only after a 503 (an
answer that says "not accepted"). After the stream, it waits until no run of the
experiment's integration is in flight and every accepted event is delivered or its run
ended, bounded by the horizon (`Horizons.settle_s`). Then it counts, per event:

- accepted: some POST of it was answered 202;
- delivered: the sink answered 200 to at least one request carrying it;
- lost: accepted, not delivered, and its run did not end `error`/`dead_lettered` with a reason;
- duplicates with the same Idempotency-Key (allowed: the receiver can drop them), and with a
  different key or none (never allowed: the receiver cannot tell);
- runs of the integration still queued, retrying or delivering after the horizon.
"""

from __future__ import annotations

import itertools
import json
import random
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

import requests

from bench.engine import make_order as bench_order
from mapper.pipeline.runs import IN_FLIGHT, RunStatus

from .sink import Behaviour, Received, RecordingSink
from .stack import Stack

ENDED = (RunStatus.ERROR, RunStatus.DEAD_LETTERED)  # ended without delivering
CONCURRENCY = 8  # sender threads
SEND_DEADLINE_S = 120.0  # one message's retries, whatever happens
RETRY_PAUSE_S = 0.5
CLIENT_TIMEOUT_S = 30.0
FAULT_AT = 0.4  # share of the stream accepted before the fault strikes
PLATFORM_DOWN_S = 2.0
PUBSUB_DOWN_S = 3.0
POLL_S = 2.0

Fault = Literal["platform", "pubsub"]


@dataclass(frozen=True)
class Experiment:
    """What to send, how the target answers, and which fault strikes mid-stream."""

    name: str
    title: str
    n: int
    behaviour: Behaviour = field(default_factory=Behaviour)
    fault: Fault | None = None
    keyless_share: float = 0.0  # share of messages sent without a webhook-id
    copies: int = 1  # > 1: each event is POSTed this many times at once, same webhook-id
    timeout_s: float = 5.0  # the target's timeout
    keys: int = 0  # > 0: ordered by customer over this many keys (faults/ordered.py)


@dataclass
class Result:
    """What one experiment counted."""

    experiment: Experiment
    posts: int = 0
    answered_202: int = 0
    events: int = 0
    accepted: int = 0
    delivered: int = 0
    lost: list[str] = field(default_factory=list)
    dup_other_key: int = 0
    dup_same_key: int = 0
    applied_twice: int | None = None  # events the deduplicating receiver applied twice
    in_flight: int = 0
    ended_with_reason: int = 0
    delivered_unaccepted: int = 0
    seconds: float = 0.0
    per_second: float = 0.0
    settled: bool = False
    notes: list[str] = field(default_factory=list)
    out_of_order: int | None = None  # ordered case: delivered out of accept order (per key)
    overtaken: int | None = None  # ordered case: requests ahead of an earlier event of the key

    def failures(self) -> list[str]:
        """Every expectation this result breaks, as sentences."""
        broken = []
        if self.lost:
            broken.append(f"{len(self.lost)} accepted events lost, e.g. {self.lost[:3]}")
        if self.dup_other_key:
            broken.append(f"{self.dup_other_key} duplicates with a different key or none")
        if self.applied_twice:
            broken.append(f"{self.applied_twice} events applied twice by a deduplicating receiver")
        if self.in_flight:
            broken.append(f"{self.in_flight} runs still in flight after the horizon")
        if self.accepted == 0:
            broken.append("nothing was accepted")
        if self.out_of_order or self.overtaken:
            broken.append(f"order of a key broken: {self.out_of_order} events out of order, "
                          f"{self.overtaken} requests overtook an earlier event")
        return broken


@dataclass
class _Event:
    id: str
    body: bytes
    key: str | None
    run_ids: list[str] = field(default_factory=list)
    answers: Counter[int] = field(default_factory=Counter)


def run_experiment(stack: Stack, sink: RecordingSink, exp: Experiment) -> Result:
    """Run `exp` against the running stack; the counts."""
    sink.reset(exp.behaviour)
    integration = stack.add_integration(
        f"faults {exp.name}", f"{sink.url}/{exp.name}", exp.timeout_s
    )
    rng = random.Random(f"{exp.name}-keys")
    events = [
        _Event(
            id=f"{exp.name}-{i}",
            body=json.dumps(make_order(f"{exp.name}-{i}", i)).encode(),
            key=None if rng.random() < exp.keyless_share else f"{exp.name}-key-{i}",
        )
        for i in range(exp.n)
    ]
    result = Result(exp, events=len(events))
    started = time.monotonic()
    accepted_count = itertools.count(1)
    fault_thread = None
    fault_due = threading.Event()
    if exp.fault is not None:
        fault_thread = threading.Thread(
            target=_strike, args=(stack, exp.fault, fault_due, result), daemon=True
        )
        fault_thread.start()
    threshold = max(1, int(FAULT_AT * exp.n))

    def on_accepted() -> None:
        if next(accepted_count) == threshold:
            fault_due.set()

    url = integration["localWebhookUrl"]
    if exp.copies > 1:
        for event in events:
            _send_copies(url, event, exp.copies)
    else:
        _send_stream(url, events, on_accepted)
    if fault_thread is not None:
        fault_due.set()
        fault_thread.join(timeout=180)
    sent_s = time.monotonic() - started
    result.settled = _settle(stack, sink, integration["id"], events, exp)
    _count(result, stack, sink, integration["id"], events, started)
    result.notes.append(f"stream sent in {sent_s:.1f} s")
    return result


def make_order(event_id: str, n: int) -> dict[str, object]:
    """The benchmarks' ~1.7 KB order (bench/engine.py); `id` identifies the event at the sink."""
    order: dict[str, object] = bench_order(n, random.Random(n))
    order["id"] = event_id
    return order
def _post(session: requests.Session, url: str, event: _Event) -> int:
    """One POST of the event; its status, or -1 for no answer. Records a 202's run id."""
    headers = {"Content-Type": "application/json"}
    if event.key is not None:
        headers["webhook-id"] = event.key
    try:
        reply = session.post(url, data=event.body, headers=headers, timeout=CLIENT_TIMEOUT_S)
    except requests.RequestException:
        event.answers[-1] += 1
        return -1
    event.answers[reply.status_code] += 1
    if reply.status_code == 202:
        event.run_ids.append(str(reply.json()["runId"]))
    return reply.status_code


def _send_one(session: requests.Session, url: str, event: _Event) -> bool:
    """Send until accepted, as a sender would; True once a POST was answered 202."""
    deadline = time.monotonic() + SEND_DEADLINE_S
    while time.monotonic() < deadline:
        status = _post(session, url, event)
        if status == 202:
            return True
        # Without a key, only a 503 says "not accepted": after a broken connection the
        # message may well have been accepted, and sending it again would be a new event.
        retry = status == 503 or (event.key is not None and (status == -1 or status >= 500))
        if not retry:
            return False
        time.sleep(RETRY_PAUSE_S)
    return False


def _send_stream(url: str, events: list[_Event], on_accepted: Callable[[], None]) -> None:
    queue = iter(events)
    lock = threading.Lock()

    def sender() -> None:
        session = requests.Session()
        session.trust_env = False  # loopback only, never through a proxy
        try:
            while True:
                with lock:
                    event = next(queue, None)
                if event is None:
                    return
                if _send_one(session, url, event):
                    on_accepted()
        finally:
            session.close()

    threads = [threading.Thread(target=sender, daemon=True) for _ in range(CONCURRENCY)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=SEND_DEADLINE_S * len(events))


def _send_copies(url: str, event: _Event, copies: int) -> None:
    """POST the same event `copies` times at once (same webhook-id), as a retry storm does."""
    barrier = threading.Barrier(copies)

    def sender() -> None:
        session = requests.Session()
        session.trust_env = False
        try:
            barrier.wait(timeout=30)
            _post(session, url, event)
        finally:
            session.close()

    threads = [threading.Thread(target=sender, daemon=True) for _ in range(copies)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=CLIENT_TIMEOUT_S + 30)


def _strike(stack: Stack, fault: Fault, due: threading.Event, result: Result) -> None:
    """Wait until the fault is due, then kill and restart what it names."""
    due.wait(timeout=SEND_DEADLINE_S)
    began = time.monotonic()
    if fault == "platform":
        stack.kill_platform()
        time.sleep(PLATFORM_DOWN_S)
        stack.start_platform()
        took = time.monotonic() - began
        result.notes.append(f"platform killed (SIGKILL) and back in {took:.1f} s")
    else:
        stack.kill_pubsub()
        time.sleep(PUBSUB_DOWN_S)
        stack.restart_pubsub()
        result.notes.append(
            f"Pub/Sub emulator killed (SIGKILL) and back in {time.monotonic() - began:.1f} s"
        )


# --- waiting and counting -----------------------------------------------------------------


def _settle(
    stack: Stack, sink: RecordingSink, integration_id: str, events: list[_Event], exp: Experiment
) -> bool:
    """Wait until nothing is in flight and every accepted event is done; False at the horizon."""
    deadline = time.monotonic() + stack.horizons.settle_s(exp.timeout_s + 30)
    while True:
        runs = stack.runs(integration_id)
        delivered = {r.event for r in sink.snapshot() if r.status == 200}
        in_flight = [i for i, r in runs.items() if r.get("status") in IN_FLIGHT]
        waiting = [
            e
            for e in events
            if e.run_ids
            and e.id not in delivered
            and all(runs.get(r, {}).get("status") in IN_FLIGHT or r not in runs for r in e.run_ids)
        ]
        if not in_flight and not waiting:
            return True
        if time.monotonic() > deadline:
            return False
        time.sleep(POLL_S)


def _count(
    result: Result,
    stack: Stack,
    sink: RecordingSink,
    integration_id: str,
    events: list[_Event],
    started: float,
) -> None:
    prefix = f"{result.experiment.name}-"
    received = [r for r in sink.snapshot() if r.event and r.event.startswith(prefix)]
    runs = stack.runs(integration_id)
    by_event: dict[str, list[Received]] = {}
    for r in received:
        if r.status == 200:
            by_event.setdefault(str(r.event), []).append(r)
    result.posts = sum(sum(e.answers.values()) for e in events)
    result.answered_202 = sum(e.answers[202] for e in events)
    result.accepted = sum(1 for e in events if e.run_ids)
    result.delivered = sum(1 for e in events if e.id in by_event)
    result.delivered_unaccepted = sum(1 for e in events if e.id in by_event and not e.run_ids)
    for e in events:
        if e.run_ids and e.id not in by_event and not _ended_with_reason(runs, e.run_ids):
            result.lost.append(e.id)
        keys = [r.key for r in by_event.get(e.id, [])]
        distinct = len({k for k in keys if k is not None}) + sum(1 for k in keys if k is None)
        result.dup_other_key += max(0, distinct - 1)
        result.dup_same_key += len(keys) - distinct
    if result.experiment.behaviour.dedup:
        applied = Counter(str(r.event) for r in received if r.applied and r.status == 200)
        result.applied_twice = sum(1 for n in applied.values() if n > 1)
    result.in_flight = sum(1 for r in runs.values() if r.get("status") in IN_FLIGHT)
    result.ended_with_reason = sum(
        1 for r in runs.values() if r.get("status") in ENDED and r.get("errorMessage")
    )
    firsts = [min(r.at for r in rs) for rs in by_event.values()]
    result.seconds = (max(firsts) - started) if firsts else 0.0
    result.per_second = result.delivered / result.seconds if result.seconds else 0.0
    statuses = Counter(str(r.get("status")) for r in runs.values())
    result.notes.append("runs: " + ", ".join(f"{k} {v}" for k, v in sorted(statuses.items())))
    answers = Counter[int]()
    for e in events:
        answers.update(e.answers)
    result.notes.append(
        "answers: "
        + ", ".join(f"{'no answer' if k == -1 else k} x{v}" for k, v in sorted(answers.items()))
    )
    if result.delivered_unaccepted:
        result.notes.append(
            f"{result.delivered_unaccepted} events delivered though no POST of them got a 202"
        )
    if not result.settled:
        result.notes.append("did not settle within the horizon")


def _ended_with_reason(runs: dict[str, dict[str, object]], run_ids: list[str]) -> bool:
    return any(
        runs.get(r, {}).get("status") in ENDED and runs.get(r, {}).get("errorMessage")
        for r in run_ids
    )
