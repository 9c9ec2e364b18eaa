"""The Firestore indexes and exemptions the stores' queries need; infra/firestore.tf mirrors them
(tests/infra/test_firestore.py holds the two together)."""

from __future__ import annotations

import itertools

from .common import PAYLOAD_FIELDS

# Composite indexes that `RunStore.list` needs, one per combination of equality filters; a
# `since`/`until` range on createdAt uses the same index. With no equality filter Firestore's
# automatic single-field index on createdAt serves. `__name__` is spelled out because
# Firestore appends it anyway, and Terraform would otherwise see a diff on every plan.
RUN_INDEXES: tuple[tuple[tuple[str, str], ...], ...] = (
    # ?integration_id=
    (("integrationId", "ASCENDING"), ("createdAt", "DESCENDING"), ("__name__", "DESCENDING")),
    # ?status=
    (("status", "ASCENDING"), ("createdAt", "DESCENDING"), ("__name__", "DESCENDING")),
    # ?integration_id=&status=
    (
        ("integrationId", "ASCENDING"),
        ("status", "ASCENDING"),
        ("createdAt", "DESCENDING"),
        ("__name__", "DESCENDING"),
    ),
    # ?source_kind= and ?integration_id=&source_kind=
    (("sourceKind", "ASCENDING"), ("createdAt", "DESCENDING"), ("__name__", "DESCENDING")),
    (
        ("integrationId", "ASCENDING"),
        ("sourceKind", "ASCENDING"),
        ("createdAt", "DESCENDING"),
        ("__name__", "DESCENDING"),
    ),
    # ?key=path:value (array_contains on searchValues), alone or with ?integration_id=
    (("searchValues", "CONTAINS"), ("createdAt", "DESCENDING"), ("__name__", "DESCENDING")),
    (
        ("integrationId", "ASCENDING"),
        ("searchValues", "CONTAINS"),
        ("createdAt", "DESCENDING"),
        ("__name__", "DESCENDING"),
    ),
    # ?integration_id=&min_duration_ms= (slowest first; alone, the single-field index serves)
    (("integrationId", "ASCENDING"), ("apiCallTimeMs", "DESCENDING"), ("__name__", "DESCENDING")),
    # the reconciler: runs in flight whose last change is older than the horizon
    (("status", "ASCENDING"), ("updatedAt", "ASCENDING"), ("__name__", "ASCENDING")),
    # the stats: an integration's stuck runs
    (
        ("integrationId", "ASCENDING"),
        ("status", "ASCENDING"),
        ("updatedAt", "ASCENDING"),
        ("__name__", "ASCENDING"),
    ),
    # the reconciler: retrying runs whose nextAttemptAt has come
    (("status", "ASCENDING"), ("nextAttemptAt", "ASCENDING"), ("__name__", "ASCENDING")),
)
# `IntegrationStore.list`'s filters, each combination newest first (GET /api/integrations/).
INTEGRATION_INDEXES: tuple[tuple[tuple[str, str], ...], ...] = tuple(
    tuple((field, "ASCENDING") for field in fields)
    + (("createdAt", "DESCENDING"), ("__name__", "DESCENDING"))
    for size in (1, 2, 3)
    for fields in itertools.combinations(("source.type", "target.type", "active"), size)
)
# Fields no single-field query reads: large text (it would cost index writes) and the lease
# fields; `updatedAt` too, which only the composite indexes above use, so that a busy
# platform's ever-increasing timestamps do not load one single-field index. Then the fields
# no query reads at all, whose index entries were about 2 KB of storage a run (`make cost`,
# docs/performance.md): the received headers and attributes, the id (the document's name
# already), the timings but apiCallTimeMs (?min_duration_ms), the version, the attempts.
RUN_INDEX_EXEMPTIONS = tuple(f"{field}Json" for field in PAYLOAD_FIELDS) + (
    "errorMessage",
    "deliveryId",
    "leaseUntil",
    "updatedAt",
    "incomingHeadersJson",
    "incomingAttributesJson",
    "id",
    "transformationTimeMs",
    "integrationVersion",
    "attempts",
)
# `AuditStore.list` filters by integration, by key, or both, newest first: one composite
# index per combination (a since/until range on createdAt uses the same index).
AUDIT_INDEXES: tuple[tuple[tuple[str, str], ...], ...] = (
    (("integrationId", "ASCENDING"), ("createdAt", "DESCENDING"), ("__name__", "DESCENDING")),
    (("actorKeyId", "ASCENDING"), ("createdAt", "DESCENDING"), ("__name__", "DESCENDING")),
    (
        ("actorKeyId", "ASCENDING"),
        ("integrationId", "ASCENDING"),
        ("createdAt", "DESCENDING"),
        ("__name__", "DESCENDING"),
    ),
)
AUDIT_INDEX_EXEMPTIONS = ("diffJson", "detailsJson")
# A source shape is read by its id, or found by `driftPending` (the tick's drift notices):
# its up to 500 paths (each with its types and times) and the notices waiting to be sent
# would otherwise be index entries written on every merge.
SHAPE_INDEX_EXEMPTIONS = ("paths", "driftNotices")
