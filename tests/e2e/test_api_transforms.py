"""The transform library's golden cases (tests/data/transform_edges) through the API's preview."""

from __future__ import annotations

import json
from pathlib import Path

from .conftest import Platform

CASE = Path(__file__).parents[1] / "data" / "transform_edges"


def test_preview_gives_each_edge_value_what_the_cli_gives(platform: Platform) -> None:
    doc = json.loads((CASE / "integration.json").read_text(encoding="utf-8"))
    doc["target"]["url"] = f"{platform.sink.url}/edges"
    lines = (CASE / "input.ndjson").read_text(encoding="utf-8").splitlines()
    expected = [json.loads(line) for line in (CASE / "expected.ndjson").read_text().splitlines()]
    checked = 0
    for line, want in zip(lines, expected, strict=True):
        try:
            payload = json.loads(line)
        except ValueError:
            continue  # not a payload the API can be sent as JSON
        answer = platform.api("POST", "/api/preview/", {"integration": doc, "payload": payload})
        body = answer.json()
        if "error" in want:
            assert answer.status_code == 422, line
            assert f"{body['path']}: {body['error']}" == want["error"]
        else:
            assert answer.status_code == 200, (line, body)
            assert body["skipped"] is False and body["output"] == want
        checked += 1
    assert checked == len(lines) - 1
    assert not platform.sink.received("/edges")


def test_the_schema_the_ui_reads_offers_every_transform(platform: Platform) -> None:
    document = platform.api("GET", "/api/openapi.json").json()
    union = document["components"]["schemas"]["Mapping"]["properties"]["transforms"]["items"]
    offered = sorted(union["discriminator"]["mapping"])
    assert offered == sorted(
        ["uppercase", "lowercase", "trim", "substring", "replace", "default", "concat", "split",
         "join", "number", "date", "lookup", "hash", "base64", "template", "custom", "jsonata"]
    )
