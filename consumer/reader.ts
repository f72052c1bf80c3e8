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
 *   (`currentVersionStamp`, one metadata call: DescribeSecret on AWS, GetSecretVersion on Secret Manager) and keep the
 *   cached value when it has not changed. A store without such a call (Key Vault, whose only answer for the latest
 *   version carries its value; the file store) is read as without the option. A check that fails is told to
 *   `onError` and the value is read instead; one refused for good (no permission for the metadata) is not tried again.
 * - A background refresh that fails is told to `onError` and tried again no sooner than BACKGROUND_RETRY_MS later.
 * - The parsed value is frozen and shared by every caller: spread it to change it.
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
  /** Ask the store which version is CURRENT (metadata) when the TTL runs out, and read the value only when it moved. */
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
  getJson(): Promise<Readonly<SecretObject>>;
  /** Reads the value from the store now (deduplicated), e.g. after the credential was refused. */
  refresh(): Promise<string>;
  /** `fn` with the parsed value; on an authentication error, once more with a value read again from the store. */
  withSecret<T>(fn: (secret: Readonly<SecretObject>) => Promise<T>): Promise<T>;
}

export const DEFAULT_TTL_MS = 5 * 60_000;
export const DEFAULT_STALE_MS = 60_000;
/** After a background refresh failed, the next one waits this long (the stale value is served meanwhile), so a store
 * that refuses at once is not asked again on every request. */
export const BACKGROUND_RETRY_MS = 1_000;

interface Cached {
  value: string;
  /** `value`, resolved once: what a cache hit returns, so a hit allocates nothing. */
  answer: Promise<string>;
  parsed?: Readonly<SecretObject>;
  parsedAnswer?: Promise<Readonly<SecretObject>>;
  /** The store's stamp of CURRENT when the value was read (versionCheck only). */
  stamp?: string;
  fetchedAt: number;
}

