terraform {
  required_version = ">= 1.11.0"

  required_providers {
    google = {
      source = "hashicorp/google"
      # The root module pins the exact version.
      version = ">= 6.50.0"
    }
  }
}
