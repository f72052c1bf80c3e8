# Least privilege. Every grant below is a custom role holding only what one job needs, or roles/run.invoker on one
# function. No predefined Secret Manager role fits: setting the aliases `current` and `previous` and the bookkeeping
# annotations needs secretmanager.secrets.update, which no predefined role below the administrator's grants, and the
# administrator's role could also delete secrets and change who may read them. No Rotator role can create or delete
# a secret or change an IAM policy: companions (<id>-rotator-pending) are created when a secret is attached.

# ---- custom roles ----

# Rotation (onSecretEvent and rotate): read the secret and its companion; write the pending value to the companion
# and the tested value to the secret; move the aliases and annotations (etag compare-and-swap); destroy the
# companion's copy once the value is promoted. No enable or disable: Rotator uses neither.
resource "google_project_iam_custom_role" "rotation" {
  project     = var.project_id
  role_id     = "${var.name_prefix}SecretRotation"
  title       = "Rotator: secret rotation"
  description = "Read and rotate Secret Manager secrets: add versions, move aliases and annotations, destroy the companion's pending copies."
  permissions = [
    "secretmanager.secrets.get",
    "secretmanager.secrets.update",
    "secretmanager.versions.access",
    "secretmanager.versions.add",
    "secretmanager.versions.destroy",
    "secretmanager.versions.get",
    "secretmanager.versions.list",
  ]
}

# The purger: read what it retires and revokes (values too: a retired credential is revoked at the target first), move
# the alias away and drop the annotation, then destroy the version. It never adds a version.
resource "google_project_iam_custom_role" "purge" {
  project     = var.project_id
  role_id     = "${var.name_prefix}SecretPurge"
  title       = "Rotator: secret purge"
  description = "Retire superseded Secret Manager versions: read them, move aliases and annotations, destroy versions."
  permissions = [
    "secretmanager.secrets.get",
    "secretmanager.secrets.update",
    "secretmanager.versions.access",
    "secretmanager.versions.destroy",
    "secretmanager.versions.get",
    "secretmanager.versions.list",
  ]
}

# Listing is checked on the project, not on a secret, so the name condition cannot narrow it: it gets a role of its
# own, bound without a condition. It shows secrets' metadata (labels, annotations, rotation), never a value.
resource "google_project_iam_custom_role" "secret_lister" {
  project     = var.project_id
  role_id     = "${var.name_prefix}SecretLister"
  title       = "Rotator: list secrets"
  description = "List Secret Manager secrets (metadata only), to find the rotation-enabled ones."
  permissions = ["secretmanager.secrets.list"]
}

# The reconciler reads each secret's rotation schedule; it never reads a value.
resource "google_project_iam_custom_role" "schedule_reader" {
  project     = var.project_id
  role_id     = "${var.name_prefix}ScheduleReader"
  title       = "Rotator: read rotation schedules"
  description = "Read Secret Manager secrets' metadata (rotation schedule, labels), never a value."
  permissions = ["secretmanager.secrets.get"]
}

# The reconciler's jobs. Cloud Scheduler checks these on the project and location, so they cannot be narrowed to the
# rotator-secret- jobs; the reconciler itself touches only jobs with that prefix and its [rotator-managed] marker.
# No pause, resume or run: it never resumes a job a person paused.
resource "google_project_iam_custom_role" "job_reconciler" {
  project     = var.project_id
  role_id     = "${var.name_prefix}JobReconciler"
  title       = "Rotator: per-secret rotation jobs"
  description = "Create, read, update and delete Cloud Scheduler jobs (Rotator touches only its own rotator-secret- jobs)."
  permissions = [
    "cloudscheduler.jobs.create",
    "cloudscheduler.jobs.delete",
    "cloudscheduler.jobs.get",
    "cloudscheduler.jobs.list",
    "cloudscheduler.jobs.update",
  ]
}

# A job that carries a service account's OIDC token may be made only by someone who may act as that account; bound
# on the scheduler account alone.
resource "google_project_iam_custom_role" "act_as_scheduler" {
  project     = var.project_id
  role_id     = "${var.name_prefix}ActAsScheduler"
  title       = "Rotator: act as the scheduler account"
  description = "Make Cloud Scheduler jobs that carry the Rotator scheduler account's OIDC token."
  permissions = ["iam.serviceAccounts.actAs"]
}

# Secret Manager's service agent publishes rotation notifications to the topic.
resource "google_project_iam_custom_role" "topic_publisher" {
  project     = var.project_id
  role_id     = "${var.name_prefix}TopicPublisher"
  title       = "Rotator: publish rotation notifications"
  description = "Publish to the Rotator rotation topic."
  permissions = ["pubsub.topics.publish"]
}

# Secrets outside the prefix that Rotator reads, never writes: master secrets and the alert webhook's URL.
resource "google_project_iam_custom_role" "master_reader" {
  project     = var.project_id
  role_id     = "${var.name_prefix}MasterReader"
  title       = "Rotator: read master secrets"
  description = "Read the current value of a secret Rotator uses but does not rotate: a master secret, the alert webhook."
  permissions = [
    "secretmanager.secrets.get",
    "secretmanager.versions.access",
    "secretmanager.versions.get",
  ]
}

# ---- grants on secrets: only those whose ids start with secret_name_prefix (the condition), companions included ----

resource "google_project_iam_member" "on_secret_event_rotation" {
  project = var.project_id
  role    = google_project_iam_custom_role.rotation.id
  member  = "serviceAccount:${google_service_account.on_secret_event.email}"
  condition {
    title      = "rotated secrets only"
    expression = local.secret_condition
  }
}

