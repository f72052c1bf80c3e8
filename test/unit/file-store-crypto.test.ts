import { createHash } from 'node:crypto';
import { chmodSync, existsSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { FileStore, KEY_ENV, loadKey, loadOrCreateKey } from '../../stores/file/index.js';
import { secretFilePath, secretsDir } from '../../stores/file/file-store.js';
import { recordSecrets } from '../support/canary.js';
import { expectCode, makeTempDir, randomKey, readSecretFile, storeSnapshot, writeSecretFile, type RawSecretFile } from '../fixtures/file-store-helpers.js';

let dir: string;
let path: string;
let cleanup: () => void;
beforeEach(() => {
  ({ dir, cleanup } = makeTempDir());
  path = join(dir, 'store.json');
});
afterEach(() => cleanup());

const sha256 = (file: string): string => createHash('sha256').update(readFileSync(file)).digest('hex');

function firstValue(secret: RawSecretFile, version = 0): NonNullable<RawSecretFile['versions'][number]['value']> {
  const value = secret.versions[version]?.value;
  if (value === undefined) throw new Error('no such value in the test store');
  return value;
}

/** Every file of the store, for checks that span all of them. */
function storeFiles(): string[] {
  const dir = secretsDir(path);
  return [path, ...readdirSync(dir).map((name) => join(dir, name))];
}

const PLAIN = 'hunter2-plaintext-password-0123456789';

/** Every operation, read or write; those on db/app are the ones a damaged db/app file must stop. */
function allOperations(store: FileStore): [string, () => Promise<unknown>][] {
  return [...appOperations(store), ...fleetOperations(store), ['createSecret', () => store.createSecret('db/new', 'new-value-123')]];
}

function appOperations(store: FileStore): [string, () => Promise<unknown>][] {
  return [
    ['describe', () => store.describe('db/app')],
    ['getValue', () => store.getValue('db/app', { stage: 'CURRENT' })],
    ['createSecret over it', () => store.createSecret('db/app', 'new-value-123')],
    ['putValue', () => store.putValue('db/app', 'new-value-123')],
    ['startRotation', () => store.startRotation('db/app', 'tok-new')],
    ['putPending', () => store.putPending('db/app', 'tok-new', 'new-value-123')],
    ['promote', () => store.promote('db/app', 'tok-old')],
    ['retire', () => store.retire('db/app', 'tok-old')],
    ['cancelRotation', () => store.cancelRotation('db/app')],
    ['updateRotation', () => store.updateRotation('db/app', { enabled: true })],
    ['setTags', () => store.setTags('db/app', { team: 'x' })],
    ['recordRotationError', () => store.recordRotationError('db/app', { code: 'TARGET_ERROR', at: new Date() })],
    ['deleteSecret', () => store.deleteSecret('db/app')],
  ];
}

/** The views over every secret. */
function fleetOperations(store: FileStore): [string, () => Promise<unknown>][] {
  return [
    ['list', () => store.list()],
    ['listSecretIds', () => store.listSecretIds()],
    ['describeAll', () => store.describeAll()],
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
  it('never writes the plaintext, and marks each file with its format and version', async () => {
    await seed(randomKey());
    for (const file of storeFiles()) {
      const bytes = readFileSync(file);
      for (const form of [PLAIN, Buffer.from(PLAIN).toString('base64'), Buffer.from(PLAIN).toString('hex'), 'second-value-abcdef']) {
        expect(bytes.includes(form), file).toBe(false);
      }
      expect(statSync(file).mode & 0o777, file).toBe(0o600);
    }
    expect(JSON.parse(readFileSync(path, 'utf8'))).toMatchObject({ format: 'rotator-file-store', version: 2 });
    const app = readSecretFile(path, 'db/app');
    expect(app).toMatchObject({ format: 'rotator-file-store-secret', version: 2, secretId: 'db/app' });
    const value = firstValue(app);
    expect(Buffer.from(value.iv, 'base64')).toHaveLength(12);
    expect(Buffer.from(value.tag, 'base64')).toHaveLength(16);
    // A fresh IV per value: two versions never share one.
    const ivs = ['db/app', 'db/other'].flatMap((id) => readSecretFile(path, id).versions.map((v) => v.value?.iv));
    expect(ivs).toHaveLength(3);
    expect(new Set(ivs).size).toBe(ivs.length);
    // One file per secret, named by its id's hash; the atomic writes leave no temporary file or lock behind.
    expect(readdirSync(dir).sort()).toEqual(['store.json', 'store.json.d']);
    expect(readdirSync(secretsDir(path)).sort()).toEqual([secretFilePath(path, 'db/app'), secretFilePath(path, 'db/other')].map((f) => f.slice(secretsDir(path).length + 1)).sort());
  });

  it('binds each ciphertext to its secret and version: a value moved to another slot fails as STORE_CORRUPT', async () => {
    const store = await seed(randomKey());
    // Copy db/app's first value over db/other's: valid base64, valid GCM under the right key, wrong slot.
    const other = readSecretFile(path, 'db/other');
    const target = other.versions[0];
    if (target === undefined) throw new Error('unexpected test store');
    target.value = { ...firstValue(readSecretFile(path, 'db/app')) };
    writeSecretFile(path, 'db/other', other);
    const before = storeSnapshot(path);
    const error = await expectCode(store.getValue('db/other', { stage: 'CURRENT' }), 'STORE_CORRUPT');
    expect(error.message).toContain('db/other');
    expect(error.message).toContain(secretFilePath(path, 'db/other'));
    expect(storeSnapshot(path)).toBe(before);
  });

  it('binds each file to its secret: a file copied or renamed onto another secret\'s name is STORE_CORRUPT, read as neither', async () => {
    const store = await seed(randomKey());
    const appFile = readFileSync(secretFilePath(path, 'db/app'), 'utf8');
    writeSecretFile(path, 'db/other', appFile); // db/app's whole file, under db/other's name
    const before = storeSnapshot(path);
    for (const [name, run] of [
      ['describe', () => store.describe('db/other')],
      ['getValue', () => store.getValue('db/other', { stage: 'CURRENT' })],
      ['putValue', () => store.putValue('db/other', 'new-value-123')],
      ...fleetOperations(store),
    ] as [string, () => Promise<unknown>][]) {
      const error = await expectCode(run(), 'STORE_CORRUPT');
      expect(error.message, name).toContain(secretFilePath(path, 'db/other'));
      expect(error.message, name).toMatch(/holds secret db\/app/);
      expect(storeSnapshot(path), name).toBe(before);
    }
    // The file's own secret is not affected.
    expect(await store.getValue('db/app', { stage: 'CURRENT' })).toBe(PLAIN);

    // With the id inside edited to match the name, the values still name db/app: no read of db/other gets one.
    writeSecretFile(path, 'db/other', appFile.replace('"secretId": "db/app"', '"secretId": "db/other"'));
    for (const run of [() => store.describe('db/other'), () => store.getValue('db/other', { stage: 'CURRENT' }), () => store.putValue('db/other', 'x-value-123')]) {
      const error = await expectCode(run(), 'STORE_CORRUPT');
      expect(error.message).toMatch(/fails authentication/);
    }
  });
});

describe('FileStore: wrong key', () => {
  it('gives STORE_KEY_MISMATCH naming the key source for every operation and leaves the file untouched', async () => {
    await seed(randomKey());
    const before = storeSnapshot(path);
    const wrong = new FileStore({ path, key: randomKey(), keySource: 'the key file /somewhere/store.key' });
    for (const [name, run] of allOperations(wrong)) {
      const error = await expectCode(run(), 'STORE_KEY_MISMATCH');
      expect(error.message, name).toContain('/somewhere/store.key');
      expect(error.message, name).toContain(path);
      expect(error.message, name).not.toContain(PLAIN);
      expect(storeSnapshot(path), name).toBe(before);
    }
  });

  it('is detected on a store that holds no secret, through the key check', async () => {
    const store = new FileStore({ path, key: randomKey() });
    await store.createSecret('tmp', 'tmp-value-1234');
    await store.deleteSecret('tmp');
    expect(await store.list()).toEqual([]);
    const before = storeSnapshot(path);
    const wrong = new FileStore({ path, key: randomKey() });
    await expectCode(wrong.list(), 'STORE_KEY_MISMATCH');
    await expectCode(wrong.createSecret('x', 'v'), 'STORE_KEY_MISMATCH');
    expect(storeSnapshot(path)).toBe(before);
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

/** Damage to a file's text; each one is refused, whichever file it hits. */
const structural: [string, (text: string) => string][] = [
  ['truncated', (text) => text.slice(0, Math.floor(text.length / 2))],
  ['garbage', () => '\u0000\u0001garbage not json at all'],
  ['empty', () => ''],
  ['wrong format marker', (text) => text.replace(/"rotator-file-store(-secret)?"/, '"something-else"')],
  ['an unknown field', (text) => text.replace('"format"', '"surprise": 1, "format"')],
  ['a newer format version', (text) => text.replace('"version": 2', '"version": 3')],
];

/** Damage inside one secret's file that only its own values or labels show. */
const inSecret: [string, (secret: RawSecretFile) => void][] = [
  [
    'a byte flipped in a ciphertext',
    (secret) => {
      const value = firstValue(secret);
      const data = Buffer.from(value.data, 'base64');
      data[0] = (data[0] ?? 0) ^ 0x01;
      value.data = data.toString('base64');
    },
  ],
  [
    'a flipped authentication tag',
    (secret) => {
      const value = firstValue(secret);
      const tag = Buffer.from(value.tag, 'base64');
      tag[5] = (tag[5] ?? 0) ^ 0x80;
      value.tag = tag.toString('base64');
    },
  ],
  [
    'two versions labelled CURRENT',
    (secret) => {
      for (const version of secret.versions) version.stages = version.stages.map((s) => (s === 'PENDING' ? 'CURRENT' : s));
    },
  ],
];

const upgradeOrRestore = (name: string): RegExp => (name === 'a newer format version' ? /upgrade/i : /restore it from a backup/);

describe('FileStore: a damaged store file (the manifest)', () => {
  for (const [name, corrupt] of structural) {
    it(`${name}: every operation gives STORE_CORRUPT, names the file and leaves every file byte for byte`, async () => {
      const store = await seed(randomKey());
      writeFileSync(path, corrupt(readFileSync(path, 'utf8')));
      const before = storeSnapshot(path);
      for (const [op, run] of allOperations(store)) {
        const error = await expectCode(run(), 'STORE_CORRUPT');
        expect(error.message, op).toContain(`store file ${path}`);
        expect(error.message, op).toMatch(upgradeOrRestore(name));
        expect(error.message, op).not.toContain(PLAIN);
        expect(storeSnapshot(path), op).toBe(before);
      }
    });
  }

  it('missing while secret files remain: STORE_CORRUPT for every operation (a new key check would not be theirs), nothing created', async () => {
    const store = await seed(randomKey());
    rmSync(path);
    const before = storeSnapshot(path);
    for (const [op, run] of allOperations(store)) {
      const error = await expectCode(run(), 'STORE_CORRUPT');
      expect(error.message, op).toContain(`${path} does not exist, but ${secretsDir(path)} holds secret files`);
      expect(storeSnapshot(path), op).toBe(before);
    }
  });
});

describe('FileStore: a damaged secret file', () => {
  const cases: [string, () => void][] = [
    ...structural.map(([name, corrupt]): [string, () => void] => [name, () => writeSecretFile(path, 'db/app', corrupt(readFileSync(secretFilePath(path, 'db/app'), 'utf8')))]),
    ...inSecret.map(([name, corrupt]): [string, () => void] => [
      name,
      () => {
        const secret = readSecretFile(path, 'db/app');
        corrupt(secret);
        writeSecretFile(path, 'db/app', secret);
      },
    ]),
  ];

  for (const [name, damage] of cases) {
    it(`${name}: every operation on that secret gives STORE_CORRUPT naming its file, other secrets work, the file stays byte for byte`, async () => {
      const store = await seed(randomKey());
      damage();
      const file = secretFilePath(path, 'db/app');
      const hash = sha256(file);
      for (const [op, run] of appOperations(store)) {
        const error = await expectCode(run(), 'STORE_CORRUPT');
        expect(error.message, op).toContain(`secret file ${file}`);
        expect(error.message, op).toMatch(upgradeOrRestore(name));
        expect(error.message, op).not.toContain(PLAIN);
        expect(sha256(file), op).toBe(hash);
      }
      // The other secrets are read and written as before, and new ones made.
      expect(await store.getValue('db/other', { stage: 'CURRENT' })).toBe('other-value-abcdef');
      await store.putValue('db/other', 'other-value-2-abcdef');
      await store.createSecret('db/new', 'new-value-123');
      expect(await store.getValue('db/new', { stage: 'CURRENT' })).toBe('new-value-123');

      // The views over every secret decrypt no value. Damage they can see fails them closed, naming the file (a listing
      // that left the secret out would let a sweep or a status skip it silently); damage only its values show is found
      // by the first operation on it.
      const valuesOnly = inSecret.some(([n]) => n === name && n !== 'two versions labelled CURRENT');
      for (const [op, run] of fleetOperations(store)) {
        if (valuesOnly) {
          await run();
          continue;
        }
        const error = await expectCode(run(), 'STORE_CORRUPT');
        expect(error.message, op).toContain(`secret file ${file}`);
      }
      expect(sha256(file)).toBe(hash);
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
