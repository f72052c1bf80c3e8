import { createHash, randomBytes } from 'node:crypto';
import { open, unlink } from 'node:fs/promises';
import { hostname } from 'node:os';
import { setTimeout as sleep } from 'node:timers/promises';
import * as z from 'zod';
import type { Lease } from '../../shared/store.js';
import { errnoCode, ioError } from './io.js';

/**
 * Exclusive lock files, for processes on one host (a laptop, a cron box) sharing a store file.
 *
 * Taking a lock is `open(path, 'wx')`: O_CREAT|O_EXCL is atomic, so exactly one process creates the file.
 * The file holds `{pid, hostname, createdAt, nonce}`; the nonce is what makes a lock ours, so `release()`
 * deletes the file only while it still holds our nonce.
 *
 * A lock whose holder died (SIGKILL, power loss) stays behind. It is stale when its hostname is ours and
 * `process.kill(pid, 0)` says ESRCH, or when it is still unreadable (its writer died between create and
 * write) after `unreadableStaleMs`. Locks from another host are never judged stale: we cannot see its pids.
 *
 * Breaking a stale lock safely: two processes that both saw the stale lock must not both delete "it", or
 * the slower one deletes the fresh lock the faster one just took and both end up holding it. So breakers
 * serialize on a guard file named after the exact stale file they saw (hash of inode, mtime and content),
 * created with O_EXCL too. Holding the guard, a breaker re-reads the lock and deletes it only if it is still
 * that same stale file; then it races for the lock like anyone else. Only a guard holder deletes a lock
 * that is not its own, and a lock's content (its nonce) never repeats, so a late breaker finds a different
 * file and leaves it alone. A guard whose own holder died is broken the same way, one level up.
 *
 * A lock whose release failed (an I/O error removing it) is stale too once its holder is gone; within the holder's
 * own process (a long-lived one) it counts as abandoned at once, so the next run there takes it over instead of
 * waiting for a process that will never let go.
 *
 * Known limits, shared with every pid-file scheme: a dead holder's pid reused by an unrelated process keeps
 * its lock looking alive (the error names the file to delete), and locks do not work across hosts sharing a
 * network filesystem.
 */
export interface LockHolder {
  pid: number;
  hostname: string;
  createdAt: string;
  nonce: string;
}

export interface LockOptions {
  /** How old an unreadable (empty or partial) lock file must be before it counts as abandoned. */
  unreadableStaleMs?: number;
  /** Whether a pid on this host is alive; tests inject their own. */
  isAlive?: (pid: number) => boolean;
  clock?: () => Date;
}

export interface WaitOptions extends LockOptions {
  /** Give up after this long. */
  timeoutMs: number;
  /** First pause between attempts; doubles (with jitter) up to maxDelayMs. */
  minDelayMs?: number;
  maxDelayMs?: number;
}

export type LockAttempt = { acquired: true; lock: FileLock } | { acquired: false; holder: LockHolder | undefined };

export const DEFAULT_UNREADABLE_STALE_MS = 2_000;
// Breaking a stale guard is the rare case of a breaker dying inside its few-millisecond critical section;
// breaking a stale guard's guard would need two such deaths in a row. Deeper than that, a person decides.
const MAX_BREAK_DEPTH = 2;
const MAX_ATTEMPTS = 12;
const BUSY_PAUSE_MS = 5;

/** Nonces of this process's locks whose release failed: nobody holds them any more. */
const abandonedNonces = new Set<string>();

const holderSchema = z.object({
  pid: z.number().int().positive(),
  hostname: z.string(),
  createdAt: z.string(),
  nonce: z.string().min(1),
});

/** `process.kill(pid, 0)` sends nothing; it only asks. EPERM means the process exists under another user. */
export function isProcessAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return errnoCode(error) !== 'ESRCH';
  }
}

export class FileLock implements Lease {
  readonly path: string;
  readonly holder: LockHolder;
  #releasing: Promise<void> | undefined;

  constructor(path: string, holder: LockHolder) {
    this.path = path;
    this.holder = holder;
  }

  /** Deletes the lock file if it is still ours. Idempotent; concurrent calls share one attempt. */
  release(): Promise<void> {
    this.#releasing ??= this.#release().catch((error: unknown) => {
      this.#releasing = undefined; // let a later call retry after an I/O error
      abandonedNonces.add(this.holder.nonce); // meanwhile the next taker in this process may break it
      throw error;
    });
    return this.#releasing;
  }

  async #release(): Promise<void> {
    abandonedNonces.delete(this.holder.nonce);
    const current = await observe(this.path);
    // Safe to delete between the read and the unlink: only a guard-holding breaker deletes another's lock,
    // and it does so only when the holder is dead, which we are not.
    if (current?.holder?.nonce === this.holder.nonce) await removeFile(this.path);
  }
}

