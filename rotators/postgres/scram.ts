import { createHash, createHmac, pbkdf2Sync, randomBytes } from 'node:crypto';
import { RotatorError } from '../../shared/errors.js';

/**
 * SCRAM-SHA-256 verifiers computed client-side (RFC 5802 / RFC 7677, in PostgreSQL's pg_authid format), so that
 * `ALTER ROLE ... PASSWORD` carries a verifier: the plaintext never reaches the server, its statement log or
 * pg_stat_statements. PostgreSQL stores a verifier it is given as is (it recognises the format).
 */
export const SCRAM_ITERATIONS = 4096;
export const SCRAM_SALT_BYTES = 16;

export interface ScramKeys {
  saltedPassword: Buffer;
  clientKey: Buffer;
  storedKey: Buffer;
  serverKey: Buffer;
}

/**
 * PostgreSQL runs a password through SASLprep before deriving keys, and so does the client at login. SASLprep
 * is the identity on printable ASCII, so only there is a verifier computed here certain to match what every
 * client derives at login; other passwords are refused rather than risk setting one nobody can log in with.
 */
export function assertScramSafePassword(password: string, what: string): void {
  if (password.length === 0) throw new RotatorError('INVALID_SECRET', `${what}: password is empty`);
  if (/[^\x20-\x7e]/.test(password)) {
    throw new RotatorError(
      'INVALID_SECRET',
      `${what}: password holds characters outside printable ASCII (0x20-0x7E); PostgreSQL normalises such passwords with SASLprep, so Rotator only sets ASCII passwords. Generate passwords from the default ASCII alphabet.`,
    );
  }
}

export function scramKeys(password: string, salt: Buffer, iterations: number = SCRAM_ITERATIONS): ScramKeys {
  const saltedPassword = pbkdf2Sync(Buffer.from(password, 'utf8'), salt, iterations, 32, 'sha256');
  const clientKey = createHmac('sha256', saltedPassword).update('Client Key').digest();
  const storedKey = createHash('sha256').update(clientKey).digest();
  const serverKey = createHmac('sha256', saltedPassword).update('Server Key').digest();
  return { saltedPassword, clientKey, storedKey, serverKey };
}

export interface ScramVerifierOptions {
  /** Defaults to 16 random bytes; tests pass a fixed one to compare with a known verifier. */
  salt?: Buffer;
  iterations?: number;
}

/** `SCRAM-SHA-256$<iterations>:<salt b64>$<StoredKey b64>:<ServerKey b64>` */
export function scramSha256Verifier(password: string, options: ScramVerifierOptions = {}): string {
  assertScramSafePassword(password, 'the password to set');
  const salt = options.salt ?? randomBytes(SCRAM_SALT_BYTES);
  const iterations = options.iterations ?? SCRAM_ITERATIONS;
  const { storedKey, serverKey } = scramKeys(password, salt, iterations);
  return `SCRAM-SHA-256$${iterations}:${salt.toString('base64')}$${storedKey.toString('base64')}:${serverKey.toString('base64')}`;
}

const VERIFIER = /^SCRAM-SHA-256\$(\d+):([A-Za-z0-9+/]+={0,2})\$([A-Za-z0-9+/]+={0,2}):([A-Za-z0-9+/]+={0,2})$/;

/** Splits a verifier into its parts (for tests and diagnostics); undefined when it is not one. */
export function parseScramVerifier(verifier: string): { iterations: number; salt: Buffer; storedKey: Buffer; serverKey: Buffer } | undefined {
  const m = VERIFIER.exec(verifier);
  if (m === null) return undefined;
  const [, iterations = '', salt = '', storedKey = '', serverKey = ''] = m;
  return {
    iterations: Number(iterations),
    salt: Buffer.from(salt, 'base64'),
    storedKey: Buffer.from(storedKey, 'base64'),
    serverKey: Buffer.from(serverKey, 'base64'),
  };
}
