output "function_app_name" {
  description = "Publish the functions to this app (README: On Azure, Deploy)."
  value       = azurerm_function_app_flex_consumption.rotator.name
}

output "function_app_principal_id" {
  description = "The app's managed identity (for extra grants, e.g. a second vault)."
  value       = azurerm_function_app_flex_consumption.rotator.identity[0].principal_id
}

output "rotate_now_url" {
  description = "POST here with the function key to rotate a secret at once."
  value       = "https://${azurerm_function_app_flex_consumption.rotator.default_hostname}/api/rotate"
}

output "lock_container_url" {
  description = "Where the rotation locks (blob leases) live."
  value       = "${azurerm_storage_account.rotator.primary_blob_endpoint}${local.lock_container}"
}
