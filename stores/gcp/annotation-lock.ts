import { randomUUID } from 'node:crypto';
import { RotatorError } from '../../shared/errors.js';
import { abortLostLease } from '../lease.js';
import type { Logger } from '../../shared/logger.js';
import type { Lease } from '../../shared/store.js';
import { ANNOTATION, formatLock, lockRecord } from './annotations.js';
import { compareAndSwap } from './compare-and-swap.js';
import type { SecretManagerCalls } from './secret-manager-calls.js';

/**
 * The Secret Manager rotation lock: a lease in the main secret's `rotator-lock` annotation, `<holder>|<until>`, taken
 * and renewed by compare-and-swap on the secret's etag (compare-and-swap.ts), so of any number of racing processes
 * exactly one writes its holder id.
 *
 * - Taking it: refused with ROTATION_IN_PROGRESS (retryable) while another holder's `until` is in the future; an
 *   expired lease (a holder that died) is taken over; an annotation that does not parse is treated as free.
 * - While held it is renewed every `renewEveryMs` (default a third of the ttl) on a timer that does not keep the
 *   process alive: the renewal writes a new `until` only if the annotation still names this holder.
 * - `signal` aborts, with a retryable ROTATION_IN_PROGRESS as its reason, when a renewal finds the lock gone or taken,
 *   when the service refuses a renewal for good (a permission), or when `until` passes before a renewal succeeded
 *   (the holder cannot know what happened after that). The holder must then stop before its next store or target call.
 * - Release drops the annotation only if it still names this holder. A release that fails is an error the caller
 *   logs; the lease then expires within the ttl.
 *
 * `until` is written from this process's clock and compared with the taker's, so the ttl must stay well above the
 * clock skew between hosts (Google's hosts keep theirs within milliseconds).
 */
export interface AnnotationLockOptions {
  calls: SecretManagerCalls;
  ttlMs: number;
  /** Default ttl / 3. */
  renewEveryMs?: number;
  clock: () => Date;
  logger?: Logger | undefined;
}

export const DEFAULT_LOCK_TTL_MS = 60_000;
export const MIN_LOCK_TTL_MS = 1_000;
export const MAX_LOCK_TTL_MS = 3_600_000;
/** After a failed renewal, try again after a third of what is left, but not sooner than this. */
const MIN_RETRY_MS = 50;

export function checkLockTtl(ttlMs: number): number {
  if (!Number.isInteger(ttlMs) || ttlMs < MIN_LOCK_TTL_MS || ttlMs > MAX_LOCK_TTL_MS) {
    throw new RotatorError('INVALID_INPUT', `the rotation lock's ttl must be a whole number of ms from ${MIN_LOCK_TTL_MS} to ${MAX_LOCK_TTL_MS}`);
  }
  return ttlMs;
}

/** Takes the rotation lock of `secretId`: ROTATION_IN_PROGRESS (retryable) while another holder has it. */
export async function takeAnnotationLock(secretId: string, options: AnnotationLockOptions): Promise<AnnotationLease> {
  const holder = randomUUID();
  const taken: { until?: Date } = {};
  await compareAndSwap(options.calls, secretId, (next) => {
    const now = options.clock();
    const held = lockRecord(next.annotations);
    // No holder may claim the lock for longer than the longest ttl (plus as much again for clocks that disagree): a
    // lock written to last for years (by hand, or by a clock gone wrong) would otherwise stop every rotation for good.
    const believable = held !== undefined && held.until.getTime() <= now.getTime() + 2 * MAX_LOCK_TTL_MS;
    if (held !== undefined && believable && held.holder !== holder && held.until.getTime() > now.getTime()) {
      throw new RotatorError(
        'ROTATION_IN_PROGRESS',
        `another rotation of secret ${secretId} holds its lock (until ${held.until.toISOString()}); retry later: a holder that died frees it when that time has passed`,
        { retryable: true },
      );
    }
    taken.until = new Date(now.getTime() + options.ttlMs);
    next.annotations[ANNOTATION.lock] = formatLock({ holder, until: taken.until });
    return next;
  });
  return new AnnotationLease(secretId, holder, taken.until ?? options.clock(), options);
}

type LeaseState = 'held' | 'lost' | 'released';

export class AnnotationLease implements Lease {
  readonly secretId: string;
  readonly holder: string;
  readonly #options: AnnotationLockOptions;
  readonly #renewEveryMs: number;
  readonly #lost = new AbortController();
  #state: LeaseState = 'held';
  /** The `until` last written: the lease is surely ours until then. */
  #until: Date;
  #renewTimer: NodeJS.Timeout | undefined;
  #expiryTimer: NodeJS.Timeout | undefined;
  #renewing: Promise<void> | undefined;
  #releasing: Promise<void> | undefined;

  constructor(secretId: string, holder: string, until: Date, options: AnnotationLockOptions) {
    this.secretId = secretId;
    this.holder = holder;
    this.#options = options;
    this.#until = until;
    this.#renewEveryMs = options.renewEveryMs ?? Math.floor(options.ttlMs / 3);
    this.#armExpiry();
    this.#scheduleRenewal(this.#renewEveryMs);
  }

  get signal(): AbortSignal {
    return this.#lost.signal;
  }

