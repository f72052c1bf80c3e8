import { createHash } from 'node:crypto';
import { chmodSync, existsSync, readFileSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { isRotatorError, type ErrorCode } from '../../shared/errors.js';
import { FileStore, KEY_ENV, loadKey, loadOrCreateKey } from '../../stores/file/index.js';
import { recordSecrets } from '../support/canary.js';
import { makeTempDir, randomKey } from '../fixtures/file-store-helpers.js';

let dir: string;
let path: string;
let cleanup: () => void;
beforeEach(() => {
  ({ dir, cleanup } = makeTempDir());
  path = join(dir, 'store.json');
});
afterEach(() => cleanup());

async function expectCode(promise: Promise<unknown>, code: ErrorCode): Promise<Error> {
  let caught: unknown;
  try {
    await promise;
  } catch (error) {
    caught = error;
  }
  expect(isRotatorError(caught) ? caught.code : caught).toBe(code);
  return caught as Error;
}

const sha256 = (file: string): string => createHash('sha256').update(readFileSync(file)).digest('hex');

interface RawVersion {
  versionId: string;
  value?: { iv: string; tag: string; data: string };
}
interface RawDoc {
  format: string;
  version: number;
  secrets: { secretId: string; versions: RawVersion[] }[];
}
const readDoc = (): RawDoc => JSON.parse(readFileSync(path, 'utf8')) as RawDoc;
const writeDoc = (doc: RawDoc): void => writeFileSync(path, JSON.stringify(doc, null, 2));

function firstValue(doc: RawDoc, secret = 0, version = 0): NonNullable<RawVersion['value']> {
  const value = doc.secrets[secret]?.versions[version]?.value;
  if (value === undefined) throw new Error('no such value in the test store');
  return value;
}

const PLAIN = 'hunter2-plaintext-password-0123456789';

/** Every operation, read or write, that touches the store file. */
function allOperations(store: FileStore): [string, () => Promise<unknown>][] {
  return [
    ['describe', () => store.describe('db/app')],
    ['getValue', () => store.getValue('db/app', { stage: 'CURRENT' })],
    ['list', () => store.list()],
    ['createSecret', () => store.createSecret('db/new', 'new-value-123')],
    ['putValue', () => store.putValue('db/app', 'new-value-123')],
    ['startRotation', () => store.startRotation('db/app', 'tok-new')],
    ['putPending', () => store.putPending('db/app', 'tok-new', 'new-value-123')],
    ['promote', () => store.promote('db/app', 'tok-old')],
    ['retire', () => store.retire('db/app', 'tok-old')],
    ['updateRotation', () => store.updateRotation('db/app', { enabled: true })],
    ['deleteSecret', () => store.deleteSecret('db/app')],
  ];
}

async function seed(key: Buffer): Promise<FileStore> {
  recordSecrets(PLAIN);
  const store = new FileStore({ path, key });
  await store.createSecret('db/app', PLAIN);
  await store.putPending('db/app', 'tok-old', 'second-value-abcdef');
  await store.createSecret('db/other', 'other-value-abcdef');
  return store;
}

describe('FileStore: encryption at rest', () => {
  it('never writes the plaintext, and marks the file with its format and version', async () => {
    await seed(randomKey());
    const bytes = readFileSync(path);
    for (const form of [PLAIN, Buffer.from(PLAIN).toString('base64'), Buffer.from(PLAIN).toString('hex'), 'second-value-abcdef']) {
      expect(bytes.includes(form)).toBe(false);
    }
    const doc = readDoc();
    expect(doc.format).toBe('rotator-file-store');
    expect(doc.version).toBe(1);
    const value = firstValue(doc);
    expect(Buffer.from(value.iv, 'base64')).toHaveLength(12);
    expect(Buffer.from(value.tag, 'base64')).toHaveLength(16);
    // A fresh IV per value: two versions never share one.
    const ivs = doc.secrets.flatMap((s) => s.versions.map((v) => v.value?.iv));
    expect(new Set(ivs).size).toBe(ivs.length);
    expect(statSync(path).mode & 0o777).toBe(0o600);
    // The atomic write leaves no temporary file behind.
    expect(readdirSync(dir)).toEqual(['store.json']);
  });

  it('binds each ciphertext to its secret and version: a value moved to another slot fails as STORE_CORRUPT', async () => {
    const store = await seed(randomKey());
    const doc = readDoc();
    // Copy db/app's first value over db/other's: valid base64, valid GCM under the right key, wrong slot.
    const other = doc.secrets.find((s) => s.secretId === 'db/other')?.versions[0];
    const app = doc.secrets.find((s) => s.secretId === 'db/app')?.versions[0];
    if (other === undefined || app?.value === undefined) throw new Error('unexpected test store');
    other.value = { ...app.value };
    writeDoc(doc);
    const hash = sha256(path);
    const error = await expectCode(store.getValue('db/other', { stage: 'CURRENT' }), 'STORE_CORRUPT');
    expect(error.message).toContain('db/other');
    expect(sha256(path)).toBe(hash);
  });
});

describe('FileStore: wrong key', () => {
  it('gives STORE_KEY_MISMATCH naming the key source for every operation and leaves the file untouched', async () => {
    await seed(randomKey());
    const hash = sha256(path);
    const wrong = new FileStore({ path, key: randomKey(), keySource: 'the key file /somewhere/store.key' });
    for (const [name, run] of allOperations(wrong)) {
      const error = await expectCode(run(), 'STORE_KEY_MISMATCH');
      expect(error.message, name).toContain('/somewhere/store.key');
      expect(error.message, name).toContain(path);
      expect(error.message, name).not.toContain(PLAIN);
      expect(sha256(path), name).toBe(hash);
    }
  });

  it('is detected on a store that holds no secret, through the key check', async () => {
    const store = new FileStore({ path, key: randomKey() });
    await store.createSecret('tmp', 'tmp-value-1234');
    await store.deleteSecret('tmp');
    expect(await store.list()).toEqual([]);
    const hash = sha256(path);
    const wrong = new FileStore({ path, key: randomKey() });
    await expectCode(wrong.list(), 'STORE_KEY_MISMATCH');
    await expectCode(wrong.createSecret('x', 'v'), 'STORE_KEY_MISMATCH');
    expect(sha256(path)).toBe(hash);
  });

  it('names the variable when the key came from ROTATOR_STORE_KEY, and the key file otherwise', async () => {
    const keyFile = join(dir, 'store.json.key');
    const fileKey = await loadOrCreateKey({ env: {}, storePath: path });
    await new FileStore({ path, key: fileKey }).createSecret('s', 'value-123456');
    const envKey = await loadOrCreateKey({ env: { [KEY_ENV]: randomKey().toString('base64') } });
    const fromEnv = await expectCode(new FileStore({ path, key: envKey }).list(), 'STORE_KEY_MISMATCH');
    expect(fromEnv.message).toContain(KEY_ENV);
    // A key file holding another key: the message names that file.
    writeFileSync(keyFile, randomKey().toString('base64') + '\n', { mode: 0o600 });
    const otherFileKey = await loadOrCreateKey({ env: {}, keyFile });
    const fromFile = await expectCode(new FileStore({ path, key: otherFileKey }).list(), 'STORE_KEY_MISMATCH');
    expect(fromFile.message).toContain(`the key file ${keyFile}`);
  });

  it('refuses a key that is not 32 bytes', () => {
    expect(() => new FileStore({ path, key: Buffer.alloc(16) })).toThrow(/32 bytes/);
  });
});

describe('FileStore: corrupted file', () => {
  const corruptions: [string, (text: string) => string][] = [
    ['truncated', (text) => text.slice(0, Math.floor(text.length / 2))],
    ['garbage', () => '\u0000\u0001garbage not json at all'],
    ['empty', () => ''],
    ['wrong format marker', (text) => text.replace('"rotator-file-store"', '"something-else"')],
    [
      'a byte flipped in a ciphertext',
      () => {
        const doc = readDoc();
        const value = firstValue(doc);
        const data = Buffer.from(value.data, 'base64');
        data[0] = (data[0] ?? 0) ^ 0x01;
        value.data = data.toString('base64');
        return JSON.stringify(doc, null, 2);
      },
    ],
    [
      'a flipped authentication tag',
      () => {
        const doc = readDoc();
        const value = firstValue(doc);
        const tag = Buffer.from(value.tag, 'base64');
        tag[5] = (tag[5] ?? 0) ^ 0x80;
        value.tag = tag.toString('base64');
        return JSON.stringify(doc, null, 2);
      },
    ],
    ['two versions labelled CURRENT', (text) => text.replace('"PENDING"', '"CURRENT"')],
    ['an unknown field', (text) => text.replace('"format"', '"surprise": 1, "format"')],
    ['a newer format version', (text) => text.replace('"version": 1', '"version": 2')],
  ];

  for (const [name, corrupt] of corruptions) {
    it(`${name}: every operation gives STORE_CORRUPT, names the file and leaves it byte for byte`, async () => {
      const store = await seed(randomKey());
      writeFileSync(path, corrupt(readFileSync(path, 'utf8')));
      const hash = sha256(path);
      for (const [op, run] of allOperations(store)) {
        const error = await expectCode(run(), 'STORE_CORRUPT');
        expect(error.message, op).toContain(path);
        expect(error.message, op).toMatch(name === 'a newer format version' ? /upgrade/i : /restore it from a backup/);
        expect(error.message, op).not.toContain(PLAIN);
        expect(sha256(path), op).toBe(hash);
      }
    });
  }
});

describe('loadOrCreateKey', () => {
  it('creates a 0600 key file on first use and reuses it afterwards', async () => {
    const keyFile = join(dir, 'keys', 'store.key');
    const first = await loadKey({ env: {}, keyFile });
    expect(first.created).toBe(true);
    expect(first.key).toHaveLength(32);
    expect(statSync(keyFile).mode & 0o777).toBe(0o600);
    expect(readFileSync(keyFile, 'utf8').trim()).toBe(first.key.toString('base64'));
    const again = await loadKey({ env: {}, keyFile });
    expect(again.created).toBe(false);
    expect(again.key.equals(first.key)).toBe(true);
  });

  it('defaults the key file to the store path + ".key"', async () => {
    const key = await loadOrCreateKey({ env: {}, storePath: path });
    expect(readFileSync(`${path}.key`, 'utf8').trim()).toBe(key.toString('base64'));
  });

  it('refuses to make a new key for a store that already exists, and creates nothing', async () => {
    const key = await loadOrCreateKey({ env: {}, storePath: path });
    await new FileStore({ path, key }).createSecret('db/app', 'value-that-needs-the-old-key');
    recordSecrets('value-that-needs-the-old-key');
    const keyFile = join(dir, 'other.key');
    const error = await expectCode(loadKey({ env: {}, storePath: path, keyFile }), 'STORE_KEY_MISMATCH');
    expect(error.message).toMatch(/exists but its key file .*other\.key does not; restore the key file/);
    expect(existsSync(keyFile)).toBe(false);
  });

  it('gives every one of many concurrent first callers the same key', async () => {
    const keyFile = join(dir, 'race.key');
    const results = await Promise.all(Array.from({ length: 12 }, () => loadKey({ env: {}, keyFile })));
    expect(new Set(results.map((r) => r.key.toString('hex'))).size).toBe(1);
    expect(results.filter((r) => r.created)).toHaveLength(1);
  });

  it('uses ROTATOR_STORE_KEY when set, without touching any key file', async () => {
    const key = randomKey();
    const keyFile = join(dir, 'unused.key');
    const loaded = await loadKey({ env: { [KEY_ENV]: key.toString('base64') + '\n' }, keyFile });
    expect(loaded.key.equals(key)).toBe(true);
    expect(loaded.source).toBe(KEY_ENV);
    expect(existsSync(keyFile)).toBe(false);
  });

  it('refuses a malformed ROTATOR_STORE_KEY, naming the variable and format but not the value', async () => {
    const keyFile = join(dir, 'unused.key');
    const bad = [
      '',
      'not-base64-at-all!!',
      randomKey().subarray(0, 16).toString('base64'), // 16 bytes
      Buffer.concat([randomKey(), Buffer.from([1])]).toString('base64'), // 33 bytes
      randomKey().toString('hex'), // 64 hex characters
      randomKey().toString('base64url'),
    ];
    for (const value of bad) {
      const error = await expectCode(loadOrCreateKey({ env: { [KEY_ENV]: value }, keyFile }), 'INVALID_INPUT');
      expect(error.message).toContain(KEY_ENV);
      expect(error.message).toContain('base64');
      expect(error.message).toContain('32 bytes');
      if (value.length > 0) expect(error.message).not.toContain(value);
    }
    expect(existsSync(keyFile)).toBe(false);
  });

  it('refuses a key file that group or others can read, telling to chmod 600', async () => {
    const keyFile = join(dir, 'open.key');
    writeFileSync(keyFile, randomKey().toString('base64') + '\n');
    chmodSync(keyFile, 0o644);
    const error = await rejects(loadOrCreateKey({ env: {}, keyFile }));
    expect(error.message).toContain(`chmod 600 ${keyFile}`);
    expect(error.message).not.toContain(readFileSync(keyFile, 'utf8').trim());
    chmodSync(keyFile, 0o600);
    expect(await loadOrCreateKey({ env: {}, keyFile })).toHaveLength(32);
  });

  it('refuses a key file that does not hold a key', async () => {
    const keyFile = join(dir, 'broken.key');
    writeFileSync(keyFile, 'this is not a key\n', { mode: 0o600 });
    const error = await expectCode(loadOrCreateKey({ env: {}, keyFile }), 'INVALID_INPUT');
    expect(error.message).toContain(keyFile);
    expect(readFileSync(keyFile, 'utf8')).toBe('this is not a key\n'); // never replaced by a new key
  });
});

async function rejects(promise: Promise<unknown>): Promise<Error> {
  try {
    await promise;
  } catch (error) {
    return error as Error;
  }
  throw new Error('expected a rejection');
}
