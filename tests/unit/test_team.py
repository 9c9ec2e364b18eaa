"""API keys, sign-in and the audit diff, over in-memory fakes (mapper.keys, access, audit)."""

from __future__ import annotations

import json
import logging

import pytest

from mapper.access import Access, FailureLimiter, Refusal, client_address
from mapper.audit import SECRET, AuditLog, changes
from mapper.errors import ConfigError, NotFoundError, StoreError
from mapper.keys import BOOTSTRAP, KEY_CACHE_SECONDS, Keys, allows, digest, parse_key
from tests.fakes import Clock, FakeAuditStore, FakeKeyStore


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def store() -> FakeKeyStore:
    return FakeKeyStore()


@pytest.fixture
def keys(store: FakeKeyStore, clock: Clock) -> Keys:
    return Keys(store, clock=clock)


def test_a_key_is_shown_once_and_only_its_salted_hash_is_stored(
    keys: Keys, store: FakeKeyStore
) -> None:
    shown, key = keys.create("ci", "editor", None, BOOTSTRAP)
    key_id, secret = parse_key(key)  # type: ignore[misc]
    assert key.startswith("mk_") and len(secret) == 43  # 32 bytes, URL-safe base64
    assert shown["id"] == key_id and shown["prefix"] == f"mk_{key_id}"
    assert "key" not in shown and "hash" not in shown and "salt" not in shown
    record = store.records[key_id]
    assert secret not in json.dumps(record) and key not in json.dumps(record)
    assert record["hash"] == digest(record["salt"], secret)
    other, _ = keys.create("ci", "editor", None, BOOTSTRAP)
    assert store.records[other["id"]]["salt"] != record["salt"]
    assert keys.verify(key).role == "editor"  # type: ignore[union-attr]


def test_wrong_malformed_and_unknown_keys_are_refused(keys: Keys) -> None:
    _, key = keys.create("ci", "viewer", None, BOOTSTRAP)
    key_id, secret = parse_key(key)  # type: ignore[misc]
    flipped = secret[:-1] + ("A" if secret[-1] != "A" else "B")
    assert keys.verify(f"mk_{key_id}_{flipped}") is None
    assert keys.verify(f"mk_{'0' * 16}_{secret}") is None
    assert keys.verify(key[:-1]) is None
    assert keys.verify("mk_") is None
    assert keys.verify(key) is not None


def test_an_expired_key_is_refused_even_from_the_cache(keys: Keys, clock: Clock) -> None:
    _, key = keys.create("temp", "viewer", clock.iso(30), BOOTSTRAP)
    assert keys.verify(key) is not None
    clock.advance(31)
    assert keys.verify(key) is None


def test_creation_refuses_bad_names_roles_and_past_expiry(keys: Keys, clock: Clock) -> None:
    with pytest.raises(ConfigError) as caught:
        keys.create(" ", "owner", clock.iso(-1), BOOTSTRAP)
    assert {p.path for p in caught.value.problems} == {"name", "role", "expiresAt"}


def test_revocation_is_immediate_here_and_within_the_bound_elsewhere(
    store: FakeKeyStore, clock: Clock
) -> None:
    here, elsewhere = Keys(store, clock=clock), Keys(store, clock=clock)
    shown, key = here.create("ci", "admin", None, BOOTSTRAP)
    assert here.verify(key) is not None and elsewhere.verify(key) is not None
    here.revoke(shown["id"])
    assert here.verify(key) is None  # this instance forgets it at once
    assert elsewhere.verify(key) is not None  # another still has it cached ...
    clock.advance(KEY_CACHE_SECONDS)
    assert elsewhere.verify(key) is None  # ... for at most KEY_CACHE_SECONDS
    with pytest.raises(NotFoundError):
        here.revoke(shown["id"])


