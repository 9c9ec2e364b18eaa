"""Fan-out over fakes: each target attempted, retried and recorded on its own."""

from __future__ import annotations

import copy
import json
import threading
from dataclasses import dataclass, field
from typing import Any

import pytest

from mapper.errors import RetryableTargetError, TargetError
from mapper.pipeline import fanout
from mapper.pipeline.worker import NotDueYet, TargetsRetrying, lease_seconds
from mapper.targets import Delivery
from tests.fakes import FakeQueue, FakeRedriveJobs, from_the_topic
from tests.pipeline.support import HOOK, Pipeline, body, build
from tests.pipeline.test_redrive import redriver, run_tasks

CRM = "https://crm.example.com/in"
OPS = "https://ops.example.com/in"

FANOUT = {
    **{k: v for k, v in copy.deepcopy(HOOK).items() if k != "target"},
    "targets": [
        {"type": "http", "name": "crm", "url": CRM, "timeoutSeconds": 10},
        {"type": "http", "url": OPS, "timeoutSeconds": 5,
         "mappings": [{"source": "n", "target": "ops.count"}]},
    ],
}


@dataclass
class Receivers:
    """Scripted targets by URL: each records what it was sent and answers from its script."""

    sent: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    scripts: dict[str, list[type[Exception] | None]] = field(default_factory=dict)

    def factory(self, config: Any, secrets: Any, egress: Any) -> Receivers.One:
        return Receivers.One(self, config.url)

    @dataclass
    class One:
        owner: Receivers
        url: str

        def send(self, payload: Any, context: Any, run_id: str | None = None) -> Delivery:
            self.owner.sent.setdefault(self.url, []).append({"payload": payload, "key": run_id})
            script = self.owner.scripts.get(self.url) or []
            outcome = script.pop(0) if script else None
            delivery = Delivery(request={"method": "POST", "url": self.url,
                                         "headers": {"Idempotency-Key": run_id},
                                         "body": payload})
            if outcome is RetryableTargetError:
                delivery.response = {"status": 503, "headers": {}, "body": "", "truncated": False}
                raise RetryableTargetError("503 from the target", delivery)
            if outcome is TargetError:
                delivery.response = {"status": 400, "headers": {}, "body": "no", "truncated": False}
                raise TargetError("400 from the target", delivery)
            delivery.response = {"status": 200, "headers": {}, "body": "ok", "truncated": False}
            return delivery

        def close(self) -> None:
            pass


def fan_out(doc: dict[str, Any] | None = None) -> tuple[Pipeline, Receivers]:
    p = build(doc or FANOUT)
    receivers = Receivers()
    p.worker._targets = receivers.factory  # the pipeline's own seam: the target factory
    return p, receivers


def queued(p: Pipeline, payload: Any = None) -> str:
    data = json.dumps({"n": 1} if payload is None else payload).encode()
    receipt = p.intake.receive_webhook("p-secret", {}, body(data))
    assert receipt.status == "queued"
    return str(receipt.run_id)


