import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { tryLock } from '../../stores/file/lock.js';
import { makeTempDir } from '../fixtures/file-store-helpers.js';

/** Paths whose unlink fails with EIO (a disk or permission fault the test cannot cause for real as root). */
const failing = vi.hoisted(() => new Set<string>());
vi.mock('node:fs/promises', async (importOriginal) => {
  const actual = await importOriginal<typeof import('node:fs/promises')>();
  return {
    ...actual,
    unlink: (path: string) => (failing.has(path) ? Promise.reject(Object.assign(new Error('EIO: i/o error, unlink'), { code: 'EIO' })) : actual.unlink(path)),
  };
});

let dir: string;
let cleanup: () => void;
beforeEach(() => {
  ({ dir, cleanup } = makeTempDir('rotator-lock-release-'));
});
afterEach(() => {
  failing.clear();
  cleanup();
});

describe('a lock whose release failed', () => {
  it('is taken over by the next taker in the same process (its holder let go of it), and stays exclusive while held', async () => {
    const path = join(dir, 'secret.lock');
    const first = await tryLock(path);
    if (!first.acquired) throw new Error('expected the first lock');
    expect((await tryLock(path)).acquired).toBe(false); // held: another lock object in this process is refused

    failing.add(path);
    await expect(first.lock.release()).rejects.toMatchObject({ code: 'STORE_IO' });
    failing.delete(path);

    const next = await tryLock(path);
    expect(next.acquired).toBe(true);
    if (!next.acquired) return;
    expect(next.lock.holder.nonce).not.toBe(first.lock.holder.nonce);
    expect((await tryLock(path)).acquired).toBe(false); // the new holder is live
    await first.lock.release(); // the old lease's late retry leaves the new holder's file alone
    expect((await tryLock(path)).acquired).toBe(false);
    await next.lock.release();
    expect((await tryLock(path)).acquired).toBe(true);
  });
});
