"""The receiver cases' own receiver and counting, over real local HTTP (no emulator)."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
import requests

from faults.receiver_sink import NOTIFY_PATH, ReceiverSink
from faults.receivers import most_in_a_second


@pytest.fixture
def sink() -> Iterator[ReceiverSink]:
    receiver = ReceiverSink()
    yield receiver
    receiver.stop()


def post(url: str, event: str) -> requests.Response:
    session = requests.Session()
    session.trust_env = False
    return session.post(url, json={"orderId": event}, headers={"Idempotency-Key": f"k-{event}"},
                        timeout=10)


def test_a_rate_limited_receiver_admits_its_limit_in_a_second_and_answers_429_past_it(
    sink: ReceiverSink,
) -> None:
    sink.answer_with(200, per_second=3)
    answers = [post(sink.url + "/limited", f"e{i}") for i in range(5)]
    assert [a.status_code for a in answers] == [200, 200, 200, 429, 429]
    assert answers[3].headers["Retry-After"] == "1"
    hits = sink.hits("/limited")
    assert [(h.event, h.key, h.status) for h in hits][:4] == [
        ("e0", "k-e0", 200), ("e1", "k-e1", 200), ("e2", "k-e2", 200), ("e3", "k-e3", 429)]


def test_the_receiver_answers_as_set_and_records_notifications_apart(sink: ReceiverSink) -> None:
    sink.answer_with(503)
    assert post(sink.url + "/down", "a").status_code == 503
    sink.answer_with(200)
    assert post(sink.url + "/down", "a").status_code == 200
    assert [h.status for h in sink.hits("/down")] == [503, 200]
    session = requests.Session()
    session.trust_env = False
    reply = session.post(sink.url + NOTIFY_PATH, data=json.dumps({"type": "delivery.paused"}),
                         headers={"webhook-id": "ntf_1"}, timeout=10)
    assert reply.status_code == 200
    [notice] = sink.notices()
    assert json.loads(notice.body) == {"type": "delivery.paused"}
    assert notice.headers["webhook-id"] == "ntf_1"
    assert sink.hits(NOTIFY_PATH) == []


def test_the_most_arrivals_within_any_second() -> None:
    assert most_in_a_second([]) == 0
    assert most_in_a_second([0.0, 0.5, 0.99, 1.0, 1.5]) == 3  # 0.5, 0.99, 1.0 / 0.99..1.5
    assert most_in_a_second([0.0, 1.0, 2.0]) == 1
    assert most_in_a_second([5.0, 0.1, 0.2]) == 2  # unsorted input
