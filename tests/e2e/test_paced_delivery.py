"""The paced path locally: runs queued on a target's queue in the Cloud Tasks stand-in are
dispatched to the deliver route, sent by the worker's code and recorded, within the rate.

Runs are recorded as the intake records them but not published, so only the paced path can
send them (the fast path's worker never sees them).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest
from google.cloud import tasks_v2

from local.tasks import TasksStandIn
from mapper.cloud_tasks import CloudTasksQueue
from mapper.pipeline.deliver import TargetedRun
from mapper.pipeline.ports import QueueConfig, QueueKey
from mapper.pipeline.runs import QueuedMessage, RunStatus, SourceKind
from tests.delivery.conftest import tasks_client
from tests.e2e.conftest import Platform

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def queues(platform: Platform) -> Iterator[CloudTasksQueue]:
    with TasksStandIn() as stand_in:
        client: tasks_v2.CloudTasksClient = tasks_client(stand_in.url)
        yield CloudTasksQueue(
            client, "demo-e2e", "local",
            deliver_url=f"{platform.url}/_functions/deliver", invoker_email="tasks@local",
        )
        client.transport.close()


def recorded_runs(platform: Platform, integration: dict[str, Any], n: int) -> list[TargetedRun]:
    """`n` runs recorded as the intake records them, and the delivery task of each."""
    requests = []
    for i in range(n):
        run = {
            "id": f"{integration['id']}.paced-{i}",
            "integrationId": integration["id"],
            "integrationVersion": integration["version"],
            "sourceKind": SourceKind.TEST,
            "status": RunStatus.QUEUED,
            "incomingPayload": {"n": i},
            "incomingHeaders": {},
            "incomingAttributes": {},
            "attempts": 0,
        }
        assert platform.runs.create(run)
        requests.append(TargetedRun(QueuedMessage.for_run(run, {"n": i}, time.time())))
    return requests


def test_queued_runs_are_sent_through_the_deliver_route_within_the_rate(
    platform: Platform, queues: CloudTasksQueue
) -> None:
    integration = platform.add({
        "name": "paced",
        "source": {"type": "webhook"},
        "mappings": [{"source": "n", "target": "number"}],
        "target": {"type": "http", "url": f"{platform.sink.url}/paced-by-the-queue"},
    })
    key = QueueKey(integration["id"], "target")
    queues.ensure(key, QueueConfig(per_second=5, max_concurrent=2))
    queues.pause(key)
    runs = recorded_runs(platform, integration, 10)
    for request in runs:
        assert queues.enqueue(key, request.task()) == "added"
    time.sleep(1.0)
    assert platform.sink.received("/paced-by-the-queue") == []  # held while paused
    assert queues.held(key) == 10

    started = time.monotonic()
    queues.resume(key)
    done = [platform.wait(r.message.run_id, timeout=60) for r in runs]

    assert time.monotonic() - started >= (10 - 1) / 5 - 0.1  # 5 a second
    assert {run["status"] for run in done} == {"success"}
    sent = platform.sink.received("/paced-by-the-queue")
    assert sorted(r["headers"]["Idempotency-Key"] for r in sent) == sorted(
        r.message.run_id for r in runs
    )
    assert done[0]["transformedPayload"] == {"number": 0}
    # Queued again after it was sent: the queue refuses the name, nothing is sent twice.
    assert queues.enqueue(key, runs[0].task()) == "already_added"
