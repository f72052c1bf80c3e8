import { mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, beforeEach, describe, expect, inject, it } from 'vitest';
import { EXIT } from '../../cli/exit-codes.js';
import { FileStore, loadOrCreateKey } from '../../stores/file/index.js';
import { recordSecrets } from '../support/canary.js';
import { spawnChildSync } from '../support/child.js';
import { FakeKeyProvider } from '../fakes/api-key-providers.js';
import { mariadbAdmin } from '../support/mariadb-admin.js';
import { postgresAdmin } from '../support/postgres-admin.js';
import { harvestSecrets } from '../support/stores.js';
import { runRotator, type CliRun } from '../support/cli.js';

/** The `rotator` command line, in-process (fast, exact output) and once as a real process. */
const pg = inject('postgres');
const { createRole, logsIn } = postgresAdmin(pg);
const cliPath = fileURLToPath(new URL('../../cli/main.ts', import.meta.url));

let dir: string;
let env: NodeJS.ProcessEnv;
let counter = 0;

function rotator(args: string[], stdin = ''): Promise<CliRun> {
  return runRotator(env, args, stdin);
}

async function role(): Promise<{ user: string; json: string }> {
  counter += 1;
  const user = `cli_user_${counter}`;
  const password = `Cli-${counter}-${Math.random().toString(36).slice(2)}-pw`;
  recordSecrets(password);
  await createRole(user, password);
  return { user, json: JSON.stringify({ engine: 'postgres', host: pg.host, port: pg.port, username: user, password, dbname: 'postgres', ssl: true }) };
}

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'rotator-cli-'));
  env = { ROTATOR_STORE: join(dir, 'store.json'), ROTATOR_TLS_CA_FILE: pg.caFile };
});

afterEach(async () => {
  const store = new FileStore({ path: join(dir, 'store.json'), key: await loadOrCreateKey({ env, keyFile: join(dir, 'store.json.key') }) });
  await harvestSecrets(store);
  rmSync(dir, { recursive: true, force: true });
});

describe('rotator secrets', () => {
  it('puts, lists, describes and gets a secret; the value is printed only with --show-value', async () => {
    const { json } = await role();
    expect(await rotator(['secrets', 'put', 'db/app', '--enable-rotation'], json)).toMatchObject({ code: 0, stdout: 'created db/app with rotation enabled\n' });
    expect(statSync(join(dir, 'store.json.key')).mode & 0o777).toBe(0o600);
    expect((await rotator(['secrets', 'list'])).stdout).toMatch(/^db\/app {2}rotation enabled {2}1 version\(s\)$/m);
    const described = await rotator(['secrets', 'describe', 'db/app', '--json']);
    const info = JSON.parse(described.stdout) as { rotation: { enabled: boolean }; versions: Array<{ stages: string[] }> };
    expect(info.rotation.enabled).toBe(true);
    expect(info.versions.map((v) => v.stages)).toEqual([['CURRENT']]);

    const hidden = await rotator(['secrets', 'get', 'db/app']);
    expect(hidden.stdout).toMatch(/holds \d+ bytes; pass --show-value to print it/);
    expect(hidden.stdout).not.toContain('"password"');
    expect((await rotator(['secrets', 'get', 'db/app', '--show-value'])).stdout).toBe(json + '\n');
  });

  it('refuses bad input with exit code 2 and a message that names the problem, storing nothing', async () => {
    const bad = await rotator(['secrets', 'put', 'db/bad'], JSON.stringify({ engine: 'postgres', host: 'h', username: 'u' }));
    expect(bad.code).toBe(EXIT.USAGE);
    expect(bad.stderr).toMatch(/INVALID_SECRET: .*password: required/);
    expect((await rotator(['secrets', 'put', 'db/bad'], 'not json')).stderr).toMatch(/not valid JSON/);
    expect((await rotator(['secrets', 'put', 'bad id with spaces'], '{}')).code).toBe(EXIT.USAGE);
    expect((await rotator(['secrets', 'get', 'db/absent'])).stderr).toMatch(/SECRET_NOT_FOUND/);
    expect((await rotator(['secrets', 'get', 'db/absent', '--stage', 'LATEST'])).stderr).toMatch(/--stage is "LATEST"; use one of CURRENT, PENDING, PREVIOUS/);
    // Nothing was stored, so there is still no store: a read-only command refuses it instead of creating one.
    expect((await rotator(['secrets', 'list'])).stderr).toMatch(/^rotator: INVALID_INPUT: there is no store at /);
    expect((await rotator(['no-such-command'])).code).toBe(EXIT.USAGE);
    expect((await rotator(['secrets', 'rotation', 'db/x', '--strategy', 'triple'])).code).toBe(EXIT.USAGE);
  });

  it('refuses an invalid environment variable by name', async () => {
    env.ROTATOR_CONNECT_TIMEOUT_MS = 'soon';
    const run = await rotator(['secrets', 'list']);
    expect(run.code).toBe(EXIT.USAGE);
    expect(run.stderr).toMatch(/ROTATOR_CONNECT_TIMEOUT_MS: must be a whole number of milliseconds/);
  });
});

