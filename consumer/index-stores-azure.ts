/**
 * `rotator/stores/azure`: the Azure Key Vault store and the client it expects (loads @azure/keyvault-secrets and
 * @azure/identity only). BlobLeaseLock is the type of the store's required rotation lock; a process that only reads
 * never takes it (README, "Reading secrets in your application"), so the blob-lease implementation and its storage
 * SDK stay out of this entry.
 */
export { createKeyVaultClient, type KeyVaultClientOptions } from '../stores/azure/client.js';
export { KeyVaultSecretStore, type KeyVaultSecretStoreOptions } from '../stores/azure/key-vault-store.js';
export type { BlobLeaseLock } from '../stores/azure/lease-lock.js';
