"""Cost per million events: drive events through the local stack, count what the cloud bills.

    .venv/bin/python bench/cost.py [--events 10000] [--concurrency 8] [--seed 7] [--write-docs]
        [--receiver-ms 0] [--worker-concurrency N]
    .venv/bin/python bench/cost.py --paced [--beside FAST.json] [--events 10000] ...

Starts the Firestore and Pub/Sub emulators, and the webhook, worker and dead_letter
functions each in functions-framework's production server (gunicorn) as deployed, each
through bench/cost_probe.py, which counts at the client libraries' API classes what
Firestore and Pub/Sub bill, and each invocation with its time. `--concurrency` client
threads POST the benchmarks' ~1.7 KB order to the webhook; the internal topic is pushed to
the worker, whose target is a local HTTP receiver answering by a seeded rule: about 89 % of
events succeed at once, 10 % fail once (500) then succeed, 1 % always fail and are
dead-lettered after MAX_ATTEMPTS attempts. The bench waits until every run has ended.

`--receiver-ms N`: the receiver waits N ms before each answer, as real receivers take
100-500 ms, which holds worker requests in flight (the autoscaler's request term).
`--worker-concurrency N`: the worker's concurrency instead of Terraform's (to measure a
candidate). Each function in THREADED is served with gunicorn's THREADS equal to its
concurrency, as infra/main.tf deploys it; the probes record the most requests in flight.

Measured per event: Firestore reads, writes, deletes (the run's TTL delete is one per run
document), stored bytes of a run (document and index entries by Firestore's size rules,
bench/firestore_size.py), Pub/Sub bytes billed (publishes, pushes, dead-letter forwards; at
least 1,000 bytes a request), invocations per function, instance time per function
(each request alone, rounded up to 100 ms: a low rate; at a high rate, the instances Cloud
Run's autoscaler keeps for the measured CPU seconds and request time, at its 60 % targets of
CPU and of each function's Terraform concurrency), CPU seconds from /proc, the requests'
durations, log bytes the functions wrote. Priced by
bench/cost_model.py. Writes bench/results/cost-<date>.json and prints a Markdown report;
`--write-docs` rewrites the block between `<!-- cost:begin -->` and `<!-- cost:end -->` in
docs/deploy.md from it.

`--paced`: the same events on the paced path (docs/delivery.md): the target has `rateLimit`
(PACED_PER_SECOND, above the drive's pace, so the queue paces nothing and only its cost is
measured), the worker hands each run to the target's queue in the Cloud Tasks stand-in
(local/tasks.py, in this process), which dispatches it to the deliver function, probed as
the others. Cloud Tasks operations are counted at the stand-in: each API call (CreateTask)
and each dispatch attempt. Writes cost-paced-<date>.json; `--beside` a fast-path JSON prints
the two paths' $ per million side by side. docs/delivery.md ("What each path costs") holds
the result.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import json
import os
import platform
import random
import re
import secrets
import signal
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import cost_model
import firestore_size
from ff_support import ROOT, SINK_HOST, Server, order_body, start_function

PROJECT = "demo-bench-cost"
TOPIC = "mapper-events"
DEAD_LETTER_TOPIC = f"{TOPIC}-dead-letter"
MAX_ATTEMPTS = 10  # the cloud's default (docs/data-plane.md "Retries"); locally 1-2 s apart
BACKOFF_S = (1, 2)
WARMUP = 20
SETTLE_S = 1.5  # longer than the probes' dump interval
DRAIN_DEADLINE_S = 1800.0
FAILING_ONCE, DEAD = 0.10, 0.01
LOW_RATE, HIGH_RATE = 10.0, 1000.0
FUNCTIONS = ("webhook", "worker", "dead_letter", "pull")
PACED_FUNCTIONS = (*FUNCTIONS, "deliver")  # --paced: the deliver function too
PACED_PER_SECOND = 500  # Cloud Tasks' most a queue allows: --paced measures cost, not pace
# The scheduler's tick of `pull` (the reconciler publishes due retries; the Pub/Sub emulator
# can stop redelivering a message that failed under load). Every minute in the cloud; this
# often here so that a dead-lettered event's ten attempts end within minutes.
TICK_S = 5.0
# e.g. `SUCCESS_PAYLOAD_RETENTION_DAYS=0 make cost`, `RECORD_AT_ACCEPT=false make cost`
SETTINGS = ("SUCCESS_PAYLOAD_RETENTION_DAYS", "RECORD_AT_ACCEPT")
# Served with gunicorn's THREADS equal to their concurrency, as infra/main.tf sets it
# (threaded_functions): the others keep functions-framework's default (4 a CPU).
THREADED = ("worker", "deliver")
RESULTS = ROOT / "bench/results"
DOCS = ROOT / "docs/deploy.md"
BEGIN, END = "<!-- cost:begin -->", "<!-- cost:end -->"


def event_class(seed: int, n: int) -> str:
    """The seeded rule: `healthy`, `failing_once` or `dead` for event n (n < 0: warm-up)."""
    if n < 0:
        return "healthy"
    draw = random.Random(f"{seed}:{n}").random()
    return "dead" if draw < DEAD else "failing_once" if draw < DEAD + FAILING_ONCE else "healthy"


class _Listening(ThreadingHTTPServer):
    # socketserver's default backlog of 5 resets connections when dozens of requests wait
    # on a slow receiver at once (bench/worker_concurrency.py at a concurrency of 64).
    request_queue_size = 256


class Receiver:
    """The target: a loopback HTTP server answering each event by `event_class`."""

    def __init__(self, seed: int, delay_ms: int = 0) -> None:
        self.attempts: dict[int, int] = {}
        self.delay_s = delay_ms / 1000
        self._lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            # The worker keeps connections alive: without this, Nagle holds the body
            # written after the headers until the client's delayed ACK (about 40 ms).
            disable_nagle_algorithm = True

            def do_POST(self) -> None:  # noqa: N802 - http.server's naming
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                n = int(json.loads(body)["eventNumber"])
                with receiver._lock:
                    tries = receiver.attempts[n] = receiver.attempts.get(n, 0) + 1
                kind = event_class(seed, n)
                if receiver.delay_s:  # --receiver-ms: a receiver that takes its time
                    time.sleep(receiver.delay_s)
                ok = kind == "healthy" or (kind == "failing_once" and tries > 1)
                self.send_response(200 if ok else 500)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"{}")

            def log_message(self, *args: Any) -> None:
                pass

        self._server = _Listening((SINK_HOST, 0), Handler)
        self._server.daemon_threads = True
        self.url = f"http://{SINK_HOST}:{self._server.server_port}/orders"
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        """Stop serving."""
        self._server.shutdown()
        self._server.server_close()


@dataclass(frozen=True)
class Allocation:
    """One function's size as Terraform deploys it."""

    cpu: str
    memory_gib: float
    concurrency: int


