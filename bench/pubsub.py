"""Pub/Sub sources benchmark: pull drain and push accept, against a bare pull loop, one run.

    .venv/bin/python bench/pubsub.py [--messages N] [--push-requests M] [--concurrency C]

Starts fresh Firestore and Pub/Sub emulators, serves every function in this process
(local.serve, as the e2e tests do: the emulator pushes the internal topic to the worker on
the same server) and a sink on 127.0.0.2 as the integrations' HTTP target. Then, all
measured in this run with the engine benchmark's ~1.7 KB order:

1. reference: N messages published to a topic with a plain pull subscription, drained by a
   bare `subscriber.pull(max_messages=100)` + `acknowledge` loop: messages/s;
2. pull: a pull integration created through the API, N messages published to its topic,
   then ONE `puller().drain(id)` in this process (what one drain task does): messages/s
   into the internal path (a queued run in Firestore + a publish per message), and the
   ratio to the reference; also less the pull on the emptied subscription that ends every
   drain (timed alone in 1). The served worker, in this same process, processes those runs
   meanwhile, as it would in production (realistic load, not an idle machine);
3. push: a push integration created through the API, M push envelopes POSTed straight to
   its /pubsub/<pushPath>/ by C client threads: accepted (204)/s, p50/p99 latency, and the
   ratio to the reference.

Only loopback traffic; every loop is bounded in count and in time.
"""

from __future__ import annotations

import argparse
import base64
import json
import logging
import os
import random
import secrets as pysecrets
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # for `local`

import engine  # noqa: E402 - bench/engine.py, beside this file
from data_plane import SINK_HOST, Sink, pct, post_load  # noqa: E402 - beside this file

PROJECT = "demo-bench"
ADMIN_TOKEN = "bench-admin-" + pysecrets.token_urlsafe(24)
SITE_URL = "https://mapper.example.test"
TOKEN = "tok_bench_secret_value"
BATCH = 100  # the reference's max_messages, and the puller's default batch size
PULL_WAIT_S = 5.0  # one pull call's wait, as in mapper.sources.subscriptions
PUBLISH_DEADLINE_S = 60.0
DRAIN_DEADLINE_S = 120.0  # the reference loop, and the one drain task
SETTLE_DEADLINE_S = 30.0  # waiting for the worker to deliver the pushed runs
WARMUP = 10


# --- publishing and the reference loop ----------------------------------------------------


def new_topic(publisher: Any, name: str) -> str:
    path = publisher.topic_path(PROJECT, f"{name}-{pysecrets.token_hex(4)}")
    publisher.create_topic(name=path)
    return path


def publish_all(publisher: Any, topic: str, bodies: list[bytes]) -> float:
    """Publish every body (the client batches them) and wait for all; the seconds it took."""
    started = time.perf_counter()
    futures = [publisher.publish(topic, body, kind="order") for body in bodies]
    deadline = time.monotonic() + PUBLISH_DEADLINE_S
    for future in futures:
        future.result(timeout=max(0.1, deadline - time.monotonic()))
    return time.perf_counter() - started


def bare_drain(subscriber: Any, subscription: str, expected: int) -> dict[str, Any]:
    """pull(max_messages=100) + acknowledge until `expected` messages came, or the deadline."""
    from google.api_core import exceptions as gexc

    received = pulls = empty = 0
    started = time.perf_counter()
    deadline = time.monotonic() + DRAIN_DEADLINE_S
    while received < expected and time.monotonic() < deadline:
        try:
            response = subscriber.pull(
                subscription=subscription, max_messages=BATCH, timeout=PULL_WAIT_S, retry=None
            )
        except gexc.DeadlineExceeded:
            empty += 1
            continue
        pulls += 1
        ack_ids = [m.ack_id for m in response.received_messages]
        if not ack_ids:
            empty += 1
            continue
        subscriber.acknowledge(subscription=subscription, ack_ids=ack_ids)
        received += len(ack_ids)
    wall = time.perf_counter() - started
    return {"received": received, "pulls": pulls, "empty": empty, "wall": wall}


