"""orderingKey over fakes: the key each event is queued under, and what keeps a key's order.

The order itself is Pub/Sub's (an ordered subscription pushes a key's messages one at a
time): tests/e2e/test_ordering.py proves it against the emulator. Here: the key, and that
nothing the platform does on its own (dead letter, reconciler) sends a run behind later
events of its key.
"""

from __future__ import annotations

import pytest

from mapper.engine.config import parse_integration
from mapper.errors import ConfigError, RetryableTargetError
from mapper.pipeline.ordering import MAX_KEY_BYTES, ordering_key
from mapper.pipeline.runs import QueuedMessage, RunStatus
from tests.fakes import from_the_topic
from tests.pipeline.support import HOOK, Pipeline, body, build

ORDERED = {**HOOK, "orderingKey": "data.customer.id"}


def _integration(path: str = "data.customer.id") -> object:
    return parse_integration({**ORDERED, "orderingKey": path})


def _send(p: Pipeline, payload: bytes, headers: dict[str, str] | None = None) -> str:
    receipt = p.intake.receive_webhook("p-secret", headers or {}, body(payload))
    assert receipt.status == "queued"
    return str(receipt.run_id)


def test_the_key_is_the_integration_and_the_value_at_the_path() -> None:
    integration = _integration()
    customer = lambda value: {"data": {"customer": {"id": value}}}  # noqa: E731
    assert ordering_key(integration, customer("c-1")) == "i1:c-1"
    # 12 and 12.0 are one JSON number; "12" is its own value only as text, as in JSON.
    assert ordering_key(integration, customer(12)) == ordering_key(integration, customer(12.0))
    assert ordering_key(integration, customer({"b": 1, "a": 2})) == 'i1:{"a":2,"b":1}'
    assert ordering_key(integration, customer(None)) is None
    assert ordering_key(integration, {"data": {}}) is None
    assert ordering_key(parse_integration(HOOK), customer("c-1")) is None


def test_a_long_value_is_kept_as_its_digest_one_key_per_value() -> None:
    integration = _integration()
    long_one, long_two = "x" * 1000 + "1", "x" * 1000 + "2"
    one = ordering_key(integration, {"data": {"customer": {"id": long_one}}})
    two = ordering_key(integration, {"data": {"customer": {"id": long_two}}})
    assert one is not None and two is not None and one != two
    assert one.startswith("i1:#sha256:") and len(one.encode()) <= MAX_KEY_BYTES


def test_validation_refuses_a_key_path_that_reads_many_values_or_none() -> None:
    for bad in ("data.items[*].id", "data..id"):
        with pytest.raises(ConfigError) as caught:
            parse_integration({**ORDERED, "orderingKey": bad})
        assert [problem.path for problem in caught.value.problems] == ["orderingKey"]


def test_each_run_is_queued_under_its_key_and_records_it() -> None:
    p = build(ORDERED)
    first = _send(p, b'{"data": {"customer": {"id": "c-1"}}}')
    other = _send(p, b'{"data": {"customer": {"id": "c-2"}}}')
    unkeyed = _send(p, b'{"data": {"customer": {}}}')
    assert p.queue.ordering_keys == ["i1:c-1", "i1:c-2", None]
    assert from_the_topic(p.queue.messages[0]).ordering_key == "i1:c-1"
    p.deliver_all()  # each worker records its run from the message, key and all
    assert p.runs.get(first)["orderingKey"] == "i1:c-1"
    assert p.runs.get(other)["orderingKey"] == "i1:c-2"
    assert "orderingKey" not in p.runs.get(unkeyed)


def test_a_failing_ordered_run_is_not_acknowledged_so_its_key_stays_held() -> None:
    p = build({**ORDERED, "retry": {"maxAttempts": 3, "initialBackoffSeconds": 1,
                                     "maxBackoffSeconds": 1}})
    p.target.script = [RetryableTargetError, RetryableTargetError]
    run_id = _send(p, b'{"data": {"customer": {"id": "c-1"}}}')
    message = from_the_topic(p.queue.messages.pop())
    for _ in range(2):
        with pytest.raises(RetryableTargetError):  # Pub/Sub delivers this message again
            p.worker.process(message)
        assert p.queue.messages == []  # and nothing else of the key was sent in its place
        p.clock.advance(1)
    assert p.worker.process(message) == RunStatus.SUCCESS
    assert p.runs.get(run_id)["attempts"] == 3


