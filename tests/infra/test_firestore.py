"""The Firestore indexes in infra/ cover every query the stores make, and match the code."""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any

import pytest

from mapper.store import common, indexes
from mapper.store.integrations import IntegrationStore
from mapper.store.runs import RunStore

from .tfconfig import Expr, load

ASC, DESC = "ASCENDING", "DESCENDING"
_RANGE_OPS = {"<", "<=", ">", ">=", "!=", "not-in"}
_EQUALITY_OPS = {"==", "in", "array-contains", "array-contains-any", "array_contains"}

# Methods of the stores that query a collection, and those that only touch documents by id.
# A new method fails test_every_store_method_is_classified until it is put in one of these
# and, if it queries, exercised in store_queries().
QUERYING = {
    IntegrationStore: {"find_by_field", "list_where", "list", "list_versions", "delete"},
    RunStore: {"list", "count", "stale", "count_stale", "count_matching", "due_retries"},
}
BY_ID = {
    IntegrationStore: {"get", "create", "replace", "update_fields", "get_version"},
    RunStore: {
        "get", "create", "update", "mark", "claim", "finish", "end_unless_leased", "touch",
        "count_republish", "touch_if_unchanged", "claim_redrive", "create_each",
        "reference", "seen",
    },
}


@dataclass(frozen=True)
class Shape:
    """What a query asks of the indexes: its filters and its order, nothing of the values."""

    collection: str
    filters: tuple[tuple[str, str], ...] = ()
    orders: tuple[tuple[str, str], ...] = ()
    log: list[Shape] = field(default_factory=list, compare=False, repr=False)

    # The slice of google.cloud.firestore's query interface the stores use.
    def where(self, *, filter: Any) -> Shape:
        return self._with(filters=self.filters + ((filter.field_path, filter.op_string),))

    def order_by(self, field_path: str, direction: str = ASC) -> Shape:
        return self._with(orders=self.orders + ((str(field_path), direction),))

    def start_after(self, _values: Any) -> Shape:
        return self

    def limit(self, _count: int) -> Shape:
        return self

    def select(self, _fields: Any) -> Shape:
        return self

    def document(self, _id: str) -> Any:
        # A subcollection (integrations/{id}/versions) is queried as a collection of its own.
        return SimpleNamespace(collection=lambda name: Shape(name, log=self.log))

    def stream(self) -> list[Any]:
        self.log.append(self)
        return []

    def count(self, alias: str | None = None) -> Any:
        shape = self

        class _Aggregation:
            def get(self) -> list[list[Any]]:
                shape.log.append(shape)
                return [[SimpleNamespace(value=0)]]

        return _Aggregation()

    def _with(self, **changes: Any) -> Shape:
        values = {"collection": self.collection, "filters": self.filters, "orders": self.orders}
        return Shape(**{**values, **changes}, log=self.log)


class RecordingClient:
    """Stands in for firestore.Client where the stores only build and run queries."""

    def __init__(self) -> None:
        self.log: list[Shape] = []

    def collection(self, name: str) -> Shape:
        return Shape(name, log=self.log)

    def batch(self) -> None:
        raise AssertionError("only queries are recorded here, never writes")


def store_queries() -> list[Shape]:
    """Every query shape the stores can make."""
    client = RecordingClient()
    runs, integrations = RunStore(client), IntegrationStore(client)  # type: ignore[arg-type]
    for integration_id, status, since, until, cursor in itertools.product(
        (None, "int-1"), (None, "error"), (None, "2026-01-01"), (None, "2026-02-01"), (None, "c")
    ):
        runs.list(
            integration_id=integration_id,
            status=status,
            since=since,
            until=until,
            cursor=None if cursor is None else common._encode_cursor("2026-01-01", "r1"),
        )
    for status, since in itertools.product((None, "success"), (None, "2026-01-01")):
        runs.count("int-1", status, since)
    for path in ("webhookPath", "pushPath", "source.mode"):
        integrations.find_by_field(path, "x")
        integrations.list_where(path, "x")
    integrations.list()
    for before in (None, 3):
        integrations.list_versions("int-1", before=before)
    for integration_id, one in itertools.product(
        (None, "int-1"),
        ({"source_kind": "replay"}, {"key": "a.b=1"}, {"statuses": ["error", "retrying"]}),
    ):
        for since, until in ((None, None), ("2026-01-01", "2026-02-01")):
            runs.list(integration_id=integration_id, since=since, until=until, **one)
    for integration_id in (None, "int-1"):
        runs.list(integration_id=integration_id, min_duration_ms=500)
        for since in (None, "2026-01-01"):
            runs.count_matching(integration_id, ["error", "dead_lettered"], since, "2026-02-01")
    for source_type, target_type, active in itertools.product(
        (None, "webhook"), (None, "http"), (None, True)
    ):
        integrations.list(source_type=source_type, target_type=target_type, active=active)
    runs.stale(("queued", "retrying"), 900, 10)
    runs.due_retries("2026-01-01T00:00:00Z", 10)
    runs.count_stale("int-1", ("queued", "retrying"), 900)
    return client.log


