import { escapeControl } from './control-chars.js';

/**
 * Every error Rotator raises on purpose is a RotatorError: a stable `code` that scripts and metrics key on,
 * `retryable` so a scheduler knows whether to try again, and a message that names the problem and the fix.
 * Messages must never contain secret values; callers pass names and ids only.
 */
export type ErrorCode =
  | 'INVALID_INPUT' // a CLI argument, event or option is malformed
  | 'INVALID_SECRET' // a secret value does not match its engine's schema
  | 'UNSUPPORTED_ENGINE' // no rotator for the secret's engine / strategy
  | 'SECRET_NOT_FOUND'
  | 'SECRET_EXISTS'
  | 'VERSION_NOT_FOUND' // no such version, or the version has no value yet
  | 'VERSION_CONFLICT' // same token, different value
  | 'ROTATION_DISABLED'
  | 'NOT_PENDING' // the token is a known version but not labelled PENDING
  | 'STALE_PENDING' // the PENDING version was derived from a CURRENT or settings that have since changed
  | 'ROTATION_IN_PROGRESS' // another process holds the secret's rotation lock
  | 'STORE_LOCKED' // could not take the store lock in time
  | 'STORE_CORRUPT' // the store file cannot be parsed or fails authentication
  | 'STORE_KEY_MISMATCH' // the key does not decrypt this store
  | 'STORE_IO' // the store could not be read or written
  | 'PASSWORD_POLICY' // generator options that cannot produce a password
  | 'CREDENTIAL_MISMATCH' // pending names another user/host than current
  | 'TARGET_AUTH_FAILED' // the database refused every credential we hold
  | 'TARGET_UNREACHABLE' // connect failed or timed out
  | 'TARGET_TLS' // TLS required but unavailable or not verifiable
  | 'TARGET_ERROR' // the target rejected a statement
  | 'INTERNAL';

export interface RotatorErrorOptions {
  retryable?: boolean;
  cause?: unknown;
}

export class RotatorError extends Error {
  readonly code: ErrorCode;
  readonly retryable: boolean;

  constructor(code: ErrorCode, message: string, options: RotatorErrorOptions = {}) {
    // Messages quote ids, engine names and what servers and providers answer: whatever a caller let through, a
    // control character in a message can never forge a line or reorder what a terminal shows.
    super(escapeControl(message), options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'RotatorError';
    this.code = code;
    this.retryable = options.retryable ?? false;
  }
}

export function isRotatorError(error: unknown, code?: ErrorCode): error is RotatorError {
  return error instanceof RotatorError && (code === undefined || error.code === code);
}

/** Wraps anything thrown into a RotatorError, keeping RotatorErrors as they are. */
export function toRotatorError(error: unknown, code: ErrorCode = 'INTERNAL'): RotatorError {
  if (error instanceof RotatorError) return error;
  const message = error instanceof Error ? error.message : String(error);
  return new RotatorError(code, message, { cause: error });
}