def empty_pull_s(subscriber: Any, subscription: str) -> float:
    """How long one pull on an empty subscription takes: how every drain task ends."""
    from google.api_core import exceptions as gexc

    started = time.perf_counter()
    try:
        subscriber.pull(
            subscription=subscription, max_messages=BATCH, timeout=PULL_WAIT_S, retry=None
        )
    except gexc.DeadlineExceeded:
        pass
    return time.perf_counter() - started


# --- main ---------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--messages", type=int, default=800, help="messages for the reference and pull (800)"
    )
    parser.add_argument(
        "--push-requests", type=int, default=500, help="push envelopes POSTed (default 500)"
    )
    parser.add_argument("--concurrency", type=int, default=8, help="push client threads (8)")
    args = parser.parse_args(argv)
    n, m, c = max(1, args.messages), max(1, args.push_requests), max(1, args.concurrency)

    logging.basicConfig(level=logging.WARNING)
    for name in ("werkzeug", "functions_framework", "requests_hardened"):
        logging.getLogger(name).setLevel(logging.ERROR)

    from local.emulators import start_emulators
    from local.serve import serve

    tmp = Path(tempfile.mkdtemp(prefix="bench-pubsub-"))
    sink = Sink()
    print("starting emulators ...", flush=True)
    started = time.monotonic()
    emulators = start_emulators(project=PROJECT)
    server = None
    try:
        env = {
            **emulators.env(),
            "SECRET_BACKEND": f"local:{tmp / 'local-secrets.json'}",
            "EGRESS_ALLOW_CIDRS": f"{SINK_HOST}/32",
            "ADMIN_TOKEN": ADMIN_TOKEN,
            "SITE_URL": SITE_URL,
            "PUSH_VERIFY_OIDC": "false",  # the emulator sends no token, as in tests/e2e
            # One INFO line per run would drown the table (mapper.logs; LOG_LEVEL to change).
            "LOG_LEVEL": os.environ.get("LOG_LEVEL") or "WARNING",
        }
        os.environ.update(env)
        server = serve(env)
        # Push subscriptions must reach this server (the API reads it lazily).
        os.environ["PUSH_BASE_URL"] = server.url
        print(f"platform up in {time.monotonic() - started:.1f} s at {server.url}", flush=True)
        results = run_bench(server.url, sink, n, m, c)
        print_results(results, n, m, c)
    finally:
        logging.disable(logging.ERROR)  # a delivery cut off by the teardown is not a finding
        if server is not None:
            server.stop()
        sink.stop()
        emulators.stop()
    return 0


def create_integration(url: str, sink: Sink, topic: str, mode: str) -> dict[str, Any]:
    """A Pub/Sub integration made through the management API, as a user would."""
    import requests

    doc = {
        "name": f"bench {mode}",
        "source": {
            "type": "pubsub",
            "projectId": PROJECT,
            "topic": topic.rsplit("/", 1)[1],
            "mode": mode,
        },
        "mappings": engine.MAPPINGS,
        "target": {
            "type": "http",
            "url": f"{sink.url}/{mode}",
            "method": "POST",
            "auth": {"type": "bearer", "token": TOKEN},
            "timeoutSeconds": 10,
        },
    }
    reply = requests.post(
        f"{url}/api/integrations/",
        json=doc,
        headers={"Authorization": f"Bearer {ADMIN_TOKEN}"},
        timeout=60,
    )
    if reply.status_code != 201:
        raise RuntimeError(f"creating the {mode} integration: {reply.status_code} {reply.text}")
    return reply.json()


def timed_drain(integration_id: str) -> dict[str, Any]:
    """ONE `puller().drain`, in a thread so that waiting for it is bounded too."""
    from mapper.services import puller

    out: dict[str, Any] = {}

    def run() -> None:
        started = time.perf_counter()
        try:
            out["report"] = puller().drain(integration_id)
        except Exception as exc:  # reported in the table, not hidden
            out["exception"] = repr(exc)
        out["wall"] = time.perf_counter() - started

    thread = threading.Thread(target=run, name="bench-drain", daemon=True)
    thread.start()
    thread.join(timeout=DRAIN_DEADLINE_S)
    if thread.is_alive():
        out["exception"] = f"still draining after {DRAIN_DEADLINE_S:.0f} s"
        out["wall"] = DRAIN_DEADLINE_S
    return out


