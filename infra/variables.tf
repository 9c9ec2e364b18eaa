# --- where --------------------------------------------------------------------------------

variable "project_id" {
  description = "The Google Cloud project that holds the whole platform."
  type        = string
}

variable "region" {
  description = "Region of the functions, topics' push endpoints, scheduler job and buckets."
  type        = string
}

variable "firestore_location" {
  description = "Location of the Firestore (default) database; null means var.region. Cannot change once created."
  type        = string
  default     = null
}

variable "name_prefix" {
  description = "Prefix of every resource name (functions, service accounts, buckets, topics)."
  type        = string
  default     = "mapper"

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{1,10}$", var.name_prefix))
    error_message = "name_prefix: 2 to 11 lower-case letters, digits or hyphens, starting with a letter (service account ids are at most 30 characters)."
  }
}

variable "labels" {
  description = "Labels put on every resource that takes them (cost reports group by them)."
  type        = map(string)
  default     = { app = "json-mapper" }
}

# --- the functions ------------------------------------------------------------------------

variable "function_sources" {
  description = "Path of each function's source zip, named <function>-<content hash>.zip; deploy.sh builds them and sets this."
  type        = map(string)

  validation {
    condition     = alltrue([for name in keys(var.functions) : contains(keys(var.function_sources), name)])
    error_message = "function_sources needs a zip for every function in var.functions (deploy.sh builds them from functions/<name>/)."
  }

  validation {
    condition     = alltrue([for path in values(var.function_sources) : can(regex("-[0-9a-f]{16,64}\\.zip$", path))])
    error_message = "Each source zip must be named <function>-<content hash>.zip (deploy.sh does this), so that a function redeploys only when its code changed."
  }
}

variable "functions" {
  description = <<-EOT
    Every function of the platform: the directory under functions/ is the key, and the entry
    point is the Python function of that name in its main.py. signature_type must match the
    decorator there (tests/infra checks it). Memory and CPU are Cloud Run quantities; a
    concurrency above 1 needs cpu >= 1. Change sizes through function_overrides rather than
    by copying this map.
  EOT
  type = map(object({
    entry_point     = string
    signature_type  = string
    public          = bool
    runtime         = string
    memory          = string
    cpu             = string
    timeout_seconds = number
    concurrency     = number
    min_instances   = number
    max_instances   = number
  }))
  default = {
    # POST /webhook/{path}/ from anyone; light, I/O bound: many requests per instance.
    webhook = {
      entry_point     = "webhook"
      signature_type  = "http"
      public          = true
      runtime         = "python311"
      memory          = "512Mi"
      cpu             = "1"
      timeout_seconds = 60
      concurrency     = 80
      min_instances   = 0
      max_instances   = 20
    }
    # POST /pubsub/{path}/ from users' push subscriptions; checks their OIDC token itself.
    pubsub_push = {
      entry_point     = "pubsub_push"
      signature_type  = "http"
      public          = true
      runtime         = "python311"
      memory          = "512Mi"
      cpu             = "1"
      timeout_seconds = 60
      concurrency     = 80
      min_instances   = 0
      max_instances   = 20
    }
    # The internal topic's push subscription; V8 per compiled plan, target calls up to 120 s.
    # Concurrency 32: a request mostly waits on its receiver (100-500 ms). Measured with a
    # 200 ms receiver (bench/worker_concurrency.py, docs/deploy.md "Worker concurrency"):
    # 47 instance-ms an event at 8, 15 at 32 (CPU ~6 ms an event either way); the serving
    # process peaked at 106 MiB at 8, 121 at 32. JavaScript calls stay at 8 in flight.
    worker = {
      entry_point     = "worker"
      signature_type  = "cloudevent"
      public          = false
      runtime         = "python311"
      memory          = "1Gi"
      cpu             = "1"
      timeout_seconds = 300
      concurrency     = 32
      min_instances   = 0
      max_instances   = 20
    }
    # The dead-letter topic's push subscription: one Firestore update per message.
    dead_letter = {
      entry_point     = "dead_letter"
      signature_type  = "cloudevent"
      public          = false
      runtime         = "python311"
      memory          = "512Mi"
      cpu             = "1"
      timeout_seconds = 60
      concurrency     = 8
      min_instances   = 0
      max_instances   = 5
    }
    # Cloud Tasks' calls from the delivery queues of paced and paused targets
    # (docs/delivery.md): one run to one target each, as the worker sends it; the worker's
    # concurrency for the same reason (the same send path, not measured apart).
    deliver = {
      entry_point     = "deliver"
      signature_type  = "http"
      public          = false
      runtime         = "python311"
      memory          = "1Gi"
      cpu             = "1"
      timeout_seconds = 300
      concurrency     = 32
      min_instances   = 0
      max_instances   = 20
    }
    # Cloud Scheduler every minute, and the pull-tasks topic's push subscription.
    pull = {
      entry_point     = "pull"
      signature_type  = "http"
      public          = false
      runtime         = "python311"
      memory          = "512Mi"
      cpu             = "1"
      timeout_seconds = 300
      concurrency     = 4
      min_instances   = 0
      max_instances   = 10
    }
    # /api/... and the web UI at /; bearer token checked in code; preview runs V8.
    api = {
      entry_point     = "api"
      signature_type  = "http"
      public          = true
      runtime         = "python311"
      memory          = "1Gi"
      cpu             = "1"
      timeout_seconds = 60
      concurrency     = 8
      min_instances   = 0
      max_instances   = 5
    }
  }

  validation {
    condition = alltrue([
      for f in values(var.functions) : contains(["http", "cloudevent"], f.signature_type)
    ])
    error_message = "signature_type is http or cloudevent."
  }
}

