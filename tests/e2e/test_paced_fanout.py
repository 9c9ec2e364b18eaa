"""A fan-out with one paced target, end to end: the emulators, the Cloud Tasks stand-in, the
api, webhook, worker and deliver functions, and a real local HTTP receiver.

The target with `rateLimit` receives every event once through its own queue, within its
rate; the other target receives every event once at once, not waiting for the paced one.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator

import pytest

from local.tasks import TasksStandIn
from mapper import services
from tests.e2e.conftest import Platform

pytestmark = pytest.mark.slow

PER_SECOND = 5
EVENTS = 20


@pytest.fixture(scope="module")
def stand_in(platform: Platform) -> Iterator[TasksStandIn]:
    """The platform with delivery queues: the stand-in, dispatching to the deliver route."""
    with TasksStandIn() as tasks, pytest.MonkeyPatch.context() as mp:
        mp.setenv("CLOUD_TASKS_ENDPOINT", tasks.url)
        mp.setenv("DELIVER_URL", f"{platform.url}/_functions/deliver")
        services.delivery_queues.cache_clear()
        try:
            yield tasks
        finally:
            services.delivery_queues.cache_clear()


def test_the_paced_target_gets_its_own_queue_and_the_other_is_not_held_back(
    platform: Platform, stand_in: TasksStandIn
) -> None:
    p = platform
    hook = p.add({
        "name": "paced fan-out",
        "source": {"type": "webhook"},
        "mappings": [{"source": "n", "target": "number"}],
        "targets": [
            {"type": "http", "name": "crm", "url": f"{p.sink.url}/fan-paced",
             "rateLimit": {"perSecond": PER_SECOND, "maxConcurrent": 1}},
            {"type": "http", "name": "ops", "url": f"{p.sink.url}/fan-fast"},
        ],
    })
    started = time.monotonic()
    run_ids = [p.send(hook, {"n": i}) for i in range(EVENTS)]
    done = [p.wait(r, timeout=120) for r in run_ids]

    assert {run["status"] for run in done} == {"success"}
    for run in done:
        assert {d["target"]: d["status"] for d in run["deliveries"]} == {
            "crm": "success", "ops": "success"}
        assert {d["target"]: d["attempts"] for d in run["deliveries"]} == {"crm": 1, "ops": 1}
    paced = p.sink.received("/fan-paced")
    fast = p.sink.received("/fan-fast")
    # Each target received each event once, with the event's own key.
    assert sorted(r["headers"]["Idempotency-Key"] for r in paced) == sorted(run_ids)
    assert sorted(r["headers"]["Idempotency-Key"] for r in fast) == sorted(run_ids)
    assert sorted(json.loads(r["body"])["number"] for r in paced) == list(range(EVENTS))

    # The paced target: no more than PER_SECOND dispatches in any second, from its own queue.
    starts = sorted(at for at, _ in stand_in.dispatched if at >= started)
    assert len(starts) >= EVENTS
    for i in range(len(starts) - PER_SECOND):
        assert starts[i + PER_SECOND] - starts[i] >= 1.0 - 1e-9
    paced_span = max(r["at"] for r in paced) - started
    assert paced_span >= (EVENTS - 1) / PER_SECOND - 0.5
    # The other target was not held back by the pace: its last event came well before.
    assert max(r["at"] for r in fast) - started < paced_span - 1.0
