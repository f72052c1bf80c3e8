# Four Cloud Run functions (2nd gen) built from the same source; each runs as its own service account, so each holds
# only what its own job needs (iam.tf). No function allows unauthenticated calls: every caller needs roles/run.invoker
# on that function's Cloud Run service, and ingress is internal-only, which Eventarc, Pub/Sub and Cloud Scheduler of
# the same project pass.

# SECRET_ROTATE notifications, through the Eventarc trigger (events.tf). Event-driven functions may run at most
# 540 s; a thrown error answers 500 and Pub/Sub delivers the event again.
resource "google_cloudfunctions2_function" "on_secret_event" {
  name     = local.function_names.on_secret_event
  project  = var.project_id
  location = var.region
  labels   = var.labels

  build_config {
    runtime               = local.runtime
    entry_point           = "onSecretEvent"
    service_account       = var.build_service_account
    environment_variables = { GOOGLE_FUNCTION_SOURCE = local.function_source }
    source {
      storage_source {
        bucket = google_storage_bucket.source.name
        object = google_storage_bucket_object.source.name
      }
    }
  }

  service_config {
    service_account_email          = google_service_account.on_secret_event.email
    ingress_settings               = "ALLOW_INTERNAL_ONLY"
    all_traffic_on_latest_revision = true
    timeout_seconds                = 540
    available_memory               = "512Mi"
    # Each rotation holds its secret's lock; ten at once is plenty, and bounds the load on the databases.
    max_instance_count               = 10
    max_instance_request_concurrency = 1
    environment_variables            = local.function_env
    dynamic "secret_environment_variables" {
      # The webhook URL carries its token: it stays in Secret Manager, resolved when an instance starts.
      for_each = var.alert_webhook_secret_id == null ? [] : [var.alert_webhook_secret_id]
      content {
        key        = "ROTATOR_ALERT_WEBHOOK"
        project_id = var.project_id
        secret     = secret_environment_variables.value
        version    = "latest"
      }
    }
    vpc_connector                    = var.vpc_connector
    vpc_connector_egress_settings    = var.vpc_connector == null ? null : var.vpc_connector_egress_settings
  }

  depends_on = [google_project_service.apis]
}

# HTTP: {"secretId":"<id>"} rotates one secret now (the per-secret jobs and people), {"due":true} every due secret
# (the sweep job). Longer than an event function may run, since a sweep rotates one secret after another.
resource "google_cloudfunctions2_function" "rotate" {
  name     = local.function_names.rotate
  project  = var.project_id
  location = var.region
  labels   = var.labels

  build_config {
    runtime               = local.runtime
    entry_point           = "rotate"
    service_account       = var.build_service_account
    environment_variables = { GOOGLE_FUNCTION_SOURCE = local.function_source }
    source {
      storage_source {
        bucket = google_storage_bucket.source.name
        object = google_storage_bucket_object.source.name
      }
    }
  }

  service_config {
    service_account_email            = google_service_account.rotate.email
    ingress_settings                 = var.rotate_ingress
    all_traffic_on_latest_revision   = true
    timeout_seconds                  = 1800
    available_memory                 = "512Mi"
    max_instance_count               = 5
    max_instance_request_concurrency = 1
    environment_variables            = local.function_env
    dynamic "secret_environment_variables" {
      # The webhook URL carries its token: it stays in Secret Manager, resolved when an instance starts.
      for_each = var.alert_webhook_secret_id == null ? [] : [var.alert_webhook_secret_id]
      content {
        key        = "ROTATOR_ALERT_WEBHOOK"
        project_id = var.project_id
        secret     = secret_environment_variables.value
        version    = "latest"
      }
    }
    vpc_connector                    = var.vpc_connector
    vpc_connector_egress_settings    = var.vpc_connector == null ? null : var.vpc_connector_egress_settings
  }

  depends_on = [google_project_service.apis]
}

# HTTP, from the purge job: retires versions past the safe window, after revoking them at the target.
resource "google_cloudfunctions2_function" "purge" {
  name     = local.function_names.purge
  project  = var.project_id
  location = var.region
  labels   = var.labels

  build_config {
    runtime               = local.runtime
    entry_point           = "purge"
    service_account       = var.build_service_account
    environment_variables = { GOOGLE_FUNCTION_SOURCE = local.function_source }
    source {
      storage_source {
        bucket = google_storage_bucket.source.name
        object = google_storage_bucket_object.source.name
      }
    }
  }

  service_config {
    service_account_email          = google_service_account.purge.email
    ingress_settings               = "ALLOW_INTERNAL_ONLY"
    all_traffic_on_latest_revision = true
    timeout_seconds                = 1800
    available_memory               = "512Mi"
    # One purge at a time: a second run would only find the first one's locks.
    max_instance_count               = 1
    max_instance_request_concurrency = 1
    environment_variables            = local.function_env
    dynamic "secret_environment_variables" {
      # The webhook URL carries its token: it stays in Secret Manager, resolved when an instance starts.
      for_each = var.alert_webhook_secret_id == null ? [] : [var.alert_webhook_secret_id]
      content {
        key        = "ROTATOR_ALERT_WEBHOOK"
        project_id = var.project_id
        secret     = secret_environment_variables.value
        version    = "latest"
      }
    }
    vpc_connector                    = var.vpc_connector
    vpc_connector_egress_settings    = var.vpc_connector == null ? null : var.vpc_connector_egress_settings
  }

  depends_on = [google_project_service.apis]
}

# HTTP, from the reconcile job: one Cloud Scheduler job per rotation-enabled secret, POSTing {"secretId":"<id>"} to
# the rotate function at the secret's nextRotationTime with the scheduler account's OIDC token. It reaches no
# database, so it needs no VPC.
resource "google_cloudfunctions2_function" "reconcile_jobs" {
  name     = local.function_names.reconcile_jobs
  project  = var.project_id
  location = var.region
  labels   = var.labels

  build_config {
    runtime               = local.runtime
    entry_point           = "reconcileJobs"
    service_account       = var.build_service_account
    environment_variables = { GOOGLE_FUNCTION_SOURCE = local.function_source }
    source {
      storage_source {
        bucket = google_storage_bucket.source.name
        object = google_storage_bucket_object.source.name
      }
    }
  }

  service_config {
    service_account_email            = google_service_account.reconcile_jobs.email
    ingress_settings                 = "ALLOW_INTERNAL_ONLY"
    all_traffic_on_latest_revision   = true
    timeout_seconds                  = 300
    available_memory                 = "256Mi"
    max_instance_count               = 1
    max_instance_request_concurrency = 1
    environment_variables            = merge(local.function_env, local.reconciler_env)
    dynamic "secret_environment_variables" {
      # The webhook URL carries its token: it stays in Secret Manager, resolved when an instance starts.
      for_each = var.alert_webhook_secret_id == null ? [] : [var.alert_webhook_secret_id]
      content {
        key        = "ROTATOR_ALERT_WEBHOOK"
        project_id = var.project_id
        secret     = secret_environment_variables.value
        version    = "latest"
      }
    }
  }

  depends_on = [google_project_service.apis]
}

locals {
  # What the reconciler writes into every per-secret job: where (the location), what (POST to the rotate function)
  # and as whom (the scheduler account's OIDC token, with the rotate function's URL as audience).
  reconciler_env = {
    ROTATOR_SCHEDULER_LOCATION        = var.region
    ROTATOR_ROTATE_URL                = google_cloudfunctions2_function.rotate.service_config[0].uri
    ROTATOR_SCHEDULER_SERVICE_ACCOUNT = google_service_account.scheduler.email
  }
}