def run_bench(url: str, sink: Sink, n: int, m: int, c: int) -> dict[str, Any]:
    from google.cloud import pubsub_v1

    rng = random.Random(7)
    bodies = [json.dumps(engine.make_order(i, rng)).encode() for i in range(n)]
    warm = [json.dumps(engine.make_order(10**6 + i, rng)).encode() for i in range(WARMUP)]
    body_bytes = statistics.mean(len(b) for b in bodies)
    publisher = pubsub_v1.PublisherClient()
    subscriber = pubsub_v1.SubscriberClient()
    try:
        # 1. reference: a plain pull subscription, drained by a bare loop.
        topic = new_topic(publisher, "bench-ref")
        subscription = subscriber.subscription_path(PROJECT, topic.rsplit("/", 1)[1])
        subscriber.create_subscription(name=subscription, topic=topic, ack_deadline_seconds=60)
        publish_all(publisher, topic, warm)
        bare_drain(subscriber, subscription, WARMUP)  # warm-up, not counted
        print(f"1. reference: publishing {n} orders of ~{body_bytes:.0f} B ...", flush=True)
        ref_publish_s = publish_all(publisher, topic, bodies)
        ref = bare_drain(subscriber, subscription, n)
        ref["publish_s"] = ref_publish_s
        ref["empty_pull_s"] = empty_pull_s(subscriber, subscription)
        subscriber.delete_subscription(subscription=subscription)
        publisher.delete_topic(topic=topic)

        # 2. pull: one drain task of a pull integration made through the API.
        topic = new_topic(publisher, "bench-pull")
        pulled = create_integration(url, sink, topic, "pull")
        publish_all(publisher, topic, warm)
        warm_drain = timed_drain(pulled["id"])  # warm-up (clients, caches), not counted
        if "exception" in warm_drain:
            raise RuntimeError(f"warm-up drain failed: {warm_drain['exception']}")
        print(f"2. pull: publishing {n} orders, then one drain ...", flush=True)
        pull_publish_s = publish_all(publisher, topic, bodies)
        delivered_before = sink.count("/pull")
        drain = timed_drain(pulled["id"])
        drain["publish_s"] = pull_publish_s
        drain["delivered_during"] = sink.count("/pull") - delivered_before
        drain["delivered_before_push"] = sink.count("/pull")

        # 3. push: envelopes POSTed straight to the push endpoint, as Pub/Sub would.
        pushed = create_integration(url, sink, new_topic(publisher, "bench-push"), "push")
        push_url = f"{url}/pubsub/{pushed['pushPath']}/"
        subscription_name = pushed.get("managedSubscription") or ""
        run_tag = pysecrets.token_hex(4)

        def envelope(i: int, body: bytes) -> bytes:
            return json.dumps(
                {
                    "message": {
                        "data": base64.b64encode(body).decode(),
                        "messageId": f"bench-{run_tag}-{i}",
                        "publishTime": "2026-11-27T12:00:00Z",
                        "attributes": {"kind": "order"},
                    },
                    "subscription": subscription_name,
                }
            ).encode()

        envelopes = [envelope(i, bodies[i % n]) for i in range(m)]
        post_load(push_url, [envelope(10**6 + i, b) for i, b in enumerate(warm)], 2)
        print(f"3. push: {m} envelopes, {c} client threads ...", flush=True)
        push_started = time.perf_counter()
        push = post_load(push_url, envelopes, c)
        push["envelope_bytes"] = statistics.mean(len(e) for e in envelopes)
        push["delivered_pull_end"] = sink.count("/pull")
        push["delivered_push_end"] = sink.count("/push")
        # Let the worker finish (bounded), so that nothing is cut off mid-delivery at the end.
        wanted = push["statuses"].get(204, 0) + WARMUP
        deadline = time.monotonic() + SETTLE_DEADLINE_S
        while sink.count("/push") < wanted and time.monotonic() < deadline:
            time.sleep(0.02)
        push["delivered_push_settled"] = sink.count("/push")
        push["settled_s"] = time.perf_counter() - push_started
    finally:
        subscriber.close()
        publisher.transport.close()
    return {"ref": ref, "drain": drain, "push": push, "body_bytes": body_bytes}