export function createSecretReader(options: SecretReaderOptions): SecretReader {
  const { store, secretId } = options;
  const ttlMs = checkMs(options.ttlMs ?? DEFAULT_TTL_MS, 'ttlMs');
  const staleMs = checkMs(options.staleMs ?? DEFAULT_STALE_MS, 'staleMs');
  const now = options.now ?? Date.now;
  // Only where the store has a metadata call cheaper than the value (SecretStore.currentVersionStamp): elsewhere a
  // "check" would cost more than the read it saves (Key Vault's description reads the value and lists versions).
  let stampOf = options.versionCheck === true && store.currentVersionStamp !== undefined ? store.currentVersionStamp.bind(store) : undefined;
  let cached: Cached | undefined;
  let inFlight: Promise<Cached> | undefined;
  let backgroundFailedAt = Number.NEGATIVE_INFINITY;

  /** The store's stamp of CURRENT, or undefined (no check, or it failed: the value is read instead). */
  const currentStamp = async (): Promise<string | undefined> => {
    const ask = stampOf;
    if (ask === undefined) return undefined;
    try {
      return await ask(secretId);
    } catch (error) {
      const failure = readError(secretId, error);
      // A refusal that will not pass (a role allowed to read the value but not its metadata: AWS without
      // secretsmanager:DescribeSecret, Google without secretmanager.versions.get) turns the check off for good.
      if (!failure.retryable) stampOf = undefined;
      options.onError?.(failure);
      return undefined;
    }
  };

  const fetchValue = async (checkVersion: boolean): Promise<Cached> => {
    try {
      const entry = cached;
      // The stamp first, then the value: a rotation in between gives a newer value under an older stamp, which the
      // next check reads again (never an old value under a new stamp, which it would keep).
      const stamp = await currentStamp();
      if (checkVersion && stamp !== undefined && entry?.stamp === stamp) {
        // Renewed in place: withSecret tells "someone else read a new value" by the entry's identity.
        entry.fetchedAt = now();
        return entry;
      }
      const value = await store.getValue(secretId, { stage: 'CURRENT' });
      return { value, answer: Promise.resolve(value), fetchedAt: now(), ...(stamp === undefined ? {} : { stamp }) };
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

  const refreshInBackground = (): void => {
    if (inFlight !== undefined || now() - backgroundFailedAt < BACKGROUND_RETRY_MS) return;
    fetchOnce(true).catch((error: unknown) => {
      backgroundFailedAt = now();
      options.onError?.(toRotatorError(error));
    });
  };

  /** The entry to answer from: fresh, stale (and refreshing), or fetched now. */
  const current = (): Cached | Promise<Cached> => {
    const entry = cached;
    if (entry !== undefined) {
      const age = now() - entry.fetchedAt;
      if (age < ttlMs) return entry;
      if (age < ttlMs + staleMs) {
        refreshInBackground();
        return entry;
      }
    }
    return fetchOnce(true);
  };

  const parsedAnswer = (entry: Cached): Promise<Readonly<SecretObject>> => {
    if (entry.parsedAnswer === undefined) {
      try {
        entry.parsedAnswer = Promise.resolve(parsed(entry));
      } catch (error) {
        return Promise.reject(toRotatorError(error));
      }
    }
    return entry.parsedAnswer;
  };

  const parsed = (entry: Cached): Readonly<SecretObject> => {
    // Frozen: every caller shares this object, so one that changed it would change it for all the others.
    entry.parsed ??= deepFreeze(parseSecretJson(entry.value, `the value of ${secretId}`, store.maxValueBytes));
    return entry.parsed;
  };

  return {
    // A hit returns the entry's own resolved promise: no await, no allocation (bench/reader.ts).
    get: () => {
      const entry = current();
      return entry instanceof Promise ? entry.then((e) => e.value) : entry.answer;
    },
    getJson: () => {
      const entry = current();
      return entry instanceof Promise ? entry.then(parsedAnswer) : parsedAnswer(entry);
    },
    refresh: async () => (await fetchOnce(false)).value,
    async withSecret<T>(fn: (secret: Readonly<SecretObject>) => Promise<T>): Promise<T> {
      const first = await current();
      try {
        return await fn(parsed(first));
      } catch (error) {
        if (!isAuthenticationError(error)) throw error;
        // Someone may have read a new value already; read again only if this call still holds the one refused.
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
 * TARGET_AUTH_FAILED. Also when the application wrapped such an error as another's `cause` (a few levels deep).
 */
export function isAuthenticationError(error: unknown): boolean {
  let e = error;
  for (let depth = 0; depth < MAX_CAUSE_DEPTH && typeof e === 'object' && e !== null; depth++) {
    if (isRefusal(e)) return true;
    e = (e as { cause?: unknown }).cause;
  }
  return false;
}

const MAX_CAUSE_DEPTH = 5;

function isRefusal(error: object): boolean {
  const e = error as { code?: unknown; errno?: unknown; status?: unknown; statusCode?: unknown };
  if (e.code === '28P01' || e.code === '28000' || e.code === 'ER_ACCESS_DENIED_ERROR' || e.errno === 1045) return true;
  if (e.status === 401 || e.status === 403 || e.statusCode === 401 || e.statusCode === 403) return true;
  return error instanceof RotatorError && error.code === 'TARGET_AUTH_FAILED';
}

function readError(secretId: string, error: unknown): RotatorError {
  // The store's own errors name the secret and never a value. Anything else (a store written elsewhere, a bug) is
  // wrapped without its message and without itself as the cause, which loggers print: only its name and code remain.
  if (error instanceof RotatorError) return error;
  const { name, code } = (typeof error === 'object' && error !== null ? error : {}) as { name?: unknown; code?: unknown };
  const label = [name, code].filter((part): part is string => typeof part === 'string' && /^[\w.-]{1,64}$/.test(part)).join(' ');
  return new RotatorError('STORE_IO', `could not read secret ${secretId}${label === '' ? '' : ` (${label})`}`, { retryable: true });
}

/** Freezes a parsed value and everything in it (iteratively: a 64 KiB value can nest thousands of levels deep). */
function deepFreeze<T extends object>(root: T): Readonly<T> {
  const pending: object[] = [root];
  for (let node = pending.pop(); node !== undefined; node = pending.pop()) {
    Object.freeze(node);
    for (const child of Object.values(node)) if (child !== null && typeof child === 'object') pending.push(child as object);
  }
  return root;
}

function checkMs(value: number, name: string): number {
  if (!Number.isFinite(value) || value < 0 || value > 365 * 86_400_000) throw new RotatorError('INVALID_INPUT', `${name} must be a number of milliseconds from 0 to a year`);
  return value;
}
