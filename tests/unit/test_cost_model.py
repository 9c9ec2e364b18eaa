"""The cost arithmetic of `make cost` on inputs small enough to check by hand."""

from __future__ import annotations

import dataclasses
import datetime
import importlib

import pytest

from bench import cost_model as cm
from bench import firestore_size as fs

NOTHING = cm.PerEvent(
    firestore_reads=0, firestore_writes=0, firestore_deletes=0, stored_bytes=0,
    pubsub_bytes=0, run_requests=0, run_vcpu_s=0, run_gib_s=0, logging_bytes=0,
    tasks_operations=0,
)


def test_pubsub_bills_at_least_1000_bytes_a_request() -> None:
    assert cm.pubsub_billed_bytes(10) == 1000
    assert cm.pubsub_billed_bytes(1000) == 1000
    assert cm.pubsub_billed_bytes(2500) == 2500


def test_a_message_is_its_data_attributes_id_key_and_20_bytes() -> None:
    assert cm.pubsub_message_bytes(100, {"a": "bc", "é": "x"}, "12345", "k") == (
        100 + (1 + 2) + (2 + 1) + 5 + 1 + 20
    )


def test_instance_time_is_rounded_up_to_100_ms() -> None:
    assert cm.billed_instance_seconds(0.001) == pytest.approx(0.1)
    assert cm.billed_instance_seconds(0.1) == pytest.approx(0.1)
    assert cm.billed_instance_seconds(0.1001) == pytest.approx(0.2)
    assert cm.billed_instance_seconds(0.25) == pytest.approx(0.3)


def test_per_million_is_prices_times_counts_without_free_tiers() -> None:
    one = dataclasses.replace(
        NOTHING, firestore_reads=1, firestore_writes=3, firestore_deletes=1,
        pubsub_bytes=2 * 1024**4 / 1e6,  # 2 TiB a million events
        run_requests=2, run_vcpu_s=0.1, run_gib_s=0.05, logging_bytes=1024**3 / 1e6,
        tasks_operations=2, stored_bytes=1024**3 / 1e6,  # 1 GiB held a month
    )
    dollars = cm.per_million(one)
    assert dollars == pytest.approx({
        "firestore_reads": 0.30,  # 1e6 / 1e5 x $0.03
        "firestore_writes": 2.70,  # 3e6 / 1e5 x $0.09
        "firestore_deletes": 0.10,
        "firestore_storage": 0.15,
        "pubsub_bytes": 80.0,  # 2 TiB x $40
        "run_requests": 0.80,
        "run_vcpu_s": 2.40,  # 1e5 vCPU-s x $0.000024
        "run_gib_s": 0.125,  # 5e4 GiB-s x $0.0000025
        "logging_bytes": 0.50,
        "tasks_operations": 0.80,
    })


def test_a_month_subtracts_the_free_tiers() -> None:
    rate = 1.0  # 2,592,000 events in 30 days
    one = dataclasses.replace(NOTHING, firestore_writes=1, firestore_reads=0.5,
                              run_requests=1, logging_bytes=1000)
    month = cm.monthly(one, rate)
    assert month["firestore_writes"] == pytest.approx((2_592_000 - 600_000) / 1e5 * 0.09)
    assert month["firestore_reads"] == 0  # 1,296,000 reads, under 50,000 a day
    assert month["run_requests"] == pytest.approx((2_592_000 - 2e6) / 1e6 * 0.40)
    assert month["logging_bytes"] == 0  # 2.4 GiB, under 50 GiB


def test_storage_holds_a_month_of_runs_less_the_free_gib() -> None:
    one = dataclasses.replace(NOTHING, stored_bytes=1024)
    events = 10 * cm.MONTH_S
    assert cm.monthly(one, 10)["firestore_storage"] == pytest.approx(
        (1024 * events - 1024**3) / 1024**3 * 0.15
    )


# Firestore's documented example: users/jeff/tasks/my_task_id.
TASK_PATH = ["users", "jeff", "tasks", "my_task_id"]
TASK = {"type": "Personal", "done": False, "priority": 1, "description": "Learn Cloud Firestore"}


def test_document_size_follows_firestores_example() -> None:
    assert fs.name_size(TASK_PATH) == 44
    assert fs.fields_size(TASK) == 71
    assert fs.document_size(TASK_PATH, TASK) == 147


def test_value_sizes_by_type() -> None:
    when = datetime.datetime(2026, 12, 7, tzinfo=datetime.UTC)
    assert fs.value_size(None) == 1
    assert fs.value_size(True) == 1
    assert fs.value_size(1.5) == 8
    assert fs.value_size(when) == 8
    assert fs.value_size(b"abc") == 3
    assert fs.value_size(["ab", 1]) == 3 + 8
    assert fs.value_size({"a": "b"}) == 2 + 2
    with pytest.raises(TypeError):
        fs.value_size(object())


