"""`source.dedupe`: a second event with the same values within the window is a duplicate of
the first run (nothing recorded, nothing queued); after the window, or with a value missing,
it is an event of its own. Webhook, push and pull alike."""

from __future__ import annotations

import base64
import json

import pytest

from mapper.engine.config import MAX_DEDUPE_PATHS, MAX_DEDUPE_WINDOW_S, parse_integration
from mapper.errors import ConfigError, QueueError
from mapper.pipeline.dedupe import dedupe_key
from mapper.pull import Puller
from mapper.sources.subscriptions import Pulled
from tests.fakes import FakePullState, FakeQueue, FakeSubscriptions
from tests.pipeline.support import HOOK, body, build

DEDUPE = {"paths": ["data.id"], "windowSeconds": 3600}
DEDUPED = {**HOOK, "source": {"type": "webhook", "dedupe": DEDUPE}}


def send(p, payload: object, headers: dict[str, str] | None = None):  # noqa: ANN001, ANN201
    return p.intake.receive_webhook("p-secret", headers or {}, body(json.dumps(payload).encode()))


def test_the_second_event_with_the_same_values_answers_the_first_run() -> None:
    p = build(DEDUPED)
    first = send(p, {"data": {"id": "evt_1", "n": 1}})
    second = send(p, {"data": {"id": "evt_1", "n": 2}})  # other fields may differ
    assert first.status == "queued" and not first.duplicate
    assert (second.status, second.run_id, second.duplicate) == ("duplicate", first.run_id, True)
    assert len(p.runs.docs) == 1 and len(p.queue.messages) == 1
    assert p.deliver_all() == ["success"] and len(p.target.sent) == 1


def test_other_values_are_other_events() -> None:
    p = build(DEDUPED)
    assert send(p, {"data": {"id": "a"}}).status == "queued"
    assert send(p, {"data": {"id": "b"}}).status == "queued"
    assert send(p, {"data": {"id": 1}}).status == "queued"  # 1 is not "1"
    assert send(p, {"data": {"id": "1"}}).status == "queued"
    assert len(p.queue.messages) == 4


def test_after_the_window_the_same_values_are_a_new_event_and_hold_a_new_window() -> None:
    p = build(DEDUPED)
    first = send(p, {"data": {"id": "x"}})
    p.clock.advance(3599)
    assert send(p, {"data": {"id": "x"}}).run_id == first.run_id
    p.clock.advance(1)  # the window counts from the first event, not from its duplicates
    later = send(p, {"data": {"id": "x"}})
    assert later.status == "queued" and later.run_id != first.run_id
    p.clock.advance(10)
    assert send(p, {"data": {"id": "x"}}).run_id == later.run_id


@pytest.mark.parametrize("payload", [{"data": {}}, {"data": {"id": None}}, [1, 2], "text"])
def test_an_event_missing_a_value_is_never_a_duplicate(payload: object) -> None:
    p = build(DEDUPED)
    assert [send(p, payload).status for _ in range(2)] == ["queued", "queued"]
    assert p.dedupe.keys == {}


def test_every_path_takes_part_in_the_key() -> None:
    p = build({**HOOK, "source": {"type": "webhook",
                                  "dedupe": {"paths": ["a", "b"], "windowSeconds": 60}}})
    assert send(p, {"a": 1, "b": 1}).status == "queued"
    assert send(p, {"a": 1, "b": 2}).status == "queued"
    assert send(p, {"a": 1, "b": 1}).status == "duplicate"
    assert dedupe_key("i1", ["a", "b"], {"a": 1, "b": 1}) != dedupe_key("i2", ["a", "b"],
                                                                        {"a": 1, "b": 1})


def test_a_keyed_retry_of_the_same_event_is_still_the_keys_duplicate() -> None:
    p = build(DEDUPED)
    headers = {"Idempotency-Key": "k1"}
    first = send(p, {"data": {"id": "x"}}, headers)
    again = send(p, {"data": {"id": "x"}}, headers)
    assert again.status == "queued" and again.duplicate and again.run_id == first.run_id


