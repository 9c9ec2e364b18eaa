"""An editor may not point a Pub/Sub source at the platform's own topics or subscriptions.

The attack (docs/security.md): a push source naming the platform's project and
`mapper-events-worker` repointed the worker's subscription at itself, so no integration
delivered any more; a pull source on `mapper-events` read every integration's payloads and
headers. Refused at the API edge (validate, preview, save) and again by the subscription
manager and the pull drainer, before any Pub/Sub call.
"""

from __future__ import annotations

from typing import Any

import pytest
from google.cloud import pubsub_v1

from mapper import services
from mapper.engine.reserved import PlatformPubSub
from mapper.errors import ListenerError
from mapper.sources.subscriptions import PubSubSubscriptions
from tests.e2e.conftest import Platform
from tests.e2e.test_team import make_key

PROJECT = "demo-e2e"  # the platform's project in the emulators (tests/e2e/conftest.py)


def source_doc(platform: Platform, mode: str = "pull", **source: Any) -> dict[str, Any]:
    return {
        "name": "hostile pubsub",
        "source": {"type": "pubsub", "projectId": PROJECT, "mode": mode, **source},
        "target": {"type": "http", "url": f"{platform.sink.url}/hostile"},
    }


# Every spelling of the platform's own names: short, full resource names, another case,
# and the platform project named in the topic when projectId is another.
HOSTILE = [
    ("push", {"topic": "mapper-events", "subscription": "mapper-events-worker"}, "source.topic"),
    ("push", {"topic": "orders", "subscription": "mapper-events-worker"}, "source.subscription"),
    ("pull", {"topic": "mapper-events"}, "source.topic"),
    ("pull", {"topic": "MAPPER-EVENTS"}, "source.topic"),
    ("pull", {"topic": f"projects/{PROJECT}/topics/mapper-events"}, "source.topic"),
    ("pull", {"topic": f"//pubsub.googleapis.com/projects/{PROJECT}/topics/Mapper-Events"},
     "source.topic"),
    ("pull", {"topic": "mapper-events-dead-letter"}, "source.topic"),
    ("pull", {"topic": "mapper-pull-tasks"}, "source.topic"),
    ("pull", {"topic": "orders",
              "subscription": f"projects/{PROJECT}/subscriptions/mapper-events-dead-letter-push"},
     "source.subscription"),
    ("pull", {"topic": "orders", "subscription": "mapper-pull-tasks-push"}, "source.subscription"),
    # Another integration's subscription, which the platform made (mapper-<id>), anywhere.
    ("pull", {"topic": "orders", "subscription": "projects/elsewhere/subscriptions/MAPPER-abc"},
     "source.subscription"),
]


@pytest.mark.parametrize(("mode", "source", "where"), HOSTILE)
def test_the_api_refuses_the_platforms_own_names(
    platform: Platform, mode: str, source: dict[str, Any], where: str
) -> None:
    editor = make_key(platform, "editor")["key"]
    doc = source_doc(platform, mode, **source)
    created = platform.api("POST", "/api/integrations/", doc, token=editor)
    assert created.status_code == 400, created.text
    assert where in [p["path"] for p in created.json()["problems"]]
    checked = platform.api("POST", "/api/validate/", {"integration": doc}, token=editor)
    assert checked.status_code == 200 and checked.json()["valid"] is False
    assert f"integration.{where}" in [p["path"] for p in checked.json()["problems"]]
    previewed = platform.api(
        "POST", "/api/preview/", {"integration": doc, "payload": {}}, token=editor
    )
    assert previewed.status_code == 400, previewed.text


def test_the_worker_subscription_keeps_its_push_endpoint(platform: Platform) -> None:
    subscriber = pubsub_v1.SubscriberClient()
    worker = f"projects/{PROJECT}/subscriptions/mapper-events-worker"
    before = subscriber.get_subscription(subscription=worker).push_config.push_endpoint
    doc = source_doc(platform, "push", topic="mapper-events", subscription="mapper-events-worker")
    assert platform.api("POST", "/api/integrations/", doc).status_code == 400
    assert subscriber.get_subscription(subscription=worker).push_config.push_endpoint == before
    subscriber.close()


def test_a_users_own_topic_in_the_platform_project_is_still_accepted() -> None:
    platform_names = PlatformPubSub.from_env({"GOOGLE_CLOUD_PROJECT": PROJECT})
    mine = {"type": "pubsub", "projectId": PROJECT, "topic": "orders"}
    assert platform_names.problems(mine) == []
    # The platform's topic names in the user's own project are the user's.
    assert platform_names.problems(
        {"type": "pubsub", "projectId": "theirs", "topic": "mapper-events",
         "subscription": "their-sub"}
    ) == []


def test_the_subscription_manager_refuses_them_too(platform: Platform) -> None:
    # Defence in depth: a document that skipped validation (or was stored before it checked).
    stored = {
        "id": "stored-before",
        "pushPath": "p",
        "source": {"type": "pubsub", "projectId": PROJECT, "topic": "mapper-events",
                   "subscription": "mapper-events-worker", "mode": "push"},
    }
    manager = services.listeners()
    with pytest.raises(ListenerError) as refused:
        manager.prepare(stored, None)
    assert refused.value.path == "source.topic"
    with pytest.raises(ListenerError):
        manager.publish_test(stored, {"x": 1})
    pulled = {**stored, "source": {**stored["source"], "topic": "orders", "mode": "pull"}}
    with pytest.raises(ListenerError) as refused:
        PubSubSubscriptions(services.pubsub_clients()).pull(pulled, 10)
    assert refused.value.path == "source.subscription"
