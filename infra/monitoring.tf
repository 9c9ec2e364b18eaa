# Told when things fail: log-based metrics from the worker's and dead_letter's run logs and
# from the pull function's lost redrive jobs, alert policies, an email notification channel
# and a dashboard.
#
# The metrics read these jsonPayload fields of the run log lines (docs/deploy.md,
# "Alerts and the log fields they read"; tests/infra/test_monitoring.py holds the two to
# each other and to mapper.logs' JSON lines):
#   status         success, skipped, error, retrying (one attempt), dead_lettered, and
#                  lost (the reconciler, in pull, ended a run the queue kept losing)
#   integrationId  the integration's id
#   runId          the run's id (present on every run line; the filter requires it)
#   apiCallTimeMs  how long the target took to answer, on attempts that called it

locals {
  # One line per delivery attempt from the worker, one per dead-lettered run from
  # dead_letter, one per run the reconciler (in pull) ended as lost; nothing else from
  # those services carries both a run id and a status.
  run_log_filter = join(" AND ", [
    "resource.type=\"cloud_run_revision\"",
    "resource.labels.service_name=(\"${local.function_names["worker"]}\" OR \"${local.function_names["dead_letter"]}\" OR \"${local.function_names["pull"]}\")",
    "jsonPayload.runId:*",
    "jsonPayload.status:*",
  ])
  run_labels = {
    status         = "EXTRACT(jsonPayload.status)"
    integration_id = "EXTRACT(jsonPayload.integrationId)"
  }
  runs_metric    = "logging.googleapis.com/user/${google_logging_metric.runs.name}"
  latency_metric = "logging.googleapis.com/user/${google_logging_metric.delivery_latency.name}"
  # Attempts that failed: the target refused or timed out (retrying), failed for good
  # (error), or Pub/Sub gave up (dead_lettered).
  failed_statuses = ["error", "retrying", "dead_lettered"]

  alert_channels = [for channel in google_monitoring_notification_channel.email : channel.name]
}

# --- metrics ------------------------------------------------------------------------------

resource "google_logging_metric" "runs" {
  project     = var.project_id
  name        = "${var.name_prefix}-runs"
  description = "Run log lines (one per delivery attempt, one per dead-lettered run) by status and integration."
  filter      = local.run_log_filter

  metric_descriptor {
    metric_kind  = "DELTA"
    value_type   = "INT64"
    unit         = "1"
    display_name = "JSON mapper runs"

    labels {
      key         = "status"
      value_type  = "STRING"
      description = "success, skipped, error, retrying, dead_lettered or lost."
    }
    labels {
      key         = "integration_id"
      value_type  = "STRING"
      description = "The integration's id."
    }
  }

  label_extractors = local.run_labels

  depends_on = [google_project_service.enabled]
}

resource "google_logging_metric" "delivery_latency" {
  project     = var.project_id
  name        = "${var.name_prefix}-delivery-latency"
  description = "How long targets took to answer, per delivery attempt that called one, by status and integration."
  filter      = "${local.run_log_filter} AND jsonPayload.apiCallTimeMs:*"

  metric_descriptor {
    metric_kind  = "DELTA"
    value_type   = "DISTRIBUTION"
    unit         = "ms"
    display_name = "JSON mapper delivery latency"

    labels {
      key         = "status"
      value_type  = "STRING"
      description = "The attempt's outcome."
    }
    labels {
      key         = "integration_id"
      value_type  = "STRING"
      description = "The integration's id."
    }
  }

  value_extractor  = "EXTRACT(jsonPayload.apiCallTimeMs)"
  label_extractors = local.run_labels

  # 1 ms to about 9 minutes, each bucket twice the one before.
  bucket_options {
    exponential_buckets {
      num_finite_buckets = 20
      growth_factor      = 2
      scale              = 1
    }
  }

  depends_on = [google_project_service.enabled]
}

# One line per bulk redrive job the pull function's sweep ended because the queue kept
# losing its task (mapper.redrive, docs/api.md): the job's remaining runs were not resent.
resource "google_logging_metric" "lost_redrive_jobs" {
  project     = var.project_id
  name        = "${var.name_prefix}-lost-redrive-jobs"
  description = "Bulk redrive jobs ended failed because the queue lost their task."
  filter = join(" AND ", [
    "resource.type=\"cloud_run_revision\"",
    "resource.labels.service_name=\"${local.function_names["pull"]}\"",
    "jsonPayload.redriveJob:*",
    "jsonPayload.status=\"lost\"",
  ])

  metric_descriptor {
    metric_kind  = "DELTA"
    value_type   = "INT64"
    unit         = "1"
    display_name = "JSON mapper redrive jobs lost"
  }

  depends_on = [google_project_service.enabled]
}

