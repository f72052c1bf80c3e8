import { RotatorError } from '../../shared/errors.js';

/**
 * Secrets Manager's request quotas are per account and region, per group of operations, and the service throttles
 * past them. The SDK's adaptive retry slows a client down only after it has been throttled; the pacer keeps one store
 * instance under its share of each quota from the first call, so a sweep over a large fleet (the purger, `status`)
 * never gets there: every call waits for its group's next slot (calls of a group are spaced 1/rate apart).
 *
 * The quotas, from "AWS Secrets Manager quotas" (docs.aws.amazon.com/secretsmanager/latest/userguide/reference_limits.html),
 * none of them adjustable:
 * - DescribeSecret and GetSecretValue combined: 10,000 per second;
 * - ListSecrets: 100 per second (raised to that in November 2022);
 * - PutSecretValue, UpdateSecret, UpdateSecretVersionStage (and the replication calls) combined: 50 per second;
 * - TagResource and UntagResource combined: 50 per second;
 * - RotateSecret and CancelRotateSecret combined: 50 per second;
 * - ListSecretVersionIds: taken as 50 per second, the figure of every other control-plane group (the row could not be
 *   confirmed here; a lower real quota would show as throttling, which the adaptive retry absorbs).
 *
 * The default share is half of each: the account's applications, the rotation functions and the purger draw on the
 * same quotas at the same time.
 */
export type QuotaGroup = 'read' | 'listSecrets' | 'listVersions' | 'write' | 'tag' | 'rotate';

export const SECRETS_MANAGER_QUOTAS: Readonly<Record<QuotaGroup, number>> = {
  read: 10_000,
  listSecrets: 100,
  listVersions: 50,
  write: 50,
  tag: 50,
  rotate: 50,
};

/** The share of each quota one store instance uses by default. */
export const DEFAULT_QUOTA_SHARE = 0.5;

const GROUP_OF: Readonly<Record<string, QuotaGroup>> = {
  DescribeSecret: 'read',
  GetSecretValue: 'read',
  ListSecrets: 'listSecrets',
  ListSecretVersionIds: 'listVersions',
  PutSecretValue: 'write',
  UpdateSecretVersionStage: 'write',
  TagResource: 'tag',
  UntagResource: 'tag',
  RotateSecret: 'rotate',
  CancelRotateSecret: 'rotate',
};

export type RequestRates = Partial<Record<QuotaGroup, number>>;

export class RequestPacer {
  readonly #intervalMs: Record<QuotaGroup, number>;
  readonly #nextSlot = new Map<QuotaGroup, number>();
  readonly #now: () => number;

  /** `rates`: calls per second per group (default: DEFAULT_QUOTA_SHARE of each quota). */
  constructor(rates: RequestRates = {}, now: () => number = () => performance.now()) {
    const interval = (group: QuotaGroup): number => {
      const rate = rates[group] ?? SECRETS_MANAGER_QUOTAS[group] * DEFAULT_QUOTA_SHARE;
      if (!Number.isFinite(rate) || rate <= 0 || rate > SECRETS_MANAGER_QUOTAS[group]) {
        throw new RotatorError('INVALID_INPUT', `the request rate for ${group} must be above 0 and at most the service's quota (${SECRETS_MANAGER_QUOTAS[group]} per second)`);
      }
      return 1000 / rate;
    };
    this.#intervalMs = {
      read: interval('read'),
      listSecrets: interval('listSecrets'),
      listVersions: interval('listVersions'),
      write: interval('write'),
      tag: interval('tag'),
      rotate: interval('rotate'),
    };
    this.#now = now;
  }

  /** Waits for the operation's next slot (immediately when its group has been idle). */
  async take(operation: string, signal?: AbortSignal): Promise<void> {
    const group = GROUP_OF[operation];
    if (group === undefined) throw new RotatorError('INTERNAL', `no request quota is known for ${operation}`);
    const now = this.#now();
    const slot = Math.max(now, this.#nextSlot.get(group) ?? now);
    this.#nextSlot.set(group, slot + this.#intervalMs[group]);
    const wait = slot - now;
    if (wait >= 1) await delay(wait, signal);
  }
}

function delay(ms: number, signal: AbortSignal | undefined): Promise<void> {
  signal?.throwIfAborted();
  return new Promise((resolve, reject) => {
    const onAbort = (): void => {
      clearTimeout(timer);
      reject(signal?.reason instanceof Error ? signal.reason : new RotatorError('STORE_IO', 'the call was aborted while waiting for its request slot', { retryable: true }));
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}
