variable "project_id" {
  description = "The project whose Secret Manager secrets Rotator rotates; the functions, jobs and topic go in it too."
  type        = string
  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{4,28}[a-z0-9]$", var.project_id))
    error_message = "project_id must be a project id: 6 to 30 lower-case letters, digits and hyphens, starting with a letter."
  }
}

variable "project_number" {
  description = "The same project's number (gcloud projects describe <id> --format='value(projectNumber)'). Secret Manager names secrets by project number in IAM conditions, so the access conditions use it."
  type        = string
  validation {
    condition     = can(regex("^[0-9]{1,20}$", var.project_number))
    error_message = "project_number must be the project's number (digits only), not its id."
  }
}

variable "region" {
  description = "Region of the functions, the Cloud Scheduler jobs (ROTATOR_SCHEDULER_LOCATION), the Eventarc trigger and the source bucket."
  type        = string
  validation {
    condition     = can(regex("^[a-z]+-[a-z]+[0-9]{1,2}$", var.region))
    error_message = "region must be a Google Cloud region such as europe-west1."
  }
}

variable "name_prefix" {
  description = "Prefix of every resource name (functions, service accounts, jobs, custom roles): lower-case letters and digits, so it also fits a custom role id."
  type        = string
  default     = "rotator"
  validation {
    condition     = can(regex("^[a-z][a-z0-9]{2,19}$", var.name_prefix))
    error_message = "name_prefix must be 3 to 20 lower-case letters and digits, starting with a letter."
  }
}

variable "secret_name_prefix" {
  description = "Only secrets whose ids start with this can be read or changed by the functions (IAM condition), and only they are rotated and purged. Empty: every secret of the project, so use a project dedicated to rotated secrets."
  type        = string
  default     = ""
  validation {
    # Secret ids are [A-Za-z0-9_-]; nothing else may reach the IAM condition, where a quote would change its meaning.
    condition     = can(regex("^[A-Za-z0-9_-]{0,100}$", var.secret_name_prefix))
    error_message = "secret_name_prefix may hold only letters, digits, '_' and '-' (Secret Manager ids), at most 100 characters."
  }
}

variable "rotation_topic_name" {
  description = "The Pub/Sub topic Secret Manager publishes rotation notifications (SECRET_ROTATE) to; rotated secrets name it in --topics."
  type        = string
  default     = "rotator-secret-rotation"
  validation {
    condition     = can(regex("^[A-Za-z][A-Za-z0-9._~+%-]{2,254}$", var.rotation_topic_name)) && !startswith(lower(var.rotation_topic_name), "goog")
    error_message = "rotation_topic_name must be a Pub/Sub topic name: 3 to 255 characters, starting with a letter, not with \"goog\"."
  }
}

variable "sweep_schedule" {
  description = "unix-cron (five fields, UTC) of the job that rotates every due secret, a safety net for missed SECRET_ROTATE events and per-secret jobs."
  type        = string
  default     = "*/30 * * * *"
  validation {
    condition     = can(regex("^[0-9*/,-]+( +[0-9A-Za-z*/,-]+){4}$", var.sweep_schedule))
    error_message = "sweep_schedule must be a five-field unix-cron expression, e.g. */30 * * * *."
  }
}

variable "purge_schedule" {
  description = "unix-cron (five fields, UTC) of the purge job."
  type        = string
  default     = "17 3 * * *"
  validation {
    condition     = can(regex("^[0-9*/,-]+( +[0-9A-Za-z*/,-]+){4}$", var.purge_schedule))
    error_message = "purge_schedule must be a five-field unix-cron expression, e.g. 17 3 * * *."
  }
}

variable "reconcile_schedule" {
  description = "unix-cron (five fields, UTC) of the job that brings the per-secret jobs (rotator-secret-<id>) in line with the secrets' rotation schedules."
  type        = string
  default     = "*/15 * * * *"
  validation {
    condition     = can(regex("^[0-9*/,-]+( +[0-9A-Za-z*/,-]+){4}$", var.reconcile_schedule))
    error_message = "reconcile_schedule must be a five-field unix-cron expression, e.g. */15 * * * *."
  }
}

variable "log_level" {
  description = "LOG_LEVEL of the functions."
  type        = string
  default     = "info"
  validation {
    condition     = contains(["debug", "info", "warn", "error"], var.log_level)
    error_message = "log_level must be debug, info, warn or error."
  }
}

variable "rotation_strategy" {
  description = "ROTATION_STRATEGY: the strategy for secrets whose rotator-strategy label names none."
  type        = string
  default     = "single-user"
  validation {
    condition     = contains(["single-user", "alternating-users", "dual-password"], var.rotation_strategy)
    error_message = "rotation_strategy must be single-user, alternating-users or dual-password."
  }
}

variable "safe_window" {
  description = "ROTATOR_SAFE_WINDOW: how long a superseded version stays before the purger retires it, e.g. 30d."
  type        = string
  default     = "30d"
  validation {
    condition     = can(regex("^[0-9]{1,6}[dhms]$", var.safe_window))
    error_message = "safe_window must be a number and a unit (d, h, m or s), e.g. 30d."
  }
}

variable "keep_superseded" {
  description = "ROTATOR_KEEP_SUPERSEDED: superseded versions the purger keeps whatever their age."
  type        = number
  default     = 0
  validation {
    condition     = var.keep_superseded >= 0 && var.keep_superseded <= 1000 && floor(var.keep_superseded) == var.keep_superseded
    error_message = "keep_superseded must be a whole number from 0 to 1000."
  }
}