@dataclass
class Probe:
    """One function's server and where its counts, log and CPU are read."""

    name: str
    server: Server
    counts_file: Path
    cpu: str
    memory_gib: float
    concurrency: int
    base: dict[str, float] = field(default_factory=dict)

    def snapshot(self) -> dict[str, float]:
        """Its counters now, with CPU seconds, peak memory and log bytes."""
        counts = json.loads(self.counts_file.read_text()) if self.counts_file.exists() else {}
        cpu_s, rss = _group_usage(self.server.proc.pid)
        return {**counts, "cpu_s": cpu_s, "peak_rss_mib": rss,
                "log_bytes": self.server.log.stat().st_size}

    def delta(self) -> dict[str, float]:
        """What changed since `base` (peak memory as it is)."""
        now = self.snapshot()
        out = {key: now.get(key, 0) - self.base.get(key, 0) for key in now}
        out["peak_rss_mib"] = now["peak_rss_mib"]
        out["peak_in_flight"] = now.get("peak_in_flight", 0)  # since start, as memory
        return out


def _group_usage(pgid: int) -> tuple[float, float]:
    """CPU seconds (user + system) of a process group's processes, and its largest peak RSS."""
    ticks, peak = 0, 0
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        with contextlib.suppress(OSError, IndexError, ValueError):
            stat = Path(f"/proc/{name}/stat").read_text().rsplit(")", 1)[1].split()
            if int(stat[2]) != pgid:
                continue
            ticks += int(stat[11]) + int(stat[12])  # utime, stime
            status = Path(f"/proc/{name}/status").read_text()
            found = re.search(r"VmHWM:\s+(\d+) kB", status)
            peak = max(peak, int(found.group(1)) if found else 0)
    return ticks / os.sysconf("SC_CLK_TCK"), peak / 1024


