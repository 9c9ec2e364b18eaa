"""The audit log's Firestore indexes, exemptions and TTL in infra/ match mapper.store's."""

from __future__ import annotations

import itertools

import pytest

from mapper.store import common, indexes, team
from mapper.store.team import AuditStore, KeyStore

from .test_firestore import RecordingClient, Shape, covers, required_index, terraform_indexes
from .tfconfig import load


def audit_queries() -> list[Shape]:
    """Every query shape AuditStore.list can make (and KeyStore.list)."""
    client = RecordingClient()
    audit = AuditStore(client)  # type: ignore[arg-type]
    for integration_id, key_id, since, until, cursor in itertools.product(
        (None, "int-1"), (None, "key-1"), (None, "2026-01-01"), (None, "2026-02-01"), (None, "c")
    ):
        audit.list(
            integration_id=integration_id,
            key_id=key_id,
            since=since,
            until=until,
            cursor=None if cursor is None else common._encode_cursor("2026-01-01", "a1"),
        )
    KeyStore(client).list()  # type: ignore[arg-type]
    return client.log


def test_the_recorder_sees_the_audit_queries() -> None:
    shapes = audit_queries()
    assert any(("actorKeyId", "==") in s.filters for s in shapes)
    assert {s.collection for s in shapes} == {"auditLog", "apiKeys"}


@pytest.mark.parametrize("shape", sorted(set(audit_queries()), key=repr), ids=repr)
def test_every_audit_query_has_an_index(shape: Shape) -> None:
    need = required_index(shape)
    if need is None:
        return
    candidates = terraform_indexes().get(shape.collection, [])
    assert any(covers(index, need) for index in candidates), (
        f"no composite index in infra/firestore.tf serves {shape.collection} {shape.filters}; "
        "add it to mapper.store.indexes.AUDIT_INDEXES and local.composite_indexes"
    )


def test_terraform_audit_indexes_are_the_stores() -> None:
    assert sorted(terraform_indexes().get("auditLog", [])) == sorted(indexes.AUDIT_INDEXES)
    assert "apiKeys" not in terraform_indexes()  # keys are read by id, listed by createdAt


def test_audit_entries_expire_through_their_own_ttl_and_large_fields_are_unindexed() -> None:
    ttl = load().resource("google_firestore_field", "audit_ttl").body
    assert (ttl["collection"], ttl["field"]) == ("auditLog", "expireAt")
    assert ttl["ttl_config"] == [{}] and ttl["index_config"] == [{}]
    assert load().default("audit_retention_days") == team.DEFAULT_AUDIT_RETENTION_DAYS == 365
    exempt = load().resource("google_firestore_field", "audit_unindexed").body
    assert exempt["collection"] == "auditLog" and exempt["index_config"] == [{}]
    listed = {p.strip().strip('"') for p in exempt["for_each"][7:-2].split(",") if p.strip()}
    assert listed == set(indexes.AUDIT_INDEX_EXEMPTIONS)
