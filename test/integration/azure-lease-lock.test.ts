import { setTimeout as sleep } from 'node:timers/promises';
import { BlobServiceClient, StorageSharedKeyCredential } from '@azure/storage-blob';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RotatorError, isRotatorError } from '../../shared/errors.js';
import { createLogger } from '../../shared/logger.js';
import { createBlobLeaseLock, leaseBlobName, type BlobLeaseLockOptions, type LeaseTimers } from '../../stores/azure/index.js';
import { azuriteContainerClient, startAzurite, startFaultyProxy, type Azurite } from '../support/azurite.js';
import { freePort } from '../support/postgres-cluster.js';
import { expectLockExclusion } from '../support/store-contract.js';
import { rejection } from '../support/unreachable.js';
import { spawnFixture, type FixtureProcess } from '../fixtures/file-store-helpers.js';

/**
 * The Azure rotation lock (a blob lease) against Azurite, Microsoft's storage emulator, through the real
 * @azure/storage-blob client. Leases are 15 s, the service's minimum; the tests that must wait for one to run out
 * (renewal past the duration, a dead holder, a failed release) run concurrently, so the file waits about 20 s once.
 */
const LEASE_S = 15;
let azurite: Azurite;
const children: FixtureProcess[] = [];

beforeAll(async () => {
  azurite = await startAzurite();
});
afterAll(async () => {
  for (const child of children) if (child.child.exitCode === null && child.child.signalCode === null) child.child.kill('SIGKILL');
  await azurite.stop();
});

let containers = 0;
/** A container no test has used: each test starts with no container and no blob. */
function freshContainer(): string {
  containers += 1;
  return `locks-${containers}`;
}

/** A lock as a separate process would have it: its own client, its own lease ids. */
function lockOn(container: string, options: Partial<BlobLeaseLockOptions> = {}): ReturnType<typeof createBlobLeaseLock> {
  return createBlobLeaseLock({ container: azurite.containerClient(container), durationSeconds: LEASE_S, ...options });
}

/** The lock blob's lease as the service reports it. */
async function leaseOf(container: string, secretId: string): Promise<{ state: string | undefined; status: string | undefined }> {
  const props = await azurite.containerClient(container).getBlockBlobClient(leaseBlobName(secretId)).getProperties();
  return { state: props.leaseState, status: props.leaseStatus };
}

/** Timers a test fires by hand: what the lease schedules, with what delay, and whether it unref'd the handle. */
function manualTimers(): { timers: LeaseTimers; pending: () => { ms: number; unrefd: boolean }[]; fire: () => void } {
  const pending = new Map<number, { callback: () => void; ms: number; unrefd: boolean }>();
  let ids = 0;
  return {
    timers: {
      setTimeout(callback, ms) {
        ids += 1;
        const entry = { callback, ms, unrefd: false };
        pending.set(ids, entry);
        return { id: ids, unref: () => (entry.unrefd = true) };
      },
      clearTimeout(handle) {
        pending.delete((handle as { id: number }).id);
      },
    },
    pending: () => [...pending.values()].map(({ ms, unrefd }) => ({ ms, unrefd })),
    fire() {
      expect(pending.size).toBe(1);
      const [id, entry] = [...pending.entries()][0] ?? [];
      if (id === undefined || entry === undefined) return;
      pending.delete(id);
      entry.callback();
    },
  };
}

/** Tries `lock` every 250 ms until it is granted; returns how long that took. */
async function waitForLock(lock: () => Promise<{ release(): Promise<void> }>, withinMs: number): Promise<number> {
  const started = Date.now();
  for (;;) {
    try {
      const lease = await lock();
      await lease.release();
      return Date.now() - started;
    } catch (error) {
      if (!isRotatorError(error, 'ROTATION_IN_PROGRESS')) throw error;
      if (Date.now() - started > withinMs) throw new Error(`the lock was not freed within ${withinMs} ms`);
      await sleep(250);
    }
  }
}

