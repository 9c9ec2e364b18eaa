"""A viewer cannot reach an integration's endpoints; what reaches out is in the audit log.

The findings (docs/security.md): a viewer read `webhookUrl` and, by POSTing to it, had real
deliveries made with the stored credentials, though test sends need an editor; test sends
and connection checks left no audit entry.
"""

from __future__ import annotations

from typing import Any

from tests.e2e.conftest import Platform
from tests.e2e.test_team import make_key

ENDPOINTS = {"webhookPath", "webhookUrl", "pushPath", "pushEndpoint"}


def webhook_doc(platform: Platform) -> dict[str, Any]:
    return {
        "name": "reach",
        "source": {"type": "webhook"},
        "samplePayload": {"id": 1},
        "target": {"type": "http", "url": f"{platform.sink.url}/reach",
                   "auth": {"type": "bearer", "token": "reach-token"}},
    }


def test_viewers_do_not_see_the_endpoints(platform: Platform) -> None:
    viewer = make_key(platform, "viewer")["key"]
    editor = make_key(platform, "editor")["key"]
    saved = platform.add(webhook_doc(platform))
    assert saved["webhookUrl"]
    iid = saved["id"]

    seen = platform.api("GET", f"/api/integrations/{iid}/", token=viewer).json()
    assert ENDPOINTS.isdisjoint(seen) and seen["id"] == iid
    listed = platform.api("GET", "/api/integrations/?limit=100", token=viewer).json()
    assert all(ENDPOINTS.isdisjoint(doc) for doc in listed["integrations"])
    version = platform.api("GET", f"/api/integrations/{iid}/versions/1/", token=viewer).json()
    assert ENDPOINTS.isdisjoint(version)

    as_editor = platform.api("GET", f"/api/integrations/{iid}/", token=editor).json()
    assert as_editor["webhookUrl"] == saved["webhookUrl"]


def test_test_sends_and_connection_checks_are_audited(platform: Platform) -> None:
    made = make_key(platform, "editor", "reacher")
    editor = made["key"]
    saved = platform.add(webhook_doc(platform))
    iid = saved["id"]

    sent = platform.api("POST", f"/api/integrations/{iid}/test/", {}, token=editor)
    assert sent.status_code == 202, sent.text
    checked = platform.api(
        "POST", f"/api/integrations/{iid}/validate/", {"checkTarget": True}, token=editor
    )
    assert checked.status_code == 200, checked.text
    unsaved = platform.api(
        "POST", "/api/validate/",
        {"integration": webhook_doc(platform), "checkTarget": True}, token=editor,
    )
    assert unsaved.status_code == 200, unsaved.text
    # Without checkTarget nothing reaches out: nothing to record.
    platform.api("POST", f"/api/integrations/{iid}/validate/", {}, token=editor)

    entries = platform.api("GET", f"/api/audit/?key_id={made['id']}&limit=10").json()["entries"]
    actions = [(e["action"], e["route"]) for e in entries]
    assert actions == [
        ("integration.check_target", "POST /api/validate/"),
        ("integration.check_target", "POST /api/integrations/{id}/validate/"),
        ("integration.send_test", "POST /api/integrations/{id}/test/"),
    ]
    origin = platform.sink.url
    for entry in entries:
        assert entry["actor"] == {"keyId": made["id"], "name": "reacher", "role": "editor"}
        assert entry["details"]["target"] == origin
    assert entries[2]["details"]["result"]["runId"] == sent.json()["runId"]
    assert entries[1]["integrationId"] == iid and entries[0]["integrationId"] is None
