import { RotatorError, isRotatorError, toRotatorError } from './errors.js';
import { scheduleState } from './schedule.js';
import { pendingRotation, type SecretInfo, type SecretStore } from './store.js';

/**
 * Working over every secret of a store with any adapter, through the SecretStore port only: the descriptions
 * `status` and `rotate --due` start from, and a bounded worker pool for the calls made per secret.
 */

/** Concurrency for a fleet command: a whole number from 1 to 64 (beyond that a store or database only queues). */
export const MAX_CONCURRENCY = 64;

export function parseConcurrency(text: string, source: string): number {
  const n = /^\d{1,2}$/.test(text.trim()) ? Number(text.trim()) : Number.NaN;
  if (!(n >= 1 && n <= MAX_CONCURRENCY)) {
    throw new RotatorError('INVALID_INPUT', `${source} must be a whole number from 1 to ${MAX_CONCURRENCY}`);
  }
  return n;
}

/**
 * `work` over every item with at most `limit` calls in flight; results in the items' order. The first rejection
 * rejects the whole and no further call starts (those in flight finish, their results dropped): fleet commands
 * catch each secret's failure in `work`, so one secret never stops the others.
 */
export async function mapBounded<T, R>(items: readonly T[], limit: number, work: (item: T) => Promise<R>): Promise<R[]> {
  const results = new Array<R>(items.length);
  let next = 0;
  let failed = false;
  const worker = async (): Promise<void> => {
    while (!failed && next < items.length) {
      const index = next++;
      try {
        results[index] = await work(items[index] as T);
      } catch (error) {
        failed = true;
        throw error;
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return results;
}

/** A secret that could not be described (its own failure, not the store's): named with the error's code only. */
export interface DescribeFailure {
  secretId: string;
  code: string;
  retryable: boolean;
}

export interface FleetDescription {
  secrets: SecretInfo[];
  failed: DescribeFailure[];
}

/**
 * Every secret `listSecretIds` names, described: in one go with `describeAll` where the store has it, else one
 * `describe` per id, `concurrency` at a time. A secret deleted between the listing and its description is left
 * out; one whose description fails is reported by code (a cloud may refuse one secret and not the others).
 * A failure to list at all is the caller's (it is thrown).
 */
export async function describeFleet(store: SecretStore, concurrency: number): Promise<FleetDescription> {
  if (store.describeAll !== undefined) return { secrets: await store.describeAll(), failed: [] };
  const ids = await store.listSecretIds();
  const outcomes = await mapBounded(ids, concurrency, async (secretId): Promise<SecretInfo | DescribeFailure | undefined> => {
    try {
      return await store.describe(secretId);
    } catch (error) {
      if (isRotatorError(error, 'SECRET_NOT_FOUND')) return undefined;
      const e = toRotatorError(error);
      return { secretId, code: e.code, retryable: e.retryable };
    }
  });
  const secrets: SecretInfo[] = [];
  const failed: DescribeFailure[] = [];
  for (const outcome of outcomes) {
    if (outcome === undefined) continue;
    if ('versions' in outcome) secrets.push(outcome);
    else failed.push(outcome);
  }
  return { secrets, failed };
}

export type SkipReason = 'rotation disabled' | 'no schedule' | 'not due';

export interface DueSelection {
  /** What a run rotates: enabled secrets whose schedule is due, and enabled ones with a rotation left PENDING. */
  due: Array<{ secretId: string; why: 'due' | 'pending' }>;
  skipped: Array<{ secretId: string; reason: SkipReason }>;
  /** Secrets whose schedule cannot be read (an edited tag): never silently left alone, reported as failures. */
  invalid: DescribeFailure[];
}

/** Which secrets are due at `now` (pure), in id order. A rotation left PENDING is finished whatever the schedule. */
export function selectDue(infos: readonly SecretInfo[], now: Date): DueSelection {
  const selection: DueSelection = { due: [], skipped: [], invalid: [] };
  for (const info of [...infos].sort((a, b) => (a.secretId < b.secretId ? -1 : a.secretId > b.secretId ? 1 : 0))) {
    const { secretId, rotation } = info;
    if (!rotation.enabled) selection.skipped.push({ secretId, reason: 'rotation disabled' });
    else if (pendingRotation(info) !== undefined) selection.due.push({ secretId, why: 'pending' });
    else if (rotation.schedule === undefined) selection.skipped.push({ secretId, reason: 'no schedule' });
    else {
      try {
        if (scheduleState(info, now).due) selection.due.push({ secretId, why: 'due' });
        else selection.skipped.push({ secretId, reason: 'not due' });
      } catch (error) {
        const e = toRotatorError(error);
        selection.invalid.push({ secretId, code: e.code, retryable: false });
      }
    }
  }
  return selection;
}
