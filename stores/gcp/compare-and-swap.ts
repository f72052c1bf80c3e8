import { RotatorError } from '../../shared/errors.js';
import { annotationRecord } from './annotations.js';
import { causeStatus } from './errors.js';
import { aliasesOf, type Secret, type SecretManagerCalls } from './secret-manager-calls.js';

/** What a bookkeeping write may change on the main secret: its annotations and its version aliases. */
export interface Bookkeeping {
  annotations: Record<string, string>;
  aliases: Record<string, number>;
}

/**
 * Computes the next bookkeeping from the secret as just read (a copy the function may change and return), or
 * undefined when there is nothing to write. It may throw a RotatorError to refuse; it runs again on every attempt.
 */
export type BookkeepingChange = (next: Bookkeeping, secret: Secret) => Bookkeeping | undefined;

export interface CompareAndSwapOptions {
  signal?: AbortSignal | undefined;
  /**
   * The secret as the caller has just read it: the first attempt starts from it instead of reading it again. Safe
   * whatever happened since, because the write carries its etag: if the secret changed, the write is refused and the
   * next attempt reads it afresh.
   */
  read?: Secret;
  /** Attempts in all, each a fresh read (default 5). */
  attempts?: number;
}

export interface CompareAndSwapResult {
  /** The secret after the write (or as read, when nothing was written). */
  secret: Secret;
  written: boolean;
}

const DEFAULT_ATTEMPTS = 5;

/**
 * One compare-and-swap of the main secret's bookkeeping: read it, apply `change`, and write the annotations and
 * aliases that differ with the etag just read, so the write lands only if nobody wrote the secret in between. Every
 * UpdateSecret changes the etag, so of two racing writers exactly one wins; the other gets FAILED_PRECONDITION, reads
 * again and re-applies its change to what the winner left (a few times, after a short random pause, then it gives up
 * with a retryable STORE_IO).
 */
export async function compareAndSwap(calls: SecretManagerCalls, secretId: string, change: BookkeepingChange, options: CompareAndSwapOptions = {}): Promise<CompareAndSwapResult> {
  const attempts = options.attempts ?? DEFAULT_ATTEMPTS;
  for (let attempt = 1; ; attempt++) {
    const secret = attempt === 1 && options.read !== undefined ? options.read : await calls.getSecret(secretId, options.signal);
    const before = bookkeepingOf(secret);
    const next = change({ annotations: annotationRecord(Object.entries(before.annotations)), aliases: { ...before.aliases } }, secret);
    if (next === undefined) return { secret, written: false };
    const paths: string[] = [];
    if (!sameRecord(before.annotations, next.annotations)) paths.push('annotations');
    if (!sameRecord(before.aliases, next.aliases)) paths.push('version_aliases');
    if (paths.length === 0) return { secret, written: false };
    try {
      const written = await calls.updateSecret(
        secretId,
        { etag: secret.etag ?? '', ...(paths.includes('annotations') ? { annotations: next.annotations } : {}), ...(paths.includes('version_aliases') ? { versionAliases: next.aliases } : {}) },
        paths,
        options.signal,
      );
      return { secret: written, written: true };
    } catch (error) {
      if (!isLostRace(error)) throw error;
      if (attempt >= attempts) {
        throw new RotatorError('STORE_IO', `secret ${secretId} kept changing while Rotator updated its bookkeeping (${attempts} attempts lost to other writers); retry later`, {
          retryable: true,
          cause: error,
        });
      }
      await pause(Math.random() * 100 * attempt, options.signal);
    }
  }
}

/** The annotations and aliases of a secret as read. */
export function bookkeepingOf(secret: Secret): Bookkeeping {
  return { annotations: annotationRecord(Object.entries(secret.annotations ?? {})), aliases: aliasesOf(secret) };
}

/** An UpdateSecret refused because the etag no longer matched: someone else wrote the secret first. */
function isLostRace(error: unknown): boolean {
  return causeStatus(error) === 'FAILED_PRECONDITION';
}

function sameRecord(a: Readonly<Record<string, unknown>>, b: Readonly<Record<string, unknown>>): boolean {
  const keys = Object.keys(a);
  return keys.length === Object.keys(b).length && keys.every((k) => Object.hasOwn(b, k) && a[k] === b[k]);
}

function pause(ms: number, signal: AbortSignal | undefined): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted === true) {
      reject(signal.reason as Error);
      return;
    }
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    const onAbort = (): void => {
      clearTimeout(timer);
      reject(signal?.reason as Error);
    };
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}
