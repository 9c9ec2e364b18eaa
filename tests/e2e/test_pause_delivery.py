"""Delivery shaped by the receiver, end to end: the emulators, the Cloud Tasks stand-in, the
api, webhook, worker and deliver functions, and a real local HTTP receiver.

Pause holds every accepted event and sends none; resume sends them all once, oldest first,
within the target's rate; a receiver limited to 10 a second never sees 11; a receiver that
keeps failing opens the circuit.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest

from local.tasks import TasksStandIn
from mapper import services
from tests.e2e.conftest import Platform

pytestmark = pytest.mark.slow

# The queue lets at most `perSecond` dispatches go in any second, exactly; each then runs
# through the deliver function (claim, mapping, record) before it reaches the receiver, and
# that time varies by some tens of milliseconds from one run to the next (docs/delivery.md).
JITTER_S = 0.3
STAND_IN: list[TasksStandIn] = []


@pytest.fixture(scope="module")
def paced_platform(platform: Platform) -> Iterator[Platform]:
    """The platform with delivery queues: the stand-in, dispatching to the deliver route."""
    with TasksStandIn() as stand_in, pytest.MonkeyPatch.context() as mp:
        mp.setenv("CLOUD_TASKS_ENDPOINT", stand_in.url)
        mp.setenv("DELIVER_URL", f"{platform.url}/_functions/deliver")
        services.delivery_queues.cache_clear()
        STAND_IN.append(stand_in)
        try:
            yield platform
        finally:
            STAND_IN.clear()
            services.delivery_queues.cache_clear()


def integration(platform: Platform, path: str, **extra: Any) -> dict[str, Any]:
    target = {"type": "http", "url": f"{platform.sink.url}{path}", **extra.pop("target", {})}
    return platform.add({
        "name": f"receiver {path}",
        "source": {"type": "webhook"},
        "mappings": [{"source": "n", "target": "number"}],
        "target": target,
        **extra,
    })


def delivery(platform: Platform, integration_id: str) -> dict[str, Any]:
    reply = platform.api("GET", f"/api/integrations/{integration_id}/")
    assert reply.status_code == 200, reply.text
    return dict(reply.json()["delivery"])


def wait_for(check: Any, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.2)


def assert_within(per_second: int, arrivals: list[float], since: float) -> None:
    """The stand-in let no more than `per_second` go in any second, and the receiver saw
    the 11th request after any one at least a second later, give or take the jitter."""
    starts = sorted(at for at, _ in STAND_IN[0].dispatched if at >= since)
    assert len(starts) >= len(arrivals)
    for i in range(len(starts) - per_second):
        assert starts[i + per_second] - starts[i] >= 1.0 - 1e-9
    times = sorted(arrivals)
    gaps = [times[i + per_second] - times[i] for i in range(len(times) - per_second)]
    print(f"shortest span of {per_second + 1} arrivals: {min(gaps):.3f} s")
    assert min(gaps) >= 1.0 - JITTER_S


def test_pause_holds_50_events_and_resume_sends_each_once_oldest_first_within_the_rate(
    paced_platform: Platform,
) -> None:
    p = paced_platform
    hook = integration(p, "/held", target={"rateLimit": {"perSecond": 10, "maxConcurrent": 1}})
    reply = p.api("POST", f"/api/integrations/{hook['id']}/pause_delivery/",
                  {"reason": "receiver upgrade"})
    assert reply.status_code == 200, reply.text
    assert reply.json()["delivery"]["state"] == "paused"

    run_ids = [p.send(hook, {"n": i}) for i in range(50)]  # each answered 202
    wait_for(lambda: delivery(p, hook["id"])["held"] == 50)
    time.sleep(1.0)
    assert p.sink.received("/held") == []  # nothing sent while paused
    assert {p.runs.get(r)["status"] for r in run_ids} == {"held"}

    started = time.monotonic()
    reply = p.api("POST", f"/api/integrations/{hook['id']}/resume_delivery/")
    assert reply.status_code == 200, reply.text
    done = [p.wait(r, timeout=90) for r in run_ids]
    assert {run["status"] for run in done} == {"success"}
    sent = p.sink.received("/held")
    keys = [r["headers"]["Idempotency-Key"] for r in sent]
    assert keys == run_ids  # each once, oldest first
    assert_within(10, [r["at"] for r in sent], started)
    assert max(r["at"] for r in sent) - started >= (50 - 1) / 10 - 0.5
    assert delivery(p, hook["id"]) | {"since": None} == {
        "state": "active", "reason": None, "since": None, "by": None, "held": 0,
        "consecutiveFailures": 0,
    }


def test_a_receiver_limited_to_10_a_second_never_sees_more(paced_platform: Platform) -> None:
    p = paced_platform
    hook = integration(p, "/limited", target={"rateLimit": {"perSecond": 10, "maxConcurrent": 2}})
    started = time.monotonic()
    run_ids = [p.send(hook, {"n": i}) for i in range(60)]
    done = [p.wait(r, timeout=90) for r in run_ids]
    assert {run["status"] for run in done} == {"success"}
    sent = p.sink.received("/limited")
    assert sorted(r["headers"]["Idempotency-Key"] for r in sent) == sorted(run_ids)
    assert_within(10, [r["at"] for r in sent], started)


def test_a_receiver_failing_in_a_row_opens_the_circuit(paced_platform: Platform) -> None:
    p = paced_platform
    p.sink.on("/circuit-failing", 400)
    hook = integration(p, "/circuit-failing", circuitBreaker={"consecutiveFailures": 3})
    for i in range(3):
        assert p.wait(p.send(hook, {"n": i}))["status"] == "error"
    shown = delivery(p, hook["id"])
    assert (shown["state"], shown["by"], shown["consecutiveFailures"]) == ("paused", "circuit", 3)

    later = p.send(hook, {"n": 3})  # accepted, and held: the circuit stops the attempts
    assert p.wait(later, statuses=("held",))["status"] == "held"
    assert len(p.sink.received("/circuit-failing")) == 3

    p.sink.on("/circuit-failing", 200)
    reply = p.api("POST", f"/api/integrations/{hook['id']}/resume_delivery/")
    assert reply.status_code == 200
    assert p.wait(later)["status"] == "success"
    assert len(p.sink.received("/circuit-failing")) == 4
