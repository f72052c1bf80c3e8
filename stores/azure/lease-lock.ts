import { createHash } from 'node:crypto';
import type { BlobLeaseClient, BlockBlobClient, ContainerClient, StorageRetryOptions } from '@azure/storage-blob';
import { RotatorError } from '../../shared/errors.js';
import { abortLostLease } from '../lease.js';
import { AZURE_NETWORK_ERROR_CODES, mappedAlready } from '../call-errors.js';
import type { Logger } from '../../shared/logger.js';
import { checkSecretId } from '../../shared/secret-id.js';
import type { Lease } from '../../shared/store.js';

/**
 * The Azure rotation lock: one blob per secret in a container of the Function App's storage account, and a blob
 * lease on it. A lease is the storage service's own mutual exclusion: while one is active, Acquire with another
 * lease id is refused (409 LeaseAlreadyPresent), so exactly one of any number of racing processes holds it.
 *
 * - Acquire asks for `durationSeconds` (the service allows 15-60, or infinite; infinite is never used, because a
 *   holder that dies must not keep the lock for ever).
 * - While held, the lease is renewed every `renewEverySeconds` (default a third of the duration, so two renewals can
 *   fail before it lapses) on a timer that does not keep the process alive.
 * - A holder that dies stops renewing, and the service frees the lease at most `durationSeconds` after the last
 *   renewal: that is the whole crash story, and it needs no cleanup.
 * - A holder that is paused past its lease (a frozen VM, a stopped debugger, storage unreachable for a whole
 *   duration) may find another process holding the lock when it wakes. The lease then says so: `signal` is aborted
 *   and `assertHeld()` throws, and the holder must stop before it mutates anything else. The lease counts as lost
 *   once the service refuses a renewal, or once our own clock says it lapsed (counted from when the last successful
 *   acquire or renew was sent) without a renewal: the holder cannot know whether someone took it meanwhile.
 *
 * How a store adapter and the engine use it: the adapter's `lockRotation(secretId)` returns `lock(secretId)`. The
 * engine should combine the lease's `signal` with its caller's (AbortSignal.any) for the calls it makes under the
 * lock, so a lost lease aborts the next store or target call instead of letting it mutate; `assertHeld()` is the
 * synchronous check before a mutation. Releasing is best effort: a release that fails is an error the caller logs,
 * and the lease expires on its own within `durationSeconds`.
 */

export const MIN_LEASE_SECONDS = 15;
export const MAX_LEASE_SECONDS = 60;
export const DEFAULT_LEASE_SECONDS = 60;
const DEFAULT_OPERATION_TIMEOUT_MS = 30_000;
/** After a failed renewal, wait at least this long before the next attempt (unless the lease lapses sooner). */
const MIN_RETRY_MS = 1_000;
/** Azure caps blob names at 1,024 characters; longer encoded ids keep a readable head and a hash. */
const MAX_BLOB_NAME = 1_000;

/**
 * Retry settings for the ContainerClient the lock is given: a few short tries, so a storage outage fails the call
 * (retryably) in seconds instead of leaving a rotation waiting minutes for a lock. The lock also bounds every call
 * it makes (`operationTimeoutMs`, and the lease's remaining time for renewals).
 */
export const LEASE_LOCK_RETRY_OPTIONS: StorageRetryOptions = { maxTries: 3, tryTimeoutInMs: 10_000, retryDelayInMs: 500, maxRetryDelayInMs: 2_000 };