variable "function_overrides" {
  description = "Per-function changes merged over var.functions, e.g. { worker = { memory = \"2Gi\", max_instances = 50 } }."
  type = map(object({
    runtime         = optional(string)
    memory          = optional(string)
    cpu             = optional(string)
    timeout_seconds = optional(number)
    concurrency     = optional(number)
    min_instances   = optional(number)
    max_instances   = optional(number)
  }))
  default = {}
}

# --- messaging ----------------------------------------------------------------------------

variable "internal_topic" {
  description = "The internal topic between intake (webhook, pubsub_push, pull) and the worker."
  type        = string
  default     = "mapper-events"
}

variable "pull_tasks_topic" {
  description = "The topic of pull tasks: the scheduled pull call publishes one per due pull integration."
  type        = string
  default     = "mapper-pull-tasks"
}

variable "max_delivery_attempts" {
  description = "Deliveries of an internal message to the worker before it goes to the dead-letter topic (Pub/Sub allows 5 to 100)."
  type        = number
  default     = 10

  validation {
    condition     = var.max_delivery_attempts >= 5 && var.max_delivery_attempts <= 100
    error_message = "Pub/Sub allows 5 to 100 delivery attempts."
  }
}

variable "reconcile_after_seconds" {
  description = "A run queued, retrying or being delivered for longer than this is published again by the reconciler (docs/data-plane.md). Keep it above the longest retry backoff plus the longest delivery lease (150 s)."
  type        = number
  default     = 900

  validation {
    condition     = var.reconcile_after_seconds >= 300
    error_message = "The horizon must be at least 300 seconds: shorter republishes runs that are only waiting for their backoff."
  }
}

variable "reconcile_max_republishes" {
  description = "Republishes of a run lost by the queue before it is ended as error (\"lost by the queue after N republishes\")."
  type        = number
  default     = 3

  validation {
    condition     = var.reconcile_max_republishes >= 1 && var.reconcile_max_republishes <= 20
    error_message = "Between 1 and 20 republishes."
  }
}

variable "notify_smtp_host" {
  description = "The SMTP relay notification mail goes through (notify.email); with notify_smtp_user it logs in, else it must accept the functions' mail without a login. Empty: no notification mail."
  type        = string
  default     = ""
}

variable "notify_smtp_port" {
  description = "The notification SMTP relay's port."
  type        = number
  default     = 587
}