def allocations(variables: Path = ROOT / "infra/variables.tf") -> dict[str, Allocation]:
    """Each function's vCPU, memory (GiB) and request concurrency from the Terraform
    defaults, as deployed."""
    out: dict[str, Allocation] = {}
    current, cpu, memory, concurrency = "", "", 0.0, 1
    for line in variables.read_text().splitlines():
        if start := re.match(r"^    (\w+) = \{$", line):
            current = start.group(1)
        elif found := re.match(r'^\s+memory\s+= "(\d+)(Mi|Gi)"', line):
            memory = int(found.group(1)) / (1024 if found.group(2) == "Mi" else 1)
        elif found := re.match(r'^\s+cpu\s+= "([\d.]+)"', line):
            cpu = found.group(1)
        elif found := re.match(r"^\s+concurrency\s+= (\d+)", line):
            concurrency = int(found.group(1))
        elif line == "    }" and current:
            out[current] = Allocation(cpu, memory, concurrency)
            current = ""
    return out


def sizes(worker_concurrency: int | None = None) -> dict[str, Allocation]:
    """The functions' sizes as measured: Terraform's, the worker's concurrency replaced if
    given (--worker-concurrency)."""
    sized = allocations()
    if worker_concurrency is not None:
        sized["worker"] = replace(sized["worker"], concurrency=worker_concurrency)
    return sized


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=10_000)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--receiver-ms", type=int, default=0,
                        help="the receiver waits this long before each answer")
    parser.add_argument("--worker-concurrency", type=int, default=None,
                        help="the worker's concurrency (default: infra/variables.tf's)")
    parser.add_argument("--write-docs", action="store_true", help="rewrite docs/deploy.md's block")
    parser.add_argument("--out", type=Path, default=None, help="the JSON file to write")
    parser.add_argument("--report", type=Path, default=None,
                        help="print (and with --write-docs, write) a saved JSON; run nothing")
    parser.add_argument("--paced", action="store_true",
                        help="the paced path: the target has rateLimit (docs/delivery.md)")
    parser.add_argument("--beside", type=Path, default=None,
                        help="with --paced: a fast-path JSON to print beside it")
    args = parser.parse_args(argv)
    if args.paced and args.write_docs:
        parser.error("--write-docs is the fast path's table; the paced one is in delivery.md")
    if args.report is not None:
        text = markdown(reprice(json.loads(args.report.read_text())))
        print(text)
        if args.write_docs:
            write_docs(text)
        return 0
    signal.signal(signal.SIGTERM, _stop)  # unwinds: the servers and emulators are stopped
    started = time.monotonic()
    measured = measure(args.events, args.concurrency, args.seed, paced=args.paced,
                       receiver_ms=args.receiver_ms, worker_concurrency=args.worker_concurrency)
    measured["wall_s"] = round(time.monotonic() - started, 1)
    report = price(measured)
    kind = "cost-paced" if args.paced else "cost"
    out = args.out or RESULTS / f"{kind}-{report['date']}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2, sort_keys=True) + "\n")
    text = markdown(report)
    print(text)
    print(f"\n(written to {out.relative_to(ROOT) if out.is_relative_to(ROOT) else out})")
    if args.write_docs:
        write_docs(text)
    if args.beside is not None and args.beside.exists():
        print("\n" + side_by_side(json.loads(args.beside.read_text()), report))
    return 0 if report["ended"] == report["events"] else 1


def _stop(signum: int, frame: object) -> None:
    raise SystemExit(f"stopped by {signal.Signals(signum).name}")