def test_an_ordered_run_failing_to_its_last_attempt_is_dead_lettered_and_acknowledged() -> None:
    p = build({**ORDERED, "retry": {"maxAttempts": 2, "initialBackoffSeconds": 1,
                                     "maxBackoffSeconds": 1}})
    p.target.script = [RetryableTargetError] * 5
    run_id = _send(p, b'{"data": {"customer": {"id": "c-1"}}}')
    message = from_the_topic(p.queue.messages.pop())
    with pytest.raises(RetryableTargetError):
        p.worker.process(message)
    p.clock.advance(1)
    # Returned, not raised: Pub/Sub takes the message off and the key's next one goes.
    assert p.worker.process(message) == RunStatus.DEAD_LETTERED
    assert p.runs.get(run_id)["status"] == RunStatus.DEAD_LETTERED


def test_pub_subs_dead_letter_of_an_ordered_run_ends_it_instead_of_a_late_copy() -> None:
    # Pub/Sub has released the key: a copy published now would reach the receiver after
    # the later events of its key.
    p = build({**ORDERED, "retry": {"initialBackoffSeconds": 30, "maxBackoffSeconds": 30}})
    p.target.script = [RetryableTargetError]
    run_id = _send(p, b'{"data": {"customer": {"id": "c-1"}}}')
    message = from_the_topic(p.queue.messages.pop())
    with pytest.raises(RetryableTargetError):
        p.worker.process(message)
    p.clock.advance(30)  # due, with attempts left: an unordered run would be published again
    assert p.worker.dead_letter(message) == RunStatus.DEAD_LETTERED
    assert p.queue.messages == []
    assert p.runs.get(run_id)["errorMessage"].startswith("gave up after 1 attempts")


def test_a_due_retry_is_left_to_its_own_message_and_past_the_horizon_sent_without_key() -> None:
    # Its own message holds the key and Pub/Sub redelivers it: a copy now would spend that
    # message's deliveries (sent back busy or early) toward Pub/Sub's dead letter.
    p = build(ORDERED)
    p.target.script = [RetryableTargetError]
    run_id = _send(p, b'{"data": {"customer": {"id": "c-1"}}}')
    with pytest.raises(RetryableTargetError):
        p.deliver_all()
    p.queue.ordering_keys.clear()
    p.clock.advance(11)
    assert p.reconciler.sweep().republished == []
    assert p.runs.get(run_id).get("nextAttemptAt") is None  # its redelivery is attempted
    p.clock.advance(901)  # the message was lost after all: the horizon publishes a copy
    assert p.reconciler.sweep().republished == [run_id]
    assert p.queue.ordering_keys == [None]  # without the key, which its message still holds


def test_a_queued_ordered_run_is_published_again_behind_its_key_and_never_ended_as_lost() -> None:
    # It may only be waiting for an earlier event of its key that is being retried.
    p = build(ORDERED)
    run_id = _send(p, b'{"data": {"customer": {"id": "c-1"}}}', {"webhook-id": "m1"})
    p.queue.messages.clear()
    p.queue.ordering_keys.clear()
    for n in range(5):  # past the 3 republishes after which an unordered run is ended
        p.clock.advance(900 * 2**n + 1)
        report = p.reconciler.sweep()
        assert report.republished == [run_id] and report.ended == []
    assert p.queue.ordering_keys == ["i1:c-1"] * 5
    assert p.runs.get(run_id)["status"] == RunStatus.QUEUED
    assert p.deliver_all() == [RunStatus.SUCCESS] * 5  # the copies find it done
    assert len(p.target.sent) == 1


def test_the_message_carries_its_key_through_the_topic() -> None:
    message = QueuedMessage("r1", "i1", "webhook", {}, 0.0, ordering_key="i1:c-1")
    assert QueuedMessage.from_bytes(message.to_bytes()).ordering_key == "i1:c-1"
    assert "orderingKey" not in QueuedMessage("r1", "i1", "webhook", {}, 0.0).to_dict()


def test_an_ordered_fan_out_holds_its_key_until_every_target_ended() -> None:
    # Fan-out combines with ordering: the event's message is acknowledged only once each
    # target ended, so no target gets the key's next event before this one.
    from mapper.pipeline.worker import TargetsRetrying
    from tests.pipeline.test_fanout import FANOUT, OPS, fan_out

    p, receivers = fan_out({**FANOUT, "orderingKey": "data.customer.id"})
    receivers.scripts[OPS] = [RetryableTargetError]
    run_id = _send(p, b'{"data": {"customer": {"id": "c-1"}}, "n": 1}')
    assert p.queue.ordering_keys == ["i1:c-1"]
    message = from_the_topic(p.queue.messages.pop())
    with pytest.raises(TargetsRetrying):  # not acknowledged: the key stays held
        p.worker.process(message)
    assert p.queue.messages == []
    p.clock.advance(600)
    assert p.worker.process(message) == RunStatus.SUCCESS
    assert p.runs.get(run_id)["orderingKey"] == "i1:c-1"


