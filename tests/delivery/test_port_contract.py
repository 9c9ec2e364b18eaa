"""The `DeliveryQueue` rules callers rely on, held by the Cloud Tasks adapter (over the
stand-in, through the real client) and by the in-memory fake of tests/fakes.py alike."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from local.tasks import TasksStandIn
from mapper.cloud_tasks import CloudTasksQueue
from mapper.errors import DeliveryQueueNotFound
from mapper.pipeline.ports import DeliveryQueue, DeliveryTask, QueueConfig, QueueKey
from tests.fakes import FakeDeliveryQueues

from .conftest import tasks_client

KEY = QueueKey("contract", "target")
CONFIG = QueueConfig(per_second=1, max_concurrent=1)


@pytest.fixture(params=["cloud-tasks", "fake"])
def queues(request: pytest.FixtureRequest) -> Iterator[DeliveryQueue]:
    if request.param == "fake":
        yield FakeDeliveryQueues()
        return
    with TasksStandIn() as stand_in:
        client = tasks_client(stand_in.url)
        yield CloudTasksQueue(
            client, "p", "local", deliver_url="http://127.0.0.1:9/none", invoker_email="i@p"
        )
        client.transport.close()


def test_ensure_is_idempotent_and_names_the_queue(queues: DeliveryQueue) -> None:
    name = queues.ensure(KEY, CONFIG)
    assert queues.ensure(KEY, QueueConfig(per_second=2, max_concurrent=2)) == name
    assert queues.ensure(QueueKey("contract", "target", generation=1), CONFIG) != name


def test_a_task_is_queued_once_per_run_target_and_resend(queues: DeliveryQueue) -> None:
    queues.ensure(KEY, CONFIG)
    queues.pause(KEY)  # nothing leaves the queue while it is counted
    task = DeliveryTask("run-1", "target", {"runId": "run-1"})
    assert queues.enqueue(KEY, task) == "added"
    assert queues.enqueue(KEY, task) == "already_added"
    assert queues.enqueue(KEY, DeliveryTask("run-1", "target", {}, resend=1)) == "added"
    assert queues.enqueue(KEY, DeliveryTask("run-2", "target", {})) == "added"
    assert queues.held(KEY) == 3


def test_a_paused_queue_accepts_tasks_and_resume_is_allowed(queues: DeliveryQueue) -> None:
    queues.ensure(KEY, CONFIG)
    queues.pause(KEY)
    queues.pause(KEY)  # pausing twice is no error
    assert queues.enqueue(KEY, DeliveryTask("run-1", "target", {})) == "added"
    queues.resume(KEY)


def test_a_missing_queue_is_not_found_and_deleting_it_is_no_error(
    queues: DeliveryQueue,
) -> None:
    queues.delete(KEY)
    for call in (queues.pause, queues.resume, queues.held):
        with pytest.raises(DeliveryQueueNotFound):
            call(KEY)
    with pytest.raises(DeliveryQueueNotFound):
        queues.enqueue(KEY, DeliveryTask("run-1", "target", {}))
    queues.ensure(KEY, CONFIG)
    queues.delete(KEY)
    with pytest.raises(DeliveryQueueNotFound):
        queues.held(KEY)


def test_the_fake_dispatches_due_tasks_oldest_first_and_not_while_paused() -> None:
    fake = FakeDeliveryQueues()
    fake.ensure(KEY, CONFIG)
    fake.pause(KEY)
    for n, when in enumerate([None, 50.0, None]):
        fake.enqueue(KEY, DeliveryTask(f"run-{n}", "target", {}, not_before=when))
    assert fake.take(KEY, now=10.0) == []
    fake.resume(KEY)
    assert [t.run_id for t in fake.take(KEY, now=10.0)] == ["run-0", "run-2"]
    assert [t.run_id for t in fake.take(KEY, now=60.0)] == ["run-1"]
    assert fake.enqueue(KEY, DeliveryTask("run-0", "target", {})) == "already_added"
