import { RotatorError } from '../shared/errors.js';
import type { SecretObject } from '../shared/secret.js';

/**
 * What the pool helpers (pg-pool.ts, mysql-pool.ts) share: the secret, not the caller, decides where and as whom a
 * pool logs in, and each value the reader hands out is validated once.
 */

/**
 * INVALID_INPUT when `options` sets a key the secret decides (a JavaScript caller is not stopped by the types): a
 * fixed user or host next to the secret's would be used for some connections and not others.
 */
export function refuseSecretKeys(options: object, keys: readonly string[], factory: string): void {
  const given = keys.filter((key) => Object.hasOwn(options, key));
  if (given.length > 0) {
    throw new RotatorError('INVALID_INPUT', `${factory}: ${given.join(', ')} come${given.length === 1 ? 's' : ''} from the secret; remove ${given.length === 1 ? 'it' : 'them'} from the pool options`);
  }
}

/**
 * `build` memoised on the parsed secret's identity: the reader hands out the same object while its value is cached,
 * so a value is validated once, not on every query.
 */
export function perSecret<T>(build: (secret: SecretObject) => T): (secret: SecretObject) => T {
  const built = new WeakMap<SecretObject, T>();
  return (secret) => {
    let value = built.get(secret);
    if (value === undefined) {
      value = build(secret);
      built.set(secret, value);
    }
    return value;
  };
}

/** 1 hour: see the README ("PostgreSQL and MySQL pools") for what a connection's life means for the safe window. */
export const DEFAULT_MAX_LIFETIME_SECONDS = 3600;

export function checkLifetime(seconds: number, factory: string): number {
  if (!Number.isInteger(seconds) || seconds < 0 || seconds > 365 * 86_400) {
    throw new RotatorError('INVALID_INPUT', `${factory}: maxLifetimeSeconds must be a whole number of seconds from 0 (no limit) to a year`);
  }
  return seconds;
}
