"""Data-plane benchmark: the whole local platform in this process, measured in one run.

    .venv/bin/python bench/data_plane.py [--requests N] [--concurrency C]

Starts the Firestore and Pub/Sub emulators, serves the webhook, worker and dead-letter
functions on one loopback URL (local.serve, as the e2e tests do), and a sink on 127.0.0.2
that counts deliveries. Then prints, all measured in this run:

1. webhook accept: p50/p99 latency and accepted/s for N POSTs of a ~1.7 KB order, C threads;
2. end to end: runs/s from the first POST until every run is `success`, and the p50 of
   (updatedAt - createdAt) of those runs;
3. the pieces of one accept and one worker pass, timed alone with the same clients;
4. a reference: a bare Flask endpoint returning 202 on the same werkzeug server stack,
   hit by the same client loop.

Only loopback traffic; every loop is bounded in count and in time.
"""

from __future__ import annotations

import argparse
import itertools
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
from collections.abc import Callable
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # for `local`

import engine  # noqa: E402 - bench/engine.py, beside this file

SINK_HOST = "127.0.0.2"  # allowlisted through EGRESS_ALLOW_CIDRS
SINK_PATH = "/orders"
PROJECT = "demo-bench"
TOKEN = "tok_bench_secret_value"
CLIENT_TIMEOUT_S = 30.0
LOAD_DEADLINE_S = 90.0  # the whole client loop, whatever N is
DRAIN_DEADLINE_S = 90.0  # waiting for the runs to finish
WARMUP = 10

# The same order and mapping as the engine benchmark, so the two sets of figures compare.
_RNG = random.Random(7)


def make_order(n: int) -> dict[str, Any]:
    """The engine benchmark's ~1.7 KB order (customer, addresses, 10 line items)."""
    return engine.make_order(n, _RNG)


# --- sink and reference server ------------------------------------------------------------