function holder(container: string, secretId: string, mode: 'hold' | 'return'): FixtureProcess {
  const child = spawnFixture('azure-lease-holder.ts', [azurite.blobEndpoint, container, secretId, mode]);
  children.push(child);
  return child;
}

describe('the lock blob name', () => {
  it('folds case, escapes everything but a-z 0-9 -, and never collides or makes a path', () => {
    expect(leaseBlobName('db-app')).toBe('db-app');
    expect(leaseBlobName('DB-App')).toBe('db-app'); // Key Vault names are case-insensitive: one secret, one lock
    expect(leaseBlobName('a/../b')).toBe('a_2f_2e_2e_2fb');
    expect(leaseBlobName('..')).not.toMatch(/[./]/);
    expect(leaseBlobName('a_2f')).not.toBe(leaseBlobName('a/')); // "_" is escaped too
    expect(leaseBlobName('\u00e9')).toBe('_c3_a9'); // not a secret id, but still one fixed-width escape per byte
    const arn = `arn:aws:secretsmanager:eu-west-1:123456789012:secret:${'x/'.repeat(990)}`;
    const long = leaseBlobName(arn);
    expect(long.length).toBeLessThanOrEqual(1024);
    expect(long).toContain('~');
    expect(leaseBlobName(`${arn}y`)).not.toBe(long);
  });

  it('refuses an invalid secret id, or lease settings Azure would refuse, before any storage call', async () => {
    const lock = createBlobLeaseLock({ container: azuriteContainerClient('http://127.0.0.1:9/devstoreaccount1', 'never') });
    expect((await rejection(() => lock.lock('db\r\napp'))).code).toBe('INVALID_INPUT');
    for (const durationSeconds of [14, 61, -1, 20.5]) {
      expect(() => lockOn('never', { durationSeconds })).toThrow(RotatorError);
    }
    expect(() => lockOn('never', { renewEverySeconds: LEASE_S })).toThrow(/renew more often/);
  });
});

describe('exclusion', () => {
  it('keeps the store contract on the bare lock: a second lock is refused while held, granted after release', async () => {
    const lock = lockOn(freshContainer());
    await expectLockExclusion((id) => lock.lock(id), 'contract-app');
  });

  it('refuses a second process while one holds the lock, lets other secrets through, and hands it over on release', async () => {
    const container = freshContainer();
    const a = lockOn(container);
    const b = lockOn(container);
    const held = await a.lock('db-app');
    const refused = await rejection(() => b.lock('db-app'));
    expect(refused.code).toBe('ROTATION_IN_PROGRESS');
    expect(refused.retryable).toBe(true);
    expect(refused.message).toContain('secret db-app');
    expect(refused.message).toContain(`within ${LEASE_S} s`);
    expect((await rejection(() => a.lock('DB-APP'))).code).toBe('ROTATION_IN_PROGRESS'); // same secret, same process
    expect(await leaseOf(container, 'db-app')).toEqual({ state: 'leased', status: 'locked' });

    const other = await b.lock('db-other');
    await other.release();

    await held.release();
    expect(await leaseOf(container, 'db-app')).toEqual({ state: 'available', status: 'unlocked' });
    const next = await b.lock('db-app');
    await next.release();
  });

  it('lets exactly one of many concurrent takers win on a secret with no container and no blob yet', async () => {
    for (let round = 0; round < 3; round++) {
      const container = freshContainer();
      const locks = Array.from({ length: 8 }, () => lockOn(container));
      const results = await Promise.allSettled(locks.map((lock) => lock.lock('db-race')));
      const won = results.filter((r) => r.status === 'fulfilled');
      expect(won).toHaveLength(1);
      for (const r of results) {
        if (r.status === 'rejected') expect(isRotatorError(r.reason, 'ROTATION_IN_PROGRESS'), String(r.reason)).toBe(true);
      }
      for (const r of won) await r.value.release();
    }
  });
});

