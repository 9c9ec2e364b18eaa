# One Cloud Function (gen2) and who may invoke it.

resource "google_cloudfunctions2_function" "this" {
  #checkov:skip=CKV_GCP_124:webhook, pubsub_push and api take traffic from the internet by contract (ALLOW_ALL); the others are ALLOW_INTERNAL_ONLY.
  project     = var.project_id
  location    = var.region
  name        = var.name
  description = "JSON mapper: ${var.key} (${var.signature_type})"
  labels      = merge(var.labels, { function = replace(var.key, "_", "-"), signature-type = var.signature_type })

  build_config {
    runtime           = var.runtime
    entry_point       = var.entry_point
    service_account   = var.build_service_account
    docker_repository = var.docker_repository

    source {
      storage_source {
        bucket = var.source_bucket
        object = var.source_object
      }
    }
  }

  service_config {
    available_memory                 = var.memory
    available_cpu                    = var.cpu
    timeout_seconds                  = var.timeout_seconds
    max_instance_request_concurrency = var.concurrency
    min_instance_count               = var.min_instances
    max_instance_count               = var.max_instances
    service_account_email            = var.service_account_email
    all_traffic_on_latest_revision   = true
    # Internal functions only take requests from Pub/Sub and Cloud Scheduler of this
    # project (and its VPC); public ones from anywhere.
    ingress_settings = var.public ? "ALLOW_ALL" : "ALLOW_INTERNAL_ONLY"

    # The API adds LOG_EXECUTION_ID itself; stating it keeps plans free of a diff.
    environment_variables = merge({ LOG_EXECUTION_ID = "true" }, var.environment)

    dynamic "secret_environment_variables" {
      for_each = var.secret_environment
      content {
        key        = secret_environment_variables.key
        project_id = var.project_id
        secret     = secret_environment_variables.value
        version    = "latest"
      }
    }
  }

  lifecycle {
    precondition {
      # A CloudEvent function is only ever pushed to by Pub/Sub with a token.
      condition     = !(var.public && var.signature_type == "cloudevent")
      error_message = "A cloudevent function (${var.key}) cannot be public."
    }
    precondition {
      condition     = var.concurrency == 1 || tonumber(var.cpu) >= 1
      error_message = "${var.key}: a concurrency above 1 needs cpu of at least 1."
    }
  }
}

# Public by design (docs/integration.md, Public routes): webhook senders and users' push
# subscriptions cannot hold our credentials. They authenticate in code instead (signatures,
# OIDC, the admin token).
resource "google_cloud_run_v2_service_iam_member" "public" {
  #checkov:skip=CKV_GCP_102:Only webhook, pubsub_push and api are public, by contract; each authenticates requests in code.
  count    = var.public ? 1 : 0
  project  = var.project_id
  location = var.region
  # A gen2 function's Cloud Run service has the function's name.
  name   = google_cloudfunctions2_function.this.name
  role   = "roles/run.invoker"
  member = "allUsers"
}

resource "google_cloud_run_v2_service_iam_member" "invoker" {
  for_each = var.invokers
  project  = var.project_id
  location = var.region
  name     = google_cloudfunctions2_function.this.name
  role     = "roles/run.invoker"
  member   = each.value
}