/** The timer the lease renews on; injectable so a test can drive renewals. Handles with `unref` are unref'd. */
export interface LeaseTimers {
  setTimeout(callback: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

const NODE_TIMERS: LeaseTimers = {
  setTimeout: (callback, ms) => setTimeout(callback, ms),
  clearTimeout: (handle) => clearTimeout(handle as NodeJS.Timeout),
};

export interface BlobLeaseLockOptions {
  /** The lock container (created on first use if missing). Build its client with LEASE_LOCK_RETRY_OPTIONS. */
  container: ContainerClient;
  /** The lease duration, 15-60 s: also the longest a dead holder keeps the lock. Default 60. */
  durationSeconds?: number;
  /** How often a held lease is renewed; default a third of the duration. Must be below the duration. */
  renewEverySeconds?: number;
  /** Bound on each acquire, create and release call (the SDK's own retries included). Default 30 s. */
  operationTimeoutMs?: number;
  /** Where failed renewals and lost leases are reported (warn); silent by default. */
  logger?: Logger;
  /** Milliseconds since the epoch; injectable for tests. */
  clock?: () => number;
  timers?: LeaseTimers;
}

export interface LockOptions {
  /** The caller's deadline for taking the lock. */
  signal?: AbortSignal;
}

export interface BlobLease extends Lease {
  readonly secretId: string;
  /** The lock blob's name in the container (for a person who has to look at it). */
  readonly blobName: string;
  /** Aborted, with a retryable ROTATION_IN_PROGRESS as its reason, once the lease is lost while held. */
  readonly signal: AbortSignal;
  /** Throws the reason the lease is no longer held (lost, or already released); returns when it is held. */
  assertHeld(): void;
  /** Renews now (the timer does this by itself); rejects when the lease is lost or released, or storage fails. */
  renew(): Promise<void>;
  /** Releases the lease. Idempotent; a failure rejects (STORE_IO) and the lease then expires on its own. */
  release(): Promise<void>;
}

export interface BlobLeaseLock {
  readonly durationSeconds: number;
  /** Takes the rotation lock of `secretId`: ROTATION_IN_PROGRESS (retryable) while another holder has it. */
  lock(secretId: string, options?: LockOptions): Promise<BlobLease>;
}

/**
 * The lock blob's name for a secret id. Case is folded because Key Vault names are case-insensitive ("DB-App" and
 * "db-app" are one secret, so they must share one lock; two ids of another store that differ only in case merely
 * serialise). Every character but a-z, 0-9 and "-" becomes "_" and its hex code, so the name has no "/" (no virtual
 * directory), no "." or ".." segment for a URL to normalise, and two ids never share a name. A very long id (an
 * ARN) keeps a readable head plus its SHA-256 after a "~", which no short name contains.
 */
export function leaseBlobName(secretId: string): string {
  const folded = secretId.toLowerCase();
  // Byte by byte (UTF-8), so every escape is exactly "_" and two hex digits, whatever the character.
  const encoded = [...Buffer.from(folded, 'utf8')]
    .map((byte) => {
      const c = String.fromCharCode(byte);
      return /^[a-z0-9-]$/.test(c) ? c : `_${byte.toString(16).padStart(2, '0')}`;
    })
    .join('');
  if (encoded.length <= MAX_BLOB_NAME) return encoded;
  return `${encoded.slice(0, MAX_BLOB_NAME - 65)}~${createHash('sha256').update(folded).digest('hex')}`;
}

export function createBlobLeaseLock(options: BlobLeaseLockOptions): BlobLeaseLock {
  const durationSeconds = options.durationSeconds ?? DEFAULT_LEASE_SECONDS;
  if (!Number.isInteger(durationSeconds) || durationSeconds < MIN_LEASE_SECONDS || durationSeconds > MAX_LEASE_SECONDS) {
    throw new RotatorError('INVALID_INPUT', `the rotation lock's lease duration must be a whole number of seconds from ${MIN_LEASE_SECONDS} to ${MAX_LEASE_SECONDS} (Azure's limits)`);
  }
  const renewEverySeconds = options.renewEverySeconds ?? durationSeconds / 3;
  if (!(renewEverySeconds > 0 && renewEverySeconds < durationSeconds)) {
    throw new RotatorError('INVALID_INPUT', `the rotation lock must renew more often than its lease lasts (${durationSeconds} s)`);
  }
  const config: LeaseConfig = {
    durationSeconds,
    renewEveryMs: renewEverySeconds * 1000,
    operationTimeoutMs: options.operationTimeoutMs ?? DEFAULT_OPERATION_TIMEOUT_MS,
    logger: options.logger,
    clock: options.clock ?? Date.now,
    timers: options.timers ?? NODE_TIMERS,
  };
  const { container } = options;

  return {
    durationSeconds,
    async lock(secretId, lockOptions = {}) {
      checkSecretId(secretId);
      const blobName = leaseBlobName(secretId);
      const blob = container.getBlockBlobClient(blobName);
      const signal = bounded(lockOptions.signal, config.operationTimeoutMs);
      const what = `the rotation lock of secret ${secretId}`;
      // Each round either takes the lease or creates what was missing (the container, then the blob) and tries again.
      // Three rounds cover both being missing; more means someone keeps deleting them.
      for (let round = 0; round < 3; round++) {
        const leaseClient = blob.getBlobLeaseClient(); // a fresh lease id: this lock() is a holder of its own
        const started = config.clock();
        try {
          await leaseClient.acquireLease(durationSeconds, { abortSignal: signal });
          return new HeldBlobLease(secretId, blobName, leaseClient, started, config);
        } catch (error) {
          const { status, code } = describeFailure(error);
          if (status === 409 && code === 'LeaseAlreadyPresent') {
            throw new RotatorError(
              'ROTATION_IN_PROGRESS',
              `another rotation of secret ${secretId} holds its lock (a blob lease); retry later: a holder that died frees it within ${durationSeconds} s`,
              { retryable: true, cause: error },
            );
          }
          if (status === 404 && code === 'ContainerNotFound') await createContainer(container, signal, what, lockOptions.signal);
          else if (status === 404 && code === 'BlobNotFound') await createBlob(blob, signal, what, lockOptions.signal);
          else throw mapBlobError(error, { action: `take ${what}`, signal: lockOptions.signal });
        }
      }
      throw new RotatorError('STORE_IO', `could not take ${what}: its lock blob was deleted while it was being taken; retry later`, { retryable: true });
    },
  };
}

interface LeaseConfig {
  durationSeconds: number;
  renewEveryMs: number;
  operationTimeoutMs: number;
  logger: Logger | undefined;
  clock: () => number;
  timers: LeaseTimers;
}

type LeaseState = 'held' | 'lost' | 'released';

class HeldBlobLease implements BlobLease {
  readonly secretId: string;
  readonly blobName: string;
  readonly #client: BlobLeaseClient;
  readonly #config: LeaseConfig;
  readonly #lost = new AbortController();
  #state: LeaseState = 'held';
  /** Until when the service surely keeps the lease: the duration counted from when the last successful acquire or
   * renew request was *sent* (the service starts counting later, never earlier). */
  #heldUntil: number;
  #timer: unknown;
  #renewing: Promise<void> | undefined;
  #releasing: Promise<void> | undefined;
  /** Set by release(): renewals stop for good, even if the release itself fails. */
  #stopped = false;

  constructor(secretId: string, blobName: string, client: BlobLeaseClient, acquiredAt: number, config: LeaseConfig) {
    this.secretId = secretId;
    this.blobName = blobName;
    this.#client = client;
    this.#config = config;
    this.#heldUntil = acquiredAt + config.durationSeconds * 1000;
    this.#schedule(config.renewEveryMs);
  }

  get signal(): AbortSignal {
    return this.#lost.signal;
  }

  assertHeld(): void {
    if (this.#state === 'held' && this.#config.clock() >= this.#heldUntil) this.#lose('it lapsed before it could be renewed');
    if (this.#state === 'lost') throw this.#lost.signal.reason as RotatorError;
    if (this.#state === 'released' || this.#stopped) throw new RotatorError('INTERNAL', `the rotation lock of secret ${this.secretId} was already released`);
  }

  async renew(): Promise<void> {
    this.assertHeld();
    this.#renewing ??= this.#renewOnce().finally(() => {
      this.#renewing = undefined;
    });
    await this.#renewing;
  }

  async #renewOnce(): Promise<void> {
    const started = this.#config.clock();
    try {
      // Bounded by what is left of the lease: an answer after that could not keep it anyway.
      await this.#client.renewLease({ abortSignal: AbortSignal.timeout(Math.max(1, this.#heldUntil - started)) });
    } catch (error) {
      if (this.#state !== 'held') throw (this.#lost.signal.reason as Error | undefined) ?? mapBlobError(error, { action: `renew the rotation lock of secret ${this.secretId}` });
      const mapped = mapBlobError(error, { action: `renew the rotation lock of secret ${this.secretId}` });
      if (!mapped.retryable) {
        // The service refused this lease id (another holder, a broken lease, a deleted blob): it is not ours any more.
        this.#lose(`the storage service refused to renew it (${describeFailure(error).label})`);
      } else if (this.#config.clock() >= this.#heldUntil) {
        this.#lose(`it lapsed while storage could not be reached (${describeFailure(error).label})`);
      } else {
        this.#config.logger?.warn('could not renew the rotation lock; retrying before it lapses', { secretId: this.secretId, error: mapped });
        throw mapped;
      }
      throw this.#lost.signal.reason as RotatorError;
    }
    if (this.#state === 'held') this.#heldUntil = Math.max(this.#heldUntil, started + this.#config.durationSeconds * 1000);
  }

  #schedule(delayMs: number): void {
    if (this.#stopped || this.#state !== 'held') return;
    const handle = this.#config.timers.setTimeout(() => {
      this.#timer = undefined;
      void this.#tick();
    }, delayMs);
    (handle as { unref?: () => void } | undefined)?.unref?.(); // a held lock must not keep a finished process alive
    this.#timer = handle;
  }

  async #tick(): Promise<void> {
    let ok = true;
    try {
      await this.renew();
    } catch {
      ok = false; // logged or recorded as lost by #renewOnce
    }
    const left = this.#heldUntil - this.#config.clock();
    // After a failure, try again sooner, but never in a busy loop; a lease past its end is judged at the next tick.
    this.#schedule(ok ? this.#config.renewEveryMs : Math.min(this.#config.renewEveryMs, Math.max(Math.min(MIN_RETRY_MS, left), left / 2, 0)));
  }

  #lose(why: string): void {
    if (this.#state !== 'held') return;
    this.#state = 'lost';
    this.#cancelTimer();
    abortLostLease(this.#lost, this.secretId, why, this.#config.logger);
  }

  #cancelTimer(): void {
    if (this.#timer !== undefined) this.#config.timers.clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  release(): Promise<void> {
    this.#releasing ??= this.#release().catch((error: unknown) => {
      this.#releasing = undefined; // a later call may try again; meanwhile the lease runs out by itself
      throw error;
    });
    return this.#releasing;
  }

