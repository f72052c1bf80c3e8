import { copyFileSync, existsSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { SecretInfo } from '../../shared/store.js';
import { FileStore, KEY_ENV } from '../../stores/file/index.js';
import { secretFilePath, secretsDir, storeLockPath } from '../../stores/file/file-store.js';
import { isProcessAlive } from '../../stores/file/lock.js';
import { recordSecrets } from '../support/canary.js';
import { expectCode, makeTempDir, randomKey, spawnFixture, storeSnapshot } from '../fixtures/file-store-helpers.js';

/**
 * The migration from format version 1 (one document) to version 2 (a manifest and one file per secret), on a store
 * made by the version-1 code (test/fixtures/file-store-v1.json, with its test-only key beside it).
 */
const fixture = (name: string): string => fileURLToPath(new URL(`../fixtures/${name}`, import.meta.url));
const V1_KEY = Buffer.from(readFileSync(fixture('file-store-v1.key'), 'utf8').trim(), 'base64');

/** Every value in the fixture, by secret and version id: what no migration may lose. */
const V1_VALUES: Record<string, Record<string, string>> = {
  'db/app': {
    'fixture-v1': '{"engine":"other","token":"v1-fixture-app-one"}',
    'fixture-v2': '{"engine":"other","token":"v1-fixture-app-two"}',
    'tok-abandoned': '{"engine":"other","token":"v1-fixture-app-abandoned"}',
    'tok-pending': '{"engine":"other","token":"v1-fixture-app-pending"}',
  },
  'api-key': { 'fixture-v3': '{"engine":"other","token":"v1-fixture-api-one"}' },
  plain: { 'fixture-v4': 'v1-fixture-plain-one' },
};
recordSecrets(...Object.values(V1_VALUES).flatMap((versions) => Object.values(versions)), 'after-migration-value', 'after-crash-value');

let dir: string;
let path: string;
let cleanup: () => void;
beforeEach(() => {
  ({ dir, cleanup } = makeTempDir('rotator-migrate-'));
  path = join(dir, 'store.json');
  copyFileSync(fixture('file-store-v1.json'), path);
});
afterEach(() => cleanup());

const storeOf = (key: Buffer = V1_KEY): FileStore => new FileStore({ path, key });

/** The descriptions the version-1 store gives, read before anything touched it. */
async function v1Descriptions(): Promise<SecretInfo[]> {
  return storeOf().describeAll();
}

/** Every version of every secret is there once, with its value and labels, as in `expected`. */
async function expectStoreHolds(store: FileStore, expected: SecretInfo[]): Promise<void> {
  expect(await store.describeAll()).toEqual(expected);
  for (const info of expected) {
    expect(await store.describe(info.secretId)).toEqual(info);
    for (const version of info.versions) {
      if (!version.hasValue) continue;
      const value = V1_VALUES[info.secretId]?.[version.versionId] ?? 'after-crash-value';
      expect(await store.getValue(info.secretId, { versionId: version.versionId }), `${info.secretId} ${version.versionId}`).toBe(value);
    }
  }
}

/**
 * A migrated store: the manifest, exactly one file per secret, and no temp file or lock left, except the store lock of
 * a migrator killed after its last rename: only the next migration or creation takes that lock (none will), and a lock
 * naming a dead process is taken over whenever one does.
 */
function expectMigrated(ids: string[]): void {
  expect(JSON.parse(readFileSync(path, 'utf8'))).toEqual({ format: 'rotator-file-store', version: 2, keyCheck: expect.any(Object) as unknown });
  const top = readdirSync(dir).sort();
  if (top.includes('store.json.lock')) expect(isProcessAlive((JSON.parse(readFileSync(storeLockPath(path), 'utf8')) as { pid: number }).pid)).toBe(false);
  expect(top.filter((name) => name !== 'store.json.lock')).toEqual(['store.json', 'store.json.d']);
  expect(readdirSync(secretsDir(path)).sort()).toEqual(ids.map((id) => secretFilePath(path, id).slice(secretsDir(path).length + 1)).sort());
}

/** The labels of `info` after `putValue` made `versionId` CURRENT: the old CURRENT is PREVIOUS, a rotation under way
 * is cancelled (a stub dropped). */
function withNewCurrent(info: SecretInfo, versionId: string): Record<string, string[]> {
  const stages: Record<string, string[]> = {};
  for (const v of info.versions) {
    if (!v.hasValue) continue;
    stages[v.versionId] = v.stages.includes('CURRENT') ? ['PREVIOUS'] : [];
  }
  stages[versionId] = ['CURRENT'];
  return stages;
}

const stagesOf = (info: SecretInfo): Record<string, string[]> => Object.fromEntries(info.versions.map((v) => [v.versionId, v.stages]));

describe('FileStore: a version-1 store', () => {
  it('is read as it is by every read, which change nothing and create nothing', async () => {
    const before = storeSnapshot(path);
    const store = storeOf();
    const infos = await store.describeAll();
    expect(infos.map((i) => i.secretId)).toEqual(['api-key', 'db/app', 'plain']);
    expect(stagesOf(infos[1] as SecretInfo)).toEqual({ 'fixture-v1': ['PREVIOUS'], 'fixture-v2': ['CURRENT'], 'tok-abandoned': [], 'tok-pending': ['PENDING'] });
    expect(infos[1]).toMatchObject({ tags: { team: 'payments' }, lastError: { code: 'TARGET_ERROR', step: 'setSecret' }, rotation: { schedule: { kind: 'rate' } } });
    expect(stagesOf(infos[0] as SecretInfo)).toEqual({ 'fixture-v3': ['CURRENT'], 'tok-stub': ['PENDING'] });
    await expectStoreHolds(store, infos);
    expect((await store.list()).map((s) => [s.secretId, s.versionCount])).toEqual([
      ['api-key', 2],
      ['db/app', 4],
      ['plain', 1],
    ]);
    expect(storeSnapshot(path)).toBe(before);
    expect(existsSync(secretsDir(path))).toBe(false);
  });

  it('is migrated by the first write: every version kept once, values and labels as they were, the write on top', async () => {
    const before = await v1Descriptions();
    const store = storeOf();
    const { versionId } = await store.putValue('plain', 'after-crash-value');
    expectMigrated(['api-key', 'db/app', 'plain']);
    const after = await store.describeAll();
    expect(after.filter((i) => i.secretId !== 'plain')).toEqual(before.filter((i) => i.secretId !== 'plain'));
    expect(stagesOf(after[2] as SecretInfo)).toEqual(withNewCurrent(before[2] as SecretInfo, versionId));
    expect(await store.getValue('plain', { stage: 'CURRENT' })).toBe('after-crash-value');
    expect(await store.getValue('plain', { stage: 'PREVIOUS' })).toBe('v1-fixture-plain-one');
    await expectStoreHolds(store, after);
    // Each value keeps its ciphertext: nothing was re-encrypted.
    const v1 = readFileSync(fixture('file-store-v1.json'), 'utf8');
    const migrated = JSON.parse(readFileSync(secretFilePath(path, 'db/app'), 'utf8')) as { versions: { value?: { data: string } }[] };
    for (const version of migrated.versions) if (version.value !== undefined) expect(v1).toContain(version.value.data);
  });

  it('a write that fails (the secret does not exist) migrates nothing; creating a secret migrates', async () => {
    const before = storeSnapshot(path);
    const store = storeOf();
    await expectCode(store.putValue('absent', 'x-value-123'), 'SECRET_NOT_FOUND');
    expect(storeSnapshot(path)).toBe(before);
    await store.createSecret('new/one', 'after-migration-value');
    expectMigrated(['api-key', 'db/app', 'plain', 'new/one']);
    expect(await store.getValue('new/one', { stage: 'CURRENT' })).toBe('after-migration-value');
  });

  it('is migrated once when several writers start on it at the same time, and every write lands', async () => {
    const stores = Array.from({ length: 6 }, () => storeOf());
    const ids = ['db/app', 'api-key', 'plain'];
    const results = await Promise.all(stores.map((store, i) => store.putValue(ids[i % ids.length] as string, 'after-crash-value')));
    expectMigrated(ids);
    const infos = await storeOf().describeAll();
    for (const { versionId } of results) expect(infos.some((info) => info.versions.some((v) => v.versionId === versionId))).toBe(true);
    expect(infos.map((i) => i.versions.length)).toEqual([1 + 2, 4 + 2, 1 + 2]); // api-key's stub was dropped by the first write
    await expectStoreHolds(storeOf(), infos);
  });

  it('refuses a wrong key (STORE_KEY_MISMATCH) and a newer format version (upgrade), changing nothing', async () => {
    const before = storeSnapshot(path);
    await expectCode(storeOf(randomKey()).putValue('plain', 'x-value-123'), 'STORE_KEY_MISMATCH');
    expect(storeSnapshot(path)).toBe(before);
    writeFileSync(path, readFileSync(path, 'utf8').replace('"version": 1', '"version": 7'));
    const newer = storeSnapshot(path);
    for (const run of [() => storeOf().putValue('plain', 'x-value-123'), () => storeOf().list(), () => storeOf().describe('plain')]) {
      const error = await expectCode(run(), 'STORE_CORRUPT');
      expect(error.message).toMatch(/format version 7.*Upgrade Rotator/);
    }
    expect(storeSnapshot(path)).toBe(newer);
    expect(existsSync(secretsDir(path))).toBe(false);
  });

  it('refuses to migrate over secret files that are not its own (a version-1 backup restored over a migrated store), changing nothing', async () => {
    const v1 = readFileSync(path);
    await storeOf().putValue('plain', 'after-migration-value'); // migrated, and plain's file moved on
    writeFileSync(path, v1); // the old store file restored over it
    const before = storeSnapshot(path);
    const error = await expectCode(storeOf().putValue('db/app', 'x-value-123'), 'STORE_CORRUPT');
    expect(error.message).toContain(secretFilePath(path, 'plain'));
    expect(error.message).toContain(`move ${secretsDir(path)} aside`);
    expect(storeSnapshot(path)).toBe(before);
    // Reads still serve the restored document.
    expect(await storeOf().getValue('plain', { stage: 'CURRENT' })).toBe('v1-fixture-plain-one');
  });
});

describe('FileStore: a migration killed at any point', () => {
  // The fixture store has three secrets: migrating writes three secret files and then the manifest, and the write
  // that migrates (putValue) then replaces one secret file: five renames, each with a crash just before and just after.
  const points = [1, 2, 3, 4, 5].flatMap((n) => (['before', 'after'] as const).map((when) => [n, when] as const));

  it.each(points)('killed %s: %s that rename, the next run reads every version and finishes the migration', async (n, when) => {
    const expected = await v1Descriptions();
    const child = spawnFixture('file-store-crash-point.ts', [path, String(n), when, 'plain', 'after-crash-value'], { [KEY_ENV]: V1_KEY.toString('base64') });
    const exit = await child.exited;
    expect(exit, child.stderr()).toEqual({ code: null, signal: 'SIGKILL' });

    // Whatever the crash left, a reader sees the whole store: the document until the manifest's rename, then the files.
    const migrated = n >= 4 && !(n === 4 && when === 'before');
    expect(JSON.parse(readFileSync(path, 'utf8'))).toMatchObject({ version: migrated ? 2 : 1 });
    const reader = storeOf();
    const seen = await reader.describeAll();
    const wrote = n === 5 && when === 'after'; // the killed write's own rename happened: its version is in
    if (wrote) {
      const plain = seen.find((i) => i.secretId === 'plain') as SecretInfo;
      const added = plain.versions.find((v) => v.stages.includes('CURRENT'))?.versionId as string;
      expect(stagesOf(plain)).toEqual(withNewCurrent(expected[2] as SecretInfo, added));
      expect(await reader.getValue('plain', { stage: 'CURRENT' })).toBe('after-crash-value');
      await expectStoreHolds(reader, seen);
    } else {
      await expectStoreHolds(reader, expected);
    }

    // The next write of that secret finishes the migration (taking over the dead writer's locks, removing its temp
    // files) and lands on top of whatever the killed one left.
    const { versionId } = await storeOf().putValue('plain', 'after-crash-value');
    expectMigrated(['api-key', 'db/app', 'plain']);
    const after = await storeOf().describeAll();
    expect(after.filter((i) => i.secretId !== 'plain')).toEqual(expected.filter((i) => i.secretId !== 'plain'));
    expect(stagesOf(after[2] as SecretInfo)).toEqual(withNewCurrent(seen[2] as SecretInfo, versionId));
    await expectStoreHolds(storeOf(), after);
  }, 30_000);

  it('gets through when no crash comes (the fixture kills only at the rename it is told)', async () => {
    const child = spawnFixture('file-store-crash-point.ts', [path, '99', 'before', 'plain', 'after-crash-value'], { [KEY_ENV]: V1_KEY.toString('base64') });
    expect(await child.nextLine()).toBe('done');
    expect((await child.exited).code).toBe(0);
    expectMigrated(['api-key', 'db/app', 'plain']);
    expect(await storeOf().getValue('plain', { stage: 'CURRENT' })).toBe('after-crash-value');
  }, 30_000);
});

describe('FileStore: what a migration writes', () => {
  it('depends only on the version-1 document, so a re-run after a crash writes the same bytes as the run it finishes', async () => {
    const copy = join(dir, 'copy.json');
    copyFileSync(path, copy);
    await storeOf().putValue('plain', 'after-migration-value');
    await new FileStore({ path: copy, key: V1_KEY }).putValue('plain', 'after-migration-value');
    for (const id of ['api-key', 'db/app']) expect(readFileSync(secretFilePath(path, id), 'utf8')).toBe(readFileSync(secretFilePath(copy, id), 'utf8'));
  });
});
