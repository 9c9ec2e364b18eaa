"""The webhook's accept rate against a floor, both under functions-framework's production server.

    .venv/bin/python bench/webhook_floor.py [--requests 2000] [--concurrency 16] [--rounds 2]
                                            [--warmup 10000] [--share-cpus]

Starts the Firestore and Pub/Sub emulators, then two servers, each
`functions-framework --target ... --source ...` (gunicorn, functions-framework's own
defaults, as Cloud Functions gen2 runs them):

- the webhook function (functions/webhook/main.py) with one integration stored;
- the floor: a bare function that only publishes the body to a topic and answers 202
  (bench/floor_functions.py `accept`, `PublisherClient()` with its defaults);
- the tuned floor: the same, publishing in one Publish call as the platform's Queue does
  (`accept_tuned`): the ratio against it is what the platform costs beyond its own publish;
- the recorded floor: the tuned floor plus the queued run the contract requires, through
  the platform's own RunStore and Queue (`accept_recorded`): the ratio against it is what
  the intake costs beyond that write.

Both topics have one pull subscription and nothing reading it. The emulators get a core of
their own (the last CPU; servers and `hey` the others, `--share-cpus` to leave them
together): in a deployment Firestore and Pub/Sub are not on the function's instance. `hey`
POSTs the same ~1.7 KB order to each server (a warm-up of 10,000 first: the emulators are
JVMs, and their CPU per request falls for that long; then the rounds in turn), and this
prints accepted/s, p50 and p99 and the ratios; targets (against the floor): accepts/s >= 0.8
of the floor's, p99 within 1.5x of the floor's. Last, a sample of single POSTs checks that
each run can be read from Firestore right after its 202. Loopback only; every wait is bounded.
"""

from __future__ import annotations

import argparse
import os
import secrets
import statistics
import sys
import tempfile
import time
from pathlib import Path

from ff_support import (
    ROOT,
    HeyResult,
    hey,
    order_body,
    pin_emulators_apart,
    require_hey,
    start_function,
)

PROJECT = "demo-bench-floor"
FLOOR_TOPIC = "bench-floor"
WARMUP = 10_000  # per server; the emulators run in a JVM: measured warm (docs/performance.md)
VISIBILITY_SAMPLE = 50
RATE_TARGET = 0.8
BEYOND = {
    "floor-tuned": "the platform beyond its own publish",
    "floor-recorded": "the intake beyond the run's write and the publish",
}
P99_TARGET = 1.5


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--warmup", type=int, default=WARMUP, help="POSTs per server first")
    parser.add_argument("--share-cpus", action="store_true", help="do not pin the emulators")
    args = parser.parse_args(argv)
    if require_hey() is None:
        return 2

    from google.cloud import firestore, pubsub_v1

    from local.emulators import start_emulators
    from mapper.store.integrations import IntegrationStore

    tmp = Path(tempfile.mkdtemp(prefix="bench-webhook-floor-"))
    body_file = tmp / "order.json"
    body_file.write_bytes(order_body())
    servers = []
    with start_emulators(project=PROJECT, data_dir=tmp) as emulators:
        env = {
            **emulators.env(),
            "SECRET_BACKEND": f"local:{tmp / 'secrets.json'}",
            "FLOOR_TOPIC": FLOOR_TOPIC,
            "LOG_FORMAT": "json",
            "PUSH_VERIFY_OIDC": "false",  # no push function here; the emulator signs nothing
        }
        os.environ.update(emulators.env())  # this process's own clients
        publisher = pubsub_v1.PublisherClient()
        subscriber = pubsub_v1.SubscriberClient()
        for topic in ("mapper-events", FLOOR_TOPIC):
            topic_path = publisher.topic_path(PROJECT, topic)
            publisher.create_topic(name=topic_path)
            subscriber.create_subscription(
                name=subscriber.subscription_path(PROJECT, f"{topic}-kept"), topic=topic_path
            )
        db = firestore.Client(project=PROJECT)
        path = secrets.token_urlsafe(16)
        IntegrationStore(db).create(
            {
                "active": True,
                "name": "bench orders",
                "source": {"type": "webhook"},
                "mappings": [{"source": "id", "target": "orderId"}],
                "target": {"type": "http", "url": "http://127.0.0.2:9/orders"},
                "webhookPath": path,
            }
        )
        placement = (
            "emulators and servers share every CPU"
            if args.share_cpus
            else pin_emulators_apart(emulators.process_groups())
        )
        try:
            source = ROOT / "bench/floor_functions.py"
            floor = start_function("floor", "accept", source, env, tmp)
            servers.append(floor)
            tuned = start_function("floor-tuned", "accept_tuned", source, env, tmp)
            servers.append(tuned)
            recorded = start_function("floor-recorded", "accept_recorded", source, env, tmp)
            servers.append(recorded)
            webhook = start_function(
                "webhook", "webhook", ROOT / "functions/webhook/main.py", env, tmp
            )
            servers.append(webhook)
            urls = {
                "floor": floor.url + "/",
                "floor-tuned": tuned.url + "/",
                "floor-recorded": recorded.url + "/",
                "webhook": f"{webhook.url}/webhook/{path}/",
            }
            print(f"order {body_file.stat().st_size} bytes; {args.requests} POSTs per round, "
                  f"{args.concurrency} connections; servers: functions-framework (gunicorn); "
                  f"{placement}; {args.warmup} POSTs per server to warm up")
            for url in urls.values():  # the emulators' JIT, connections, caches
                hey(url, body_file, args.warmup, args.concurrency)
            results: dict[str, list[HeyResult]] = {name: [] for name in urls}
            for n in range(args.rounds):
                for name, url in urls.items():
                    result = hey(url, body_file, args.requests, args.concurrency)
                    results[name].append(result)
                    print(f"  round {n + 1} {name:14} {result.per_second:8.1f} accepted/s  "
                          f"p50 {result.p50_ms:6.1f} ms  p99 {result.p99_ms:6.1f} ms  "
                          f"202s {result.ok(202)}/{args.requests}")
            visible = visibility(urls["webhook"], body_file.read_bytes(), db)
        finally:
            for server in servers:
                server.stop()
            db.close()
    report(results, visible)
    return 0


