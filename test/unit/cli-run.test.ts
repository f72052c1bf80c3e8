import { createHash, randomBytes } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { recordSecrets } from '../support/canary.js';
import { spawnChild, type CapturedChild } from '../support/child.js';
import { runRotator } from '../support/cli.js';
import { createTestStore, type TestStore } from '../support/stores.js';

/**
 * `rotator run`: the command gets each secret's fields as variables (checked by length and hash, printed by the
 * command itself, so no value reaches the output), exits with the command's code or 128 + a forwarded signal, and
 * every refusal (a field that cannot be a variable, one that would change what programs load, a variable already
 * set, a NUL, a clash) comes before the command starts and names fields, never values.
 */

const cliPath = fileURLToPath(new URL('../../cli/main.ts', import.meta.url));
/** A webhook URL as a deployment sets it: it carries a token, so the command must not get it. */
const WEBHOOK = 'https://hooks.example.com/services/T000/B000/run-test-token';
/** Prints `NAME=<length>:<sha256>` (or `NAME=unset`) for each variable named in its arguments. */
const PRINT_VARS =
  "for (const n of process.argv.slice(1)) { const v = process.env[n]; console.log(n + '=' + (v === undefined ? 'unset' : v.length + ':' + require('node:crypto').createHash('sha256').update(v).digest('hex'))); }";

let t: TestStore;
let password: string;
let env: NodeJS.ProcessEnv;

beforeEach(async () => {
  t = createTestStore();
  password = `pw-${randomBytes(18).toString('base64url')}`;
  recordSecrets(password);
  await t.store.createSecret(
    'db/app',
    JSON.stringify({ engine: 'postgres', host: 'db.internal', port: 5432, username: 'app', password, ssl: true, options: { sslmode: 'verify-full' }, replica: null }),
  );
  // A small environment of our own: nothing in it that a secret's field could collide with by accident.
  env = { PATH: process.env.PATH, ROTATOR_STORE: t.path, ROTATOR_STORE_KEY: t.key.toString('base64'), ROTATOR_ALERT_WEBHOOK: WEBHOOK };
});
afterEach(async () => {
  await t.dispose();
});

const described = (value: string) => `${value.length}:${createHash('sha256').update(value).digest('hex')}`;

/** The CLI as a real process (its command inherits its stdio, which is this pipe). */
function cli(args: readonly string[]): CapturedChild {
  return spawnChild(process.execPath, ['--import', 'tsx', cliPath, ...args], { env, stdio: 'ignore' });
}

async function finished(child: CapturedChild): Promise<{ code: number | null; stdout: string; stderr: string }> {
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
  child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
  const code = await new Promise<number | null>((resolve) => child.on('close', (c) => resolve(c)));
  return { code, stdout, stderr };
}

describe('rotator run, as a process', () => {
  it('passes each field as PREFIX_FIELD (strings as they are, the rest as JSON), and neither the store key nor the webhook', async () => {
    const vars = ['DB_PASSWORD', 'DB_USERNAME', 'DB_PORT', 'DB_SSL', 'DB_OPTIONS', 'DB_REPLICA', 'ROTATOR_STORE_KEY', 'ROTATOR_ALERT_WEBHOOK', 'PASSWORD'];
    const run = await finished(cli(['run', '--secret', 'db/app=db', '--', process.execPath, '-e', PRINT_VARS, ...vars]));
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    expect(run.stdout.trim().split('\n')).toEqual([
      `DB_PASSWORD=${described(password)}`,
      `DB_USERNAME=${described('app')}`,
      `DB_PORT=${described('5432')}`,
      `DB_SSL=${described('true')}`,
      `DB_OPTIONS=${described('{"sslmode":"verify-full"}')}`,
      `DB_REPLICA=${described('null')}`,
      'ROTATOR_STORE_KEY=unset',
      'ROTATOR_ALERT_WEBHOOK=unset',
      'PASSWORD=unset',
    ]);
  });

  it('exits with the command\'s code, and 127 when the command does not exist', async () => {
    expect((await finished(cli(['run', '--secret', 'db/app=DB', '--', process.execPath, '-e', 'process.exit(7)']))).code).toBe(7);
    const missing = await finished(cli(['run', '--secret', 'db/app=DB', '--', 'rotator-no-such-command-here']));
    expect(missing.code).toBe(127);
    expect(missing.stderr).toContain('command not found: "rotator-no-such-command-here"');
  });

  it.each([
    ['a command that handles it exits with its own code', "process.on('SIGTERM', () => { console.log('got SIGTERM'); process.exit(7); });", 7, 'got SIGTERM'],
    ['a command that does not dies of it: 128 + 15', '', 143, ''],
  ])('forwards SIGTERM: %s', async (_name, handler, code, printed) => {
    const child = cli(['run', '--secret', 'db/app=DB', '--', process.execPath, '-e', `${handler} console.log('ready'); setInterval(() => {}, 1000);`]);
    const run = finished(child);
    await new Promise<void>((resolve) => {
      let seen = '';
      child.stdout.on('data', (c: Buffer) => {
        seen += c.toString();
        if (seen.includes('ready')) resolve();
      });
    });
    child.kill('SIGTERM');
    const result = await run;
    expect(result.code).toBe(code);
    expect(result.stdout).toBe(`ready\n${printed === '' ? '' : `${printed}\n`}`);
  });
});

