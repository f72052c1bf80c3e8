variable "resource_group_name" {
  description = "The resource group the Function App, its storage and its monitoring go in (it must exist)."
  type        = string
}

variable "location" {
  description = "Azure region for the Function App; the Event Grid system topic goes where the vault is."
  type        = string
}

variable "name_prefix" {
  description = "Prefix of every resource name; lower-case letters and digits, so it also fits a storage account name."
  type        = string
  default     = "rotator"
  validation {
    condition     = can(regex("^[a-z][a-z0-9]{2,11}$", var.name_prefix))
    error_message = "name_prefix must be 3 to 12 lower-case letters and digits, starting with a letter."
  }
}

variable "key_vault_name" {
  description = "The vault whose secrets Rotator rotates. Use a vault dedicated to rotated secrets, with Azure RBAC authorization."
  type        = string
}

variable "key_vault_resource_group_name" {
  description = "The vault's resource group."
  type        = string
}

variable "secret_name_prefix" {
  description = "Only secrets whose names start with this are rotated and purged (empty: every secret of the vault)."
  type        = string
  default     = ""
  validation {
    condition     = can(regex("^[0-9a-zA-Z-]{0,64}$", var.secret_name_prefix))
    error_message = "secret_name_prefix may hold only letters, digits and dashes (Key Vault secret names)."
  }
}

variable "rotation_strategy" {
  description = "ROTATION_STRATEGY: the strategy for secrets whose rotator-strategy tag names none."
  type        = string
  default     = "single-user"
  validation {
    condition     = contains(["single-user", "alternating-users", "dual-password"], var.rotation_strategy)
    error_message = "rotation_strategy must be single-user, alternating-users or dual-password."
  }
}

variable "sweep_schedule" {
  description = "NCRONTAB (six fields) of the timer that rotates what is due and catches missed SecretNearExpiry events."
  type        = string
  default     = "0 */30 * * * *"
}

variable "purge_schedule" {
  description = "NCRONTAB (six fields) of the purge timer."
  type        = string
  default     = "0 17 3 * * *"
}

variable "safe_window" {
  description = "ROTATOR_SAFE_WINDOW: how long a superseded version stays enabled before the purger disables it, e.g. 30d."
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
}

variable "virtual_network_subnet_id" {
  description = "A subnet for VNet integration, so the functions reach private databases (null: no VNet)."
  type        = string
  default     = null
}

variable "event_subscription_enabled" {
  description = "Subscribe the near-expiry function to the vault's events. The function must exist first: apply with false, publish the functions, then apply with true."
  type        = bool
  default     = false
}

variable "alert_email" {
  description = "Where the failed-rotation alert is sent (null: the alert fires with no action group)."
  type        = string
  default     = null
}

variable "alert_webhook_secret_name" {
  description = "A secret in the rotated vault whose value is the alert webhook URL (a Slack or Teams incoming webhook, https): failures are posted there as ROTATOR_ALERT_WEBHOOK. Outside secret_name_prefix, so it is never rotated. Null: no webhook."
  type        = string
  default     = null
  validation {
    condition     = var.alert_webhook_secret_name == null || (can(regex("^[0-9A-Za-z-]{1,127}$", var.alert_webhook_secret_name)) && !endswith(coalesce(var.alert_webhook_secret_name, "x"), "-rotator-pending"))
    error_message = "alert_webhook_secret_name must be a Key Vault secret name (letters, digits and -), never a -rotator-pending companion."
  }
}

variable "consumers" {
  description = "Principals that read rotated secrets: each gets Key Vault Secrets User on one main secret only, never on the vault (which would expose the companion secrets that hold PENDING values)."
  type = list(object({
    principal_id = string
    secret_name  = string
  }))
  default = []
  validation {
    condition     = alltrue([for c in var.consumers : !endswith(c.secret_name, "-rotator-pending")])
    error_message = "consumers must not be given a -rotator-pending companion secret: it holds untested values."
  }
}

variable "tags" {
  description = "Tags for every resource."
  type        = map(string)
  default     = {}
}