variable "alert_email" {
  description = "Where the failed-rotation alert is sent, through a new email notification channel (null: none; see notification_channels)."
  type        = string
  default     = null
  validation {
    condition     = var.alert_email == null || can(regex("^[^@\\s\"]+@[^@\\s\"]+\\.[^@\\s\"]+$", var.alert_email))
    error_message = "alert_email must be an email address."
  }
}

variable "notification_channels" {
  description = "Existing Cloud Monitoring notification channels the alert also notifies (projects/<p>/notificationChannels/<id>)."
  type        = list(string)
  default     = []
  validation {
    condition     = alltrue([for c in var.notification_channels : can(regex("^projects/[^/]+/notificationChannels/[^/]+$", c))])
    error_message = "notification_channels must be full channel names, projects/<project>/notificationChannels/<id>."
  }
}

variable "rotate_ingress" {
  description = "Ingress of the rotate function. Cloud Scheduler reaches it with internal-only ingress; a person's curl from outside the project's VPC networks needs ALLOW_ALL (IAM still demands an identity token of an account in rotate_invokers)."
  type        = string
  default     = "ALLOW_INTERNAL_ONLY"
  validation {
    condition     = contains(["ALLOW_INTERNAL_ONLY", "ALLOW_INTERNAL_AND_GCLB", "ALLOW_ALL"], var.rotate_ingress)
    error_message = "rotate_ingress must be ALLOW_INTERNAL_ONLY, ALLOW_INTERNAL_AND_GCLB or ALLOW_ALL."
  }
}

variable "rotate_invokers" {
  description = "People or accounts who may call the rotate function (\"rotate now\"): members such as user:alice@example.com or group:ops@example.com. Each gets roles/run.invoker on that function only."
  type        = list(string)
  default     = []
  validation {
    # Never allUsers or allAuthenticatedUsers: no one invokes a Rotator function without an identity we named.
    condition     = alltrue([for m in var.rotate_invokers : can(regex("^(user|group|serviceAccount):[^\\s@]+@[^\\s@]+$", m))])
    error_message = "rotate_invokers must be user:, group: or serviceAccount: members with an email address: no Rotator function is public."
  }
}

variable "master_secret_ids" {
  description = "Master secrets (the masterarn of alternating-users secrets) outside secret_name_prefix: the rotating and purging functions may read these, and only read them."
  type        = list(string)
  default     = []
  validation {
    condition     = alltrue([for id in var.master_secret_ids : can(regex("^[A-Za-z0-9_-]{1,255}$", id)) && !endswith(id, "-rotator-pending")])
    error_message = "master_secret_ids must be Secret Manager secret ids, never a -rotator-pending companion."
  }
}

variable "alert_webhook_secret_id" {
  description = "A Secret Manager secret of this project, outside secret_name_prefix, whose latest version is the alert webhook URL (a Slack or Teams incoming webhook, https): every function gets it as ROTATOR_ALERT_WEBHOOK and posts its failures there. Null: no webhook (the log-based alert policy still fires)."
  type        = string
  default     = null
  validation {
    condition     = var.alert_webhook_secret_id == null || (can(regex("^[A-Za-z0-9_-]{1,255}$", var.alert_webhook_secret_id)) && !endswith(coalesce(var.alert_webhook_secret_id, "x"), "-rotator-pending"))
    error_message = "alert_webhook_secret_id must be a Secret Manager secret id, never a -rotator-pending companion."
  }
}

variable "vpc_connector" {
  description = "A Serverless VPC Access connector (projects/<p>/locations/<region>/connectors/<name>) through which the rotating and purging functions reach private databases (null: no VPC). Direct VPC egress for these functions needs the google provider 7.21 or later, which this configuration does not use."
  type        = string
  default     = null
  validation {
    condition     = var.vpc_connector == null || can(regex("^projects/[^/]+/locations/[^/]+/connectors/[^/]+$", var.vpc_connector))
    error_message = "vpc_connector must be a connector's full name, projects/<project>/locations/<region>/connectors/<name>."
  }
}

variable "vpc_connector_egress_settings" {
  description = "Which traffic goes through the connector: PRIVATE_RANGES_ONLY (the databases' private addresses) or ALL_TRAFFIC."
  type        = string
  default     = "PRIVATE_RANGES_ONLY"
  validation {
    condition     = contains(["PRIVATE_RANGES_ONLY", "ALL_TRAFFIC"], var.vpc_connector_egress_settings)
    error_message = "vpc_connector_egress_settings must be PRIVATE_RANGES_ONLY or ALL_TRAFFIC."
  }
}

variable "build_service_account" {
  description = "The account Cloud Build uses to build the functions (projects/<p>/serviceAccounts/<email>); null: the project's default build account. It needs to read the source bucket, write build logs and push to Artifact Registry; this configuration grants it nothing."
  type        = string
  default     = null
  validation {
    condition     = var.build_service_account == null || can(regex("^projects/[^/]+/serviceAccounts/[^/@]+@[^/]+$", var.build_service_account))
    error_message = "build_service_account must be a full name, projects/<project>/serviceAccounts/<email>."
  }
}

variable "labels" {
  description = "Labels for the functions, the topic and the source bucket."
  type        = map(string)
  default     = {}
}
