import { existsSync, mkdirSync, readFileSync, readdirSync, rmSync, statSync, symlinkSync, utimesSync, writeFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { isRotatorError, type ErrorCode } from '../../shared/errors.js';
import { MAX_SECRET_BYTES } from '../../shared/secret.js';
import { STAGES, type SecretInfo, type Stage } from '../../shared/store.js';
import { FileStore, type FileStoreOptions } from '../../stores/file/index.js';
import { secretFilePath, secretLockPath, secretsDir, storeLockPath } from '../../stores/file/file-store.js';
import { tryLock } from '../../stores/file/lock.js';
import { secretTempPath } from '../../stores/file/layout.js';
import { recordSecrets } from '../support/canary.js';
import { deadPid, makeTempDir, randomKey, readSecretFile, storeSnapshot } from '../fixtures/file-store-helpers.js';

let dir: string;
let cleanup: () => void;
beforeEach(() => {
  ({ dir, cleanup } = makeTempDir());
});
afterEach(() => cleanup());

/** A store with predictable version ids (v1, v2, ...) and a clock that advances one second per call. */
function makeStore(overrides: Partial<FileStoreOptions> = {}): FileStore {
  let id = 0;
  let t = Date.parse('2024-01-01T00:00:00Z');
  return new FileStore({
    path: join(dir, 'store.json'),
    key: randomKey(),
    newVersionId: () => `v${++id}`,
    clock: () => new Date((t += 1000)),
    ...overrides,
  });
}

async function rejection(promise: Promise<unknown>): Promise<Error> {
  try {
    await promise;
  } catch (error) {
    if (error instanceof Error) return error;
    throw new Error('rejected with a non-Error');
  }
  throw new Error('expected a rejection, but the call succeeded');
}

async function expectCode(promise: Promise<unknown>, code: ErrorCode): Promise<Error> {
  const error = await rejection(promise);
  expect(isRotatorError(error) ? error.code : error).toBe(code);
  return error;
}

function stagesOf(info: SecretInfo): Record<string, Stage[]> {
  return Object.fromEntries(info.versions.map((v) => [v.versionId, v.stages]));
}

/** Each stage on at most one version; CURRENT always present; only PENDING may lack a value. */
function expectInvariants(info: SecretInfo): void {
  for (const stage of STAGES) expect(info.versions.filter((v) => v.stages.includes(stage)).length).toBeLessThanOrEqual(1);
  expect(info.versions.filter((v) => v.stages.includes('CURRENT'))).toHaveLength(1);
  for (const v of info.versions) if (!v.hasValue) expect(v.stages).toEqual(['PENDING']);
  expect(new Set(info.versions.map((v) => v.versionId)).size).toBe(info.versions.length);
}

/** Every file of the store: a refused or no-op write must leave all of them as they were. */
const raw = (store: FileStore): string => storeSnapshot(store.path);

describe('FileStore: creating and listing', () => {
  it('treats a missing file as an empty store and creates file and directory on the first write', async () => {
    const path = join(dir, 'nested', 'deeper', 'store.json');
    const store = makeStore({ path });
    expect(await store.list()).toEqual([]);
    await expectCode(store.describe('db/app'), 'SECRET_NOT_FOUND');
    await expectCode(store.getValue('db/app', { stage: 'CURRENT' }), 'SECRET_NOT_FOUND');
    // A write that needs an existing secret fails without creating anything.
    await expectCode(store.putValue('db/app', 'x'), 'SECRET_NOT_FOUND');
    expect(existsSync(join(dir, 'nested'))).toBe(false);

    await store.createSecret('db/app', 'value-one', { rotation: { enabled: true, strategy: 'single-user' }, description: 'app db' });
    expect(statSync(path).mode & 0o777).toBe(0o600);
    expect(statSync(join(dir, 'nested', 'deeper')).mode & 0o777).toBe(0o700);
    expect(statSync(secretsDir(path)).mode & 0o777).toBe(0o700);
    expect(statSync(secretFilePath(path, 'db/app')).mode & 0o777).toBe(0o600);
    expect(await store.list()).toEqual([
      { secretId: 'db/app', rotation: { enabled: true, strategy: 'single-user' }, versionCount: 1, description: 'app db' },
    ]);
    const info = await store.describe('db/app');
    expect(info.rotation).toEqual({ enabled: true, strategy: 'single-user' });
    expect(info.versions).toEqual([
      { versionId: 'v1', stages: ['CURRENT'], createdAt: new Date('2024-01-01T00:00:01Z'), hasValue: true, promotedAt: new Date('2024-01-01T00:00:01Z') },
    ]);
    expect(await store.getValue('db/app', { stage: 'CURRENT' })).toBe('value-one');
    // No temporary file or lock is left next to the store, nor beside the secret's file.
    expect(readdirSync(join(dir, 'nested', 'deeper')).sort()).toEqual(['store.json', 'store.json.d']);
    expect(readdirSync(secretsDir(path))).toEqual([secretFilePath(path, 'db/app').slice(secretsDir(path).length + 1)]);
    expect(existsSync(storeLockPath(path))).toBe(false);
  });

  it('refuses a second createSecret with SECRET_EXISTS and leaves the first intact', async () => {
    const store = makeStore();
    await store.createSecret('a', 'first-value');
    const before = raw(store);
    const error = await expectCode(store.createSecret('a', 'second-value'), 'SECRET_EXISTS');
    expect(error.message).not.toContain('second-value');
    expect(raw(store)).toBe(before);
    expect(await store.getValue('a', { stage: 'CURRENT' })).toBe('first-value');
    // Rotation starts disabled unless asked.
    expect((await store.describe('a')).rotation).toEqual({ enabled: false });
  });

  it('lists secrets sorted by id with version counts, and deletes them', async () => {
    const store = makeStore();
    await store.createSecret('z/last', 'v');
    await store.createSecret('a/first', 'v');
    await store.putValue('a/first', 'v2');
    expect((await store.list()).map((s) => [s.secretId, s.versionCount])).toEqual([
      ['a/first', 2],
      ['z/last', 1],
    ]);
    await store.deleteSecret('a/first');
    expect((await store.list()).map((s) => s.secretId)).toEqual(['z/last']);
    await expectCode(store.deleteSecret('a/first'), 'SECRET_NOT_FOUND');
  });

  it('updates rotation settings, validating them', async () => {
    const store = makeStore();
    await store.createSecret('s', 'v');
    await store.updateRotation('s', { enabled: true, strategy: 'alternating-users' });
    expect((await store.describe('s')).rotation).toEqual({ enabled: true, strategy: 'alternating-users' });
    const before = raw(store);
    await store.updateRotation('s', { enabled: true, strategy: 'alternating-users' });
    expect(raw(store)).toBe(before); // unchanged settings do not rewrite the file
    await expectCode(store.updateRotation('s', { enabled: true, strategy: 'sideways' as never }), 'INVALID_INPUT');
    await expectCode(store.updateRotation('s', { enabled: 'yes' as never }), 'INVALID_INPUT');
    await expectCode(store.updateRotation('missing', { enabled: true }), 'SECRET_NOT_FOUND');
  });
});

describe('FileStore: versions and stage labels', () => {
  it('putValue makes a new CURRENT, moves the old one to PREVIOUS and cancels a rotation under way (its value derives from the old CURRENT)', async () => {
    const store = makeStore();
    await store.createSecret('s', 'one');
    expect(await store.putValue('s', 'two')).toEqual({ versionId: 'v2' });
    expect(stagesOf(await store.describe('s'))).toEqual({ v1: ['PREVIOUS'], v2: ['CURRENT'] });
    await store.putPending('s', 'tok', 'pending-value');
    expect(await store.putValue('s', 'three')).toEqual({ versionId: 'v3', cancelled: 'tok' });
    const info = await store.describe('s');
    // As cancelRotation: the PENDING value stays, unlabelled (the target may accept it), until the purger retires it.
    expect(stagesOf(info)).toEqual({ v1: [], v2: ['PREVIOUS'], tok: [], v3: ['CURRENT'] });
    expectInvariants(info);
    expect(await store.getValue('s', { stage: 'CURRENT' })).toBe('three');
    expect(await store.getValue('s', { stage: 'PREVIOUS' })).toBe('two');
    await expectCode(store.getValue('s', { stage: 'PENDING' }), 'VERSION_NOT_FOUND');
    expect(await store.getValue('s', { versionId: 'tok' })).toBe('pending-value');
    expect(await store.getValue('s', { versionId: 'v1' })).toBe('one');
    // A stub holds nothing: it is dropped.
    await store.startRotation('s', 'stub');
    expect(await store.putValue('s', 'four')).toEqual({ versionId: 'v4', cancelled: 'stub' });
    expect(Object.keys(stagesOf(await store.describe('s')))).not.toContain('stub');
  });

  it('cancelRotation drops a PENDING stub, keeps a PENDING value unlabelled, and is a no-op without PENDING', async () => {
    const store = makeStore();
    await store.createSecret('s', 'one');
    expect(await store.cancelRotation('s')).toBeUndefined();
    await store.startRotation('s', 'stub');
    expect(await store.cancelRotation('s')).toBe('stub');
    expect(stagesOf(await store.describe('s'))).toEqual({ v1: ['CURRENT'] });
    await store.putPending('s', 'tok', 'pending-value');
    expect(await store.cancelRotation('s')).toBe('tok');
    const info = await store.describe('s');
    expect(stagesOf(info)).toEqual({ v1: ['CURRENT'], tok: [] });
    expectInvariants(info);
    // The abandoned value is not lost: the target may already accept it.
    expect(await store.getValue('s', { versionId: 'tok' })).toBe('pending-value');
    await expectCode(store.cancelRotation('absent'), 'SECRET_NOT_FOUND');
  });

  it('startRotation creates a value-less PENDING stub, is a no-op when repeated, and refuses a non-PENDING token', async () => {
    const store = makeStore();
    await store.createSecret('s', 'one');
    await store.startRotation('s', 'tok-1');
    let info = await store.describe('s');
    expect(info.versions.find((v) => v.versionId === 'tok-1')).toMatchObject({ stages: ['PENDING'], hasValue: false });
    await expectCode(store.getValue('s', { stage: 'PENDING' }), 'VERSION_NOT_FOUND');
    await expectCode(store.getValue('s', { versionId: 'tok-1' }), 'VERSION_NOT_FOUND');

    const before = raw(store);
    await store.startRotation('s', 'tok-1');
    expect(raw(store)).toBe(before);

    const error = await expectCode(store.startRotation('s', 'v1'), 'VERSION_CONFLICT');
    expect(error.message).toContain('CURRENT');
    expect(raw(store)).toBe(before);

    // A new token takes PENDING; the old stub, which held nothing, is dropped.
    await store.startRotation('s', 'tok-2');
    info = await store.describe('s');
    expect(stagesOf(info)).toEqual({ v1: ['CURRENT'], 'tok-2': ['PENDING'] });
    expectInvariants(info);
  });

  it('putPending fills the stub, is idempotent for the same value and refuses another value for the token', async () => {
    const store = makeStore();
    await store.createSecret('s', 'one');
    await store.startRotation('s', 'tok');
    await store.putPending('s', 'tok', 'pending-secret-A');
    let info = await store.describe('s');
    expect(info.versions.find((v) => v.versionId === 'tok')).toMatchObject({ stages: ['PENDING'], hasValue: true });
    expect(await store.getValue('s', { versionId: 'tok', stage: 'PENDING' })).toBe('pending-secret-A');

    const before = raw(store);
    await store.putPending('s', 'tok', 'pending-secret-A');
    expect(raw(store)).toBe(before);

    recordSecrets('pending-secret-A', 'pending-secret-B');
    const error = await expectCode(store.putPending('s', 'tok', 'pending-secret-B'), 'VERSION_CONFLICT');
    expect(error.message).not.toContain('pending-secret-A');
    expect(error.message).not.toContain('pending-secret-B');
    expect(raw(store)).toBe(before);

    // The same token with another value is refused on a promoted version too.
    await store.promote('s', 'tok');
    await store.putPending('s', 'tok', 'pending-secret-A'); // same value: no-op, even after promotion
    await expectCode(store.putPending('s', 'tok', 'pending-secret-B'), 'VERSION_CONFLICT');
    info = await store.describe('s');
    expect(stagesOf(info)).toEqual({ v1: ['PREVIOUS'], tok: ['CURRENT'] });
  });

  it('putPending with an unknown token creates a new PENDING version and takes the label off the old one', async () => {
    const store = makeStore();
    await store.createSecret('s', 'one');
    await store.putPending('s', 'tok-a', 'value-a');
    await store.putPending('s', 'tok-b', 'value-b');
    const info = await store.describe('s');
    expect(stagesOf(info)).toEqual({ v1: ['CURRENT'], 'tok-a': [], 'tok-b': ['PENDING'] });
    expectInvariants(info);
    // The superseded version keeps its value until retired.
    expect(await store.getValue('s', { versionId: 'tok-a' })).toBe('value-a');
    await expectCode(store.getValue('s', { versionId: 'tok-a', stage: 'PENDING' }), 'VERSION_NOT_FOUND');
  });

  it('promote moves CURRENT to the token, the old CURRENT to PREVIOUS and drops the older PREVIOUS label', async () => {
    const store = makeStore();
    await store.createSecret('s', 'one');
    await expectCode(store.promote('s', 'nope'), 'VERSION_NOT_FOUND');
    await store.startRotation('s', 'tok-1');
    await expectCode(store.promote('s', 'tok-1'), 'VERSION_NOT_FOUND'); // a stub has nothing to promote
    await store.putPending('s', 'tok-1', 'two');
    await store.promote('s', 'tok-1');
    expect(stagesOf(await store.describe('s'))).toEqual({ v1: ['PREVIOUS'], 'tok-1': ['CURRENT'] });

    const before = raw(store);
    await store.promote('s', 'tok-1'); // already CURRENT: no-op
    expect(raw(store)).toBe(before);

    await store.putPending('s', 'tok-2', 'three');
    await store.promote('s', 'tok-2');
    const info = await store.describe('s');
    expect(stagesOf(info)).toEqual({ v1: [], 'tok-1': ['PREVIOUS'], 'tok-2': ['CURRENT'] });
    expectInvariants(info);
    expect(await store.getValue('s', { stage: 'CURRENT' })).toBe('three');
    expect(await store.getValue('s', { stage: 'PREVIOUS' })).toBe('two');
    await expectCode(store.getValue('s', { stage: 'PENDING' }), 'VERSION_NOT_FOUND');
  });

  it('promoting PREVIOUS (a rollback) swaps CURRENT and PREVIOUS', async () => {
    const store = makeStore();
    await store.createSecret('s', 'one');
    await store.putValue('s', 'two');
    await store.promote('s', 'v1');
    expect(stagesOf(await store.describe('s'))).toEqual({ v1: ['CURRENT'], v2: ['PREVIOUS'] });
  });

  it('retire deletes superseded versions and refuses CURRENT and PENDING', async () => {
    const store = makeStore();
    await store.createSecret('s', 'one');
    await store.putValue('s', 'two');
    await store.putValue('s', 'three');
    await store.putPending('s', 'tok', 'four');
    const before = raw(store);
    for (const versionId of ['v3', 'tok']) {
      const error = await expectCode(store.retire('s', versionId), 'INVALID_INPUT');
      expect(error.message).toMatch(/CURRENT|PENDING/);
    }
    await expectCode(store.retire('s', 'v404'), 'VERSION_NOT_FOUND');
    expect(raw(store)).toBe(before);

    await store.retire('s', 'v1'); // unlabelled
    await store.retire('s', 'v2'); // PREVIOUS
    const info = await store.describe('s');
    expect(stagesOf(info)).toEqual({ v3: ['CURRENT'], tok: ['PENDING'] });
    await expectCode(store.getValue('s', { versionId: 'v1' }), 'VERSION_NOT_FOUND');
  });

  it('getValue by version id honours a stage given with it', async () => {
    const store = makeStore();
    await store.createSecret('s', 'one');
    await store.putValue('s', 'two');
    expect(await store.getValue('s', { versionId: 'v2', stage: 'CURRENT' })).toBe('two');
    await expectCode(store.getValue('s', { versionId: 'v1', stage: 'CURRENT' }), 'VERSION_NOT_FOUND');
    await expectCode(store.getValue('s', { versionId: 'nope' }), 'VERSION_NOT_FOUND');
    await expectCode(store.getValue('other', { stage: 'CURRENT' }), 'SECRET_NOT_FOUND');
    await expectCode(store.getValue('s', { stage: 'LATEST' as never }), 'INVALID_INPUT');
  });

  it('describe lists versions by creation time, not by insertion order', async () => {
    const times = ['2024-03-01T00:00:00Z', '2024-01-01T00:00:00Z', '2024-02-01T00:00:00Z'];
    const store = makeStore({ clock: () => new Date(times.shift() ?? '2024-12-31T00:00:00Z') });
    await store.createSecret('s', 'one'); // v1 at March
    await store.putValue('s', 'two'); // v2 at January
    await store.putPending('s', 'tok', 'three'); // February
    const info = await store.describe('s');
    expect(info.versions.map((v) => v.versionId)).toEqual(['v2', 'tok', 'v1']);
    expect(info.versions.map((v) => v.createdAt?.toISOString())).toEqual([
      '2024-01-01T00:00:00.000Z',
      '2024-02-01T00:00:00.000Z',
      '2024-03-01T00:00:00.000Z',
    ]);
  });

  it('keeps every label unique through a long random sequence of operations', async () => {
    const store = makeStore();
    await store.createSecret('s', 'initial');
    // A small deterministic PRNG, so a failure replays the same sequence.
    let seed = 42;
    const next = (n: number): number => {
      seed = (seed * 1_103_515_245 + 12_345) % 2_147_483_648;
      return seed % n;
    };
    const tokens = ['t0', 't1', 't2', 't3', 't4'];
    const values = new Map<string, string>();
    for (let step = 0; step < 150; step++) {
      const token = tokens[next(tokens.length)] ?? 't0';
      const op = next(5);
      try {
        if (op === 0) await store.startRotation('s', token);
        else if (op === 1) {
          const value = values.get(token) ?? `value-${token}`;
          await store.putPending('s', token, value);
          values.set(token, value);
        } else if (op === 2) await store.promote('s', token);
        else if (op === 3) await store.retire('s', token);
        else await store.putValue('s', `direct-${step}`);
      } catch (error) {
        // Refusals are part of the contract; anything else is a bug.
        if (!isRotatorError(error) || !['VERSION_CONFLICT', 'VERSION_NOT_FOUND', 'INVALID_INPUT'].includes(error.code)) throw error;
      }
      const info = await store.describe('s');
      expectInvariants(info);
      for (const v of info.versions) {
        if (v.hasValue && values.has(v.versionId)) expect(await store.getValue('s', { versionId: v.versionId })).toBe(values.get(v.versionId));
      }
    }
  });
});

describe('FileStore: input validation', () => {
  it('refuses malformed secret ids with INVALID_INPUT naming the rule', async () => {
    const store = makeStore();
    for (const bad of ['', 'a'.repeat(513), 'has space', 'naïve', 'semi;colon', 'new\nline']) {
      const error = await expectCode(store.createSecret(bad, 'v'), 'INVALID_INPUT');
      expect(error.message).toContain('1 to 512 characters');
      await expectCode(store.describe(bad), 'INVALID_INPUT');
    }
    await store.createSecret('a'.repeat(512), 'v');
    await store.createSecret('arn:aws:secretsmanager/x_y+z=w.v@u-1', 'v');
    expect(await store.list()).toHaveLength(2);
  });

  it('refuses malformed version ids', async () => {
    const store = makeStore();
    await store.createSecret('s', 'v');
    await expectCode(store.startRotation('s', ''), 'INVALID_INPUT');
    await expectCode(store.putPending('s', 'bad token', 'v'), 'INVALID_INPUT');
    await expectCode(store.promote('s', 'x'.repeat(129)), 'INVALID_INPUT');
  });

  it(`accepts values up to ${MAX_SECRET_BYTES} bytes and refuses larger ones without echoing them`, async () => {
    const store = makeStore();
    await store.createSecret('s', 'x'.repeat(MAX_SECRET_BYTES));
    expect(await store.getValue('s', { stage: 'CURRENT' })).toHaveLength(MAX_SECRET_BYTES);
    const big = 'secret-' + 'é'.repeat(MAX_SECRET_BYTES / 2); // > limit in bytes, < limit in characters
    const before = raw(store);
    for (const call of [store.createSecret('t', big), store.putValue('s', big), store.putPending('s', 'tok', big)]) {
      const error = await expectCode(call, 'INVALID_INPUT');
      expect(error.message).toContain(String(MAX_SECRET_BYTES));
      expect(error.message).not.toContain('secret-é');
    }
    expect(raw(store)).toBe(before);
  });
});

describe('FileStore: the write lock of a secret', () => {
  it('gives STORE_LOCKED (retryable, naming the holder) when the secret\'s lock stays held, and writes nothing; other secrets are written meanwhile', async () => {
    const store = makeStore({ lock: { timeoutMs: 150 } });
    await store.createSecret('s', 'v');
    await store.createSecret('t', 'v');
    const before = readFileSync(secretFilePath(store.path, 's'));
    const held = await tryLock(secretLockPath(store.path, 's'));
    if (!held.acquired) throw new Error('could not take the secret\'s lock');
    const started = Date.now();
    const error = await expectCode(store.putValue('s', 'other'), 'STORE_LOCKED');
    expect(Date.now() - started).toBeGreaterThanOrEqual(140);
    expect(isRotatorError(error) && error.retryable).toBe(true);
    expect(error.message).toContain(`pid ${process.pid}`);
    expect(error.message).toContain(secretLockPath(store.path, 's'));
    expect(readFileSync(secretFilePath(store.path, 's')).equals(before)).toBe(true);
    // Reads take no lock, and another secret has its own.
    expect(await store.getValue('s', { stage: 'CURRENT' })).toBe('v');
    await store.putValue('t', 'other-t');
    await store.createSecret('u', 'v');
    expect(await store.getValue('t', { stage: 'CURRENT' })).toBe('other-t');
    await held.lock.release();
    await store.putValue('s', 'other');
    expect(await store.getValue('s', { stage: 'CURRENT' })).toBe('other');
  });

  it('serializes concurrent writes from one process without losing any', async () => {
    const store = makeStore({ newVersionId: undefined });
    await store.createSecret('shared', 'start');
    await Promise.all(Array.from({ length: 20 }, (_, i) => store.putValue('shared', `value-${i}`)));
    const info = await store.describe('shared');
    expect(info.versions).toHaveLength(21);
    expectInvariants(info);
    const stored = await Promise.all(info.versions.map((v) => store.getValue('shared', { versionId: v.versionId })));
    expect(new Set(stored)).toEqual(new Set(['start', ...Array.from({ length: 20 }, (_, i) => `value-${i}`)]));
  });
});

describe('FileStore: tags', () => {
  it('keeps tags in the description: set at creation, replaced by setTags, removed by an empty record, carried across new values', async () => {
    const store = makeStore();
    await store.createSecret('db-app', '{"v":1}', { tags: { team: 'payments' } });
    expect((await store.describe('db-app')).tags).toEqual({ team: 'payments' });
    await store.setTags('db-app', { team: 'ledger', env: 'prod' });
    await store.putValue('db-app', '{"v":2}');
    expect((await store.describe('db-app')).tags).toEqual({ team: 'ledger', env: 'prod' });
    // The description hands out a copy: changing it changes nothing stored.
    const info = await store.describe('db-app');
    (info.tags as Record<string, string>).team = 'changed';
    expect((await store.describe('db-app')).tags.team).toBe('ledger');
    await store.setTags('db-app', {});
    expect((await store.describe('db-app')).tags).toEqual({});
    // A secret without tags is written without the key, so a store with none reads as before.
    expect(Object.hasOwn(readSecretFile(store.path, 'db-app'), 'tags')).toBe(false);
  });

  it('refuses tags outside the limits with INVALID_INPUT and stores nothing', async () => {
    const store = makeStore();
    await store.createSecret('db-app', '{"v":1}', { tags: { team: 'payments' } });
    const bad: Array<Record<string, string>> = [
      { 'aws:owner': 'x' }, // reserved on AWS
      { ['__proto__']: 'x' },
      { 'line\nbreak': 'x' },
      { team: 'a\u0000b' },
      { ['k'.repeat(129)]: 'x' },
      { team: 'v'.repeat(257) },
      Object.fromEntries(Array.from({ length: 51 }, (_, i) => [`k${i}`, 'v'])),
    ];
    for (const tags of bad) {
      await expectCode(store.setTags('db-app', tags), 'INVALID_INPUT');
      await expectCode(store.createSecret('db-other', '{"v":1}', { tags }), 'INVALID_INPUT');
    }
    expect((await store.describe('db-app')).tags).toEqual({ team: 'payments' });
    expect(await store.listSecretIds()).toEqual(['db-app']);
  });
});

describe('FileStore: temp files of writers that died', () => {
  it('the next write of a secret removes the one its killed writer left; a read removes nothing, and other secrets\' stay until they are written', async () => {
    const store = makeStore();
    await store.createSecret('s', 'one');
    await store.createSecret('t', 'one');
    // A killed writer's temp file is a whole copy of the secret: values the purger may since have retired.
    const leftS = secretTempPath(secretFilePath(store.path, 's'));
    const leftT = secretTempPath(secretFilePath(store.path, 't'));
    for (const [left, id] of [[leftS, 's'], [leftT, 't']] as const) writeFileSync(left, readFileSync(secretFilePath(store.path, id)));
    const other = join(secretsDir(store.path), 'notes.txt');
    writeFileSync(other, 'a person\'s file');

    await store.getValue('s', { stage: 'CURRENT' }); // a read writes nothing, and removes nothing
    expect(existsSync(leftS)).toBe(true);
    await store.putValue('s', 'two');
    expect(existsSync(leftS)).toBe(false);
    expect(existsSync(leftT)).toBe(true);
    expect(existsSync(other)).toBe(true);
    expect(await store.getValue('s', { stage: 'CURRENT' })).toBe('two');
    // Neither the temp file nor the person's file is taken for a secret.
    expect(await store.listSecretIds()).toEqual(['s', 't']);
    await store.deleteSecret('t'); // deleting the secret removes its leftover too
    expect(existsSync(leftT)).toBe(false);
  });

  it('the write that creates the store removes the store file\'s temp files of dead writers (dead pid, or older than any write takes); a live writer\'s fresh one and other files stay', async () => {
    const dead = deadPid();
    const store = makeStore({ lock: { isAlive: (pid) => pid !== dead } });
    const abandoned = `.store.json.${dead}.0123456789ab.tmp`;
    const old = `.store.json.${process.pid}.abcdefabcdef.tmp`;
    const live = `.store.json.${process.pid}.fedcba987654.tmp`;
    const others = ['.store.json.notes.tmp', `.other.json.${dead}.0123456789ab.tmp`, 'store.json.bak'];
    // A creator killed between its write and its rename leaves a temp file of the manifest and no store file.
    for (const name of [abandoned, old, live, ...others]) writeFileSync(join(dir, name), '{}');
    const hourAgo = new Date(Date.now() - 3_600_000);
    utimesSync(join(dir, old), hourAgo, hourAgo);

    expect(await store.list()).toEqual([]); // a read writes nothing, and removes nothing
    expect(existsSync(join(dir, abandoned))).toBe(true);
    await store.createSecret('s', 'one');
    expect(existsSync(join(dir, abandoned))).toBe(false);
    expect(existsSync(join(dir, old))).toBe(false);
    expect(existsSync(join(dir, live))).toBe(true);
    for (const name of others) expect(existsSync(join(dir, name))).toBe(true);
    expect(await store.getValue('s', { stage: 'CURRENT' })).toBe('one');
  });
});

describe('FileStore: what else is in the directory of secrets', () => {
  it('ignores names that are not a secret file, refuses a non-regular file and a symlink to another secret\'s file, without hanging', async () => {
    const store = makeStore();
    await store.createSecret('s', 'one');
    await store.createSecret('t', 'two');
    const dir = secretsDir(store.path);
    const sFile = secretFilePath(store.path, 's');
    // Near misses of the name pattern are a person's files, not secrets.
    for (const name of [basename(sFile).toUpperCase(), basename(sFile).slice(1), `${basename(sFile)}.bak`, 'a'.repeat(64) + '.json~']) writeFileSync(join(dir, name), 'not a secret');
    expect(await store.listSecretIds()).toEqual(['s', 't']);

    // A symlink at another secret's name resolves to a file that names its own secret: refused, read as neither.
    const uFile = secretFilePath(store.path, 'u');
    symlinkSync(sFile, uFile);
    await expectCode(store.describe('u'), 'STORE_CORRUPT');
    await expectCode(store.listSecretIds(), 'STORE_CORRUPT');
    expect(await store.getValue('s', { stage: 'CURRENT' })).toBe('one');

    // A directory where a secret file should be is STORE_IO, for that secret and for the listing.
    rmSync(uFile);
    mkdirSync(uFile);
    const error = await expectCode(store.describe('u'), 'STORE_IO');
    expect(error.message).toContain('not a regular file');
    await expectCode(store.list(), 'STORE_IO');
    expect(await store.getValue('t', { stage: 'CURRENT' })).toBe('two');
  });
});