# --- who is told --------------------------------------------------------------------------

resource "google_monitoring_notification_channel" "email" {
  count        = var.alert_email == "" ? 0 : 1
  project      = var.project_id
  display_name = "JSON mapper alerts"
  type         = "email"
  labels = {
    email_address = var.alert_email
  }

  depends_on = [google_project_service.enabled]
}

# --- alerts -------------------------------------------------------------------------------

locals {
  # Each alert: one threshold on one series; the resource below is the same for all.
  # `denominator_filter` makes a ratio; `group_by` alerts once per integration.
  alerts = {
    # A run's last allowed attempt failed (the integration's retry.maxAttempts, else
    # var.max_delivery_attempts, counted by the worker), or Pub/Sub gave up on a message
    # whose run had none left: that event was not delivered.
    dead_lettered = {
      display_name   = "JSON mapper: a run was dead-lettered"
      severity       = "ERROR"
      documentation  = "An event of integration $${metric.label.integration_id} was not delivered after the attempts its retry policy allows (${var.max_delivery_attempts} unless the integration sets retry.maxAttempts). Open the integration's runs (status dead_lettered) in the web UI to read the last error, fix the target, and replay the run."
      condition_name = "dead_lettered runs"
      filter         = "resource.type=\"cloud_run_revision\" AND metric.type=\"${local.runs_metric}\" AND metric.label.status=\"dead_lettered\""
      threshold      = 0
      duration       = "0s"
      alignment      = "60s"
      aligner        = "ALIGN_SUM"
      reducer        = "REDUCE_SUM"
      group_by       = ["metric.label.integration_id"]
    }
    # The queue lost a run's message and the reconciler's republishes did not bring it
    # back (docs/data-plane.md): the run ended as error, "lost by the queue after N
    # republishes".
    lost_runs = {
      display_name   = "JSON mapper: a run was lost by the queue"
      severity       = "ERROR"
      documentation  = "A run of integration $${metric.label.integration_id} stayed in flight past the reconciler's horizon ${var.reconcile_after_seconds} s after ${var.reconcile_max_republishes} republishes, and was ended as error. Check the internal topic's subscription and the worker's logs, then replay the run from the web UI."
      condition_name = "runs lost by the queue"
      filter         = "resource.type=\"cloud_run_revision\" AND metric.type=\"${local.runs_metric}\" AND metric.label.status=\"lost\""
      threshold      = 0
      duration       = "0s"
      alignment      = "60s"
      aligner        = "ALIGN_SUM"
      reducer        = "REDUCE_SUM"
      group_by       = ["metric.label.integration_id"]
    }
    # A bulk redrive job ended failed: its task was lost by the queue after the sweep's
    # republishes, so some of the runs it was to resend were not.
    lost_redrive_jobs = {
      display_name   = "JSON mapper: a bulk redrive job was lost by the queue"
      severity       = "ERROR"
      documentation  = "A bulk redrive job made no progress for the reconciler's horizon ${var.reconcile_after_seconds} s after ${var.reconcile_max_republishes} republishes of its task, and was ended as failed. Check the pull-tasks subscription and the pull function's logs, then see on the Runs page how many runs the job resent: a new redrive job resends every failed run its filter matches, those included, so narrow its period."
      condition_name = "redrive jobs lost by the queue"
      filter         = "resource.type=\"cloud_run_revision\" AND metric.type=\"logging.googleapis.com/user/${google_logging_metric.lost_redrive_jobs.name}\""
      threshold      = 0
      duration       = "0s"
      alignment      = "60s"
      aligner        = "ALIGN_SUM"
      reducer        = "REDUCE_SUM"
    }
    # One integration's attempts fail more than var.alert_error_rate of the time for 10
    # minutes.
    error_rate = {
      display_name       = "JSON mapper: an integration's deliveries are failing"
      severity           = "WARNING"
      documentation      = "More than ${var.alert_error_rate * 100}% of the delivery attempts of integration $${metric.label.integration_id} failed for 10 minutes. Its runs (status retrying or error) say why: usually the target is down, refuses the request, or its credentials changed."
      condition_name     = "failed attempts / all attempts, per integration, 10 minutes"
      filter             = "resource.type=\"cloud_run_revision\" AND metric.type=\"${local.runs_metric}\" AND metric.label.status=one_of(${join(", ", [for s in local.failed_statuses : "\"${s}\""])})"
      denominator_filter = "resource.type=\"cloud_run_revision\" AND metric.type=\"${local.runs_metric}\""
      threshold          = var.alert_error_rate
      duration           = "600s"
      alignment          = "300s"
      aligner            = "ALIGN_SUM"
      reducer            = "REDUCE_SUM"
      group_by           = ["metric.label.integration_id"]
    }
    # The worker is not keeping up (or not running): a message waits longer than the
    # whole retry schedule would take.
    worker_backlog = {
      display_name   = "JSON mapper: the worker's oldest message is too old"
      severity       = "ERROR"
      documentation  = "A message on ${google_pubsub_subscription.platform["worker"].name} has waited more than ${var.alert_oldest_unacked_seconds} s. Check the worker's logs and errors, its max instances (function_overrides), and whether a target hangs."
      condition_name = "oldest unacked message age"
      filter         = "resource.type=\"pubsub_subscription\" AND resource.labels.subscription_id=\"${google_pubsub_subscription.platform["worker"].name}\" AND metric.type=\"pubsub.googleapis.com/subscription/oldest_unacked_message_age\""
      threshold      = var.alert_oldest_unacked_seconds
      duration       = "300s"
      alignment      = "60s"
      aligner        = "ALIGN_MAX"
    }
  }
}

