# Exact provider versions: a deploy next year builds what this commit was tested with.
# `terraform init` writes .terraform.lock.hcl with their checksums; commit it after the first
# init on a machine that can reach the registry.
#
# google and google-beta are pinned to the version whose schema infra/schema/ holds:
# tests/infra/test_schema.py checks every resource against it (terraform validate cannot
# run without downloading the providers) and fails when the two differ. The schema comes
# from the @cdktf/provider-google(-beta) npm packages, whose last release (16.12.1) is of
# provider 6.50.0; none was published for 7.x (CDKTF was deprecated), so moving to 7.x means
# finding another source of its schema first (infra/README.md, "Provider schema").
terraform {
  # 1.11: write-only arguments (the admin token never enters the state).
  required_version = ">= 1.11.0"

  required_providers {
    google = {
      source  = "hashicorp/google"
      version = "6.50.0"
    }
    google-beta = {
      source  = "hashicorp/google-beta"
      version = "6.50.0"
    }
    random = {
      source  = "hashicorp/random"
      version = "3.7.2"
    }
  }

  # No backend block: local state by default, one workspace per project. deploy.sh
  # --state-bucket writes backend_override.tf to keep the state in Cloud Storage instead
  # (see infra/README.md, "State").
}
