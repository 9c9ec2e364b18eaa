output "site_url" {
  description = "The web UI and management API (SITE_URL)."
  value       = local.site_url
}

output "webhook_base_url" {
  description = "Webhook URLs are <this>/webhook/<path>/ (WEBHOOK_BASE_URL)."
  value       = local.webhook_base_url
}

output "push_base_url" {
  description = "Pub/Sub push endpoints are <this>/pubsub/<path>/ (PUSH_BASE_URL)."
  value       = local.push_base_url
}

output "function_urls" {
  description = "Each function's deterministic run.app URL, as the settings use them."
  value       = local.function_urls
}

output "function_uris" {
  description = "Each function's URL as Cloud Run reports it."
  value       = { for name, f in module.function : name => f.uri }
}

output "admin_token_secret" {
  description = "Secret Manager secret holding the admin token (ADMIN_TOKEN)."
  value       = google_secret_manager_secret.admin_token.secret_id
}

output "admin_token_command" {
  description = "Prints the admin token."
  value       = "gcloud secrets versions access latest --secret=${google_secret_manager_secret.admin_token.secret_id} --project=${var.project_id}"
}

output "push_service_account" {
  description = "The identity of users' push subscriptions' OIDC tokens (PUSH_SERVICE_ACCOUNT)."
  value       = google_service_account.push_auth.email
}

output "invoker_service_account" {
  description = "The identity of the platform's own pushes and scheduled calls (PULL_INVOKER_SERVICE_ACCOUNT)."
  value       = google_service_account.invoker.email
}

output "function_service_accounts" {
  description = "The service account each function runs as."
  value       = { for name, sa in google_service_account.function : name => sa.email }
}

output "topics" {
  description = "The platform's own topics."
  value       = local.topics
}

output "source_bucket" {
  description = "Where deploy.sh's function zips are uploaded."
  value       = google_storage_bucket.sources.name
}

output "pull_scheduler_job" {
  description = "The Cloud Scheduler job that starts the pull function (the smoke test runs it at once)."
  value       = google_cloud_scheduler_job.pull.name
}

output "pubsub_service_agent" {
  description = "Pub/Sub's service agent: it dead-letters messages and signs push tokens."
  value       = google_project_service_identity.pubsub.email
}
