/** `rotator/stores/file`: the embedded encrypted file store and its key loader. */
export { FileStore, type FileStoreOptions } from '../stores/file/file-store.js';
export { loadOrCreateKey, type LoadKeyOptions } from '../stores/file/key.js';
