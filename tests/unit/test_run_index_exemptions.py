"""Run fields exempt from single-field indexing are fields no query of the run store reads alone.

An exemption saves index storage on every run (docs/deploy.md, `make cost`), and breaks any
query that needs the field's single-field index: so each field a run query names is either
indexed, or read only through the composite indexes (RUN_INDEXES) that name it.
"""

from __future__ import annotations

import re
from pathlib import Path

from mapper.store import indexes

STORE = Path(indexes.__file__).parent
# Fields whose every query also filters on another field, through a composite index.
COMPOSITE_ONLY = {"updatedAt"}


def queried_fields() -> set[str]:
    source = "\n".join(path.read_text() for path in (STORE / "runs.py", STORE / "common.py"))
    named = re.findall(r'FieldFilter\(\s*"(\w+)"', source)
    ordered = re.findall(r'order_by\(\s*"(\w+)"', source)
    return set(named) | set(ordered)


def test_the_store_queries_are_found() -> None:
    assert {"status", "integrationId", "createdAt", "nextAttemptAt"} <= queried_fields()


def test_no_exempted_field_is_read_by_a_single_field_query() -> None:
    exempted = set(indexes.RUN_INDEX_EXEMPTIONS)
    assert queried_fields() & exempted <= COMPOSITE_ONLY
    assert COMPOSITE_ONLY <= {field for index in indexes.RUN_INDEXES for field, _ in index}


def test_the_run_fields_no_query_reads_are_exempt() -> None:
    # Measured by `make cost`: these were about 2 KB of index entries a run.
    for field in ("incomingHeadersJson", "incomingAttributesJson", "id", "transformationTimeMs",
                  "integrationVersion", "attempts"):
        assert field in indexes.RUN_INDEX_EXEMPTIONS
        assert field not in queried_fields()