def print_results(r: dict[str, Any], n: int, m: int, c: int) -> None:
    ref, drain, push = r["ref"], r["drain"], r["push"]
    ref_rate = ref["received"] / ref["wall"] if ref["wall"] else float("nan")
    report = drain.get("report")
    queued = report.queued if report is not None else 0
    pull_rate = queued / drain["wall"] if drain["wall"] else float("nan")
    flowing = drain["wall"] - ref["empty_pull_s"]
    flowing_rate = queued / flowing if flowing > 0 else float("nan")
    accepted = push["statuses"].get(204, 0)
    push_rate = accepted / push["wall"] if push["wall"] else float("nan")
    lat = push["latencies"]
    p50, p99 = pct(lat, 0.5) * 1000, pct(lat, 0.99) * 1000
    rows = [
        ("1. reference: bare pull(100) + acknowledge", ref_rate),
        ("2. pull: one drain into the internal path", pull_rate),
        ("   the same, less its final empty pull", flowing_rate),
        ("3. push: envelopes accepted (204)", push_rate),
    ]

    print()
    print(f"== Pub/Sub sources: N={n} messages of ~{r['body_bytes']:.0f} B, push M={m}, C={c} ==")
    print()
    print(f"   {'figure':44} {'per s':>9} {'vs ref':>7}")
    for label, rate in rows:
        print(f"   {label:44} {rate:9.1f} {rate / ref_rate:7.3f}")
    print()
    print(
        f"1. reference: {ref['received']} of {n} in {ref['wall']:.2f} s, {ref['pulls']} pulls"
        f" ({ref['empty']} empty); publishing them took {ref['publish_s']:.2f} s;"
        f" one pull on the emptied subscription took {ref['empty_pull_s']:.2f} s"
    )
    if report is None:
        print(f"2. pull: the drain failed: {drain.get('exception')}")
    else:
        print(
            f"2. pull: queued {report.queued} of {n} in {drain['wall']:.2f} s,"
            f" {report.pulls} pulls, recorded {report.recorded}, left {report.left},"
            f" error {report.error}; publishing took {drain['publish_s']:.2f} s;"
            " a drain ends with a pull that finds nothing (timed in 1)"
        )
        print(
            "   the served worker processed the queued runs meanwhile (realistic load):"
            f" {drain['delivered_during']} sink deliveries during the drain,"
            f" {drain['delivered_before_push']} of {n + WARMUP} ({WARMUP} warm-up)"
            " before the push phase"
        )
    print(
        f"3. push: statuses {dict(sorted(push['statuses'].items()))},"
        f" {accepted} in {push['wall']:.2f} s, latency p50 / p99 {p50:.1f} / {p99:.1f} ms,"
        f" ~{push['envelope_bytes']:.0f} B envelopes"
    )
    print(
        f"   the worker ran alongside; sink deliveries by the end ({WARMUP} warm-up each):"
        f" pull {push['delivered_pull_end']} of {n + WARMUP},"
        f" push {push['delivered_push_end']} of {m + WARMUP}"
    )
    settled, settled_s = push["delivered_push_settled"], push["settled_s"]
    print(
        f"   then push deliveries {settled} of {m + WARMUP} by {settled_s:.2f} s after the"
        f" first POST (at most {SETTLE_DEADLINE_S:.0f} s waited):"
        f" {(settled - WARMUP) / settled_s:.1f} runs/s end to end"
    )


if __name__ == "__main__":
    sys.exit(main())
