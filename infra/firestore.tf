# Firestore: the (default) database the functions use (integrations, runs), the composite
# indexes the run list needs, the TTL policy that ends each run after
# var.run_retention_days, and the security rules that shut out every client SDK.

# deploy.sh imports a (default) database the project already has, so that a project that
# used Firestore before is adopted rather than failing on "already exists".
resource "google_firestore_database" "default" {
  project     = var.project_id
  name        = "(default)"
  location_id = coalesce(var.firestore_location, var.region)
  type        = "FIRESTORE_NATIVE"

  point_in_time_recovery_enablement = var.firestore_point_in_time_recovery ? "POINT_IN_TIME_RECOVERY_ENABLED" : "POINT_IN_TIME_RECOVERY_DISABLED"
  # The data outlives the platform: neither Terraform nor a stray click deletes it
  # (docs/deploy.md, "Tear down", says how to when that is what you want).
  delete_protection_state = "DELETE_PROTECTION_ENABLED"
  deletion_policy         = "ABANDON"

  lifecycle {
    prevent_destroy = true
  }

  depends_on = [google_project_service.enabled]
}

locals {
  # mapper.store.indexes.RUN_INDEXES, one index per combination of equality filters of
  # RunStore.list (integration_id, status); a since/until range on createdAt and the
  # newest-first order use the same index. tests/infra/test_firestore.py holds the two
  # against each other. Integration lookups (webhookPath, pushPath, source.mode) and the
  # unfiltered lists are served by Firestore's automatic single-field indexes.
  composite_indexes = {
    "runs-by-integration" = {
      collection = "runs"
      fields     = [["integrationId", "ASCENDING"], ["createdAt", "DESCENDING"], ["__name__", "DESCENDING"]]
    }
    "runs-by-status" = {
      collection = "runs"
      fields     = [["status", "ASCENDING"], ["createdAt", "DESCENDING"], ["__name__", "DESCENDING"]]
    }
    "runs-by-integration-and-status" = {
      collection = "runs"
      fields = [
        ["integrationId", "ASCENDING"],
        ["status", "ASCENDING"],
        ["createdAt", "DESCENDING"],
        ["__name__", "DESCENDING"],
      ]
    }
    # GET /api/runs/?source_kind= (and with integration_id=).
    "runs-by-source-kind" = {
      collection = "runs"
      fields     = [["sourceKind", "ASCENDING"], ["createdAt", "DESCENDING"], ["__name__", "DESCENDING"]]
    }
    "runs-by-integration-and-source-kind" = {
      collection = "runs"
      fields = [
        ["integrationId", "ASCENDING"],
        ["sourceKind", "ASCENDING"],
        ["createdAt", "DESCENDING"],
        ["__name__", "DESCENDING"],
      ]
    }
    # GET /api/runs/?key=<path>:<value>: array_contains on the run's searchValues (CONTAINS
    # below is the index's array_config, not an order), alone or with integration_id=.
    "runs-by-search-value" = {
      collection = "runs"
      fields     = [["searchValues", "CONTAINS"], ["createdAt", "DESCENDING"], ["__name__", "DESCENDING"]]
    }
    "runs-by-integration-and-search-value" = {
      collection = "runs"
      fields = [
        ["integrationId", "ASCENDING"],
        ["searchValues", "CONTAINS"],
        ["createdAt", "DESCENDING"],
        ["__name__", "DESCENDING"],
      ]
    }
    # GET /api/runs/?integration_id=&min_duration_ms= lists the slowest first; without
    # integration_id the automatic single-field index on apiCallTimeMs serves.
    "runs-slowest-by-integration" = {
      collection = "runs"
      fields     = [["integrationId", "ASCENDING"], ["apiCallTimeMs", "DESCENDING"], ["__name__", "DESCENDING"]]
    }
    # mapper.store.indexes.INTEGRATION_INDEXES: GET /api/integrations/?source_type=&target_type=&active=,
    # each combination newest first.
    "integrations-by-source" = {
      collection = "integrations"
      fields     = [["source.type", "ASCENDING"], ["createdAt", "DESCENDING"], ["__name__", "DESCENDING"]]
    }
    "integrations-by-target" = {
      collection = "integrations"
      fields     = [["target.type", "ASCENDING"], ["createdAt", "DESCENDING"], ["__name__", "DESCENDING"]]
    }
    "integrations-by-active" = {
      collection = "integrations"
      fields     = [["active", "ASCENDING"], ["createdAt", "DESCENDING"], ["__name__", "DESCENDING"]]
    }
    "integrations-by-source-and-target" = {
      collection = "integrations"
      fields = [
        ["source.type", "ASCENDING"],
        ["target.type", "ASCENDING"],
        ["createdAt", "DESCENDING"],
        ["__name__", "DESCENDING"],
      ]
    }
    "integrations-by-source-and-active" = {
      collection = "integrations"
      fields = [
        ["source.type", "ASCENDING"],
        ["active", "ASCENDING"],
        ["createdAt", "DESCENDING"],
        ["__name__", "DESCENDING"],
      ]
    }
    "integrations-by-target-and-active" = {
      collection = "integrations"
      fields = [
        ["target.type", "ASCENDING"],
        ["active", "ASCENDING"],
        ["createdAt", "DESCENDING"],
        ["__name__", "DESCENDING"],
      ]
    }
    "integrations-by-source-target-and-active" = {
      collection = "integrations"
      fields = [
        ["source.type", "ASCENDING"],
        ["target.type", "ASCENDING"],
        ["active", "ASCENDING"],
        ["createdAt", "DESCENDING"],
        ["__name__", "DESCENDING"],
      ]
    }
    # The reconciler: runs in flight (status in queued/retrying/delivering) whose last
    # change is older than its horizon; and the stats' count of one integration's.
    "runs-in-flight-by-age" = {
      collection = "runs"
      fields     = [["status", "ASCENDING"], ["updatedAt", "ASCENDING"], ["__name__", "ASCENDING"]]
    }
    "runs-in-flight-by-integration-and-age" = {
      collection = "runs"
      fields = [
        ["integrationId", "ASCENDING"],
        ["status", "ASCENDING"],
        ["updatedAt", "ASCENDING"],
        ["__name__", "ASCENDING"],
      ]
    }
    # The reconciler: retrying runs whose nextAttemptAt has come (docs/data-plane.md).
    "runs-due-retries" = {
      collection = "runs"
      fields     = [["status", "ASCENDING"], ["nextAttemptAt", "ASCENDING"], ["__name__", "ASCENDING"]]
    }
    # mapper.store.jobs.SignatureFailureStore.latest: an integration's newest marker.
    "signature-failures-by-integration" = {
      collection = "signatureFailures"
      fields     = [["integrationId", "ASCENDING"], ["windowStart", "DESCENDING"], ["__name__", "DESCENDING"]]
    }
    # mapper.store.indexes.AUDIT_INDEXES: GET /api/audit/ by integration, by key, or both.
    "audit-by-integration" = {
      collection = "auditLog"
      fields     = [["integrationId", "ASCENDING"], ["createdAt", "DESCENDING"], ["__name__", "DESCENDING"]]
    }
    "audit-by-key" = {
      collection = "auditLog"
      fields     = [["actorKeyId", "ASCENDING"], ["createdAt", "DESCENDING"], ["__name__", "DESCENDING"]]
    }
    "audit-by-key-and-integration" = {
      collection = "auditLog"
      fields = [
        ["actorKeyId", "ASCENDING"],
        ["integrationId", "ASCENDING"],
        ["createdAt", "DESCENDING"],
        ["__name__", "DESCENDING"],
      ]
    }
  }

  # mapper.store.indexes.RUN_INDEX_EXEMPTIONS: large text no query reads; indexing it would only
  # cost index writes (and could hit the index entry size limit); and the fields no query
  # reads at all, whose index entries were about 2 KB of storage a run (docs/performance.md).
  runs_unindexed_fields = toset([
    "incomingPayloadJson",
    "transformedPayloadJson",
    "outgoingRequestJson",
    "outgoingResponseJson",
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
  ])
}

