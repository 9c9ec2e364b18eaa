"""Serve every function on one local URL, against the emulators (tests and `make dev`).

    /webhook/...          -> functions/webhook
    /api/..., /           -> functions/api          (management API and web UI)
    /pubsub/...           -> functions/pubsub_push  (user push subscriptions, no OIDC locally)
    /_functions/pull      -> functions/pull         (ticks, and the pull-tasks topic's pushes)
    /_functions/worker    -> functions/worker       (the emulator pushes the internal topic here)
    /_functions/dead_letter -> functions/dead_letter (and the dead-letter topic here)
    /_functions/deliver   -> functions/deliver      (the Cloud Tasks stand-in dispatches here)

Each function runs in functions-framework exactly as deployed; this module only routes by
path prefix and creates the internal topics and subscriptions the cloud gets from Terraform.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
FUNCTIONS = ROOT / "functions"

# (mount prefix, function directory, entry point, signature type)
ROUTES = [
    ("/webhook/", "webhook", "webhook", "http"),
    ("/api/", "api", "api", "http"),
    ("/pubsub/", "pubsub_push", "pubsub_push", "http"),
    ("/_functions/pull", "pull", "pull", "http"),
    ("/_functions/worker", "worker", "worker", "cloudevent"),
    ("/_functions/dead_letter", "dead_letter", "dead_letter", "cloudevent"),
    ("/_functions/deliver", "deliver", "deliver", "http"),
    ("/", "api", "api", "http"),  # last: the web UI, served by the api function
]

# Local retry settings: quick, so that a retried delivery shows within seconds.
LOCAL_MIN_BACKOFF_S = 1
LOCAL_MAX_BACKOFF_S = 2
LOCAL_MAX_DELIVERY_ATTEMPTS = 5
# A drain task may loop for up to a minute (intervals under 60 s): it must not be redelivered.
PULL_TASK_ACK_DEADLINE_S = 120


def worker_ack_deadline_s() -> int:
    """Longer than the longest delivery may hold its run: the longest lease, plus slack.

    Shorter, and Pub/Sub would redeliver a message while its first delivery still runs.
    """
    from mapper.engine.config import MAX_HTTP_TIMEOUT_S
    from mapper.pipeline.worker import LEASE_MARGIN_S, SMTP_LEASE_S

    return int(max(MAX_HTTP_TIMEOUT_S, SMTP_LEASE_S) + LEASE_MARGIN_S + 30)


def build_app(
    routes: Iterable[tuple[str, str, str, str]] = ROUTES,
    extra: Mapping[str, Callable] | None = None,
) -> Callable:
    """One WSGI app dispatching each path prefix to its function's own app.

    `extra` mounts more WSGI apps by prefix, ahead of the functions (local tools only).
    """
    import functions_framework

    apps: dict[tuple[str, str], Callable] = {}
    mounted: list[tuple[str, Callable]] = list((extra or {}).items())
    for prefix, name, entry, kind in routes:
        if (name, entry) not in apps:  # one app per function, however many prefixes it serves
            source = str(FUNCTIONS / name / "main.py")
            apps[name, entry] = functions_framework.create_app(entry, source, kind)
        mounted.append((prefix, apps[name, entry]))

    def dispatch(environ: dict[str, Any], start_response: Callable) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        for prefix, app in mounted:
            if path.startswith(prefix) or path + "/" == prefix:
                return app(environ, start_response)
        body = b'{"error": "no such route", "code": "not_found"}'
        start_response(
            "404 Not Found",
            [("Content-Type", "application/json"), ("Content-Length", str(len(body)))],
        )
        return [body]

    return dispatch


def create_internal_pubsub(
    project: str,
    base_url: str,
    topic: str = "mapper-events",
    pull_tasks_topic: str = "mapper-pull-tasks",
) -> None:
    """The internal topic, the worker's push subscription, the dead-letter path, pull tasks."""
    from google.cloud import pubsub_v1

    from mapper.queue import ensure_topic_and_subscription, ordered_topic

    publisher = pubsub_v1.PublisherClient()
    subscriber = pubsub_v1.SubscriberClient()
    try:
        ensure_topic_and_subscription(
            publisher,
            subscriber,
            project,
            f"{topic}-dead-letter",
            f"{topic}-dead-letter-push",
            push_endpoint=f"{base_url}/_functions/dead_letter",
            min_backoff=LOCAL_MIN_BACKOFF_S,
            max_backoff=LOCAL_MAX_BACKOFF_S,
        )
        # The internal topic, and its ordered twin for integrations with orderingKey
        # (mapper.queue.InternalQueue, docs/delivery.md "Ordering"): one worker each.
        for worker_topic, ordered in ((topic, False), (ordered_topic(topic), True)):
            ensure_topic_and_subscription(
                publisher,
                subscriber,
                project,
                worker_topic,
                f"{worker_topic}-worker",
                dead_letter_topic=f"{topic}-dead-letter",
                max_delivery_attempts=LOCAL_MAX_DELIVERY_ATTEMPTS,
                push_endpoint=f"{base_url}/_functions/worker",
                message_ordering=ordered,
                min_backoff=LOCAL_MIN_BACKOFF_S,
                max_backoff=LOCAL_MAX_BACKOFF_S,
                ack_deadline_seconds=worker_ack_deadline_s(),
            )
        ensure_topic_and_subscription(
            publisher,
            subscriber,
            project,
            pull_tasks_topic,
            f"{pull_tasks_topic}-push",
            push_endpoint=f"{base_url}/_functions/pull",
            min_backoff=LOCAL_MIN_BACKOFF_S,
            max_backoff=LOCAL_MAX_BACKOFF_S,
            ack_deadline_seconds=PULL_TASK_ACK_DEADLINE_S,
        )
    finally:
        subscriber.close()
        publisher.transport.close()