def test_validation_refuses_order_on_a_paced_target_its_queue_keeps_none() -> None:
    paced = {**ORDERED["target"], "rateLimit": {"perSecond": 10}}
    with pytest.raises(ConfigError) as caught:
        parse_integration({**ORDERED, "target": paced})
    assert [problem.path for problem in caught.value.problems] == ["target.rateLimit"]
    assert "orderingKey" in caught.value.problems[0].message
    parse_integration({**ORDERED, "target": paced, "orderingKey": None})  # each alone: fine


def test_resume_publishes_a_keys_held_runs_with_their_key_oldest_first() -> None:
    # Paused, each run of the key was held and acknowledged (the key moved on); resume puts
    # them back on the topic under their key, in accept order, so the order holds again.
    from tests.pipeline.test_pacing import paced

    t = paced(ORDERED)
    t.control.pause(ORDERED, None)
    ids = []
    for n in range(3):
        ids.append(_send(t.p, b'{"data": {"customer": {"id": "c-1"}}, "n": %d}' % n))
        t.p.clock.advance(1)
    assert t.work() == [RunStatus.HELD] * 3
    t.p.queue.ordering_keys.clear()
    assert t.control.resume(ORDERED) == 3
    assert t.drain(ORDERED) == 3  # the pull function's batch of the resume
    assert [from_the_topic(m).run_id for m in t.p.queue.messages] == ids
    assert t.p.queue.ordering_keys == ["i1:c-1"] * 3


def test_an_ordered_run_ends_by_the_subscriptions_last_delivery_not_its_dead_letter() -> None:
    # retry.maxAttempts 20 beside a subscription that delivers 10 times (the platform's
    # policy mirrors it): the 10th failed attempt ends the run and is acknowledged, so the
    # key moves on in order instead of through Pub/Sub's dead letter.
    retry = {"maxAttempts": 20, "initialBackoffSeconds": 1, "maxBackoffSeconds": 1}
    p = build({**ORDERED, "retry": retry})
    p.target.script = [RetryableTargetError] * 30
    run_id = _send(p, b'{"data": {"customer": {"id": "c-1"}}}')
    message = from_the_topic(p.queue.messages.pop())
    for _ in range(9):
        with pytest.raises(RetryableTargetError):
            p.worker.process(message)
        p.clock.advance(1)
    assert p.worker.process(message) == RunStatus.DEAD_LETTERED
    assert p.runs.get(run_id)["attempts"] == 10
    # Unordered, the integration's own 20 attempts stand.
    unordered = build({**HOOK, "retry": retry})
    unordered.target.script = [RetryableTargetError] * 30
    _send(unordered, b'{"n": 1}')
    plain = from_the_topic(unordered.queue.messages.pop())
    for _ in range(10):
        with pytest.raises(RetryableTargetError):
            unordered.worker.process(plain)
        unordered.clock.advance(1)


def test_an_ordered_run_is_attempted_at_each_redelivery_never_sent_back_as_early() -> None:
    # A delivery sent back as early would spend one of the subscription's deliveries, which
    # are all the attempts an ordered run gets: Pub/Sub's own backoff is its schedule.
    p = build({**ORDERED, "retry": {"initialBackoffSeconds": 60, "maxBackoffSeconds": 60}})
    p.target.script = [RetryableTargetError, RetryableTargetError]
    run_id = _send(p, b'{"data": {"customer": {"id": "c-1"}}}')
    message = from_the_topic(p.queue.messages.pop())
    for _ in range(2):
        with pytest.raises(RetryableTargetError):
            p.worker.process(message)
        assert p.runs.get(run_id).get("nextAttemptAt") is None
    assert p.worker.process(message) == RunStatus.SUCCESS  # no clock advanced: not early
    assert p.runs.get(run_id)["attempts"] == 3


def test_a_due_retry_of_an_ordered_fan_out_is_left_to_its_own_message() -> None:
    # A fan-out keeps its targets' times (nextAttemptAt): when due, the reconciler clears
    # it and publishes no copy; the message that holds the key is redelivered.
    from mapper.pipeline.worker import TargetsRetrying
    from tests.pipeline.test_fanout import FANOUT, OPS, fan_out

    p, receivers = fan_out({**FANOUT, "orderingKey": "data.customer.id"})
    receivers.scripts[OPS] = [RetryableTargetError]
    run_id = _send(p, b'{"data": {"customer": {"id": "c-1"}}, "n": 1}')
    message = from_the_topic(p.queue.messages.pop())
    with pytest.raises(TargetsRetrying):
        p.worker.process(message)
    assert p.runs.get(run_id)["nextAttemptAt"] is not None
    p.clock.advance(600)
    assert p.reconciler.sweep().republished == []
    assert p.queue.messages == [] and p.runs.get(run_id)["nextAttemptAt"] is None
    assert p.worker.process(message) == RunStatus.SUCCESS
