# Cloud Run writes a request log entry (run.googleapis.com/requests) for every request each
# function serves: about 2.3 entries per event (the webhook's POST, the worker's push, its
# retries), each larger than the run's own log line. The run record and the worker's one
# line per attempt already say what happened, so those entries are dropped before they are
# stored or billed (docs/deploy.md, "Levers"). Errors the functions log stay: only the
# request log is excluded, and only for this platform's services.
resource "google_logging_project_exclusion" "request_logs" {
  count       = var.exclude_request_logs ? 1 : 0
  project     = var.project_id
  name        = "${var.name_prefix}-request-logs"
  description = "Cloud Run request logs of the ${var.name_prefix} functions (the run records say what happened)."
  filter = join(" AND ", [
    "resource.type=\"cloud_run_revision\"",
    "log_id(\"run.googleapis.com/requests\")",
    "resource.labels.service_name=(${join(" OR ", [for name in values(local.function_names) : "\"${name}\""])})",
  ])
}
