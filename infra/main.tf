# The platform: seven Cloud Functions (gen2), the topics between them, Firestore, secrets and
# the scheduler job. (Delivery queues are made at run time by the api, like subscriptions.) Read infra/README.md first; each concern has its own file:
#   main.tf        providers, APIs, names and URLs, settings, sources, the functions
#   iam.tf         service accounts and every role they hold
#   firestore.tf   the (default) database, composite indexes, TTL on runs
#   pubsub.tf      internal, dead-letter and pull-tasks topics and their push subscriptions
#   secrets.tf     the admin token
#   scheduler.tf   the job that starts the pull function every minute
#   monitoring.tf  log-based metrics from the run logs, alert policies, the dashboard

provider "google" {
  project = var.project_id
  region  = var.region
  # deploy.sh hands Terraform the gcloud user's token: bill API quota to the project itself.
  user_project_override = true
  billing_project       = var.project_id
  default_labels        = var.labels
}

provider "google-beta" {
  project               = var.project_id
  region                = var.region
  user_project_override = true
  billing_project       = var.project_id
  default_labels        = var.labels
}

data "google_project" "this" {
  project_id = var.project_id
}

# --- APIs ---------------------------------------------------------------------------------

locals {
  services = toset([
    "artifactregistry.googleapis.com",
    "cloudbuild.googleapis.com",
    "cloudfunctions.googleapis.com",
    "cloudresourcemanager.googleapis.com",
    "cloudscheduler.googleapis.com",
    "cloudtasks.googleapis.com",
    "firebaserules.googleapis.com",
    "firestore.googleapis.com",
    "iam.googleapis.com",
    "iamcredentials.googleapis.com",
    "logging.googleapis.com",
    "monitoring.googleapis.com",
    "pubsub.googleapis.com",
    "run.googleapis.com",
    "secretmanager.googleapis.com",
    "storage.googleapis.com",
  ])
}

resource "google_project_service" "enabled" {
  for_each = local.services
  project  = var.project_id
  service  = each.value
  # Other things in the project may use these APIs: tearing the platform down leaves them on.
  disable_on_destroy = false
}

# --- names and URLs -----------------------------------------------------------------------

locals {
  project_number = data.google_project.this.number

  # var.functions with var.function_overrides merged over it.
  functions = {
    for name, f in var.functions : name => merge(f, {
      for key, value in try(var.function_overrides[name], {}) : key => value if value != null
    })
  }
  all_functions = keys(var.functions)

  # Function (= Cloud Run service) names: the directory name with hyphens.
  function_names = { for name in local.all_functions : name => "${var.name_prefix}-${replace(name, "_", "-")}" }

  # Cloud Run's deterministic URL, https://SERVICE-PROJECT_NUMBER.REGION.run.app, is known
  # before the service exists, so functions can be told each other's URLs (and their own)
  # without a dependency cycle. Each function reads the whole request path, so these bases
  # serve /webhook/{path}/, /pubsub/{path}/ and /api/... as they are.
  function_urls = {
    for name, service in local.function_names :
    name => "https://${service}-${local.project_number}.${var.region}.run.app"
  }
  site_url         = var.public_base_url != "" ? var.public_base_url : local.function_urls["api"]
  webhook_base_url = var.public_base_url != "" ? var.public_base_url : local.function_urls["webhook"]
  push_base_url    = var.public_base_url != "" ? var.public_base_url : local.function_urls["pubsub_push"]
  # Fixed to the function's own URL, so that moving to a custom domain does not invalidate
  # the OIDC audience of push subscriptions created before.
  push_audience = local.function_urls["pubsub_push"]

  # The prefix of every secret the platform creates per integration (mapper.secrets
  # SECRET_ID_PREFIX); IAM conditions scope secret access to it.
  integration_secret_prefix = "mapper-"
}

# --- settings -----------------------------------------------------------------------------