resource "google_firestore_index" "composite" {
  for_each    = local.composite_indexes
  project     = var.project_id
  database    = google_firestore_database.default.name
  collection  = each.value.collection
  query_scope = "COLLECTION"

  # A field is ordered (ASCENDING, DESCENDING) or, for array_contains, CONTAINS.
  dynamic "fields" {
    for_each = each.value.fields
    content {
      field_path   = fields.value[0]
      order        = fields.value[1] == "CONTAINS" ? null : fields.value[1]
      array_config = fields.value[1] == "CONTAINS" ? "CONTAINS" : null
    }
  }
}

# An empty index_config turns every single-field index of the field off.
resource "google_firestore_field" "runs_unindexed" {
  for_each   = local.runs_unindexed_fields
  project    = var.project_id
  database   = google_firestore_database.default.name
  collection = "runs"
  field      = each.value

  index_config {}
}

# Firestore deletes a run once its expireAt (a timestamp the store sets at creation,
# RUN_RETENTION_DAYS after it) has passed, usually within a day. Not indexed: nothing
# queries it, and an index on an ever-increasing timestamp would be a write hotspot.
resource "google_firestore_field" "runs_ttl" {
  project    = var.project_id
  database   = google_firestore_database.default.name
  collection = "runs"
  field      = "expireAt"

  ttl_config {}
  index_config {}
}

