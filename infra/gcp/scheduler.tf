# The three fixed jobs. Each POSTs to its function with an OIDC token of the scheduler account, whose audience is the
# function's URL (Cloud Run checks both the token and the account's roles/run.invoker). The per-secret jobs
# (rotator-secret-<id>) are not here: the reconciler makes them from the secrets' rotation schedules, with the same
# account and the rotate function's URL.

resource "google_cloud_scheduler_job" "sweep" {
  name             = "${var.name_prefix}-sweep"
  project          = var.project_id
  region           = var.region
  description      = "Rotator: rotate every secret that is due (a safety net for missed notifications and per-secret jobs)."
  schedule         = var.sweep_schedule
  time_zone        = "Etc/UTC"
  attempt_deadline = "1800s"

  http_target {
    http_method = "POST"
    uri         = google_cloudfunctions2_function.rotate.service_config[0].uri
    body        = base64encode(local.sweep_request)
    headers     = { "Content-Type" = "application/json" }
    oidc_token {
      service_account_email = google_service_account.scheduler.email
      audience              = google_cloudfunctions2_function.rotate.service_config[0].uri
    }
  }

  depends_on = [google_cloud_run_v2_service_iam_member.scheduler_invokes_rotate]
}

resource "google_cloud_scheduler_job" "purge" {
  name             = "${var.name_prefix}-purge"
  project          = var.project_id
  region           = var.region
  description      = "Rotator: retire secret versions superseded for longer than the safe window, after revoking them."
  schedule         = var.purge_schedule
  time_zone        = "Etc/UTC"
  attempt_deadline = "1800s"

  # A purge that failed as a whole (the function did not answer) is worth another try the same day.
  retry_config {
    retry_count          = 2
    min_backoff_duration = "300s"
    max_backoff_duration = "1800s"
  }

  http_target {
    http_method = "POST"
    uri         = google_cloudfunctions2_function.purge.service_config[0].uri
    body        = base64encode("{}")
    headers     = { "Content-Type" = "application/json" }
    oidc_token {
      service_account_email = google_service_account.scheduler.email
      audience              = google_cloudfunctions2_function.purge.service_config[0].uri
    }
  }

  depends_on = [google_cloud_run_v2_service_iam_member.scheduler_invokes_purge]
}

resource "google_cloud_scheduler_job" "reconcile" {
  name             = "${var.name_prefix}-reconcile"
  project          = var.project_id
  region           = var.region
  description      = "Rotator: one rotator-secret-<id> job per rotation-enabled secret, at its next rotation time."
  schedule         = var.reconcile_schedule
  time_zone        = "Etc/UTC"
  attempt_deadline = "300s"

  http_target {
    http_method = "POST"
    uri         = google_cloudfunctions2_function.reconcile_jobs.service_config[0].uri
    body        = base64encode("{}")
    headers     = { "Content-Type" = "application/json" }
    oidc_token {
      service_account_email = google_service_account.scheduler.email
      audience              = google_cloudfunctions2_function.reconcile_jobs.service_config[0].uri
    }
  }

  depends_on = [google_cloud_run_v2_service_iam_member.scheduler_invokes_reconcile_jobs]
}
