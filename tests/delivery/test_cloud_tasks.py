"""The Cloud Tasks adapter through the real client library, over REST, to the stand-in.

Asserts what the adapter puts on the wire against Cloud Tasks' REST reference (v2):
queue configs, task names, schedule times and the OIDC token settings.
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from google.api_core import retry as gretry
from google.cloud import tasks_v2

from local.tasks import TasksStandIn
from mapper.cloud_tasks import MAX_TASK_BODY_BYTES, CloudTasksQueue, queue_id, task_id
from mapper.errors import DeliveryQueueError, DeliveryQueueNotFound, DeliveryQueueUnavailable
from mapper.pipeline.ports import DeliveryTask, QueueConfig, QueueKey, RetryPolicy

from .conftest import tasks_client

PARENT = "projects/test-project/locations/europe-west1"
DELIVER = "https://mapper-deliver-123.europe-west1.run.app/"
INVOKER = "mapper-invoker@test-project.iam.gserviceaccount.com"
KEY = QueueKey("orders-to-crm", "target")
FAST_RETRY = gretry.Retry(
    predicate=gretry.if_transient_error, initial=0.01, maximum=0.05, timeout=0.5
)


def make_queue(client: tasks_v2.CloudTasksClient, **kw: Any) -> CloudTasksQueue:
    return CloudTasksQueue(
        client, "test-project", "europe-west1", deliver_url=DELIVER, invoker_email=INVOKER,
        retry=FAST_RETRY, **kw,
    )


@pytest.fixture
def queues(client: tasks_v2.CloudTasksClient) -> CloudTasksQueue:
    return make_queue(client)


def calls(stand_in: TasksStandIn, method: str, suffix: str = "") -> list[Any]:
    return [c for c in stand_in.calls if c[0] == method and c[1].endswith(suffix)]


# --- names --------------------------------------------------------------------------------


def test_queue_names_follow_cloud_tasks_rules_and_differ_by_target_and_generation() -> None:
    names = {
        queue_id("mapper", QueueKey("a" * 300, "crm")),
        queue_id("mapper", QueueKey("a" * 300, "ops")),
        queue_id("mapper", QueueKey("a" * 300, "crm", generation=1)),
        queue_id("mapper", QueueKey("weird id/with.dots", "crm")),
    }
    assert len(names) == 4
    for name in names:  # "letters, numbers, or hyphens; at most 100 characters"
        assert re.fullmatch(r"[A-Za-z0-9-]{1,100}", name), name
    assert queue_id("mapper", KEY) == queue_id("mapper", QueueKey("orders-to-crm", "target"))


def test_task_names_are_the_run_and_target_and_follow_cloud_tasks_rules() -> None:
    first = task_id(DeliveryTask("orders.key:1=2+3", "crm", {}))
    assert first == task_id(DeliveryTask("orders.key:1=2+3", "crm", {"other": "body"}))
    assert first != task_id(DeliveryTask("orders.key:1=2+3", "ops", {}))
    assert first != task_id(DeliveryTask("orders.key:1=2+3", "crm", {}, resend=1))
    # "letters, numbers, hyphens, or underscores; at most 500 characters"
    assert re.fullmatch(r"[A-Za-z0-9_-]{1,500}", first)


# --- queues -------------------------------------------------------------------------------


def test_ensure_creates_the_queue_with_the_rate_concurrency_and_retries(
    queues: CloudTasksQueue, stand_in: TasksStandIn
) -> None:
    config = QueueConfig(
        per_second=10,
        max_concurrent=5,
        retry=RetryPolicy(
            max_attempts=7, min_backoff_s=2, max_backoff_s=300, max_retry_duration_s=86400
        ),
    )

    name = queues.ensure(KEY, config)

    assert name == f"{PARENT}/queues/{queue_id('mapper', KEY)}"
    (create,) = calls(stand_in, "POST", "/queues")
    assert create[1] == f"/v2/{PARENT}/queues"
    assert create[3] == {  # Queue: rateLimits, retryConfig (Durations as "<seconds>s")
        "name": name,
        "rateLimits": {"maxDispatchesPerSecond": 10.0, "maxConcurrentDispatches": 5},
        "retryConfig": {
            "maxAttempts": 7,
            "minBackoff": "2s",
            "maxBackoff": "300s",
            "maxRetryDuration": "86400s",
        },
    }
    # Created, then read back: a name in its tombstone window only seems created.
    assert [c[0] for c in stand_in.calls] == ["POST", "GET"]


def test_ensure_of_an_existing_queue_updates_its_config_only(
    queues: CloudTasksQueue, stand_in: TasksStandIn, client: tasks_v2.CloudTasksClient
) -> None:
    name = queues.ensure(KEY, QueueConfig(per_second=10, max_concurrent=5))
    queues.pause(KEY)

    assert queues.ensure(KEY, QueueConfig(per_second=2.5, max_concurrent=1)) == name

    (patch,) = calls(stand_in, "PATCH")
    assert patch[1] == f"/v2/{name}"
    assert patch[2]["updateMask"] == ["rateLimits,retryConfig"]
    queue = client.get_queue(name=name)
    assert queue.rate_limits.max_dispatches_per_second == 2.5
    assert queue.rate_limits.max_concurrent_dispatches == 1
    assert queue.state == tasks_v2.Queue.State.PAUSED  # the mask leaves the state alone


def test_pause_resume_and_delete(
    queues: CloudTasksQueue, stand_in: TasksStandIn, client: tasks_v2.CloudTasksClient
) -> None:
    name = queues.ensure(KEY, QueueConfig(per_second=1, max_concurrent=1))
    queues.pause(KEY)
    assert client.get_queue(name=name).state == tasks_v2.Queue.State.PAUSED
    queues.resume(KEY)
    assert client.get_queue(name=name).state == tasks_v2.Queue.State.RUNNING
    queues.delete(KEY)
    queues.delete(KEY)  # nothing to delete: no error

    verbs = [c[1] for c in calls(stand_in, "POST", "e")]
    assert verbs == [f"/v2/{name}:pause", f"/v2/{name}:resume"]
    assert [c[1] for c in calls(stand_in, "DELETE")] == [f"/v2/{name}"] * 2
    with pytest.raises(DeliveryQueueNotFound):
        queues.pause(KEY)


def test_a_deleted_queue_is_never_made_again_under_its_name(queues: CloudTasksQueue) -> None:
    queues.ensure(KEY, QueueConfig(per_second=1, max_concurrent=1))
    queues.delete(KEY)

    # The stand-in, like Cloud Tasks, answers the create of a tombstoned name with 200.
    with pytest.raises(DeliveryQueueError, match="next generation"):
        queues.ensure(KEY, QueueConfig(per_second=1, max_concurrent=1))
    next_key = QueueKey(KEY.integration_id, KEY.target, generation=KEY.generation + 1)
    assert queues.ensure(next_key, QueueConfig(per_second=1, max_concurrent=1))


def test_configs_beyond_cloud_tasks_limits_are_refused_in_words(queues: CloudTasksQueue) -> None:
    with pytest.raises(DeliveryQueueError, match="perSecond 501"):
        queues.ensure(KEY, QueueConfig(per_second=501, max_concurrent=1))
    with pytest.raises(DeliveryQueueError, match="maxConcurrent 5001"):
        queues.ensure(KEY, QueueConfig(per_second=1, max_concurrent=5001))
    with pytest.raises(ValueError):
        QueueConfig(per_second=0, max_concurrent=1)


# --- tasks --------------------------------------------------------------------------------


def test_enqueue_sends_an_http_task_with_an_oidc_token_to_the_deliver_function(
    queues: CloudTasksQueue, stand_in: TasksStandIn
) -> None:
    name = queues.ensure(KEY, QueueConfig(per_second=1, max_concurrent=1))
    queues.pause(KEY)
    body = {"runId": "orders-to-crm.k1", "target": "target", "payload": {"n": "é"}}
    task = DeliveryTask("orders-to-crm.k1", "target", body)

    assert queues.enqueue(KEY, task) == "added"

    (create,) = calls(stand_in, "POST", "/tasks")
    assert create[1] == f"/v2/{name}/tasks"
    sent = create[3]["task"]
    assert sent["name"] == f"{name}/tasks/{task_id(task)}"
    assert "scheduleTime" not in sent  # as soon as the rate allows
    assert sent["dispatchDeadline"] == "300s"  # the deliver function's timeout
    http = sent["httpRequest"]
    assert http["url"] == DELIVER
    assert http["httpMethod"] == tasks_v2.HttpMethod.POST.value  # the enum's number, 1
    assert http["headers"] == {"Content-Type": "application/json"}
    assert json.loads(base64.b64decode(http["body"])) == body
    assert http["oidcToken"] == {"serviceAccountEmail": INVOKER, "audience": DELIVER}


def test_an_audience_of_its_own_is_sent_when_given(
    client: tasks_v2.CloudTasksClient, stand_in: TasksStandIn
) -> None:
    queues = make_queue(client, audience="https://deliver.example.com")
    queues.ensure(KEY, QueueConfig(per_second=1, max_concurrent=1))
    queues.pause(KEY)
    queues.enqueue(KEY, DeliveryTask("r", "target", {}))
    (create,) = calls(stand_in, "POST", "/tasks")
    assert create[3]["task"]["httpRequest"]["oidcToken"]["audience"] == "https://deliver.example.com"


def test_a_scheduled_task_carries_its_schedule_time(
    queues: CloudTasksQueue, stand_in: TasksStandIn
) -> None:
    queues.ensure(KEY, QueueConfig(per_second=1, max_concurrent=1))
    queues.pause(KEY)
    when = datetime(2030, 1, 2, 3, 4, 5, 250000, tzinfo=UTC).timestamp()

    queues.enqueue(KEY, DeliveryTask("r", "target", {}, not_before=when))

    (create,) = calls(stand_in, "POST", "/tasks")
    assert create[3]["task"]["scheduleTime"] == "2030-01-02T03:04:05.250Z"  # RFC 3339, UTC


def test_a_duplicate_task_is_refused_by_the_queue_and_reported_as_already_added(
    queues: CloudTasksQueue, stand_in: TasksStandIn
) -> None:
    queues.ensure(KEY, QueueConfig(per_second=1, max_concurrent=1))
    queues.pause(KEY)
    task = DeliveryTask("orders-to-crm.k1", "target", {"runId": "orders-to-crm.k1"})

    assert queues.enqueue(KEY, task) == "added"
    assert queues.enqueue(KEY, task) == "already_added"
    assert queues.enqueue(KEY, DeliveryTask("orders-to-crm.k1", "other", {})) == "added"
    assert queues.held(KEY) == 2
    assert len(calls(stand_in, "POST", "/tasks")) == 3  # the queue refused it, not us


def test_held_counts_every_page(queues: CloudTasksQueue, stand_in: TasksStandIn) -> None:
    queues.ensure(KEY, QueueConfig(per_second=1, max_concurrent=1))
    queues.pause(KEY)
    for n in range(1203):
        queues.enqueue(KEY, DeliveryTask(f"run-{n}", "target", {}))

    assert queues.held(KEY) == 1203
    assert len(calls(stand_in, "GET", "/tasks")) == 2  # 1,000 a page


def test_a_body_over_the_task_size_is_refused_before_it_is_sent(
    queues: CloudTasksQueue, stand_in: TasksStandIn
) -> None:
    queues.ensure(KEY, QueueConfig(per_second=1, max_concurrent=1))
    big = DeliveryTask("r", "target", {"payload": "x" * MAX_TASK_BODY_BYTES})
    with pytest.raises(DeliveryQueueError, match="over the") as caught:
        queues.enqueue(KEY, big)
    assert not caught.value.retryable
    assert calls(stand_in, "POST", "/tasks") == []


def test_enqueue_to_a_missing_queue_is_not_found(queues: CloudTasksQueue) -> None:
    with pytest.raises(DeliveryQueueNotFound):
        queues.enqueue(KEY, DeliveryTask("r", "target", {}))


# --- errors at the boundary ---------------------------------------------------------------


class Failing(TasksStandIn):
    """The stand-in answering the next calls with an error status."""

    def __init__(self) -> None:
        super().__init__()
        self.fail: list[int] = []

    def handle(
        self, method: str, path: str, query: dict[str, list[str]], body: Any
    ) -> tuple[int, dict[str, Any]]:
        if self.fail:
            code = self.fail.pop(0)
            self.calls.append((method, path, query, body))
            return code, {"error": {"code": code, "message": "injected", "status": "X"}}
        return super().handle(method, path, query, body)


@pytest.fixture
def failing() -> Iterator[tuple[Failing, CloudTasksQueue]]:
    with Failing() as server:
        client = tasks_client(server.url)
        yield server, make_queue(client)
        client.transport.close()


def test_transient_failures_are_retried_then_retryable(
    failing: tuple[Failing, CloudTasksQueue],
) -> None:
    server, queues = failing
    server.fail = [503, 429]
    assert queues.ensure(KEY, QueueConfig(per_second=1, max_concurrent=1))  # retried through

    server.fail = [503] * 1000
    with pytest.raises(DeliveryQueueUnavailable) as caught:
        queues.enqueue(KEY, DeliveryTask("r", "target", {}))
    assert caught.value.retryable


def test_permission_denied_says_what_to_grant(failing: tuple[Failing, CloudTasksQueue]) -> None:
    server, queues = failing
    server.fail = [403]
    with pytest.raises(DeliveryQueueError, match="roles/cloudtasks.enqueuer") as caught:
        queues.enqueue(KEY, DeliveryTask("r", "target", {}))
    assert not caught.value.retryable


def test_an_unreachable_service_is_retryable() -> None:
    with TasksStandIn() as server:
        url = server.url
    client = tasks_client(url)  # stopped: nothing listens there any more
    try:
        with pytest.raises(DeliveryQueueUnavailable):
            make_queue(client).pause(KEY)
    finally:
        client.transport.close()



def test_the_documents_rate_limit_maxima_are_cloud_tasks_own() -> None:
    from mapper import cloud_tasks
    from mapper.engine import config

    assert config.MAX_TARGET_PER_SECOND == cloud_tasks.MAX_DISPATCHES_PER_SECOND
    assert config.MAX_TARGET_CONCURRENT == cloud_tasks.MAX_CONCURRENT_DISPATCHES
