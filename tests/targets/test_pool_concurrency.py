"""A kept sender serving every request in flight on an instance (the worker's concurrency is
32): its connections are all kept for the next ones, none discarded with a warning."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from mapper.engine.config import HttpTarget
from mapper.targets.egress import MAX_CONNECTIONS_PER_ADDRESS, EgressPolicy
from mapper.targets.pool import TargetPool

from .support import DictSecrets

IN_FLIGHT = 32  # infra/variables.tf: the worker's and deliver's concurrency


class Slow(BaseHTTPRequestHandler):
    """HTTP/1.1 keep-alive, 200 ms an answer; one handler per TCP connection, counted."""

    protocol_version = "HTTP/1.1"
    server: Counting

    def setup(self) -> None:
        super().setup()
        with self.server.lock:
            self.server.connections += 1

    def do_POST(self) -> None:  # noqa: N802 - http.server's naming
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        time.sleep(0.2)
        self.send_response(200)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"{}")

    def log_message(self, format: str, *args: Any) -> None:
        pass


class Counting(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), Slow)
        self.lock = threading.Lock()
        self.connections = 0


@pytest.fixture
def server() -> Iterator[Counting]:
    srv = Counting()
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    yield srv
    srv.shutdown()
    srv.server_close()
    thread.join()


def test_every_request_in_flight_keeps_its_connection_for_the_next(
    server: Counting, caplog: pytest.LogCaptureFixture
) -> None:
    assert MAX_CONNECTIONS_PER_ADDRESS >= IN_FLIGHT
    host, port = server.server_address[:2]
    config = HttpTarget.model_validate({"type": "http", "url": f"http://{host}:{port}/hook"})
    policy, secrets, pool = EgressPolicy(["127.0.0.1/32"]), DictSecrets({}), TargetPool()
    together = threading.Barrier(IN_FLIGHT)

    def deliver(n: int) -> int:
        target = pool(config, secrets, policy)
        try:
            together.wait(timeout=30)  # all in flight at once
            return target.send({"n": n}, {"n": n}, run_id=f"run-{n}").response["status"]
        finally:
            target.close()

    caplog.set_level(logging.WARNING, logger="urllib3.connectionpool")
    try:
        with ThreadPoolExecutor(IN_FLIGHT) as threads:
            first = list(threads.map(deliver, range(IN_FLIGHT)))
            second = list(threads.map(deliver, range(IN_FLIGHT)))
    finally:
        pool.close()
    assert first == second == [200] * IN_FLIGHT
    assert server.connections == IN_FLIGHT  # the second 32 went out on the first's
    assert "Connection pool is full" not in caplog.text