  async #release(): Promise<void> {
    this.#stopped = true;
    this.#cancelTimer();
    await this.#renewing?.catch(() => undefined); // never let a renewal land after the release
    if (this.#state === 'released') return;
    try {
      await this.#client.releaseLease({ abortSignal: AbortSignal.timeout(this.#config.operationTimeoutMs) });
    } catch (error) {
      const { status, code } = describeFailure(error);
      // Not our lease any more (lost to another holder, broken, expired): there is nothing of ours to free.
      if (status !== 409 || !code.startsWith('Lease')) {
        const mapped = mapBlobError(error, { action: `release the rotation lock of secret ${this.secretId}` });
        throw new RotatorError(mapped.code, `${mapped.message}; the lock frees itself within ${this.#config.durationSeconds} s`, {
          retryable: mapped.retryable,
          cause: error,
        });
      }
    }
    this.#state = 'released';
  }
}

async function createContainer(container: ContainerClient, signal: AbortSignal, what: string, callerSignal: AbortSignal | undefined): Promise<void> {
  try {
    await container.createIfNotExists({ abortSignal: signal }); // another process creating it at the same time is fine
  } catch (error) {
    throw mapBlobError(error, { action: `create the container ${container.containerName} for ${what}`, signal: callerSignal });
  }
}

