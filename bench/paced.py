"""The paced path's rate: what a receiver sees from a target with `rateLimit`, per second.

    .venv/bin/python bench/paced.py [--seconds 60] [--rates 20,50] [--repeat 1] [--json FILE]

Starts the local platform as `make dev` does (`python -m local.dev`: the Firestore and
Pub/Sub emulators, every function, the Cloud Tasks stand-in dispatching to the deliver
route) in a state directory of its own, and a loopback HTTP receiver answering 200 at
once. For each limit (interleaved with the other limits when repeated), it makes an
integration whose target has `rateLimit: {"perSecond": limit}`, pauses its delivery,
accepts `limit x (seconds + 5)` webhook events (all held), then resumes: every held run is
queued in the target's queue, so the queue never runs dry during the measured window,
whatever the intake's own speed on this machine.

Measured at the receiver, from the first request it gets, over `--seconds`:
- achieved rate = requests in the window / seconds, and its ratio to the limit (the bench
  fails, exit 1, when a ratio is more than 5 % off);
- the most requests in any one second (a sliding window over the arrival times, which is
  stricter than counting per calendar second);
- the spread across the window's whole seconds (min, median, max, standard deviation of
  the per-second counts), and across runs when repeated.
The last request may arrive up to the deliver function's own time after its dispatch, so a
single second can show one more or one less than the limit (docs/delivery.md).
Prints a Markdown table and the machine's load (`uptime`); writes `--json` when given.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import requests

ROOT = Path(__file__).resolve().parents[1]
START_TIMEOUT_S = 240.0
TOLERANCE = 0.05  # the bound: within 5 % of the limit
EXTRA_S = 5  # events beyond the window, so the queue is never empty inside it
SEND_THREADS = 8
HELD_TIMEOUT_S = 600.0


@dataclass
class RateResult:
    """One measured window at one limit."""

    limit: float
    seconds: int
    sent: int  # requests the receiver got in the window
    achieved: float  # sent / seconds
    ratio: float  # achieved / limit
    max_any_second: int  # sliding one-second window
    per_second: list[int]  # whole seconds of the window

    @property
    def spread(self) -> dict[str, float]:
        counts = self.per_second
        return {
            "min": min(counts),
            "median": statistics.median(counts),
            "max": max(counts),
            "stdev": round(statistics.pstdev(counts), 2),
        }


def measure(arrivals: list[float], limit: float, seconds: int) -> RateResult:
    """The window's figures from the receiver's arrival times (seconds, any origin)."""
    if not arrivals:
        raise ValueError("the receiver got nothing")
    times = sorted(arrivals)
    start = times[0]
    window = [t - start for t in times if t - start < seconds]
    per_second = [0] * seconds
    for t in window:
        per_second[int(t)] += 1
    most, j = 0, 0
    for i, t in enumerate(window):  # two pointers: arrivals in [window[j], window[j] + 1)
        while t - window[j] >= 1.0:
            j += 1
        most = max(most, i - j + 1)
    achieved = len(window) / seconds
    return RateResult(limit, seconds, len(window), round(achieved, 3),
                      round(achieved / limit, 4), most, per_second)


class Receiver:
    """A loopback HTTP server answering 200 at once, keeping each request's arrival time."""

    def __init__(self) -> None:
        self.arrivals: dict[str, list[float]] = {}
        self._lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            # The worker keeps connections alive: without this, Nagle holds the body
            # written after the headers until the client's delayed ACK (about 40 ms).
            disable_nagle_algorithm = True

            def do_POST(self) -> None:  # noqa: N802 - http.server's naming
                at = time.monotonic()
                self.rfile.read(int(self.headers.get("Content-Length") or 0))
                with receiver._lock:
                    receiver.arrivals.setdefault(self.path, []).append(at)
                self.send_response(200)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"{}")

            def log_message(self, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._server.server_port}"
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()


class LocalPlatform:
    """`python -m local.dev` in a state directory of its own, on a free port."""

    def __init__(self, state: Path) -> None:
        self.port = _free_port()
        self.url = f"http://localhost:{self.port}"
        self._log = state / "dev.log"
        env = {k: v for k, v in os.environ.items()
               if not k.endswith("_EMULATOR_HOST") and k != "CLOUD_TASKS_ENDPOINT"}
        env.update(PORT=str(self.port), LOCAL_STATE_DIR=str(state),
                   MAIL_PORT=str(_free_port()))
        with open(self._log, "ab") as out:
            self._proc = subprocess.Popen(
                [str(ROOT / ".venv/bin/python"), "-m", "local.dev"], cwd=ROOT, env=env,
                stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
            )
        deadline = time.monotonic() + START_TIMEOUT_S
        while "The platform is running" not in self._log.read_text(errors="replace"):
            if self._proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"make dev did not start:\n{self._log.read_text()[-3000:]}")
            time.sleep(0.5)
        self._token = (state / "admin-token").read_text().strip()

    def api(self, method: str, path: str, body: Any = None) -> Any:
        reply = requests.request(method, self.url + path, json=body, timeout=120,
                                 headers={"Authorization": f"Bearer {self._token}"})
        if reply.status_code >= 300:
            raise RuntimeError(f"{method} {path}: {reply.status_code} {reply.text}")
        return reply.json() if reply.content else None

    def stop(self) -> None:
        if self._proc.poll() is None:
            os.killpg(self._proc.pid, signal.SIGTERM)  # the group this bench started
            try:
                self._proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                os.killpg(self._proc.pid, signal.SIGKILL)


