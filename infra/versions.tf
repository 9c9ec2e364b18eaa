# Exact provider versions: a deploy next year builds what this commit was tested with.
# `terraform init` writes .terraform.lock.hcl with their checksums; commit it after the first
# init on a machine that can reach the registry.
terraform {
  # 1.11: write-only arguments (the admin token never enters the state).
  required_version = ">= 1.11.0"

  required_providers {
    google = {
      source  = "hashicorp/google"
      version = "7.42.0"
    }
    google-beta = {
      source  = "hashicorp/google-beta"
      version = "7.42.0"
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