def measure(events: int, concurrency: int, seed: int, paced: bool = False,
            receiver_ms: int = 0, worker_concurrency: int | None = None) -> dict[str, Any]:
    """Run the stack, drive the events, and return the raw counts of the measured window."""
    from google.cloud import firestore, pubsub_v1

    from local.emulators import free_port, start_emulators
    from local.serve import worker_ack_deadline_s
    from local.tasks import TasksStandIn
    from mapper.queue import ensure_topic_and_subscription
    from mapper.store.integrations import IntegrationStore

    tmp = Path(tempfile.mkdtemp(prefix="bench-cost-"))
    receiver = Receiver(seed, receiver_ms)
    probes: list[Probe] = []
    sized = sizes(worker_concurrency)
    functions = PACED_FUNCTIONS if paced else FUNCTIONS
    stand_in = TasksStandIn() if paced else contextlib.nullcontext()
    with start_emulators(project=PROJECT, data_dir=tmp) as emulators, stand_in as tasks:
        os.environ.update(emulators.env())
        env = {
            **emulators.env(),
            "GOOGLE_CLOUD_PROJECT": PROJECT,
            "SECRET_BACKEND": f"local:{tmp / 'secrets.json'}",
            "EGRESS_ALLOW_CIDRS": f"{SINK_HOST}/32",
            "LOG_FORMAT": "json",  # as on Cloud Run
            "PUSH_VERIFY_OIDC": "false",
            "MAX_DELIVERY_ATTEMPTS": str(MAX_ATTEMPTS),
            "RETRY_MIN_BACKOFF_SECONDS": str(BACKOFF_S[0]),
            "RETRY_MAX_BACKOFF_SECONDS": str(BACKOFF_S[1]),
        }
        deliver_port = free_port()
        if tasks is not None:  # --paced: delivery queues in the stand-in, tasks to `deliver`
            env |= {"CLOUD_TASKS_ENDPOINT": tasks.url,
                    "DELIVER_URL": f"http://127.0.0.1:{deliver_port}/"}
        db = firestore.Client(project=PROJECT)
        try:
            for name in functions:
                counts = tmp / f"{name}.counts.json"
                signature = "http" if name in ("webhook", "pull", "deliver") else "cloudevent"
                threads = {"THREADS": str(sized[name].concurrency)} if name in THREADED else {}
                server = start_function(
                    name, name, ROOT / "bench/cost_probe.py",
                    {**env, **threads, "COST_FUNCTION": name, "COST_COUNTS_FILE": str(counts),
                     "COST_PUSHED": "0" if signature == "http" else "1"},
                    tmp, signature=signature,
                    port=deliver_port if name == "deliver" else None,
                )
                size = sized[name]
                probes.append(Probe(name, server, counts, size.cpu, size.memory_gib,
                                    size.concurrency))
            by_name = {probe.name: probe for probe in probes}
            publisher, subscriber = pubsub_v1.PublisherClient(), pubsub_v1.SubscriberClient()
            ensure_topic_and_subscription(
                publisher, subscriber, PROJECT, DEAD_LETTER_TOPIC, f"{DEAD_LETTER_TOPIC}-push",
                push_endpoint=by_name["dead_letter"].server.url + "/",
                min_backoff=BACKOFF_S[0], max_backoff=BACKOFF_S[1],
            )
            ensure_topic_and_subscription(
                publisher, subscriber, PROJECT, TOPIC, f"{TOPIC}-worker",
                dead_letter_topic=DEAD_LETTER_TOPIC, max_delivery_attempts=MAX_ATTEMPTS,
                push_endpoint=by_name["worker"].server.url + "/",
                min_backoff=BACKOFF_S[0], max_backoff=BACKOFF_S[1],
                ack_deadline_seconds=worker_ack_deadline_s(),
            )
            subscriber.close()
            webhook = by_name["webhook"].server.url
            ticking = threading.Event()
            ticks = tick(by_name["pull"].server.url, ticking)
            warm, measured = (_integration(IntegrationStore(db), receiver.url, paced)
                              for _ in range(2))
            if tasks is not None:
                _paced_queues(tasks.url, env["DELIVER_URL"], (warm["id"], measured["id"]))
            drive(f"{webhook}/webhook/{warm['webhookPath']}/", range(-WARMUP, 0), concurrency)
            wait_ended(db, warm["id"], WARMUP)
            time.sleep(SETTLE_S)
            for probe in probes:
                probe.base = probe.snapshot()
            tasks_base = _tasks_operations(tasks)
            began = time.monotonic()
            answers = drive(f"{webhook}/webhook/{measured['webhookPath']}/", range(events),
                            concurrency)
            ended = wait_ended(db, measured["id"], answers.get(202, 0))
            drained_s = time.monotonic() - began
            time.sleep(SETTLE_S)
            ticking.set()
            ticks.join(timeout=60)
            deltas = {probe.name: probe.delta() for probe in probes}
            tasks_operations = _tasks_operations(tasks) - tasks_base
            stored = stored_runs(db, measured["id"])
        finally:
            for probe in probes:
                probe.server.stop()
            receiver.stop()
            db.close()
    kinds = [event_class(seed, n) for n in range(events)]
    return {
        "events": events,
        "concurrency": concurrency,
        "receiver_ms": receiver_ms,
        "seed": seed,
        "answers": answers,
        "ended": ended,
        "drained_s": round(drained_s, 1),
        "classes": {kind: kinds.count(kind) for kind in ("healthy", "failing_once", "dead")},
        "target_requests": sum(receiver.attempts.get(n, 0) for n in range(events)),
        "functions": {
            probe.name: {**deltas[probe.name], "cpu": probe.cpu, "memory_gib": probe.memory_gib,
                         "concurrency": probe.concurrency}
            for probe in probes
        },
        "stored": stored,
        "paced": paced,
        "tasks_operations": tasks_operations,
    }


