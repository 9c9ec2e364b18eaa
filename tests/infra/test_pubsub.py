"""Topics, push subscriptions and the scheduler: each internal function is reached, with a token."""

from __future__ import annotations

import pytest

from mapper.queue import DEFAULT_MAX_BACKOFF_S, DEFAULT_MIN_BACKOFF_S

from .tfconfig import Expr, load

INVOKER = Expr("google_service_account.invoker.email")
# subscription key -> (topic resource, function it pushes to)
SUBSCRIPTIONS = {
    "worker": ("internal", "worker"),
    "worker_ordered": ("internal_ordered", "worker"),
    "dead_letter": ("dead_letter", "dead_letter"),
    "pull_tasks": ("pull_tasks", "pull"),
}
WEEK = "604800s"


def resource() -> dict:
    """The one resource that makes every platform subscription."""
    [found] = load().resources("google_pubsub_subscription")
    assert found.name == "platform"
    return found.body


def subscription(key: str) -> dict:
    """One entry of local.subscriptions: what sets that subscription apart."""
    return load().locals()["subscriptions"][key]


def test_one_resource_makes_the_four_subscriptions() -> None:
    body = resource()
    assert body["for_each"] == Expr("local.subscriptions")
    assert set(load().locals()["subscriptions"]) == set(SUBSCRIPTIONS)
    # Everything that differs comes from the entry: nothing is decided per key in the body.
    assert body["name"] == Expr("each.value.name")
    assert body["topic"] == Expr("each.value.topic")
    assert body["message_retention_duration"] == Expr("each.value.retention")


@pytest.mark.parametrize("key", sorted(SUBSCRIPTIONS))
def test_subscription_pushes_to_its_function_with_the_invokers_token(key: str) -> None:
    topic, function = SUBSCRIPTIONS[key]
    entry = subscription(key)
    assert entry["topic"] == Expr(f"google_pubsub_topic.{topic}.id")
    assert entry["function"] == function
    body = resource()
    [push] = body["push_config"]
    url = Expr("local.function_urls[each.value.function]")
    assert push["push_endpoint"] == url
    assert push["oidc_token"] == [{"service_account_email": INVOKER, "audience": url}]
    assert body["expiration_policy"] == [{"ttl": ""}], "a platform subscription never expires"
    assert "module.function" in body["depends_on"]
    # A delivery still running must not be redelivered: the ack deadline is the timeout of
    # the function the subscription pushes to.
    assert body["ack_deadline_seconds"] == Expr("local.ack_deadline[each.value.function]")


def test_every_internal_function_is_reached() -> None:
    functions = load().default("functions")
    reached = {function for _, function in SUBSCRIPTIONS.values()}
    job = load().resource("google_cloud_scheduler_job", "pull").body
    assert job["http_target"][0]["uri"] == Expr('local.function_urls["pull"]')
    reached.add("pull")
    # deliver: by the Cloud Tasks tasks the worker and api create at run time, at DELIVER_URL.
    deliver_url = load().locals()["settings"]["DELIVER_URL"]["value"]
    assert deliver_url == Expr('local.function_urls["deliver"]')
    reached.add("deliver")
    assert {name for name, f in functions.items() if not f["public"]} == reached


def test_worker_retries_then_dead_letters() -> None:
    body = resource()
    assert body["retry_policy"] == [
        {
            "minimum_backoff": Expr("local.retry_policy.minimum_backoff"),
            "maximum_backoff": Expr("each.value.maximum_backoff"),
        }
    ]
    config = load()
    assert config.default("retry_min_backoff_seconds") == DEFAULT_MIN_BACKOFF_S == 10
    assert config.default("retry_max_backoff_seconds") == DEFAULT_MAX_BACKOFF_S == 600
    [dynamic] = body["dynamic"]
    policy = dynamic["dead_letter_policy"]
    assert policy["for_each"] == Expr(
        "each.value.dead_letter ? [google_pubsub_topic.dead_letter.id] : []"
    )
    assert policy["content"] == [
        {
            "dead_letter_topic": Expr("dead_letter_policy.value"),
            "max_delivery_attempts": Expr("var.max_delivery_attempts"),
        }
    ]
    assert config.default("max_delivery_attempts") == 10
    # Only the worker's failures are dead-lettered; the dead-letter subscription itself and
    # the pull tasks are not.
    dead_lettered = {key for key in SUBSCRIPTIONS if subscription(key)["dead_letter"] is True}
    assert dead_lettered == {"worker", "worker_ordered"}
    for key in SUBSCRIPTIONS:
        assert subscription(key)["dead_letter"] in (True, False), key


