import { randomBytes } from 'node:crypto';
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { FileStore } from '../../stores/file/index.js';
import { recordSecrets } from '../support/canary.js';
import { spawnChildSync } from '../support/child.js';
import { CONTROL_CHARACTERS, cli, cliError, expectNoRawControl, snapshot, type CliRun } from './harness.js';

/**
 * Hostile command lines, standard input, environment, store and key files, through the real `rotator` entry point.
 * Each case ends in a typed error that names the problem without echoing it, never hangs, and leaves the store as it
 * was. Cases that could block a process (a FIFO, a device) run the CLI as a child with a deadline.
 */
const cliPath = fileURLToPath(new URL('../../cli/main.ts', import.meta.url));
const SEEDED = 'seeded-app';
const PASSWORD = `Seeded-${randomBytes(9).toString('base64url')}-pw`;
const VALUE = JSON.stringify({ engine: 'postgres', host: '127.0.0.1', port: 5432, username: 'app', password: PASSWORD, dbname: 'app', ssl: true });
recordSecrets(PASSWORD);

let dir: string;
let storePath: string;
let key: Buffer;
let env: NodeJS.ProcessEnv;
let store: FileStore;

beforeEach(async () => {
  dir = mkdtempSync(join(tmpdir(), 'rotator-hostile-'));
  storePath = join(dir, 'store.json');
  key = randomBytes(32);
  env = { ROTATOR_STORE: storePath, ROTATOR_STORE_KEY: key.toString('base64') };
  store = new FileStore({ path: storePath, key });
  await store.createSecret(SEEDED, VALUE, { rotation: { enabled: true } });
});

afterEach(() => {
  rmSync(dir, { recursive: true, force: true });
});

/** A typed refusal: exit 2 (bad input) or 1 (a store that cannot be used), never 0 or 70, no raw control character. */
function expectTyped(run: CliRun, codes: readonly string[], names?: string): void {
  expect([1, 2]).toContain(run.code);
  const error = cliError(run);
  expect(codes).toContain(error.code);
  if (names !== undefined) expect(error.message).toContain(names);
  expectNoRawControl(run.stdout + run.stderr);
}

/** The CLI as a child process that must finish within `ms` (a hang fails the case instead of the worker). */
function child(args: readonly string[], extraEnv: NodeJS.ProcessEnv, ms = 15_000): CliRun {
  const result = spawnChildSync(process.execPath, ['--import', 'tsx', cliPath, ...args], { env: { ...process.env, ...extraEnv }, timeout: ms, input: '' });
  expect(result.signal, 'the CLI hung and was killed').toBeNull();
  return { code: result.status ?? -1, stdout: result.stdout, stderr: result.stderr };
}

describe('secret ids', () => {
  const commands: ReadonlyArray<readonly [string, (id: string) => string[]]> = [
    ['secrets put', (id) => ['secrets', 'put', id]],
    ['rotate', (id) => ['rotate', id]],
    ['secrets describe', (id) => ['secrets', 'describe', id]],
    ['secrets get', (id) => ['secrets', 'get', id]],
    ['secrets rotation', (id) => ['secrets', 'rotation', id, '--enable']],
    ['secrets cancel-rotation', (id) => ['secrets', 'cancel-rotation', id]],
  ];
  const tricks: ReadonlyArray<readonly [string, string]> = [
    ...CONTROL_CHARACTERS,
    ['RIGHT-TO-LEFT OVERRIDE', '\u202e'],
    ['ZERO WIDTH SPACE', '\u200b'],
  ];
  const cases = commands.flatMap(([command, args]) => tricks.map(([name, ch]) => ({ command, name, args: args(`app${ch}forged`) })));

  it.each(cases)('$command refuses an id with $name before echoing it', async ({ args }) => {
    const before = await snapshot(store);
    const run = await cli(env, args, VALUE);
    expectTyped(run, ['INVALID_INPUT'], 'secret id');
    expect(await snapshot(store)).toEqual(before);
  });

  it('log forging: a CR/LF id cannot start a line of its own on stderr', async () => {
    const run = await cli(env, ['rotate', 'x\nrotator: OK: rotation finished']);
    expect(run.stderr.split('\n').filter((line) => line.startsWith('rotator: OK'))).toEqual([]);
  });

  it.each([
    ['an empty id', ''],
    ['an id of only spaces', '   '],
    ['an id of 2049 characters', 'a'.repeat(2049)],
  ])('refuses %s', async (_name, id) => {
    const before = await snapshot(store);
    const run = await cli(env, ['secrets', 'put', id], VALUE);
    expectTyped(run, ['INVALID_INPUT']);
    expect(await snapshot(store)).toEqual(before);
  });
});