def _tasks_operations(tasks: Any) -> int:
    """Cloud Tasks' billed operations so far: API calls and dispatch attempts (0: none)."""
    return 0 if tasks is None else len(tasks.calls) + len(tasks.dispatched)


def _paced_queues(endpoint: str, deliver_url: str, integration_ids: tuple[str, ...]) -> None:
    """Each integration's target queue, as the api makes it on save (docs/delivery.md)."""
    from google.api_core.client_options import ClientOptions
    from google.auth.credentials import AnonymousCredentials
    from google.cloud import tasks_v2

    from mapper.cloud_tasks import CloudTasksQueue
    from mapper.pipeline.ports import QueueConfig, QueueKey, RetryPolicy

    client = tasks_v2.CloudTasksClient(
        transport="rest", client_options=ClientOptions(api_endpoint=endpoint),
        credentials=AnonymousCredentials(),
    )
    queues = CloudTasksQueue(client, PROJECT, "local", deliver_url=deliver_url,
                             invoker_email="local-tasks@localhost")
    retry = RetryPolicy(max_attempts=MAX_ATTEMPTS, min_backoff_s=BACKOFF_S[0],
                        max_backoff_s=BACKOFF_S[1])
    for integration_id in integration_ids:
        queues.ensure(QueueKey(integration_id, "target"),
                      QueueConfig(PACED_PER_SECOND, 1000, retry))
    client.transport.close()


def _integration(store: Any, target: str, paced: bool = False) -> dict[str, Any]:
    sys.path.insert(0, str(ROOT / "bench"))
    import engine

    return store.create(
        {
            "active": True,
            "name": "cost bench",
            "source": {"type": "webhook"},
            "mappings": [*engine.MAPPINGS, {"source": "eventNumber", "target": "eventNumber"}],
            "target": {"type": "http", "url": target, "timeoutSeconds": 10,
                       **({"rateLimit": {"perSecond": PACED_PER_SECOND}} if paced else {})},
            "webhookPath": secrets.token_urlsafe(16),
        }
    )


def tick(url: str, stop: threading.Event) -> threading.Thread:
    """POST an empty tick to `pull` every TICK_S seconds until `stop`, as Cloud Scheduler does."""
    import requests

    def run() -> None:
        while not stop.wait(TICK_S):
            with contextlib.suppress(requests.RequestException):
                requests.post(url + "/", json={}, timeout=60)

    thread = threading.Thread(target=run, name="pull-tick", daemon=True)
    thread.start()
    return thread


def drive(url: str, numbers: range, concurrency: int) -> dict[int, int]:
    """POST the order once per event number from `concurrency` threads; answers by status."""
    import requests

    order = json.loads(order_body())
    local = threading.local()

    def post(n: int) -> int:
        session = getattr(local, "session", None) or requests.Session()
        local.session = session
        body = json.dumps({**order, "eventNumber": n}).encode()
        for _ in range(5):  # a 503 is retried, as senders do
            try:
                answer = session.post(url, data=body, timeout=30,
                                      headers={"Content-Type": "application/json"})
            except requests.RequestException:
                continue
            if answer.status_code != 503:
                return answer.status_code
        return 503

    with ThreadPoolExecutor(concurrency) as pool:
        statuses = list(pool.map(post, numbers))
    return {status: statuses.count(status) for status in sorted(set(statuses))}


def wait_ended(db: Any, integration_id: str, expected: int) -> int:
    """Wait until `expected` runs of the integration have ended; how many did."""
    from google.cloud.firestore_v1.base_query import FieldFilter

    from mapper.pipeline.runs import TERMINAL

    runs = db.collection("runs").where(filter=FieldFilter("integrationId", "==", integration_id))
    deadline = time.monotonic() + DRAIN_DEADLINE_S
    ended = 0
    while time.monotonic() < deadline:
        done = runs.where(filter=FieldFilter("status", "in", sorted(TERMINAL)))
        ended = done.count().get()[0][0].value
        if ended >= expected:
            break
        time.sleep(1.0)
    return int(ended)


