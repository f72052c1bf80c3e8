# Rotator on Google Cloud: the four Cloud Run functions (2nd gen) that rotate and purge Secret Manager secrets, and
# what they need. Applied with Terraform (or OpenTofu) >= 1.6 and the google provider 6.x (google-beta only for the
# Secret Manager service agent, which the google provider cannot create). See the README's "On Google Cloud" section.
terraform {
  required_version = ">= 1.6"
  required_providers {
    google = {
      source  = "hashicorp/google"
      version = "~> 6.0"
    }
    google-beta = {
      source  = "hashicorp/google-beta"
      version = "~> 6.0"
    }
    # archive_file with glob patterns in `excludes` (2.4 and later).
    archive = {
      source  = "hashicorp/archive"
      version = "~> 2.4"
    }
  }
}

provider "google" {
  project = var.project_id
  region  = var.region
}

provider "google-beta" {
  project = var.project_id
  region  = var.region
}
