/**
 * The package's root entry (`rotator`, also `rotator/reader`): what an application needs to read a rotated secret.
 * Each public entry point is one `consumer/index*.ts` module that re-exports a chosen few names, so the public
 * surface is written down here and in package.json's `exports`, and nothing else in the package can be imported.
 */
export { createSecretReader, isAuthenticationError, type SecretReader, type SecretReaderOptions } from './reader.js';
// The reader and every store throw RotatorErrors: callers test `instanceof` and switch on `code`.
export { RotatorError, type ErrorCode } from '../shared/errors.js';
// For a store of the application's own, and for typing what getJson() returns.
export type { SecretStore } from '../shared/store.js';
export type { SecretObject } from '../shared/secret.js';
