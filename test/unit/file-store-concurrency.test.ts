import { mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { isRotatorError } from '../../shared/errors.js';
import { FileStore, KEY_ENV } from '../../stores/file/index.js';
import { rotationLockPath, secretFilePath, secretsDir } from '../../stores/file/file-store.js';
import { readLockHolder } from '../../stores/file/lock.js';
import { deadPid, makeTempDir, randomKey, spawnFixture, type FixtureProcess } from '../fixtures/file-store-helpers.js';

/**
 * Several real processes on one store file: what the file lock and rotation lock exist for. Child processes
 * get the key through ROTATOR_STORE_KEY, as a deployment would.
 */
let dir: string;
let path: string;
let key: Buffer;
let env: NodeJS.ProcessEnv;
let cleanup: () => void;
const children: FixtureProcess[] = [];

beforeEach(() => {
  ({ dir, cleanup } = makeTempDir());
  path = join(dir, 'store.json');
  key = randomKey();
  env = { [KEY_ENV]: key.toString('base64') };
});
afterEach(async () => {
  for (const child of children.splice(0)) {
    if (child.child.exitCode === null && child.child.signalCode === null) child.child.kill('SIGKILL');
    await child.exited;
  }
  cleanup();
});

function start(name: string, args: string[]): FixtureProcess {
  const child = spawnFixture(name, args, env);
  children.push(child);
  return child;
}

async function lineJson(child: FixtureProcess): Promise<Record<string, unknown>> {
  return JSON.parse(await child.nextLine()) as Record<string, unknown>;
}

function plantStaleLock(secretId: string, pid: number): void {
  const lockPath = rotationLockPath(path, secretId);
  mkdirSync(dirname(lockPath), { recursive: true });
  writeFileSync(lockPath, JSON.stringify({ pid, hostname: hostname(), createdAt: new Date().toISOString(), nonce: `stale-${secretId}` }));
}

describe('FileStore across processes', () => {
  it('loses no write when several processes create secrets and put values at the same time', async () => {
    const store = new FileStore({ path, key });
    await store.createSecret('shared', 'initial');
    const writers = 4;
    const count = 15;
    const procs = Array.from({ length: writers }, (_, w) => start('file-store-writer.ts', [path, String(w), String(count)]));
    const results = await Promise.all(procs.map(async (p) => ({ exit: await p.exited, stderr: p.stderr() })));
    for (const r of results) expect(r, r.stderr).toMatchObject({ exit: { code: 0 } });

    // The file parses and authenticates (any read verifies every value), and every write is in it.
    const list = await store.list();
    expect(list).toHaveLength(1 + writers * count);
    for (let w = 0; w < writers; w++) {
      for (let i = 0; i < count; i++) expect(await store.getValue(`writer-${w}/item-${i}`, { stage: 'CURRENT' })).toBe(`item-${w}-${i}`);
    }
    const shared = await store.describe('shared');
    expect(shared.versions).toHaveLength(1 + writers * count);
    const values = await Promise.all(shared.versions.map((v) => store.getValue('shared', { versionId: v.versionId })));
    const expected = ['initial'];
    for (let w = 0; w < writers; w++) for (let i = 0; i < count; i++) expected.push(`shared-${w}-${i}`);
    expect(values.sort()).toEqual(expected.sort());
    expect(shared.versions.filter((v) => v.stages.includes('CURRENT'))).toHaveLength(1);
    expect(shared.versions.filter((v) => v.stages.includes('PREVIOUS'))).toHaveLength(1);
    // Every file on disk is whole, not a torn or interleaved write, and the directory holds exactly the secrets' files.
    expect(JSON.parse(readFileSync(path, 'utf8'))).toMatchObject({ format: 'rotator-file-store', version: 2 });
    const names = readdirSync(secretsDir(path));
    expect(names.sort()).toEqual(list.map((s) => basename(secretFilePath(path, s.secretId))).sort());
    for (const name of names) expect(JSON.parse(readFileSync(join(secretsDir(path), name), 'utf8'))).toMatchObject({ format: 'rotator-file-store-secret', version: 2 });
  });

  it('refuses a second rotation lock from another process while the first holds it, then hands it over on release', async () => {
    const holder = start('file-store-lock-holder.ts', [path, 'db/app', 'hold']);
    const locked = await lineJson(holder);
    expect(locked).toMatchObject({ event: 'locked' });
    const holderPid = locked.pid as number;

    // This process, and a third one, are refused while the holder lives.
    const store = new FileStore({ path, key });
    let refused: unknown;
    try {
      await store.lockRotation('db/app');
    } catch (error) {
      refused = error;
    }
    expect(isRotatorError(refused, 'ROTATION_IN_PROGRESS')).toBe(true);
    expect(isRotatorError(refused) && refused.retryable).toBe(true);
    expect((refused as Error).message).toContain(`pid ${holderPid}`);
    const other = start('file-store-lock-holder.ts', [path, 'db/app', 'try']);
    expect(await lineJson(other)).toMatchObject({ event: 'result', code: 'ROTATION_IN_PROGRESS', retryable: true });

    // Another secret's rotation is independent.
    const lease = await store.lockRotation('db/other');
    await lease.release();

    holder.child.stdin?.end();
    expect(await lineJson(holder)).toMatchObject({ event: 'released' });
    const mine = await store.lockRotation('db/app');
    expect((await readLockHolder(rotationLockPath(path, 'db/app')))?.pid).toBe(process.pid);
    await mine.release();
  });

  it('breaks the rotation lock left by a SIGKILLed process and takes it', async () => {
    const holder = start('file-store-lock-holder.ts', [path, 'db/app', 'hold']);
    const locked = await lineJson(holder);
    const store = new FileStore({ path, key });
    await expect(store.lockRotation('db/app')).rejects.toMatchObject({ code: 'ROTATION_IN_PROGRESS' });

    holder.child.kill('SIGKILL');
    expect((await holder.exited).signal).toBe('SIGKILL');
    // The dead holder's file is still there...
    expect((await readLockHolder(rotationLockPath(path, 'db/app')))?.pid).toBe(locked.pid);
    // ...and is broken, because its pid no longer runs on this host.
    const lease = await store.lockRotation('db/app');
    expect((await readLockHolder(rotationLockPath(path, 'db/app')))?.pid).toBe(process.pid);
    await lease.release();
  });

  it('lets exactly one of several processes racing to break the same stale lock have it', async () => {
    const rounds = 6;
    const racers = 4;
    const dead = deadPid();
    for (let r = 0; r < rounds; r++) plantStaleLock(`race/${r}`, dead);
    const procs = Array.from({ length: racers }, () => start('file-store-lock-race.ts', [path, String(rounds), '150']));
    for (const p of procs) expect(await p.nextLine()).toBe('ready');
    const go = `go ${Date.now() + 100}\n`;
    for (const p of procs) p.child.stdin?.write(go);
    const results = await Promise.all(procs.map(async (p) => (await lineJson(p)) as { pid: number; won: boolean[] }));
    for (let r = 0; r < rounds; r++) {
      const winners = results.filter((res) => res.won[r] === true);
      expect(winners.map((w) => w.pid), `round ${r}`).toHaveLength(1);
      // The lock file names that one winner.
      expect((await readLockHolder(rotationLockPath(path, `race/${r}`)))?.pid, `round ${r}`).toBe(winners[0]?.pid);
    }
    for (const p of procs) p.child.stdin?.end();
    for (const p of procs) expect((await p.exited).code).toBe(0);
  });
});

describe('FileStore: writers in one process', () => {
  it('lands every write when many secrets are written at once, each by several writers', async () => {
    const store = new FileStore({ path, key });
    const secrets = Array.from({ length: 24 }, (_, i) => `fleet/secret-${i}`);
    await Promise.all(secrets.map((id) => store.createSecret(id, `${id}-v0`)));
    const writes = 4;
    await Promise.all(secrets.flatMap((id) => Array.from({ length: writes }, (_, w) => store.putValue(id, `${id}-v${w + 1}`))));
    expect(await store.listSecretIds()).toEqual([...secrets].sort());
    const infos = await store.describeAll();
    for (const info of infos) {
      expect(info.versions, info.secretId).toHaveLength(1 + writes);
      expect(info.versions.filter((v) => v.stages.includes('CURRENT'))).toHaveLength(1);
      const values = await Promise.all(info.versions.map((v) => store.getValue(info.secretId, { versionId: v.versionId })));
      expect(values.sort()).toEqual(Array.from({ length: 1 + writes }, (_, w) => `${info.secretId}-v${w}`).sort());
    }
  });
});