def test_index_entries_two_per_field_one_per_array_element_none_when_exempt() -> None:
    # done: ascending and descending, each name 44 + "done" 5 + false 1 + 32.
    assert fs.single_field_index_size(TASK_PATH, {"done": False}) == 2 * (44 + 5 + 1 + 32)
    # tags: one array-contains entry per distinct element.
    assert fs.single_field_index_size(TASK_PATH, {"tags": ["a", "a", "b"]}) == 2 * (
        44 + 5 + 2 + 32
    )
    # a map's subfields are indexed under their path.
    assert fs.single_field_index_size(TASK_PATH, {"m": {"x": 1}}) == 2 * (44 + 4 + 8 + 32)
    assert fs.single_field_index_size(TASK_PATH, TASK, exempt=TASK) == 0
    assert fs.single_field_index_size(TASK_PATH, {"s": "x" * 5000}) == 2 * (
        44 + 2 + 1501 + 32
    )


def test_composite_index_entries() -> None:
    index = (("type", "ASCENDING"), ("priority", "DESCENDING"), ("__name__", "DESCENDING"))
    assert fs.composite_index_size(TASK_PATH, TASK, [index]) == 44 + 32 + 9 + 8
    missing = (("type", "ASCENDING"), ("absent", "ASCENDING"))
    assert fs.composite_index_size(TASK_PATH, TASK, [missing]) == 0
    tags = (("tags", "CONTAINS"), ("priority", "ASCENDING"))
    doc = {**TASK, "tags": ["a", "bb"]}
    assert fs.composite_index_size(TASK_PATH, doc, [tags]) == (44 + 32 + 8 + 2) + (
        44 + 32 + 8 + 3
    )


@pytest.fixture
def cost(monkeypatch: pytest.MonkeyPatch):  # the bench script, importable as it runs
    monkeypatch.syspath_prepend(str(cm.__file__).rsplit("/", 1)[0])
    return importlib.import_module("cost")


def test_function_sizes_are_read_from_terraform(cost) -> None:
    sizes = cost.allocations()
    assert sizes["webhook"] == cost.Allocation("1", 0.5, 80)
    assert sizes["worker"] == cost.Allocation("1", 1.0, 32)
    assert sizes["dead_letter"] == cost.Allocation("1", 0.5, 8)


def test_a_high_rate_bills_what_the_autoscaler_keeps_for_cpu_or_requests() -> None:
    # CPU-bound: 6 CPU seconds at a 60 % target on 1 vCPU need 10 instance seconds.
    assert cm.autoscaled_instance_seconds(6.0, 48.0, 1.0, 8) == pytest.approx(10.0)
    # Request-bound: 96 s of requests in flight over 8 slots at 60 % need 20.
    assert cm.autoscaled_instance_seconds(6.0, 96.0, 1.0, 8) == pytest.approx(20.0)
    # Two vCPUs halve the CPU driver's instances.
    assert cm.autoscaled_instance_seconds(6.0, 0.0, 2.0, 80) == pytest.approx(5.0)


def test_the_high_rate_prices_each_function_by_the_autoscaler_rule(cost) -> None:
    one = {"invocations": 100, "cpu_s": 1.2, "duration_s": 9.6, "busy_s": 50.0,
           "rounded_s": 30.0, "cpu": "1", "memory_gib": 1.0, "concurrency": 8}
    measured = {"events": 100, "stored": {"runs": 100, "document_bytes": 0, "index_bytes": 0},
                "functions": {"webhook": dict(one), "worker": dict(one),
                              "dead_letter": {"cpu": "1", "memory_gib": 0.5}}}
    high = cost.per_event(measured, "high")
    low = cost.per_event(measured, "low")
    # Each function: max(1.2 / 0.6, 9.6 / (8 * 0.6)) = 2 s for 100 events, whatever busy_s says.
    assert high.run_vcpu_s == pytest.approx(2 * 2.0 / 100)
    assert high.run_gib_s == pytest.approx(2 * 2.0 / 100)
    assert low.run_vcpu_s == pytest.approx(2 * 30.0 / 100)  # each request alone, rounded


def test_the_receivers_rule_is_seeded_and_near_its_shares(cost) -> None:
    kinds = [cost.event_class(7, n) for n in range(10_000)]
    assert kinds == [cost.event_class(7, n) for n in range(10_000)]
    assert 0.005 < kinds.count("dead") / 10_000 < 0.015
    assert 0.085 < kinds.count("failing_once") / 10_000 < 0.115
    assert cost.event_class(7, -1) == "healthy"  # warm-up events always succeed


def test_write_docs_replaces_only_the_marked_block(cost, tmp_path) -> None:
    doc = tmp_path / "deploy.md"
    doc.write_text("before\n<!-- cost:begin -->\nold\n<!-- cost:end -->\nafter\n")
    cost.write_docs("new table", doc)
    assert doc.read_text() == "before\n<!-- cost:begin -->\nnew table\n<!-- cost:end -->\nafter\n"
    doc.write_text("no markers\n")
    with pytest.raises(SystemExit):
        cost.write_docs("x", doc)
