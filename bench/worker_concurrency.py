"""What more requests in flight cost one worker instance: CPU, memory and request time per event.

    .venv/bin/python bench/worker_concurrency.py [--events 1000] [--receiver-ms 200]
        [--concurrency 8 32] [--rounds 2] [--jsonata] [--out FILE.json]

The Pub/Sub emulator pushes two messages at a time (bench/cost.py's probe saw at most 2 in
flight at the worker), so `make cost` cannot hold many requests on one worker. Here the
internal topic has a pull subscription instead: the webhook (functions-framework, probed
as in bench/cost.py) accepts the events, the bench pulls their messages and pushes each to
the worker itself, in the body Pub/Sub pushes, from exactly `concurrency` connections:
what Cloud Run does to one instance at that concurrency. The worker is served with
gunicorn's THREADS equal to the concurrency (infra/main.tf sets it so), a fresh process
for each concurrency in each round; the receiver (bench/cost.py's, seeded: about 10 % of
events fail their first attempt) waits --receiver-ms before each answer. Rounds run the
concurrencies forwards, then backwards.

Per round and concurrency: the worker's CPU ms per event (/proc, its process group),
request ms per event (durations added up), the most requests in flight at once, peak RSS,
events a second, and the instance ms per event a high rate bills (bench/cost_model.py's
autoscaler rule at 1 vCPU), with the load average. Every event's answer is checked: a 2xx
for each healthy one, a 503 (retried by Pub/Sub) for each failing one, nothing else.
`--jsonata`: the integration maps with bench/engine.py's JSONata expression instead of its
mappings, so each event runs in V8: one isolate per plan, its calls one at a time
(shared/mapper/engine/sandbox.py), shared by every request in flight.
"""

from __future__ import annotations

import argparse
import base64
import datetime
import json
import os
import platform
import re
import secrets
import signal
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import cost
import cost_model
from ff_support import ROOT, SINK_HOST, interleaved, load_average, spread, start_function

SUBSCRIPTION = f"{cost.TOPIC}-bench-pull"
WARMUP = 20
VCPUS = 1.0  # the worker's size in infra/variables.tf


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=1000)
    parser.add_argument("--receiver-ms", type=int, default=200)
    parser.add_argument("--concurrency", type=int, nargs="+", default=[8, 32])
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--jsonata", action="store_true", help="map in V8 (JSONata)")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args(argv)
    signal.signal(signal.SIGTERM, cost._stop)  # unwinds: the servers and emulators are stopped
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT,
                            capture_output=True, text=True, check=False).stdout.strip()
    rounds = measure(args.events, args.receiver_ms, args.concurrency, args.rounds, args.seed,
                     args.jsonata)
    report = {
        "date": datetime.date.today().isoformat(),
        "at": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": f"{platform.machine()}, {os.cpu_count()} CPUs",
        "commit": commit,  # at the start: the code the servers loaded
        "events": args.events, "receiver_ms": args.receiver_ms, "seed": args.seed,
        "mapping": "jsonata" if args.jsonata else "mappings",
        "rounds": rounds,
    }
    out = args.out or cost.RESULTS / (
        f"worker-concurrency-{report['date']}-receiver-{args.receiver_ms}ms.json")
    out.write_text(json.dumps(report, indent=2, sort_keys=True) + "\n")
    print(markdown(report))
    print(f"\n(written to {out.relative_to(ROOT) if out.is_relative_to(ROOT) else out})")
    return 0 if all(r["answers_as_expected"] for r in rounds) else 1