def test_a_cached_key_costs_no_read_and_last_used_is_written_once_a_minute(
    keys: Keys, store: FakeKeyStore, clock: Clock
) -> None:
    _, key = keys.create("ci", "viewer", None, BOOTSTRAP)
    for _ in range(5):
        assert keys.verify(key) is not None
    assert store.reads == 1 and len(store.touches) == 1
    for _ in range(30):
        clock.advance(2)
        keys.verify(key)
    assert len(store.touches) == 2  # one more after 60 s, not one per request
    assert store.reads == 7  # the cache was refreshed every 10 s


def test_roles_are_ordered() -> None:
    assert allows("admin", "editor") and allows("editor", "viewer") and allows("viewer", "viewer")
    assert not allows("viewer", "editor") and not allows("editor", "admin")
    assert not allows("owner", "viewer")


def test_failures_are_limited_per_address_within_the_window(
    keys: Keys, clock: Clock, caplog: pytest.LogCaptureFixture
) -> None:
    access = Access(keys, FailureLimiter(3, 60, clock=clock))
    bad = "mk_0123456789abcdef_" + "x" * 43
    for _ in range(3):
        refused = access.authenticate(f"Bearer {bad}", "203.0.113.7", "boot", "GET /api/")
        assert isinstance(refused, Refusal) and refused.status == 401
    limited = access.authenticate("Bearer boot", "203.0.113.7", "boot", "GET /api/")
    assert isinstance(limited, Refusal) and limited.status == 429
    assert 1 <= int(limited.headers["Retry-After"]) <= 60
    assert access.authenticate("Bearer boot", "198.51.100.1", "boot", "GET /api/") is BOOTSTRAP
    clock.advance(61)
    assert access.authenticate("Bearer boot", "203.0.113.7", "boot", "GET /api/") is BOOTSTRAP
    # Nothing presented is no guess: not counted.
    for _ in range(5):
        assert access.authenticate("", "192.0.2.9", "boot", "GET /api/").status == 401  # type: ignore[union-attr]
    assert access.authenticate("Bearer boot", "192.0.2.9", "boot", "GET /api/") is BOOTSTRAP
    assert bad not in caplog.text and "x" * 43 not in caplog.text
    assert "mk_0123456789abcdef" in caplog.text  # the id, which lists show anyway


def test_a_valid_key_works_from_a_limited_address_and_a_wrong_one_is_still_limited(
    keys: Keys, clock: Clock
) -> None:
    # A shared address (NAT): a stranger's guesses must not lock out the valid keys behind it.
    access = Access(keys, FailureLimiter(3, 60, clock=clock))
    _, key = keys.create("ci", "viewer", None, BOOTSTRAP)
    guess = key[:-4] + ("AAAA" if not key.endswith("AAAA") else "BBBB")
    for _ in range(3):
        access.authenticate(f"Bearer {guess}", "203.0.113.7", "boot", "GET /api/")
    principal = access.authenticate(f"Bearer {key}", "203.0.113.7", "boot", "GET /api/")
    assert not isinstance(principal, Refusal) and principal.role == "viewer"
    wrong = access.authenticate(f"Bearer {guess}", "203.0.113.7", "boot", "GET /api/")
    assert isinstance(wrong, Refusal) and wrong.status == 429  # guessing stays slowed
    # The admin token, whose strength the operator chose, stays behind the limit.
    boot = access.authenticate("Bearer boot", "203.0.113.7", "boot", "GET /api/")
    assert isinstance(boot, Refusal) and boot.status == 429


class UnreachableCount:
    """A shared failure count whose database cannot be reached."""

    def add(self, address: str, window: int) -> None:
        raise StoreError("firestore is down")

    def count(self, address: str, windows: object) -> int:
        raise StoreError("firestore is down")


def test_without_the_shared_count_sign_in_goes_on_and_this_instance_still_limits(
    keys: Keys, clock: Clock
) -> None:
    access = Access(keys, FailureLimiter(2, 60, clock=clock, shared=UnreachableCount()))
    assert access.authenticate("Bearer wrong", "203.0.113.7", "boot", "GET /api/").status == 401  # type: ignore[union-attr]
    assert access.authenticate("Bearer boot", "203.0.113.7", "boot", "GET /api/") is BOOTSTRAP
    access.authenticate("Bearer wrong", "203.0.113.7", "boot", "GET /api/")
    limited = access.authenticate("Bearer boot", "203.0.113.7", "boot", "GET /api/")
    assert isinstance(limited, Refusal) and limited.status == 429


