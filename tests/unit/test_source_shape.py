"""The source shape: paths and types folded per payload within bounds, merged across flushes,
and drift (missing, typeChanged, new) after DRIFT_AFTER consecutive payloads."""

from __future__ import annotations

from typing import Any

import pytest

from mapper.engine.config import parse_integration
from mapper.engine.paths import format_steps, parse_path
from mapper.pipeline.shape import (
    ARRAY_ITEMS_SAMPLED,
    DRIFT_AFTER,
    ESTABLISHED_AFTER,
    MAX_PATH_CHARS,
    MAX_SHAPE_DEPTH,
    MAX_SHAPE_PATHS,
    ShapeDelta,
    ShapeRecorder,
    baseline_of,
    drift_of,
    fold,
    is_read,
    merge,
    paths_of,
    read_paths,
    source_schema,
)
from tests.fakes import Clock, FakeSourceShapes
from tests.pipeline.support import HOOK


def _shape(payloads: list[Any], flush_every: int) -> dict[str, Any] | None:
    """The stored shape after folding `payloads`, flushing every `flush_every` of them."""
    stored: dict[str, Any] | None = None
    delta = ShapeDelta()
    for n, payload in enumerate(payloads, 1):
        fold(delta, payload, f"2026-12-07T10:00:{n:02d}.000000Z", baseline_of(stored))
        if n % flush_every == 0:
            stored, delta = merge(stored, delta, "i1"), ShapeDelta()
    if delta.payloads:
        stored = merge(stored, delta, "i1")
    return stored


def test_paths_and_types_with_arrays_as_wildcards() -> None:
    found = paths_of({"a": {"b": 1, "c": [{"d": "x"}, {"d": None}]}, "e": True})
    assert found == {
        "a": {"object"}, "a.b": {"number"}, "a.c": {"array"}, "a.c[*]": {"object"},
        "a.c[*].d": {"string", "null"}, "e": {"boolean"},
    }


def test_keys_that_need_quoting_are_written_as_paths_write_them() -> None:
    # Each path is built from its parent's text: it must read back as the same steps.
    data = {"a.b": {"c": [{'d"e': 1}]}, " x": {"[y]": None}, "": {"z": "s"}, "ü": {"v": []}}
    found = paths_of(data)
    assert found == {
        '["a.b"]': {"object"}, '["a.b"].c': {"array"}, '["a.b"].c[*]': {"object"},
        '["a.b"].c[*]["d\\"e"]': {"number"}, '[" x"]': {"object"},
        '[" x"]["[y]"]': {"null"}, "": {"object"}, "z": {"string"}, "ü": {"object"},
        "ü.v": {"array"},
    }
    for path in found:
        if path:
            assert format_steps(parse_path(path)) == path


def test_bounds_on_depth_paths_array_items_and_path_length() -> None:
    deep: Any = "leaf"
    for _ in range(MAX_SHAPE_DEPTH + 5):
        deep = {"k": deep}
    assert max(len(p.split(".")) for p in paths_of(deep)) == MAX_SHAPE_DEPTH
    wide = {f"f{n}": n for n in range(MAX_SHAPE_PATHS + 50)}
    assert len(paths_of(wide)) == MAX_SHAPE_PATHS
    items = [{f"only{n}": 1} for n in range(ARRAY_ITEMS_SAMPLED + 5)]
    assert f"a[*].only{ARRAY_ITEMS_SAMPLED - 1}" in paths_of({"a": items})
    assert f"a[*].only{ARRAY_ITEMS_SAMPLED}" not in paths_of({"a": items})
    assert paths_of({"x" * (MAX_PATH_CHARS + 1): 1}) == {}


def test_stored_paths_are_bounded_and_the_rest_counted() -> None:
    stored = _shape([{f"f{n}": n for n in range(300)}, {f"g{n}": n for n in range(300)}], 1)
    assert stored is not None
    assert len(stored["paths"]) == MAX_SHAPE_PATHS and stored["truncated"] == 100


def test_a_path_is_missing_after_exactly_drift_after_payloads_lack_it() -> None:
    had = [{"data": {"email": "a@x", "n": 1}}] * 5
    lacking = [{"data": {"mail": "a@x", "n": 1}}]
    assert drift_of(_shape(had + lacking * (DRIFT_AFTER - 1), 1)) == []
    stored = _shape(had + lacking * DRIFT_AFTER, 1)
    assert drift_of(stored) == [
        {"path": "data.email", "kind": "missing", "since": "2026-12-07T10:00:06.000000Z"}
    ]
    # Back again: the count restarts and the drift is gone.
    assert drift_of(_shape(had + lacking * DRIFT_AFTER + had[:1], 1)) == []


@pytest.mark.parametrize("flush_every", [1, 3, 7, 50])
def test_counting_survives_sampling_whatever_the_flush_points(flush_every: int) -> None:
    payloads = [{"a": 1, "b": "x"}] * 5 + [{"b": "x"}] * 19 + [{"a": 1}] + [{"b": "x"}] * 20
    stored = _shape(payloads, flush_every)
    assert [(d["path"], d["kind"]) for d in drift_of(stored)] == [("a", "missing")]
    entry = next(p for p in stored["paths"] if p["path"] == "a")  # type: ignore[index]
    assert entry["misses"] == 20 and entry["missingSince"] == "2026-12-07T10:00:26.000000Z"
    b = next(p for p in stored["paths"] if p["path"] == "b")  # type: ignore[index]
    assert b["misses"] == 0 and b["lastSeen"] == "2026-12-07T10:00:45.000000Z"