variable "notify_smtp_from" {
  description = "The sender address of notification mail."
  type        = string
  default     = "mapper@localhost"
}

variable "notify_smtp_user" {
  description = "The user notification mail logs in to the relay as (empty: no login)."
  type        = string
  default     = ""
}

variable "notify_smtp_password_secret" {
  description = "The Secret Manager secret version holding the relay's password (projects/<number>/secrets/mapper-.../versions/latest): named mapper-... so that the functions' existing access to the platform's secrets reads it. Empty: no password."
  type        = string
  default     = ""

  validation {
    condition     = var.notify_smtp_password_secret == "" || can(regex("^projects/[^/]+/secrets/mapper-[A-Za-z0-9_-]+/versions/[A-Za-z0-9_-]+$", var.notify_smtp_password_secret))
    error_message = "notify_smtp_password_secret must be projects/<project>/secrets/mapper-<name>/versions/<version>."
  }
}

variable "notify_smtp_tls" {
  description = "How notification mail is protected: starttls, ssl (implicit TLS) or none (only for a relay the egress allowlist and SMTP_PLAINTEXT_ALLOW trust)."
  type        = string
  default     = "starttls"

  validation {
    condition     = contains(["starttls", "ssl", "none"], var.notify_smtp_tls)
    error_message = "notify_smtp_tls must be starttls, ssl or none."
  }
}

variable "smtp_plaintext_allow" {
  description = "Comma-separated SMTP hosts an email target may log in to without TLS or SSL (empty: none; the platform refuses plaintext logins elsewhere)."
  type        = string
  default     = ""
}

variable "retry_min_backoff_seconds" {
  description = "Shortest wait before Pub/Sub redelivers a message the worker failed (exponential up to the maximum)."
  type        = number
  default     = 10
}

variable "retry_max_backoff_seconds" {
  description = "Longest wait before a redelivery (Pub/Sub allows at most 600 s)."
  type        = number
  default     = 600

  validation {
    condition     = var.retry_max_backoff_seconds <= 600
    error_message = "Pub/Sub allows a maximum backoff of at most 600 seconds."
  }
}

variable "pull_schedule" {
  description = "Cron schedule of the pull function (Cloud Scheduler); every minute by default."
  type        = string
  default     = "* * * * *"
}

variable "pull_scheduler_enabled" {
  description = "Whether the scheduler job runs; false pauses every pull integration at once."
  type        = bool
  default     = true
}

# --- settings the functions read (README, "Settings") -------------------------------------