def visibility(url: str, body: bytes, db: object) -> tuple[int, int]:
    """POST one at a time; after each 202, is the run there to read at once? (seen, sent)"""
    import requests

    from mapper.store.runs import RunStore

    runs = RunStore(db)  # type: ignore[arg-type]
    seen = 0
    for _ in range(VISIBILITY_SAMPLE):
        reply = requests.post(url, data=body, headers={"Content-Type": "application/json"},
                              timeout=30)
        if reply.status_code == 202 and runs.get(reply.json()["runId"]) is not None:
            seen += 1
    return seen, VISIBILITY_SAMPLE


def report(results: dict[str, list[HeyResult]], visible: tuple[int, int]) -> None:
    """Print the summary: the mean of the rounds, and the ratios against the floor."""
    def mean(name: str, attr: str) -> float:
        return statistics.mean(getattr(r, attr) for r in results[name])

    print()
    print("| server | accepted/s | p50 ms | p99 ms |")
    print("|---|---:|---:|---:|")
    for name in results:
        print(f"| {name} | {mean(name, 'per_second'):.1f} | {mean(name, 'p50_ms'):.1f} "
              f"| {mean(name, 'p99_ms'):.1f} |")
    for floor in ("floor", "floor-tuned", "floor-recorded"):
        rate = mean("webhook", "per_second") / mean(floor, "per_second")
        p99 = mean("webhook", "p99_ms") / mean(floor, "p99_ms")
        if floor == "floor":
            rate_met = f" (target >= {RATE_TARGET}: {'met' if rate >= RATE_TARGET else 'NOT met'})"
            p99_met = f" (target <= {P99_TARGET}: {'met' if p99 <= P99_TARGET else 'NOT met'})"
        else:
            rate_met = p99_met = f" (no target: {BEYOND[floor]})"
        print(f"accepts/s ratio webhook/{floor}: {rate:.2f}{rate_met}")
        print(f"p99 ratio webhook/{floor}: {p99:.2f}{p99_met}")
    print(f"run readable right after its 202: {visible[0]}/{visible[1]}")


if __name__ == "__main__":
    started = time.monotonic()
    status = main()
    print(f"({time.monotonic() - started:.0f} s)")
    sys.exit(status)