def test_retention_and_backoff_per_subscription() -> None:
    backoff = Expr("local.retry_policy.maximum_backoff")
    for worker in ("worker", "worker_ordered"):
        assert subscription(worker)["retention"] == WEEK
        assert subscription(worker)["maximum_backoff"] == backoff
    assert subscription("dead_letter")["retention"] == WEEK
    assert subscription("dead_letter")["maximum_backoff"] == backoff
    # A pull task older than ten minutes has been overtaken by the scheduler's later rounds.
    assert subscription("pull_tasks")["retention"] == "600s"
    assert subscription("pull_tasks")["maximum_backoff"] == "60s"
    assert load().locals()["retry_policy"]["maximum_backoff"] == (
        "${var.retry_max_backoff_seconds}s"
    )


def test_subscriptions_are_named_as_locally() -> None:
    # local/serve.py creates f"{topic}-worker", f"{topic}-ordered-worker",
    # f"{topic}-dead-letter" and f"{topic}-dead-letter-push".
    assert load().resource("google_pubsub_topic", "dead_letter").body["name"] == (
        "${var.internal_topic}-dead-letter"
    )
    assert subscription("worker")["name"] == "${var.internal_topic}-worker"
    assert load().resource("google_pubsub_topic", "internal_ordered").body["name"] == (
        "${var.internal_topic}-ordered"
    )
    assert subscription("worker_ordered")["name"] == "${var.internal_topic}-ordered-worker"
    assert subscription("dead_letter")["name"] == "${var.internal_topic}-dead-letter-push"
    assert subscription("pull_tasks")["name"] == "${var.pull_tasks_topic}-push"


def test_pubsub_may_dead_letter_and_sign() -> None:
    config = load()
    publisher = config.resource("google_pubsub_topic_iam_member", "pubsub_dead_letter_publisher")
    assert publisher.body["topic"] == Expr("google_pubsub_topic.dead_letter.name")
    subscriber = config.resource(
        "google_pubsub_subscription_iam_member", "pubsub_dead_letter_subscriber"
    )
    assert subscriber.body["subscription"] == Expr(
        'google_pubsub_subscription.platform["worker"].name'
    )
    ordered = config.resource(
        "google_pubsub_subscription_iam_member", "pubsub_dead_letter_subscriber_ordered"
    )
    assert ordered.body["subscription"] == Expr(
        'google_pubsub_subscription.platform["worker_ordered"].name'
    )
    assert ordered.body["role"] == subscriber.body["role"] == "roles/pubsub.subscriber"
    minting = config.resource("google_service_account_iam_member", "pubsub_mints_tokens").body
    assert minting["role"] == "roles/iam.serviceAccountTokenCreator"
    assert set(minting["for_each"]) == {"invoker", "push_auth"}


def test_scheduler_ticks_pull_with_the_invokers_token() -> None:
    job = load().resource("google_cloud_scheduler_job", "pull").body
    [target] = job["http_target"]
    assert target["http_method"] == "POST"
    assert target["oidc_token"] == [
        {"service_account_email": INVOKER, "audience": Expr('local.function_urls["pull"]')}
    ]
    # The pull function tells a tick from a pushed task by the envelope's "message" key.
    assert "message" not in target["body"]
    settings = load().locals()["settings"]
    assert settings["PULL_AUDIENCE"]["value"] == target["oidc_token"][0]["audience"]
    assert settings["PULL_INVOKER_SERVICE_ACCOUNT"]["value"] == INVOKER
    assert load().default("pull_schedule") == "* * * * *"


def test_only_the_ordered_twin_delivers_ordering_keys_in_order() -> None:
    # orderingKey (docs/delivery.md, "Ordering"): Pub/Sub fixes it at creation. Every other
    # message passes an unordered subscription (mapper.queue.InternalQueue).
    assert resource()["enable_message_ordering"] == Expr("each.value.ordered")
    assert {key: subscription(key)["ordered"] for key in SUBSCRIPTIONS} == {
        "worker": False, "worker_ordered": True, "dead_letter": False, "pull_tasks": False,
    }