class QuietInternalRequests(logging.Filter):
    """Drops werkzeug's request line for the internal routes (`/_functions/...`).

    Each worker push already logs one line for its attempt (run, outcome, what next); the
    request line beside it, and one per pull tick, only doubled the log.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args if isinstance(record.args, tuple) else ()
        return not any(isinstance(arg, str) and " /_functions/" in arg for arg in args)


@dataclass
class LocalServer:
    """A running local platform: its base URL, and how to stop it."""

    url: str
    _server: Any
    _thread: threading.Thread

    def stop(self) -> None:
        """Stop serving and wait for the server thread."""
        self._server.shutdown()
        self._thread.join(timeout=10)


def serve(
    env: Mapping[str, str],
    host: str = "127.0.0.1",
    port: int = 0,
    extra: Mapping[str, Callable] | None = None,
    public_url: str | None = None,
) -> LocalServer:
    """Serve the functions in this process, in a background thread; env is applied first.

    `public_url` is how users reach it (e.g. http://localhost:8080); default the bound one.
    """
    from werkzeug.serving import make_server

    os.environ.update(
        {
            "MAX_DELIVERY_ATTEMPTS": str(LOCAL_MAX_DELIVERY_ATTEMPTS),
            "RETRY_MIN_BACKOFF_SECONDS": str(LOCAL_MIN_BACKOFF_S),
            "RETRY_MAX_BACKOFF_SECONDS": str(LOCAL_MAX_BACKOFF_S),
            **env,
        }
    )
    werkzeug_log = logging.getLogger("werkzeug")
    if not any(isinstance(f, QuietInternalRequests) for f in werkzeug_log.filters):
        werkzeug_log.addFilter(QuietInternalRequests())
    server = make_server(host, port, build_app(extra=extra), threaded=True)
    bound = f"http://{host}:{server.server_port}"
    thread = threading.Thread(target=server.serve_forever, name="local-functions", daemon=True)
    thread.start()
    # The emulator pushes to the bound address: "localhost" may resolve to ::1 for Java.
    create_internal_pubsub(
        env["GOOGLE_CLOUD_PROJECT"],
        bound,
        env.get("INTERNAL_TOPIC", "mapper-events"),
        env.get("PULL_TASKS_TOPIC", "mapper-pull-tasks"),
    )
    return LocalServer(public_url or bound, server, thread)


def start_pull_timer(base_url: str, every_s: float, stop: threading.Event) -> threading.Thread:
    """Tick the pull function every `every_s` seconds, as Cloud Scheduler does in the cloud."""
    import requests

    def tick() -> None:
        while not stop.wait(every_s):
            try:
                requests.post(f"{base_url}/_functions/pull", json={}, timeout=30)
            except requests.RequestException:
                pass  # the next tick tries again, as Scheduler would

    thread = threading.Thread(target=tick, name="pull-timer", daemon=True)
    thread.start()
    return thread