locals {
  # Every environment variable the functions read (README, "Settings"), its value, and the
  # functions that get it. tests/infra/test_settings.py checks that each name the code
  # reads is here. An empty value is left unset, so the code's default applies.
  settings = {
    GOOGLE_CLOUD_PROJECT = { value = var.project_id, functions = local.all_functions }
    LOG_FORMAT           = { value = "json", functions = local.all_functions }
    LOG_LEVEL            = { value = var.log_level, functions = local.all_functions }
    SECRET_BACKEND       = { value = "secret-manager", functions = local.all_functions }
    INTERNAL_TOPIC       = { value = google_pubsub_topic.internal.name, functions = local.all_functions }
    EGRESS_ALLOW_CIDRS   = { value = var.egress_allow_cidrs, functions = local.all_functions }
    CONFIG_CACHE_SECONDS = { value = var.config_cache_seconds, functions = local.all_functions }
    PLAN_CACHE_SIZE      = { value = var.plan_cache_size, functions = local.all_functions }
    RUN_RETENTION_DAYS = {
      value     = var.run_retention_days
      functions = ["webhook", "pubsub_push", "worker", "deliver", "pull", "api"]
    }
    SUCCESS_PAYLOAD_RETENTION_DAYS = {
      value     = coalesce(var.success_payload_retention_days, var.run_retention_days)
      functions = ["worker", "deliver"]
    }
    MAX_BODY_BYTES   = { value = var.max_body_bytes, functions = ["webhook", "pubsub_push"] }
    RECORD_AT_ACCEPT = { value = var.record_runs_at_accept ? "true" : "false", functions = ["webhook"] }
    SITE_URL         = { value = local.site_url, functions = ["api"] }
    WEBHOOK_BASE_URL = { value = local.webhook_base_url, functions = ["api"] }
    PUSH_BASE_URL    = { value = local.push_base_url, functions = ["api", "pubsub_push"] }
    PUSH_AUDIENCE    = { value = local.push_audience, functions = ["api", "pubsub_push"] }
    PUSH_SERVICE_ACCOUNT = {
      value     = google_service_account.push_auth.email
      functions = ["api", "pubsub_push"]
    }
    PUSH_VERIFY_OIDC = { value = "true", functions = ["pubsub_push"] }
    # The api publishes a bulk redrive's first task there, the pull function the rest.
    PULL_TASKS_TOPIC = { value = google_pubsub_topic.pull_tasks.name, functions = ["pull", "api"] }
    PULL_INVOKER_SERVICE_ACCOUNT = {
      value     = google_service_account.invoker.email
      functions = ["pull"]
    }
    # The audience of the scheduler's and the task subscription's tokens (scheduler.tf, pubsub.tf).
    PULL_AUDIENCE    = { value = local.function_urls["pull"], functions = ["pull"] }
    PULL_BATCH_SIZE  = { value = var.pull_batch_size, functions = ["pull"] }
    PULL_CONCURRENCY = { value = var.pull_concurrency, functions = ["pull"] }
    # Bulk redrive (docs/api.md): runs resent per task, and per second per job.
    REDRIVE_BATCH_SIZE      = { value = 100, functions = ["pull"] }
    REDRIVE_RATE_PER_SECOND = { value = 50, functions = ["pull"] }
    # Held runs a resume sends per pull-tasks task (docs/delivery.md, "Pause and resume").
    RESUME_BATCH_SIZE  = { value = 200, functions = ["pull"] }
    API_MAX_BODY_BYTES = { value = var.api_max_body_bytes, functions = ["api"] }
    # Delivery (docs/data-plane.md): the worker names attempt n of N in its log lines; the
    # reconciler runs on the pull tick, and the api counts runs past its horizon as stuck.
    # They are also the retry policy of integrations without `retry`, counted by the worker,
    # and the dead_letter function republishes a run that still has attempts left.
    MAX_DELIVERY_ATTEMPTS     = { value = var.max_delivery_attempts, functions = ["worker", "deliver", "dead_letter"] }
    RETRY_MIN_BACKOFF_SECONDS = { value = var.retry_min_backoff_seconds, functions = ["worker", "deliver", "dead_letter"] }
    RETRY_MAX_BACKOFF_SECONDS = { value = var.retry_max_backoff_seconds, functions = ["worker", "deliver", "dead_letter"] }
    RECONCILE_AFTER_SECONDS   = { value = var.reconcile_after_seconds, functions = ["pull", "api"] }
    RECONCILE_MAX_REPUBLISHES = { value = var.reconcile_max_republishes, functions = ["pull"] }
    # SMTP servers that may be logged in to without TLS (empty: none).
    SMTP_PLAINTEXT_ALLOW = { value = var.smtp_plaintext_allow, functions = ["worker", "deliver", "api"] }
    # Notification mail (mapper.notify, docs/delivery.md "Notifications"): the platform's SMTP
    # relay; no host, no mail. The functions that end runs or pause delivery notify, and the
    # pull function's tick notifies source drift.
    NOTIFY_SMTP_HOST = { value = var.notify_smtp_host, functions = ["worker", "deliver", "dead_letter", "api", "pull"] }
    NOTIFY_SMTP_PORT = { value = var.notify_smtp_port, functions = ["worker", "deliver", "dead_letter", "api", "pull"] }
    NOTIFY_SMTP_FROM = { value = var.notify_smtp_from, functions = ["worker", "deliver", "dead_letter", "api", "pull"] }
    NOTIFY_SMTP_TLS  = { value = var.notify_smtp_tls, functions = ["worker", "deliver", "dead_letter", "api", "pull"] }
    # The relay's login: the password is read from Secret Manager at send time, as an email
    # target's is; its mapper-... name is within each of these functions' secret access.
    NOTIFY_SMTP_USER            = { value = var.notify_smtp_user, functions = ["worker", "deliver", "dead_letter", "api", "pull"] }
    NOTIFY_SMTP_PASSWORD_SECRET = { value = var.notify_smtp_password_secret, functions = ["worker", "deliver", "dead_letter", "api", "pull"] }
    # Paced delivery (docs/delivery.md): where the per-target Cloud Tasks queues live, what
    # their tasks call and as whom; the deliver function admits only that account's tokens.
    # The pull function queues a resume's held runs of a paced target.
    CLOUD_TASKS_LOCATION  = { value = var.region, functions = ["worker", "api", "deliver", "pull"] }
    DELIVERY_QUEUE_PREFIX = { value = var.name_prefix, functions = ["worker", "api", "deliver", "pull"] }
    DELIVER_URL           = { value = local.function_urls["deliver"], functions = ["worker", "api", "deliver", "pull"] }
    DELIVER_AUDIENCE      = { value = local.function_urls["deliver"], functions = ["worker", "api", "deliver", "pull"] }
    DELIVER_INVOKER_SERVICE_ACCOUNT = {
      value     = google_service_account.tasks_invoker.email
      functions = ["worker", "api", "deliver", "pull"]
    }
    # Team use (docs/api.md): audit retention, the sign-in failure limit, and which
    # X-Forwarded-For entry is the caller (1: the one Google's front end appends).
    AUDIT_RETENTION_DAYS = { value = var.audit_retention_days, functions = ["api"] }
    AUTH_FAILURE_LIMIT   = { value = var.auth_failure_limit, functions = ["api"] }
    CLIENT_IP_HOPS       = { value = 1, functions = ["api"] }
  }

  # Secret environment variables: resolved from Secret Manager when an instance starts.
  secret_settings = {
    ADMIN_TOKEN = { secret = google_secret_manager_secret.admin_token.secret_id, functions = ["api"] }
  }

  function_env = {
    for name in local.all_functions : name => merge({
      for key, s in local.settings : key => tostring(s.value)
      if contains(s.functions, name) && tostring(s.value) != ""
    }, contains(local.threaded_functions, name) ? { THREADS = tostring(local.functions[name].concurrency) } : {})
  }
  # functions-framework serves THREADS requests at once (gunicorn threads; its default is 4
  # per CPU the instance reports), while Cloud Run sends up to `concurrency`: the functions
  # that wait on receivers get one thread per request (docs/deploy.md, "Worker concurrency";
  # bench/cost.py's THREADED serves them the same way).
  threaded_functions = ["worker", "deliver"]
  function_secret_env = {
    for name in local.all_functions : name => {
      for key, s in local.secret_settings : key => s.secret if contains(s.functions, name)
    }
  }
}

