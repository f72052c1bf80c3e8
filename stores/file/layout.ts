import { createHash } from 'node:crypto';
import { basename, dirname, join } from 'node:path';

/**
 * Where each part of a store lives, from the store path (ROTATOR_STORE); format.ts shows the whole layout. Secret ids
 * may contain "/" and be 512 characters long, so files are named by the SHA-256 of the id, never by the id itself.
 */

function idHash(secretId: string): string {
  return createHash('sha256').update(secretId, 'utf8').digest('hex');
}

/** The directory of secret files beside the manifest. */
export function secretsDir(storePath: string): string {
  return `${storePath}.d`;
}

export function secretFileName(secretId: string): string {
  return `${idHash(secretId)}.json`;
}

export function secretFilePath(storePath: string, secretId: string): string {
  return join(secretsDir(storePath), secretFileName(secretId));
}

const SECRET_FILE_NAME = /^[0-9a-f]{64}\.json$/;

/** Whether a directory entry is a secret file (not a lock, a lock's guard, a temp file or anything a person left). */
export function isSecretFileName(name: string): boolean {
  return SECRET_FILE_NAME.test(name);
}

/** The lock a write holds while it reads, changes and replaces one secret's file. */
export function secretLockPath(storePath: string, secretId: string): string {
  return `${secretFilePath(storePath, secretId)}.lock`;
}

/**
 * The one temporary file a write of the secret uses: a fixed name, since the secret's lock admits one writer at a
 * time. Whatever is there when a writer holds the lock was left by one that died between its write and its rename.
 */
export function secretTempPath(secretFile: string): string {
  return join(dirname(secretFile), `.${basename(secretFile)}.tmp`);
}

/** The lock held to create the store or migrate it from version 1; writes of secrets do not take it. */
export function storeLockPath(storePath: string): string {
  return `${storePath}.lock`;
}

/** The lock file held for a whole rotation of one secret. */
export function rotationLockPath(storePath: string, secretId: string): string {
  return join(`${storePath}.locks`, `${idHash(secretId)}.lock`);
}