variable "public_base_url" {
  description = <<-EOT
    Base URL of a load balancer or custom domain routing /webhook/* to the webhook function,
    /pubsub/* to pubsub_push and everything else to api (infra/README.md, "Routing"). Empty:
    each function's own run.app URL is used, which costs nothing while idle.
  EOT
  type        = string
  default     = ""

  validation {
    condition     = var.public_base_url == "" || can(regex("^https://[^/]+$", var.public_base_url))
    error_message = "public_base_url is empty or https://host, without a path or trailing slash."
  }
}

variable "run_retention_days" {
  description = "Days a run record is kept; Firestore's TTL policy on runs.expireAt deletes it after (within about a day)."
  type        = number
  default     = 30
}

variable "record_runs_at_accept" {
  description = "RECORD_AT_ACCEPT: true writes a webhook event's run queued once its sender has the 202, off the sender's path, so the event survives even the loss of its Pub/Sub message; false leaves the first record to the worker, one Firestore write and one read an event fewer (docs/data-plane.md, When a run is recorded; docs/deploy.md, Levers)."
  type        = bool
  default     = true
}

variable "success_payload_retention_days" {
  description = "Days a successful run keeps its mapped output, request and response (SUCCESS_PAYLOAD_RETENTION_DAYS): 0 drops them when the run succeeds, null keeps them as long as the run (run_retention_days). Nothing between: expiring them apart would cost more writes than the storage saved (docs/deploy.md, Levers). The incoming payload is always kept with the run."
  type        = number
  default     = null
  validation {
    condition     = coalesce(var.success_payload_retention_days, var.run_retention_days) == 0 || coalesce(var.success_payload_retention_days, var.run_retention_days) >= var.run_retention_days
    error_message = "success_payload_retention_days must be 0, null, or at least run_retention_days."
  }
}

variable "audit_retention_days" {
  description = "Days an audit log entry is kept (AUDIT_RETENTION_DAYS); Firestore's TTL policy on auditLog.expireAt deletes it after (within about a day)."
  type        = number
  default     = 365
}

variable "auth_failure_limit" {
  description = "Failed API sign-ins per client address and minute, per api instance, before 429 (AUTH_FAILURE_LIMIT)."
  type        = number
  default     = 20
}

variable "max_body_bytes" {
  description = "Largest webhook or push body accepted (MAX_BODY_BYTES)."
  type        = number
  default     = 10000000
}

variable "api_max_body_bytes" {
  description = "Largest request body the management API accepts (API_MAX_BODY_BYTES)."
  type        = number
  default     = 2000000
}

variable "egress_allow_cidrs" {
  description = "Comma-separated CIDRs that targets may reach although private (EGRESS_ALLOW_CIDRS); empty: none."
  type        = string
  default     = ""
}

variable "config_cache_seconds" {
  description = "How long a worker keeps an integration document (CONFIG_CACHE_SECONDS)."
  type        = number
  default     = 30
}

variable "plan_cache_size" {
  description = "Compiled plans kept per instance (PLAN_CACHE_SIZE); each with JavaScript holds a V8 isolate."
  type        = number
  default     = 64
}

variable "pull_concurrency" {
  description = "Messages of one pulled batch queued at once (PULL_CONCURRENCY)."
  type        = number
  default     = 16
}

variable "pull_batch_size" {
  description = "Messages the pull function takes from a subscription per request (PULL_BATCH_SIZE)."
  type        = number
  default     = 100
}

variable "log_level" {
  description = "LOG_LEVEL of every function: DEBUG, INFO, WARNING or ERROR."
  type        = string
  default     = "INFO"
}

# --- secrets ------------------------------------------------------------------------------

variable "admin_token_version" {
  description = "Bump to rotate the admin token: a new random value becomes the secret's latest version."
  type        = number
  default     = 1
}

# --- alerts (monitoring.tf) ----------------------------------------------------------------

variable "alert_email" {
  description = "Email address the alert policies notify; empty: the policies exist, visible in the console, but notify nobody."
  type        = string
  default     = ""

  validation {
    condition     = var.alert_email == "" || can(regex("^[^@\\s]+@[^@\\s]+\\.[^@\\s]+$", var.alert_email))
    error_message = "alert_email is empty or one email address."
  }
}

variable "alert_error_rate" {
  description = "Share of one integration's delivery attempts that may fail (error, retrying, dead_lettered) over 10 minutes before the error-rate alert fires."
  type        = number
  default     = 0.2

  validation {
    condition     = var.alert_error_rate > 0 && var.alert_error_rate <= 1
    error_message = "alert_error_rate is a share: above 0, at most 1."
  }
}

variable "alert_oldest_unacked_seconds" {
  description = "Age of the oldest message the worker has not acknowledged above which the backlog alert fires; the default outlasts the whole retry schedule (10 attempts, 10 to 600 s apart: roughly 40 minutes)."
  type        = number
  default     = 3600
}

# --- data protection and cost -------------------------------------------------------------

variable "firestore_point_in_time_recovery" {
  description = "Keep 7 days of Firestore versions for point-in-time recovery (billed as storage)."
  type        = bool
  default     = false
}

variable "artifact_keep_versions" {
  description = "Function images kept per function in Artifact Registry; older ones are deleted."
  type        = number
  default     = 5
}

variable "exclude_request_logs" {
  description = "Drop Cloud Run's request log entries of the platform's functions before Cloud Logging stores or bills them (infra/logging.tf); false keeps them."
  type        = bool
  default     = true
}