  /** Until when the lease is ours (for tests and for a person looking at it). */
  get until(): Date {
    return this.#until;
  }

  /** Renews now (the timer does this by itself); rejects when the lease is lost or released, or the service fails. */
  renew(): Promise<void> {
    if (this.#state !== 'held') return Promise.reject(this.#notHeld());
    this.#renewing ??= this.#renewOnce().finally(() => {
      this.#renewing = undefined;
    });
    return this.#renewing;
  }

  async #renewOnce(): Promise<void> {
    const outcome: { gone?: boolean; until?: Date } = {};
    try {
      await compareAndSwap(this.#options.calls, this.secretId, (next) => {
        const held = lockRecord(next.annotations);
        outcome.gone = held?.holder !== this.holder;
        if (outcome.gone) return undefined;
        outcome.until = new Date(this.#options.clock().getTime() + this.#options.ttlMs);
        next.annotations[ANNOTATION.lock] = formatLock({ holder: this.holder, until: outcome.until });
        return next;
      });
    } catch (error) {
      if (this.#state !== 'held') throw this.#notHeld();
      const mapped = error instanceof RotatorError ? error : new RotatorError('STORE_IO', 'the rotation lock could not be renewed', { retryable: true, cause: error });
      if (!mapped.retryable) {
        this.#lose(`Secret Manager refused to renew it (${mapped.code})`);
        throw this.#notHeld();
      }
      if (this.#options.clock().getTime() >= this.#until.getTime()) {
        this.#lose(`it lapsed while Secret Manager could not be reached (${mapped.code})`);
        throw this.#notHeld();
      }
      this.#options.logger?.warn('could not renew the rotation lock; retrying before it lapses', { secretId: this.secretId, error: mapped });
      throw mapped;
    }
    if (outcome.gone === true) {
      this.#lose('its annotation no longer names this holder (it expired and was taken, or was removed by hand)');
      throw this.#notHeld();
    }
    if (this.#state === 'held' && outcome.until !== undefined) {
      this.#until = outcome.until;
      this.#armExpiry();
    }
  }

  #scheduleRenewal(delayMs: number): void {
    if (this.#state !== 'held') return;
    this.#renewTimer = setTimeout(() => {
      this.#renewTimer = undefined;
      void this.#tick();
    }, delayMs);
    this.#renewTimer.unref(); // a held lock must not keep a finished process alive
  }

  async #tick(): Promise<void> {
    let ok = true;
    try {
      await this.renew();
    } catch {
      ok = false; // logged, or recorded as lost, by #renewOnce
    }
    const left = this.#until.getTime() - this.#options.clock().getTime();
    this.#scheduleRenewal(ok ? this.#renewEveryMs : Math.min(this.#renewEveryMs, Math.max(MIN_RETRY_MS, left / 3)));
  }

  /** The lease is lost when `until` passes before a renewal moved it. */
  #armExpiry(): void {
    if (this.#expiryTimer !== undefined) clearTimeout(this.#expiryTimer);
    const left = Math.max(0, this.#until.getTime() - this.#options.clock().getTime());
    this.#expiryTimer = setTimeout(() => {
      this.#expiryTimer = undefined;
      this.#lose('it lapsed before it could be renewed');
    }, left);
    this.#expiryTimer.unref();
  }

  #stopTimers(): void {
    if (this.#renewTimer !== undefined) clearTimeout(this.#renewTimer);
    if (this.#expiryTimer !== undefined) clearTimeout(this.#expiryTimer);
    this.#renewTimer = undefined;
    this.#expiryTimer = undefined;
  }

  #lose(why: string): void {
    if (this.#state !== 'held') return;
    this.#state = 'lost';
    this.#stopTimers();
    abortLostLease(this.#lost, this.secretId, why, this.#options.logger);
  }

  #notHeld(): RotatorError {
    if (this.#state === 'lost') return this.#lost.signal.reason as RotatorError;
    return new RotatorError('INTERNAL', `the rotation lock of secret ${this.secretId} was already released`);
  }

  release(): Promise<void> {
    this.#releasing ??= this.#release().catch((error: unknown) => {
      this.#releasing = undefined; // a later call may try again; meanwhile the lease runs out by itself
      throw error;
    });
    return this.#releasing;
  }

  async #release(): Promise<void> {
    const wasHeld = this.#state === 'held';
    this.#stopTimers();
    if (wasHeld) this.#state = 'released';
    await this.#renewing?.catch(() => undefined); // never let a renewal land after the release
    try {
      await compareAndSwap(this.#options.calls, this.secretId, (next) => {
        if (lockRecord(next.annotations)?.holder !== this.holder) return undefined; // not ours any more: nothing to free
        Reflect.deleteProperty(next.annotations, ANNOTATION.lock);
        return next;
      });
    } catch (error) {
      const mapped = error instanceof RotatorError ? error : new RotatorError('STORE_IO', 'the rotation lock could not be released', { cause: error });
      throw new RotatorError(mapped.code, `${mapped.message}; the lock of secret ${this.secretId} frees itself within ${this.#options.ttlMs} ms`, {
        retryable: mapped.retryable,
        cause: error,
      });
    }
  }
}
