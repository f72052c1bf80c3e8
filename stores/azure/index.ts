/**
 * Azure: the Key Vault SecretClient factory (vault URL checks, credential choice), the error mapping the Key Vault
 * store builds on, and the rotation lock as a blob lease in the Function App's storage account.
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
