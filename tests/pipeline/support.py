"""A pipeline wired to in-memory fakes, and a target whose answers the test scripts."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from mapper.engine.plan import PlanCache
from mapper.errors import RetryableTargetError, TargetError
from mapper.pipeline import Intake, Integrations, Reconciler, Worker
from mapper.pipeline.shape import ShapeRecorder
from mapper.targets import Delivery
from mapper.targets.egress import EgressPolicy
from tests.fakes import (
    Clock,
    CountingSignatureFailures,
    FakeDedupeKeys,
    FakeIntegrations,
    FakeQueue,
    FakeRuns,
    FakeSourceShapes,
    PlainSecrets,
    RecordingNotifier,
    from_the_topic,
)

HOOK = {
    "id": "i1",
    "name": "orders",
    "active": True,
    "version": 1,
    "webhookPath": "p-secret",
    "source": {"type": "webhook"},
    "mappings": [{"source": "n", "target": "number"}],
    "target": {"type": "http", "url": "https://hooks.example.com/x", "timeoutSeconds": 10},
}


@dataclass
class ScriptedTarget:
    """Records each send; answers from `script` (an exception class or None for success)."""

    sent: list[dict[str, Any]] = field(default_factory=list)
    script: list[type[Exception] | None] = field(default_factory=list)
    during_send: Callable[[], None] | None = None
    retry_answer: dict[str, Any] = field(default_factory=lambda: {"status": 503, "headers": {}})

    def factory(self, config: Any, secrets: Any, egress: Any) -> ScriptedTarget:
        return self

    def send(self, payload: Any, context: Any, run_id: str | None = None) -> Delivery:
        self.sent.append({"payload": payload, "runId": run_id})
        if self.during_send is not None:
            hook, self.during_send = self.during_send, None
            hook()
        outcome = self.script.pop(0) if self.script else None
        delivery = Delivery(request={"method": "POST", "url": "https://hooks.example.com/x",
                                     "headers": {"Idempotency-Key": run_id}, "body": payload})
        if outcome is RetryableTargetError:
            delivery.response = {**self.retry_answer, "body": "", "truncated": False}
            raise RetryableTargetError(f"{self.retry_answer['status']} from the target", delivery)
        if outcome is TargetError:
            delivery.response = {"status": 400, "headers": {}, "body": "", "truncated": False}
            raise TargetError("400 from the target", delivery)
        delivery.response = {"status": 200, "headers": {}, "body": "ok", "truncated": False}
        return delivery

    def close(self) -> None:
        pass


@dataclass
class Pipeline:
    clock: Clock
    integrations: FakeIntegrations
    runs: FakeRuns
    queue: FakeQueue
    target: ScriptedTarget
    intake: Intake
    worker: Worker
    reconciler: Reconciler
    failures: CountingSignatureFailures
    notifier: RecordingNotifier
    shapes: FakeSourceShapes = field(default_factory=FakeSourceShapes)
    dedupe: FakeDedupeKeys = field(default_factory=FakeDedupeKeys)
    drift: list[tuple[str, list[dict[str, Any]]]] = field(default_factory=list)

    def deliver_all(self) -> list[str]:
        """Process every published message once, in order; their statuses (errors raised)."""
        statuses = []
        pending, self.queue.messages = self.queue.messages, []
        for message in pending:
            statuses.append(self.worker.process(from_the_topic(message)))
        return statuses


def build(
    *docs: dict[str, Any],
    secrets: dict[str, str] | None = None,
    max_body: int = 10_000,
    record_in_background: bool = False,
) -> Pipeline:
    clock = Clock()
    integrations = FakeIntegrations(*(docs or (HOOK,)))
    runs = FakeRuns(clock)
    queue = FakeQueue()
    target = ScriptedTarget()
    cache = Integrations(integrations, ttl_s=5.0, clock=clock)
    failures = CountingSignatureFailures()
    notifier = RecordingNotifier()
    shapes, dedupe, drift = FakeSourceShapes(), FakeDedupeKeys(), []
    recorder = ShapeRecorder(
        shapes, clock=clock, on_drift=lambda i, found: drift.append((str(i.id), found))
    )
    intake = Intake(
        cache, runs, queue, PlainSecrets(secrets), max_body_bytes=max_body, clock=clock,
        signature_failures=failures, dedupe_keys=dedupe, shapes=recorder,
        record_in_background=record_in_background,
    )
    worker = Worker(
        cache, runs, PlanCache(4), PlainSecrets(secrets), EgressPolicy(), clock=clock,
        targets=target.factory, queue=queue, notifier=notifier,
    )
    reconciler = Reconciler(runs, queue, horizon_s=900, max_republishes=3, clock=clock)
    return Pipeline(
        clock, integrations, runs, queue, target, intake, worker, reconciler, failures, notifier,
        shapes=shapes, dedupe=dedupe, drift=drift,
    )


def body(data: bytes) -> Callable[[int], bytes | None]:
    return lambda limit: None if len(data) > limit else data
