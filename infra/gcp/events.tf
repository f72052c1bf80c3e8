# Rotation notifications: a rotated secret names this topic (--topics) and has a rotation schedule; at its
# nextRotationTime Secret Manager publishes SECRET_ROTATE here and advances nextRotationTime by the period. It also
# publishes SECRET_UPDATE, SECRET_VERSION_ADD and others for the same secret (Rotator's own writes among them);
# onSecretEvent acts only on SECRET_ROTATE.
resource "google_pubsub_topic" "rotation" {
  name       = var.rotation_topic_name
  project    = var.project_id
  labels     = var.labels
  depends_on = [google_project_service.apis]
}

# Secret Manager's service agent (service-<number>@gcp-sa-secretmanager.iam.gserviceaccount.com). It exists only once
# something asks for it, and only the google-beta provider can.
resource "google_project_service_identity" "secretmanager" {
  provider   = google-beta
  project    = var.project_id
  service    = "secretmanager.googleapis.com"
  depends_on = [google_project_service.apis]
}

# Secret Manager refuses a secret's topics unless its service agent may publish to them.
resource "google_pubsub_topic_iam_member" "secretmanager_publishes" {
  project = var.project_id
  topic   = google_pubsub_topic.rotation.name
  role    = google_project_iam_custom_role.topic_publisher.id
  member  = "serviceAccount:${google_project_service_identity.secretmanager.email}"
}

# Eventarc subscribes to the topic and delivers each message to onSecretEvent as a CloudEvent, with an OIDC token of
# the trigger account, which may invoke that function and nothing else. Pub/Sub sources need no Eventarc event
# receiver role.
resource "google_eventarc_trigger" "secret_rotate" {
  name            = "${var.name_prefix}-secret-rotate"
  project         = var.project_id
  location        = var.region
  service_account = google_service_account.trigger.email

  matching_criteria {
    attribute = "type"
    value     = "google.cloud.pubsub.topic.v1.messagePublished"
  }

  transport {
    pubsub {
      topic = google_pubsub_topic.rotation.id
    }
  }

  destination {
    cloud_run_service {
      service = google_cloudfunctions2_function.on_secret_event.name
      region  = var.region
    }
  }

  labels     = var.labels
  depends_on = [google_cloud_run_v2_service_iam_member.trigger_invokes_on_secret_event]
}
