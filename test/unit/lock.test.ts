import { createHash } from 'node:crypto';
import { existsSync, readFileSync, readdirSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { isProcessAlive, readLockHolder, tryLock, waitForLock, type LockAttempt, type LockHolder } from '../../stores/file/lock.js';
import { deadPid, makeTempDir } from '../fixtures/file-store-helpers.js';

let dir: string;
let lockPath: string;
let cleanup: () => void;
beforeEach(() => {
  ({ dir, cleanup } = makeTempDir('rotator-lock-'));
  lockPath = join(dir, 'thing.lock');
});
afterEach(() => cleanup());

function acquired(attempt: LockAttempt): Extract<LockAttempt, { acquired: true }> {
  if (!attempt.acquired) throw new Error(`expected to acquire ${lockPath}`);
  return attempt;
}

function writeHolder(path: string, holder: Partial<LockHolder>): string {
  const content = JSON.stringify({ pid: 1, hostname: hostname(), createdAt: new Date().toISOString(), nonce: 'stale-nonce', ...holder });
  writeFileSync(path, content);
  return content;
}

describe('isProcessAlive', () => {
  it('is true for this process and false for one that has exited', () => {
    expect(isProcessAlive(process.pid)).toBe(true);
    expect(isProcessAlive(deadPid())).toBe(false);
  });
});

describe('tryLock', () => {
  it('creates the lock file with our pid, host and a nonce, and refuses a second holder', async () => {
    const first = acquired(await tryLock(lockPath));
    const content = JSON.parse(readFileSync(lockPath, 'utf8')) as LockHolder;
    expect(content).toEqual(first.lock.holder);
    expect(content.pid).toBe(process.pid);
    expect(content.hostname).toBe(hostname());
    expect(content.nonce).toMatch(/^[0-9a-f]{32}$/);
    expect(Number.isNaN(Date.parse(content.createdAt))).toBe(false);

    const second = await tryLock(lockPath);
    expect(second.acquired).toBe(false);
    expect(second.acquired ? undefined : second.holder?.nonce).toBe(first.lock.holder.nonce);
    expect(await readLockHolder(lockPath)).toEqual(first.lock.holder);
  });

  it('release removes the file, is idempotent, and never removes a lock that is no longer ours', async () => {
    const { lock } = acquired(await tryLock(lockPath));
    await lock.release();
    expect(existsSync(lockPath)).toBe(false);
    await lock.release();
    await Promise.all([lock.release(), lock.release()]);

    const { lock: mine } = acquired(await tryLock(lockPath));
    // Someone else's lock now sits at the path (e.g. ours was broken while we were presumed dead).
    const theirs = writeHolder(lockPath, { pid: process.pid, nonce: 'someone-else' });
    await mine.release();
    expect(readFileSync(lockPath, 'utf8')).toBe(theirs);
  });

  it('breaks a lock whose holder on this host is dead', async () => {
    writeHolder(lockPath, { pid: deadPid() });
    const { lock } = acquired(await tryLock(lockPath));
    expect((await readLockHolder(lockPath))?.nonce).toBe(lock.holder.nonce);
    // No guard file is left behind.
    expect(readdirSync(dir)).toEqual(['thing.lock']);
  });

  it('never breaks a lock held by a live process or by another host', async () => {
    writeHolder(lockPath, { pid: process.pid, nonce: 'live' });
    expect((await tryLock(lockPath)).acquired).toBe(false);
    writeHolder(lockPath, { pid: deadPid(), hostname: `not-${hostname()}`, nonce: 'remote' });
    const attempt = await tryLock(lockPath);
    expect(attempt.acquired).toBe(false);
    expect(attempt.acquired ? undefined : attempt.holder?.nonce).toBe('remote');
  });

  it('treats an unreadable lock file as held while young and as abandoned once old', async () => {
    writeFileSync(lockPath, '');
    const young = await tryLock(lockPath, { unreadableStaleMs: 60_000 });
    expect(young.acquired).toBe(false);
    expect(young.acquired ? 'x' : young.holder).toBeUndefined();
    const old = new Date(Date.now() - 120_000);
    utimesSync(lockPath, old, old);
    expect((await tryLock(lockPath, { unreadableStaleMs: 60_000 })).acquired).toBe(true);
  });

  it('lets exactly one of many concurrent breakers take a stale lock', async () => {
    for (let round = 0; round < 10; round++) {
      const path = join(dir, `race-${round}.lock`);
      const stalePid = 999_999_999; // never a real pid; judged dead by the injected check below
      writeHolder(path, { pid: stalePid, nonce: `stale-${round}` });
      const attempts = await Promise.all(Array.from({ length: 16 }, () => tryLock(path, { isAlive: (pid) => pid !== stalePid })));
      const winners = attempts.filter((a) => a.acquired);
      expect(winners, `round ${round}`).toHaveLength(1);
      expect((await readLockHolder(path))?.nonce).toBe(winners[0]?.acquired === true ? winners[0].lock.holder.nonce : 'none');
    }
    // Only the ten locks remain: every guard file was cleaned up.
    expect(readdirSync(dir).filter((f) => f.includes('.break-'))).toEqual([]);
  });

  it('waits for a live breaker, and breaks the guard of a breaker that died holding it', async () => {
    writeHolder(lockPath, { pid: deadPid() });
    // White-box: the guard is named by a hash of the stale file's inode, mtime and content (see lock.ts).
    const stats = statSync(lockPath);
    const identity = createHash('sha256').update(`${stats.ino}:${stats.mtimeMs}:${readFileSync(lockPath, 'utf8')}`).digest('hex').slice(0, 32);
    const guardPath = `${lockPath}.break-${identity}`;

    // A live breaker holds the guard: we must not break the lock behind its back.
    writeHolder(guardPath, { pid: process.pid, nonce: 'live-breaker' });
    expect((await tryLock(lockPath)).acquired).toBe(false);
    expect(existsSync(lockPath)).toBe(true);

    // The breaker died inside its critical section: its guard is broken in turn, then the lock.
    writeHolder(guardPath, { pid: deadPid(), nonce: 'dead-breaker' });
    const { lock } = acquired(await tryLock(lockPath));
    expect((await readLockHolder(lockPath))?.nonce).toBe(lock.holder.nonce);
    expect(readdirSync(dir)).toEqual(['thing.lock']);
  });
});

describe('waitForLock', () => {
  it('waits for a holder to release', async () => {
    const { lock } = acquired(await tryLock(lockPath));
    setTimeout(() => void lock.release(), 80);
    const started = Date.now();
    const attempt = await waitForLock(lockPath, { timeoutMs: 5_000 });
    expect(attempt.acquired).toBe(true);
    expect(Date.now() - started).toBeGreaterThanOrEqual(60);
  });

  it('gives up after the timeout and reports the holder', async () => {
    const { lock } = acquired(await tryLock(lockPath));
    const started = Date.now();
    const attempt = await waitForLock(lockPath, { timeoutMs: 120, maxDelayMs: 20 });
    expect(attempt.acquired).toBe(false);
    expect(attempt.acquired ? undefined : attempt.holder?.nonce).toBe(lock.holder.nonce);
    expect(Date.now() - started).toBeGreaterThanOrEqual(110);
    expect(Date.now() - started).toBeLessThan(2_000);
  });
});
