locals {
  # The functions' names (and so their Cloud Run services'), spelled once: IAM, the trigger and the metric use them.
  function_names = {
    on_secret_event = "${var.name_prefix}-on-secret-event"
    rotate          = "${var.name_prefix}-rotate"
    purge           = "${var.name_prefix}-purge"
    reconcile_jobs  = "${var.name_prefix}-reconcile-jobs"
  }

  # The build compiles the TypeScript (npm run build) and the Functions Framework loads this module, which registers
  # onSecretEvent, rotate, purge and reconcileJobs.
  function_source = "dist/functions/gcp/index.js"
  runtime         = "nodejs22"

  # Every secret (and each of its versions) whose id starts with the prefix. Secret Manager gives resource names with
  # the project number in IAM conditions, never the project id. The prefix is validated to secret-id characters, so it
  # cannot end the string early.
  secret_condition = "resource.name.startsWith(\"projects/${var.project_number}/secrets/${var.secret_name_prefix}\")"

  # None of these is a secret: the functions reach Secret Manager and Cloud Scheduler with their own service accounts.
  function_env = {
    ROTATOR_PROJECT         = var.project_id
    # Secret Manager names secrets by project number in its notifications: onSecretEvent accepts either.
    ROTATOR_PROJECT_NUMBER  = var.project_number
    ROTATOR_SECRET_PREFIX   = var.secret_name_prefix
    ROTATION_STRATEGY       = var.rotation_strategy
    ROTATOR_SAFE_WINDOW     = var.safe_window
    ROTATOR_KEEP_SUPERSEDED = tostring(var.keep_superseded)
    LOG_LEVEL               = var.log_level
  }

  # The sweep job's request to the rotate function: rotate every secret that is due.
  sweep_request = "{\"due\":true}"

  apis = toset([
    "artifactregistry.googleapis.com",
    "cloudbuild.googleapis.com",
    "cloudfunctions.googleapis.com",
    "cloudresourcemanager.googleapis.com",
    "cloudscheduler.googleapis.com",
    "eventarc.googleapis.com",
    "iam.googleapis.com",
    "logging.googleapis.com",
    "monitoring.googleapis.com",
    "pubsub.googleapis.com",
    "run.googleapis.com",
    "secretmanager.googleapis.com",
    "storage.googleapis.com",
  ])
}

resource "google_project_service" "apis" {
  for_each = local.apis
  project  = var.project_id
  service  = each.value
  # Other workloads of the project may use the same APIs: destroying Rotator must not switch them off.
  disable_on_destroy = false
}

# ---- the source: the repository without what the functions do not run, built by Cloud Build ----

data "archive_file" "source" {
  type        = "zip"
  source_dir  = "${path.module}/../.."
  output_path = "${path.module}/.build/source.zip"
  # infra/ holds Terraform state (which can hold secrets) and this zip itself; tests, benchmarks, docs and local
  # stores (.rotator/) never go to the cloud. A directory's name excludes all of it.
  excludes = [
    ".git",
    ".ci",
    ".rotator",
    ".serverless",
    ".esbuild",
    "node_modules",
    "dist",
    "coverage",
    "infra",
    "test",
    "bench",
    "scripts",
    "examples",
    "docs",
    "serverless.yml",
    "host.json",
    ".funcignore",
    "**/*.tfstate*",
    "**/.env*",
  ]
  exclude_symlink_directories = true
}

resource "google_storage_bucket" "source" {
  name                        = "${var.project_id}-${var.name_prefix}-source"
  project                     = var.project_id
  location                    = var.region
  uniform_bucket_level_access = true
  public_access_prevention    = "enforced"
  force_destroy               = true
  labels                      = var.labels
  depends_on                  = [google_project_service.apis]
}

# Named by content, so a change of the source makes a new object and Terraform rebuilds the functions.
resource "google_storage_bucket_object" "source" {
  name   = "source-${data.archive_file.source.output_md5}.zip"
  bucket = google_storage_bucket.source.name
  source = data.archive_file.source.output_path
}

# ---- one service account per function, one for the scheduler's calls, one for the Eventarc trigger ----

resource "google_service_account" "on_secret_event" {
  project      = var.project_id
  account_id   = "${var.name_prefix}-event"
  display_name = "Rotator: onSecretEvent (rotates the secret a SECRET_ROTATE notification names)"
  depends_on   = [google_project_service.apis]
}

resource "google_service_account" "rotate" {
  project      = var.project_id
  account_id   = "${var.name_prefix}-rotate"
  display_name = "Rotator: rotate (one secret now, or every due secret)"
  depends_on   = [google_project_service.apis]
}

resource "google_service_account" "purge" {
  project      = var.project_id
  account_id   = "${var.name_prefix}-purge"
  display_name = "Rotator: purge (retires versions past the safe window)"
  depends_on   = [google_project_service.apis]
}

resource "google_service_account" "reconcile_jobs" {
  project      = var.project_id
  account_id   = "${var.name_prefix}-reconcile"
  display_name = "Rotator: reconcileJobs (keeps the per-secret Cloud Scheduler jobs in line)"
  depends_on   = [google_project_service.apis]
}

# The identity in the OIDC tokens of every Rotator job, the fixed ones here and the per-secret ones the reconciler makes.
resource "google_service_account" "scheduler" {
  project      = var.project_id
  account_id   = "${var.name_prefix}-scheduler"
  display_name = "Rotator: Cloud Scheduler jobs (invokes rotate, purge and reconcileJobs)"
  depends_on   = [google_project_service.apis]
}

resource "google_service_account" "trigger" {
  project      = var.project_id
  account_id   = "${var.name_prefix}-trigger"
  display_name = "Rotator: Eventarc trigger (invokes onSecretEvent)"
  depends_on   = [google_project_service.apis]
}
