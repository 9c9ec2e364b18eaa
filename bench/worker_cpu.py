"""The worker function's CPU per event, and where it goes (cProfile), on real messages.

    .venv/bin/python bench/worker_cpu.py [--events 300] [--profile 25] [--out FILE]
    .venv/bin/python bench/worker_cpu.py --compare-targets 6 [--events 250]
    .venv/bin/python bench/worker_cpu.py --compare-reads 6 [--events 250]

Starts the Firestore and Pub/Sub emulators and an HTTP target in a process of its own (a
loopback sink on 127.0.0.2 answering 200), stores one integration with the engine
benchmark's 10 mappings to that target, accepts `--events` orders through the webhook
function, and pulls the messages it published from the internal topic. Then it hands each
message, one at a time, to the worker function as Pub/Sub pushes it (a CloudEvent, through
functions-framework's app as the framework loads it) and prints the process's CPU per
event (user + system, every thread: the gRPC clients' threads are the worker's too), the
wall time per event, and cProfile's top entries by own time and by cumulative time over the
events, timed by the main thread's CPU clock (`--timer wall` for the wall clock, which
counts waits for the emulators too). The emulators and the sink run in other processes:
their CPU is not counted. Nothing here is concurrent, so the figure is the CPU one event
costs, not the throughput.
"""

from __future__ import annotations

import argparse
import base64
import cProfile
import io
import json
import os
import pstats
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from ff_support import ROOT, interleaved, load_average, order_body, spread

