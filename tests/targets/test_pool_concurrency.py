"""A kept sender serving every request in flight on an instance (the worker's concurrency is
32): its connections are all kept for the next ones, none discarded with a warning."""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest

from mapper.engine.config import HttpTarget
from mapper.targets.egress import MAX_CONNECTIONS_PER_ADDRESS, EgressPolicy
from mapper.targets.pool import TargetPool

from .support import CountingServer, DictSecrets, serving

IN_FLIGHT = 32  # infra/variables.tf: the worker's and deliver's concurrency


@pytest.fixture
def server() -> Iterator[CountingServer]:
    with serving(CountingServer(delay_s=0.2)) as srv:  # 200 ms an answer
        yield srv


def test_every_request_in_flight_keeps_its_connection_for_the_next(
    server: CountingServer, caplog: pytest.LogCaptureFixture
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