async function createBlob(blob: BlockBlobClient, signal: AbortSignal, what: string, callerSignal: AbortSignal | undefined): Promise<void> {
  try {
    // If-None-Match: * creates the empty blob only if no one did: a racing creator, or one already leased, is left
    // alone (409 BlobAlreadyExists; 412 when the service checks the lease first), and its lease stays valid.
    await blob.upload('', 0, { conditions: { ifNoneMatch: '*' }, abortSignal: signal });
  } catch (error) {
    const { status, code } = describeFailure(error);
    if ((status === 409 && code === 'BlobAlreadyExists') || status === 412) return;
    throw mapBlobError(error, { action: `create the blob for ${what}`, signal: callerSignal });
  }
}

/** The caller's signal, bounded by `ms`. */
function bounded(signal: AbortSignal | undefined, ms: number): AbortSignal {
  const timeout = AbortSignal.timeout(ms);
  return signal === undefined ? timeout : AbortSignal.any([signal, timeout]);
}

const NETWORK: ReadonlySet<string> = new Set([...AZURE_NETWORK_ERROR_CODES, 'ENETUNREACH']);

interface Failure {
  status: number | undefined;
  /** The service's error code (x-ms-error-code), or a network code; '' when neither. */
  code: string;
  name: string;
  /** What a message may say about the failure: status and code, never the SDK's text. */
  label: string;
}

