# Cloud Scheduler starts the pull function every minute (var.pull_schedule). That call only
# publishes one task per pull integration that is due to the pull-tasks topic; each task
# comes back to the pull function through its push subscription (pubsub.tf), so one slow
# subscription never holds up the others. Both calls carry an OIDC token of the invoker
# account (PULL_INVOKER_SERVICE_ACCOUNT) for the pull function's own URL (PULL_AUDIENCE),
# and a tick's body has no "message" key, which is how the function tells it from a task.
resource "google_cloud_scheduler_job" "pull" {
  project     = var.project_id
  region      = var.region
  name        = "${var.name_prefix}-pull"
  description = "Start a round of the pull function: one task per due pull integration."
  schedule    = var.pull_schedule
  time_zone   = "Etc/UTC"
  paused      = !var.pull_scheduler_enabled
  # Cloud Scheduler allows 15 s to 30 min for an HTTP target.
  attempt_deadline = "${max(15, min(1800, local.functions["pull"].timeout_seconds))}s"

  # The next round comes a minute later anyway.
  retry_config {
    retry_count = 0
  }

  http_target {
    uri         = local.function_urls["pull"]
    http_method = "POST"
    headers     = { "Content-Type" = "application/json" }
    body        = base64encode(jsonencode({ trigger = "schedule" }))

    oidc_token {
      service_account_email = google_service_account.invoker.email
      audience              = local.function_urls["pull"]
    }
  }

  depends_on = [module.function]
}