# --- source code and images ---------------------------------------------------------------

resource "google_storage_bucket" "sources" {
  #checkov:skip=CKV_GCP_62:Holds only the function zips that deploy.sh builds from git; access is in Cloud Audit Logs.
  name                        = "${var.project_id}-${var.name_prefix}-sources"
  project                     = var.project_id
  location                    = var.region
  uniform_bucket_level_access = true
  public_access_prevention    = "enforced"
  # Build inputs only, rebuilt from git on every deploy: tearing down may delete them.
  force_destroy = true

  versioning {
    enabled = true
  }

  lifecycle_rule {
    condition {
      days_since_noncurrent_time = 30
    }
    action {
      type = "Delete"
    }
  }

  depends_on = [google_project_service.enabled]
}

# The object's name carries the zip's content hash: a function whose code did not change
# keeps its object, and Cloud Functions does not rebuild it.
resource "google_storage_bucket_object" "source" {
  for_each = local.functions
  name     = "functions/${basename(var.function_sources[each.key])}"
  bucket   = google_storage_bucket.sources.name
  source   = var.function_sources[each.key]
}

resource "google_artifact_registry_repository" "functions" {
  #checkov:skip=CKV_GCP_84:Images are built from this repository's public code; Google-managed encryption is enough.
  project       = var.project_id
  location      = var.region
  repository_id = "${var.name_prefix}-functions"
  description   = "Images Cloud Functions builds for the platform's functions."
  format        = "DOCKER"

  cleanup_policy_dry_run = false
  cleanup_policies {
    id     = "keep-recent"
    action = "KEEP"
    most_recent_versions {
      keep_count = var.artifact_keep_versions
    }
  }
  cleanup_policies {
    id     = "delete-older"
    action = "DELETE"
    condition {
      tag_state  = "ANY"
      older_than = "2592000s"
    }
  }

  depends_on = [google_project_service.enabled]
}