def measure(events: int, receiver_ms: int, concurrencies: list[int], rounds: int,
            seed: int, jsonata: bool = False) -> list[dict[str, Any]]:
    """Start the stack once; per round and concurrency a fresh worker, pushed to directly."""
    from google.cloud import firestore, pubsub_v1

    from local.emulators import start_emulators
    from mapper.queue import ensure_topic_and_subscription
    from mapper.store.integrations import IntegrationStore

    tmp = Path(tempfile.mkdtemp(prefix="bench-worker-concurrency-"))
    receiver = cost.Receiver(seed, receiver_ms)
    results: list[dict[str, Any]] = []
    with start_emulators(project=cost.PROJECT, data_dir=tmp) as emulators:
        os.environ.update(emulators.env())
        env = {
            **emulators.env(),
            "GOOGLE_CLOUD_PROJECT": cost.PROJECT,
            "SECRET_BACKEND": f"local:{tmp / 'secrets.json'}",
            "EGRESS_ALLOW_CIDRS": f"{SINK_HOST}/32",
            "LOG_FORMAT": "json",
            "PUSH_VERIFY_OIDC": "false",
            "MAX_DELIVERY_ATTEMPTS": str(cost.MAX_ATTEMPTS),
        }
        publisher, subscriber = pubsub_v1.PublisherClient(), pubsub_v1.SubscriberClient()
        subscription = ensure_topic_and_subscription(
            publisher, subscriber, cost.PROJECT, cost.TOPIC, SUBSCRIPTION,
            ack_deadline_seconds=600,
        )
        db = firestore.Client(project=cost.PROJECT)
        webhook = start_function(
            "webhook", "webhook", ROOT / "bench/cost_probe.py",
            {**env, "COST_FUNCTION": "webhook", "COST_COUNTS_FILE": str(tmp / "webhook.json"),
             "COST_PUSHED": "0"}, tmp,
        )
        try:
            store = IntegrationStore(db)
            integration = _jsonata(store, receiver.url) if jsonata else cost._integration(
                store, receiver.url)
            url = f"{webhook.url}/webhook/{integration['webhookPath']}/"
            for n in range(rounds):
                for concurrency in interleaved(concurrencies, n):
                    receiver.attempts.clear()  # each round the same events, the same answers
                    cost.drive(url, range(-WARMUP, events), 8)
                    pushes = _pull(subscriber, subscription, events + WARMUP)
                    result = _round(pushes, concurrency, env, tmp / f"r{n}-c{concurrency}",
                                    subscription, seed)
                    result["round"] = n
                    results.append(result)
                    print(_line(result), flush=True)
        finally:
            webhook.stop()
            receiver.stop()
            subscriber.close()
            db.close()
    return results


def _jsonata(store: Any, target: str) -> dict[str, Any]:
    """The bench's integration mapping with JSONata (V8), the event number carried too."""
    import engine

    expression = engine.JSONATA.rstrip().removesuffix("}") + ',  "eventNumber": eventNumber\n}'
    return store.create({
        "active": True, "name": "worker concurrency bench (JSONata)",
        "source": {"type": "webhook"}, "jsonata": expression,
        "target": {"type": "http", "url": target, "timeoutSeconds": 10},
        "webhookPath": secrets.token_urlsafe(16),
    })


def _pull(subscriber: Any, subscription: str, expected: int) -> list[tuple[int, bytes]]:
    """Every message the webhook published, acknowledged, as (event number, push body)."""
    out: list[tuple[int, bytes]] = []
    deadline = time.monotonic() + 120
    while len(out) < expected and time.monotonic() < deadline:
        reply = subscriber.pull(subscription=subscription, max_messages=1000, timeout=30)
        if not reply.received_messages:
            continue
        subscriber.acknowledge(subscription=subscription,
                               ack_ids=[m.ack_id for m in reply.received_messages])
        for received in reply.received_messages:
            message = received.message
            body = {"message": {"data": base64.b64encode(message.data).decode(),
                                "attributes": dict(message.attributes),
                                "messageId": message.message_id,
                                "publishTime": message.publish_time.isoformat()},
                    "subscription": subscription}
            out.append((_event_number(message.data), json.dumps(body).encode()))
    if len(out) < expected:
        raise RuntimeError(f"pulled {len(out)} of {expected} messages")
    return sorted(out)  # the warm-up's negative numbers first


def _event_number(data: bytes) -> int:
    from mapper.pipeline import QueuedMessage

    payload = QueuedMessage.from_bytes(data).payload
    return int(payload["eventNumber"])


