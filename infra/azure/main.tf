# The names of the functions the app registers (functions/azure): the Event Grid subscription and the alert query
# refer to them, so they are spelled once here.
locals {
  near_expiry_function = "secretNearExpiry"
  # Deterministic and unique per vault: storage account names are global and at most 24 characters.
  suffix         = substr(md5(data.azurerm_key_vault.rotated.id), 0, 8)
  lock_container = "rotator-locks"
}

data "azurerm_key_vault" "rotated" {
  name                = var.key_vault_name
  resource_group_name = var.key_vault_resource_group_name
}

# ---- storage: the Functions host, the deployment package, and the rotation locks (blob leases) ----

resource "azurerm_storage_account" "rotator" {
  name                            = "${var.name_prefix}st${local.suffix}"
  resource_group_name             = var.resource_group_name
  location                        = var.location
  account_tier                    = "Standard"
  account_replication_type        = "LRS"
  min_tls_version                 = "TLS1_2"
  https_traffic_only_enabled      = true
  allow_nested_items_to_be_public = false
  # Everything reaches it with the app's managed identity: no account key exists to leak.
  shared_access_key_enabled       = false
  default_to_oauth_authentication = true
  tags                            = var.tags
}

resource "azurerm_storage_container" "deployments" {
  name                  = "deployments"
  storage_account_id    = azurerm_storage_account.rotator.id
  container_access_type = "private"
}

# One blob per secret; a rotation holds a 60-second lease on it, renewed while it runs, so a second trigger is
# refused and a dead holder frees the lock within a minute.
resource "azurerm_storage_container" "locks" {
  name                  = local.lock_container
  storage_account_id    = azurerm_storage_account.rotator.id
  container_access_type = "private"
}

# ---- monitoring ----

resource "azurerm_log_analytics_workspace" "rotator" {
  name                = "${var.name_prefix}-logs-${local.suffix}"
  resource_group_name = var.resource_group_name
  location            = var.location
  sku                 = "PerGB2018"
  retention_in_days   = 30
  tags                = var.tags
}

resource "azurerm_application_insights" "rotator" {
  name                = "${var.name_prefix}-insights-${local.suffix}"
  resource_group_name = var.resource_group_name
  location            = var.location
  workspace_id        = azurerm_log_analytics_workspace.rotator.id
  application_type    = "Node.JS"
  tags                = var.tags
}

# ---- the Function App ----

resource "azurerm_service_plan" "rotator" {
  name                = "${var.name_prefix}-plan-${local.suffix}"
  resource_group_name = var.resource_group_name
  location            = var.location
  os_type             = "Linux"
  sku_name            = "FC1"
  tags                = var.tags
}

resource "azurerm_function_app_flex_consumption" "rotator" {
  name                = "${var.name_prefix}-func-${local.suffix}"
  resource_group_name = var.resource_group_name
  location            = var.location
  service_plan_id     = azurerm_service_plan.rotator.id
  https_only          = true

  runtime_name           = "node"
  runtime_version        = "22"
  maximum_instance_count = 40
  instance_memory_in_mb  = 2048

  storage_container_type      = "blobContainer"
  storage_container_endpoint  = "${azurerm_storage_account.rotator.primary_blob_endpoint}${azurerm_storage_container.deployments.name}"
  storage_authentication_type = "SystemAssignedIdentity"

  virtual_network_subnet_id = var.virtual_network_subnet_id

  identity {
    type = "SystemAssigned"
  }

  site_config {
    application_insights_connection_string = azurerm_application_insights.rotator.connection_string
  }

  # No secret in any setting: the vault and the lock container are reached with the app's identity.
  app_settings = {
    AzureWebJobsStorage__accountName = azurerm_storage_account.rotator.name
    AZURE_KEY_VAULT_URL              = data.azurerm_key_vault.rotated.vault_uri
    ROTATOR_LOCK_CONTAINER_URL       = "${azurerm_storage_account.rotator.primary_blob_endpoint}${local.lock_container}"
    ROTATOR_SECRET_PREFIX            = var.secret_name_prefix
    ROTATION_STRATEGY                = var.rotation_strategy
    ROTATOR_SAFE_WINDOW              = var.safe_window
    ROTATOR_KEEP_SUPERSEDED          = tostring(var.keep_superseded)
    ROTATOR_SWEEP_SCHEDULE           = var.sweep_schedule
    ROTATOR_PURGE_SCHEDULE           = var.purge_schedule
    # The webhook URL carries its token, so it stays in the vault: a Key Vault reference the platform resolves with
    # the app's identity (which may read the vault's secrets already). Empty: no webhook.
    ROTATOR_ALERT_WEBHOOK = var.alert_webhook_secret_name == null ? "" : "@Microsoft.KeyVault(VaultName=${var.key_vault_name};SecretName=${var.alert_webhook_secret_name})"
  }

  tags = var.tags
}

# ---- least privilege ----

