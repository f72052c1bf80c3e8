# Rotator on Azure: the Function App that rotates and purges Key Vault secrets, and what it needs.
# Applied with Terraform (or OpenTofu) >= 1.6 and the azurerm provider 4.x. See the README's "On Azure" section.
terraform {
  required_version = ">= 1.6"
  required_providers {
    azurerm = {
      source  = "hashicorp/azurerm"
      version = "~> 4.20"
    }
  }
}
