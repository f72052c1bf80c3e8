import { execFileSync } from 'node:child_process';
import { mkdirSync, symlinkSync, truncateSync, writeFileSync, existsSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import type { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { readFileBounded, readStreamBounded, SLACK_BYTES } from '../../cli/input.js';
import { runCli } from '../../cli/program.js';
import { EXIT } from '../../cli/exit-codes.js';
import { parsePurgeEvent } from '../../functions/aws/purge-handler.js';
import { parseRotationEvent } from '../../functions/aws/rotate.js';
import { createMysqlRotator } from '../../rotators/mysql/index.js';
import { createPostgresRotator } from '../../rotators/postgres/index.js';
import { escapeControl, hasControlCharacter } from '../../shared/control-chars.js';
import { RotationEngine } from '../../shared/engine.js';
import { RotatorError, isRotatorError, toRotatorError } from '../../shared/errors.js';
import { silentLogger } from '../../shared/logger.js';
import { parseSecretJson } from '../../shared/secret.js';
import { checkSecretId } from '../../shared/secret-id.js';
import { AwsSecretStore } from '../../stores/aws/index.js';
import { FileStore, loadKey } from '../../stores/file/index.js';
import { canaryLogger, recordOutput, recordSecrets } from '../support/canary.js';
import { MemoryTarget } from '../support/memory-target.js';
import { createTestStore, storeWith } from '../support/stores.js';
import { rejection } from '../support/unreachable.js';
import { makeTempDir, randomKey, storeSnapshot } from '../fixtures/file-store-helpers.js';

/**
 * Limits at the edge (issue 9, item 2). Table-driven so the hostile-input suite can take the rows as they are:
 * every row asserts the typed error code, the field named in the message, no echo of the value, and nothing
 * mutated (store file or versions unchanged, no connection made).
 */

/** The characters every field and id must refuse: C0, DEL, C1, Unicode separators, bidi controls. */
const CONTROL_CHARS: ReadonlyArray<readonly [string, string]> = [
  ['NUL', '\0'],
  ['CR', '\r'],
  ['LF', '\n'],
  ['TAB', '\t'],
  ['ESC', '\x1b'],
  ['BEL', '\x07'],
  ['DEL', '\x7f'],
  ['C1 NEL', '\x85'],
  ['C1 CSI', '\x9b'],
  ['LINE SEPARATOR', '\u2028'],
  ['PARAGRAPH SEPARATOR', '\u2029'],
  ['RIGHT-TO-LEFT OVERRIDE', '\u202e'],
  ['LEFT-TO-RIGHT ISOLATE', '\u2066'],
];

/** What follows the character in every hostile value: it must never appear in any message or output. */
const MARK = 'SMUGGLED';
const hostile = (prefix: string, char: string): string => `${prefix}${char}${MARK}`;

function errorOf(run: () => unknown): RotatorError {
  try {
    run();
  } catch (error) {
    if (isRotatorError(error)) return error;
    throw error;
  }
  throw new Error('expected a RotatorError');
}

const ctx = { logger: silentLogger() };
const postgresBase = { engine: 'postgres', host: 'db.internal.example', port: 5432, username: 'app', password: 'edge-Password-1234', dbname: 'orders', ssl: true };
const mysqlBase = { ...postgresBase, engine: 'mysql', port: 3306 };
const MASTER_ARN = 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:master-AbCdEf';
recordSecrets(postgresBase.password);

/** Connection fields and what a hostile value of each is made from (ports and flags are strings in hand-written secrets). */
const CONNECTION_FIELDS: ReadonlyArray<readonly [string, string]> = [
  ['host', 'db.internal.example'],
  ['port', '5432'],
  ['dbname', 'orders'],
  ['username', 'app'],
  ['masterarn', MASTER_ARN],
  ['ssl', 'true'],
];

const rows = <F extends readonly unknown[]>(fields: ReadonlyArray<F>): Array<[...F, string, string]> =>
  fields.flatMap((field) => CONTROL_CHARS.map(([name, char]): [...F, string, string] => [...field, name, char]));

describe('connection fields refuse control characters, naming the field and never the value', () => {
  const engines = [
    ['postgres', createPostgresRotator({ connectTimeoutMs: 200 }), postgresBase],
    ['mysql', createMysqlRotator({ connectTimeoutMs: 200 }), mysqlBase],
  ] as const;

  for (const [engine, rotator, base] of engines) {
    it.each(rows(CONNECTION_FIELDS))(`${engine}: %s with %s is INVALID_SECRET`, (field, prefix, _name, char) => {
      const e = errorOf(() => rotator.validate({ ...base, [field]: hostile(prefix, char) }, 'the secret'));
      expect(e.code).toBe('INVALID_SECRET');
      expect(e.message).toContain(`${field}:`);
      expect(e.message).not.toContain(MARK);
    });

    it(`${engine}: a NUL in the password is refused, other characters are the password's own`, () => {
      const e = errorOf(() => rotator.validate({ ...base, password: `edge-Pass\0${MARK}` }, 'the secret'));
      expect(e.code).toBe('INVALID_SECRET');
      expect(e.message).toContain('password:');
      expect(e.message).not.toContain(MARK);
      expect(() => rotator.validate({ ...base, password: 'tab\there-and-é-fine' }, 'the secret')).not.toThrow();
    });
  }

  it('the engine name (echoed in later messages) refuses control characters too', () => {
    for (const [, char] of CONTROL_CHARS) {
      const e = errorOf(() => createPostgresRotator({}).validate({ ...postgresBase, engine: hostile('postgres', char) }, 'the secret'));
      expect(e.code).toBe('INVALID_SECRET');
      expect(e.message).toContain('engine:');
      expect(e.message).not.toContain(MARK);
    }
  });

  it('real names still pass: unicode user and database names, RDS-managed master ARNs', () => {
    const names = { username: 'usér_ünïcode', dbname: 'база', masterarn: 'arn:aws:secretsmanager:us-east-1:123456789012:secret:rds!db-0a1b2c3d-4e5f-6789-abcd-ef0123456789-AbCdEf' };
    expect(() => createPostgresRotator({}).validate({ ...postgresBase, ...names }, 'the secret')).not.toThrow();
    expect(() => createMysqlRotator({}).validate({ ...mysqlBase, ...names }, 'the secret')).not.toThrow();
  });
});

describe('a NUL in dbname never reaches the server', () => {
  // A listener that counts connections: the old code connected and sent "dbname\0user\0admin" in the startup packet.
  let server: Server;
  let port: number;
  let connections = 0;
  beforeAll(async () => {
    server = createServer((socket) => {
      connections += 1;
      socket.destroy();
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    port = (server.address() as { port: number }).port;
  });
  afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

  const smuggled = `postgres\0user\0admin`;
  it.each([
    ['postgres works', () => createPostgresRotator({ connectTimeoutMs: 500 }).works({ ...postgresBase, host: '127.0.0.1', port, ssl: false, dbname: smuggled }, ctx)],
    ['postgres test', () => createPostgresRotator({ connectTimeoutMs: 500 }).test({ ...postgresBase, host: '127.0.0.1', port, ssl: false, dbname: smuggled }, ctx)],
    ['mysql works', () => createMysqlRotator({ connectTimeoutMs: 500 }).works({ ...mysqlBase, host: '127.0.0.1', port, ssl: false, dbname: smuggled }, ctx)],
    ['postgres user', () => createPostgresRotator({ connectTimeoutMs: 500 }).works({ ...postgresBase, host: '127.0.0.1', port, ssl: false, username: `app\0database\0x` }, ctx)],
  ])('%s: INVALID_SECRET before any connection', async (_what, run) => {
    const before = connections;
    const e = await rejection(run);
    expect(e.code).toBe('INVALID_SECRET');
    expect(e.message).toMatch(/(dbname|username): must not contain control characters/);
    expect(e.message).not.toContain('admin');
    expect(connections).toBe(before);
  });
});

describe('secret ids: one grammar at every entry point, checked before anything echoes them', () => {
  let dir: string;
  let cleanup: () => void;
  let env: NodeJS.ProcessEnv;
  let storePath: string;
  const good = JSON.stringify({ engine: 'other', token: 'edge-token-value-1' });
  recordSecrets('edge-token-value-1');

  beforeEach(async () => {
    ({ dir, cleanup } = makeTempDir('rotator-edge-'));
    storePath = join(dir, 'store.json');
    env = { ROTATOR_STORE: storePath };
    expect((await cli(['secrets', 'put', 'db/app'], good)).code).toBe(EXIT.OK);
  });
  afterEach(() => cleanup());

  async function cli(args: string[], stdin = ''): Promise<{ code: number; out: string }> {
    let out = '';
    const code = await runCli(args, { env, stdout: (s) => (out += s), stderr: (s) => (out += s), readStdin: () => Promise.resolve(stdin) });
    recordOutput(out);
    return { code, out };
  }

  const commands: ReadonlyArray<readonly [string, (id: string) => string[]]> = [
    ['secrets put', (id) => ['secrets', 'put', id]],
    ['secrets describe', (id) => ['secrets', 'describe', id]],
    ['secrets get', (id) => ['secrets', 'get', id]],
    ['secrets rotation', (id) => ['secrets', 'rotation', id, '--enable']],
    ['secrets cancel-rotation', (id) => ['secrets', 'cancel-rotation', id]],
    ['rotate', (id) => ['rotate', id]],
    ['purge', (id) => ['purge', 'db/app', id]],
  ];

  it.each(rows(commands))('CLI %s with %s in the id: INVALID_INPUT, nothing echoed, store unchanged', async (_command, args, _name, char) => {
    const before = storeSnapshot(storePath);
    // Not JSON: the old `put` quoted the id in its JSON error before the store looked at it.
    const { code, out } = await cli(args(hostile('db/app', char)), 'not json');
    expect(code).toBe(EXIT.USAGE);
    expect(out).toContain('INVALID_INPUT: the secret id is invalid: must not contain control characters');
    expect(out).not.toContain(MARK);
    expect(storeSnapshot(storePath)).toBe(before);
  });

  it.each(CONTROL_CHARS)('file store and AWS store refuse %s in an id before any I/O', async (_name, char) => {
    const id = hostile('db/app', char);
    const before = storeSnapshot(storePath);
    const store = new FileStore({ path: storePath, key: randomKey() });
    for (const call of [() => store.describe(id), () => store.createSecret(id, good), () => store.lockRotation(id)]) {
      const e = await rejection(call);
      expect(e.code).toBe('INVALID_INPUT');
      expect(e.message).toContain('the secret id');
      expect(e.message).not.toContain(MARK);
    }
    expect(storeSnapshot(storePath)).toBe(before);
    expect(existsSync(`${storePath}.locks`)).toBe(false);

    let calls = 0;
    const aws = new AwsSecretStore({ client: { send: () => ((calls += 1), Promise.reject(new Error('no call expected'))) } as unknown as SecretsManagerClient });
    for (const call of [() => aws.describe(id), () => aws.getValue(id, { stage: 'CURRENT' }), () => aws.putPending(id, 'a'.repeat(32), good)]) {
      const e = await rejection(call);
      expect(e.code).toBe('INVALID_INPUT');
      expect(e.message).not.toContain(MARK);
    }
    expect(calls).toBe(0);
  });

  it.each(CONTROL_CHARS)('Lambda events refuse %s in SecretId, ClientRequestToken and secretIds', (_name, char) => {
    const token = '0123456789abcdef0123456789abcdef';
    for (const [event, field] of [
      [{ SecretId: hostile('db/app', char), ClientRequestToken: token, Step: 'createSecret' }, 'SecretId:'],
      [{ SecretId: 'db/app', ClientRequestToken: hostile(token, char), Step: 'createSecret' }, 'ClientRequestToken:'],
    ] as const) {
      const e = errorOf(() => parseRotationEvent(event));
      expect(e.code).toBe('INVALID_INPUT');
      expect(e.message).toContain(field);
      expect(e.message).not.toContain(MARK);
    }
    const e = errorOf(() => parsePurgeEvent({ secretIds: ['db/ok', hostile('db/app', char)] }));
    expect(e.code).toBe('INVALID_INPUT');
    expect(e.message).toContain('secretIds.1:');
    expect(e.message).not.toContain(MARK);
  });

  it('accepts AWS names, ARNs and RDS-managed names; refuses the rest by length and grammar', () => {
    for (const id of ['db/app', 'a'.repeat(512), 'prod/app_1+x=y.z@w-v', 'arn:aws-us-gov:secretsmanager:us-gov-west-1:123456789012:secret:db/app-AbCdEf', 'rds!db-0a1b2c3d']) {
      expect(checkSecretId(id)).toBe(id);
    }
    for (const id of ['', 'a'.repeat(2049), 'has space', 'naïve', 'semi;colon', 'quote"', 42, undefined]) {
      const e = errorOf(() => checkSecretId(id));
      expect(e.code).toBe('INVALID_INPUT');
      expect(e.message).toMatch(/^the secret id is invalid: must be/);
    }
    expect(errorOf(() => parseRotationEvent({ SecretId: 'a'.repeat(2049), ClientRequestToken: 'b'.repeat(32), Step: 'createSecret' })).message).toContain('SecretId:');
  });
});

describe('value sizes: each store declares its limit, and oversized input is refused before it is parsed or logged', () => {
  it('the stores declare 64 KiB (AWS: the SecretString limit)', () => {
    expect(new FileStore({ path: '/nonexistent/store.json', key: randomKey() }).maxValueBytes).toBe(65_536);
    expect(new AwsSecretStore({ client: {} as unknown as SecretsManagerClient }).maxValueBytes).toBe(65_536);
  });

  it('parseSecretJson refuses by the given limit before parsing', () => {
    const raw = JSON.stringify({ engine: 'x', pad: 'y'.repeat(200) });
    expect(() => parseSecretJson(raw, 'v', 1_000)).not.toThrow();
    const e = errorOf(() => parseSecretJson(raw, 'the value', 100));
    expect(e.code).toBe('INVALID_SECRET');
    expect(e.message).toBe("the value is larger than 100 bytes, the store's limit");
  });

  it('standard input is read only up to the bound: a 50 MB stream is refused after limit + slack bytes', async () => {
    let produced = 0;
    const chunk = Buffer.alloc(16_384, 0x61);
    const huge = Readable.from(
      (function* () {
        while (produced < 50 * 1024 * 1024) {
          produced += chunk.length;
          yield chunk;
        }
      })(),
    );
    const e = await rejection(() => readStreamBounded(huge, 65_536));
    expect(e.code).toBe('INVALID_INPUT');
    expect(e.message).toBe("standard input is larger than 65536 bytes, the store's limit for a value");
    expect(produced).toBeLessThanOrEqual(65_536 + SLACK_BYTES + 2 * chunk.length);
  });

  describe('through the CLI', () => {
    let dir: string;
    let cleanup: () => void;
    let env: NodeJS.ProcessEnv;
    let storePath: string;
    beforeEach(() => {
      ({ dir, cleanup } = makeTempDir('rotator-edge-size-'));
      storePath = join(dir, 'store.json');
      env = { ROTATOR_STORE: storePath };
    });
    afterEach(() => cleanup());

    async function put(args: string[], readStdin: (max: number) => Promise<string> = () => Promise.resolve('')): Promise<{ code: number; out: string }> {
      let out = '';
      const code = await runCli(['secrets', 'put', 'db/app', ...args], { env, stdout: (s) => (out += s), stderr: (s) => (out += s), readStdin });
      recordOutput(out);
      return { code, out };
    }

    /** A JSON value of exactly `bytes` bytes. */
    const valueOf = (bytes: number): string => {
      const shell = JSON.stringify({ engine: 'other', pad: '' });
      return JSON.stringify({ engine: 'other', pad: 'p'.repeat(bytes - shell.length) });
    };

    const special: ReadonlyArray<readonly [string, (path: string) => void, RegExp]> = [
      ['a 50 MB file', (p) => (writeFileSync(p, ''), truncateSync(p, 50 * 1024 * 1024)), /is larger than 65536 bytes/],
      ['a FIFO', (p) => execFileSync('mkfifo', [p]), /is a FIFO, not a regular file/],
      ['a directory', (p) => mkdirSync(p), /is a directory, not a regular file/],
      ['a device (via a symlink)', (p) => symlinkSync('/dev/zero', p), /is a device, not a regular file/],
      ['a symlink to a FIFO', (p) => (execFileSync('mkfifo', [`${p}.fifo`]), symlinkSync(`${p}.fifo`, p)), /is a FIFO, not a regular file/],
    ];

    it.each(special)('--from-file refuses %s with INVALID_INPUT, at once, storing nothing', async (_what, make, message) => {
      const path = join(dir, 'input');
      make(path);
      const started = Date.now();
      const { code, out } = await put(['--from-file', path]);
      expect(code).toBe(EXIT.USAGE);
      expect(out).toContain('INVALID_INPUT: --from-file');
      expect(out).toMatch(message);
      expect(Date.now() - started).toBeLessThan(5_000);
      expect(existsSync(storePath)).toBe(false);
    });

    it('standard input that is too large is refused whoever read it, before the parser sees it', async () => {
      const { code, out } = await put([], (max) => Promise.resolve(valueOf(max + 1)));
      expect(code).toBe(EXIT.USAGE);
      expect(out).toContain("INVALID_INPUT: standard input is larger than 65536 bytes, the store's limit for a value");
      expect(existsSync(storePath)).toBe(false);
    });

    it('the CLI hands its reader the store limit, and a bounded reader stops there', async () => {
      let asked = 0;
      const { code, out } = await put([], (max) => {
        asked = max;
        return readStreamBounded(Readable.from([Buffer.alloc(10 * 1024 * 1024, 0x20)]), max);
      });
      expect(asked).toBe(65_536);
      expect(code).toBe(EXIT.USAGE);
      expect(out).toContain('larger than 65536 bytes');
    });

    it('a value of exactly the limit, with a trailing newline, is accepted from a file and from standard input', async () => {
      const value = valueOf(65_536);
      const path = join(dir, 'value.json');
      writeFileSync(path, value + '\n');
      expect((await put(['--from-file', path])).code).toBe(EXIT.OK);
      expect((await put([], (max) => readStreamBounded(Readable.from([Buffer.from(value + '\n')]), max))).code).toBe(EXIT.OK);
      expect((await readFileBounded(path, 65_536)).trim()).toBe(value);
    });
  });

  it("the engine checks a new value against the store's own limit, and stores nothing over it", async () => {
    const t = createTestStore();
    try {
      const initial = { engine: 'memory', host: 'db.local', username: 'app', password: 'edge-initial-password-1' };
      recordSecrets(initial.password);
      await t.store.createSecret('app/db', JSON.stringify(initial), { rotation: { enabled: true } });
      const target = new MemoryTarget();
      target.logins.set('app', initial.password);
      // Room for the current value, not for one with a longer generated password.
      const limit = Buffer.byteLength(JSON.stringify(initial)) + 2;
      const small = storeWith(t.store, { maxValueBytes: limit });
      const engine = new RotationEngine({ store: small, rotators: [target], logger: canaryLogger([]), env: {} });
      const e = await rejection(() => engine.rotate('app/db'));
      expect(e.code).toBe('INVALID_SECRET');
      expect(e.message).toContain(`would exceed ${limit} bytes`);
      const info = await t.store.describe('app/db');
      expect(info.versions.filter((v) => v.hasValue)).toHaveLength(1);
      expect(target.logins.get('app')).toBe(initial.password);
    } finally {
      await t.dispose();
    }
  });
});

describe('the key file and the store file must be regular files', () => {
  let dir: string;
  let cleanup: () => void;
  beforeEach(() => ({ dir, cleanup } = makeTempDir('rotator-edge-key-')));
  afterEach(() => cleanup());

  const kinds: ReadonlyArray<readonly [string, (path: string) => void, string]> = [
    ['a FIFO', (p) => execFileSync('mkfifo', [p]), 'a FIFO'],
    ['a directory', (p) => mkdirSync(p), 'a directory'],
    ['a device (via a symlink)', (p) => symlinkSync('/dev/zero', p), 'a device'],
    ['a symlink to a FIFO', (p) => (execFileSync('mkfifo', [`${p}.fifo`]), symlinkSync(`${p}.fifo`, p)), 'a FIFO'],
  ];

  it.each(kinds)('a key file that is %s is refused with INVALID_INPUT, without hanging', async (_what, make, kind) => {
    const keyFile = join(dir, 'store.json.key');
    make(keyFile);
    const e = await rejection(() => loadKey({ env: {}, storePath: join(dir, 'store.json'), keyFile }));
    expect(e.code).toBe('INVALID_INPUT');
    expect(e.message).toContain(`the store key file ${keyFile} is not a regular file (it is ${kind})`);
    expect(existsSync(join(dir, 'store.json'))).toBe(false);
  }, 5_000);

  it('a key file too large to be a key is refused without reading it', async () => {
    const keyFile = join(dir, 'big.key');
    writeFileSync(keyFile, '', { mode: 0o600 });
    truncateSync(keyFile, 50 * 1024 * 1024);
    const e = await rejection(() => loadKey({ env: {}, keyFile }));
    expect(e.code).toBe('INVALID_INPUT');
    expect(e.message).toContain('too large to hold a base64 32-byte key');
  });

  it('a symlink to a regular key file is fine', async () => {
    const { key } = await loadKey({ env: {}, keyFile: join(dir, 'real.key') });
    symlinkSync(join(dir, 'real.key'), join(dir, 'link.key'));
    expect((await loadKey({ env: {}, keyFile: join(dir, 'link.key') })).key.equals(key)).toBe(true);
  });

  it.each(kinds)('a store file that is %s is refused with STORE_IO, without hanging', async (_what, make, kind) => {
    const path = join(dir, 'store.json');
    make(path);
    const store = new FileStore({ path, key: randomKey() });
    const e = await rejection(() => store.list());
    expect(e.code).toBe('STORE_IO');
    expect(e.message).toContain(`it is ${kind}, not a regular file`);
  }, 5_000);
});

describe('text output escapes control characters', () => {
  it.each(CONTROL_CHARS)('escapeControl writes %s as an escape', (_name, char) => {
    const escaped = escapeControl(hostile('id', char));
    expect(hasControlCharacter(escaped)).toBe(false);
    expect(escaped).toMatch(/^id\\(0|r|n|t|x[0-9a-f]{2}|u[0-9a-f]{4})SMUGGLED$/);
  });

  it.each(CONTROL_CHARS)('a RotatorError escapes %s wherever its message came from (a server, a provider, a secret)', (_name, char) => {
    const message = new RotatorError('TARGET_ERROR', `the server said ${hostile('version', char)}`).message;
    expect(hasControlCharacter(message)).toBe(false);
    expect(message).toContain(escapeControl(hostile('version', char)));
    expect(toRotatorError(new Error(hostile('driver', char))).message).toBe(escapeControl(hostile('driver', char)));
  });

  it('the CLI error reporter escapes input quoted in a message (an engine name from the secret)', async () => {
    const { dir, cleanup } = makeTempDir('rotator-edge-out-');
    try {
      const env = { ROTATOR_STORE: join(dir, 'store.json') };
      const io = (sink: { out: string }) => ({ env, stdout: (s: string) => (sink.out += s), stderr: (s: string) => (sink.out += s) });
      const value = JSON.stringify({ engine: `nosuch\r\n${MARK}`, token: 'edge-token-value-2' });
      recordSecrets('edge-token-value-2');
      const setup = { out: '' };
      expect(await runCli(['secrets', 'put', 'x/y', '--enable-rotation'], { ...io(setup), readStdin: () => Promise.resolve(value) })).toBe(EXIT.OK);
      const sink = { out: '' };
      const code = await runCli(['rotate', 'x/y'], { ...io(sink), readStdin: () => Promise.resolve('') });
      recordOutput(setup.out + sink.out);
      expect(code).toBe(EXIT.USAGE);
      expect(sink.out).toContain('UNSUPPORTED_ENGINE');
      expect(sink.out).toContain(`nosuch\\r\\n${MARK}`);
      expect(sink.out).not.toContain(`\n${MARK}`);
    } finally {
      cleanup();
    }
  });
});
