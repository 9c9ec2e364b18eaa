"""JSONata through the running platform: saved through the API (a syntax error is a 400 at
its field), previewed, and run by the worker for webhooks, delivering to a real local HTTP
receiver; a failing and a runaway expression make `error` runs and the next message works."""

from __future__ import annotations

import json
import uuid
from typing import Any

from .conftest import Platform


def _doc(platform: Platform, path: str, expression: str) -> dict[str, Any]:
    return {
        "name": f"jsonata {path}",
        "source": {"type": "webhook"},
        "jsonata": expression,
        "target": {"type": "http", "url": platform.sink.url + path},
        # The longest time limit: a first evaluation in a new isolate on a busy machine.
        "sandbox": {"timeoutMs": 1000},
    }


EXPRESSION = (
    '{"order": data.object.metadata.order_ref, "total": data.object.amount_total / 100,'
    ' "skus": [data.object.lines.sku^($)],'
    ' "email": $lowercase(data.object.email)}'
)
EVENT = {
    "type": "checkout.session.completed",
    "data": {
        "object": {
            "metadata": {"order_ref": "R-1"},
            "amount_total": 1999,
            "email": "Ada@Example.COM",
            "lines": [{"sku": "tea"}, {"sku": "cake"}],
        }
    },
}


def test_an_integration_with_jsonata_delivers_its_output(platform: Platform) -> None:
    path = f"/jsonata-{uuid.uuid4().hex[:8]}"
    broken = platform.api("POST", "/api/integrations/", _doc(platform, path, '{"a": data'))
    assert broken.status_code == 400, broken.text
    assert {
        "path": "jsonata",
        "message": 'S0203: Expected "}" before end of expression (at position 10)',
    } in broken.json()["problems"]

    integration = platform.add(_doc(platform, path, EXPRESSION))
    preview = platform.api(
        "POST", f"/api/integrations/{integration['id']}/preview/", {"payload": EVENT}
    )
    assert preview.status_code == 200, preview.text
    expected = {"order": "R-1", "total": 19.99, "skus": ["cake", "tea"], "email": "ada@example.com"}
    assert preview.json()["output"] == expected

    run = platform.wait(platform.send(integration, EVENT))
    assert run["status"] == "success", run.get("errorMessage")
    [request] = platform.sink.received(path)
    assert json.loads(request["body"]) == expected


def test_failing_and_runaway_expressions_are_error_runs(platform: Platform) -> None:
    path = f"/jsonata-{uuid.uuid4().hex[:8]}"
    expression = 'n = 0 ? $map([1..10000000], function($x) { $x }) : {"n": n, "twice": n * 2}'
    integration = platform.add(_doc(platform, path, expression))

    runaway = platform.wait(platform.send(integration, {"n": 0}))
    assert runaway["status"] == "error"
    assert "limit" in runaway["errorMessage"], runaway["errorMessage"]

    failing = platform.wait(platform.send(integration, {"n": "x"}))
    assert failing["status"] == "error"
    assert "T2001" in failing["errorMessage"] and "position" in failing["errorMessage"]

    after = platform.wait(platform.send(integration, {"n": 4}))
    assert after["status"] == "success", after.get("errorMessage")
    [request] = platform.sink.received(path)
    assert json.loads(request["body"]) == {"n": 4, "twice": 8}
