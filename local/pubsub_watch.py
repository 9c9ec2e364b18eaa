"""`make dev`'s watchdog: the internal topics and subscriptions come back with the emulator.

The Pub/Sub emulator keeps everything in memory: restarted, it has no topics, and every
webhook would answer 503 until `make dev` was restarted. Every `WATCH_EVERY_S` seconds this
asks the emulator for the worker's subscription; when the emulator answers that it has none,
it creates the internal topics and subscriptions again (local.serve.create_internal_pubsub),
and says so. Messages the old emulator held are gone with it; the reconciler publishes
their runs again after RECONCILE_AFTER_SECONDS.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

WATCH_EVERY_S = 5.0  # how long webhooks may answer 503 after the emulator came back
CALL_TIMEOUT_S = 5.0


class PubSubWatch:
    """Checks the internal subscription on a timer and recreates what a restart lost."""

    def __init__(
        self,
        project: str,
        base_url: str,
        topic: str,
        pull_tasks_topic: str,
        stop: threading.Event,
        *,
        every_s: float = WATCH_EVERY_S,
        emulator_alive: Callable[[], bool] | None = None,
        say: Callable[[str], None] = lambda line: print(line, flush=True),
    ) -> None:
        self._project = project
        self._base_url = base_url
        self._topic = topic
        self._pull_tasks_topic = pull_tasks_topic
        self._stop = stop
        self._every_s = every_s
        self._emulator_alive = emulator_alive  # set when make dev started the emulator itself
        self._say = say
        self.failure: str | None = None  # why make dev must stop, if it must
        self.recreated = 0

    def start(self) -> threading.Thread:
        """Run `check` every `every_s` seconds in a daemon thread until `stop` is set."""
        thread = threading.Thread(target=self._loop, name="pubsub-watch", daemon=True)
        thread.start()
        return thread

    def _loop(self) -> None:
        from google.cloud import pubsub_v1

        subscriber = pubsub_v1.SubscriberClient()
        unreachable = False
        try:
            while not self._stop.wait(self._every_s):
                state = self.check(subscriber)
                if state == "unreachable" and not unreachable:
                    self._say("Pub/Sub emulator does not answer: webhooks get 503 until it is back")
                unreachable = state == "unreachable"
                if self.failure:
                    self._say(self.failure)
                    self._stop.set()
        finally:
            subscriber.close()

    def check(self, subscriber: object) -> str:
        """One look: "ok", "recreated", "unreachable", or "dead" (our own emulator stopped)."""
        from google.api_core import exceptions as gexc

        from local.serve import create_internal_pubsub
        from mapper.errors import MapperError

        path = f"projects/{self._project}/subscriptions/{self._topic}-worker"
        try:
            subscriber.get_subscription(  # type: ignore[attr-defined]
                request={"subscription": path}, retry=None, timeout=CALL_TIMEOUT_S
            )
            return "ok"
        except gexc.NotFound:
            pass
        except gexc.GoogleAPIError:
            if self._emulator_alive is not None and not self._emulator_alive():
                self.failure = (
                    "make dev: the Pub/Sub emulator it started has stopped; nothing can be "
                    "queued. Stopping: run `make dev` again."
                )
                return "dead"
            return "unreachable"
        try:
            create_internal_pubsub(
                self._project, self._base_url, self._topic, self._pull_tasks_topic
            )
        except (MapperError, gexc.GoogleAPIError) as exc:  # try again on the next look
            self._say(f"Pub/Sub emulator restarted, but recreating its topics failed: {exc}")
            return "unreachable"
        self.recreated += 1
        self._say(
            "Pub/Sub emulator restarted: internal topics and subscriptions recreated "
            "(runs it held are published again by the reconciler)"
        )
        return "recreated"