def required_index(shape: Shape) -> tuple[frozenset[str], tuple[tuple[str, str], ...]] | None:
    """(equality fields, ordered fields) of the composite index a query needs, or None.

    Firestore orders by the explicit order_by, then by any inequality field not yet ordered
    (ascending), then by __name__ in the direction of the last order. Equality filters
    alone, or one ordered field alone, are served by the automatic single-field indexes.
    A composite index must list the equality fields first, in any order, then the order.
    """
    equality = frozenset(f for f, op in shape.filters if op in _EQUALITY_OPS)
    orders = list(shape.orders)
    for field_path, op in shape.filters:
        if op in _RANGE_OPS and field_path not in {f for f, _ in orders}:
            orders.append((field_path, ASC))
    if orders and orders[-1][0] != "__name__":
        orders.append(("__name__", orders[-1][1]))
    ordered = [f for f, _ in orders if f != "__name__"]
    if not ordered or (not equality and len(ordered) == 1):
        return None
    return equality, tuple(orders)


def terraform_indexes() -> dict[str, list[tuple[tuple[str, str], ...]]]:
    indexes: dict[str, list[tuple[tuple[str, str], ...]]] = {}
    for index in load().locals()["composite_indexes"].values():
        fields = tuple((name, order) for name, order in index["fields"])
        indexes.setdefault(index["collection"], []).append(fields)
    return indexes


def covers(index: tuple[tuple[str, str], ...], need: tuple[frozenset[str], tuple]) -> bool:
    equality, orders = need
    head, tail = index[: len(equality)], index[len(equality) :]
    # Equality fields are ascending; an array_contains field is the index's CONTAINS field.
    ok = all(o in (ASC, "CONTAINS") for _, o in head)
    return {f for f, _ in head} == equality and ok and tail == orders


def test_every_store_method_is_classified() -> None:
    for cls in (IntegrationStore, RunStore):
        public = {name for name in vars(cls) if not name.startswith("_")}
        assert public == QUERYING[cls] | BY_ID[cls], (
            f"{cls.__name__}: classify {public ^ (QUERYING[cls] | BY_ID[cls])} in "
            "tests/infra/test_firestore.py (and exercise it in store_queries if it queries)"
        )


def test_the_recorder_sees_the_run_queries() -> None:
    shapes = store_queries()
    assert any(s.collection == "runs" and ("status", "==") in s.filters for s in shapes)
    assert any(s.collection == "integrations" and s.orders for s in shapes)


@pytest.mark.parametrize("shape", sorted(set(store_queries()), key=repr), ids=repr)
def test_every_query_has_an_index(shape: Shape) -> None:
    need = required_index(shape)
    if need is None:
        return
    candidates = terraform_indexes().get(shape.collection, [])
    assert any(covers(index, need) for index in candidates), (
        f"no composite index in infra/firestore.tf serves {shape.collection} "
        f"{shape.filters} ordered {shape.orders}: it needs equality {sorted(need[0])} then "
        f"{list(need[1])}; add it to mapper.store.indexes.RUN_INDEXES and local.composite_indexes"
    )