def stored_runs(db: Any, integration_id: str) -> dict[str, Any]:
    """The runs' documents and index entries, in bytes, by Firestore's size rules; the
    single-field index bytes by field too (where an exemption would save most)."""
    from google.cloud.firestore_v1.base_query import FieldFilter

    from mapper.store.indexes import RUN_INDEX_EXEMPTIONS, RUN_INDEXES

    documents = index_entries = count = 0
    by_field: dict[str, int] = {}
    exempt = (*RUN_INDEX_EXEMPTIONS, "expireAt")  # the TTL field: not indexed (infra/firestore.tf)
    runs = db.collection("runs").where(filter=FieldFilter("integrationId", "==", integration_id))
    for snapshot in runs.stream():
        path = snapshot.reference.path.split("/")
        fields = snapshot.to_dict() or {}
        documents += firestore_size.document_size(path, fields)
        for name, value in fields.items():
            size = firestore_size.single_field_index_size(path, {name: value}, exempt)
            by_field[name] = by_field.get(name, 0) + size
            index_entries += size
        index_entries += firestore_size.composite_index_size(path, fields, RUN_INDEXES)
        count += 1
    return {"runs": count, "document_bytes": documents, "index_bytes": index_entries,
            "single_field_index_bytes": dict(sorted(by_field.items(), key=lambda kv: -kv[1]))}


def per_event(measured: dict[str, Any], rate: str) -> cost_model.PerEvent:
    """The billed units of one event at a `low` or `high` rate.

    Instance time: at a low rate each request alone, rounded up to 100 ms (`rounded_s`); at
    a high rate what Cloud Run's autoscaler keeps running for the measured CPU and request
    time (`instance_seconds`).
    """
    n = measured["events"]
    fns = measured["functions"]
    seconds = {name: f.get("rounded_s", 0) if rate == "low" else instance_seconds(name, f)
               for name, f in fns.items()}
    dead_letter = fns["dead_letter"]
    forwards = dead_letter.get("pubsub.pushed_billed_bytes", 0)  # Pub/Sub's forward: its push
    stored = measured["stored"]
    values = fns.values()
    return cost_model.PerEvent(
        firestore_reads=sum(f.get("firestore.reads", 0) for f in values) / n,
        firestore_writes=sum(f.get("firestore.writes", 0) for f in values) / n,
        firestore_deletes=(sum(f.get("firestore.deletes", 0) for f in values) + stored["runs"]) / n,
        stored_bytes=(stored["document_bytes"] + stored["index_bytes"]) / n,
        pubsub_bytes=(sum(f.get("pubsub.billed_bytes", 0) for f in values) + forwards) / n,
        run_requests=sum(f.get("invocations", 0) for f in values) / n,
        run_vcpu_s=sum(seconds[name] * float(f["cpu"]) for name, f in fns.items()) / n,
        run_gib_s=sum(seconds[name] * f["memory_gib"] for name, f in fns.items()) / n,
        logging_bytes=sum(f.get("log_bytes", 0) for f in values) / n,
        tasks_operations=measured.get("tasks_operations", 0) / n,  # --paced only
    )


def instance_seconds(name: str, measured: dict[str, Any]) -> float:
    """One function's instance time at a steady high rate (cost_model's autoscaler rule).

    A result written before the functions' concurrency was recorded takes Terraform's.
    """
    concurrency = measured.get("concurrency") or allocations()[name].concurrency
    return cost_model.autoscaled_instance_seconds(
        measured.get("cpu_s", 0), measured.get("duration_s", 0), float(measured["cpu"]),
        concurrency,
    )


def price(measured: dict[str, Any]) -> dict[str, Any]:
    """The report: what was measured, per event, per million events and a month at two rates."""
    rates = {"low": LOW_RATE, "high": HIGH_RATE}
    units = {rate: per_event(measured, rate) for rate in rates}
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT,
                            capture_output=True, text=True, check=False).stdout.strip()
    load = os.getloadavg()
    return {
        "date": datetime.date.today().isoformat(),
        "at": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": f"{platform.machine()}, {os.cpu_count()} CPUs, load average "
                   f"{load[0]:.1f} at the end",
        "commit": commit,
        # Settings the functions inherit from the bench's environment, when not the defaults.
        "settings": {k: os.environ[k] for k in SETTINGS if k in os.environ},
        **measured,
        "prices": {"as_of": cost_model.PRICES_AS_OF, "region": cost_model.PRICE_REGION,
                   "lines": cost_model.PRICES},
        "rates": {rate: {
            "events_per_s": value,
            "per_event": units[rate].as_dict(),
            "per_million": cost_model.per_million(units[rate]),
            "monthly": cost_model.monthly(units[rate], value),
        } for rate, value in rates.items()},
    }


