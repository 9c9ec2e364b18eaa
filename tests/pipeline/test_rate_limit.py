"""`source.rateLimit`: past `perSecond` requests a second, the intake answers rate_limited
with the seconds to wait, records nothing and queues nothing; other integrations go on."""

from __future__ import annotations

import pytest

from mapper.engine.config import MAX_RATE_PER_SECOND, parse_integration
from mapper.errors import ConfigError
from tests.pipeline.support import HOOK, body, build

LIMITED = {**HOOK, "source": {"type": "webhook", "rateLimit": {"perSecond": 2}}}


def test_past_the_rate_requests_are_refused_with_the_wait() -> None:
    p = build(LIMITED)
    answers = [p.intake.receive_webhook("p-secret", {}, body(b'{"n": 1}')) for _ in range(3)]
    assert [a.status for a in answers] == ["queued", "queued", "rate_limited"]
    assert answers[2].retry_after == 1 and "2 requests a second" in answers[2].reason
    assert len(p.queue.messages) == 2  # the refused one: nothing
    assert p.deliver_all() == ["success", "success"] and len(p.runs.docs) == 2
    p.clock.advance(0.5)  # one more token after half a second at 2 a second
    assert p.intake.receive_webhook("p-secret", {}, body(b"{}")).status == "queued"
    assert p.intake.receive_webhook("p-secret", {}, body(b"{}")).status == "rate_limited"


def test_a_fractional_rate_waits_as_long_as_it_says() -> None:
    p = build({**HOOK, "source": {"type": "webhook", "rateLimit": {"perSecond": 0.2}}})
    assert p.intake.receive_webhook("p-secret", {}, body(b"{}")).status == "queued"
    refused = p.intake.receive_webhook("p-secret", {}, body(b"{}"))
    assert refused.status == "rate_limited" and refused.retry_after == 5
    p.clock.advance(5)
    assert p.intake.receive_webhook("p-secret", {}, body(b"{}")).status == "queued"


def test_without_a_rate_limit_nothing_is_refused() -> None:
    p = build()
    assert all(
        p.intake.receive_webhook("p-secret", {}, body(b"{}")).status == "queued"
        for _ in range(50)
    )


def test_push_sources_are_limited_too() -> None:
    import base64
    import json

    doc = {**HOOK, "pushPath": "push-1", "source": {
        "type": "pubsub", "projectId": "p", "topic": "t", "mode": "push",
        "rateLimit": {"perSecond": 1}}}
    p = build(doc)

    def envelope(n: int) -> bytes:
        data = base64.b64encode(b'{"n": 1}').decode()
        return json.dumps({"message": {"messageId": f"m{n}", "data": data}}).encode()

    assert p.intake.receive_push("push-1", None, body(envelope(1))).status == "queued"
    refused = p.intake.receive_push("push-1", None, body(envelope(2)))
    assert refused.status == "rate_limited" and refused.retry_after == 1


@pytest.mark.parametrize("rate", [0, -1, MAX_RATE_PER_SECOND + 1, "10", True, None])
def test_the_rate_is_a_positive_number_up_to_the_documented_max(rate: object) -> None:
    doc = {**LIMITED, "source": {"type": "webhook", "rateLimit": {"perSecond": rate}}}
    with pytest.raises(ConfigError) as caught:
        parse_integration(doc)
    assert any(p.path.startswith("source.rateLimit") for p in caught.value.problems)


def test_a_valid_rate_is_kept() -> None:
    parsed = parse_integration(LIMITED)
    assert parsed.source.rate_limit.per_second == 2
    assert parse_integration({**LIMITED, "source": {"type": "webhook", "rateLimit": {
        "perSecond": MAX_RATE_PER_SECOND}}}).source.rate_limit.per_second == MAX_RATE_PER_SECOND
