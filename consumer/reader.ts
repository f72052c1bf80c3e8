import { RotatorError, toRotatorError } from '../shared/errors.js';
import { parseSecretJson, type SecretObject } from '../shared/secret.js';
import type { SecretStore } from '../shared/store.js';

/**
 * The consumer's side of rotation: an application reads its secret through a reader that caches it, and refreshes it
 * when it expires or the moment a credential is refused, so a rotation needs no restart and the store is not asked
 * on every request.
 *
 * - It reads CURRENT as consumers of each store do (`getValue` with stage CURRENT: AWSCURRENT, Key Vault's latest
 *   version, Secret Manager's `current` alias or `latest`; the file store's CURRENT).
 * - A value is fresh for `ttlMs`. After that, for `staleMs` more, `get()` answers at once with the old value and
 *   refreshes in the background (stale-while-revalidate); past both, `get()` waits for the store.
 * - Concurrent fetches are one fetch.
 * - `refresh()` fetches now (one fetch however many ask); `withSecret(fn)` calls `fn` again, once, with a freshly read
 *   value when `fn` fails with an authentication error (isAuthenticationError).
 * - `versionCheck`: instead of reading the value again when the TTL runs out, ask the store which version is CURRENT
 *   (`describe`, a metadata call on every store) and keep the cached value when it has not changed.
 * - Nothing it throws or logs carries the value: errors name the secret and the store's error code.
 *
 * The purger's safe window must be longer than the longest time a consumer may keep a value: `ttlMs + staleMs` (and
 * the life of a connection opened with it). With the defaults (5 minutes + 1 minute) any safe window of a day or more
 * leaves a large margin.
 */
export interface SecretReaderOptions {
  store: SecretStore;
  secretId: string;
  /** How long a value is used without asking the store (default 5 minutes). */
  ttlMs?: number;
  /** How long after that an old value is still served while a refresh runs in the background (default 1 minute). */
  staleMs?: number;
  /** Ask the store for CURRENT's version id (metadata) when the TTL runs out, and read the value only when it changed. */
  versionCheck?: boolean;
  /** Milliseconds since an epoch; tests pass their own. */
  now?: () => number;
  /** Told about a background refresh that failed (the old value keeps being served until it is stale). */
  onError?: (error: RotatorError) => void;
}

export interface SecretReader {
  /** The value of CURRENT, cached (see SecretReaderOptions). */
  get(): Promise<string>;
  /** The value parsed as a JSON object (the RDS secret format, an API key's secret). */
  getJson(): Promise<SecretObject>;
  /** Reads the value from the store now (deduplicated), e.g. after the credential was refused. */
  refresh(): Promise<string>;
  /** `fn` with the parsed value; on an authentication error, once more with a value read again from the store. */
  withSecret<T>(fn: (secret: SecretObject) => Promise<T>): Promise<T>;
}

export const DEFAULT_TTL_MS = 5 * 60_000;
export const DEFAULT_STALE_MS = 60_000;

interface Cached {
  value: string;
  parsed?: SecretObject;
  versionId?: string;
  fetchedAt: number;
}

export function createSecretReader(options: SecretReaderOptions): SecretReader {
  const { store, secretId } = options;
  const ttlMs = checkMs(options.ttlMs ?? DEFAULT_TTL_MS, 'ttlMs');
  const staleMs = checkMs(options.staleMs ?? DEFAULT_STALE_MS, 'staleMs');
  const now = options.now ?? Date.now;
  let cached: Cached | undefined;
  let inFlight: Promise<Cached> | undefined;

  const currentVersionId = async (): Promise<string | undefined> =>
    (await store.describe(secretId, { dates: false })).versions.find((v) => v.stages.includes('CURRENT'))?.versionId;

  const fetchValue = async (checkVersion: boolean): Promise<Cached> => {
    try {
      if (checkVersion && cached !== undefined && cached.versionId !== undefined) {
        const versionId = await currentVersionId();
        if (versionId === cached.versionId) return { ...cached, fetchedAt: now() };
      }
      // The version first, then the value: a rotation in between gives a newer value under an older id, which the
      // next check reads again (never an old value under a new id, which it would keep).
      const versionId = options.versionCheck === true ? await currentVersionId() : undefined;
      const value = await store.getValue(secretId, { stage: 'CURRENT' });
      return { value, fetchedAt: now(), ...(versionId === undefined ? {} : { versionId }) };
    } catch (error) {
      throw readError(secretId, error);
    }
  };

  /** One fetch at a time; whoever asks while it runs gets the same answer. */
  const fetchOnce = (checkVersion: boolean): Promise<Cached> => {
    inFlight ??= fetchValue(checkVersion)
      .then((fresh) => {
        cached = fresh;
        return fresh;
      })
      .finally(() => {
        inFlight = undefined;
      });
    return inFlight;
  };

  const current = async (): Promise<Cached> => {
    const entry = cached;
    if (entry !== undefined) {
      const age = now() - entry.fetchedAt;
      if (age < ttlMs) return entry;
      if (age < ttlMs + staleMs) {
        fetchOnce(options.versionCheck === true).catch((error: unknown) => options.onError?.(toRotatorError(error)));
        return entry;
      }
    }
    return fetchOnce(options.versionCheck === true);
  };

  const parsed = (entry: Cached): SecretObject => {
    entry.parsed ??= parseSecretJson(entry.value, `the value of ${secretId}`, store.maxValueBytes);
    return entry.parsed;
  };

  return {
    get: async () => (await current()).value,
    getJson: async () => parsed(await current()),
    refresh: async () => (await fetchOnce(false)).value,
    async withSecret<T>(fn: (secret: SecretObject) => Promise<T>): Promise<T> {
      const first = await current();
      try {
        return await fn(parsed(first));
      } catch (error) {
        if (!isAuthenticationError(error)) throw error;
        // Someone may have refreshed already; read again only if this call still holds the value that was refused.
        const fresh = cached !== undefined && cached !== first ? cached : await fetchOnce(false);
        return fn(parsed(fresh));
      }
    },
  };
}

/**
 * Whether `error` says the credential was refused, so a value read again might work: PostgreSQL's 28P01
 * (invalid_password) and 28000 (invalid_authorization_specification), MySQL/MariaDB's 1045 (ER_ACCESS_DENIED_ERROR),
 * an HTTP 401 or 403 (an error with `status` or `statusCode`, or a fetch Response), and Rotator's own
 * TARGET_AUTH_FAILED.
 */
export function isAuthenticationError(error: unknown): boolean {
  if (typeof error !== 'object' || error === null) return false;
  const e = error as { code?: unknown; errno?: unknown; status?: unknown; statusCode?: unknown };
  if (e.code === '28P01' || e.code === '28000' || e.code === 'ER_ACCESS_DENIED_ERROR' || e.errno === 1045) return true;
  if (e.status === 401 || e.status === 403 || e.statusCode === 401 || e.statusCode === 403) return true;
  return error instanceof RotatorError && error.code === 'TARGET_AUTH_FAILED';
}

function readError(secretId: string, error: unknown): RotatorError {
  const e = toRotatorError(error, 'STORE_IO');
  // The store's own errors name the secret and never a value; anything else is wrapped without its message.
  return error instanceof RotatorError ? e : new RotatorError('STORE_IO', `could not read secret ${secretId}`, { retryable: true, cause: error });
}

function checkMs(value: number, name: string): number {
  if (!Number.isFinite(value) || value < 0 || value > 365 * 86_400_000) throw new RotatorError('INVALID_INPUT', `${name} must be a number of milliseconds from 0 to a year`);
  return value;
}
