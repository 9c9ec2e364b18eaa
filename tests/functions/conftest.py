"""Each function loaded as functions-framework loads it, over in-memory fakes of our interfaces.

`functions_framework.create_app(target, source, signature_type).test_client()`, as the
framework's own tests do; `mapper.services.build_services` is replaced so that no emulator,
gcloud or Java is needed.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import functions_framework
import pytest

from mapper import services as services_module
from mapper.engine.plan import PlanCache
from mapper.pipeline import Integrations
from mapper.services import Services
from mapper.targets.egress import EgressPolicy
from tests.fakes import (
    Clock,
    CountingSignatureFailures,
    FakeAuditStore,
    FakeDedupeKeys,
    FakeDeliveryStates,
    FakeIntegrations,
    FakeKeyStore,
    FakeQueue,
    FakeRuns,
    FakeSourceShapes,
    PlainSecrets,
)
from tests.pipeline.support import HOOK, ScriptedTarget

ROOT = Path(__file__).resolve().parents[2]
BUILDERS = ("services", "intake", "worker", "reconciler", "admin", "push_verifier",
            "pull_verifier", "pubsub_clients", "listeners", "puller", "access", "audit_log",
            "deliverer", "deliver_verifier", "delivery_queues", "delivery_control",
            "notifier")


class Fakes:
    def __init__(self) -> None:
        self.clock = Clock()
        self.integrations = FakeIntegrations(
            HOOK,
            {**HOOK, "id": "i2", "webhookPath": "paused-path", "active": False},
            {**HOOK, "id": "i3", "webhookPath": None, "pushPath": "push-path",
             "source": {"type": "pubsub", "projectId": "p", "topic": "t", "mode": "push"}},
        )
        self.runs = FakeRuns(self.clock)
        self.queue = FakeQueue()
        self.target = ScriptedTarget()
        self.failures = CountingSignatureFailures()
        self.keys = FakeKeyStore()
        self.audit = FakeAuditStore()
        self.shapes = FakeSourceShapes()
        self.dedupe = FakeDedupeKeys()
        self.delivery_states = FakeDeliveryStates(self.clock, self.runs)
        self.tasks = FakeQueue()  # the pull-tasks topic

    def services(self) -> Services:
        return Services(
            integration_store=self.integrations,  # type: ignore[arg-type]
            integrations=Integrations(self.integrations, ttl_s=0),
            runs=self.runs,  # type: ignore[arg-type]
            queue=self.queue,  # type: ignore[arg-type]
            secrets=PlainSecrets(),  # type: ignore[arg-type]
            secret_backend=None,  # type: ignore[arg-type]
            egress=EgressPolicy(),
            plans=PlanCache(4),
            pull_state=None,  # type: ignore[arg-type]
            signature_failures=self.failures,  # type: ignore[arg-type]
            keys=self.keys,  # type: ignore[arg-type]
            audit=self.audit,  # type: ignore[arg-type]
            source_shapes=self.shapes,  # type: ignore[arg-type]
            dedupe_keys=self.dedupe,  # type: ignore[arg-type]
            delivery_states=self.delivery_states,  # type: ignore[arg-type]
        )


def _clear_builders() -> None:
    for name in BUILDERS:
        getattr(services_module, name).cache_clear()


@pytest.fixture
def fakes(monkeypatch: pytest.MonkeyPatch) -> Iterator[Fakes]:
    fakes = Fakes()
    monkeypatch.setenv("PUSH_VERIFY_OIDC", "false")
    monkeypatch.setenv("MAX_BODY_BYTES", "10000")
    monkeypatch.setattr(services_module, "build_services", lambda environ=None: fakes.services())
    monkeypatch.setattr(services_module, "tasks_queue", lambda: fakes.tasks)
    _clear_builders()
    original_worker = services_module.worker

    def worker_with_scripted_target() -> Any:
        from mapper.pipeline import Worker

        s = services_module.services()
        from mapper.pipeline.pacing import DeliveryGate

        gate = DeliveryGate(fakes.delivery_states, s.runs, clock=fakes.clock)
        return Worker(s.integrations, s.runs, s.plans, s.secrets, s.egress,
                      targets=fakes.target.factory, gate=gate)

    monkeypatch.setattr(services_module, "worker", worker_with_scripted_target)
    yield fakes
    monkeypatch.setattr(services_module, "worker", original_worker)
    _clear_builders()


def client(name: str, signature_type: str = "http") -> Any:
    """The test client of functions/<name>/main.py, loaded as the framework loads it."""
    source = str(ROOT / "functions" / name / "main.py")
    return functions_framework.create_app(name, source, signature_type).test_client()


def cloud_event(message: dict[str, Any]) -> tuple[dict[str, str], bytes]:
    """A Pub/Sub CloudEvent (binary mode) carrying `message` as the push would."""
    headers = {
        "ce-id": "1",
        "ce-source": "//pubsub.googleapis.com/projects/p/topics/mapper-events",
        "ce-type": "google.cloud.pubsub.topic.v1.messagePublished",
        "ce-specversion": "1.0",
        "Content-Type": "application/json",
    }
    data = base64.b64encode(json.dumps(message).encode()).decode()
    return headers, json.dumps({"message": {"data": data, "messageId": "1"}}).encode()


Client = Callable[..., Any]
