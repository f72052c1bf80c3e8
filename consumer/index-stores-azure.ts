/**
 * `rotator/stores/azure`: the Azure Key Vault store and the client it expects (loads @azure/keyvault-secrets and
 * @azure/identity only). A process that only reads gives the store no rotation lock (README, "Reading secrets in your
 * application"), so the blob-lease lock and its storage SDK stay out of this entry; BlobLeaseLock is the lock's type,
 * for a process that does rotate.
 */
export { createKeyVaultClient, type KeyVaultClientOptions } from '../stores/azure/client.js';
export { KeyVaultSecretStore, type KeyVaultSecretStoreOptions } from '../stores/azure/key-vault-store.js';
export type { BlobLeaseLock } from '../stores/azure/lease-lock.js';
