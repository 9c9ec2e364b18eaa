"""The control plane over fakes: documents stored as the contract says, tests and replays queued."""

from __future__ import annotations

from pathlib import Path

import pytest

from mapper.admin import Admin, AdminStores, Site
from mapper.errors import ConfigError, ConflictError, NotFoundError
from mapper.secrets import LocalSecretBackend
from mapper.targets.egress import EgressPolicy
from tests.fakes import FakePullState
from tests.pipeline.support import build

NEW = {
    "name": "orders",
    "source": {"type": "webhook"},
    "mappings": [{"source": "n", "target": "number"}],
    "target": {"type": "http", "url": "https://hooks.example.com/x",
               "auth": {"type": "bearer", "token": "tok-123"}},
}


@pytest.fixture
def setup(tmp_path: Path):  # noqa: ANN201 - test fixture
    p = build()
    p.integrations.docs.clear()
    backend = LocalSecretBackend(str(tmp_path / "secrets.json"))
    stores = AdminStores(p.integrations, p.runs, FakePullState(), backend, EgressPolicy())
    ids = iter(f"id{n}" for n in range(100))
    admin = Admin(stores, p.intake, Site("https://m.test", "https://m.test"),
                  new_id=lambda: next(ids))
    return p, admin, backend


def test_create_assigns_paths_and_moves_secrets_out(setup) -> None:  # noqa: ANN001
    p, admin, backend = setup
    shown = admin.create_integration(NEW)
    assert shown["id"] == "id0" and len(shown["webhookPath"]) >= 22
    assert shown["webhookUrl"] == f"https://m.test/webhook/{shown['webhookPath']}/"
    assert shown["target"]["auth"]["token"]["set"] is True
    stored = p.integrations.docs["id0"]
    assert "tok-123" not in str(stored)
    assert backend.resolve(stored["target"]["auth"]["token"]["secret"]) == "tok-123"


def test_invalid_documents_are_refused_with_every_problem(setup) -> None:  # noqa: ANN001
    _, admin, _ = setup
    with pytest.raises(ConfigError) as info:
        admin.create_integration({"name": "", "source": {"type": "webhook"}})
    paths = {problem.path for problem in info.value.problems}
    assert {"name", "target"} <= paths


def test_replace_refuses_a_stale_version_and_toggle_flips(setup) -> None:  # noqa: ANN001
    _, admin, _ = setup
    shown = admin.create_integration(NEW)
    with pytest.raises(ConflictError):
        admin.replace_integration("id0", {**NEW, "version": 7})
    again = admin.replace_integration("id0", {**NEW, "name": "renamed", "version": 1})
    assert again["name"] == "renamed" and again["webhookPath"] == shown["webhookPath"]
    assert admin.toggle_active("id0")["active"] is False


def test_send_test_and_replay_queue_real_runs(setup) -> None:  # noqa: ANN001
    p, admin, _ = setup
    admin.create_integration({**NEW, "samplePayload": {"n": 4}})
    queued = admin.send_test("id0")
    assert p.runs.get(queued["runId"])["sourceKind"] == "test"
    assert p.deliver_all() == ["success"]
    replay = admin.replay(queued["runId"])
    assert replay["replayOf"] == queued["runId"] and replay["runId"] != queued["runId"]
    assert p.deliver_all() == ["success"]
    assert len(p.target.sent) == 2


def test_a_replay_sends_the_same_event_once(setup) -> None:  # noqa: ANN001
    p, admin, _ = setup
    admin.create_integration({**NEW, "samplePayload": {"n": 4}})
    first = admin.send_test("id0")["runId"]
    with pytest.raises(ConflictError, match="queued: the platform is still delivering it"):
        admin.replay(first)  # in flight: not replayed
    p.deliver_all()
    replay = admin.replay(first)
    with pytest.raises(ConflictError, match=f"already resent as run {replay['runId']}"):
        admin.replay(first)  # a second click
    assert p.deliver_all() == ["success"]
    again = admin.replay(replay["runId"])  # the replay's own replay: still the same event
    assert p.deliver_all() == ["success"]
    assert p.runs.get(again["runId"])["originalRunId"] == first
    assert [s["runId"] for s in p.target.sent] == [first] * 3  # the receiver's key


def test_stats_count_runs_in_flight_and_stuck(setup) -> None:  # noqa: ANN001
    p, admin, _ = setup
    admin.create_integration({**NEW, "samplePayload": {"n": 4}})
    admin.send_test("id0")
    stats = admin.stats("id0", "2000-01-01T00:00:00Z")
    assert (stats["inFlight"], stats["stuck"]) == (1, 0)
    p.clock.advance(1000)
    assert admin.stats("id0", "2000-01-01T00:00:00Z")["stuck"] == 1