def _round(pushes: list[tuple[int, bytes]], concurrency: int, env: dict[str, str],
           log_dir: Path, subscription: str, seed: int) -> dict[str, Any]:
    """One fresh worker at `concurrency`: warm it up, then push the events and measure."""
    import requests

    log_dir.mkdir(parents=True)
    counts = log_dir / "worker.json"
    server = start_function(
        "worker", "worker", ROOT / "bench/cost_probe.py",
        {**env, "THREADS": str(concurrency), "COST_FUNCTION": "worker",
         "COST_COUNTS_FILE": str(counts), "COST_PUSHED": "1"},
        log_dir, signature="cloudevent",
    )
    probe = cost.Probe("worker", server, counts, "1", 1.0, concurrency)
    local = threading.local()

    def push(item: tuple[int, bytes]) -> tuple[int, int]:
        session = getattr(local, "session", None) or requests.Session()
        local.session = session
        answer = session.post(server.url + "/", data=item[1], timeout=120,
                              headers={"Content-Type": "application/json"})
        return item[0], answer.status_code

    warm = [p for p in pushes if p[0] < 0]
    measured = [p for p in pushes if p[0] >= 0]
    try:
        with ThreadPoolExecutor(concurrency) as pool:
            list(pool.map(push, warm))
            time.sleep(cost.SETTLE_S)
            probe.base = probe.snapshot()
            load_before = load_average()
            began = time.monotonic()
            answers = list(pool.map(push, measured))
            wall = time.monotonic() - began
        time.sleep(cost.SETTLE_S)
        delta = probe.delta()
        serving = _serving_memory(server.proc.pid)
    finally:
        server.stop()
    n = len(measured)
    expected = {number: cost.event_class(seed, number) == "healthy" for number, _ in measured}
    as_expected = all((200 <= status < 300) == expected[number] and
                      (200 <= status < 300 or status == 503) for number, status in answers)
    statuses: dict[str, int] = {}
    for _, status in answers:
        statuses[str(status)] = statuses.get(str(status), 0) + 1
    instance_s = cost_model.autoscaled_instance_seconds(
        delta.get("cpu_s", 0), delta.get("duration_s", 0), VCPUS, concurrency)
    return {
        "concurrency": concurrency, "events": n, "answers": statuses,
        "answers_as_expected": as_expected,
        "invocations": delta.get("invocations", 0),
        "cpu_ms_per_event": 1000 * delta.get("cpu_s", 0) / n,
        "request_ms_per_event": 1000 * delta.get("duration_s", 0) / n,
        "instance_ms_per_event": 1000 * instance_s / n,
        "peak_in_flight": delta.get("peak_in_flight", 0),
        "peak_rss_mib": delta.get("peak_rss_mib", 0),  # the largest process: gunicorn's master
        **serving,
        "events_per_s": n / wall, "wall_s": round(wall, 1),
        "load_before": load_before, "load_after": load_average(),
        "tracebacks": (log_dir / "worker.log").read_text().count("Traceback"),
    }


def _serving_memory(pgid: int) -> dict[str, float]:
    """The memory of the process that serves the requests (gunicorn's forked worker; its
    master holds the imports and serves nothing): peak RSS, and its own (anonymous) pages."""
    peak = anon = 0
    for name in os.listdir("/proc"):
        if not name.isdigit() or int(name) == pgid:
            continue
        try:
            stat = Path(f"/proc/{name}/stat").read_text().rsplit(")", 1)[1].split()
            if int(stat[2]) != pgid:
                continue
            status = Path(f"/proc/{name}/status").read_text()
        except (OSError, IndexError, ValueError):
            continue
        kb = {k: int(v) for k, v in re.findall(r"(VmHWM|RssAnon):\s+(\d+) kB", status)}
        if kb.get("VmHWM", 0) > peak:
            peak, anon = kb["VmHWM"], kb.get("RssAnon", 0)
    return {"serving_peak_rss_mib": peak / 1024, "serving_anon_mib": anon / 1024}


def _line(r: dict[str, Any]) -> str:
    return (f"round {r['round']} c{r['concurrency']}: CPU {r['cpu_ms_per_event']:.1f} ms, "
            f"request {r['request_ms_per_event']:.1f} ms, instance "
            f"{r['instance_ms_per_event']:.1f} ms an event; {r['peak_in_flight']:.0f} in "
            f"flight, serving process {r['serving_peak_rss_mib']:.1f} MiB peak "
            f"({r['serving_anon_mib']:.1f} anonymous), {r['events_per_s']:.1f} events/s; answers "
            f"{r['answers']} ({'as expected' if r['answers_as_expected'] else 'NOT as expected'}"
            f"), load {r['load_before']} -> {r['load_after']}")


def markdown(report: dict[str, Any]) -> str:
    """Each concurrency's figures as median (min-max) over the rounds."""
    rounds = report["rounds"]
    lines = [
        f"`bench/worker_concurrency.py` on {report['at']}, commit `{report['commit']}`, "
        f"{report['machine']}: "
        f"{report['events']:,} events a round ({report.get('mapping', 'mappings')}) pushed "
        "straight to one worker process, a "
        f"receiver answering after {report['receiver_ms']} ms, "
        f"{max(r['round'] for r in rounds) + 1} rounds (median, min-max).",
        "",
        "| concurrency (THREADS) | CPU ms an event | request ms an event | instance ms an "
        "event at a high rate | most in flight | serving process peak RSS MiB | events/s | "
        "load average |",
        "|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for c in sorted({r["concurrency"] for r in rounds}):
        mine = [r for r in rounds if r["concurrency"] == c]
        cells = [spread([r[k] for r in mine], 1) for k in (
            "cpu_ms_per_event", "request_ms_per_event", "instance_ms_per_event")]
        cells += [spread([r[k] for r in mine], 0) for k in (
            "peak_in_flight", "events_per_s")]
        cells.insert(4, spread([r["serving_peak_rss_mib"] for r in mine], 1))
        loads = "; ".join(f"{r['load_before']} -> {r['load_after']}" for r in mine)
        lines.append(f"| {c} | " + " | ".join(cells) + f" | {loads} |")
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
