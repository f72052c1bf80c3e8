import { createHash, timingSafeEqual } from 'node:crypto';
import { parseSecretJson } from '../../shared/secret.js';
import { versionWithStage, type SecretStore } from '../../shared/store.js';

/**
 * The check a service runs on a presented self-issued key. It accepts the CURRENT key, and the PREVIOUS key while
 * the rotation that replaced it is younger than the safe window (measured from CURRENT's promotion): clients that
 * have not re-read the secret yet keep working, which is what makes a single-key rotation zero-downtime.
 *
 * What it read is kept for `cacheTtlMs`, as SHA-256 digests only (no key value stays in memory). A miss within the
 * TTL re-reads the store at most once per `missRefreshMs`, so a client that picked up a freshly promoted key is not
 * refused until the TTL runs out. Comparisons hash the presented key and use timingSafeEqual against each accepted
 * digest, all of them every time. Nothing is logged. A store failure rejects the promise (callers fail closed).
 */
export interface ApiKeyVerifierOptions {
  store: SecretStore;
  secretId: string;
  cacheTtlMs: number;
  /** How long PREVIOUS stays valid after CURRENT's promotion; use the purger's window for the secret. */
  safeWindowMs: number;
  clock?: () => Date;
  /** Least time between store reads caused by a refused key inside the TTL (default 1000 ms; Infinity: never). */
  missRefreshMs?: number;
}

export interface ApiKeyVerifier {
  verify(presented: string): Promise<boolean>;
  /** Forgets the cache (after an out-of-band rotation). */
  invalidate(): void;
}

interface Snapshot {
  readAt: number;
  current: Buffer | undefined;
  previous: Buffer | undefined;
  /** PREVIOUS is accepted until this instant (CURRENT's promotion + the safe window). */
  previousUntil: number;
}

const digest = (value: string): Buffer => createHash('sha256').update(value, 'utf8').digest();

function keyOf(raw: string, what: string): Buffer | undefined {
  const key = parseSecretJson(raw, what).key;
  return typeof key === 'string' && key.length > 0 ? digest(key) : undefined;
}

export function createApiKeyVerifier(options: ApiKeyVerifierOptions): ApiKeyVerifier {
  const { store, secretId, cacheTtlMs, safeWindowMs } = options;
  const clock = options.clock ?? (() => new Date());
  const missRefreshMs = options.missRefreshMs ?? 1000;
  let snapshot: Snapshot | undefined;
  let loading: Promise<Snapshot> | undefined;

  const read = async (): Promise<Snapshot> => {
    const readAt = clock().getTime();
    const info = await store.describe(secretId);
    const currentVersion = versionWithStage(info, 'CURRENT');
    const previousVersion = versionWithStage(info, 'PREVIOUS');
    const current = currentVersion === undefined ? undefined : keyOf(await store.getValue(secretId, { versionId: currentVersion.versionId }), `the CURRENT value of ${secretId}`);
    // Without a promotion time the replacement's age is unknown: PREVIOUS is not accepted.
    const promotedAt = currentVersion?.promotedAt?.getTime();
    const previousUntil = promotedAt === undefined ? 0 : promotedAt + safeWindowMs;
    const previous =
      previousVersion?.hasValue === true && readAt < previousUntil
        ? keyOf(await store.getValue(secretId, { versionId: previousVersion.versionId }), `the PREVIOUS value of ${secretId}`)
        : undefined;
    return { readAt, current, previous, previousUntil };
  };

  const refresh = async (): Promise<Snapshot> => {
    // Concurrent verifications share one read.
    loading ??= read().finally(() => {
      loading = undefined;
    });
    snapshot = await loading;
    return snapshot;
  };

  const matches = (s: Snapshot, presented: Buffer, now: number): boolean => {
    let ok = false;
    // Both comparisons always run, so the time taken does not tell which key matched.
    for (const [accepted, valid] of [
      [s.current, true],
      [s.previous, now < s.previousUntil],
    ] as const) {
      const equal = timingSafeEqual(presented, accepted ?? Buffer.alloc(presented.length));
      ok = (equal && accepted !== undefined && valid) || ok;
    }
    return ok;
  };

  return {
    async verify(presented) {
      if (typeof presented !== 'string' || presented.length === 0) return false;
      const hashed = digest(presented);
      let now = clock().getTime();
      let s = snapshot !== undefined && now - snapshot.readAt < cacheTtlMs ? snapshot : await refresh();
      if (matches(s, hashed, now)) return true;
      if (now - s.readAt >= missRefreshMs) {
        s = await refresh();
        now = clock().getTime();
        return matches(s, hashed, now);
      }
      return false;
    },
    invalidate() {
      snapshot = undefined;
    },
  };
}