# --- the functions ------------------------------------------------------------------------

module "function" {
  source   = "./modules/function"
  for_each = local.functions

  project_id     = var.project_id
  region         = var.region
  key            = each.key
  name           = local.function_names[each.key]
  entry_point    = each.value.entry_point
  signature_type = each.value.signature_type
  runtime        = each.value.runtime

  memory          = each.value.memory
  cpu             = each.value.cpu
  timeout_seconds = each.value.timeout_seconds
  concurrency     = each.value.concurrency
  min_instances   = each.value.min_instances
  max_instances   = each.value.max_instances

  source_bucket         = google_storage_bucket.sources.name
  source_object         = google_storage_bucket_object.source[each.key].name
  docker_repository     = google_artifact_registry_repository.functions.id
  build_service_account = google_service_account.build.id
  service_account_email = google_service_account.function[each.key].email

  environment        = local.function_env[each.key]
  secret_environment = local.function_secret_env[each.key]

  public = each.value.public
  # Internal functions are pushed to by Pub/Sub and Cloud Scheduler with the invoker's token;
  # deliver is called by Cloud Tasks with the tasks invoker's token, and by nothing else.
  invokers = each.value.public ? {} : each.key == "deliver" ? {
    tasks_invoker = "serviceAccount:${google_service_account.tasks_invoker.email}"
    } : {
    invoker = "serviceAccount:${google_service_account.invoker.email}"
  }

  labels = var.labels

  # A function deploys only once its service account can read the secrets it mounts and
  # the build account can write its image.
  depends_on = [
    google_project_iam_member.build,
    google_artifact_registry_repository_iam_member.build,
    google_project_iam_member.function,
    google_secret_manager_secret_iam_member.function,
    google_secret_manager_secret_version.admin_token,
  ]
}
