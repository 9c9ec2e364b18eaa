# Service accounts and every role they hold. No basic role (Owner, Editor, Viewer) anywhere;
# roles are granted on the single resource where IAM allows it, else on the project with a
# condition where one narrows it.

# --- who runs what ------------------------------------------------------------------------

# One identity per function: what one function may do says nothing about the others.
resource "google_service_account" "function" {
  for_each     = local.function_names
  project      = var.project_id
  account_id   = each.value
  display_name = "JSON mapper: ${each.key} function"
  description  = "Runs the ${each.key} Cloud Function; its roles are local.function_grants in infra/iam.tf."

  depends_on = [google_project_service.enabled]
}

# Cloud Build runs as this account when it turns a source zip into a function image.
resource "google_service_account" "build" {
  project      = var.project_id
  account_id   = "${var.name_prefix}-build"
  display_name = "JSON mapper: function builds"

  depends_on = [google_project_service.enabled]
}

# The identity in the OIDC tokens of the platform's own pushes and scheduled calls: the
# worker, dead_letter and pull functions admit it (run.invoker) and nobody else.
resource "google_service_account" "invoker" {
  project      = var.project_id
  account_id   = "${var.name_prefix}-invoker"
  display_name = "JSON mapper: internal push and scheduler invoker"

  depends_on = [google_project_service.enabled]
}

# The identity in the OIDC tokens of delivery tasks (DELIVER_INVOKER_SERVICE_ACCOUNT): the
# worker and the api name it on the Cloud Tasks tasks they create (actAs), and only the
# deliver function admits it (run.invoker). It holds no role: it only signs.
resource "google_service_account" "tasks_invoker" {
  project      = var.project_id
  account_id   = "${var.name_prefix}-tasks-invoker"
  display_name = "JSON mapper: delivery task invoker"

  depends_on = [google_project_service.enabled]
}

# The identity in the OIDC tokens of users' push subscriptions (PUSH_SERVICE_ACCOUNT): the
# api attaches it to the subscriptions it creates and pubsub_push accepts only its tokens.
# It holds no role: it only signs.
resource "google_service_account" "push_auth" {
  project      = var.project_id
  account_id   = "${var.name_prefix}-push-auth"
  display_name = "JSON mapper: Pub/Sub push authentication"

  depends_on = [google_project_service.enabled]
}

# --- what each function may do ------------------------------------------------------------

