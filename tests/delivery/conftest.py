"""The Cloud Tasks stand-in and the real client talking to it over REST."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from google.api_core.client_options import ClientOptions
from google.auth.credentials import AnonymousCredentials
from google.cloud import tasks_v2

from local.tasks import TasksStandIn


def tasks_client(endpoint: str) -> tasks_v2.CloudTasksClient:
    """The real client library, over REST, to `endpoint` (the stand-in)."""
    return tasks_v2.CloudTasksClient(
        transport="rest",
        client_options=ClientOptions(api_endpoint=endpoint),
        credentials=AnonymousCredentials(),
    )


@pytest.fixture
def stand_in() -> Iterator[TasksStandIn]:
    with TasksStandIn() as server:
        print(f"Cloud Tasks stand-in at {server.url}")
        yield server


@pytest.fixture
def client(stand_in: TasksStandIn) -> Iterator[tasks_v2.CloudTasksClient]:
    client = tasks_client(stand_in.url)
    yield client
    client.transport.close()