def by_target(run: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {d["target"]: d for d in run["deliveries"]}


def test_every_target_gets_its_own_output_and_delivery_record() -> None:
    p, receivers = fan_out()
    run_id = queued(p)

    assert p.deliver_all() == ["success"]

    run = p.runs.get(run_id)
    assert run["status"] == "success" and run["attempts"] == 1
    assert receivers.sent[CRM] == [{"payload": {"number": 1}, "key": run_id}]
    assert receivers.sent[OPS] == [{"payload": {"ops": {"count": 1}}, "key": run_id}]
    crm, ops = by_target(run)["crm"], by_target(run)["target-2"]  # the default name
    assert (crm["status"], crm["attempts"], crm["outgoingResponse"]["status"]) == (
        "success", 1, 200)
    assert crm["outgoingRequest"]["url"] == CRM and crm["errorMessage"] is None
    assert ops["transformedPayload"] == {"ops": {"count": 1}}  # its own mappings' output
    assert run["transformedPayload"] == {"number": 1}  # the integration's, shared by crm
    assert "outgoingRequest" not in run  # per target, in deliveries


def test_a_retried_target_is_sent_again_and_the_one_that_succeeded_never() -> None:
    p, receivers = fan_out()
    receivers.scripts[OPS] = [RetryableTargetError, RetryableTargetError, None]
    run_id = queued(p)
    message = from_the_topic(p.queue.messages[0])

    for attempt in (1, 2):
        with pytest.raises(TargetsRetrying):
            p.worker.process(message)
        run = p.runs.get(run_id)
        assert run["status"] == "retrying" and run["nextAttemptAt"]
        assert by_target(run)["crm"]["status"] == "success"
        assert by_target(run)["target-2"]["status"] == "retrying"
        assert by_target(run)["target-2"]["attempts"] == attempt
        # A redelivery before the retry is due sends nothing at all.
        with pytest.raises(NotDueYet):
            p.worker.process(message)
        p.clock.advance(600)
    assert p.worker.process(message) == "success"

    assert len(receivers.sent[CRM]) == 1  # never again because the other failed
    assert [s["key"] for s in receivers.sent[OPS]] == [run_id] * 3  # one Idempotency-Key
    run = p.runs.get(run_id)
    assert by_target(run)["crm"]["attempts"] == 1
    assert by_target(run)["target-2"]["attempts"] == 3
    assert run["attempts"] == 3  # the most any target took
    assert run["errorMessage"] is None and run.get("nextAttemptAt") is None


def test_one_target_failing_for_good_makes_the_run_partial() -> None:
    p, receivers = fan_out()
    receivers.scripts[OPS] = [TargetError]
    run_id = queued(p)

    assert p.deliver_all() == ["partial"]

    run = p.runs.get(run_id)
    assert by_target(run)["crm"]["status"] == "success"
    failed = by_target(run)["target-2"]
    assert failed["status"] == "error" and failed["outgoingResponse"]["status"] == 400
    assert run["errorMessage"] == "target-2: 400 from the target"


def test_all_failing_is_the_worst_and_retries_per_policy_end_dead_lettered() -> None:
    doc = {**copy.deepcopy(FANOUT), "retry": {"maxAttempts": 2, "initialBackoffSeconds": 1,
                                              "maxBackoffSeconds": 1}}
    p, receivers = fan_out(doc)
    receivers.scripts[CRM] = [TargetError]
    receivers.scripts[OPS] = [RetryableTargetError, RetryableTargetError]
    run_id = queued(p)
    message = from_the_topic(p.queue.messages[0])
    with pytest.raises(TargetsRetrying):
        p.worker.process(message)
    p.clock.advance(5)
    assert p.worker.process(message) == "dead_lettered"
    run = p.runs.get(run_id)
    assert by_target(run)["crm"]["status"] == "error"
    assert by_target(run)["target-2"]["status"] == "dead_lettered"
    assert len(receivers.sent[CRM]) == 1 and len(receivers.sent[OPS]) == 2


def test_a_redrive_of_a_partial_run_resends_only_the_failed_target_with_the_same_key() -> None:
    p, receivers = fan_out()
    receivers.scripts[OPS] = [TargetError]
    original = queued(p)
    assert p.deliver_all() == ["partial"]
    p.clock.advance(1)  # a job takes the runs created before it started

    tasks, jobs = FakeQueue(), FakeRedriveJobs()
    r = redriver(p, tasks, jobs)
    assert r.start(["partial"], integration_id="i1")["count"] == 1
    run_tasks(r, tasks)
    assert p.deliver_all() == ["success"]

    assert len(receivers.sent[CRM]) == 1  # the redrive did not send it again
    assert [s["key"] for s in receivers.sent[OPS]] == [original, original]
    redriven = next(run for run in p.runs.docs.values() if run.get("replayOf") == original)
    assert {d["target"]: d["status"] for d in redriven["deliveries"]} == {
        "crm": "success", "target-2": "success"}


def test_a_redelivery_of_a_retrying_run_after_a_crash_keeps_the_successes() -> None:
    # The reconciler republishes a retrying run: the same message again, a new claim.
    p, receivers = fan_out()
    receivers.scripts[OPS] = [RetryableTargetError]
    run_id = queued(p)
    message = from_the_topic(p.queue.messages[0])
    with pytest.raises(TargetsRetrying):
        p.worker.process(message)
    p.clock.advance(600)
    republished = from_the_topic(json.loads(json.dumps(p.queue.messages[0])))
    assert p.worker.process(republished) == "success"
    assert len(receivers.sent[CRM]) == 1 and len(receivers.sent[OPS]) == 2
    assert p.runs.get(run_id)["status"] == "success"


def test_a_target_s_own_condition_skips_it_alone() -> None:
    doc = copy.deepcopy(FANOUT)
    doc["targets"][1]["condition"] = "data.n > 5"
    p, receivers = fan_out(doc)
    run_id = queued(p)
    assert p.deliver_all() == ["success"]
    assert by_target(p.runs.get(run_id))["target-2"]["status"] == "skipped"
    assert OPS not in receivers.sent


def test_the_run_status_follows_its_deliveries() -> None:
    def of(*statuses: str) -> str:
        return fanout.run_status([{"target": str(i), "status": s} for i, s in enumerate(statuses)])

    assert of("success", "success") == "success"
    assert of("success", "skipped") == "success"
    assert of("skipped", "skipped") == "skipped"
    assert of("success", "retrying") == "retrying"
    assert of("success", "error") == "partial"
    assert of("success", "dead_lettered") == "partial"
    assert of("error", "dead_lettered") == "dead_lettered"
    assert of("error", "skipped") == "error"


def test_the_lease_covers_the_slowest_target_all_being_sent_at_once() -> None:
    from mapper.engine.config import parse_integration
    from mapper.pipeline.worker import LEASE_MARGIN_S

    assert lease_seconds(parse_integration(FANOUT)) == 10 + LEASE_MARGIN_S


def test_the_targets_are_sent_at_the_same_time() -> None:
    # Each send waits for the other to have started: sent one after another, they would not.
    p, receivers = fan_out()
    both_started = threading.Barrier(2, timeout=5)
    factory = receivers.factory

    class Waiting(Receivers.One):
        def send(self, payload: Any, context: Any, run_id: str | None = None) -> Delivery:
            both_started.wait()
            return super().send(payload, context, run_id)

    p.worker._targets = lambda config, s, e: Waiting(receivers, factory(config, s, e).url)
    run_id = queued(p)
    assert p.deliver_all() == ["success"]
    assert {d["status"] for d in p.runs.get(run_id)["deliveries"]} == {"success"}


def test_when_the_queue_gives_up_the_targets_that_succeeded_make_the_run_partial() -> None:
    p, receivers = fan_out()
    receivers.scripts[OPS] = [RetryableTargetError]
    run_id = queued(p)
    message = from_the_topic(p.queue.messages[0])
    with pytest.raises(TargetsRetrying):
        p.worker.process(message)
    p.worker._queue = None  # no republish: the run ends here
    assert p.worker.dead_letter(message) == "partial"
    run = p.runs.get(run_id)
    assert {d["target"]: d["status"] for d in run["deliveries"]} == {
        "crm": "success", "target-2": "dead_lettered"}


def test_a_backtest_shows_each_own_target_s_candidate_beside_its_recorded_output() -> None:
    from mapper.backtest import backtest
    from mapper.engine.config import parse_integration

    p, _ = fan_out()
    run_id = queued(p, {"n": 4})
    assert p.deliver_all() == ["success"]
    candidate = copy.deepcopy(FANOUT)
    candidate["targets"][1]["mappings"] = [{"source": "n", "target": "ops.total"}]
    result = backtest(parse_integration(candidate), [p.runs.get(run_id)])["results"][0]
    assert result["diff"] == []  # the integration's own mappings did not change
    [ops] = result["targets"]
    assert ops["name"] == "target-2" and ops["recorded"] == {"ops": {"count": 4}}
    assert ops["candidate"] == {"ops": {"total": 4}} and ops["diff"]
