"""`mapper.services.delivery_queues` builds the adapter the environment asks for."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from local.tasks import TasksStandIn
from mapper import services
from mapper.pipeline.ports import DeliveryTask, QueueConfig, QueueKey


@pytest.fixture
def fresh() -> Iterator[None]:
    services.delivery_queues.cache_clear()
    yield
    services.delivery_queues.cache_clear()


def test_the_stand_in_named_by_cloud_tasks_endpoint_is_used_over_rest(
    stand_in: TasksStandIn, monkeypatch: pytest.MonkeyPatch, fresh: None
) -> None:
    monkeypatch.setenv("CLOUD_TASKS_ENDPOINT", stand_in.url)
    monkeypatch.setenv("GOOGLE_CLOUD_PROJECT", "demo-local")
    monkeypatch.setenv("CLOUD_TASKS_LOCATION", "europe-west1")
    monkeypatch.setenv("DELIVERY_QUEUE_PREFIX", "dev")
    monkeypatch.setenv("DELIVER_URL", "http://127.0.0.1:8080/_functions/deliver")
    queues = services.delivery_queues()
    key = QueueKey("i1", "target")

    name = queues.ensure(key, QueueConfig(per_second=1, max_concurrent=1))
    queues.pause(key)
    queues.enqueue(key, DeliveryTask("i1.r1", "target", {}))

    assert name.startswith("projects/demo-local/locations/europe-west1/queues/dev-i1-")
    (task,) = [c[3]["task"] for c in stand_in.calls if c[1].endswith("/tasks")]
    assert task["httpRequest"]["url"] == "http://127.0.0.1:8080/_functions/deliver"
    # No audience set: the deliver URL is the audience, as Cloud Run expects by default.
    assert task["httpRequest"]["oidcToken"]["audience"] == "http://127.0.0.1:8080/_functions/deliver"
