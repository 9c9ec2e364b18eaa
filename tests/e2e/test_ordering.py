"""orderingKey end to end: the emulator's ordered subscription, the worker, a real receiver.

The receiver fails requests at random (seeded); each key's events must still reach it in
the order they were accepted, and no later event of a key may even be tried before the
one ahead of it succeeded or was dead-lettered. docs/delivery.md ("Ordering").
"""

from __future__ import annotations

import json
import random
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from local.serve import LOCAL_MAX_DELIVERY_ATTEMPTS

from .conftest import SINK_HOST, Platform


@dataclass
class Receiver:
    """A real HTTP receiver: answers 500 when `fails(body)` says so, else 200."""

    fails: Callable[[dict[str, Any]], bool]
    url: str = ""
    tried: list[tuple[str, int, int]] = field(default_factory=list)  # (key, n, status)
    delivered: dict[str, dict[str, Any]] = field(default_factory=dict)  # Idempotency-Key
    lock: threading.Lock = field(default_factory=threading.Lock)

    def sequence(self, key: str) -> list[int]:
        """Each attempt's event number for one key, in the order they reached us."""
        return [n for k, n, _ in self.tried if k == key]

    def succeeded(self, key: str) -> list[int]:
        return [n for k, n, status in self.tried if k == key and status == 200]


@pytest.fixture
def receiver() -> Iterator[Callable[[Callable[[dict[str, Any]], bool]], Receiver]]:
    servers: list[ThreadingHTTPServer] = []

    def start(fails: Callable[[dict[str, Any]], bool]) -> Receiver:
        got = Receiver(fails)

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                key, n = body["data"]["customer"]["id"], body["n"]
                with got.lock:
                    status = 500 if got.fails(body) else 200
                    got.tried.append((key, n, status))
                    if status == 200:  # each event counted once, by its key
                        got.delivered.setdefault(self.headers["Idempotency-Key"], body)
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        server = ThreadingHTTPServer((SINK_HOST, 0), Handler)
        servers.append(server)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        got.url = f"http://{SINK_HOST}:{server.server_port}/orders"
        return got

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


def _ordered(platform: Platform, url: str, max_attempts: int) -> dict[str, Any]:
    return platform.add({
        "name": "ordered",
        "source": {"type": "webhook"},
        "target": {"type": "http", "url": url, "timeoutSeconds": 5},
        "orderingKey": "data.customer.id",
        "retry": {"maxAttempts": max_attempts, "initialBackoffSeconds": 1,
                  "maxBackoffSeconds": 1},
    })


def _event(key: str, n: int) -> dict[str, Any]:
    return {"data": {"customer": {"id": key}}, "n": n}


def _wait(done: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if done():
            return
        time.sleep(0.2)
    raise AssertionError(f"{what} after {timeout}s")


def test_each_keys_events_arrive_in_accept_order_through_random_failures(
    platform: Platform, receiver: Callable[..., Receiver]
) -> None:
    rng = random.Random(20261207)
    got = receiver(lambda body: rng.random() < 0.3)
    # maxAttempts 20 is past the subscription's 5 deliveries: an ordered run gets 5
    # (Worker.policy), so that five failures in a row (0.3**5 a time) end it by the
    # platform's own last attempt, never by Pub/Sub's dead letter. The emulator stops
    # pushing the whole ordered subscription once a message reaches that dead letter.
    integration = _ordered(platform, got.url, max_attempts=20)
    keys = ["alpha", "beta", "gamma"]
    run_ids = {}
    for n in range(20):
        for key in keys:  # accepted one after another: this is the order to keep
            run_ids[key, n] = platform.send(integration, _event(key, n))

    runs: dict[tuple[str, int], dict[str, Any]] = {}

    def all_ended() -> bool:
        for at, run_id in run_ids.items():
            if at not in runs:
                run = platform.runs.get(run_id) or {}
                if run.get("status") in ("success", "dead_lettered"):
                    runs[at] = run
        return len(runs) == len(run_ids)

    _wait(all_ended, 240, f"{len(runs)} of 60 runs ended")
    failures = sum(1 for *_, status in got.tried if status != 200)
    assert failures >= 10  # the receiver did fail, and the keys still kept their order
    for key in keys:
        delivered = [n for n in range(20) if runs[key, n]["status"] == "success"]
        dead = [n for n in range(20) if runs[key, n]["status"] == "dead_lettered"]
        assert got.succeeded(key) == delivered  # each once, in accept order
        assert all(runs[key, n]["attempts"] == LOCAL_MAX_DELIVERY_ATTEMPTS for n in dead)
        sequence = got.sequence(key)
        # Never a later event tried before the one ahead of it had ended: a failed
        # attempt is followed by the same event again, or its last one by the next.
        assert sequence == sorted(sequence), sequence
        assert set(sequence) == set(range(20))
    for (key, _n), run in runs.items():
        assert run["orderingKey"].endswith(f":{key}")
        assert run["attempts"] <= LOCAL_MAX_DELIVERY_ATTEMPTS


@pytest.mark.parametrize("max_attempts", [3, 20])
def test_an_event_that_keeps_failing_is_dead_lettered_and_releases_its_key(
    platform: Platform, receiver: Callable[..., Receiver], max_attempts: int
) -> None:
    # 3: the run's own retry.maxAttempts ends it. 20: past the subscription's 5 deliveries,
    # the platform still ends it at the 5th, before Pub/Sub's dead letter would take it
    # (which in the emulator stops every key of the subscription, not only this one).
    attempts = min(max_attempts, LOCAL_MAX_DELIVERY_ATTEMPTS)
    stuck_id = f"stuck-{max_attempts}"
    got = receiver(lambda body: body["n"] == 0 and body["data"]["customer"]["id"] == stuck_id)
    integration = _ordered(platform, got.url, max_attempts=max_attempts)
    stuck = [platform.send(integration, _event(stuck_id, n)) for n in range(3)]
    free = [platform.send(integration, _event("free", n)) for n in range(3)]

    _wait(lambda: len(got.delivered) == 5, 120, f"{len(got.delivered)} of 5 delivered")
    assert platform.wait(stuck[0], timeout=30)["status"] == "dead_lettered"
    assert platform.runs.get(stuck[0])["attempts"] == attempts
    # Its key was held until then: the later events came only after its last attempt.
    assert got.sequence(stuck_id) == [0] * attempts + [1, 2]
    assert got.succeeded(stuck_id) == [1, 2]
    assert got.succeeded("free") == [0, 1, 2]  # another key was never held back
    for run_id in stuck[1:] + free:
        assert platform.wait(run_id, timeout=30)["status"] == "success"