def test_terraform_indexes_are_run_indexes() -> None:
    expected = {
        "runs": sorted(indexes.RUN_INDEXES),
        "integrations": sorted(getattr(indexes, "INTEGRATION_INDEXES", ())),
    }
    actual = terraform_indexes()
    assert sorted(actual.get("runs", [])) == expected["runs"]
    assert sorted(actual.get("integrations", [])) == expected["integrations"]


def test_each_index_ends_with_name_in_its_order() -> None:
    for fields in itertools.chain.from_iterable(terraform_indexes().values()):
        assert fields[-1] == ("__name__", fields[-2][1])


def test_index_resource_uses_the_table() -> None:
    index = load().resource("google_firestore_index", "composite").body
    assert index["for_each"] == Expr("local.composite_indexes")
    assert index["query_scope"] == "COLLECTION"
    assert index["database"] == Expr("google_firestore_database.default.name")


def test_large_run_fields_are_exempt_from_indexing() -> None:
    fields = load().locals()["runs_unindexed_fields"]
    assert fields.startswith("toset([") and "])" in fields
    listed = {part.strip().strip('"') for part in fields[7:-2].split(",") if part.strip()}
    assert listed == set(indexes.RUN_INDEX_EXEMPTIONS)
    resource = load().resource("google_firestore_field", "runs_unindexed").body
    assert resource["collection"] == "runs"
    assert resource["index_config"] == [{}]


def test_runs_expire_through_a_ttl_policy() -> None:
    ttl = load().resource("google_firestore_field", "runs_ttl").body
    assert (ttl["collection"], ttl["field"]) == ("runs", "expireAt")
    assert ttl["ttl_config"] == [{}]
    assert ttl["index_config"] == [{}]
    default = load().default("run_retention_days")
    assert default == getattr(common, "DEFAULT_RETENTION_DAYS", 30) == 30


def test_database_is_the_default_native_one_and_is_never_deleted() -> None:
    db = load().resource("google_firestore_database", "default").body
    assert db["name"] == "(default)"  # what firestore.Client(project=...) opens
    assert db["type"] == "FIRESTORE_NATIVE"
    assert db["deletion_policy"] == "ABANDON"
    assert db["delete_protection_state"] == "DELETE_PROTECTION_ENABLED"
    assert db["lifecycle"] == [{"prevent_destroy": True}]


def test_failed_sign_ins_expire_through_a_ttl_policy_on_the_collection_the_store_writes() -> None:
    import inspect

    from mapper.store.team import SignInFailureStore

    ttl = load().resource("google_firestore_field", "sign_in_failures_ttl").body
    collection = inspect.signature(SignInFailureStore).parameters["collection"].default
    assert (ttl["collection"], ttl["field"]) == (collection, "expireAt")
    assert ttl["ttl_config"] == [{}] and ttl["index_config"] == [{}]


def test_notification_windows_expire() -> None:
    import inspect

    from mapper.store.notify import NotifyWindowStore

    ttl = load().resource("google_firestore_field", "notify_windows_ttl").body
    collection = inspect.signature(NotifyWindowStore).parameters["collection"].default
    assert (ttl["collection"], ttl["field"]) == (collection, "expireAt")
    assert ttl["ttl_config"] == [{}] and ttl["index_config"] == [{}]


def test_dedupe_keys_expire_through_a_ttl_policy_on_the_collection_the_store_writes() -> None:
    import inspect

    from mapper.store.shapes import DedupeKeyStore

    ttl = load().resource("google_firestore_field", "dedupe_keys_ttl").body
    collection = inspect.signature(DedupeKeyStore).parameters["collection"].default
    assert (ttl["collection"], ttl["field"]) == (collection, "expireAt")
    assert ttl["ttl_config"] == [{}] and ttl["index_config"] == [{}]


def test_source_shape_paths_are_not_indexed_in_the_collection_the_store_writes() -> None:
    import inspect

    from mapper.store.shapes import SourceShapeStore

    exempt = load().resource("google_firestore_field", "source_shapes_unindexed").body
    collection = inspect.signature(SourceShapeStore).parameters["collection"].default
    assert exempt["collection"] == collection and exempt["index_config"] == [{}]
    listed = {p.strip().strip('"') for p in exempt["for_each"][7:-2].split(",") if p.strip()}
    assert listed == set(indexes.SHAPE_INDEX_EXEMPTIONS)