def test_delete_removes_it_and_its_secrets(setup) -> None:  # noqa: ANN001
    p, admin, backend = setup
    admin.create_integration(NEW)
    ref = p.integrations.docs["id0"]["target"]["auth"]["token"]["secret"]
    admin.delete_integration("id0")
    with pytest.raises(NotFoundError):
        admin.get_integration("id0")
    with pytest.raises(Exception):  # noqa: B017 - the backend's own not-found
        backend.resolve(ref)


def test_preview_of_a_fan_out_shows_each_target_s_output(setup) -> None:  # noqa: ANN001
    _, admin, _ = setup
    doc = {
        "name": "fan", "source": {"type": "webhook"},
        "mappings": [{"source": "n", "target": "number"}],
        "targets": [
            {"type": "http", "name": "crm", "url": "https://crm.example.com/in"},
            {"type": "http", "name": "ops", "url": "https://ops.example.com/in",
             "condition": "data.n > 5"},
            {"type": "http", "name": "bi", "url": "https://bi.example.com/in",
             "mappings": [{"source": "n", "target": "count"}]},
        ],
    }
    result = admin.preview(doc, {"n": 2})
    assert result["output"] == {"number": 2}
    shown = {t["name"]: (t["skipped"], t["output"]) for t in result["targets"]}
    assert shown == {"crm": (False, {"number": 2}), "ops": (True, None),
                     "bi": (False, {"count": 2})}


def test_a_fan_out_is_created_with_its_targets_secrets_stored(setup) -> None:  # noqa: ANN001
    _, admin, backend = setup
    created = admin.create_integration({
        "name": "fan", "source": {"type": "webhook"},
        "targets": [
            {"type": "http", "name": "target-1", "url": "https://a.example.com/",
             "auth": {"type": "bearer", "token": "tok-a"}},
            {"type": "http", "name": "ops", "url": "https://b.example.com/", "headers": {}},
        ],
    })
    assert [t["name"] for t in created["targets"]] == ["target-1", "ops"]
    assert created["targets"][0]["auth"]["token"]["set"] is True
    ref = admin.get_integration(created["id"])["targets"][0]["auth"]["token"]["secret"]
    assert backend.resolve(ref) == "tok-a"


def test_a_notify_url_gets_its_own_key_shown_once_unless_the_target_signs(  # noqa: ANN001
    setup,
) -> None:
    p, admin, backend = setup
    notify = {"url": "https://ops.example.com/hooks", "email": "ops@example.com"}
    shown = admin.create_integration({**NEW, "notify": notify})
    key = shown["newNotifySecret"]
    assert key.startswith("whsec_")
    assert shown["notify"]["secret"]["set"] is True and key not in str(shown["notify"])
    stored = p.integrations.docs["id0"]
    assert key not in str(stored)
    assert backend.resolve(stored["notify"]["secret"]["secret"]) == key
    again = admin.get_integration("id0")
    assert "newNotifySecret" not in again and key not in str(again)

    # Saved back as read: the key is kept, and not shown again.
    kept = admin.replace_integration("id0", again)
    assert "newNotifySecret" not in kept
    assert kept["notify"]["secret"]["secret"] == again["notify"]["secret"]["secret"]

    signing = {**NEW["target"], "signing": {}}
    signed = admin.create_integration({**NEW, "target": signing, "notify": notify})
    assert "newNotifySecret" not in signed and "secret" not in signed["notify"]
    mailed = admin.create_integration({**NEW, "notify": {"email": "ops@example.com"}})
    assert "newNotifySecret" not in mailed


def test_notify_is_validated_at_the_edge(setup) -> None:  # noqa: ANN001
    _, admin, _ = setup
    with pytest.raises(ConfigError) as refused:
        admin.create_integration(
            {**NEW, "notify": {"url": "http://169.254.169.254/x", "email": "not an address"}}
        )
    paths = {p.path for p in refused.value.problems}
    assert paths == {"notify.url", "notify.email"}
    with pytest.raises(ConfigError):
        admin.create_integration({**NEW, "notify": {}})
    with pytest.raises(ConfigError):
        admin.create_integration({**NEW, "notify": {"url": "https://me:pw@ops.example.com/"}})
    with pytest.raises(ConfigError, match="placeholders"):
        admin.create_integration({**NEW, "notify": {"url": "https://ops.example.com/{{id}}"}})
