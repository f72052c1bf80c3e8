/**
 * The Azure adapters: the rotation lock as a blob lease in the Function App's storage account.
 */
export * from './lease-lock.js';