def reprice(report: dict[str, Any]) -> dict[str, Any]:
    """A saved report with its prices and rates worked out again by today's cost model
    (what it measured, and when, unchanged)."""
    priced = price(report)
    return {**report, "prices": priced["prices"], "rates": priced["rates"]}


def markdown(report: dict[str, Any]) -> str:
    """The report as the Markdown docs/deploy.md holds."""
    n, fns = report["events"], report["functions"]
    names = [f for f in PACED_FUNCTIONS if f in fns]
    low, high = report["rates"]["low"], report["rates"]["high"]
    lines = [
        f"Measured by `make cost` (bench/cost.py) on {report['at']}, commit "
        f"`{report['commit']}`, {report['machine']}: {n:,} events "
        f"({report['classes']['healthy']:,} delivered at once, "
        f"{report['classes']['failing_once']:,} failing once, {report['classes']['dead']:,} "
        f"dead-lettered after {MAX_ATTEMPTS} attempts), {report['concurrency']} client "
        f"connections, a receiver answering {_receiver(report)}, `pull` (the reconciler) "
        f"ticked every {TICK_S:g} s, a ~1.7 KB order, "
        f"{report['ended']:,} of {n:,} runs ended, "
        f"{report['target_requests']:,} requests to the target"
        + "".join(f", {k}={v}" for k, v in report.get("settings", {}).items())
        + ". Counts are exact; times are this loaded machine's, against the emulators.",
        "",
        "| per event | " + " | ".join(names) + " | total |",
        "|---|" + "---:|" * (len(names) + 1),
    ]
    rows = (
        ("invocations", "invocations", 1),
        ("Firestore reads", "firestore.reads", 1),
        ("Firestore writes", "firestore.writes", 1),
        ("Pub/Sub messages published", "pubsub.published_messages", 1),
        ("Pub/Sub messages pushed", "pubsub.pushed_messages", 1),
        ("Pub/Sub bytes billed (1 KB minimum a request)", "pubsub.billed_bytes", 1),
        ("log bytes written", "log_bytes", 1),
        ("CPU ms used (/proc)", "cpu_s", 1000),
        ("instance ms, each request alone, rounded to 100 ms", "rounded_s", 1000),
        ("request ms (durations added up)", "duration_s", 1000),
        (f"instance ms, busy at {report['concurrency']} connections here", "busy_s", 1000),
    )
    for label, key, scale in rows:
        values = [fns[f].get(key, 0) * scale / n for f in names]
        cells = " | ".join(_num(v) for v in values)
        lines.append(f"| {label} | {cells} | {_num(sum(values))} |")
    autoscaled = [instance_seconds(f, fns[f]) * 1000 / n for f in names]
    lines.append("| instance ms at a high rate (autoscaler: CPU or concurrency at 60 %) | "
                 + " | ".join(_num(v) for v in autoscaled) + f" | {_num(sum(autoscaled))} |")
    stored = report["stored"]
    lines += [
        "",
        f"Stored per run: {stored['document_bytes'] / max(stored['runs'], 1):,.0f} bytes of "
        f"document and {stored['index_bytes'] / max(stored['runs'], 1):,.0f} bytes of index "
        "entries (Firestore's size rules); the TTL policy deletes each run document once "
        "(one delete). Instance time is billed at each function's Terraform size "
        "(" + ", ".join(f"{f} {fns[f]['cpu']} vCPU {fns[f]['memory_gib']:g} GiB"
                       for f in names) + "): each request alone at a low rate; at a high rate, "
        "as many instances as Cloud Run's autoscaler runs for the CPU and the requests in "
        "flight measured (the larger of CPU seconds over 0.6 of the instance's CPUs and "
        "request seconds over 0.6 of its concurrency).",
        "",
    ]
    lines += ["Most requests in flight at once, and the peak RSS of the largest process "
              "(gunicorn's master, which holds the imports): " + ", ".join(
        f"{f} {fns[f].get('peak_in_flight', 0):,.0f} of {fns[f].get('concurrency', '?')}, "
        f"{fns[f].get('peak_rss_mib', 0):,.0f} MiB" for f in names) + ".", ""]
    if by_field := stored.get("single_field_index_bytes"):
        runs = max(stored["runs"], 1)
        largest = sorted(((k, v) for k, v in by_field.items() if v), key=lambda kv: -kv[1])[:8]
        top = ", ".join(f"`{k}` {v / runs:,.0f}" for k, v in largest)
        lines += [f"Single-field index entries, bytes a run, largest first: {top}.", ""]
    lines += [
        f"| $ per million events, list prices of {report['prices']['as_of']}, no free tier "
        "| low rate | high rate |",
        "|---|---:|---:|",
    ]
    for key, label in cost_model.LINES:
        lines.append(f"| {label} | {low['per_million'][key]:,.2f} | "
                     f"{high['per_million'][key]:,.2f} |")
    lines.append(f"| **total** | **{sum(low['per_million'].values()):,.2f}** | "
                 f"**{sum(high['per_million'].values()):,.2f}** |")
    lines += [
        "",
        f"| $ a month (30 days), free tiers subtracted | {low['events_per_s']:g} events/s | "
        f"{high['events_per_s']:,.0f} events/s |",
        "|---|---:|---:|",
    ]
    for key, label in cost_model.LINES:
        lines.append(f"| {label} | {low['monthly'][key]:,.0f} | {high['monthly'][key]:,.0f} |")
    lines.append(f"| **total** | **{sum(low['monthly'].values()):,.0f}** | "
                 f"**{sum(high['monthly'].values()):,.0f}** |")
    lines += ["", "| list price | $ | per | free a month | page |", "|---|---:|---|---|---|"]
    for key, label in cost_model.LINES:
        p = cost_model.PRICES[key]
        lines.append(f"| {label} | {p['price']} | {_per(key, p)} | {_per(key, p, 'free')} | "
                     f"{p['source']} |")
    return "\n".join(lines)