def test_a_failed_queue_gives_the_key_back_so_the_senders_retry_is_no_duplicate() -> None:
    p = build(DEDUPED)
    p.queue.failures = 1
    with pytest.raises(QueueError):  # answered 503 at the edge: the sender sends it again
        send(p, {"data": {"id": "x"}})
    assert p.dedupe.keys == {}
    retried = send(p, {"data": {"id": "x"}})
    assert retried.status == "queued" and not retried.duplicate


def test_push_duplicates_are_acknowledged_without_a_run() -> None:
    doc = {**HOOK, "pushPath": "push-1", "source": {
        "type": "pubsub", "projectId": "p", "topic": "t", "mode": "push", "dedupe": DEDUPE}}
    p = build(doc)

    def envelope(n: int) -> bytes:
        data = base64.b64encode(b'{"data": {"id": "same"}}').decode()
        return json.dumps({"message": {"messageId": f"m{n}", "data": data}}).encode()

    first = p.intake.receive_push("push-1", None, body(envelope(1)))
    second = p.intake.receive_push("push-1", None, body(envelope(2)))
    assert first.status == "queued"
    assert (second.status, second.run_id) == ("duplicate", first.run_id)
    assert list(p.runs.docs) == [first.run_id]


def test_pull_duplicates_are_acknowledged_and_counted() -> None:
    doc = {**HOOK, "id": "p1", "webhookPath": None, "source": {
        "type": "pubsub", "projectId": "p", "topic": "t", "mode": "pull", "dedupe": DEDUPE}}
    p = build(doc)
    subs = FakeSubscriptions()
    drainer = Puller(p.integrations, FakePullState(), p.intake, subs, FakeQueue(),
                     batch_size=1, clock=p.clock, sleep=lambda s: p.clock.advance(s))
    subs.add("p1", Pulled("a0", "m0", b'{"data": {"id": 7}}'),
             Pulled("a1", "m1", b'{"data": {"id": 7}}'))
    report = drainer.drain("p1")
    assert (report.queued, report.duplicate, report.left) == (1, 1, 0)
    assert sorted(subs.acked) == ["a0", "a1"] and list(p.runs.docs) == ["p1.m0"]


@pytest.mark.parametrize("dedupe", [
    {"paths": [], "windowSeconds": 60},
    {"paths": [f"p{n}" for n in range(MAX_DEDUPE_PATHS + 1)], "windowSeconds": 60},
    {"paths": ["items[*].id"], "windowSeconds": 60},
    {"paths": ["a..b"], "windowSeconds": 60},
    {"paths": ["id"], "windowSeconds": 0},
    {"paths": ["id"], "windowSeconds": MAX_DEDUPE_WINDOW_S + 1},
    {"paths": ["id"]},
    {"paths": ["id"], "windowSeconds": 60, "other": 1},
])
def test_dedupe_is_validated(dedupe: dict[str, object]) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_integration({**HOOK, "source": {"type": "webhook", "dedupe": dedupe}})
    assert any(p.path.startswith("source.dedupe") for p in caught.value.problems)


def test_the_widest_valid_dedupe_is_kept() -> None:
    dedupe = {"paths": [f"a.p{n}" for n in range(MAX_DEDUPE_PATHS)],
              "windowSeconds": MAX_DEDUPE_WINDOW_S}
    parsed = parse_integration({**HOOK, "source": {"type": "webhook", "dedupe": dedupe}})
    assert parsed.source.dedupe.window_seconds == MAX_DEDUPE_WINDOW_S


def test_accepted_payloads_shape_the_source_and_duplicates_do_not() -> None:
    p = build(DEDUPED)
    send(p, {"data": {"id": "x", "n": 1}})
    send(p, {"data": {"id": "x", "n": "dup"}})
    paths = {e["path"]: e["types"] for e in p.shapes.shapes["i1"]["paths"]}
    assert paths == {"data": ["object"], "data.id": ["string"], "data.n": ["number"]}
