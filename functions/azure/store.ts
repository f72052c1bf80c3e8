import type { SecretClient } from '@azure/keyvault-secrets';
import { ContainerClient } from '@azure/storage-blob';
import { RotatorError } from '../../shared/errors.js';
import type { Logger } from '../../shared/logger.js';
import type { SecretStore } from '../../shared/store.js';
import {
  LEASE_LOCK_RETRY_OPTIONS,
  createBlobLeaseLock,
  createKeyVaultClient,
  defaultKeyVaultCredential,
  type BlobLeaseLock,
  type KeyVaultCredential,
} from '../../stores/azure/index.js';
import type { AzureSettings } from './settings.js';

/**
 * The store the Azure functions run on: the SecretStore port, plus which secrets are due for rotation (the timer
 * sweep's list). The Key Vault store implements both; tests stand a file store in for it.
 */
export type AzureStore = SecretStore & { dueSecretIds(now: Date): Promise<string[]> };

/** What the Key Vault store is built from (its constructor's options). */
export interface KeyVaultStoreParts {
  client: SecretClient;
  lock: BlobLeaseLock;
  namePrefix?: string;
  clock?: () => Date;
}

export type AzureStoreConstructor = new (parts: KeyVaultStoreParts) => AzureStore;

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
 * `Store` is the store's class, passed in by app.ts; without it this build cannot rotate on Azure, and says so.
 */
export function createStore(settings: AzureSettings, Store: AzureStoreConstructor | undefined, options: CreateStoreOptions = {}): AzureStore {
  if (Store === undefined) {
    throw new RotatorError('INTERNAL', 'the Key Vault store is not built yet (stores/azure/key-vault-store.ts): this build of the functions cannot rotate on Azure');
  }
  const env = options.env ?? process.env;
  const credential = options.credential ?? defaultKeyVaultCredential(env);
  const client = createKeyVaultClient({ vaultUrl: settings.vaultUrl, credential, env });
  const container = new ContainerClient(settings.lockContainerUrl, credential, { retryOptions: LEASE_LOCK_RETRY_OPTIONS });
  const lock = createBlobLeaseLock({ container, ...(options.lockLogger === undefined ? {} : { logger: options.lockLogger }) });
  return new Store({ client, lock, ...(settings.secretPrefix === undefined ? {} : { namePrefix: settings.secretPrefix }) });
}