def _receiver(report: dict[str, Any]) -> str:
    ms = report.get("receiver_ms", 0)  # 0 in results written before --receiver-ms
    return f"after {ms:,} ms (--receiver-ms)" if ms else "at once"


def _num(value: float) -> str:
    return f"{value:,.0f}" if value >= 100 else f"{value:,.2f}"


def _per(key: str, price: dict[str, Any], which: str = "per") -> str:
    amount = float(price[which])
    if key in ("pubsub_bytes", "logging_bytes", "firestore_storage"):
        unit = "TiB" if amount >= cost_model.TIB else "GiB"
        scaled = amount / (cost_model.TIB if unit == "TiB" else cost_model.GIB)
        return f"{scaled:g} {unit}" + (" a month" if key == "firestore_storage" else "")
    return f"{amount:,.0f} {price['unit']}"


def side_by_side(fast: dict[str, Any], paced: dict[str, Any]) -> str:
    """Both paths' $ per million events by line, at both rates (docs/delivery.md's table)."""
    lines = [
        f"| $ per million events, list prices of {paced['prices']['as_of']}, no free tier "
        "| fast, low rate | paced, low rate | fast, high rate | paced, high rate |",
        "|---|---:|---:|---:|---:|",
    ]
    rows = [(key, label) for key, label in cost_model.LINES]
    for key, label in rows:
        cells = [r["rates"][rate]["per_million"][key]
                 for rate in ("low", "high") for r in (fast, paced)]
        lines.append(f"| {label} | " + " | ".join(f"{c:,.2f}" for c in cells) + " |")
    totals = [sum(r["rates"][rate]["per_million"].values())
              for rate in ("low", "high") for r in (fast, paced)]
    lines.append("| **total** | " + " | ".join(f"**{t:,.2f}**" for t in totals) + " |")
    ops = paced["tasks_operations"] / paced["events"]
    lines += ["", f"Paced: {ops:.2f} Cloud Tasks operations and "
              f"{paced['functions']['deliver']['invocations'] / paced['events']:.2f} deliver "
              f"requests per event; fast: {fast['events']:,} events at {fast['at']}, paced: "
              f"{paced['events']:,} events at {paced['at']} ({paced['machine']})."]
    return "\n".join(lines)


def write_docs(text: str, doc: Path = DOCS) -> None:
    """Replace the generated block of docs/deploy.md with `text`."""
    content = doc.read_text()
    head, found, rest = content.partition(BEGIN)
    _, ended, tail = rest.partition(END)
    if not (found and ended):
        raise SystemExit(f"{doc} has no {BEGIN} ... {END} block")
    doc.write_text(f"{head}{BEGIN}\n{text}\n{END}{tail}")


if __name__ == "__main__":
    sys.exit(main())
