"""A webhook event without a key, against the real emulators, with RECORD_AT_ACCEPT=false
(the intake's own default; the functions' is true): the accept writes nothing to Firestore,
and the worker that takes the message records the run (docs/data-plane.md, "When a run is
recorded")."""

from __future__ import annotations

import pytest
from google.cloud import firestore, pubsub_v1

from local.emulators import Emulators
from mapper.engine.plan import PlanCache
from mapper.pipeline import Intake, Integrations, Worker
from mapper.pipeline.pacing import DeliveryGate
from mapper.pipeline.runs import QueuedMessage, RunStatus
from mapper.queue import Queue
from mapper.store.runs import RunStore
from mapper.targets.egress import EgressPolicy
from tests.fakes import FakeIntegrations, PlainSecrets
from tests.pipeline.support import HOOK, ScriptedTarget, body
from tests.store.test_queue import fresh_queue, pull_one
from tests.store.test_store import Calls


def webhook_and_worker(
    runs: RunStore, queue: Queue, *, record_in_background: bool = False,
    gate: DeliveryGate | None = None,
) -> tuple[Intake, Worker, ScriptedTarget]:
    """The webhook's intake and the worker over the real stores, for the fake HOOK."""
    integrations = Integrations(FakeIntegrations(HOOK), ttl_s=5.0)
    intake = Intake(integrations, runs, queue, PlainSecrets(), max_body_bytes=10_000,
                    record_in_background=record_in_background)
    target = ScriptedTarget()
    worker = Worker(integrations, runs, PlanCache(4), PlainSecrets(), EgressPolicy(),
                    targets=target.factory, gate=gate)
    return intake, worker, target


def test_the_accept_writes_nothing_and_the_worker_records_the_run(
    db: firestore.Client,
    emulators: Emulators,
    publisher: pubsub_v1.PublisherClient,
    subscriber: pubsub_v1.SubscriberClient,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    queue, subscription = fresh_queue(emulators, publisher, subscriber)
    runs = RunStore(db)
    intake, worker, target = webhook_and_worker(runs, queue)
    calls = Calls(monkeypatch)

    receipt = intake.receive_webhook("p-secret", {"X-Trace": "t"}, body(b'{"n": 7}'))
    assert receipt.status == RunStatus.QUEUED
    assert (calls.commits, calls.reads) == (0, 0)  # the 202 waited for the publish alone
    message = QueuedMessage.from_bytes(pull_one(subscriber, subscription).data)
    assert message.run_id == receipt.run_id and not message.recorded
    assert runs.get(receipt.run_id) is None  # GET /api/runs/{id}/ answers 404 until taken
    calls.reads = 0

    assert worker.process(message) == RunStatus.SUCCESS
    assert (calls.commits, calls.reads) == (2, 0)  # created leased, then the outcome
    run = runs.get(receipt.run_id)
    assert run["status"] == RunStatus.SUCCESS and run["incomingPayload"] == {"n": 7}
    assert run["incomingHeaders"] == {"x-trace": "t"} and run["attempts"] == 1
    assert target.sent == [{"payload": {"number": 7}, "runId": receipt.run_id}]
    # Pub/Sub delivers the message again: the run is found done, nothing sent or written.
    assert worker.process(message) == RunStatus.SUCCESS
    assert calls.commits == 2 and len(target.sent) == 1


def test_a_keyed_event_is_still_recorded_at_accept(
    db: firestore.Client,
    emulators: Emulators,
    publisher: pubsub_v1.PublisherClient,
    subscriber: pubsub_v1.SubscriberClient,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    queue, subscription = fresh_queue(emulators, publisher, subscriber)
    runs = RunStore(db)
    intake, _, _ = webhook_and_worker(runs, queue)
    calls = Calls(monkeypatch)
    receipt = intake.receive_webhook("p-secret", {"webhook-id": "m1"}, body(b'{"n": 7}'))
    assert calls.commits == 1  # a resend's `202 duplicate` names this run
    assert runs.get(receipt.run_id)["status"] == RunStatus.QUEUED
    assert QueuedMessage.from_bytes(pull_one(subscriber, subscription).data).recorded
