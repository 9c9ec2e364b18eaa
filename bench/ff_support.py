"""What the floor benchmarks share: functions-framework servers, `hey`, the sink, the payload.

Every server here is `functions-framework --target ... --source ...` in production mode
(gunicorn, one worker, THREADS threads: its own defaults), exactly as Cloud Functions
gen2 runs a function, in a process group of its own. The load generator is `hey` (the
Debian package `hey`); `require_hey` says how to install it when it is missing.

`pin_emulators_apart` gives the emulators a core of their own: in a deployment Firestore and
Pub/Sub run on Google's machines, not on the function's instance, and on a small machine
their JVMs would otherwise take the CPU the servers under test are measured by.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # for `local`

from local.emulators import free_port  # noqa: E402

FF = ROOT / ".venv/bin/functions-framework"
SINK_HOST = "127.0.0.2"  # allowlisted for the worker through EGRESS_ALLOW_CIDRS
START_TIMEOUT_S = 60.0
HEY_TIMEOUT_S = 600.0


def require_hey() -> str | None:
    """The path of `hey`, or None after printing how to install it."""
    found = shutil.which("hey")
    if found is None:
        print(
            "This benchmark needs the load generator `hey` (Debian/Ubuntu package `hey`):\n"
            "    sudo apt-get install -y hey\n"
            "then run it again.",
            file=sys.stderr,
        )
    return found


def order_body() -> bytes:
    """The benchmarks' ~1.7 KB order (bench/engine.py), as JSON bytes."""
    import random

    sys.path.insert(0, str(ROOT / "bench"))
    import engine

    return json.dumps(engine.make_order(1, random.Random(7))).encode()


@dataclass
class Server:
    """One functions-framework server in its own process group."""

    name: str
    url: str
    proc: subprocess.Popen[bytes]
    log: Path

    def stop(self) -> None:
        """SIGTERM the group, SIGKILL it if it lingers."""
        if self.proc.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGTERM)
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=10)


def pin_emulators_apart(process_groups: list[int]) -> str:
    """Move every emulator thread to the last CPU, this process (and so what it starts next:
    servers, `hey`) to the others; a sentence saying what was done, for the report.

    Nothing moves on a machine with one CPU available.
    """
    cpus = sorted(os.sched_getaffinity(0))
    if len(cpus) < 2:
        return "emulators and servers share the only CPU"
    emulator_cpu, server_cpus = {cpus[-1]}, set(cpus[:-1])
    groups = set(process_groups)
    for pid in _pids():
        with contextlib.suppress(OSError, IndexError, ValueError):
            stat = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            if int(stat[2]) in groups:  # the process group field
                for thread in os.listdir(f"/proc/{pid}/task"):
                    os.sched_setaffinity(int(thread), emulator_cpu)
    os.sched_setaffinity(0, server_cpus)
    return f"emulators on CPU {cpus[-1]}, servers and hey on CPU {_ranges(server_cpus)}"


def _pids() -> list[int]:
    return [int(name) for name in os.listdir("/proc") if name.isdigit()]


def _ranges(cpus: set[int]) -> str:
    return ",".join(str(cpu) for cpu in sorted(cpus))