class Sink:
    """A loopback HTTP server answering 200 and counting deliveries per path."""

    def __init__(self) -> None:
        self.counts: dict[str, int] = {}
        self.lock = threading.Lock()
        sink = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            # The worker keeps connections alive: without this, Nagle holds the body
            # written after the headers until the client's delayed ACK (about 40 ms).
            disable_nagle_algorithm = True

            def do_POST(self) -> None:  # noqa: N802
                length = int(self.headers.get("Content-Length") or 0)
                if length:
                    self.rfile.read(length)
                path = self.path.split("?")[0]
                with sink.lock:
                    sink.counts[path] = sink.counts.get(path, 0) + 1
                payload = b'{"ok": true}'
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer((SINK_HOST, 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://{SINK_HOST}:{self.server.server_port}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def count(self, path: str) -> int:
        with self.lock:
            return self.counts.get(path, 0)

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def start_bare_server() -> tuple[str, Any]:
    """A Flask app that answers 202 and does nothing, on werkzeug's threaded server."""
    import flask
    from werkzeug.serving import make_server

    app = flask.Flask("bare")

    @app.route("/webhook/<path>/", methods=["POST"])
    def bare(path: str) -> flask.Response:
        flask.request.get_data()
        return flask.make_response(flask.jsonify({"status": "queued", "runId": "x"}), 202)

    server = make_server("127.0.0.1", 0, app, threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return f"http://127.0.0.1:{server.server_port}", server


# --- the client loop ----------------------------------------------------------------------


def post_load(url: str, bodies: list[bytes], concurrency: int) -> dict[str, Any]:
    """POST every body once from `concurrency` threads; latencies, statuses, run ids, times."""
    import requests

    next_index = itertools.count()
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    run_ids: list[str] = []
    lock = threading.Lock()
    deadline = time.monotonic() + LOAD_DEADLINE_S

    def client() -> None:
        session = requests.Session()
        session.trust_env = False  # loopback only: never through a proxy
        headers = {"Content-Type": "application/json"}
        try:
            while time.monotonic() < deadline:
                i = next(next_index)
                if i >= len(bodies):
                    return
                started = time.perf_counter()
                try:
                    reply = session.post(
                        url, data=bodies[i], headers=headers, timeout=CLIENT_TIMEOUT_S
                    )
                    status, run_id = (
                        reply.status_code,
                        (reply.json().get("runId") if reply.status_code == 202 else None),
                    )
                except requests.RequestException:
                    status, run_id = -1, None
                elapsed = time.perf_counter() - started
                with lock:
                    latencies.append(elapsed)
                    statuses[status] = statuses.get(status, 0) + 1
                    if run_id:
                        run_ids.append(run_id)
        finally:
            session.close()

    threads = [threading.Thread(target=client, daemon=True) for _ in range(concurrency)]
    first_post_wall = datetime.now(timezone.utc)
    started = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=LOAD_DEADLINE_S + CLIENT_TIMEOUT_S)
    wall = time.perf_counter() - started
    return {
        "latencies": latencies,
        "statuses": statuses,
        "run_ids": run_ids,
        "wall": wall,
        "first_post_wall": first_post_wall,
        "accepted": statuses.get(202, 0),
    }


def pct(values: list[float], q: float) -> float:
    """The q-quantile (0..1), nearest rank; values in seconds."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * len(ordered)) - 1))]


# --- pieces timed alone -------------------------------------------------------------------


def time_piece(iterations: int, fn: Callable[[int], Any]) -> list[float]:
    """Call fn(i) `iterations` times (bounded also by 30 s); the durations in seconds."""
    durations: list[float] = []
    deadline = time.monotonic() + 30
    for i in range(iterations):
        if time.monotonic() > deadline:
            break
        started = time.perf_counter()
        fn(i)
        durations.append(time.perf_counter() - started)
    return durations


# --- main ---------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=500, help="webhook POSTs (default 500)")
    parser.add_argument("--concurrency", type=int, default=8, help="client threads (default 8)")
    args = parser.parse_args(argv)
    n, c = max(1, args.requests), max(1, args.concurrency)

    logging.basicConfig(level=logging.WARNING)
    for name in ("werkzeug", "functions_framework", "requests_hardened"):
        logging.getLogger(name).setLevel(logging.ERROR)

    from local.emulators import start_emulators
    from local.serve import serve

    tmp = Path(tempfile.mkdtemp(prefix="bench-data-plane-"))
    sink = Sink()
    print("starting emulators ...", flush=True)
    started = time.monotonic()
    emulators = start_emulators(project=PROJECT)
    server = None
    bare_server = None
    try:
        env = {
            **emulators.env(),
            "SECRET_BACKEND": f"local:{tmp / 'local-secrets.json'}",
            "EGRESS_ALLOW_CIDRS": f"{SINK_HOST}/32",
        }
        os.environ.update(env)
        server = serve(env)
        print(f"platform up in {time.monotonic() - started:.1f} s at {server.url}", flush=True)
        results = run_bench(server.url, sink, n, c, tmp)
        bare_url, bare_server = start_bare_server()
        print_results(results, n, c, bare_url)
    finally:
        if bare_server is not None:
            bare_server.shutdown()
        if server is not None:
            server.stop()
        sink.stop()
        emulators.stop()
    return 0


def run_bench(url: str, sink: Sink, n: int, c: int, tmp: Path) -> dict[str, Any]:
    from google.cloud import firestore, pubsub_v1

    from mapper.engine.config import parse_integration
    from mapper.engine.plan import Message, Plan
    from mapper.pipeline import run_id_for
    from mapper.queue import Queue
    from mapper.secrets import LocalSecretBackend, store_secrets
    from mapper.services import services
    from mapper.store.integrations import IntegrationStore
    from mapper.store.runs import RunStore
    from mapper.targets import build_target

    db = firestore.Client(project=PROJECT)
    integrations, runs = IntegrationStore(db), RunStore(db)
    integration_id = pysecrets.token_hex(8)
    doc = {
        "active": True,
        "name": "bench-orders",
        "source": {"type": "webhook"},
        "mappings": engine.MAPPINGS,
        "target": {
            "type": "http",
            "url": sink.url + SINK_PATH,
            "method": "POST",
            "auth": {"type": "bearer", "token": TOKEN},
            "timeoutSeconds": 10,
        },
        "id": integration_id,
        "webhookPath": pysecrets.token_urlsafe(16),
    }
    backend = LocalSecretBackend(tmp / "local-secrets.json")
    stored = integrations.create(store_secrets(doc, backend, integration_id))
    webhook_url = f"{url}/webhook/{stored['webhookPath']}/"
    bodies = [json.dumps(make_order(i)).encode() for i in range(n)]
    body_bytes = statistics.mean(len(b) for b in bodies)

    # Warm up (connections, caches, plan compile); not counted.
    warm = post_load(
        webhook_url, [json.dumps(make_order(10**6 + i)).encode() for i in range(WARMUP)], 2
    )
    deadline = time.monotonic() + 30
    while sink.count(SINK_PATH) < warm["accepted"] and time.monotonic() < deadline:
        time.sleep(0.05)
    baseline = sink.count(SINK_PATH)

    # 1 + 2: the load, then the drain.
    print(f"posting {n} orders of ~{body_bytes:.0f} B with {c} threads ...", flush=True)
    load = post_load(webhook_url, bodies, c)
    t0 = time.perf_counter() - load["wall"]
    deadline = time.monotonic() + DRAIN_DEADLINE_S
    while sink.count(SINK_PATH) - baseline < load["accepted"] and time.monotonic() < deadline:
        time.sleep(0.02)
    sink_done_s = time.perf_counter() - t0
    delivered = sink.count(SINK_PATH) - baseline

    wanted = set(load["run_ids"])
    finished: dict[str, dict[str, Any]] = {}
    while time.monotonic() < deadline:
        finished.clear()
        cursor = None
        for _ in range(1 + 2 * n // 200 + 5):  # bounded paging
            page, cursor = runs.list(integration_id=integration_id, limit=200, cursor=cursor)
            finished.update({r["id"]: r for r in page if r["id"] in wanted})
            if cursor is None:
                break
        if all(
            r["status"] in ("success", "error", "skipped", "dead_lettered")
            for r in finished.values()
        ) and len(finished) == len(wanted):
            break
        time.sleep(0.2)
    status_counts: dict[str, int] = {}
    for r in finished.values():
        status_counts[r["status"]] = status_counts.get(r["status"], 0) + 1
    succeeded = [r for r in finished.values() if r["status"] == "success"]

    def ts(value: str) -> datetime:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))

    run_durations = [(ts(r["updatedAt"]) - ts(r["createdAt"])).total_seconds() for r in succeeded]
    last_update = max((ts(r["updatedAt"]) for r in succeeded), default=None)
    e2e_s = (last_update - load["first_post_wall"]).total_seconds() if last_update else float("nan")

    # 3: the pieces of one accept and one worker pass, alone, single-threaded.
    iterations = max(1, n // 5)
    print(f"timing the pieces alone, {iterations} iterations each ...", flush=True)
    publisher = pubsub_v1.PublisherClient()
    isolated_topic = publisher.topic_path(PROJECT, "bench-isolated")  # no subscription
    publisher.create_topic(name=isolated_topic)
    queue = Queue(publisher, isolated_topic)
    s = services()
    integration = parse_integration(stored)
    plan = Plan(integration)
    order = make_order(42)
    headers = {"Content-Type": "application/json", "User-Agent": "python-requests"}
    piece_ids = [run_id_for(integration_id, None) for _ in range(iterations)]

    def run_doc(i: int) -> dict[str, Any]:
        return {
            "id": piece_ids[i],
            "integrationId": integration_id,
            "sourceKind": "webhook",
            "status": "queued",
            "incomingPayload": order,
            "incomingHeaders": headers,
            "incomingAttributes": {},
            "attempts": 0,
        }

    message = {
        "runId": "x",
        "integrationId": integration_id,
        "integrationVersion": stored.get("version"),
        "payload": order,
        "headers": headers,
        "attributes": {},
    }
    output = plan.apply(Message(order, {}, headers)).output

    def send(_: int) -> None:
        target = build_target(integration.target, s.secrets, s.egress)  # as the worker does
        try:
            target.send(output, order)
        finally:
            target.close()

    pieces: list[tuple[str, str, list[float]]] = [
        (
            "webhook",
            "find integration by webhookPath (Firestore query)",
            time_piece(
                iterations,
                lambda i: integrations.find_by_field("webhookPath", stored["webhookPath"]),
            ),
        ),
        (
            "webhook",
            "RunStore.create (Firestore create)",
            time_piece(iterations, lambda i: runs.create(run_doc(i))),
        ),
        (
            "webhook",
            "Queue.publish + wait (Pub/Sub)",
            time_piece(
                iterations,
                lambda i: queue.publish(
                    {**message, "runId": piece_ids[i]}, {"runId": piece_ids[i]}
                ),
            ),
        ),
        (
            "worker",
            "claim_attempt (Firestore update + get)",
            time_piece(iterations, lambda i: runs.claim_attempt(piece_ids[i])),
        ),
        (
            "worker",
            "integration config (ConfigCache.get)",
            time_piece(iterations, lambda i: s.configs.get(integration_id, stored.get("version"))),
        ),
        (
            "worker",
            "Plan.apply (the mapping)",
            time_piece(iterations, lambda i: plan.apply(Message(order, {}, headers))),
        ),
        ("worker", "HttpTargetSender send to sink (new session)", time_piece(iterations, send)),
        (
            "worker",
            "RunStore.mark success (Firestore update)",
            time_piece(
                iterations, lambda i: runs.mark(piece_ids[i], "success", transformedPayload=output)
            ),
        ),
    ]
    publisher.delete_topic(topic=isolated_topic)
    publisher.transport.close()
    plan.close()

    return {
        "load": load,
        "delivered": delivered,
        "sink_done_s": sink_done_s,
        "e2e_s": e2e_s,
        "succeeded": len(succeeded),
        "status_counts": status_counts,
        "run_durations": run_durations,
        "pieces": pieces,
        "iterations": iterations,
        "body_bytes": body_bytes,
        "bodies": bodies,
        "webhook_path": stored["webhookPath"],
    }


def print_results(r: dict[str, Any], n: int, c: int, bare_url: str) -> None:
    load = r["load"]
    # 4: the reference, same bodies, same client loop.
    bare = post_load(f"{bare_url}/webhook/{r['webhook_path']}/", r["bodies"], c)

    def rate(result: dict[str, Any]) -> float:
        return result["accepted"] / result["wall"] if result["wall"] else float("nan")

    def ms(values: list[float], q: float, digits: int = 1) -> str:
        return f"{pct(values, q) * 1000:.{digits}f}"

    def row(label: str, value: str) -> None:
        print(f"   {label:25}{value}")

    lat, bare_lat, runs_s = load["latencies"], bare["latencies"], r["run_durations"]
    print()
    print(f"== data plane: {n} requests, {c} client threads, ~{r['body_bytes']:.0f} B orders ==")
    print()
    print("1. webhook accept")
    row("statuses", str(dict(sorted(load["statuses"].items()))))
    row("latency p50 / p99", f"{ms(lat, 0.5)} / {ms(lat, 0.99)} ms")
    row("accepted/s", f"{rate(load):.1f}   ({load['accepted']} in {load['wall']:.2f} s)")
    print()
    print("2. end to end")
    row("runs by status", str(dict(sorted(r["status_counts"].items()))))
    row("sink deliveries", f"{r['delivered']} (all in {r['sink_done_s']:.2f} s from first POST)")
    row(
        "runs/s to all success",
        f"{r['succeeded'] / r['e2e_s']:.1f}   ({r['succeeded']} in {r['e2e_s']:.2f} s,"
        " first POST to last updatedAt)",
    )
    row("run updatedAt-createdAt", f"p50 {ms(runs_s, 0.5)} ms, p99 {ms(runs_s, 0.99)} ms")
    print()
    print(f"3. the pieces alone, single-threaded, {r['iterations']} iterations each")
    total = sum(statistics.mean(d) for _, _, d in r["pieces"] if d)
    side_sums: dict[str, float] = {}
    print(f"   {'side':8} {'piece':52} {'mean ms':>8} {'p50 ms':>7} {'share':>6}")
    for side, name, durations in r["pieces"]:
        mean = statistics.mean(durations)
        side_sums[side] = side_sums.get(side, 0.0) + mean
        print(
            f"   {side:8} {name:52} {mean * 1000:8.2f} {ms(durations, 0.5, 2):>7}"
            f" {mean / total:6.1%}"
        )
    for side, value in side_sums.items():
        print(f"   {side:8} {'sum':52} {value * 1000:8.2f} {'':7} {value / total:6.1%}")
    print()
    print("4. reference: bare Flask endpoint answering 202, same werkzeug stack and client loop")
    row("statuses", str(dict(sorted(bare["statuses"].items()))))
    row("latency p50 / p99", f"{ms(bare_lat, 0.5)} / {ms(bare_lat, 0.99)} ms")
    row("accepted/s", f"{rate(bare):.1f}")
    row("webhook / bare", f"{rate(load) / rate(bare):.3f}")


if __name__ == "__main__":
    sys.exit(main())