describe('rotator run refuses before the command starts', () => {
  /** Runs `rotator run` in-process with a command that would leave a marker file; the marker must not appear. */
  async function refused(secretArgs: readonly string[], extraEnv: NodeJS.ProcessEnv = {}) {
    const marker = join(t.dir, `ran-${randomBytes(4).toString('hex')}`);
    const run = await runRotator({ ...env, ...extraEnv }, ['run', ...secretArgs, '--', process.execPath, '-e', "require('node:fs').writeFileSync(process.argv[1], 'ran')", marker]);
    expect(existsSync(marker), 'the command ran').toBe(false);
    expect(run.stdout + run.stderr).not.toContain(password);
    return run;
  }

  async function withValue(value: Record<string, unknown>): Promise<void> {
    await t.store.putValue('db/app', JSON.stringify(value));
  }

  it.each([
    ['a field that is not a variable name', { 'db-host': 'x' }, 'the field "db-host" of secret db/app cannot be an environment variable name'],
    ['a field that starts with a digit', { '1password': 'x' }, 'the field "1password"'],
    ['PATH', { path: '/tmp/evil' }, 'would set PATH, which changes what programs load or run'],
    ['LD_PRELOAD', { ld_preload: '/tmp/evil.so' }, 'would set LD_PRELOAD'],
    ['NODE_OPTIONS', { NODE_OPTIONS: '--require /tmp/evil.js' }, 'would set NODE_OPTIONS'],
    ['Rotator\'s own settings', { rotator_store: '/tmp/other' }, 'would set ROTATOR_STORE'],
    ['two fields for one name', { password: 'a-first-value', PASSWORD: 'a-second-value' }, 'two fields of secret db/app would both set PASSWORD'],
    ['a NUL in a value', { token: 'before\u0000after' }, 'the field "token" of secret db/app holds a NUL character'],
  ])('%s', async (_name, value, message) => {
    await withValue({ ...value, password });
    const run = await refused(['--secret', 'db/app']);
    expect(run.code).toBe(2);
    expect(run.stderr).toContain(message);
  });

  it('a variable already set, unless --override', async () => {
    const run = await refused(['--secret', 'db/app=DB'], { DB_PASSWORD: 'set-by-the-operator' });
    expect(run.code).toBe(2);
    expect(run.stderr).toContain('secret db/app would replace DB_PASSWORD, which is already set');
    const marker = join(t.dir, 'overridden');
    const overridden = await runRotator({ ...env, DB_PASSWORD: 'set-by-the-operator' }, [
      'run', '--secret', 'db/app=DB', '--override', '--', process.execPath, '-e',
      "require('node:fs').writeFileSync(process.argv[1], require('node:crypto').createHash('sha256').update(process.env.DB_PASSWORD).digest('hex'))", marker,
    ]);
    expect(overridden.code).toBe(0);
    expect(readFileSync(marker, 'utf8')).toBe(createHash('sha256').update(password).digest('hex'));
  });

  it('--override never lets a secret set PATH', async () => {
    await withValue({ path: '/tmp/evil' });
    expect((await refused(['--secret', 'db/app', '--override'])).stderr).toContain('would set PATH');
  });

  it('two secrets that set the same variable', async () => {
    await t.store.createSecret('db/other', JSON.stringify({ password: `other-${password}` }));
    const run = await refused(['--secret', 'db/app=DB', '--secret', 'db/other=DB']);
    expect(run.stderr).toContain('secrets db/app and db/other would both set DB_PASSWORD');
  });

  it.each([
    ['no --secret', [], 'rotator run needs at least one --secret'],
    ['a prefix that is not a name', ['--secret', 'db/app=DB-1'], 'the prefix of --secret db/app must be letters, digits and _'],
    ['a missing secret', ['--secret', 'db/none=DB'], 'db/none'],
    ['an invalid secret id', ['--secret', 'db app=DB'], 'the secret id of --secret is invalid'],
  ])('%s', async (_name, args, message) => {
    const run = await refused(args);
    expect(run.code).toBe(2);
    expect(run.stderr).toContain(message);
  });

  it('a value that is not a JSON object', async () => {
    await t.store.putValue('db/app', `raw-${password}`);
    const run = await refused(['--secret', 'db/app']);
    expect(run.code).toBe(2);
    expect(run.stderr).toContain('INVALID_SECRET');
  });
});