def run_once(platform_: LocalPlatform, receiver: Receiver, limit: float, seconds: int,
             label: str) -> RateResult:
    """One window at `limit`: held events, resumed at once, measured at the receiver."""
    path = f"/paced-{label}"
    hook = platform_.api("POST", "/api/integrations/", {
        "name": f"paced bench {label}",
        "source": {"type": "webhook"},
        "mappings": [{"source": "n", "target": "n"}],
        "target": {"type": "http", "url": receiver.url + path,
                   "rateLimit": {"perSecond": limit}},
    })
    base = f"/api/integrations/{hook['id']}"
    platform_.api("POST", f"{base}/pause_delivery/", {"reason": "bench: load the queue"})
    events = int(limit * (seconds + EXTRA_S))
    session = requests.Session()

    def send(n: int) -> None:
        reply = session.post(hook["webhookUrl"], json={"n": n}, timeout=60)
        if reply.status_code != 202:
            raise RuntimeError(f"webhook answered {reply.status_code}: {reply.text}")

    with ThreadPoolExecutor(SEND_THREADS) as pool:
        list(pool.map(send, range(events)))
    deadline = time.monotonic() + HELD_TIMEOUT_S
    while platform_.api("GET", f"{base}/")["delivery"]["held"] < events:
        if time.monotonic() > deadline:
            raise RuntimeError("the events were not all held in time")
        time.sleep(1.0)
    platform_.api("POST", f"{base}/resume_delivery/")
    deadline = time.monotonic() + seconds * 3 + 120
    while len(receiver.arrivals.get(path, [])) < events and time.monotonic() < deadline:
        time.sleep(1.0)
        first = receiver.arrivals.get(path, [None])[0]
        if first is not None and time.monotonic() - first > seconds + 1:
            break  # the window is over: the rest need not be waited for
    platform_.api("DELETE", f"{base}/")
    return measure(receiver.arrivals.get(path, []), limit, seconds)


def report(results: list[RateResult], load: str) -> str:
    lines = [
        f"Paced path over the local stack (make dev, Cloud Tasks stand-in), "
        f"{datetime_now()}, {platform.node()} {os.cpu_count()} CPUs, Python "
        f"{platform.python_version()}; load: {load}",
        "",
        "| limit/s | window s | requests | achieved/s | achieved/limit | max in any second "
        "| per-second min / median / max (stdev) |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in results:
        s = r.spread
        lines.append(
            f"| {r.limit:g} | {r.seconds} | {r.sent} | {r.achieved:.2f} | {r.ratio:.3f} "
            f"| {r.max_any_second} | {s['min']:g} / {s['median']:g} / {s['max']:g} "
            f"({s['stdev']:g}) |"
        )
    by_limit: dict[float, list[float]] = {}
    for r in results:
        by_limit.setdefault(r.limit, []).append(r.ratio)
    for limit, ratios in by_limit.items():
        if len(ratios) > 1:
            lines.append(f"\nacross runs at {limit:g}/s: achieved/limit {min(ratios):.3f} to "
                         f"{max(ratios):.3f} over {len(ratios)} runs")
    return "\n".join(lines)


def datetime_now() -> str:
    return time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=int, default=60, help="the measured window")
    parser.add_argument("--rates", default="20,50", help="limits, comma-separated")
    parser.add_argument("--repeat", type=int, default=1, help="runs per limit, interleaved")
    parser.add_argument("--json", type=Path, help="write the results here")
    args = parser.parse_args(argv)
    limits = [float(x) for x in args.rates.split(",") if x]
    receiver = Receiver()
    with tempfile.TemporaryDirectory(prefix="paced-bench-") as state:
        local = LocalPlatform(Path(state))
        results: list[RateResult] = []
        try:
            for run in range(args.repeat):
                for limit in limits:
                    result = run_once(local, receiver, limit, args.seconds, f"{limit:g}-{run}")
                    print(f"  {limit:g}/s run {run + 1}: {result.achieved:.2f}/s "
                          f"({result.ratio:.3f}), max {result.max_any_second} in a second",
                          flush=True)
                    results.append(result)
        finally:
            local.stop()
            receiver.stop()
    load = subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()
    print(report(results, load))
    if args.json:
        args.json.write_text(json.dumps(
            {"load": load, "results": [asdict(r) | {"spread": r.spread} for r in results]},
            indent=2))
    off = [r for r in results if abs(r.ratio - 1) > TOLERANCE]
    if off:
        print(f"FAIL: {len(off)} run(s) more than {TOLERANCE:.0%} off the limit", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