locals {
  # Every role a function's service account holds, and on what:
  #   project                  the project (for Firestore and the Pub/Sub admin the api does)
  #   topic:<key>              one topic of local.topics
  #   secret:admin_token       the admin token secret
  #   service_account:push_auth  the push authentication account
  #   service_account:tasks_invoker  the delivery tasks' OIDC identity
  # `condition` names one of local.iam_conditions. This table is the only statement of who
  # holds what: tests/infra/test_iam.py holds it to rules (which roles may be project-wide,
  # secret roles conditioned, a publisher told of its topic, a mounted secret readable) and
  # checks that no other grant names a function's account.
  function_grants = {
    "webhook/firestore"       = { function = "webhook", role = "roles/datastore.user", on = "project", condition = null }
    "webhook/publish"         = { function = "webhook", role = "roles/pubsub.publisher", on = "topic:internal", condition = null }
    "webhook/publish-ordered" = { function = "webhook", role = "roles/pubsub.publisher", on = "topic:internal_ordered", condition = null }
    # Signature secrets of webhook sources.
    "webhook/secrets" = { function = "webhook", role = "roles/secretmanager.secretAccessor", on = "project", condition = "integration_secrets" }

    "pubsub_push/firestore"       = { function = "pubsub_push", role = "roles/datastore.user", on = "project", condition = null }
    "pubsub_push/publish"         = { function = "pubsub_push", role = "roles/pubsub.publisher", on = "topic:internal", condition = null }
    "pubsub_push/publish-ordered" = { function = "pubsub_push", role = "roles/pubsub.publisher", on = "topic:internal_ordered", condition = null }

    "worker/firestore" = { function = "worker", role = "roles/datastore.user", on = "project", condition = null }
    # Target credentials (bearer tokens, passwords, API keys).
    "worker/secrets" = { function = "worker", role = "roles/secretmanager.secretAccessor", on = "project", condition = "integration_secrets" }

    # Paced delivery (docs/delivery.md): tasks on the per-target queues, made at run time.
    "worker/enqueue" = { function = "worker", role = "roles/cloudtasks.enqueuer", on = "project", condition = null }
    # A task carrying an OIDC token needs actAs on the token's account.
    "worker/act-as-tasks-invoker" = { function = "worker", role = "roles/iam.serviceAccountUser", on = "service_account:tasks_invoker", condition = null }

    # Sends one queued run to one target as the worker does: the same records and secrets.
    "deliver/firestore" = { function = "deliver", role = "roles/datastore.user", on = "project", condition = null }
    "deliver/secrets"   = { function = "deliver", role = "roles/secretmanager.secretAccessor", on = "project", condition = "integration_secrets" }
    # A failed attempt's next one is a new task at its nextAttemptAt (docs/delivery.md).
    "deliver/enqueue"              = { function = "deliver", role = "roles/cloudtasks.enqueuer", on = "project", condition = null }
    "deliver/act-as-tasks-invoker" = { function = "deliver", role = "roles/iam.serviceAccountUser", on = "service_account:tasks_invoker", condition = null }

    "dead_letter/firestore" = { function = "dead_letter", role = "roles/datastore.user", on = "project", condition = null }
    # A run the queue gave up on while it still has attempts left goes back on the topic.
    "dead_letter/publish" = { function = "dead_letter", role = "roles/pubsub.publisher", on = "topic:internal", condition = null }
    # Signing keys of notify POSTs (mapper.notify): a run it ends dead_lettered is notified.
    "dead_letter/secrets" = { function = "dead_letter", role = "roles/secretmanager.secretAccessor", on = "project", condition = "integration_secrets" }

    "pull/firestore"       = { function = "pull", role = "roles/datastore.user", on = "project", condition = null }
    "pull/publish"         = { function = "pull", role = "roles/pubsub.publisher", on = "topic:internal", condition = null }
    "pull/publish-ordered" = { function = "pull", role = "roles/pubsub.publisher", on = "topic:internal_ordered", condition = null }
    "pull/publish-tasks"   = { function = "pull", role = "roles/pubsub.publisher", on = "topic:pull_tasks", condition = null }
    # A resume's held runs of a paced target are queued as tasks by the pull function.
    "pull/enqueue"              = { function = "pull", role = "roles/cloudtasks.enqueuer", on = "project", condition = null }
    "pull/act-as-tasks-invoker" = { function = "pull", role = "roles/iam.serviceAccountUser", on = "service_account:tasks_invoker", condition = null }
    # Pull subscriptions that live in the platform project; other projects' subscriptions
    # are read with the integration's own credentials. Only consume (pull, acknowledge):
    # roles/pubsub.subscriber would also attach new subscriptions to any topic here.
    "pull/subscribe" = { function = "pull", role = google_project_iam_custom_role.consume.name, on = "project", condition = null }
    # Pub/Sub source credentials.
    "pull/secrets" = { function = "pull", role = "roles/secretmanager.secretAccessor", on = "project", condition = "integration_secrets" }

    "api/firestore" = { function = "api", role = "roles/datastore.user", on = "project", condition = null }
    # Creates, reads and deletes the per-integration secrets, mapper-<integration id>-...
    "api/secrets" = { function = "api", role = "roles/secretmanager.admin", on = "project", condition = "integration_secrets_admin" }
    # Creates, reads, repoints and deletes users' push and pull subscriptions, publishes test
    # messages: local.subscription_permissions, not roles/pubsub.editor (see below).
    "api/pubsub" = { function = "api", role = google_project_iam_custom_role.subscriptions.name, on = "project", condition = null }
    # Attaching an OIDC identity to a push subscription needs actAs on that identity.
    "api/act-as-push-auth" = { function = "api", role = "roles/iam.serviceAccountUser", on = "service_account:push_auth", condition = null }
    "api/admin-token"      = { function = "api", role = "roles/secretmanager.secretAccessor", on = "secret:admin_token", condition = null }
    # The first task of a bulk redrive (mapper.redrive).
    "api/publish-tasks" = { function = "api", role = "roles/pubsub.publisher", on = "topic:pull_tasks", condition = null }
    # Creates, configures, pauses, resumes and deletes the delivery queues of paced targets,
    # counts and adds their tasks: local.delivery_queue_permissions (see below).
    "api/delivery-queues"      = { function = "api", role = google_project_iam_custom_role.delivery_queues.name, on = "project", condition = null }
    "api/act-as-tasks-invoker" = { function = "api", role = "roles/iam.serviceAccountUser", on = "service_account:tasks_invoker", condition = null }
  }

  iam_conditions = {
    integration_secrets = {
      title       = "integration secrets only"
      description = "Secrets named ${local.integration_secret_prefix}*: those the api stores for integrations."
      expression  = "resource.name.startsWith(\"projects/${local.project_number}/secrets/${local.integration_secret_prefix}\")"
    }
    # Creating a secret, and listing them, is checked on the project itself; every other
    # permission of the role is checked on a secret and limited to the integration secrets.
    integration_secrets_admin = {
      title       = "create, and manage integration secrets only"
      description = "The project (create, list) and secrets named ${local.integration_secret_prefix}*."
      expression  = "resource.type == \"cloudresourcemanager.googleapis.com/Project\" || resource.name.startsWith(\"projects/${local.project_number}/secrets/${local.integration_secret_prefix}\")"
    }
  }

  topics = {
    internal         = google_pubsub_topic.internal.name
    internal_ordered = google_pubsub_topic.internal_ordered.name
    dead_letter      = google_pubsub_topic.dead_letter.name
    pull_tasks       = google_pubsub_topic.pull_tasks.name
  }
  secrets = {
    admin_token = google_secret_manager_secret.admin_token.secret_id
  }
  service_accounts = {
    push_auth     = google_service_account.push_auth.name
    tasks_invoker = google_service_account.tasks_invoker.name
  }
}

