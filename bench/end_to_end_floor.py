"""End-to-end runs/s against a floor of publish -> push -> bare POST, same emulators, same load.

    .venv/bin/python bench/end_to_end_floor.py [--requests 1000] [--concurrency 16] [--rounds 4]
                                               [--share-cpus]

Every server is functions-framework's production server (gunicorn), as deployed:

- the platform: the webhook function, and the worker function (cloudevent) that the
  emulator pushes the internal topic to (the subscription local.serve makes, with its
  backoff and ack deadline); one integration with the engine benchmark's 10 mappings to an
  HTTP target;
- the floor: a function that publishes the body and answers 202, and a cloudevent function
  the emulator pushes that topic to, which POSTs the message's data to the same target
  (bench/floor_functions.py), its subscription made with the same settings.

`hey` POSTs the same ~1.7 KB order N times to each entry; a round lasts from the first
POST to the N-th delivery at the target (a loopback sink on 127.0.0.2). Rounds are taken in
turns (floor, platform; then platform, floor; ...), and each round's ratio is the platform's
runs/s over the floor's from that same round: it prints their median and spread (min-max)
and the load average; target: the median round >= 0.6. As in webhook_floor.py, the
emulators get the last CPU to themselves (`--share-cpus` to leave them with the servers).
Bounded waits, loopback only.
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
    CountingSink,
    Server,
    hey,
    interleaved,
    load_average,
    order_body,
    pin_emulators_apart,
    require_hey,
    spread,
    start_function,
)

PROJECT = "demo-bench-e2e"
FLOOR_TOPIC = "bench-floor"
WARMUP = 50
DRAIN_DEADLINE_S = 300.0
TARGET = 0.6


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=1000)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--share-cpus", action="store_true", help="do not pin the emulators")
    args = parser.parse_args(argv)
    if require_hey() is None:
        return 2

    import engine
    from google.cloud import firestore, pubsub_v1

    from local.emulators import start_emulators
    from local.serve import (
        LOCAL_MAX_BACKOFF_S,
        LOCAL_MIN_BACKOFF_S,
        create_internal_pubsub,
        worker_ack_deadline_s,
    )
    from mapper.queue import ensure_topic_and_subscription
    from mapper.store.integrations import IntegrationStore

    tmp = Path(tempfile.mkdtemp(prefix="bench-e2e-floor-"))
    body_file = tmp / "order.json"
    body_file.write_bytes(order_body())
    sink = CountingSink()
    servers: list[Server] = []
    rates: dict[str, list[float]] = {"floor": [], "platform": []}
    with start_emulators(project=PROJECT, data_dir=tmp) as emulators:
        os.environ.update(emulators.env())  # this process's own clients
        env = {
            **emulators.env(),
            "SECRET_BACKEND": f"local:{tmp / 'secrets.json'}",
            "EGRESS_ALLOW_CIDRS": "127.0.0.2/32",
            "FLOOR_TOPIC": FLOOR_TOPIC,
            "FLOOR_TARGET_URL": sink.url + "/floor",
            "LOG_FORMAT": "json",
            "PUSH_VERIFY_OIDC": "false",  # no push function here; the emulator signs nothing
        }
        db = firestore.Client(project=PROJECT)
        placement = (
            "emulators and servers share every CPU"
            if args.share_cpus
            else pin_emulators_apart(emulators.process_groups())
        )
        try:
            source = ROOT / "bench/floor_functions.py"
            floor_in = start_function("floor-accept", "accept", source, env, tmp)
            floor_out = start_function(
                "floor-deliver", "deliver", source, env, tmp, signature="cloudevent"
            )
            webhook = start_function(
                "webhook", "webhook", ROOT / "functions/webhook/main.py", env, tmp
            )
            worker = start_function(
                "worker", "worker", ROOT / "functions/worker/main.py", env, tmp,
                signature="cloudevent",
            )
            servers += [floor_in, floor_out, webhook, worker]
            create_internal_pubsub(PROJECT, worker.url)
            publisher, subscriber = pubsub_v1.PublisherClient(), pubsub_v1.SubscriberClient()
            ensure_topic_and_subscription(
                publisher, subscriber, PROJECT, FLOOR_TOPIC, f"{FLOOR_TOPIC}-push",
                push_endpoint=floor_out.url + "/",
                min_backoff=LOCAL_MIN_BACKOFF_S, max_backoff=LOCAL_MAX_BACKOFF_S,
                ack_deadline_seconds=worker_ack_deadline_s(),
            )
            path = secrets.token_urlsafe(16)
            IntegrationStore(db).create(
                {
                    "active": True,
                    "name": "bench orders",
                    "source": {"type": "webhook"},
                    "mappings": engine.MAPPINGS,
                    "target": {"type": "http", "url": sink.url + "/platform",
                               "timeoutSeconds": 10},
                    "webhookPath": path,
                }
            )
            entries = {"floor": floor_in.url + "/", "platform": f"{webhook.url}/webhook/{path}/"}
            print(f"order {body_file.stat().st_size} bytes; {args.requests} POSTs per round, "
                  f"{args.concurrency} connections; every server functions-framework (gunicorn); "
                  f"{placement}; load average {load_average()}")
            for url in entries.values():
                one_round(url, body_file, WARMUP, args.concurrency, sink)  # warm-up
            load_before = load_average()
            for n in range(args.rounds):
                for name in interleaved(list(entries), n):
                    rate, accepted = one_round(entries[name], body_file, args.requests,
                                               args.concurrency, sink)
                    rates[name].append(rate)
                    print(f"  round {n + 1} {name:8} {rate:7.1f} runs/s end to end "
                          f"({accepted} accepted, {sink.count()} delivered)", flush=True)
            load_after = load_average()
        finally:
            for server in servers:
                server.stop()
            sink.stop()
            db.close()
    floor, platform = statistics.median(rates["floor"]), statistics.median(rates["platform"])
    ratios = [p / f for p, f in zip(rates["platform"], rates["floor"], strict=True)]
    print()
    print("| pipeline | runs/s, POST to delivery (median round) |")
    print("|---|---:|")
    print(f"| floor: publish -> push -> bare POST | {floor:.1f} |")
    print(f"| platform: webhook -> worker -> HTTP target | {platform:.1f} |")
    met = "met" if statistics.median(ratios) >= TARGET else "NOT met"
    print(f"end-to-end ratio platform/floor, median (min-max) of {len(ratios)} rounds: "
          f"{spread(ratios)} (target >= {TARGET}: {met}); "
          f"load average {load_before} before, {load_after} after")
    return 0


def one_round(
    url: str, body_file: Path, n: int, concurrency: int, sink: CountingSink
) -> tuple[float, int]:
    """POST n times, wait for n deliveries; (deliveries/s from the first POST, 202s)."""
    sink.reset()
    started = time.perf_counter()
    result = hey(url, body_file, n, concurrency)
    accepted = result.ok(202)
    deadline = time.monotonic() + DRAIN_DEADLINE_S
    while sink.count() < accepted and time.monotonic() < deadline:
        time.sleep(0.05)
    if sink.count() < accepted:
        print(f"  only {sink.count()} of {accepted} delivered after {DRAIN_DEADLINE_S:.0f} s",
              file=sys.stderr)
    delivered = sink.count()
    return (delivered / (sink.last() - started) if delivered else 0.0), accepted


if __name__ == "__main__":
    began = time.monotonic()
    code = main()
    print(f"({time.monotonic() - began:.0f} s)")
    sys.exit(code)