describe('renewal and loss (driven by hand, no waiting)', () => {
  it('renews on an unref\'d timer every renewEverySeconds, and stops on release', async () => {
    const container = freshContainer();
    const t = manualTimers();
    const lock = lockOn(container, { renewEverySeconds: 5, timers: t.timers });
    const lease = await lock.lock('db-app');
    expect(t.pending()).toEqual([{ ms: 5_000, unrefd: true }]);
    t.fire(); // the renewal runs, then schedules the next one
    await expect.poll(() => t.pending()).toEqual([{ ms: 5_000, unrefd: true }]);
    lease.assertHeld();
    expect(lease.signal.aborted).toBe(false);
    expect(await leaseOf(container, 'db-app')).toEqual({ state: 'leased', status: 'locked' });
    await lease.release();
    expect(t.pending()).toEqual([]);
    expect(() => lease.assertHeld()).toThrow(/already released/);
    await lease.release(); // idempotent
    expect(await leaseOf(container, 'db-app')).toEqual({ state: 'available', status: 'unlocked' });
  });

  it('is lost when the service refuses a renewal: the signal aborts, assertHeld throws, and release frees nothing of another\'s', async () => {
    const container = freshContainer();
    const lines: string[] = [];
    const logger = createLogger({ level: 'warn', write: (line) => lines.push(line) });
    const t = manualTimers();
    const lease = await lockOn(container, { timers: t.timers, logger }).lock('db-app');
    // Someone breaks the lease (as a person might from the portal) and another process takes the lock.
    await azurite.containerClient(container).getBlockBlobClient(leaseBlobName('db-app')).getBlobLeaseClient().breakLease(0);
    const other = await lockOn(container).lock('db-app');

    t.fire();
    await expect.poll(() => lease.signal.aborted).toBe(true);
    const reason = lease.signal.reason as RotatorError;
    expect(isRotatorError(reason, 'ROTATION_IN_PROGRESS') && reason.retryable).toBe(true);
    expect(reason.message).toMatch(/rotation lock of secret db-app was lost: the storage service refused to renew it \(409 Lease/);
    expect(() => lease.assertHeld()).toThrow(reason);
    await expect(lease.renew()).rejects.toBe(reason);
    expect(t.pending()).toEqual([]); // no more renewals
    expect(lines.some((line) => line.includes('lost the rotation lock'))).toBe(true);

    await lease.release(); // resolves: the lease is not ours to free
    expect((await rejection(() => lockOn(container).lock('db-app'))).code).toBe('ROTATION_IN_PROGRESS');
    await other.release();
  });

  it('is lost when its own clock says it lapsed unrenewed (a paused process), before any renewal is tried', async () => {
    let now = Date.now();
    const t = manualTimers();
    const lease = await lockOn(freshContainer(), { clock: () => now, timers: t.timers }).lock('db-app');
    now += LEASE_S * 1000 - 1;
    lease.assertHeld();
    now += 1;
    expect(() => lease.assertHeld()).toThrow(/was lost: it lapsed before it could be renewed/);
    expect(lease.signal.aborted).toBe(true);
    expect(t.pending()).toEqual([]);
    await lease.release();
  });

  it('keeps the lease through a failed renewal while time is left, retries sooner, and loses it once it lapses', async () => {
    const proxy = await startFaultyProxy(azurite.port);
    try {
      let now = Date.now();
      const t = manualTimers();
      const container = freshContainer();
      const lock = createBlobLeaseLock({
        container: azuriteContainerClient(`http://127.0.0.1:${proxy.port}/devstoreaccount1`, container),
        durationSeconds: LEASE_S,
        renewEverySeconds: 5,
        clock: () => now,
        timers: t.timers,
      });
      const lease = await lock.lock('db-app');
      proxy.setMode('reset');
      now += 8_000;
      const failed = await rejection(() => lease.renew());
      expect(failed).toMatchObject({ code: 'STORE_IO', retryable: true });
      lease.assertHeld(); // 7 s left: still ours
      t.fire();
      await expect.poll(() => t.pending()).toHaveLength(1);
      const retryIn = t.pending()[0]?.ms ?? Infinity;
      expect(retryIn).toBeLessThan(5_000); // sooner than the regular period after a failure
      expect(retryIn).toBeGreaterThanOrEqual(1_000); // but no busy loop

      proxy.setMode('forward');
      await lease.renew(); // storage is back: renewed, counted from now
      now += LEASE_S * 1000 - 1;
      lease.assertHeld();

      proxy.setMode('reset');
      now += 2;
      await expect(lease.renew()).rejects.toThrow(/lapsed before it could be renewed/);
      expect(lease.signal.aborted).toBe(true);
      proxy.setMode('forward');
      await lease.release();
    } finally {
      await proxy.close();
    }
  });

  it('a failed release is a retryable error that says the lock frees itself, and a later release() retries', async () => {
    const proxy = await startFaultyProxy(azurite.port);
    try {
      const container = freshContainer();
      const lease = await createBlobLeaseLock({
        container: azuriteContainerClient(`http://127.0.0.1:${proxy.port}/devstoreaccount1`, container),
        durationSeconds: LEASE_S,
      }).lock('db-app');
      proxy.setMode('reset');
      const failed = await rejection(() => lease.release());
      expect(failed).toMatchObject({ code: 'STORE_IO', retryable: true });
      expect(failed.message).toContain(`frees itself within ${LEASE_S} s`);
      expect((await rejection(() => lockOn(container).lock('db-app'))).code).toBe('ROTATION_IN_PROGRESS');
      proxy.setMode('forward');
      await lease.release();
      await (await lockOn(container).lock('db-app')).release();
    } finally {
      await proxy.close();
    }
  });

  it('does not keep a finished process alive: a holder that returns without releasing exits by itself', async () => {
    const container = freshContainer();
    const child = holder(container, 'db-app', 'return');
    expect(JSON.parse(await child.nextLine())).toMatchObject({ event: 'locked' });
    const exit = await Promise.race([child.exited, sleep(8_000).then(() => 'still running')]);
    expect(exit, child.stderr()).toEqual({ code: 0, signal: null });
    expect((await rejection(() => lockOn(container).lock('db-app'))).code).toBe('ROTATION_IN_PROGRESS'); // left to expire
  });
});

describe('storage failures are RotatorErrors, and nothing hangs', () => {
  it('a port nobody listens on: STORE_IO, retryable, at once', async () => {
    const port = await freePort();
    const lock = createBlobLeaseLock({ container: azuriteContainerClient(`http://127.0.0.1:${port}/devstoreaccount1`, 'locks') });
    const started = Date.now();
    const e = await rejection(() => lock.lock('db-app'));
    expect(e).toMatchObject({ code: 'STORE_IO', retryable: true });
    expect(e.message).toContain('take the rotation lock of secret db-app');
    expect(Date.now() - started).toBeLessThan(5_000);
  });

  it('a service that accepts and never answers: STORE_IO, retryable, within the operation timeout', async () => {
    const proxy = await startFaultyProxy(azurite.port);
    try {
      proxy.setMode('blackhole');
      const lock = createBlobLeaseLock({
        container: azuriteContainerClient(`http://127.0.0.1:${proxy.port}/devstoreaccount1`, 'locks', { retryOptions: { maxTries: 1 } }),
        operationTimeoutMs: 1_500,
      });
      const started = Date.now();
      expect(await rejection(() => lock.lock('db-app'))).toMatchObject({ code: 'STORE_IO', retryable: true });
      expect(Date.now() - started).toBeLessThan(5_000);
    } finally {
      await proxy.close();
    }
  });

  it('the caller\'s abort ends the wait with the caller\'s reason', async () => {
    const lock = lockOn(freshContainer());
    const reason = new RotatorError('STORE_IO', 'the function is about to time out', { retryable: true });
    expect(await rejection(() => lock.lock('db-app', { signal: AbortSignal.abort(reason) }))).toBe(reason);
  });

  it('a wrong account key: STORE_IO, not retryable, naming the role the identity needs', async () => {
    const wrongKey = Buffer.alloc(64, 7).toString('base64');
    const container = new BlobServiceClient(azurite.blobEndpoint, new StorageSharedKeyCredential('devstoreaccount1', wrongKey), { retryOptions: { maxTries: 1 } }).getContainerClient('locks');
    const e = await rejection(() => createBlobLeaseLock({ container }).lock('db-app'));
    expect(e).toMatchObject({ code: 'STORE_IO', retryable: false });
    expect(e.message).toMatch(/refused it \(403 .*Storage Blob Data Contributor/);
  });

  it('Azurite stopped under a held lease: release and lock fail STORE_IO, retryable, without hanging', async () => {
    const own = await startAzurite();
    const lock = createBlobLeaseLock({ container: own.containerClient('locks'), durationSeconds: LEASE_S, operationTimeoutMs: 5_000 });
    const lease = await lock.lock('db-app');
    await own.stop();
    const started = Date.now();
    expect(await rejection(() => lease.release())).toMatchObject({ code: 'STORE_IO', retryable: true });
    expect(await rejection(() => lock.lock('db-other'))).toMatchObject({ code: 'STORE_IO', retryable: true });
    expect(Date.now() - started).toBeLessThan(8_000);
  });
});

// The tests that wait for the service's clock run side by side: about 20 s for all of them.
describe.concurrent('in real time (one shared wait)', () => {
  it('stays exclusive for longer than its lease duration, because it is renewed', async ({ expect }) => {
    const container = freshContainer();
    const lease = await lockOn(container, { renewEverySeconds: 4 }).lock('db-long');
    await sleep(LEASE_S * 1000 + 2_000);
    expect((await rejection(() => lockOn(container).lock('db-long'))).code).toBe('ROTATION_IN_PROGRESS');
    expect(await leaseOf(container, 'db-long')).toEqual({ state: 'leased', status: 'locked' });
    await sleep(3_000);
    lease.assertHeld();
    expect((await rejection(() => lockOn(container).lock('db-long'))).code).toBe('ROTATION_IN_PROGRESS');
    await lease.release();
    await (await lockOn(container).lock('db-long')).release();
  }, 40_000);

  it('is freed within the lease duration when its holder is SIGKILLed', async ({ expect }) => {
    const container = freshContainer();
    const child = holder(container, 'db-dead', 'hold');
    expect(JSON.parse(await child.nextLine())).toMatchObject({ event: 'locked' });
    child.child.kill('SIGKILL');
    await child.exited;
    const lock = lockOn(container);
    expect((await rejection(() => lock.lock('db-dead'))).code).toBe('ROTATION_IN_PROGRESS'); // death alone frees nothing
    const waited = await waitForLock(() => lock.lock('db-dead'), LEASE_S * 1000 + 3_000);
    expect(waited).toBeLessThanOrEqual(LEASE_S * 1000 + 3_000);
  }, 40_000);

  it('after a failed release, stops renewing, so the lock frees itself within the lease duration', async ({ expect }) => {
    const proxy = await startFaultyProxy(azurite.port);
    try {
      const container = freshContainer();
      const lease = await createBlobLeaseLock({
        container: azuriteContainerClient(`http://127.0.0.1:${proxy.port}/devstoreaccount1`, container),
        durationSeconds: LEASE_S,
        renewEverySeconds: 2,
      }).lock('db-unreleased');
      proxy.setMode('reset');
      expect(await rejection(() => lease.release())).toMatchObject({ code: 'STORE_IO', retryable: true });
      proxy.setMode('forward'); // a lease still renewing would now keep the lock for ever
      const lock = lockOn(container);
      expect((await rejection(() => lock.lock('db-unreleased'))).code).toBe('ROTATION_IN_PROGRESS');
      await waitForLock(() => lock.lock('db-unreleased'), LEASE_S * 1000 + 3_000);
    } finally {
      await proxy.close();
    }
  }, 40_000);
});