# What the api's delivery queues (shared/mapper/cloud_tasks.py) call, and nothing else:
# roles/cloudtasks.queueAdmin cannot add or count tasks, and holds purge and list besides.
# tests/infra/test_iam.py holds this list to the client calls that module makes.
#
# Not narrowed by name: Cloud Tasks is not among the services whose IAM conditions can test
# a resource's name (Google's "resource attributes" list for IAM Conditions), and the queues
# are made at run time, so no grant can name them in advance. The api makes only queues
# named <name_prefix>-<integration>-<hash>-g<n>.
locals {
  delivery_queue_permissions = [
    "cloudtasks.queues.create",
    "cloudtasks.queues.delete",
    "cloudtasks.queues.get",
    "cloudtasks.queues.pause",
    "cloudtasks.queues.resume",
    "cloudtasks.queues.update",
    "cloudtasks.tasks.create",
    "cloudtasks.tasks.list",
  ]
}

resource "google_project_iam_custom_role" "delivery_queues" {
  project     = var.project_id
  role_id     = "${replace(var.name_prefix, "-", "_")}_delivery_queues"
  title       = "JSON mapper: delivery queues"
  description = "Create, configure, pause, resume and delete paced targets' Cloud Tasks queues; add and count their tasks."
  permissions = local.delivery_queue_permissions

  depends_on = [google_project_service.enabled]
}

# What the api's subscription manager (shared/mapper/sources/subscriptions.py) calls with
# the platform's own identity, and nothing else: create a subscription on a topic, read it,
# change its push endpoint, delete it, and publish a test message. roles/pubsub.editor held
# far more: deleting topics and snapshots, seeking, and consuming any subscription's
# messages. tests/infra/test_iam.py holds this list to the permissions that module names.
#
# Not narrowed by name: Pub/Sub is not among the services whose IAM conditions can test a
# resource's name or type (Google's "resource attributes" list for IAM Conditions), and
# users choose their topics and may name their subscriptions. So the grant is project-wide,
# and with it the api could attach a subscription to the platform's own topics or repoint
# the worker's: the code refuses every source naming them (mapper.engine.reserved, checked
# by validation and again before each subscription call; docs/security.md). The api creates
# subscriptions only for integrations, named mapper-<id> unless the user names one, and
# deletes only those it created (managedSubscription).
locals {
  subscription_permissions = [
    "pubsub.subscriptions.create",
    "pubsub.subscriptions.delete",
    "pubsub.subscriptions.get",
    "pubsub.subscriptions.update",
    "pubsub.topics.attachSubscription",
    "pubsub.topics.publish",
  ]
}

resource "google_project_iam_custom_role" "subscriptions" {
  project     = var.project_id
  role_id     = "${replace(var.name_prefix, "-", "_")}_subscriptions"
  title       = "JSON mapper: integration subscriptions"
  description = "Create, read, repoint and delete Pub/Sub integrations' subscriptions; publish test messages."
  permissions = local.subscription_permissions

  depends_on = [google_project_service.enabled]
}

# The pull function's Pub/Sub rights: pull and acknowledge, nothing else (no attaching, no
# seeking). Project-wide for the reason above: the subscriptions it drains are made at run
# time; the platform's own are refused as sources before any pull (mapper.engine.reserved).
locals {
  consume_permissions = ["pubsub.subscriptions.consume"]
}