/** The SDK's RestError, read by shape (a second copy of core-rest-pipeline would defeat instanceof). */
function describeFailure(error: unknown): Failure {
  const read = (key: string): unknown => (error !== null && typeof error === 'object' && key in error ? (error as Record<string, unknown>)[key] : undefined);
  const status = read('statusCode');
  const details = read('details');
  const detailCode = details !== null && typeof details === 'object' && 'errorCode' in details ? details.errorCode : undefined;
  const rawCode = read('code') ?? detailCode; // HEAD answers have no body, only the x-ms-error-code header
  const name = read('name');
  const code = typeof rawCode === 'string' ? rawCode : '';
  const statusNumber = typeof status === 'number' ? status : undefined;
  const nameText = typeof name === 'string' ? name : 'Error';
  const label = [statusNumber, code].filter((part) => part !== undefined && part !== '').join(' ') || nameText;
  return { status: statusNumber, code, name: nameText, label };
}

export interface BlobErrorContext {
  /** What was being done, e.g. "take the rotation lock of secret db-app". */
  action: string;
  /** The caller's signal: a call it aborted fails with the caller's own reason when that is a RotatorError. */
  signal?: AbortSignal | undefined;
}

/** Any failure of a Blob Storage call as a RotatorError: STORE_IO, retryable when waiting may help. */
export function mapBlobError(error: unknown, ctx: BlobErrorContext): RotatorError {
  const early = mappedAlready(error, ctx);
  if (early !== undefined) return early;
  const { status, code, name, label } = describeFailure(error);
  if (NETWORK.has(code) || name === 'AbortError' || name === 'TimeoutError' || (status === undefined && code === '')) {
    return new RotatorError('STORE_IO', `could not ${ctx.action}: Azure Blob Storage did not answer in time (${label}); retry later`, { retryable: true, cause: error });
  }
  if (status === 401 || status === 403) {
    return new RotatorError(
      'STORE_IO',
      `could not ${ctx.action}: Azure Blob Storage refused it (${label}); the identity needs Storage Blob Data Contributor on the lock container`,
      { cause: error },
    );
  }
  if (status !== undefined && (status >= 500 || status === 408 || status === 429 || code === 'ContainerBeingDeleted')) {
    return new RotatorError('STORE_IO', `could not ${ctx.action}: Azure Blob Storage is unavailable (${label}); retry later`, { retryable: true, cause: error });
  }
  return new RotatorError('STORE_IO', `could not ${ctx.action}: Azure Blob Storage answered ${label}`, { cause: error });
}