describe('values at the size limit', () => {
  /** A valid secret JSON of exactly `bytes` bytes (padded with an extra key, which rotation keeps). */
  function valueOf(bytes: number): string {
    const base = JSON.parse(VALUE) as Record<string, unknown>;
    const empty = JSON.stringify({ ...base, padding: '' });
    return JSON.stringify({ ...base, padding: 'x'.repeat(bytes - empty.length) });
  }

  it('stores a value of exactly the store limit, and refuses one byte more with nothing changed', async () => {
    const limit = store.maxValueBytes;
    expect((await cli(env, ['secrets', 'put', 'at-limit'], valueOf(limit))).code).toBe(0);
    const before = await snapshot(store);
    const over = await cli(env, ['secrets', 'put', 'over-limit'], valueOf(limit + 1));
    expectTyped(over, ['INVALID_INPUT', 'INVALID_SECRET'], String(limit));
    expect(await snapshot(store)).toEqual(before);
  });

  it('refuses a 50 MB --from-file without loading it', async () => {
    const big = join(dir, 'big.json');
    writeFileSync(big, '');
    truncateSync(big, 50 * 1024 * 1024);
    const before = await snapshot(store);
    expectTyped(await cli(env, ['secrets', 'put', 'big', '--from-file', big]), ['INVALID_INPUT', 'INVALID_SECRET']);
    expect(await snapshot(store)).toEqual(before);
  });

  it('refuses a 50 MB standard input', async () => {
    const run = await cli(env, ['secrets', 'put', 'big'], 'x'.repeat(50 * 1024 * 1024));
    expectTyped(run, ['INVALID_INPUT', 'INVALID_SECRET']);
  });
});

describe('special files', () => {
  function fifo(path: string): string {
    const made = spawnChildSync('mkfifo', [path]);
    if (made.status !== 0) throw new Error('mkfifo failed');
    return path;
  }

  const fromFile: ReadonlyArray<readonly [string, () => string]> = [
    ['a FIFO', () => fifo(join(dir, 'value.fifo'))],
    ['a directory', () => dir],
    ['a character device', () => '/dev/zero'],
    ['a symlink to a FIFO', () => {
      const link = join(dir, 'value-link');
      symlinkSync(fifo(join(dir, 'other.fifo')), link);
      return link;
    }],
  ];
  it.each(fromFile)('--from-file refuses %s without hanging', async (_name, make) => {
    const path = make();
    const before = await snapshot(store);
    const run = child(['secrets', 'put', 'special', '--from-file', path], env);
    expectTyped(run, ['INVALID_INPUT', 'STORE_IO']);
    expect(await snapshot(store)).toEqual(before);
  });

  const keyFiles: ReadonlyArray<readonly [string, (path: string) => void]> = [
    ['a FIFO', (path) => fifo(path)],
    ['a directory', (path) => mkdirSync(path)],
    ['a symlink to a character device', (path) => symlinkSync('/dev/zero', path)],
    ['an empty file', (path) => writeFileSync(path, '', { mode: 0o600 })],
    ['a key of the wrong length', (path) => writeFileSync(path, randomBytes(31), { mode: 0o600 })],
    ['a key file others can read', (path) => {
      writeFileSync(path, randomBytes(32), { mode: 0o600 });
      chmodSync(path, 0o644);
    }],
  ];
  it.each(keyFiles)('a key file that is %s is refused without hanging', (_name, make) => {
    const keyFile = join(dir, 'special.key');
    make(keyFile);
    const run = child(['secrets', 'list'], { ROTATOR_STORE: join(dir, 'other-store.json'), ROTATOR_STORE_KEY_FILE: keyFile, ROTATOR_STORE_KEY: undefined });
    expectTyped(run, ['INVALID_INPUT', 'STORE_IO', 'STORE_KEY_MISMATCH', 'STORE_CORRUPT']);
  });
});

