output "function_urls" {
  description = "The functions' URLs (Cloud Run), by entry point. Callers need an identity token with that URL as audience."
  value = {
    onSecretEvent = google_cloudfunctions2_function.on_secret_event.service_config[0].uri
    rotate        = google_cloudfunctions2_function.rotate.service_config[0].uri
    purge         = google_cloudfunctions2_function.purge.service_config[0].uri
    reconcileJobs = google_cloudfunctions2_function.reconcile_jobs.service_config[0].uri
  }
}

output "rotate_url" {
  description = "POST {\"secretId\":\"<id>\"} here with an identity token to rotate a secret at once (README: On Google Cloud, Rotate now)."
  value       = google_cloudfunctions2_function.rotate.service_config[0].uri
}

output "rotation_topic" {
  description = "The topic rotated secrets name in --topics (projects/<project>/topics/<name>)."
  value       = google_pubsub_topic.rotation.id
}

output "service_accounts" {
  description = "The service account of each function, of the scheduler jobs and of the Eventarc trigger."
  value = {
    onSecretEvent = google_service_account.on_secret_event.email
    rotate        = google_service_account.rotate.email
    purge         = google_service_account.purge.email
    reconcileJobs = google_service_account.reconcile_jobs.email
    scheduler     = google_service_account.scheduler.email
    trigger       = google_service_account.trigger.email
  }
}

output "secretmanager_service_agent" {
  description = "Secret Manager's service agent, which publishes rotation notifications to the topic."
  value       = google_project_service_identity.secretmanager.email
}