describe('rotator rotate', () => {
  it('rotates, printing each step with its duration, and the new CURRENT logs in', async () => {
    const { user, json } = await role();
    await rotator(['secrets', 'put', 'db/app', '--enable-rotation'], json);
    const run = await rotator(['rotate', 'db/app']);
    expect(run.code).toBe(0);
    expect(run.stdout).toMatch(/^rotating db\/app\n {2}createSecret +\d+ ms\n {2}setSecret +\d+ ms\n {2}testSecret +\d+ ms\n {2}finishSecret +\d+ ms\nrotated db\/app: CURRENT is now version \S+ \(postgres, single-user, \d+ ms\)\n$/);
    const current = JSON.parse((await rotator(['secrets', 'get', 'db/app', '--show-value'])).stdout) as { password: string };
    expect(await logsIn(user, current.password)).toBe(true);
    expect(run.stdout + run.stderr).not.toContain(current.password);
  });

  it('--json prints one object for success and for failure, with exit codes scripts can trust', async () => {
    const { json } = await role();
    await rotator(['secrets', 'put', 'db/app'], json);
    const disabled = await rotator(['rotate', 'db/app', '--json']);
    expect(disabled.code).toBe(EXIT.USAGE);
    expect(JSON.parse(disabled.stdout)).toMatchObject({ ok: false, error: { code: 'ROTATION_DISABLED', retryable: false } });

    expect((await rotator(['secrets', 'rotation', 'db/app', '--enable'])).code).toBe(0);
    const ok = await rotator(['rotate', 'db/app', '--json']);
    expect(ok.code).toBe(0);
    const report = JSON.parse(ok.stdout) as { ok: boolean; steps: Array<{ step: string; ms: number }> };
    expect(report.ok).toBe(true);
    expect(report.steps.map((s) => s.step)).toEqual(['createSecret', 'setSecret', 'testSecret', 'finishSecret']);

    // A database that is down: retryable, exit 75.
    const down = JSON.parse((await rotator(['secrets', 'get', 'db/app', '--show-value'])).stdout) as Record<string, unknown>;
    await rotator(['secrets', 'put', 'db/down', '--enable-rotation'], JSON.stringify({ ...down, port: 1 }));
    const unreachable = await rotator(['rotate', 'db/down', '--json']);
    expect(unreachable.code).toBe(EXIT.RETRY);
    expect(JSON.parse(unreachable.stdout)).toMatchObject({ ok: false, error: { code: 'TARGET_UNREACHABLE', retryable: true } });

    // A password the database refuses: failed, exit 1.
    await rotator(['secrets', 'put', 'db/wrong', '--enable-rotation'], JSON.stringify({ ...down, password: 'Not-The-Password-42' }));
    const refused = await rotator(['rotate', 'db/wrong']);
    expect(refused.code).toBe(EXIT.FAILED);
    expect(refused.stderr).toMatch(/^rotator: TARGET_AUTH_FAILED: /);
  });

  it('cancel-rotation abandons a rotation left pending, keeping its value; the next rotate starts afresh', async () => {
    const { json } = await role();
    await rotator(['secrets', 'put', 'db/app', '--enable-rotation'], json);
    expect((await rotator(['secrets', 'cancel-rotation', 'db/app'])).stdout).toBe('db/app has no rotation under way\n');
    // A rotation that dies after createSecret: a database that refuses everything.
    const broken = { ...(JSON.parse(json) as Record<string, unknown>), port: 1 };
    await rotator(['secrets', 'put', 'db/app'], JSON.stringify(broken));
    expect((await rotator(['rotate', 'db/app'])).code).toBe(EXIT.RETRY);
    const pending = (JSON.parse((await rotator(['secrets', 'describe', 'db/app', '--json'])).stdout) as { versions: Array<{ versionId: string; stages: string[] }> }).versions.find((v) =>
      v.stages.includes('PENDING'),
    );
    expect(pending).toBeDefined();
    const cancelled = await rotator(['secrets', 'cancel-rotation', 'db/app']);
    expect(cancelled.stdout).toBe(`cancelled the rotation of db/app; version ${pending?.versionId ?? ''} is kept, unlabelled\n`);
    const after = JSON.parse((await rotator(['secrets', 'describe', 'db/app', '--json'])).stdout) as { versions: Array<{ versionId: string; stages: string[] }> };
    expect(after.versions.find((v) => v.versionId === pending?.versionId)?.stages).toEqual([]);
    await rotator(['secrets', 'put', 'db/app'], json);
    const next = await rotator(['rotate', 'db/app', '--json']);
    expect(JSON.parse(next.stdout)).toMatchObject({ ok: true, resumed: false });
  });

  it('after a failed rotation, `secrets put` of a fixed value cancels the stale PENDING (and says so), and the next rotate starts from the fix', async () => {
    const { user, json } = await role();
    const broken = { ...(JSON.parse(json) as Record<string, unknown>), port: 1 };
    await rotator(['secrets', 'put', 'db/app', '--enable-rotation'], JSON.stringify(broken));
    expect((await rotator(['rotate', 'db/app'])).code).toBe(EXIT.RETRY);
    // Resumed as it is, it fails the same way, and the error says which PENDING it resumed and how to start over.
    const again = await rotator(['rotate', 'db/app']);
    expect(again.code).toBe(EXIT.RETRY);
    expect(again.stderr).toMatch(/while resuming the rotation left PENDING by an earlier run: version \S+, created \d+[smhd] ago/);
    expect(again.stderr).toContain('rotator secrets cancel-rotation db/app');
    // The purger stays out of it meanwhile, and says why.
    const purge = await rotator(['purge', 'db/app']);
    expect(purge.code).toBe(0);
    expect(purge.stdout).toMatch(/^ {2}skipped: a rotation is under way \(version \S+ is PENDING since /m);

    const put = await rotator(['secrets', 'put', 'db/app'], json);
    expect(put.code).toBe(0);
    expect(put.stdout).toMatch(/^stored a new CURRENT version of db\/app\ncancelled the rotation that was under way .*version \S+ is kept, unlabelled/);
    const fixed = await rotator(['rotate', 'db/app', '--json']);
    expect(JSON.parse(fixed.stdout)).toMatchObject({ ok: true, resumed: false });
    const current = JSON.parse((await rotator(['secrets', 'get', 'db/app', '--show-value'])).stdout) as { port: number; password: string };
    expect(current.port).toBe(pg.port);
    expect(await logsIn(user, current.password)).toBe(true);
  });

  it('a rotation that cannot start (unknown engine) leaves no PENDING behind', async () => {
    const { json } = await role();
    await rotator(['secrets', 'put', 'db/app', '--enable-rotation'], json);
    const store = new FileStore({ path: join(dir, 'store.json'), key: await loadOrCreateKey({ env, keyFile: join(dir, 'store.json.key') }) });
    await store.putValue('db/app', JSON.stringify({ ...(JSON.parse(json) as Record<string, unknown>), engine: 'oracle' }));
    const run = await rotator(['rotate', 'db/app', '--json']);
    expect(JSON.parse(run.stdout)).toMatchObject({ ok: false, error: { code: 'UNSUPPORTED_ENGINE' } });
    const info = JSON.parse((await rotator(['secrets', 'describe', 'db/app', '--json'])).stdout) as { versions: Array<{ stages: string[] }> };
    expect(info.versions.flatMap((v) => v.stages)).not.toContain('PENDING');
  });

  it('rotates a MariaDB secret the same way', async () => {
    const maria = inject('mariadb');
    const { createUser, logsIn: mariaLogsIn } = mariadbAdmin(maria);
    env.ROTATOR_TLS_CA_FILE = maria.caFile;
    const user = `cli_maria_${++counter}`;
    const password = `Cli-${counter}-${Math.random().toString(36).slice(2)}-pw`;
    recordSecrets(password);
    await createUser(user, password);
    const json = JSON.stringify({ engine: 'mariadb', host: maria.host, port: maria.port, username: user, password, ssl: true });
    expect((await rotator(['secrets', 'put', 'db/maria', '--enable-rotation'], json)).code).toBe(0);
    const run = await rotator(['rotate', 'db/maria']);
    expect(run.code).toBe(0);
    expect(run.stdout).toMatch(/CURRENT is now version \S+ \(mariadb, single-user, \d+ ms\)/);
    const current = JSON.parse((await rotator(['secrets', 'get', 'db/maria', '--show-value'])).stdout) as { password: string };
    expect(current.password).not.toBe(password);
    expect(await mariaLogsIn(user, current.password)).toBe(true);
    expect(await mariaLogsIn(user, password)).toBe(false);
  });

  it('purges past-window versions: --dry-run changes nothing, --json reports, a failing secret sets the exit code', async () => {
    const { json } = await role();
    await rotator(['secrets', 'put', 'db/app', '--enable-rotation'], json);
    await rotator(['rotate', 'db/app']);
    await rotator(['rotate', 'db/app']);
    // Inside the default 30-day window nothing goes.
    const early = await rotator(['purge', 'db/app']);
    expect(early.code).toBe(0);
    expect(early.stdout).toMatch(/db\/app \(safe window 30d, keep 0\)\n {2}nothing past the safe window/);

    expect((await rotator(['secrets', 'rotation', 'db/app', '--safe-window', '0s'])).stdout).toMatch(/safe window 0s$/m);
    const dry = await rotator(['purge', '--dry-run', 'db/app']);
    expect(dry.code).toBe(0);
    expect(dry.stdout).toMatch(/^dry run at /);
    expect(dry.stdout.match(/would retire/g)).toHaveLength(2);
    expect(JSON.parse((await rotator(['secrets', 'describe', 'db/app', '--json'])).stdout)).toMatchObject({ versions: [{}, {}, {}] });

    const done = await rotator(['purge', '--json', 'db/app']);
    expect(done.code).toBe(0);
    const report = JSON.parse(done.stdout) as { failed: number; secrets: Array<{ actions: Array<{ retired: boolean }> }> };
    expect(report.failed).toBe(0);
    expect(report.secrets[0]?.actions.map((a) => a.retired)).toEqual([true, true]);
    const left = JSON.parse((await rotator(['secrets', 'describe', 'db/app', '--json'])).stdout) as { versions: Array<{ stages: string[] }> };
    expect(left.versions.map((v) => v.stages)).toEqual([['CURRENT']]);

    // A secret that cannot be purged (it does not exist) makes the run exit 1; the others still go. With --json the
    // report is the one object printed, and the failure in it sets the exit code.
    expect((await rotator(['purge', 'db/absent', 'db/app'])).code).toBe(EXIT.FAILED);
    const failing = await rotator(['purge', '--json', 'db/absent', 'db/app']);
    expect(failing.code).toBe(EXIT.FAILED);
    expect(JSON.parse(failing.stdout)).toMatchObject({ failed: 1, secrets: [{ secretId: 'db/absent', ok: false }, { secretId: 'db/app', ok: true }] });
    expect(failing.stdout.trim().split('\n')).toHaveLength(1); // no second object after the report
    expect((await rotator(['secrets', 'rotation', 'db/app', '--safe-window', 'soon'])).stderr).toMatch(/--safe-window is "soon"; use a whole number with a unit/);
  });

  it('rotates and purges an API key at a provider (SendGrid dialect, fake server)', async () => {
    const fake = await new FakeKeyProvider({ dialect: 'sendgrid' }).start();
    try {
      const initial = fake.addKey('hand-made');
      // The master secret names the fake's origin: the rotated secret alone may not send the admin key anywhere.
      await rotator(['secrets', 'put', 'keys/admin'], JSON.stringify({ key: fake.adminKey, allowed_origins: [fake.url] }));
      const value = { engine: 'api-key', provider: 'sendgrid', base_url: fake.url, key: initial.key, key_id: initial.id, masterarn: 'keys/admin' };
      expect((await rotator(['secrets', 'put', 'keys/mail', '--enable-rotation'], JSON.stringify(value))).code).toBe(0);
      const run = await rotator(['rotate', 'keys/mail']);
      expect(run.code).toBe(0);
      expect(run.stdout).toMatch(/\(api-key, single-user, \d+ ms\)/);
      const current = JSON.parse((await rotator(['secrets', 'get', 'keys/mail', '--show-value'])).stdout) as { key: string };
      expect(fake.accepts(current.key)).toBe(true);
      expect(fake.accepts(initial.key)).toBe(true); // the old key lives on through the safe window

      await rotator(['secrets', 'rotation', 'keys/mail', '--safe-window', '0s']);
      const purge = await rotator(['purge', '--json', 'keys/mail']);
      expect(purge.code).toBe(0);
      expect(JSON.parse(purge.stdout)).toMatchObject({ failed: 0, secrets: [{ actions: [{ revocation: 'revoked', retired: true }] }] });
      expect(fake.accepts(initial.key)).toBe(false);
      expect(fake.accepts(current.key)).toBe(true);
    } finally {
      await fake.close();
    }
  });

  it('runs as a real process with the same exit codes and --help', () => {
    const store = join(dir, 'store.json');
    const value = join(dir, 'value.json');
    writeFileSync(value, JSON.stringify({ engine: 'postgres', host: pg.host, username: 'nobody', password: 'Some-Password-123' }));
    recordSecrets('Some-Password-123');
    const run = (args: string[]): { status: number | null; stdout: string; stderr: string } => {
      return spawnChildSync(process.execPath, ['--import', 'tsx', cliPath, '--store', store, ...args], { env: { ...process.env, ...env } });
    };
    const help = run(['--help']);
    expect(help.status).toBe(0);
    expect(help.stdout).toMatch(/secrets\s+manage secrets in the embedded file store/);
    expect(help.stdout).toMatch(/rotate \[options\] \[secret-id\]/);
    expect(run(['secrets', 'put', 'db/p', '--from-file', value]).status).toBe(0);
    const missing = run(['rotate', 'db/absent']);
    expect(missing.status).toBe(EXIT.USAGE);
    expect(missing.stderr).toMatch(/SECRET_NOT_FOUND/);
  });
});
