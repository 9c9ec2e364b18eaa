"""bench/cost.py with a slow receiver (--receiver-ms) and a candidate worker concurrency
(--worker-concurrency): what the receiver does, and what the result records and prints."""

from __future__ import annotations

import importlib
import json
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

BENCH = Path(__file__).resolve().parents[2] / "bench"


@pytest.fixture
def cost(monkeypatch: pytest.MonkeyPatch):  # the bench script, importable as it runs
    monkeypatch.syspath_prepend(str(BENCH))
    return importlib.import_module("cost")


def post(url: str, n: int) -> tuple[int, float]:
    request = urllib.request.Request(url, data=json.dumps({"eventNumber": n}).encode(),
                                     method="POST")
    started = time.perf_counter()
    try:
        with urllib.request.urlopen(request, timeout=10) as answer:  # noqa: S310 - loopback
            status = answer.status
    except urllib.error.HTTPError as exc:
        status = exc.code
    return status, time.perf_counter() - started


def test_the_receiver_waits_receiver_ms_before_each_answer(cost) -> None:
    healthy = next(n for n in range(100) if cost.event_class(7, n) == "healthy")
    slow, quick = cost.Receiver(7, delay_ms=150), cost.Receiver(7)
    try:
        status, took = post(slow.url, healthy)
        assert (status, took >= 0.15) == (200, True)
        status, took = post(quick.url, healthy)
        assert (status, took < 0.15) == (200, True)
    finally:
        slow.stop()
        quick.stop()


def test_the_slow_receiver_takes_dozens_of_connections_at_once(cost) -> None:
    healthy = [n for n in range(200) if cost.event_class(7, n) == "healthy"][:64]
    receiver = cost.Receiver(7, delay_ms=100)
    try:
        with ThreadPoolExecutor(64) as pool:
            statuses = [s for s, _ in pool.map(lambda n: post(receiver.url, n), healthy)]
    finally:
        receiver.stop()
    assert statuses == [200] * 64


def measured(receiver_ms: int | None) -> dict[str, Any]:
    one = {"invocations": 100, "cpu_s": 1.0, "duration_s": 20.0, "rounded_s": 30.0,
           "cpu": "1", "memory_gib": 1.0, "concurrency": 8, "peak_in_flight": 8,
           "peak_rss_mib": 150.0}
    out = {
        "events": 100, "concurrency": 8, "ended": 100, "target_requests": 112,
        "classes": {"healthy": 89, "failing_once": 10, "dead": 1},
        "functions": {"webhook": dict(one), "worker": {**one, "concurrency": 32},
                      "dead_letter": {"cpu": "1", "memory_gib": 0.5}},
        "stored": {"runs": 100, "document_bytes": 0, "index_bytes": 0},
    }
    return out if receiver_ms is None else {**out, "receiver_ms": receiver_ms}


def test_the_report_says_how_long_the_receiver_took_in_its_first_sentence(cost) -> None:
    first = cost.markdown(cost.price(measured(200))).split("\n")[0]
    assert "a receiver answering after 200 ms (--receiver-ms)" in first
    # Results written before --receiver-ms had a receiver answering at once.
    assert "a receiver answering at once" in cost.markdown(cost.price(measured(None)))
    assert "worker 8 of 32, 150 MiB" in cost.markdown(cost.price(measured(0)))


def test_the_run_records_receiver_ms_and_the_worker_concurrency_it_measured(
    cost, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    asked: dict[str, Any] = {}

    def measure(events: int, concurrency: int, seed: int, paced: bool = False,
                receiver_ms: int = 0, worker_concurrency: int | None = None) -> dict[str, Any]:
        asked.update(receiver_ms=receiver_ms, worker=cost.sizes(worker_concurrency)["worker"])
        return measured(receiver_ms)

    monkeypatch.setattr(cost, "measure", measure)
    monkeypatch.setattr(cost.signal, "signal", lambda *args: None)  # pytest keeps its own
    out = tmp_path / "result.json"
    cost.main(["--events", "100", "--receiver-ms", "200", "--worker-concurrency", "32",
               "--out", str(out)])
    assert asked == {"receiver_ms": 200, "worker": cost.Allocation("1", 1.0, 32)}
    assert json.loads(out.read_text())["receiver_ms"] == 200
    cost.main(["--events", "100", "--out", str(out)])  # the defaults: as before
    assert asked == {"receiver_ms": 0, "worker": cost.allocations()["worker"]}
    assert json.loads(out.read_text())["receiver_ms"] == 0


def test_only_the_worker_concurrency_is_replaced(cost) -> None:
    terraform, candidate = cost.allocations(), cost.sizes(64)
    assert candidate["worker"].concurrency == 64 != terraform["worker"].concurrency
    assert candidate["worker"].memory_gib == terraform["worker"].memory_gib
    assert {k: v for k, v in candidate.items() if k != "worker"} == {
        k: v for k, v in terraform.items() if k != "worker"}
    assert cost.sizes() == terraform


def test_the_probe_records_the_most_requests_in_flight_at_once(
    monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.syspath_prepend(str(BENCH))
    monkeypatch.delenv("COST_FUNCTION", raising=False)
    probe = importlib.import_module("cost_probe")
    probe.COUNTS.clear()
    probe._enter()
    probe._enter()
    probe._leave(0.2)
    probe._enter()
    probe._leave(0.2)
    probe._leave(0.2)
    assert probe.COUNTS["peak_in_flight"] == 2
    assert probe.COUNTS["invocations"] == 3
