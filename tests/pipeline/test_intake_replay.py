"""Replays and squatted keys: a captured request sent again is a duplicate under every
signature scheme, whatever unsigned header is changed; a stranger's key does not drop the
real event."""

from __future__ import annotations

import hashlib
import hmac
import json
import time

from tests.pipeline.support import HOOK, body, build

SECRET = "s3cret"


def signed(header: str) -> dict:
    return {**HOOK, "source": {"type": "webhook", "signature": {
        "scheme": "hmac-sha256", "secret": SECRET, "header": header}}}


def hub_signature(raw: bytes) -> str:
    return "sha256=" + hmac.new(SECRET.encode(), raw, hashlib.sha256).hexdigest()


def stripe_signature(raw: bytes, stamp: int) -> str:
    mac = hmac.new(SECRET.encode(), f"{stamp}.".encode() + raw, hashlib.sha256).hexdigest()
    return f"t={stamp},v1={mac}"


def test_a_github_replay_with_the_delivery_id_changed_or_removed_is_a_duplicate() -> None:
    p = build(signed("X-Hub-Signature-256"))
    raw = json.dumps({"n": 1}).encode()
    sig = {"X-Hub-Signature-256": hub_signature(raw)}
    first = p.intake.receive_webhook("p-secret", {**sig, "X-GitHub-Delivery": "72d3162e"},
                                     body(raw))
    changed = p.intake.receive_webhook("p-secret", {**sig, "X-GitHub-Delivery": "other"},
                                       body(raw))
    removed = p.intake.receive_webhook("p-secret", sig, body(raw))
    keyed = p.intake.receive_webhook("p-secret", {**sig, "Idempotency-Key": "mine"}, body(raw))
    assert first.status == "queued" and not first.duplicate
    assert changed.duplicate and removed.duplicate and keyed.duplicate
    assert first.run_id == changed.run_id == removed.run_id == keyed.run_id
    assert len(p.queue.messages) == 1
    other = json.dumps({"n": 2}).encode()  # another event is another run
    second = p.intake.receive_webhook(
        "p-secret", {"X-Hub-Signature-256": hub_signature(other)}, body(other)
    )
    assert not second.duplicate and second.run_id != first.run_id


def test_a_custom_hmac_header_replay_is_a_duplicate() -> None:
    p = build(signed("X-Signature"))
    raw = b'{"n": 3}'
    sig = {"X-Signature": hub_signature(raw).removeprefix("sha256=")}
    first = p.intake.receive_webhook("p-secret", {**sig, "webhook-id": "a"}, body(raw))
    again = p.intake.receive_webhook("p-secret", {**sig, "webhook-id": "b"}, body(raw))
    assert again.duplicate and again.run_id == first.run_id
    assert len(p.queue.messages) == 1


def test_a_stripe_event_without_an_id_replayed_in_the_window_is_a_duplicate() -> None:
    p = build(signed("Stripe-Signature"))
    raw = b'{"type": "ping"}'
    stamp = int(time.time())
    headers = {"Stripe-Signature": stripe_signature(raw, stamp)}
    first = p.intake.receive_webhook("p-secret", headers, body(raw))
    replay = p.intake.receive_webhook("p-secret", headers, body(raw))
    assert first.status == "queued" and replay.duplicate and replay.run_id == first.run_id
    later = p.intake.receive_webhook(  # the same body signed again later: a new event
        "p-secret", {"Stripe-Signature": stripe_signature(raw, stamp + 1)}, body(raw)
    )
    assert not later.duplicate and later.run_id != first.run_id
    old = p.intake.receive_webhook(  # past the tolerance: refused, never a new run
        "p-secret", {"Stripe-Signature": stripe_signature(raw, stamp - 301)}, body(raw)
    )
    assert old.status == "unauthenticated"
    assert len(p.queue.messages) == 2


def test_a_stripe_event_id_still_names_the_run() -> None:
    p = build(signed("Stripe-Signature"))
    raw = b'{"id": "evt_1", "type": "ping"}'
    first = p.intake.receive_webhook(
        "p-secret", {"Stripe-Signature": stripe_signature(raw, int(time.time()))}, body(raw)
    )
    assert first.run_id == "i1.evt_1"


def test_a_squatted_key_does_not_drop_the_real_event() -> None:
    p = build()
    key = {"Idempotency-Key": "order-9"}
    squat = p.intake.receive_webhook("p-secret", key, body(b'{"n": "stranger"}'))
    real = p.intake.receive_webhook("p-secret", key, body(b'{"n": 9}'))
    assert squat.run_id == "i1.order-9"
    assert real.status == "queued" and not real.duplicate and real.run_id != squat.run_id
    assert p.runs.get(real.run_id)["incomingPayload"] == {"n": 9}
    assert p.runs.get(real.run_id)["keyReusedFrom"] == "i1.order-9"  # flagged
    retry = p.intake.receive_webhook("p-secret", key, body(b'{"n": 9}'))  # the sender retries
    assert retry.duplicate and retry.run_id == real.run_id
    assert p.intake.receive_webhook("p-secret", key, body(b'{"n": "stranger"}')).duplicate
    assert [m["payload"] for m in p.queue.messages] == [{"n": "stranger"}, {"n": 9}]