# Bulk redrive jobs (mapper.store.jobs.RedriveJobStore) expire with the runs.
resource "google_firestore_field" "redrive_jobs_ttl" {
  project    = var.project_id
  database   = google_firestore_database.default.name
  collection = "redriveJobs"
  field      = "expireAt"

  ttl_config {}
  index_config {}
}

# Refused-signature markers (mapper.store.jobs.SignatureFailureStore) expire with the runs.
resource "google_firestore_field" "signature_failures_ttl" {
  project    = var.project_id
  database   = google_firestore_database.default.name
  collection = "signatureFailures"
  field      = "expireAt"

  ttl_config {}
  index_config {}
}

# mapper.store.indexes.SHAPE_INDEX_EXEMPTIONS: a source shape is read by id (or found by
# driftPending), and its paths and drift notices are rewritten on every merge.
resource "google_firestore_field" "source_shapes_unindexed" {
  for_each   = toset(["paths", "driftNotices"])
  project    = var.project_id
  database   = google_firestore_database.default.name
  collection = "sourceShapes"
  field      = each.value

  index_config {}
}

# source.dedupe keys (mapper.store.shapes.DedupeKeyStore): each expires at the end of its
# window; one found later, not deleted yet, is taken over by the next event.
resource "google_firestore_field" "dedupe_keys_ttl" {
  project    = var.project_id
  database   = google_firestore_database.default.name
  collection = "dedupeKeys"
  field      = "expireAt"

  ttl_config {}
  index_config {}
}

# Failed API sign-ins per address and minute (mapper.store.team.SignInFailureStore), counted by
# every api instance; each expires a day after its last failure.
resource "google_firestore_field" "sign_in_failures_ttl" {
  project    = var.project_id
  database   = google_firestore_database.default.name
  collection = "signInFailures"
  field      = "expireAt"

  ttl_config {}
  index_config {}
}

# One notification per integration, type and minute (mapper.store.notify.NotifyWindowStore);
# each window expires a week after it was opened.
resource "google_firestore_field" "notify_windows_ttl" {
  project    = var.project_id
  database   = google_firestore_database.default.name
  collection = "notifyWindows"
  field      = "expireAt"

  ttl_config {}
  index_config {}
}

# mapper.store.indexes.AUDIT_INDEX_EXEMPTIONS: an audit entry's diff and details, JSON text no
# query reads.
resource "google_firestore_field" "audit_unindexed" {
  for_each   = toset(["diffJson", "detailsJson"])
  project    = var.project_id
  database   = google_firestore_database.default.name
  collection = "auditLog"
  field      = each.value

  index_config {}
}

# Audit entries expire like runs, on their own clock: expireAt is set AUDIT_RETENTION_DAYS
# (var.audit_retention_days) after the change.
resource "google_firestore_field" "audit_ttl" {
  project    = var.project_id
  database   = google_firestore_database.default.name
  collection = "auditLog"
  field      = "expireAt"

  ttl_config {}
  index_config {}
}

# Security rules (firestore.rules): every read and write by a web or mobile client SDK is
# refused. The functions' service accounts reach the database through IAM, which rules do
# not govern, so the platform itself is unaffected. A changed file makes a new ruleset,
# points the release at it, and only then deletes the old one (it cannot go while in use).
resource "google_firebaserules_ruleset" "firestore" {
  project = var.project_id

  source {
    files {
      name    = "firestore.rules"
      content = file("${path.module}/firestore.rules")
    }
  }

  lifecycle {
    create_before_destroy = true
  }

  depends_on = [google_project_service.enabled, google_firestore_database.default]
}

# "cloud.firestore" is the release the (default) database reads its rules from.
resource "google_firebaserules_release" "firestore" {
  project      = var.project_id
  name         = "cloud.firestore"
  ruleset_name = "projects/${var.project_id}/rulesets/${google_firebaserules_ruleset.firestore.name}"
}
