# The platform's own topics. Every subscription pushes to a function's deterministic URL
# (main.tf) with an OIDC token of the invoker account for that URL; the invoker alone may
# invoke the internal functions. Users' subscriptions are created by the api at run time.
#
#   internal     intake -> worker          retries with backoff, then the dead-letter topic
#   internal_ordered  the same, for messages with an ordering key (orderingKey): its own
#                topic and subscription, so that only they pass through an ordered one
#   dead_letter  -> dead_letter function   ends the run as dead_lettered
#   pull_tasks   pull (scheduled) -> pull  one task per due pull integration

locals {
  retry_policy = {
    minimum_backoff = "${var.retry_min_backoff_seconds}s"
    maximum_backoff = "${var.retry_max_backoff_seconds}s"
  }
  # How long Pub/Sub waits for a push to answer: the function's own timeout (at most 600 s,
  # Pub/Sub's limit), so that a slow delivery is not redelivered while it still runs.
  ack_deadline = { for name, f in local.functions : name => max(10, min(600, f.timeout_seconds)) }

  # The longest one delivery may hold its run's lease: the longest target timeout (an HTTP
  # target's 120 s, mapper.engine.config.MAX_HTTP_TIMEOUT_S; an email's SMTP conversation,
  # 90 s) plus the lease margin (mapper.pipeline.LEASE_MARGIN_S, 30 s), i.e. the largest
  # mapper.pipeline.lease_seconds. The ack deadline of a subscription that triggers
  # deliveries must not be shorter, or Pub/Sub redelivers a message whose delivery still
  # runs. tests/infra/test_deadlines.py holds this number to the code.
  longest_delivery_seconds = 150
}

resource "google_pubsub_topic" "internal" {
  #checkov:skip=CKV_GCP_83:Messages live minutes; Google-managed encryption is enough and a CMEK key would cost at idle.
  project = var.project_id
  name    = var.internal_topic

  depends_on = [google_project_service.enabled]
}

# The internal topic's twin for integrations with orderingKey (mapper.queue.InternalQueue).
resource "google_pubsub_topic" "internal_ordered" {
  #checkov:skip=CKV_GCP_83:Same as the internal topic: short-lived messages, Google-managed encryption.
  project = var.project_id
  name    = "${var.internal_topic}-ordered"

  depends_on = [google_project_service.enabled]
}

resource "google_pubsub_topic" "dead_letter" {
  #checkov:skip=CKV_GCP_83:Same as the internal topic: short-lived messages, Google-managed encryption.
  project = var.project_id
  name    = "${var.internal_topic}-dead-letter"

  depends_on = [google_project_service.enabled]
}

resource "google_pubsub_topic" "pull_tasks" {
  #checkov:skip=CKV_GCP_83:Tasks hold only an integration id; Google-managed encryption is enough.
  project = var.project_id
  name    = var.pull_tasks_topic

  depends_on = [google_project_service.enabled]
}

# The platform's three push subscriptions, one resource: what differs between them is data.
#   function         the function it pushes to (URL, OIDC audience and ack deadline follow)
#   retention        how long an unacked message is kept
#   maximum_backoff  the longest wait before a redelivery
#   dead_letter      whether failed deliveries end on the dead-letter topic
#   ordered          whether messages of one ordering key are pushed in order, one at a time
#                    (integrations with orderingKey: docs/delivery.md, "Ordering")
#   delivers         whether its function sends to targets (its ack deadline then covers
#                    local.longest_delivery_seconds)
# After var.max_delivery_attempts failed deliveries (the worker raised, timed out or was
# unreachable) Pub/Sub moves a worker message to the dead-letter topic.
locals {
  subscriptions = {
    worker = {
      name            = "${var.internal_topic}-worker"
      topic           = google_pubsub_topic.internal.id
      function        = "worker"
      retention       = "604800s"
      maximum_backoff = local.retry_policy.maximum_backoff
      dead_letter     = true
      ordered         = false
      delivers        = true
    }
    worker_ordered = {
      name            = "${var.internal_topic}-ordered-worker"
      topic           = google_pubsub_topic.internal_ordered.id
      function        = "worker"
      retention       = "604800s"
      maximum_backoff = local.retry_policy.maximum_backoff
      dead_letter     = true
      ordered         = true
      delivers        = true
    }
    dead_letter = {
      name            = "${var.internal_topic}-dead-letter-push"
      topic           = google_pubsub_topic.dead_letter.id
      function        = "dead_letter"
      retention       = "604800s"
      maximum_backoff = local.retry_policy.maximum_backoff
      dead_letter     = false
      ordered         = false
      delivers        = false
    }
    # Retention is Pub/Sub's minimum. A task not done in ten minutes has been overtaken by
    # later rounds of the scheduler, which publish a fresh one: keeping it longer would only
    # pile up work; for the same reason a redelivery waits at most a minute.
    pull_tasks = {
      name            = "${var.pull_tasks_topic}-push"
      topic           = google_pubsub_topic.pull_tasks.id
      function        = "pull"
      retention       = "600s"
      maximum_backoff = "60s"
      dead_letter     = false
      ordered         = false
      delivers        = false
    }
  }
}

resource "google_pubsub_subscription" "platform" {
  for_each                   = local.subscriptions
  project                    = var.project_id
  name                       = each.value.name
  topic                      = each.value.topic
  ack_deadline_seconds       = local.ack_deadline[each.value.function]
  message_retention_duration = each.value.retention
  # Fixed at creation: turning it on replaces the subscription (docs/delivery.md).
  enable_message_ordering = each.value.ordered

  expiration_policy {
    ttl = ""
  }

  retry_policy {
    minimum_backoff = local.retry_policy.minimum_backoff
    maximum_backoff = each.value.maximum_backoff
  }

  dynamic "dead_letter_policy" {
    for_each = each.value.dead_letter ? [google_pubsub_topic.dead_letter.id] : []
    content {
      dead_letter_topic     = dead_letter_policy.value
      max_delivery_attempts = var.max_delivery_attempts
    }
  }

  push_config {
    push_endpoint = local.function_urls[each.value.function]
    oidc_token {
      service_account_email = google_service_account.invoker.email
      audience              = local.function_urls[each.value.function]
    }
  }

  lifecycle {
    precondition {
      condition     = !each.value.delivers || local.ack_deadline[each.value.function] >= local.longest_delivery_seconds
      error_message = "${each.value.name}: the ${each.value.function} function's timeout_seconds gives an ack deadline of ${local.ack_deadline[each.value.function]} s, shorter than the longest delivery (${local.longest_delivery_seconds} s: target timeout plus lease margin); a delivery still running would be sent again."
    }
  }

  depends_on = [module.function, google_service_account_iam_member.pubsub_mints_tokens]
}
