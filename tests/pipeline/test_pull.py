"""The pull drain's rules over fakes: due integrations, queue-then-ack, what stays behind."""

from __future__ import annotations

from mapper.errors import ListenerError
from mapper.pull import Puller
from mapper.sources.subscriptions import Pulled
from tests.fakes import FakePullState, FakeQueue, FakeSubscriptions
from tests.pipeline.support import HOOK, build

PULL = {
    **HOOK,
    "id": "p1",
    "webhookPath": None,
    "source": {"type": "pubsub", "projectId": "p", "topic": "t", "mode": "pull",
               "pullIntervalSeconds": 60},
}


def puller(*docs):  # noqa: ANN001, ANN202 - test helper
    p = build(*docs)
    subs = FakeSubscriptions()
    tasks = FakeQueue()
    drainer = Puller(p.integrations, FakePullState(), p.intake, subs, tasks, batch_size=2,
                     clock=p.clock, sleep=lambda s: p.clock.advance(s))
    return p, subs, tasks, drainer


def test_dispatch_publishes_one_task_per_due_active_pull_integration() -> None:
    _, _, tasks, drainer = puller(PULL, {**PULL, "id": "p2", "active": False}, HOOK)
    assert drainer.dispatch() == {"due": 1, "dispatched": 1, "failed": []}
    assert tasks.messages == [{"integrationId": "p1"}]


def test_drain_queues_every_message_then_acknowledges_it() -> None:
    p, subs, _, drainer = puller(PULL)
    subs.add("p1", *(Pulled(f"a{i}", f"m{i}", b'{"n": %d}' % i) for i in range(5)))
    subs.add("p1", Pulled("bad", "mbad", b"not json"))

    report = drainer.drain("p1")

    assert (report.queued, report.recorded, report.left) == (5, 1, 0)
    assert sorted(subs.acked) == sorted(["a0", "a1", "a2", "a3", "a4", "bad"])
    assert p.runs.get("p1.mbad")["status"] == "error"
    assert p.deliver_all() == ["success"] * 5


def test_a_message_that_cannot_be_queued_is_left_for_redelivery() -> None:
    p, subs, _, drainer = puller(PULL)
    subs.add("p1", Pulled("a0", "m0", b'{"n": 0}'))
    p.queue.failures = 1
    report = drainer.drain("p1")
    assert report.left == 1 and subs.acked == []
    p.queue.failures = 0
    assert drainer.drain("p1").queued == 1 and subs.acked == ["a0"]


def test_a_paused_integration_is_not_drained_and_a_refusal_is_recorded() -> None:
    _, subs, _, drainer = puller({**PULL, "active": False})
    subs.add("p1", Pulled("a0", "m0", b"{}"))
    assert drainer.drain("p1").skipped == "paused: messages stay in the subscription"
    assert subs.acked == []

    _, subs, _, drainer = puller(PULL)
    subs.refuse = ListenerError("the subscription does not exist", "source.subscription")
    assert drainer.drain("p1").error == "the subscription does not exist"
