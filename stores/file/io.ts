import { randomBytes } from 'node:crypto';
import { constants, type Stats } from 'node:fs';
import { lstat, mkdir, open, readdir, rename, unlink } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { RotatorError } from '../../shared/errors.js';

/** The errno code of a node fs error, if any. */
export function errnoCode(error: unknown): string | undefined {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === 'string' ? code : undefined;
}

export function ioError(action: string, path: string, error: unknown): RotatorError {
  const code = errnoCode(error) ?? (error instanceof Error ? error.message : 'error');
  // EAGAIN-like conditions go away on their own; permissions and missing directories do not.
  const retryable = ['EAGAIN', 'EBUSY', 'EMFILE', 'ENFILE', 'EINTR'].includes(code);
  return new RotatorError('STORE_IO', `cannot ${action} ${path}: ${code}`, { retryable, cause: error });
}

/**
 * Opening for reading without blocking: a FIFO would otherwise wait for a writer forever. Callers fstat the
 * descriptor before reading, so only a regular file is ever read. Windows has no O_NONBLOCK (nor FIFOs).
 */
export const OPEN_NONBLOCKING = constants.O_RDONLY | ((constants.O_NONBLOCK as number | undefined) ?? 0);

/** What a file that is not a regular one is, for messages. */
export function fileKind(stats: Stats): string {
  if (stats.isDirectory()) return 'a directory';
  if (stats.isFIFO()) return 'a FIFO';
  if (stats.isCharacterDevice() || stats.isBlockDevice()) return 'a device';
  if (stats.isSocket()) return 'a socket';
  return 'a special file';
}

/** The file's text, or undefined when it does not exist; STORE_IO when it is not a regular file. */
export async function readIfExists(path: string): Promise<string | undefined> {
  let handle;
  try {
    handle = await open(path, OPEN_NONBLOCKING);
  } catch (error) {
    if (errnoCode(error) === 'ENOENT') return undefined;
    throw ioError('read', path, error);
  }
  try {
    const stats = await handle.stat();
    if (!stats.isFile()) throw new RotatorError('STORE_IO', `cannot read ${path}: it is ${fileKind(stats)}, not a regular file; point ROTATOR_STORE at the store file`);
    return await handle.readFile('utf8');
  } catch (error) {
    if (error instanceof RotatorError) throw error;
    throw ioError('read', path, error);
  } finally {
    await handle.close().catch(() => undefined);
  }
}

/** Creates the directory (owner-only, like ~/.ssh) if it is missing. */
export async function ensureDir(dir: string): Promise<void> {
  try {
    await mkdir(dir, { recursive: true, mode: 0o700 });
  } catch (error) {
    throw ioError('create the directory', dir, error);
  }
}

/**
 * Makes a rename or a new directory entry durable. Windows cannot open a directory for fsync and does not
 * need it; some network filesystems refuse too. Neither is a reason to fail a write that already happened.
 */
export async function fsyncDir(dir: string): Promise<void> {
  let handle;
  try {
    handle = await open(dir, 'r');
    await handle.sync();
  } catch (error) {
    if (!['EISDIR', 'EPERM', 'EINVAL', 'EACCES', 'ENOTSUP'].includes(errnoCode(error) ?? '')) throw ioError('sync the directory', dir, error);
  } finally {
    await handle?.close().catch(() => undefined);
  }
}

/**
 * Replaces `path` with `data` so that a reader (or a crash) sees either the old file or the new one, never a
 * mix: write a temporary file in the same directory (so the rename stays on one filesystem), fsync it,
 * rename it over the target, fsync the directory. The file is created owner-only (0600).
 *
 * The temporary file is `.<name>.<pid>.<nonce>.tmp` (see removeAbandonedTemps), or `fixedTemp` when the caller
 * holds a lock that makes that name its own: whatever is found there was left by a writer that died holding the
 * lock before its rename, and is removed first.
 */
export async function writeFileAtomic(path: string, data: string, fixedTemp?: string): Promise<void> {
  const dir = dirname(path);
  const temp = fixedTemp ?? join(dir, tempName(path, process.pid, randomBytes(TEMP_NONCE_BYTES).toString('hex')));
  if (fixedTemp !== undefined) await removeIfExists(fixedTemp);
  let handle;
  try {
    handle = await open(temp, 'wx', 0o600);
    await handle.writeFile(data, 'utf8');
    await handle.sync();
    await handle.close();
    handle = undefined;
    await rename(temp, path);
  } catch (error) {
    await handle?.close().catch(() => undefined);
    await unlink(temp).catch(() => undefined);
    throw ioError('write', path, error);
  }
  await fsyncDir(dir);
}

const TEMP_NONCE_BYTES = 6;

/** The temporary file writeFileAtomic writes before its rename: `.<name>.<pid>.<12 hex>.tmp`, next to `path`. */
export function tempName(path: string, pid: number, nonce: string): string {
  return `.${basename(path)}.${pid}.${nonce}.tmp`;
}

/** No write of ours takes this long: a temp file older than this is abandoned even if its pid looks alive (reused). */
export const ABANDONED_TEMP_MS = 10 * 60_000;

export interface AbandonedTempOptions {
  /** Whether the pid that wrote a temp file (on this host) is alive. */
  isAlive: (pid: number) => boolean;
  maxAgeMs?: number;
}

/**
 * Removes the temp files a writer of `path` left when it was killed between its write and its rename: those named
 * by our own pattern (nothing else in the directory is touched) whose writer is dead, or that are older than any
 * write takes. Call it holding the store lock, so no live writer is between its write and its rename. Returns the
 * names removed. A failure to remove one is not a reason to fail the write: it is tried again next time.
 */
export async function removeAbandonedTemps(path: string, options: AbandonedTempOptions): Promise<string[]> {
  const dir = dirname(path);
  const escaped = basename(path).replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  const pattern = new RegExp(`^\\.${escaped}\\.(\\d{1,10})\\.[0-9a-f]{${TEMP_NONCE_BYTES * 2}}\\.tmp$`);
  let names: string[];
  try {
    names = await readdir(dir);
  } catch {
    return [];
  }
  const removed: string[] = [];
  for (const name of names) {
    const match = pattern.exec(name);
    if (match === null) continue;
    const file = join(dir, name);
    try {
      const stats = await lstat(file);
      if (!stats.isFile()) continue;
      const old = Date.now() - stats.mtimeMs > (options.maxAgeMs ?? ABANDONED_TEMP_MS);
      if (!old && options.isAlive(Number(match[1]))) continue;
      await unlink(file);
      removed.push(name);
    } catch {
      // gone already, or not ours to remove: the next write tries again
    }
  }
  return removed;
}

/** Deletes a file; one that is already gone is fine. STORE_IO otherwise. */
export async function removeIfExists(path: string): Promise<void> {
  try {
    await unlink(path);
  } catch (error) {
    if (errnoCode(error) !== 'ENOENT') throw ioError('remove', path, error);
  }
}

/** The names in a directory; none when it does not exist. STORE_IO otherwise (including a file in its place). */
export async function listNames(dir: string): Promise<string[]> {
  try {
    return await readdir(dir);
  } catch (error) {
    if (errnoCode(error) === 'ENOENT') return [];
    throw ioError('list', dir, error);
  }
}