resource "google_project_iam_member" "rotate_rotation" {
  project = var.project_id
  role    = google_project_iam_custom_role.rotation.id
  member  = "serviceAccount:${google_service_account.rotate.email}"
  condition {
    title      = "rotated secrets only"
    expression = local.secret_condition
  }
}

resource "google_project_iam_member" "purge_secrets" {
  project = var.project_id
  role    = google_project_iam_custom_role.purge.id
  member  = "serviceAccount:${google_service_account.purge.email}"
  condition {
    title      = "rotated secrets only"
    expression = local.secret_condition
  }
}

resource "google_project_iam_member" "reconcile_jobs_schedules" {
  project = var.project_id
  role    = google_project_iam_custom_role.schedule_reader.id
  member  = "serviceAccount:${google_service_account.reconcile_jobs.email}"
  condition {
    title      = "rotated secrets only"
    expression = local.secret_condition
  }
}

# Listing: the sweep (rotate with {"due":true}), the purger and the reconciler find the rotation-enabled secrets.
# onSecretEvent acts on the one secret its event names and lists nothing.
resource "google_project_iam_member" "rotate_list" {
  project = var.project_id
  role    = google_project_iam_custom_role.secret_lister.id
  member  = "serviceAccount:${google_service_account.rotate.email}"
}

resource "google_project_iam_member" "purge_list" {
  project = var.project_id
  role    = google_project_iam_custom_role.secret_lister.id
  member  = "serviceAccount:${google_service_account.purge.email}"
}

resource "google_project_iam_member" "reconcile_jobs_list" {
  project = var.project_id
  role    = google_project_iam_custom_role.secret_lister.id
  member  = "serviceAccount:${google_service_account.reconcile_jobs.email}"
}

locals {
  # The accounts that read master secrets: whoever rotates (set passwords through the master) or purges (revokes).
  master_readers = {
    on_secret_event = "serviceAccount:${google_service_account.on_secret_event.email}"
    rotate          = "serviceAccount:${google_service_account.rotate.email}"
    purge           = "serviceAccount:${google_service_account.purge.email}"
  }
  function_accounts = merge(local.master_readers, { reconcile_jobs = "serviceAccount:${google_service_account.reconcile_jobs.email}" })
}

resource "google_secret_manager_secret_iam_member" "master_reader" {
  for_each = {
    for pair in setproduct(var.master_secret_ids, keys(local.master_readers)) :
    "${pair[0]}/${pair[1]}" => { secret_id = pair[0], member = local.master_readers[pair[1]] }
  }
  project   = var.project_id
  secret_id = each.value.secret_id
  role      = google_project_iam_custom_role.master_reader.id
  member    = each.value.member
}

# The alert webhook's secret (its URL carries a token): read by every function, with the same read-only role.
resource "google_secret_manager_secret_iam_member" "alert_webhook_reader" {
  for_each  = var.alert_webhook_secret_id == null ? {} : local.function_accounts
  project   = var.project_id
  secret_id = var.alert_webhook_secret_id
  role      = google_project_iam_custom_role.master_reader.id
  member    = each.value
}

# ---- Cloud Scheduler: the reconciler's jobs, and acting as the scheduler account in them ----

resource "google_project_iam_member" "reconcile_jobs_scheduler" {
  project = var.project_id
  role    = google_project_iam_custom_role.job_reconciler.id
  member  = "serviceAccount:${google_service_account.reconcile_jobs.email}"
}

resource "google_service_account_iam_member" "reconcile_jobs_act_as_scheduler" {
  service_account_id = google_service_account.scheduler.name
  role               = google_project_iam_custom_role.act_as_scheduler.id
  member             = "serviceAccount:${google_service_account.reconcile_jobs.email}"
}

# ---- who may invoke which function (roles/run.invoker on the function's Cloud Run service, nothing wider) ----

resource "google_cloud_run_v2_service_iam_member" "trigger_invokes_on_secret_event" {
  project  = var.project_id
  location = var.region
  name     = google_cloudfunctions2_function.on_secret_event.name
  role     = "roles/run.invoker"
  member   = "serviceAccount:${google_service_account.trigger.email}"
}

resource "google_cloud_run_v2_service_iam_member" "scheduler_invokes_rotate" {
  project  = var.project_id
  location = var.region
  name     = google_cloudfunctions2_function.rotate.name
  role     = "roles/run.invoker"
  member   = "serviceAccount:${google_service_account.scheduler.email}"
}

resource "google_cloud_run_v2_service_iam_member" "scheduler_invokes_purge" {
  project  = var.project_id
  location = var.region
  name     = google_cloudfunctions2_function.purge.name
  role     = "roles/run.invoker"
  member   = "serviceAccount:${google_service_account.scheduler.email}"
}

resource "google_cloud_run_v2_service_iam_member" "scheduler_invokes_reconcile_jobs" {
  project  = var.project_id
  location = var.region
  name     = google_cloudfunctions2_function.reconcile_jobs.name
  role     = "roles/run.invoker"
  member   = "serviceAccount:${google_service_account.scheduler.email}"
}

# "Rotate now" by a person: the members named in rotate_invokers, on the rotate function only.
resource "google_cloud_run_v2_service_iam_member" "people_invoke_rotate" {
  for_each = toset(var.rotate_invokers)
  project  = var.project_id
  location = var.region
  name     = google_cloudfunctions2_function.rotate.name
  role     = "roles/run.invoker"
  member   = each.value
}