resource "google_monitoring_alert_policy" "alert" {
  for_each = local.alerts

  project               = var.project_id
  display_name          = each.value.display_name
  combiner              = "OR"
  severity              = each.value.severity
  notification_channels = local.alert_channels

  documentation {
    mime_type = "text/markdown"
    content   = each.value.documentation
  }

  conditions {
    display_name = each.value.condition_name
    condition_threshold {
      filter             = each.value.filter
      denominator_filter = lookup(each.value, "denominator_filter", null)
      comparison         = "COMPARISON_GT"
      threshold_value    = each.value.threshold
      duration           = each.value.duration

      aggregations {
        alignment_period     = each.value.alignment
        per_series_aligner   = each.value.aligner
        cross_series_reducer = lookup(each.value, "reducer", null)
        group_by_fields      = lookup(each.value, "group_by", null)
      }
      # A ratio's denominator is aggregated as its numerator.
      dynamic "denominator_aggregations" {
        for_each = lookup(each.value, "denominator_filter", null) == null ? [] : [each.value]
        content {
          alignment_period     = denominator_aggregations.value.alignment
          per_series_aligner   = denominator_aggregations.value.aligner
          cross_series_reducer = lookup(denominator_aggregations.value, "reducer", null)
          group_by_fields      = lookup(denominator_aggregations.value, "group_by", null)
        }
      }

      trigger {
        count = 1
      }
    }
  }

  alert_strategy {
    auto_close = "86400s"
  }
}

# The policies were one resource each until December 2026: moved, not destroyed and made
# again, in deployments made before.
moved {
  from = google_monitoring_alert_policy.dead_lettered
  to   = google_monitoring_alert_policy.alert["dead_lettered"]
}
moved {
  from = google_monitoring_alert_policy.lost_runs
  to   = google_monitoring_alert_policy.alert["lost_runs"]
}
moved {
  from = google_monitoring_alert_policy.lost_redrive_jobs
  to   = google_monitoring_alert_policy.alert["lost_redrive_jobs"]
}
moved {
  from = google_monitoring_alert_policy.error_rate
  to   = google_monitoring_alert_policy.alert["error_rate"]
}
moved {
  from = google_monitoring_alert_policy.worker_backlog
  to   = google_monitoring_alert_policy.alert["worker_backlog"]
}

# --- dashboard ----------------------------------------------------------------------------

resource "google_monitoring_dashboard" "platform" {
  project = var.project_id
  dashboard_json = templatefile("${path.module}/monitoring/dashboard.json.tftpl", {
    title               = "JSON mapper (${var.name_prefix})"
    runs_metric         = local.runs_metric
    latency_metric      = local.latency_metric
    worker_subscription = google_pubsub_subscription.platform["worker"].name
    worker_service      = local.function_names["worker"]
  })

  depends_on = [google_project_service.enabled]
}
