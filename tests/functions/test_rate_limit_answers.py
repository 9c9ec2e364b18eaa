"""`source.rateLimit` as the webhook and push functions answer it: 429, Retry-After, JSON."""

from __future__ import annotations

import base64

from tests.functions.conftest import Fakes, client
from tests.pipeline.support import HOOK


def test_webhook_answers_429_with_retry_after_past_the_rate(fakes: Fakes) -> None:
    fakes.integrations.docs["limited"] = {
        **HOOK, "id": "limited", "webhookPath": "limited-path",
        "source": {"type": "webhook", "rateLimit": {"perSecond": 1}},
    }
    web = client("webhook")
    assert web.post("/webhook/limited-path/", json={"n": 1}).status_code == 202
    refused = web.post("/webhook/limited-path/", json={"n": 2})
    assert refused.status_code == 429
    assert refused.headers["Retry-After"] == "1"
    assert refused.headers["X-Content-Type-Options"] == "nosniff"
    assert refused.get_json()["code"] == "rate_limited"
    assert "1 requests a second" in refused.get_json()["error"]
    assert web.post("/webhook/p-secret/", json={"n": 3}).status_code == 202  # others go on


def test_push_answers_429_past_the_rate(fakes: Fakes) -> None:
    fakes.integrations.docs["limited-push"] = {
        **HOOK, "id": "limited-push", "pushPath": "limited-push-path",
        "source": {"type": "pubsub", "projectId": "p", "topic": "t", "mode": "push",
                   "rateLimit": {"perSecond": 1}},
    }
    push = client("pubsub_push")
    data = base64.b64encode(b'{"n": 2}').decode()
    for n, status in ((1, 204), (2, 429)):
        envelope = {"message": {"messageId": f"m{n}", "data": data}, "subscription": "s"}
        reply = push.post("/pubsub/limited-push-path/", json=envelope)
        assert reply.status_code == status
    assert reply.headers["Retry-After"] == "1" and reply.get_json()["code"] == "rate_limited"