resource "google_project_iam_custom_role" "consume" {
  project     = var.project_id
  role_id     = "${replace(var.name_prefix, "-", "_")}_consume"
  title       = "JSON mapper: drain pull subscriptions"
  description = "Pull and acknowledge messages of pull integrations' subscriptions."
  permissions = local.consume_permissions

  depends_on = [google_project_service.enabled]
}

resource "google_project_iam_member" "function" {
  for_each = { for key, grant in local.function_grants : key => grant if grant.on == "project" }
  project  = var.project_id
  role     = each.value.role
  member   = "serviceAccount:${google_service_account.function[each.value.function].email}"

  dynamic "condition" {
    for_each = each.value.condition == null ? [] : [local.iam_conditions[each.value.condition]]
    content {
      title       = condition.value.title
      description = condition.value.description
      expression  = condition.value.expression
    }
  }
}

resource "google_pubsub_topic_iam_member" "function" {
  for_each = { for key, grant in local.function_grants : key => grant if startswith(grant.on, "topic:") }
  project  = var.project_id
  topic    = local.topics[trimprefix(each.value.on, "topic:")]
  role     = each.value.role
  member   = "serviceAccount:${google_service_account.function[each.value.function].email}"
}

resource "google_secret_manager_secret_iam_member" "function" {
  for_each  = { for key, grant in local.function_grants : key => grant if startswith(grant.on, "secret:") }
  project   = var.project_id
  secret_id = local.secrets[trimprefix(each.value.on, "secret:")]
  role      = each.value.role
  member    = "serviceAccount:${google_service_account.function[each.value.function].email}"
}

resource "google_service_account_iam_member" "function" {
  for_each           = { for key, grant in local.function_grants : key => grant if startswith(grant.on, "service_account:") }
  service_account_id = local.service_accounts[trimprefix(each.value.on, "service_account:")]
  role               = each.value.role
  member             = "serviceAccount:${google_service_account.function[each.value.function].email}"
}

# --- builds -------------------------------------------------------------------------------

# What Cloud Functions documents for a build service account. Read access to objects is
# project-wide because the build reads a copy of the zip in a bucket Cloud Functions
# creates itself (gcf-v2-sources-*), which Terraform cannot name in advance.
resource "google_project_iam_member" "build" {
  for_each = toset(["roles/logging.logWriter", "roles/storage.objectViewer"])
  project  = var.project_id
  role     = each.value
  member   = "serviceAccount:${google_service_account.build.email}"
}

resource "google_artifact_registry_repository_iam_member" "build" {
  project    = var.project_id
  location   = var.region
  repository = google_artifact_registry_repository.functions.name
  role       = "roles/artifactregistry.writer"
  member     = "serviceAccount:${google_service_account.build.email}"
}

# --- Pub/Sub's own service agent ----------------------------------------------------------

# Created on demand; it must exist before it can be granted anything.
resource "google_project_service_identity" "pubsub" {
  provider = google-beta
  project  = var.project_id
  service  = "pubsub.googleapis.com"

  depends_on = [google_project_service.enabled]
}

locals {
  pubsub_agent = "serviceAccount:${google_project_service_identity.pubsub.email}"
}

# Pub/Sub mints the OIDC tokens of push subscriptions as these accounts. (Projects created
# since April 2021 allow it without this grant; older ones need it.)
resource "google_service_account_iam_member" "pubsub_mints_tokens" {
  for_each = {
    invoker   = google_service_account.invoker.name
    push_auth = google_service_account.push_auth.name
  }
  service_account_id = each.value
  role               = "roles/iam.serviceAccountTokenCreator"
  member             = local.pubsub_agent
}

# Dead-lettering: Pub/Sub moves a message out of the worker's subscription into the
# dead-letter topic, as itself.
resource "google_pubsub_topic_iam_member" "pubsub_dead_letter_publisher" {
  project = var.project_id
  topic   = google_pubsub_topic.dead_letter.name
  role    = "roles/pubsub.publisher"
  member  = local.pubsub_agent
}

resource "google_pubsub_subscription_iam_member" "pubsub_dead_letter_subscriber" {
  project      = var.project_id
  subscription = google_pubsub_subscription.platform["worker"].name
  role         = "roles/pubsub.subscriber"
  member       = local.pubsub_agent
}

# The same for the ordered twin's worker subscription.
resource "google_pubsub_subscription_iam_member" "pubsub_dead_letter_subscriber_ordered" {
  project      = var.project_id
  subscription = google_pubsub_subscription.platform["worker_ordered"].name
  role         = "roles/pubsub.subscriber"
  member       = local.pubsub_agent
}