# The instance compares types with the established ones it read at its last flush.
@pytest.mark.parametrize("flush_every", [1, 4, ESTABLISHED_AFTER])
def test_a_type_change_is_drift_after_drift_after_payloads_carry_another_type(
    flush_every: int,
) -> None:
    settled = [{"amount": 10}] * ESTABLISHED_AFTER
    changed = [{"amount": "10.00"}]
    assert drift_of(_shape(settled + changed * (DRIFT_AFTER - 1), flush_every)) == []
    stored = _shape(settled + changed * DRIFT_AFTER, flush_every)
    assert drift_of(stored) == [
        {"path": "amount", "kind": "typeChanged", "since": "2026-12-07T10:00:21.000000Z"}
    ]
    assert stored["paths"][0]["types"] == ["number", "string"]  # type: ignore[index]
    # One payload with the old type breaks the run.
    assert drift_of(_shape(settled + changed * 19 + [{"amount": 1}] + changed, 1)) == []


def test_types_seen_while_the_shape_settles_are_not_drift() -> None:
    mixed = [{"v": 1}, {"v": "1"}] * (ESTABLISHED_AFTER // 2) + [{"v": "x"}] * 30
    assert drift_of(_shape(mixed, 5)) == []


def test_a_path_appearing_after_the_shape_settled_is_new() -> None:
    early = [{"a": 1}] * 3 + [{"a": 1, "b": 2}]  # b appears while settling: not new
    stored = _shape(early + [{"a": 1}] * (ESTABLISHED_AFTER - 4) + [{"a": 1, "c": 3}], 1)
    assert drift_of(stored) == [
        {"path": "c", "kind": "new", "since": "2026-12-07T10:00:21.000000Z"}
    ]


def test_read_paths_cover_sources_concat_fields_and_template_placeholders() -> None:
    integration = parse_integration({**HOOK, "mappings": [
        {"source": "data.items[0].sku", "target": "sku"},
        {"target": "name", "transforms": [{"type": "concat", "fields": ["first", "last"]}]},
        {"source": "customer", "target": "line",
         "transforms": [{"type": "template", "template": "{{ email }} <{{id}}>"}]},
    ]})
    assert read_paths(integration) == [
        "customer", "customer.email", "customer.id", "data.items[*].sku", "email", "first",
        "id", "last",
    ]
    reads = read_paths(integration)
    assert is_read("data.items[*].sku", reads) and is_read("data.items", reads)
    assert is_read("customer.address.city", reads)  # inside an object a mapping copies
    assert not is_read("data.total", reads)


def test_the_api_view_flags_drift_a_mapping_reads() -> None:
    stored = _shape([{"a": 1, "b": 1}] * 5 + [{}] * DRIFT_AFTER, 1)
    view = source_schema(stored, ["a"])
    assert [p["path"] for p in view["paths"]] == ["a", "b"]
    assert set(view["paths"][0]) == {"path", "types", "firstSeen", "lastSeen"}
    assert [(d["path"], d["kind"], d["mapped"]) for d in view["drift"]] == [
        ("a", "missing", True), ("b", "missing", False),
    ]
    assert view["payloads"] == 25


def test_the_recorder_writes_a_sample_and_notifies_new_drift_on_read_paths_once() -> None:
    clock, shapes = Clock(), FakeSourceShapes()
    notified: list[tuple[str, list[dict[str, Any]]]] = []
    recorder = ShapeRecorder(
        shapes, flush_seconds=10, flush_events=1000, clock=clock,
        on_drift=lambda i, found: notified.append((str(i.id), found)),
    )
    integration = parse_integration({**HOOK, "mappings": [{"source": "n", "target": "x"}]})
    for _ in range(5):
        recorder.observe(integration, {"n": 1, "m": 1})
    assert shapes.updates == 1  # the first payload at once, the rest held in memory
    for _ in range(DRIFT_AFTER):
        recorder.observe(integration, {"m": 1})
    assert shapes.updates == 1 and notified == []
    clock.advance(10)
    recorder.observe(integration, {"m": 1})
    assert shapes.updates == 2
    assert notified == [("i1", [{"path": "n", "kind": "missing",
                                 "since": clock.iso(-10), "mapped": True}])]
    clock.advance(10)
    recorder.observe(integration, {"m": 1})  # still missing: not notified again
    assert len(notified) == 1 and shapes.shapes["i1"]["payloads"] == 27


def test_the_recorder_flushes_after_flush_events_without_waiting() -> None:
    shapes = FakeSourceShapes()
    recorder = ShapeRecorder(shapes, flush_seconds=3600, flush_events=3, clock=Clock())
    integration = parse_integration(HOOK)
    for _ in range(7):
        recorder.observe(integration, {"n": 1})
    assert shapes.updates == 3 and shapes.shapes["i1"]["payloads"] == 7


def test_a_fan_out_targets_own_mappings_are_read_too() -> None:
    doc = {key: value for key, value in HOOK.items() if key != "target"}
    integration = parse_integration({**doc, "targets": [
        {"type": "http", "url": "https://a.example.com/", "name": "a"},
        {"type": "http", "url": "https://b.example.com/", "name": "b",
         "mappings": [{"source": "customer.email", "target": "to"}]},
    ]})
    assert read_paths(integration) == ["customer.email", "n"]
