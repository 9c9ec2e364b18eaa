# The admin token of the management API (ADMIN_TOKEN on the api function).
#
# Its value is random, made by an ephemeral resource and written through a write-only
# argument: it is never in the Terraform state or plan. Read it with
#   gcloud secrets versions access latest --secret=<output admin_token_secret>
# Bump var.admin_token_version to rotate it; api instances started after that use the new
# one. Its id deliberately does not start with "mapper-": the IAM conditions that let
# functions reach integration secrets (local.iam_conditions) must not reach it.

ephemeral "random_password" "admin_token" {
  length  = 48
  special = false
}

resource "google_secret_manager_secret" "admin_token" {
  project   = var.project_id
  secret_id = "admin-token-${var.name_prefix}"

  replication {
    auto {}
  }

  depends_on = [google_project_service.enabled]
}

resource "google_secret_manager_secret_version" "admin_token" {
  secret                 = google_secret_manager_secret.admin_token.id
  secret_data_wo         = ephemeral.random_password.admin_token.result
  secret_data_wo_version = var.admin_token_version
}