describe('corrupted stores', () => {
  const corruptions: ReadonlyArray<readonly [string, (bytes: Buffer) => Buffer | string]> = [
    ['truncated', (bytes) => bytes.subarray(0, Math.floor(bytes.length / 2))],
    ['not JSON', () => 'this is not a store'],
    ['empty', () => ''],
    ['one flipped byte', (bytes) => {
      const copy = Buffer.from(bytes);
      const at = Math.floor(copy.length * 0.75);
      copy[at] = (copy[at] ?? 0) ^ 0x01;
      return copy;
    }],
    ['a JSON array', () => '[]'],
    ['a prototype-polluting document', () => '{"__proto__":{"polluted":true},"version":1}'],
  ];
  it.each(corruptions)('a store file that is %s ends in a typed error and stays as it was', async (_name, corrupt) => {
    writeFileSync(storePath, corrupt(readFileSync(storePath)));
    const bytes = readFileSync(storePath);
    for (const args of [['secrets', 'list'], ['rotate', SEEDED], ['secrets', 'put', 'new-app']]) {
      expectTyped(await cli(env, args, VALUE), ['STORE_CORRUPT', 'STORE_KEY_MISMATCH', 'STORE_IO']);
    }
    expect(readFileSync(storePath).equals(bytes)).toBe(true);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });

  it('a store read with another key ends in STORE_KEY_MISMATCH and stays as it was', async () => {
    const bytes = readFileSync(storePath);
    const run = await cli({ ...env, ROTATOR_STORE_KEY: randomBytes(32).toString('base64') }, ['rotate', SEEDED]);
    expectTyped(run, ['STORE_KEY_MISMATCH', 'STORE_CORRUPT']);
    expect(readFileSync(storePath).equals(bytes)).toBe(true);
  });

  it('a directory where the store should be is refused', async () => {
    const run = await cli({ ...env, ROTATOR_STORE: dir }, ['secrets', 'list']);
    expectTyped(run, ['STORE_IO', 'INVALID_INPUT']);
  });
});

describe('environment and options', () => {
  const badEnv: ReadonlyArray<readonly [string, string]> = [
    ['ROTATOR_STORE_KEY', 'not base64 at all'],
    ['ROTATOR_STORE_KEY', randomBytes(31).toString('base64')],
    ['LOG_LEVEL', 'debug\nforged'],
    ['ROTATOR_SAFE_WINDOW', '1d\u001b'],
    ['ROTATION_STRATEGY', 'single-user\u0000'],
    ['ROTATOR_CONNECT_TIMEOUT_MS', '1e9'],
    ['ROTATOR_KEEP_SUPERSEDED', '-1'],
    ['USERNAME_CHARACTER_LIMIT', '\u001b[31m'],
  ];
  it.each(badEnv)('refuses %s = %j, naming the variable', async (name, value) => {
    const before = await snapshot(store);
    const run = await cli({ ...env, [name]: value }, ['rotate', SEEDED]);
    expect(run.code).toBe(2);
    expectTyped(run, ['INVALID_INPUT'], name);
    expect(run.stderr).not.toContain(value.trim());
    expect(await snapshot(store)).toEqual(before);
  });

  const badOptions: ReadonlyArray<readonly string[]> = [
    ['secrets', 'rotation', SEEDED, '--strategy', 'single-user\nforged'],
    ['secrets', 'rotation', SEEDED, '--safe-window', '\u001b[31m7d'],
    ['secrets', 'rotation', SEEDED, '--keep', '-1'],
    ['secrets', 'rotation', SEEDED, '--keep', '99999'],
    ['secrets', 'get', SEEDED, '--stage', 'CURRENT\r'],
  ];
  it.each(badOptions)('refuses the option values of %j', async (...args) => {
    const before = await snapshot(store);
    const run = await cli(env, args);
    expect(run.code).toBe(2);
    expectNoRawControl(run.stdout + run.stderr);
    expect(await snapshot(store)).toEqual(before);
  });
});
