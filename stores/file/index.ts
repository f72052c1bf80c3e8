/**
 * The embedded file store: Rotator's local default SecretStore. A manifest and one JSON file per secret, values
 * AES-256-GCM-encrypted, atomic replacement on every write, lock files per secret for writers and for rotations.
 */
export { FileStore, type CreateSecretOptions, type FileStoreLockOptions, type FileStoreOptions, type SecretSummary } from './file-store.js';
export { KEY_ENV, loadKey, loadOrCreateKey, type LoadKeyOptions, type LoadedKey } from './key.js';