def test_the_client_address_is_the_entry_googles_front_end_appended() -> None:
    assert client_address("10.0.0.1", "6.6.6.6, 203.0.113.7", 1) == "203.0.113.7"
    assert client_address("10.0.0.1", "6.6.6.6, 203.0.113.7, 10.1.1.1", 2) == "203.0.113.7"
    assert client_address("10.0.0.1", None, 1) == "10.0.0.1"
    assert client_address("10.0.0.1", "203.0.113.7", 0) == "10.0.0.1"


# --- the audit diff -------------------------------------------------------------------------

BEFORE = {
    "id": "i1",
    "name": "Orders",
    "version": 1,
    "updatedAt": "t1",
    "webhookUrl": "https://x/webhook/p/",
    "target": {
        "type": "http",
        "url": "https://a.example/",
        "auth": {
            "type": "bearer",
            "token": {"secret": "mapper-i1-target-auth-token-1", "set": True},
        },
    },
}


def test_the_diff_shows_what_changed_and_never_a_secret_or_its_reference() -> None:
    after = json.loads(json.dumps(BEFORE))
    after.update(version=2, updatedAt="t2", name="Orders v2", newSigningSecret="whsec_abc")
    after["target"]["url"] = "https://b.example/"
    after["target"]["auth"]["token"] = {"secret": "mapper-i1-target-auth-token-2", "set": True}
    found = changes(BEFORE, after)
    assert {(c["path"], c["op"]) for c in found} == {
        ("name", "change"),
        ("version", "change"),
        ("target.url", "change"),
        ("target.auth.token", "change"),  # replaced: shown as changed, both sides hidden
    }
    token = next(c for c in found if c["path"] == "target.auth.token")
    assert token["old"] == token["new"] == SECRET
    text = json.dumps(found)
    assert "mapper-i1" not in text and "whsec_" not in text


def test_a_created_or_deleted_document_lists_its_fields_with_secrets_hidden() -> None:
    created = changes(None, BEFORE)
    assert {c["op"] for c in created} == {"add"}
    assert {c["path"] for c in created} == {"id", "name", "version", "target"}
    assert created[-1]["new"]["auth"]["token"] == SECRET
    deleted = changes(BEFORE, None)
    assert {c["op"] for c in deleted} == {"remove"}
    assert "mapper-i1" not in json.dumps(created + deleted)


def test_a_plain_secret_value_anywhere_is_hidden() -> None:
    doc = {"target": {"auth": {"type": "bearer", "token": "plain-s3cret"}}, "x": {"set": True}}
    text = json.dumps(changes(None, doc))
    assert "plain-s3cret" not in text and SECRET in text


def test_the_log_records_the_actor_and_survives_a_store_failure(
    caplog: pytest.LogCaptureFixture,
) -> None:
    store = FakeAuditStore()
    log = AuditLog(store)
    entry = log.record(BOOTSTRAP, "integration.delete", "DELETE /api/integrations/{id}/",
                       ("integration", "i1"), before=BEFORE, integration_id="i1")
    assert entry is not None and entry["actor"] == {
        "keyId": None, "name": "bootstrap admin token", "role": "admin"
    }
    [listed], _ = log.list(integration_id="i1")
    assert listed == entry

    def broken(entry: dict) -> dict:
        raise RuntimeError("store down")

    store.add = broken  # type: ignore[method-assign]
    with caplog.at_level(logging.ERROR):
        assert log.record(BOOTSTRAP, "integration.toggle", "POST /x", ("integration", "i1"),
                          before=BEFORE, after=BEFORE) is None
    assert "audit entry not stored" in caplog.text and "mapper-i1" not in caplog.text
