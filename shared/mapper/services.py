"""The one place that builds clients, lazily, from the environment (README, "Settings")."""

from __future__ import annotations

import os
from collections.abc import Mapping
from datetime import timedelta
from functools import cache
from typing import TYPE_CHECKING

from .pipeline import DEFAULT_CONFIG_TTL_S, ConfigCache, Services

if TYPE_CHECKING:
    from .admin import Listeners, Site
    from .sources.pull import Puller
    from .sources.subscriptions import PubSubClients

DEFAULT_TOPIC = "mapper-events"
DEFAULT_PULL_TASKS_TOPIC = "mapper-pull-tasks"
DEFAULT_MAX_BODY_BYTES = 10_000_000


def setting(name: str, default: str, environ: Mapping[str, str] | None = None) -> str:
    """An operator setting from the environment (every one is listed in the README)."""
    return (environ if environ is not None else os.environ).get(name) or default


def max_body_bytes() -> int:
    """Largest webhook or push body accepted (MAX_BODY_BYTES, default 10 MB)."""
    return int(setting("MAX_BODY_BYTES", str(DEFAULT_MAX_BODY_BYTES)))


def build_services(environ: Mapping[str, str] | None = None) -> Services:
    """Connect every client the pipeline needs, as configured by `environ`."""
    from google.cloud import firestore, pubsub_v1

    from .engine.plan import PlanCache
    from .queue import Queue
    from .secrets import LocalSecretBackend, SecretManagerBackend, SecretResolver
    from .store import IntegrationStore, PullStateStore, RunStore
    from .targets import EgressPolicy

    env = os.environ if environ is None else environ
    project = setting("GOOGLE_CLOUD_PROJECT", "demo-mapper", env)
    db = firestore.Client(project=project)
    publisher = pubsub_v1.PublisherClient()
    topic = setting("INTERNAL_TOPIC", DEFAULT_TOPIC, env)
    backend_spec = setting("SECRET_BACKEND", "secret-manager", env)
    if backend_spec.startswith("local:"):
        backend = LocalSecretBackend(backend_spec.removeprefix("local:"))
    else:
        from google.cloud import secretmanager

        backend = SecretManagerBackend(secretmanager.SecretManagerServiceClient(), project)
    integrations = IntegrationStore(db)
    return Services(
        integrations=integrations,
        runs=RunStore(db, retention=timedelta(days=int(setting("RUN_RETENTION_DAYS", "30", env)))),
        queue=Queue(publisher, publisher.topic_path(project, topic)),
        secrets=SecretResolver(backend),
        egress=EgressPolicy.from_env(env),
        plans=PlanCache(int(setting("PLAN_CACHE_SIZE", "64", env))),
        configs=ConfigCache(
            integrations, float(setting("CONFIG_CACHE_SECONDS", str(DEFAULT_CONFIG_TTL_S), env))
        ),
        secret_backend=backend,
        pull_state=PullStateStore(db),
    )


def site(environ: Mapping[str, str] | None = None) -> Site:
    """Where users reach the public routes (SITE_URL, WEBHOOK_BASE_URL, PUSH_BASE_URL)."""
    from .admin import Site

    site_url = setting("SITE_URL", "http://localhost:8080", environ)
    return Site(
        webhook_base=setting("WEBHOOK_BASE_URL", site_url, environ),
        push_base=setting("PUSH_BASE_URL", site_url, environ),
    )


def push_audience(environ: Mapping[str, str] | None = None) -> str:
    """The audience of Pub/Sub push OIDC tokens (PUSH_AUDIENCE, default the push base URL)."""
    return setting("PUSH_AUDIENCE", site(environ).push_base, environ)


@cache
def pubsub_clients() -> PubSubClients:
    """Pub/Sub clients for user subscriptions, per set of credentials."""
    from .sources.subscriptions import PubSubClients

    emulator = bool(setting("PUBSUB_EMULATOR_HOST", ""))
    return PubSubClients(services().secrets, emulator=emulator)


@cache
def listeners() -> Listeners:
    """What keeps Pub/Sub subscriptions in step with integrations."""
    from .sources.subscriptions import PushIdentity, SubscriptionManager

    account = setting("PUSH_SERVICE_ACCOUNT", "")
    identity = PushIdentity(account, push_audience()) if account else None
    return SubscriptionManager(pubsub_clients(), site().push_endpoint, identity)


@cache
def puller() -> Puller:
    """The pull function's dispatcher and drainer (PULL_TASKS_TOPIC, PULL_BATCH_SIZE)."""
    from google.cloud import pubsub_v1

    from .queue import Queue
    from .sources.pull import DEFAULT_BATCH_SIZE, DEFAULT_CONCURRENCY, Puller

    project = setting("GOOGLE_CLOUD_PROJECT", "demo-mapper")
    publisher = pubsub_v1.PublisherClient()
    tasks = publisher.topic_path(project, setting("PULL_TASKS_TOPIC", DEFAULT_PULL_TASKS_TOPIC))
    return Puller(
        services(),
        pubsub_clients(),
        Queue(publisher, tasks),
        int(setting("PULL_BATCH_SIZE", str(DEFAULT_BATCH_SIZE))),
        int(setting("PULL_CONCURRENCY", str(DEFAULT_CONCURRENCY))),
    )


@cache
def services() -> Services:
    """This process's services, built on first use (never at import: cold starts matter)."""
    return build_services()