/** One attempt (breaking a stale lock on the way); never waits for a live holder. */
export async function tryLock(path: string, options: LockOptions = {}): Promise<LockAttempt> {
  let holder: LockHolder | undefined;
  for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
    const me = newHolder(options);
    if (await createExclusive(path, JSON.stringify(me))) return { acquired: true, lock: new FileLock(path, me) };
    const observed = await observe(path);
    if (observed === undefined) continue; // released between our create and our read
    holder = observed.holder;
    if (!isStale(observed, options)) return { acquired: false, holder };
    const outcome = await breakStale(path, observed, 0, options);
    if (outcome === 'busy') await sleep(BUSY_PAUSE_MS); // another breaker is at it; it will be done shortly
  }
  return { acquired: false, holder };
}

/** Retries `tryLock` with jittered exponential backoff until acquired or `timeoutMs` has passed. */
export async function waitForLock(path: string, options: WaitOptions): Promise<LockAttempt> {
  const deadline = Date.now() + options.timeoutMs;
  let delay = options.minDelayMs ?? 2;
  const maxDelay = options.maxDelayMs ?? 50;
  for (;;) {
    const attempt = await tryLock(path, options);
    const left = deadline - Date.now();
    if (attempt.acquired || left <= 0) return attempt;
    // Jitter keeps waiters that started together from retrying in lockstep.
    await sleep(Math.min(left, delay * (0.5 + Math.random())));
    delay = Math.min(delay * 2, maxDelay);
  }
}

/** The holder recorded in a lock file, if the file exists and is readable. */
export async function readLockHolder(path: string): Promise<LockHolder | undefined> {
  return (await observe(path))?.holder;
}

interface Observed {
  content: string;
  ino: number;
  mtimeMs: number;
  holder: LockHolder | undefined;
}

function newHolder(options: LockOptions): LockHolder {
  const now = options.clock?.() ?? new Date();
  return { pid: process.pid, hostname: hostname(), createdAt: now.toISOString(), nonce: randomBytes(16).toString('hex') };
}

function parseHolder(content: string): LockHolder | undefined {
  try {
    const result = holderSchema.safeParse(JSON.parse(content));
    return result.success ? result.data : undefined;
  } catch {
    return undefined;
  }
}

async function createExclusive(path: string, content: string): Promise<boolean> {
  let handle;
  try {
    handle = await open(path, 'wx', 0o600);
  } catch (error) {
    if (errnoCode(error) === 'EEXIST') return false;
    throw ioError('create the lock file', path, error);
  }
  try {
    await handle.writeFile(content, 'utf8');
    await handle.close();
  } catch (error) {
    await handle.close().catch(() => undefined);
    await removeFile(path).catch(() => undefined);
    throw ioError('write the lock file', path, error);
  }
  return true;
}

/** Content, inode and mtime read through one file descriptor, so they describe the same file. */
async function observe(path: string): Promise<Observed | undefined> {
  let handle;
  try {
    handle = await open(path, 'r');
  } catch (error) {
    if (errnoCode(error) === 'ENOENT') return undefined;
    throw ioError('read the lock file', path, error);
  }
  try {
    const stats = await handle.stat();
    const content = await handle.readFile('utf8');
    return { content, ino: stats.ino, mtimeMs: stats.mtimeMs, holder: parseHolder(content) };
  } catch (error) {
    throw ioError('read the lock file', path, error);
  } finally {
    await handle.close().catch(() => undefined);
  }
}

async function removeFile(path: string): Promise<void> {
  try {
    await unlink(path);
  } catch (error) {
    if (errnoCode(error) !== 'ENOENT') throw ioError('remove the lock file', path, error);
  }
}

function sameFile(a: Observed, b: Observed): boolean {
  return a.ino === b.ino && a.mtimeMs === b.mtimeMs && a.content === b.content;
}

function isStale(observed: Observed, options: LockOptions): boolean {
  const { holder } = observed;
  if (holder === undefined) return Date.now() - observed.mtimeMs > (options.unreadableStaleMs ?? DEFAULT_UNREADABLE_STALE_MS);
  if (holder.hostname !== hostname()) return false;
  // Another lock object in this very process: alive, unless its release failed (then nobody holds it).
  if (holder.pid === process.pid) return abandonedNonces.has(holder.nonce);
  return !(options.isAlive ?? isProcessAlive)(holder.pid);
}

/**
 * Deletes `path` if it is still the stale file `observed`, holding the guard for that file while checking.
 * 'broken': we deleted it (or found it already replaced); 'busy': another breaker holds the guard.
 */
async function breakStale(path: string, observed: Observed, depth: number, options: LockOptions): Promise<'broken' | 'busy'> {
  const identity = createHash('sha256').update(`${observed.ino}:${observed.mtimeMs}:${observed.content}`).digest('hex').slice(0, 32);
  const guardPath = `${path}.break-${identity}`;
  if (!(await createExclusive(guardPath, JSON.stringify(newHolder(options))))) {
    const guard = await observe(guardPath);
    if (guard !== undefined && depth < MAX_BREAK_DEPTH && isStale(guard, options)) await breakStale(guardPath, guard, depth + 1, options);
    return 'busy';
  }
  try {
    const current = await observe(path);
    if (current !== undefined && sameFile(current, observed)) await removeFile(path);
    return 'broken';
  } finally {
    await removeFile(guardPath);
  }
}
