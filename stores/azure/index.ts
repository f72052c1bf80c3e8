/**
 * Azure: the Key Vault store (the SecretStore port on Key Vault) and its admin helpers, the Key Vault SecretClient
 * factory (vault URL checks, credential choice), the error mapping the store builds on, and the rotation lock as a
 * blob lease in the Function App's storage account.
 */
export {
  KEY_VAULT_API_VERSION,
  KEY_VAULT_DNS_SUFFIXES,
  checkVaultUrl,
  createKeyVaultClient,
  defaultKeyVaultCredential,
  type KeyVaultClientOptions,
  type KeyVaultCredential,
  type KeyVaultRetryOptions,
  type KeyVaultTestOnlyOptions,
} from './client.js';
export { isSecretDisabled, keyVaultErrorFacts, mapKeyVaultError, type KeyVaultErrorFacts, type KeyVaultMapContext } from './errors.js';
export * from './lease-lock.js';
export { KeyVaultSecretStore, NEAR_EXPIRY_MS, PENDING_SECRET_SUFFIX, type KeyVaultSecretStoreOptions } from './key-vault-store.js';
export { attachKeyVaultSecret, createSeededKeyVaultSecret, type SeedKeyVaultSecretOptions } from './key-vault-admin.js';
export { KV_TAG, settingTags, settingsFromTags, type KeyVaultRotationSettings } from './key-vault-tags.js';
export * from './limits.js';
