"""Versions and rollback through the running api function, against the emulators."""

from __future__ import annotations

import copy
import json

from .conftest import Platform
from .test_api import TOKEN, orders_doc


def test_versions_list_read_and_rollback(platform: Platform) -> None:
    created = platform.add(orders_doc(platform))
    base = f"/api/integrations/{created['id']}"
    changed = copy.deepcopy(created)
    changed["mappings"][1]["transforms"] = [{"type": "uppercase"}]
    changed["target"]["url"] = f"{platform.sink.url}/fulfil-v2"
    replaced = platform.api("PUT", f"{base}/", changed)
    assert replaced.status_code == 200, replaced.text
    assert platform.api("POST", f"{base}/toggle_active/").json()["active"] is False

    listed = platform.api("GET", f"{base}/versions/")
    assert listed.status_code == 200, listed.text
    versions = listed.json()["versions"]
    assert [(v["version"], v["summary"]) for v in versions] == [
        (3, "active changed"),
        (2, "mappings[1].transforms changed; target.url changed"),
        (1, "created"),
    ]
    assert all(v["savedAt"] for v in versions)
    assert listed.json()["nextCursor"] is None
    page = platform.api("GET", f"{base}/versions/?limit=1").json()
    assert [v["version"] for v in page["versions"]] == [3]
    after = platform.api("GET", f"{base}/versions/?limit=5&cursor={page['nextCursor']}").json()
    assert [v["version"] for v in after["versions"]] == [2, 1]

    first = platform.api("GET", f"{base}/versions/1/")
    assert first.status_code == 200, first.text
    shown = first.json()
    assert shown["version"] == 1 and shown["target"]["url"] == f"{platform.sink.url}/fulfil"
    assert shown["target"]["auth"]["token"]["set"] is True
    assert TOKEN not in first.text
    assert platform.api("GET", f"{base}/versions/9/").status_code == 404
    assert platform.api("GET", f"{base}/versions/x/").status_code == 404

    rolled = platform.api("POST", f"{base}/rollback/", {"version": 1})
    assert rolled.status_code == 200, rolled.text
    doc = rolled.json()
    assert doc["version"] == 4 and doc["active"] is True
    assert doc["target"]["url"] == f"{platform.sink.url}/fulfil"
    assert doc["webhookUrl"] == created["webhookUrl"]
    latest = platform.api("GET", f"{base}/versions/?limit=1").json()["versions"][0]
    assert latest["version"] == 4 and latest["summary"].startswith("rollback to version 1: ")
    assert "target.url changed" in latest["summary"]

    # The rolled-back integration delivers as version 1 did, with the (kept) token.
    run_id = platform.send(
        created, {"id": 7, "status": "paid", "customer": {"email": "X@Y.Z", "name": "bo"}}
    )
    run = platform.wait(run_id)
    assert run["status"] == "success" and run["integrationVersion"] == 4, run
    request = platform.sink.received("/fulfil")[-1]
    assert json.loads(request["body"]) == {"orderId": 7, "email": "x@y.z", "name": "BO"}
    assert request["headers"]["Authorization"] == f"Bearer {TOKEN}"


def test_rollback_refuses_bad_requests(platform: Platform) -> None:
    created = platform.add(orders_doc(platform))
    base = f"/api/integrations/{created['id']}"
    assert platform.api("POST", f"{base}/rollback/", {"version": 5}).status_code == 404
    bad = platform.api("POST", f"{base}/rollback/", {"version": "one"})
    assert bad.status_code == 400 and bad.json()["problems"][0]["path"] == "version"
    assert platform.api("POST", "/api/integrations/nope/rollback/", {"version": 1}).status_code \
        == 404
    assert platform.api("GET", "/api/integrations/nope/versions/").status_code == 404


def test_deleting_an_integration_deletes_its_versions(platform: Platform) -> None:
    created = platform.add(orders_doc(platform))
    platform.api("PUT", f"/api/integrations/{created['id']}/", {**created, "name": "two"})
    assert len(platform.integrations.list_versions(created["id"])) == 2
    assert platform.api("DELETE", f"/api/integrations/{created['id']}/").status_code == 204
    assert platform.integrations.list_versions(created["id"]) == []
