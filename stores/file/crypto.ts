import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { RotatorError } from '../../shared/errors.js';

/**
 * AES-256-GCM for values at rest. Each value gets a fresh random 12-byte IV (a 96-bit random IV is safe for
 * far more encryptions than a local store will ever do under one key), and its additional authenticated data
 * names the secret and version it belongs to, so a ciphertext copied into another slot fails to decrypt
 * instead of silently becoming another version's value.
 */
export const KEY_BYTES = 32;
export const IV_BYTES = 12;
export const TAG_BYTES = 16;

const ALGORITHM = 'aes-256-gcm';

/** A GCM ciphertext as stored in the file: every part base64. */
export interface Sealed {
  iv: string;
  tag: string;
  data: string;
}

/** Thrown by `openSealed` when authentication fails; the caller decides whether that means a wrong key or a
 * corrupt file. Carries no data. */
export class AuthenticationError extends Error {
  constructor() {
    super('AES-GCM authentication failed');
    this.name = 'AuthenticationError';
  }
}

export function assertKey(key: unknown): asserts key is Buffer {
  if (!Buffer.isBuffer(key) || key.length !== KEY_BYTES) {
    throw new RotatorError('INVALID_INPUT', `the file store key must be a Buffer of exactly ${KEY_BYTES} bytes`);
  }
}

export function seal(key: Buffer, plaintext: Buffer, aad: Buffer): Sealed {
  const iv = randomBytes(IV_BYTES);
  const cipher = createCipheriv(ALGORITHM, key, iv, { authTagLength: TAG_BYTES });
  cipher.setAAD(aad);
  const data = Buffer.concat([cipher.update(plaintext), cipher.final()]);
  return { iv: iv.toString('base64'), tag: cipher.getAuthTag().toString('base64'), data: data.toString('base64') };
}

/** Decrypts and authenticates; AuthenticationError on any mismatch (key, IV, tag, data or AAD). */
export function openSealed(key: Buffer, sealed: Sealed, aad: Buffer): Buffer {
  const iv = Buffer.from(sealed.iv, 'base64');
  const tag = Buffer.from(sealed.tag, 'base64');
  if (iv.length !== IV_BYTES || tag.length !== TAG_BYTES) throw new AuthenticationError();
  try {
    const decipher = createDecipheriv(ALGORITHM, key, iv, { authTagLength: TAG_BYTES });
    decipher.setAAD(aad);
    decipher.setAuthTag(tag);
    return Buffer.concat([decipher.update(Buffer.from(sealed.data, 'base64')), decipher.final()]);
  } catch {
    // node's own error says only "Unsupported state or unable to authenticate data"; nothing to keep.
    throw new AuthenticationError();
  }
}

// Both AAD kinds start with a distinct domain tag, so a key-check ciphertext can never pass as a value.
const VALUE_DOMAIN = 'rotator-file-store/value/v1';
const KEY_CHECK_DOMAIN = 'rotator-file-store/key-check/v1';
const KEY_CHECK_PLAINTEXT = Buffer.from('rotator file store key check', 'utf8');

/** JSON encoding keeps the (secret id, version id) pair unambiguous whatever characters the ids hold. */
export function valueAad(secretId: string, versionId: string): Buffer {
  return Buffer.from(JSON.stringify([VALUE_DOMAIN, secretId, versionId]), 'utf8');
}

export function sealValue(key: Buffer, secretId: string, versionId: string, value: string): Sealed {
  return seal(key, Buffer.from(value, 'utf8'), valueAad(secretId, versionId));
}

export function openValue(key: Buffer, secretId: string, versionId: string, sealed: Sealed): string {
  return openSealed(key, sealed, valueAad(secretId, versionId)).toString('utf8');
}

/** A known constant encrypted under the store key: lets a wrong key be told apart from a corrupt file, even
 * in a store that holds no secret yet. */
export function createKeyCheck(key: Buffer): Sealed {
  return seal(key, KEY_CHECK_PLAINTEXT, Buffer.from(KEY_CHECK_DOMAIN, 'utf8'));
}

export function keyMatches(key: Buffer, check: Sealed): boolean {
  try {
    return openSealed(key, check, Buffer.from(KEY_CHECK_DOMAIN, 'utf8')).equals(KEY_CHECK_PLAINTEXT);
  } catch (error) {
    if (error instanceof AuthenticationError) return false;
    throw error;
  }
}
