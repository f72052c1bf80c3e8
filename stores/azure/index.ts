/**
 * Azure Key Vault: the SecretClient factory (vault URL checks, credential choice) and the error mapping the Key Vault
 * store builds on.
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
