import { ContainerClient } from '@azure/storage-blob';
import type { Logger } from '../../shared/logger.js';
import type { SecretStore } from '../../shared/store.js';
import {
  KeyVaultSecretStore,
  LEASE_LOCK_RETRY_OPTIONS,
  createBlobLeaseLock,
  createKeyVaultClient,
  defaultKeyVaultCredential,
  type KeyVaultCredential,
} from '../../stores/azure/index.js';
import type { AzureSettings } from './settings.js';

/**
 * The store the Azure functions run on: the SecretStore port, plus which secrets are due for rotation (the timer
 * sweep's list). The Key Vault store implements both; tests stand a file store in for it.
 */
export type AzureStore = SecretStore & { dueSecretIds(now: Date): Promise<string[]> };

export interface CreateStoreOptions {
  /** Default: the app's managed identity (see defaultKeyVaultCredential), for the vault and the lock container. */
  credential?: KeyVaultCredential;
  /** Where a lease that is lost or fails to renew is reported (it outlives any one invocation). */
  lockLogger?: Logger;
  env?: NodeJS.ProcessEnv;
}

/**
 * The Key Vault store for the app's settings: the SecretClient for the vault (its URL checked), the lock container
 * reached with the same identity, the blob-lease lock, and the name prefix. Building it makes no network call.
 */
export function createStore(settings: AzureSettings, options: CreateStoreOptions = {}): AzureStore {
  const env = options.env ?? process.env;
  const credential = options.credential ?? defaultKeyVaultCredential(env);
  const client = createKeyVaultClient({ vaultUrl: settings.vaultUrl, credential, env });
  const container = new ContainerClient(settings.lockContainerUrl, credential, { retryOptions: LEASE_LOCK_RETRY_OPTIONS });
  const lock = createBlobLeaseLock({ container, ...(options.lockLogger === undefined ? {} : { logger: options.lockLogger }) });
  return new KeyVaultSecretStore({ client, lock, ...(settings.secretPrefix === undefined ? {} : { namePrefix: settings.secretPrefix }) });
}
