/**
 * The embedded file store: Rotator's local default SecretStore. One AES-256-GCM-encrypted JSON file, atomic
 * replacement on every write, lock files for writers and for rotations.
 */
export { FileStore, type CreateSecretOptions, type FileStoreLockOptions, type FileStoreOptions, type SecretSummary } from './file-store.js';
export { KEY_ENV, loadKey, loadOrCreateKey, type LoadKeyOptions, type LoadedKey } from './key.js';
