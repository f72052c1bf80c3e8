# Every failed rotation, purge or job reconciliation is logged at ERROR with a message starting "rotation failed: <CODE>",
# "purge failed: <CODE>" or "reconcile failed: <CODE>" (ids and codes, never values). The metric counts those lines from the four
# functions (Cloud Run functions log under their Cloud Run services), and the alert fires on any.

resource "google_logging_metric" "failures" {
  name    = "${var.name_prefix}-failures"
  project = var.project_id
  # Lines of one filter are joined with AND. Structured lines carry the message in jsonPayload, plain ones in
  # textPayload.
  filter = <<-FILTER
    resource.type = "cloud_run_revision"
    resource.labels.service_name = ("${local.function_names.on_secret_event}" OR "${local.function_names.rotate}" OR "${local.function_names.purge}" OR "${local.function_names.reconcile_jobs}")
    severity >= ERROR
    (jsonPayload.message =~ "^(rotation|purge|reconcile) failed" OR textPayload =~ "^(rotation|purge|reconcile) failed")
    FILTER
  description = "Rotator: failed rotations and purges."

  metric_descriptor {
    metric_kind  = "DELTA"
    value_type   = "INT64"
    unit         = "1"
    display_name = "Rotator failures"
  }

  depends_on = [google_project_service.apis]
}

resource "google_monitoring_notification_channel" "email" {
  count        = var.alert_email == null ? 0 : 1
  project      = var.project_id
  display_name = "Rotator operators"
  type         = "email"
  labels       = { email_address = var.alert_email }
  depends_on   = [google_project_service.apis]
}

resource "google_monitoring_alert_policy" "rotation_failed" {
  project      = var.project_id
  display_name = "Rotator: a rotation or purge failed"
  combiner     = "OR"
  severity     = "ERROR"

  conditions {
    display_name = "failed rotations and purges"
    condition_threshold {
      filter          = "metric.type = \"logging.googleapis.com/user/${google_logging_metric.failures.name}\" AND resource.type = \"cloud_run_revision\""
      comparison      = "COMPARISON_GT"
      threshold_value = 0
      duration        = "0s"
      aggregations {
        alignment_period   = "300s"
        per_series_aligner = "ALIGN_SUM"
      }
      trigger {
        count = 1
      }
    }
  }

  notification_channels = concat(google_monitoring_notification_channel.email[*].id, var.notification_channels)

  alert_strategy {
    auto_close = "86400s"
  }

  documentation {
    mime_type = "text/markdown"
    content   = "A Rotator rotation or purge failed. Its log line (in Logs Explorer: the metric's filter) names the secret and the error code, never a value. A rotation is retried by the next notification, job or sweep; fix the cause it names."
  }
}