PROJECT = "demo-bench-worker-cpu"
TOPIC = "mapper-events"
SUBSCRIPTION = "bench-worker-cpu-pull"
WARMUP = 20
SINK = """
import sys, time
sys.path.insert(0, sys.argv[1])
from ff_support import CountingSink
sink = CountingSink()
print(sink.url, flush=True)
while True:
    time.sleep(3600)
"""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=300)
    parser.add_argument("--profile", type=int, default=25, help="entries of each table")
    parser.add_argument("--out", type=Path, help="write the raw profile (pstats) here")
    parser.add_argument("--timer", choices=("cpu", "wall"), default="cpu",
                        help="cProfile's clock: this thread's CPU time, or the wall clock")
    parser.add_argument("--compare-targets", type=int, default=0, metavar="ROUNDS",
                        help="rounds of a sender per delivery against the kept senders")
    parser.add_argument("--compare-reads", type=int, default=0, metavar="ROUNDS",
                        help="rounds of a streamed document read against a unary one")
    args = parser.parse_args(argv)

    import engine
    import functions_framework
    from google.cloud import firestore, pubsub_v1

    from local.emulators import start_emulators
    from mapper.queue import ensure_topic_and_subscription
    from mapper.store.integrations import IntegrationStore

    tmp = Path(tempfile.mkdtemp(prefix="bench-worker-cpu-"))
    sink = subprocess.Popen([sys.executable, "-c", SINK, str(ROOT / "bench")],
                            stdout=subprocess.PIPE, text=True, start_new_session=True)
    try:
        assert sink.stdout is not None
        sink_url = sink.stdout.readline().strip()
        with start_emulators(project=PROJECT, data_dir=tmp) as emulators:
            os.environ.update({
                **emulators.env(),
                "GOOGLE_CLOUD_PROJECT": PROJECT,
                "SECRET_BACKEND": f"local:{tmp / 'secrets.json'}",
                "EGRESS_ALLOW_CIDRS": "127.0.0.2/32",
                "LOG_FORMAT": "json",
                "PUSH_VERIFY_OIDC": "false",
                "INTERNAL_TOPIC": TOPIC,
            })
            publisher, subscriber = pubsub_v1.PublisherClient(), pubsub_v1.SubscriberClient()
            subscription = ensure_topic_and_subscription(
                publisher, subscriber, PROJECT, TOPIC, SUBSCRIPTION)
            db = firestore.Client(project=PROJECT)
            path = "bench-worker-cpu"
            IntegrationStore(db).create({
                "active": True,
                "name": "bench orders",
                "source": {"type": "webhook"},
                "mappings": engine.MAPPINGS,
                "target": {"type": "http", "url": sink_url + "/platform", "timeoutSeconds": 10},
                "webhookPath": path,
            })
            webhook = functions_framework.create_app(
                "webhook", str(ROOT / "functions/webhook/main.py"), "http").test_client()
            worker = functions_framework.create_app(
                "worker", str(ROOT / "functions/worker/main.py"), "cloudevent").test_client()
            body = order_body()
            if args.compare_reads:
                compare_reads(db, args.events, args.compare_reads)
                return 0
            if args.compare_targets:
                compare_targets(webhook, worker, subscriber, subscription, path, body,
                                args.events, args.compare_targets)
                return 0
            total = WARMUP + args.events
            for n in range(total):
                reply = webhook.post(f"/webhook/{path}/", data=body,
                                     headers={"Content-Type": "application/json",
                                              "webhook-id": f"e{n}"})
                assert reply.status_code == 202, reply.get_data(as_text=True)
            messages = pulled(subscriber, subscription, total)
            events = [cloud_event(m) for m in messages]
            for headers, data in events[:WARMUP]:
                assert worker.post("/", headers=headers, data=data).status_code == 200
            load = load_average()
            clock = time.thread_time if args.timer == "cpu" else time.perf_counter
            profile = cProfile.Profile(clock)
            cpu, wall = time.process_time(), time.perf_counter()
            profile.enable()
            for headers, data in events[WARMUP:]:
                assert worker.post("/", headers=headers, data=data).status_code == 200
            profile.disable()
            cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
            # The same events' CPU without the profiler's own overhead: a second batch.
            more = [cloud_event(m) for m in accept_and_pull(
                webhook, subscriber, subscription, path, body, args.events, total)]
            plain, own = time.process_time(), time.thread_time()
            for headers, data in more:
                assert worker.post("/", headers=headers, data=data).status_code == 200
            plain, own = time.process_time() - plain, time.thread_time() - own
            db.close()
            subscriber.close()
    finally:
        sink.terminate()
        sink.wait(timeout=10)
    n = args.events
    print(f"worker: {n} events, one at a time; load average {load} before, "
          f"{load_average()} after")
    print(f"  CPU {plain / n * 1000:.2f} ms per event (no profiler), of which the request's "
          f"own thread {own / n * 1000:.2f} ms; "
          f"under cProfile {cpu / n * 1000:.2f} ms CPU, {wall / n * 1000:.2f} ms wall")
    if args.out:
        profile.dump_stats(str(args.out))
    for key in ("tottime", "cumulative"):
        text = io.StringIO()
        pstats.Stats(profile, stream=text).sort_stats(key).print_stats(args.profile)
        print(text.getvalue())
    return 0


def compare_targets(
    webhook: Any, worker: Any, subscriber: Any, subscription: str, path: str, body: bytes,
    n: int, rounds: int,
) -> None:
    """CPU per event with a sender per delivery against the kept senders, in turns."""
    from mapper import services
    from mapper.targets import build_target
    from mapper.targets.pool import TargetPool

    events = [cloud_event(m) for m in accept_and_pull(
        webhook, subscriber, subscription, path, body, WARMUP + 2 * n * rounds, 0)]
    for headers, data in events[:WARMUP]:
        assert worker.post("/", headers=headers, data=data).status_code == 200
    pipeline, pool = services.worker(), TargetPool()
    factories = {"a sender per delivery": build_target, "kept senders": pool}
    cpu: dict[str, list[float]] = {name: [] for name in factories}
    load, at = load_average(), WARMUP
    for r in range(rounds):
        for name in interleaved(list(factories), r):
            pipeline._targets = factories[name]  # the Worker's TargetFactory, swapped
            started = time.process_time()
            for headers, data in events[at:at + n]:
                assert worker.post("/", headers=headers, data=data).status_code == 200
            cpu[name].append((time.process_time() - started) / n * 1000)
            at += n
    pool.close()
    print(f"worker: {rounds} rounds of {n} events per contender, one event at a time; "
          f"load average {load} before, {load_average()} after")
    report_pair(cpu, "event", "the kept senders")


