"""Templated targets through the running platform: the final URL sent and recorded."""

from __future__ import annotations

import json
import uuid

import requests

from .conftest import Platform


def _post(platform: Platform, integration: dict, body: object) -> str:
    reply = requests.post(
        f"{platform.url}/webhook/{integration['webhookPath']}/", json=body, timeout=30
    )
    assert reply.status_code == 202, reply.text
    return reply.json()["runId"]


def test_the_run_records_the_final_url_and_headers_filled_from_the_payload(
    platform: Platform,
) -> None:
    base = f"/tmpl-{uuid.uuid4().hex[:8]}"
    integration = platform.create(
        {
            "name": "templated",
            "source": {"type": "webhook"},
            "mappings": [
                {"source": "order.id", "target": "id"},
                {"source": "order.customer", "target": "customer"},
            ],
            "target": {
                "type": "http",
                "url": platform.sink.url + base + "/customers/{{customer}}/orders?id={{id}}",
                "headers": {"X-Tenant": "t-{{tenant}}"},
            },
        }
    )
    body = {"order": {"id": 7, "customer": "a/b?c"}, "tenant": "acme"}
    run = platform.wait(_post(platform, integration, body))

    assert run["status"] == "success", run.get("errorMessage")
    final = f"{platform.sink.url}{base}/customers/a%2Fb%3Fc/orders?id=7"
    assert run["outgoingRequest"]["url"] == final
    [request] = platform.sink.received(f"{base}/customers/a%2Fb%3Fc/orders")
    assert request["headers"]["X-Tenant"] == "t-acme"
    assert json.loads(request["body"]) == {"id": 7, "customer": "a/b?c"}

    # A value that would climb the path fails the run; nothing is sent.
    climbing = platform.wait(_post(platform, integration, {"order": {"id": 8, "customer": ".."}}))
    assert climbing["status"] == "error"
    assert "climb the path" in climbing["errorMessage"]
    assert len([r for r in platform.sink.requests if r["path"].startswith(base)]) == 1
