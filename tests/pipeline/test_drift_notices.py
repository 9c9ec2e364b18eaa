"""source.drift: the intake files drift on a path a mapping reads in the shape (no network
call of its own); the tick's DriftNotices sends it once, one notification per integration a
minute, and never again for the same drift."""

from __future__ import annotations

import json
from typing import Any

from mapper.engine.config import parse_integration
from mapper.pipeline.drift_notices import DriftNotices
from mapper.pipeline.integrations import Integrations
from mapper.pipeline.shape import DRIFT_AFTER, MAX_DRIFT_NOTICES, ShapeRecorder
from tests.fakes import Clock, FakeIntegrations, FakeSourceShapes, RecordingNotifier
from tests.pipeline.support import HOOK, body, build

NOTIFIED = {
    **HOOK,
    "mappings": [{"source": "order.email", "target": "email"}],
    "notify": {"url": "https://ops.example.com/hooks"},
}


class Parts:
    """A recorder and a sender over the same fakes, on one clock."""

    def __init__(self, *docs: dict[str, Any]) -> None:
        self.clock = Clock()
        self.shapes = FakeSourceShapes()
        self.docs = FakeIntegrations(*docs)
        self.notifier = RecordingNotifier()
        self.recorder = ShapeRecorder(self.shapes, flush_seconds=0, clock=self.clock)
        self.sender = DriftNotices(
            self.shapes, Integrations(self.docs, ttl_s=0, clock=self.clock), self.notifier,
            clock=self.clock,
        )

    def observe(self, doc: dict[str, Any], payloads: list[Any]) -> None:
        typed = parse_integration(self.docs.get(doc["id"]) or doc)
        for payload in payloads:
            self.clock.advance(1)
            self.recorder.observe(typed, payload)


def _renamed(n: int) -> list[dict[str, Any]]:
    """5 payloads with order.email, then `n` with it renamed order.mail."""
    return [{"order": {"id": i, "email": "a@x.test"}} for i in range(5)] + [
        {"order": {"id": i, "mail": "a@x.test"}} for i in range(n)
    ]


def test_drift_on_a_read_path_is_filed_by_the_intake_and_sent_by_the_tick_once() -> None:
    parts = Parts(NOTIFIED)
    parts.observe(NOTIFIED, _renamed(DRIFT_AFTER))
    shape = parts.shapes.shapes["i1"]
    assert shape["driftPending"] is True
    [filed] = shape["driftNotices"]
    assert (filed["path"], filed["kind"], filed["mapped"]) == ("order.email", "missing", True)
    assert parts.notifier.sent == []  # the intake itself never notifies

    parts.observe(NOTIFIED, [{"order": {"mail": "b"}}] * 3)  # later merges
    assert parts.shapes.shapes["i1"]["driftNotices"] == [filed]  # carried over, not doubled

    assert parts.sender.sweep().as_dict() == {"notified": 1, "dropped": 0, "failed": 0}
    assert parts.notifier.sent == [("i1", "source.drift", {"drift": [filed]})]
    assert parts.shapes.shapes["i1"]["driftPending"] is False

    parts.clock.advance(120)
    parts.observe(NOTIFIED, [{"order": {"mail": "c"}}] * DRIFT_AFTER)  # still missing
    assert parts.sender.sweep().notified == 0
    assert len(parts.notifier.sent) == 1  # the same drift is never sent twice


def test_drift_no_mapping_reads_and_integrations_without_notify_file_nothing() -> None:
    quiet = {**NOTIFIED, "id": "i2", "webhookPath": "p-quiet"}
    del quiet["notify"]
    parts = Parts(NOTIFIED, quiet)
    kept = {"order": {"email": "a"}}
    parts.observe(NOTIFIED, [{**kept, "extra": 1}] * 5 + [kept] * DRIFT_AFTER)
    parts.observe(quiet, _renamed(DRIFT_AFTER))
    assert "driftPending" not in parts.shapes.shapes["i1"]  # `extra` is read by no mapping
    assert "driftPending" not in parts.shapes.shapes["i2"]  # nobody to notify
    assert parts.shapes.pending_drift(10) == []
    assert parts.sender.sweep().notified == 0 and parts.notifier.sent == []


def test_one_notification_per_integration_a_minute_the_rest_waits_for_the_next() -> None:
    doc = {**NOTIFIED, "mappings": [{"source": "a", "target": "a"}, {"source": "b", "target": "b"}]}
    parts = Parts(doc)
    parts.clock.now = 1_800_000_000.0  # the start of a minute
    parts.observe(doc, [{"a": 1, "b": 1}] * 5 + [{"b": 1}] * DRIFT_AFTER)
    assert parts.sender.sweep().notified == 1
    parts.observe(doc, [{}] * DRIFT_AFTER)  # b missing too, within the same minute
    assert parts.shapes.shapes["i1"]["driftPending"] is True
    assert parts.sender.sweep().notified == 0  # this minute already had its notification
    assert [d["path"] for d in parts.shapes.shapes["i1"]["driftNotices"]] == ["b"]
    parts.clock.now = 1_800_000_060.0
    assert parts.sender.sweep().notified == 1
    assert [[d["path"] for d in data["drift"]] for _, _, data in parts.notifier.sent] == [
        ["a"], ["b"]]


def test_notices_past_the_bound_are_counted_not_listed() -> None:
    count = MAX_DRIFT_NOTICES + 7
    doc = {**NOTIFIED, "mappings": [{"source": f"f{n}", "target": f"t{n}"} for n in range(count)]}
    parts = Parts(doc)
    full = {f"f{n}": n for n in range(count)}
    parts.observe(doc, [full] * 5 + [{}] * DRIFT_AFTER)
    parts.sender.sweep()
    [(_, _, data)] = parts.notifier.sent
    assert len(data["drift"]) == MAX_DRIFT_NOTICES and data["more"] == 7


def test_drift_of_a_deleted_integration_is_dropped_and_a_failed_send_not_retried() -> None:
    parts = Parts(NOTIFIED)
    parts.observe(NOTIFIED, _renamed(DRIFT_AFTER))
    parts.docs.docs.pop("i1")
    assert parts.sender.sweep().as_dict() == {"notified": 0, "dropped": 1, "failed": 0}
    assert parts.shapes.pending_drift(10) == []

    parts = Parts(NOTIFIED)
    parts.observe(NOTIFIED, _renamed(DRIFT_AFTER))
    parts.notifier.notify = lambda *args: False  # type: ignore[method-assign]
    assert parts.sender.sweep().failed == 1
    parts.clock.advance(60)
    assert parts.sender.sweep().as_dict() == {"notified": 0, "dropped": 0, "failed": 0}


def test_through_the_intake_a_renamed_field_is_one_notification_with_its_path() -> None:
    p = build(NOTIFIED)
    sender = DriftNotices(
        p.shapes, Integrations(p.integrations, ttl_s=0, clock=p.clock), p.notifier,
        clock=p.clock,
    )
    for payload in _renamed(DRIFT_AFTER + 3):
        p.clock.advance(11)  # past the recorder's flush interval: each payload merged
        receipt = p.intake.receive_webhook("p-secret", {}, body(json.dumps(payload).encode()))
        assert receipt.status == "queued"
        sender.sweep()
    sent = [(event, [(d["path"], d["kind"]) for d in data["drift"]])
            for _, event, data in p.notifier.sent]
    assert sent == [("source.drift", [("order.email", "missing")])]
    assert [(i, [d["path"] for d in found]) for i, found in p.drift] == [("i1", ["order.email"])]