def report_pair(cpu: dict[str, list[float]], per: str, saved_by: str, digits: int = 2) -> None:
    """Each contender's CPU ms per `per`, and what the second saved against the first."""
    for name, values in cpu.items():
        print(f"  {name:22} CPU ms per {per}, median {statistics.median(values):.{digits}f}; "
              f"rounds {' '.join(f'{v:.{digits}f}' for v in values)}")
    # Each round's own pair: the machine's load moves both alike.
    saved = [a - b for a, b in zip(*cpu.values(), strict=True)]
    print(f"  saved by {saved_by}, per round: median {spread(saved, digits)} ms per {per}")


def compare_reads(db: Any, n: int, rounds: int) -> None:
    """CPU per read of one delivery-state document: the snapshot's stream against one call."""
    from mapper.store.common import read_fields

    ref = db.collection("deliveryState").document("bench")
    ref.set({"state": "active", "consecutiveFailures": 0, "resumes": 1})
    readers = {"DocumentReference.get": lambda: ref.get().to_dict(),
               "read_fields": lambda: read_fields(ref)}
    assert readers["read_fields"]() == readers["DocumentReference.get"]()
    cpu: dict[str, list[float]] = {name: [] for name in readers}
    load = load_average()
    for r in range(rounds):
        for name in interleaved(list(readers), r):
            started = time.process_time()
            for _ in range(n):
                readers[name]()
            cpu[name].append((time.process_time() - started) / n * 1000)
    print(f"one document read: {rounds} rounds of {n} reads per contender; "
          f"load average {load} before, {load_average()} after")
    report_pair(cpu, "read", "read_fields", digits=3)


def accept_and_pull(
    webhook: Any, subscriber: Any, subscription: str, path: str, body: bytes, n: int, start: int
) -> list[Any]:
    """Accept n more orders through the webhook; their queued messages."""
    for i in range(start, start + n):
        reply = webhook.post(f"/webhook/{path}/", data=body,
                             headers={"Content-Type": "application/json", "webhook-id": f"e{i}"})
        assert reply.status_code == 202
    return pulled(subscriber, subscription, n)


def pulled(subscriber: Any, subscription: str, n: int) -> list[Any]:
    """Pull and acknowledge n messages (bounded wait)."""
    got: list[Any] = []
    deadline = time.monotonic() + 60
    while len(got) < n and time.monotonic() < deadline:
        reply = subscriber.pull(subscription=subscription, max_messages=min(100, n - len(got)),
                                timeout=10)
        if reply.received_messages:
            subscriber.acknowledge(subscription=subscription,
                                   ack_ids=[m.ack_id for m in reply.received_messages])
            got += [m.message for m in reply.received_messages]
    if len(got) < n:
        raise RuntimeError(f"only {len(got)} of {n} messages pulled")
    return got


def cloud_event(message: Any) -> tuple[dict[str, str], bytes]:
    """The CloudEvent (binary mode) Pub/Sub pushes for `message`."""
    headers = {
        "ce-id": message.message_id,
        "ce-source": f"//pubsub.googleapis.com/projects/{PROJECT}/topics/{TOPIC}",
        "ce-type": "google.cloud.pubsub.topic.v1.messagePublished",
        "ce-specversion": "1.0",
        "Content-Type": "application/json",
    }
    data = {"message": {"data": base64.b64encode(message.data).decode(),
                        "attributes": dict(message.attributes),
                        "messageId": message.message_id}}
    return headers, json.dumps(data).encode()


if __name__ == "__main__":
    sys.exit(main())