# The Functions host keeps its own state in the account, and the locks live there too.
resource "azurerm_role_assignment" "rotator_storage" {
  scope                = azurerm_storage_account.rotator.id
  role_definition_name = "Storage Blob Data Owner"
  principal_id         = azurerm_function_app_flex_consumption.rotator.identity[0].principal_id
}

# Read, write a new version, read metadata and update attributes and tags: what rotation and the purger (which
# disables versions) need. Not delete, purge, backup or restore, which the built-in Secrets Officer role grants.
resource "azurerm_role_definition" "rotator" {
  name        = "${var.name_prefix} secret rotation (${var.key_vault_name})"
  scope       = data.azurerm_key_vault.rotated.id
  description = "Rotator: read and write secret versions, and update their attributes and tags."
  permissions {
    actions = []
    data_actions = [
      "Microsoft.KeyVault/vaults/secrets/getSecret/action",
      "Microsoft.KeyVault/vaults/secrets/readMetadata/action",
      "Microsoft.KeyVault/vaults/secrets/setSecret/action",
      "Microsoft.KeyVault/vaults/secrets/update/action",
    ]
    not_actions      = []
    not_data_actions = []
  }
  assignable_scopes = [data.azurerm_key_vault.rotated.id]
}

resource "azurerm_role_assignment" "rotator_vault" {
  scope              = data.azurerm_key_vault.rotated.id
  role_definition_id = azurerm_role_definition.rotator.role_definition_resource_id
  principal_id       = azurerm_function_app_flex_consumption.rotator.identity[0].principal_id
}

# Consumers read one main secret each; the companion secrets that hold PENDING values stay out of their reach.
resource "azurerm_role_assignment" "consumer" {
  for_each             = { for c in var.consumers : "${c.principal_id}/${c.secret_name}" => c }
  scope                = "${data.azurerm_key_vault.rotated.id}/secrets/${each.value.secret_name}"
  role_definition_name = "Key Vault Secrets User"
  principal_id         = each.value.principal_id
}

# ---- events: SecretNearExpiry, 30 days before a version's exp, which Rotator sets to the rotation interval ----

resource "azurerm_eventgrid_system_topic" "vault" {
  name                = "${var.name_prefix}-vault-events-${local.suffix}"
  resource_group_name = var.key_vault_resource_group_name
  location            = data.azurerm_key_vault.rotated.location
  source_resource_id  = data.azurerm_key_vault.rotated.id
  topic_type          = "Microsoft.KeyVault.vaults"
  tags                = var.tags
}

# The function must exist before Event Grid can subscribe it: see event_subscription_enabled.
resource "azurerm_eventgrid_system_topic_event_subscription" "near_expiry" {
  count                 = var.event_subscription_enabled ? 1 : 0
  name                  = "${var.name_prefix}-secret-near-expiry"
  system_topic          = azurerm_eventgrid_system_topic.vault.name
  resource_group_name   = var.key_vault_resource_group_name
  event_delivery_schema = "CloudEventSchemaV1_0"
  included_event_types  = ["Microsoft.KeyVault.SecretNearExpiry"]

  subject_filter {
    subject_begins_with = var.secret_name_prefix
  }

  azure_function_endpoint {
    function_id          = "${azurerm_function_app_flex_consumption.rotator.id}/functions/${local.near_expiry_function}"
    max_events_per_batch = 1
  }

  # Delivery is at least once; the function converges on duplicates. A day of retries, then the timer sweep.
  retry_policy {
    max_delivery_attempts = 30
    event_time_to_live    = 1440
  }
}

# ---- alert: any failed rotation or purge ----

resource "azurerm_monitor_action_group" "rotator" {
  count               = var.alert_email == null ? 0 : 1
  name                = "${var.name_prefix}-alerts"
  resource_group_name = var.resource_group_name
  short_name          = "rotator"
  email_receiver {
    name                    = "operators"
    email_address           = var.alert_email
    use_common_alert_schema = true
  }
  tags = var.tags
}

resource "azurerm_monitor_scheduled_query_rules_alert_v2" "rotation_failed" {
  name                 = "${var.name_prefix}-rotation-failed"
  resource_group_name  = var.resource_group_name
  location             = var.location
  scopes               = [azurerm_application_insights.rotator.id]
  description          = "A rotation or purge failed; its log line names the secret and the error code, never a value."
  severity             = 2
  evaluation_frequency = "PT15M"
  window_duration      = "PT15M"

  criteria {
    # The functions log every failure at error level with a message starting "rotation failed" or "purge failed".
    query                   = <<-QUERY
      traces
      | where severityLevel >= 3
      | where message startswith "rotation failed" or message startswith "purge failed"
      QUERY
    time_aggregation_method = "Count"
    operator                = "GreaterThan"
    threshold               = 0
    failing_periods {
      minimum_failing_periods_to_trigger_alert = 1
      number_of_evaluation_periods             = 1
    }
  }

  auto_mitigation_enabled = true

  dynamic "action" {
    for_each = azurerm_monitor_action_group.rotator
    content {
      action_groups = [action.value.id]
    }
  }

  tags = var.tags
}
