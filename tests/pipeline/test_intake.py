"""The intake's rules over fakes: every request queued, refused with a reason, or recorded."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor

import pytest

from mapper.errors import QueueError
from mapper.json_text import dumps_bytes
from tests.fakes import from_the_topic
from tests.pipeline.support import HOOK, body, build


def test_a_keyed_event_is_recorded_and_published() -> None:
    p = build()
    headers = {"X-Trace": "t", "Idempotency-Key": "order-1"}
    receipt = p.intake.receive_webhook("p-secret", headers, body(b'{"n": 1}'))
    assert receipt.status == "queued" and not receipt.duplicate
    run = p.runs.get(receipt.run_id)
    assert run["status"] == "queued" and run["incomingPayload"] == {"n": 1}
    assert run["incomingHeaders"] == {"x-trace": "t", "idempotency-key": "order-1"}
    assert [m["runId"] for m in p.queue.messages] == [receipt.run_id]
    assert from_the_topic(p.queue.messages[0]).recorded


def test_an_event_without_a_key_is_published_and_recorded_by_the_worker_that_takes_it() -> None:
    p = build()
    accepted_at = p.clock.iso()
    receipt = p.intake.receive_webhook("p-secret", {"X-Trace": "t"}, body(b'{"n": 1}'))
    assert receipt.status == "queued" and not receipt.duplicate
    assert p.runs.docs == {} and p.runs.writes == 0  # the 202 waited for the publish alone
    [message] = p.queue.messages
    assert message["runId"] == receipt.run_id and not from_the_topic(message).recorded
    assert "recording" not in message  # no write of the intake's to look for first

    p.clock.advance(3)  # the worker takes it a little later
    assert p.deliver_all() == ["success"]
    assert p.runs.writes == 2 and p.runs.reads == 0  # created claimed, then its outcome
    run = p.runs.get(receipt.run_id)
    assert run["status"] == "success" and run["incomingPayload"] == {"n": 1}
    assert run["incomingHeaders"] == {"x-trace": "t"} and run["sourceKind"] == "webhook"
    assert run["integrationVersion"] == 1 and run["attempts"] == 1
    assert run["createdAt"] == accepted_at  # listed by when it reached us, not by the worker


def test_recorded_at_accept_the_run_is_written_queued_after_the_publish() -> None:
    p = build(record_in_background=True)
    receipt = p.intake.receive_webhook("p-secret", {"X-Trace": "t"}, body(b'{"n": 1}'))
    [message] = p.queue.messages
    assert not from_the_topic(message).recorded  # the worker may still get there first
    assert from_the_topic(message).recording  # but most often finds it: it looks first
    run = p.runs.written(receipt.run_id)
    assert run is not None, "the run was not recorded at accept"
    assert run["status"] == "queued" and run["incomingPayload"] == {"n": 1}
    assert p.deliver_all() == ["success"]  # the worker claims the run it finds
    assert p.runs.get(receipt.run_id)["status"] == "success"


def test_recorded_at_accept_an_event_whose_message_pubsub_lost_is_published_again() -> None:
    p = build(record_in_background=True)
    receipt = p.intake.receive_webhook("p-secret", {}, body(b'{"n": 2}'))
    assert p.runs.written(receipt.run_id) is not None, "the run was not recorded at accept"
    p.queue.messages.clear()  # the broker lost it (a killed emulator does)
    p.clock.advance(901)
    assert p.reconciler.sweep().as_dict()["republished"] == 1
    assert p.deliver_all() == ["success"]
    assert [s["runId"] for s in p.target.sent] == [receipt.run_id]


def test_the_message_holds_the_same_first_record_the_intake_writes_for_a_keyed_event() -> None:
    doc = {**HOOK, "searchKeys": ["order.id"], "orderingKey": "order.customer"}
    p = build(doc)
    data = b'{"order": {"id": "o-1", "customer": "c-1"}}'
    keyed = p.intake.receive_webhook("p-secret", {"webhook-id": "m1", "X-A": "1"}, body(data))
    fresh = p.intake.receive_webhook("p-secret", {"X-A": "1"}, body(data))
    recorded = p.runs.get(keyed.run_id)
    first, carried = (from_the_topic(m) for m in p.queue.messages)
    assert first.first_record() == {k: recorded[k] for k in first.first_record()}
    assert carried.first_record()["searchValues"] == ["order.id=o-1"]
    assert carried.first_record()["orderingKey"] == "i1:c-1"
    assert carried.first_record()["id"] == fresh.run_id and not carried.recorded


def test_a_message_of_an_older_release_reads_as_recorded_at_accept() -> None:
    older = {"runId": "i1.x", "integrationId": "i1", "payload": {}, "acceptedAt": 1.0}
    message = from_the_topic(older)
    assert message.recorded and message.search_values == ()
    # Written again (the reconciler's republish), it still has no field an older reader lacks.
    assert set(message.to_dict()) == {*older, "integrationVersion", "sourceKind", "headers",
                                      "attributes"}


def test_the_queued_message_on_the_wire_is_the_same_bytes_as_ever() -> None:
    # The worker and dead-letter functions of a deployment one version behind read these.
    p = build()
    headers = {"X-Trace": "t", "webhook-id": "m1"}
    receipt = p.intake.receive_webhook("p-secret", headers, body(b'{"n": 1}'))
    [message] = p.queue.messages
    assert dumps_bytes(message) == (
        b'{"runId":"%s","integrationId":"i1","integrationVersion":1,"sourceKind":"webhook",'
        b'"payload":{"n":1},"headers":{"x-trace":"t","webhook-id":"m1"},"attributes":{},'
        b'"acceptedAt":1800000000.0}' % receipt.run_id.encode()
    )
    assert from_the_topic(message).to_bytes() == dumps_bytes(message)


def test_an_unrecorded_message_adds_one_field_older_readers_ignore() -> None:
    # An older worker reads it as a message recorded at accept (and waits for the run up
    # to ORPHAN_GRACE_S): docs/deploy.md says to deploy the worker before the webhook.
    p = build()
    receipt = p.intake.receive_webhook("p-secret", {"X-Trace": "t"}, body(b'{"n": 1}'))
    [message] = p.queue.messages
    assert dumps_bytes(message) == (
        b'{"runId":"%s","integrationId":"i1","integrationVersion":1,"sourceKind":"webhook",'
        b'"payload":{"n":1},"headers":{"x-trace":"t"},"attributes":{},'
        b'"acceptedAt":1800000000.0,"recorded":false}' % receipt.run_id.encode()
    )
    assert from_the_topic(message).to_bytes() == dumps_bytes(message)


def test_unknown_path_and_paused() -> None:
    p = build({**HOOK, "active": False})
    assert p.intake.receive_webhook("nope", {}, body(b"{}")).status == "not_found"
    assert p.intake.receive_webhook("p-secret", {}, body(b"{}")).status == "paused"
    assert p.runs.docs == {} and p.queue.messages == []


@pytest.mark.parametrize(
    "raw",
    [b"{not json", b"[" * 100_000 + b"]" * 100_000, b'{"a": "\\ud800"}', b'{"a": NaN}',
     b'{"a": Infinity}', b'{"a": 1e999}', b'{"a": "\xff"}', b'{"a": "\xed\xa0\x80"}',
     b'{"\\udfff": 1}', '{"a": 1}'.encode("utf-16"), '{"a": 1}'.encode("utf-16-be"),
     '{"a": 1}'.encode("utf-32-le"), b"[" * 101 + b"]" * 101],
    ids=["syntax", "deep", "lone-surrogate", "nan", "infinity", "huge-number", "not-utf8",
         "utf8-encoded-surrogate", "surrogate-key", "utf16-bom", "utf16-be", "utf32-le",
         "101-deep"],
)
def test_bodies_no_later_stage_could_carry_are_refused_and_recorded(raw: bytes) -> None:
    p = build(max_body=10_000_000)
    receipt = p.intake.receive_webhook("p-secret", {}, body(raw))
    assert receipt.status == "invalid"
    run = p.runs.get(receipt.run_id)
    assert run["status"] == "error" and run["incomingRaw"] is True
    assert run["incomingPayload"]["size"] == len(raw)
    assert "JSON" in run["errorMessage"]
    assert p.queue.messages == []


def test_100_deep_and_a_utf8_byte_order_mark_are_accepted() -> None:
    p = build(max_body=10_000_000)
    deep = p.intake.receive_webhook("p-secret", {}, body(b"[" * 100 + b"]" * 100))
    marked = p.intake.receive_webhook("p-secret", {}, body(b'\xef\xbb\xbf{"a": "[[[\\\\"}'))
    assert deep.status == "queued" and marked.status == "queued"
    assert from_the_topic(p.queue.messages[1]).payload == {"a": "[[[\\"}


def test_too_large_is_recorded_without_the_body() -> None:
    p = build()
    receipt = p.intake.receive_webhook("p-secret", {}, body(b'{"a": "' + b"x" * 20_000 + b'"}'))
    assert receipt.status == "too_large" and receipt.limit == 10_000
    assert "larger than" in p.runs.get(receipt.run_id)["errorMessage"]


def test_the_same_key_twenty_times_at_once_publishes_one_message() -> None:
    p = build()
    headers = {"Idempotency-Key": "order-7"}
    with ThreadPoolExecutor(20) as pool:
        receipts = list(pool.map(
            lambda _: p.intake.receive_webhook("p-secret", headers, body(b'{"n": 7}')), range(20)
        ))
    assert {r.run_id for r in receipts} == {"i1.order-7"}
    assert sum(not r.duplicate for r in receipts) == 1
    assert len(p.queue.messages) == 1
    assert p.deliver_all() == ["success"] and len(p.target.sent) == 1


def test_a_failed_publish_leaves_the_run_for_a_resend_or_the_reconciler() -> None:
    p = build()
    p.queue.failures = 1
    headers = {"webhook-id": "msg_1"}
    with pytest.raises(QueueError):
        p.intake.receive_webhook("p-secret", headers, body(b'{"n": 1}'))
    run = p.runs.get("i1.msg_1")
    assert run["status"] == "queued" and run["unpublished"] is True

    again = p.intake.receive_webhook("p-secret", headers, body(b'{"n": 1}'))  # the sender retries
    assert again.run_id == "i1.msg_1" and len(p.queue.messages) == 1
    assert p.intake.receive_webhook("p-secret", headers, body(b'{"n": 1}')).duplicate
    assert len(p.queue.messages) == 1


def test_a_failed_publish_without_a_key_ends_its_run_as_the_senders_retry_is_a_new_one() -> None:
    # Found by `make faults` (Pub/Sub emulator killed): the refused run, left queued, was
    # delivered by the reconciler, and the sender's retry after the 503 was delivered too,
    # under another run id: a duplicate the receiver cannot recognise.
    p = build()
    p.queue.failures = 1
    with pytest.raises(QueueError):
        p.intake.receive_webhook("p-secret", {}, body(b'{"n": 1}'))
    [refused] = p.runs.docs.values()
    assert refused["status"] == "error" and "answered 503" in refused["errorMessage"]

    again = p.intake.receive_webhook("p-secret", {}, body(b'{"n": 1}'))  # the sender retries
    assert p.deliver_all() == ["success"]
    p.clock.advance(901)
    assert p.reconciler.sweep().as_dict()["republished"] == 0  # nothing left in flight
    assert len(p.target.sent) == 1 and p.runs.get(again.run_id)["status"] == "success"


def test_the_lookup_is_cached_within_its_staleness_bound() -> None:
    p = build()
    for _ in range(5):
        p.intake.receive_webhook("p-secret", {}, body(b"{}"))
    assert p.integrations.reads == 1
    p.integrations.docs["i1"]["active"] = False
    assert p.intake.receive_webhook("p-secret", {}, body(b"{}")).status == "queued"
    p.clock.advance(5)  # pausing takes effect within the bound
    assert p.intake.receive_webhook("p-secret", {}, body(b"{}")).status == "paused"


def test_a_bad_signature_is_counted_not_recorded_as_a_run() -> None:
    doc = {**HOOK, "source": {"type": "webhook", "signature": {
        "scheme": "hmac-sha256", "secret": "s3cret", "header": "X-Hub-Signature-256"}}}
    p = build(doc)
    for _ in range(3):
        receipt = p.intake.receive_webhook(
            "p-secret", {"X-Hub-Signature-256": "sha256=00"}, body(b"{}")
        )
        assert receipt.status == "unauthenticated"
    assert p.runs.docs == {} and p.failures.counts == {"i1": 3}


def test_a_signed_github_body_makes_a_replay_a_duplicate() -> None:
    import hashlib
    import hmac

    doc = {**HOOK, "source": {"type": "webhook", "signature": {
        "scheme": "hmac-sha256", "secret": "s3cret", "header": "X-Hub-Signature-256"}}}
    p = build(doc)
    raw = json.dumps({"n": 1}).encode()
    sig = "sha256=" + hmac.new(b"s3cret", raw, hashlib.sha256).hexdigest()
    headers = {"X-Hub-Signature-256": sig, "X-GitHub-Delivery": "72d3162e"}
    first = p.intake.receive_webhook("p-secret", headers, body(raw))
    replay = p.intake.receive_webhook("p-secret", headers, body(raw))
    # The delivery id is not signed: the signed body's digest names the run.
    digest = hashlib.sha256(raw).hexdigest()[:40]
    assert first.run_id == replay.run_id == f"i1.sha256-{digest}"
    assert replay.duplicate and len(p.queue.messages) == 1


def test_push_envelopes() -> None:
    import base64

    doc = {**HOOK, "pushPath": "push-1", "source": {"type": "pubsub", "projectId": "p",
                                                     "topic": "t", "mode": "push"}}
    p = build(doc)
    data = base64.b64encode(b'{"n": 2}').decode()
    envelope = json.dumps({"message": {"messageId": "m1", "data": data}}).encode()
    receipt = p.intake.receive_push("push-1", None, body(envelope))
    assert receipt.status == "queued" and receipt.run_id == "i1.m1"
    again = p.intake.receive_push("push-1", None, body(envelope))
    assert again.duplicate and len(p.queue.messages) == 1
    bad = p.intake.receive_push("push-1", None, body(b"{}"))
    assert bad.status == "invalid" and p.runs.get(bad.run_id)["status"] == "error"


def test_a_resend_that_publishes_writes_nothing_after_the_publish() -> None:
    # Otherwise a worker that claimed the run in between would lose its claim.
    p = build()
    p.queue.failures = 1
    headers = {"webhook-id": "msg_2"}
    with pytest.raises(QueueError):
        p.intake.receive_webhook("p-secret", headers, body(b'{"n": 1}'))
    real_publish = p.queue.publish
    versions_at_publish = []

    def publish_and_note(message, attributes=None, ordering_key=None):  # noqa: ANN001, ANN202
        versions_at_publish.append(p.runs.versions["i1.msg_2"])
        return real_publish(message, attributes, ordering_key)

    p.queue.publish = publish_and_note  # type: ignore[method-assign]
    p.intake.receive_webhook("p-secret", headers, body(b'{"n": 1}'))
    assert versions_at_publish == [p.runs.versions["i1.msg_2"]]
    assert p.runs.get("i1.msg_2")["unpublished"] is False


def test_a_stored_document_that_no_longer_validates_still_loses_nothing() -> None:
    # Saved before a rule it breaks existed (say credentials in its URL, refused since).
    broken = {**HOOK, "target": {"type": "http", "url": "https://u:p@hooks.example.com/x"}}
    p = build(broken)
    receipt = p.intake.receive_webhook("p-secret", {}, body(b'{"n": 1}'))
    assert receipt.status == "queued"
    assert p.deliver_all() == ["error"]
    run = p.runs.get(receipt.run_id)
    assert run["incomingPayload"] == {"n": 1} and "target.url" in run["errorMessage"]
    assert p.target.sent == []


def test_a_broken_document_with_a_signature_fails_closed() -> None:
    broken = {**HOOK, "source": {"type": "webhook", "signature": {"scheme": "nope"}}}
    p = build(broken)
    receipt = p.intake.receive_webhook("p-secret", {}, body(b'{"n": 1}'))
    assert receipt.status == "unauthenticated" and p.runs.docs == {}


@pytest.mark.parametrize(
    "envelope",
    [b'{"message": {"messageId": "m1", "data": "eyJuIjoxfQ==", "attributes": {"a": "\\ud800"}}}',
     b'{"message": {"messageId": "m\xed\xa0\x80", "data": "eyJuIjoxfQ=="}}',
     '{"message": {"messageId": "m1", "data": "eyJuIjoxfQ=="}}'.encode("utf-16")],
    ids=["escaped-surrogate-attribute", "utf8-encoded-surrogate-id", "utf16"],
)
def test_push_envelopes_are_parsed_as_strictly_as_bodies(envelope: bytes) -> None:
    doc = {**HOOK, "pushPath": "push-1", "source": {"type": "pubsub", "projectId": "p",
                                                     "topic": "t", "mode": "push"}}
    p = build(doc)
    receipt = p.intake.receive_push("push-1", None, body(envelope))
    assert receipt.status == "invalid" and "not JSON" in receipt.reason
    assert p.runs.get(receipt.run_id)["incomingRaw"] is True and p.queue.messages == []