def start_function(
    name: str,
    target: str,
    source: Path,
    env: dict[str, str],
    log_dir: Path,
    signature: str = "http",
    port: int | None = None,
) -> Server:
    """Serve one function with functions-framework's production server; wait until it answers."""
    import requests

    port = port or free_port()  # given: its URL was needed before it started (DELIVER_URL)
    log = log_dir / f"{name}.log"
    with open(log, "ab") as out:
        proc = subprocess.Popen(
            [str(FF), "--target", target, "--source", str(source),
             "--signature-type", signature, "--host", "127.0.0.1", "--port", str(port)],
            cwd=ROOT,
            env={**os.environ, **env},
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + START_TIMEOUT_S
    while True:
        if proc.poll() is not None:
            raise RuntimeError(f"{name} exited:\n{log.read_text()[-3000:]}")
        try:
            requests.get(url + "/robots.txt", timeout=2)
            return Server(name, url, proc, log)
        except requests.RequestException:
            if time.monotonic() > deadline:
                raise RuntimeError(f"{name} did not answer:\n{log.read_text()[-3000:]}") from None
            time.sleep(0.2)


@dataclass
class HeyResult:
    """What `hey` reported for one run."""

    per_second: float
    p50_ms: float
    p99_ms: float
    statuses: dict[int, int]
    wall_s: float

    def ok(self, status: int) -> int:
        """How many answers had this status."""
        return self.statuses.get(status, 0)


def hey(url: str, body_file: Path, requests_n: int, concurrency: int) -> HeyResult:
    """POST the body `requests_n` times from `concurrency` workers; hey's summary."""
    started = time.perf_counter()
    out = subprocess.run(
        ["hey", "-n", str(requests_n), "-c", str(concurrency), "-m", "POST",
         "-T", "application/json", "-D", str(body_file), "-t", "30", url],
        capture_output=True,
        text=True,
        timeout=HEY_TIMEOUT_S,
        check=True,
    ).stdout
    wall = time.perf_counter() - started
    return HeyResult(
        per_second=_number(r"Requests/sec:\s+([\d.]+)", out),
        p50_ms=_number(r"50%+ in ([\d.]+) secs", out, float("nan")) * 1000,
        p99_ms=_number(r"99%+ in ([\d.]+) secs", out, float("nan")) * 1000,
        statuses={int(c): int(n) for c, n in re.findall(r"\[(\d+)\]\s+(\d+) responses", out)},
        wall_s=wall,
    )


def load_average() -> str:
    """The machine's 1, 5 and 15 minute load averages (as `uptime` prints them), for a report."""
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def spread(values: list[float], digits: int = 2) -> str:
    """'median (min-max)' of per-round figures: what interleaved rounds make comparable."""
    return (f"{statistics.median(values):.{digits}f} "
            f"({min(values):.{digits}f}-{max(values):.{digits}f})")


def interleaved(names: list[str], round_number: int) -> list[str]:
    """The order to run contenders in round n: forwards, then backwards (A B, B A, A B ...),
    so that neither always runs first after a warm-up or a pause in the machine's load."""
    return list(names) if round_number % 2 == 0 else list(reversed(names))


def _number(pattern: str, text: str, missing: float | None = None) -> float:
    found = re.search(pattern, text)
    if found is None and missing is not None:
        return missing  # hey leaves out percentiles it has too few answers for
    if found is None:
        raise RuntimeError(f"hey printed no {pattern!r}:\n{text}")
    return float(found.group(1))


class CountingSink:
    """A loopback HTTP target answering 200, keeping each delivery's arrival time."""

    def __init__(self) -> None:
        self.arrivals: list[float] = []
        self._lock = threading.Lock()
        sink = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            # The worker keeps connections alive: without this, Nagle holds the body
            # written after the headers until the client's delayed ACK (about 40 ms).
            disable_nagle_algorithm = True

            def do_POST(self) -> None:  # noqa: N802 - http.server's naming
                length = int(self.headers.get("Content-Length") or 0)
                if length:
                    self.rfile.read(length)
                with sink._lock:
                    sink.arrivals.append(time.perf_counter())
                self.send_response(200)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"{}")

            def log_message(self, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer((SINK_HOST, 0), Handler)
        self._server.daemon_threads = True
        self.url = f"http://{SINK_HOST}:{self._server.server_port}"
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def reset(self) -> None:
        """Forget every arrival."""
        with self._lock:
            self.arrivals = []

    def count(self) -> int:
        """How many deliveries arrived."""
        with self._lock:
            return len(self.arrivals)

    def last(self) -> float:
        """When the last delivery arrived (time.perf_counter())."""
        with self._lock:
            return max(self.arrivals)

    def stop(self) -> None:
        """Stop serving."""
        self._server.shutdown()
        self._server.server_close()
