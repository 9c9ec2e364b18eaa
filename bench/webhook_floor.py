"""The webhook's accept rate against a floor, both under functions-framework's production server.

    .venv/bin/python bench/webhook_floor.py [--concurrency 4,8,16] [--requests 2000]
                                            [--rounds 5] [--warmup 10000] [--references]
                                            [--share-cpus]

Starts the Firestore and Pub/Sub emulators, then servers, each
`functions-framework --target ... --source ...` (gunicorn, functions-framework's own
defaults, as Cloud Functions gen2 runs them):

- the webhook function (functions/webhook/main.py) with one integration stored;
- the floor: a bare function that only publishes the body to a topic and answers 202
  (bench/floor_functions.py `accept`, `PublisherClient()` with its defaults);
- with --references, two more, to tell where a gap comes from: the tuned floor (the same,
  publishing in one Publish call as the platform's Queue does, `accept_tuned`) and the
  recorded floor (the tuned floor plus the queued run the contract requires, through the
  platform's own RunStore and Queue, `accept_recorded`).

Both topics have one pull subscription and nothing reading it. The emulators get a core of
their own (the last CPU; servers and `hey` the others, `--share-cpus` to leave them
together): in a deployment Firestore and Pub/Sub are not on the function's instance. `hey`
POSTs the same ~1.7 KB order to each server (a warm-up of 10,000 first: the emulators are
JVMs, and their CPU per request falls for that long). Then, at each concurrency, the rounds
are taken in turns (webhook, floor; then floor, webhook; ...), so that both see the same
moments of a shared machine, and each round's ratio is the webhook's figure over the floor's
from that same round. It prints, per concurrency, each round, then the median and the spread
(min-max) of the ratios and the load average; targets (against the floor): accepts/s >= 1.0
of the floor's, p99 within 1.5x of the floor's, both on the median round. Last, a sample of
single POSTs checks what a 202 promises: the event's message is on the internal topic (a
subscription made for the sample pulls it), carrying its run's first record for a worker
that gets there first, and the run is written `queued` by the webhook just after the 202
(docs/data-plane.md, "When a run is recorded"; no worker runs here). Loopback only; every
wait is bounded.
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
    interleaved,
    load_average,
    order_body,
    pin_emulators_apart,
    require_hey,
    spread,
    start_function,
)

PROJECT = "demo-bench-floor"
FLOOR_TOPIC = "bench-floor"
WARMUP = 10_000  # per server; the emulators run in a JVM: measured warm (docs/performance.md)
VISIBILITY_SAMPLE = 50
RATE_TARGET = 1.0
P99_TARGET = 1.5
BEYOND = {
    "floor-tuned": "the platform beyond its own publish",
    "floor-recorded": "the intake beyond the run's write and the publish",
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=2000, help="POSTs per server a round")
    parser.add_argument("--concurrency", default="4,8,16", help="connections, comma-separated")
    parser.add_argument("--rounds", type=int, default=5, help="rounds per concurrency")
    parser.add_argument("--warmup", type=int, default=WARMUP, help="POSTs per server first")
    parser.add_argument("--references", action="store_true",
                        help="also the tuned and the recorded floors")
    parser.add_argument("--share-cpus", action="store_true", help="do not pin the emulators")
    args = parser.parse_args(argv)
    concurrencies = [int(c) for c in args.concurrency.split(",")]
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
            webhook = start_function(
                "webhook", "webhook", ROOT / "functions/webhook/main.py", env, tmp
            )
            servers.append(webhook)
            floor = start_function("floor", "accept", source, env, tmp)
            servers.append(floor)
            urls = {"webhook": f"{webhook.url}/webhook/{path}/", "floor": floor.url + "/"}
            if args.references:
                for name, target in (("floor-tuned", "accept_tuned"),
                                     ("floor-recorded", "accept_recorded")):
                    server = start_function(name, target, source, env, tmp)
                    servers.append(server)
                    urls[name] = server.url + "/"
            print(f"order {body_file.stat().st_size} bytes; {args.requests} POSTs per server "
                  f"a round, {args.rounds} rounds in turns at {args.concurrency} connections; "
                  f"servers: functions-framework (gunicorn); {placement}; {args.warmup} POSTs "
                  f"per server to warm up; load average {load_average()}")
            for url in urls.values():  # the emulators' JIT, connections, caches
                hey(url, body_file, args.warmup, max(concurrencies))
            results: dict[int, dict[str, list[HeyResult]]] = {}
            loads: dict[int, tuple[str, str]] = {}
            for concurrency in concurrencies:
                before = load_average()
                results[concurrency] = by_name = {name: [] for name in urls}
                for n in range(args.rounds):
                    for name in interleaved(list(urls), n):
                        result = hey(urls[name], body_file, args.requests, concurrency)
                        by_name[name].append(result)
                        print(f"  c={concurrency:<3} round {n + 1} {name:14} "
                              f"{result.per_second:8.1f} accepted/s  p50 {result.p50_ms:6.1f} ms"
                              f"  p99 {result.p99_ms:6.1f} ms  "
                              f"202s {result.ok(202)}/{args.requests}", flush=True)
                loads[concurrency] = (before, load_average())
            visible = on_the_topic(urls["webhook"], body_file.read_bytes(), db)
        finally:
            for server in servers:
                server.stop()
            db.close()
    report(results, loads, visible)
    return 0


def on_the_topic(url: str, body: bytes, db: object) -> tuple[int, int, int]:
    """POST one at a time; after each 202, is its message on the internal topic, carrying
    its run's first record (for a worker that gets there first), and is the run then
    written `queued` by the webhook, off the sender's path?
    (on the topic, carrying the record and recorded after the 202, sent)"""
    import requests
    from google.cloud import pubsub_v1

    from mapper.pipeline.runs import QueuedMessage
    from mapper.store.runs import RunStore

    runs = RunStore(db)  # type: ignore[arg-type]
    subscriber = pubsub_v1.SubscriberClient()
    sample = subscriber.subscription_path(PROJECT, "mapper-events-sample")
    # Made now: it holds only what the sample's POSTs publish.
    subscriber.create_subscription(name=sample, topic=f"projects/{PROJECT}/topics/mapper-events")
    on_topic = carried = 0
    try:
        for _ in range(VISIBILITY_SAMPLE):
            reply = requests.post(url, data=body, timeout=30,
                                  headers={"Content-Type": "application/json"})
            if reply.status_code != 202:
                continue
            run_id = reply.json()["runId"]
            pulled = subscriber.pull(
                request={"subscription": sample, "max_messages": 10}, timeout=10
            ).received_messages
            if pulled:
                subscriber.acknowledge(
                    request={"subscription": sample, "ack_ids": [m.ack_id for m in pulled]}
                )
            messages = {m.run_id: m for m in
                        (QueuedMessage.from_bytes(r.message.data) for r in pulled)}
            if run_id in messages:
                on_topic += 1
                # The worker could write it from the message; the webhook writes it `queued`
                # just after the 202 (RECORD_AT_ACCEPT's default): seen within 2 s?
                deadline = time.monotonic() + 2
                while (run := runs.get(run_id)) is None and time.monotonic() < deadline:
                    time.sleep(0.02)
                if not messages[run_id].recorded and run is not None:
                    carried += 1
    finally:
        subscriber.close()
    return on_topic, carried, VISIBILITY_SAMPLE


def report(
    results: dict[int, dict[str, list[HeyResult]]],
    loads: dict[int, tuple[str, str]],
    visible: tuple[int, int, int],
) -> None:
    """Per concurrency: each server's median round, the webhook's ratios round by round
    (median and min-max), and whether the median meets the targets."""
    def median(rounds: list[HeyResult], attr: str) -> float:
        return statistics.median(getattr(r, attr) for r in rounds)

    print()
    print("| connections | floor accepted/s | webhook accepted/s | rate ratio, median (min-max) "
          "| p99 floor / webhook ms | p99 ratio, median (min-max) | load average before / after |")
    print("|---:|---:|---:|---:|---:|---:|---|")
    verdicts = []
    for concurrency, by_name in results.items():
        webhook, floor = by_name["webhook"], by_name["floor"]
        rates = [w.per_second / f.per_second for w, f in zip(webhook, floor, strict=True)]
        p99s = [w.p99_ms / f.p99_ms for w, f in zip(webhook, floor, strict=True)]
        rate_met = statistics.median(rates) >= RATE_TARGET
        p99_met = statistics.median(p99s) <= P99_TARGET
        verdicts.append(f"{concurrency}: rate {'met' if rate_met else 'NOT met'}, "
                        f"p99 {'met' if p99_met else 'NOT met'}")
        print(f"| {concurrency} | {median(floor, 'per_second'):.1f} "
              f"| {median(webhook, 'per_second'):.1f} | {spread(rates)} "
              f"| {median(floor, 'p99_ms'):.1f} / {median(webhook, 'p99_ms'):.1f} "
              f"| {spread(p99s)} | {loads[concurrency][0]} / {loads[concurrency][1]} |")
        for name in by_name:
            if name in BEYOND:
                ratios = [w.per_second / r.per_second
                          for w, r in zip(webhook, by_name[name], strict=True)]
                print(f"  c={concurrency} webhook/{name} accepts/s {spread(ratios)} "
                      f"(no target: {BEYOND[name]})")
    print(f"targets: rate >= {RATE_TARGET} of the floor's, p99 <= {P99_TARGET}x the floor's "
          f"(median round) -> " + "; ".join(verdicts))
    print(f"message on the internal topic right after its 202: {visible[0]}/{visible[2]}; "
          f"carrying its run's first record and recorded queued by the webhook within 2 s after "
          f"its 202: {visible[1]}/{visible[2]}")


if __name__ == "__main__":
    started = time.monotonic()
    status = main()
    print(f"({time.monotonic() - started:.0f} s)")
    sys.exit(status)
