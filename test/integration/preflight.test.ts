import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, inject, it } from 'vitest';
import { createApiKeyRotator } from '../../rotators/api-key/index.js';
import { createMysqlRotator } from '../../rotators/mysql/index.js';
import { mysqlNativePasswordHash } from '../../rotators/mysql/password-hash.js';
import { createPostgresRotator, POSTGRES_EXCLUDE_CHARACTERS } from '../../rotators/postgres/index.js';
import { RotationEngine, type PreflightReport } from '../../shared/engine.js';
import { generatePassword } from '../../shared/password.js';
import type { PreflightCheckId, PreflightStatus, Rotator } from '../../shared/rotator.js';
import type { SecretObject } from '../../shared/secret.js';
import type { Strategy } from '../../shared/store.js';
import { FakeKeyProvider, httpDialectConfig, type Dialect } from '../fakes/api-key-providers.js';
import { canaryLogger, recordSecrets } from '../support/canary.js';
import { startNoTlsProxy, type NoTlsProxy } from '../support/no-tls-proxy.js';
import { mariadbAdmin, quoteAccount } from '../support/mariadb-admin.js';
import { postgresAdmin } from '../support/postgres-admin.js';
import { freePort } from '../support/postgres-cluster.js';
import { runRotator } from '../support/cli.js';
import { createTestStore, type TestStore } from '../support/stores.js';

/**
 * `rotate --dry-run` (engine.preflight and each rotator's checks) against the run's real servers: a healthy secret
 * passes every check, each broken precondition fails its own check and nothing else, and nothing changes anywhere:
 * the store file is byte for byte the same, the roles and memberships (PostgreSQL) or accounts and grants (MariaDB)
 * are the same, and the server's statement log shows no DDL.
 */
const pg = inject('postgres');
const pgAdmin = postgresAdmin(pg);
const db = inject('mariadb');
const maria = mariadbAdmin(db);

const lines: string[] = [];
const logger = canaryLogger(lines);

function password(): string {
  const p = generatePassword({ excludeCharacters: POSTGRES_EXCLUDE_CHARACTERS });
  recordSecrets(p, mysqlNativePasswordHash(p));
  return p;
}

let counter = 0;
function unique(prefix: string): string {
  counter += 1;
  return `${prefix}_${counter}_${process.pid}`;
}

/** Each check's status, by id, for one assertion per case. */
function statuses(report: PreflightReport): Partial<Record<PreflightCheckId, PreflightStatus>> {
  return Object.fromEntries(report.checks.map((c) => [c.id, c.status]));
}

function check(report: PreflightReport, id: PreflightCheckId): PreflightReport['checks'][number] {
  const found = report.checks.find((c) => c.id === id);
  if (found === undefined) throw new Error(`no ${id} check in ${JSON.stringify(report.checks.map((c) => c.id))}`);
  return found;
}

interface Fixture {
  t: TestStore;
  engine: (rotator?: Rotator) => RotationEngine;
  /** Stores `value` as the secret `id` with rotation on. */
  put: (id: string, value: SecretObject, strategy?: Strategy) => Promise<void>;
}

function fixture(rotator: () => Rotator): () => Fixture {
  let f: Fixture | undefined;
  beforeEach(() => {
    const t = createTestStore();
    f = {
      t,
      engine: (r = rotator()) => new RotationEngine({ store: t.store, rotators: [r], logger, env: {} }),
      put: async (id, value, strategy) => {
        await t.store.createSecret(id, JSON.stringify(value), { rotation: { enabled: true, ...(strategy === undefined ? {} : { strategy }) } });
      },
    };
  });
  afterEach(async () => {
    await f?.t.dispose();
  });
  return () => {
    if (f === undefined) throw new Error('fixture used outside a test');
    return f;
  };
}

/** Runs `preflight` and checks it changed nothing in the store file and wrote no DDL to the server's log. */
async function dryRun(f: Fixture, id: string, logFile: string, names: readonly string[]): Promise<PreflightReport & { logged: string }> {
  const before = readFileSync(f.t.path);
  const logStart = readFileSync(logFile).length;
  const report = await f.engine().preflight(id);
  expect(readFileSync(f.t.path).equals(before)).toBe(true);
  const logged = readFileSync(logFile).subarray(logStart).toString('utf8');
  for (const name of names) {
    const mentions = logged.split('\n').filter((l) => l.includes(name) && /\b(CREATE|ALTER|GRANT|REVOKE|DROP|SET PASSWORD)\b/i.test(l));
    expect(mentions).toEqual([]);
  }
  return { ...report, logged };
}

describe('PostgreSQL', () => {
  const rotator = (): Rotator => createPostgresRotator({ tls: { ca: pgAdmin.ca }, connectTimeoutMs: 3_000, statementTimeoutMs: 5_000 });
  const get = fixture(rotator);

  const secretFor = (username: string, pw: string, extra: SecretObject = {}): SecretObject => ({
    engine: 'postgres',
    host: pg.host,
    port: pg.port,
    username,
    password: pw,
    dbname: 'postgres',
    ssl: true,
    ...extra,
  });

  /** Roles and memberships of the names, as the catalog has them. */
  const catalog = (names: readonly string[]): Promise<unknown> =>
    pgAdmin.admin(async (c) => ({
      roles: (await c.query('SELECT rolname, rolcreaterole, rolpassword FROM pg_authid WHERE rolname = ANY($1) ORDER BY rolname', [names])).rows,
      members: (
        await c.query(
          'SELECT r.rolname AS role, m.rolname AS member, a.admin_option FROM pg_auth_members a JOIN pg_roles r ON r.oid = a.roleid JOIN pg_roles m ON m.oid = a.member WHERE r.rolname = ANY($1) OR m.rolname = ANY($1) ORDER BY 1, 2',
          [names],
        )
      ).rows,
    }));

  /** An app role and a master (with CREATEROLE unless told otherwise), stored as an alternating-users secret. */
  const alternating = async (f: Fixture, options: { app?: string; masterAttributes?: string } = {}): Promise<{ id: string; app: string; master: string; appPassword: string }> => {
    const app = options.app ?? unique('pf_app');
    const master = unique('pf_master');
    const appPassword = password();
    const masterPassword = password();
    await pgAdmin.createRole(app, appPassword);
    await pgAdmin.createRole(master, masterPassword, options.masterAttributes ?? 'LOGIN CREATEROLE');
    const id = unique('pg-app').replaceAll('_', '-');
    await f.put(`${id}-master`, secretFor(master, masterPassword));
    await f.put(id, secretFor(app, appPassword, { masterarn: `${id}-master` }), 'alternating-users');
    return { id, app, master, appPassword };
  };

  it('a healthy alternating-users secret passes every check, and nothing changes', async () => {
    const f = get();
    const { id, app, master } = await alternating(f);
    const names = [app, `${app}_clone`, master];
    const before = await catalog(names);
    const report = await dryRun(f, id, pg.logFile, names);
    expect(statuses(report)).toEqual({
      'rotation-enabled': 'pass',
      lock: 'pass',
      'current-value': 'pass',
      pending: 'pass',
      'master-secret': 'pass',
      'current-login': 'pass',
      tls: 'pass',
      'alternate-name': 'pass',
      'master-login': 'pass',
      'master-rights': 'pass',
      'alternate-exists': 'pass',
    });
    expect(report).toMatchObject({ engine: 'postgres', strategy: 'alternating-users' });
    expect(check(report, 'tls').reason).toMatch(/verified TLS/);
    expect(check(report, 'current-login').reason).toContain(`as user "${app}"`);
    expect(check(report, 'master-rights').reason).toMatch(/CREATEROLE/);
    expect(check(report, 'alternate-exists').reason).toMatch(/does not exist yet/);
    expect(await catalog(names)).toEqual(before);
    // The log searched for DDL is the one the master's catalog reads went to.
    expect(report.logged).toContain('MEMBER WITH ADMIN OPTION');
    // The lock was taken and released: a rotation can take it now.
    await (await f.t.store.lockRotation(id)).release();
  });

  it('says so when the alternate exists (after a real rotation), and that a PENDING rotation would be resumed', async () => {
    const f = get();
    const { id, app } = await alternating(f);
    await f.engine().rotate(id);
    const token = 'pf-pending-token';
    await f.t.store.startRotation(id, token);
    const report = await dryRun(f, id, pg.logFile, [app]);
    expect(check(report, 'pending')).toMatchObject({ status: 'pass' });
    expect(check(report, 'pending').reason).toMatch(/pf-pending-token is PENDING .*rotate would resume it/);
    // CURRENT is the clone now; its alternate is the original, which exists.
    expect(check(report, 'alternate-exists').reason).toContain(`"${app}" exists`);
    expect(check(report, 'master-rights').status).toBe('pass');
  });

  it('a wrong CURRENT password fails "CURRENT logs in" and nothing else on the target side', async () => {
    const f = get();
    const { id, app, master } = await alternating(f);
    const value = JSON.parse(await f.t.store.getValue(id, { stage: 'CURRENT' })) as SecretObject;
    await f.t.store.putValue(id, JSON.stringify({ ...value, password: password() }));
    const report = await dryRun(f, id, pg.logFile, [app, master]);
    expect(check(report, 'current-login')).toMatchObject({ status: 'fail', code: 'TARGET_AUTH_FAILED' });
    expect(check(report, 'tls').status).toBe('skip');
    expect(check(report, 'master-login').status).toBe('pass');
    expect(report.checks.filter((c) => c.status === 'fail').map((c) => c.id)).toEqual(['current-login']);
  });

  it('a master without CREATEROLE fails the rights check and changes nothing', async () => {
    const f = get();
    const { id, app, master } = await alternating(f, { masterAttributes: 'LOGIN' });
    const names = [app, `${app}_clone`, master];
    const before = await catalog(names);
    const report = await dryRun(f, id, pg.logFile, names);
    expect(check(report, 'master-login').status).toBe('pass');
    const rights = check(report, 'master-rights');
    expect(rights).toMatchObject({ status: 'fail', code: 'TARGET_ERROR' });
    expect(rights.reason).toContain(`the master "${master}" lacks CREATEROLE`);
    expect(report.checks.filter((c) => c.status === 'fail').map((c) => c.id)).toEqual(['master-rights']);
    expect(await catalog(names)).toEqual(before);
    expect(await pgAdmin.roleExists(`${app}_clone`)).toBe(false);
  });

  it('a superuser master passes the rights check as such', async () => {
    const f = get();
    const { id } = await alternating(f, { masterAttributes: 'LOGIN SUPERUSER' });
    const report = await dryRun(f, id, pg.logFile, []);
    expect(check(report, 'master-rights')).toMatchObject({ status: 'pass', reason: expect.stringMatching(/is a superuser/) as unknown });
  });

  it('the alternate name fits at 63 bytes and fails at 64, before anything logs in as the master', async () => {
    const f = get();
    const stem = unique('pf_len');
    for (const [length, status] of [
      [63 - '_clone'.length, 'pass'],
      [64 - '_clone'.length, 'fail'],
    ] as const) {
      const app = stem + 'x'.repeat(length - stem.length);
      const { id } = await alternating(f, { app });
      const report = await dryRun(f, id, pg.logFile, [app]);
      expect(check(report, 'alternate-name').status).toBe(status);
      if (status === 'fail') {
        expect(check(report, 'alternate-name')).toMatchObject({ code: 'INVALID_SECRET', reason: expect.stringMatching(/64 bytes, over PostgreSQL's 63-byte limit/) as unknown });
        expect(check(report, 'alternate-exists').status).toBe('skip');
      } else {
        expect(check(report, 'alternate-name').reason).toContain('is 63 bytes');
      }
    }
  });

  describe('against a server without TLS', () => {
    let proxy: NoTlsProxy;
    beforeAll(async () => {
      proxy = await startNoTlsProxy(pg.host, pg.port);
    });
    afterAll(async () => {
      await proxy.close();
    });

    it('a secret that asks for TLS fails the TLS check and does not try the login', async () => {
      const f = get();
      const app = unique('pf_tls');
      const pw = password();
      await pgAdmin.createRole(app, pw);
      await f.put('pg-tls', secretFor(app, pw, { port: proxy.port, ssl: true }), 'single-user');
      proxy.seen.length = 0;
      const report = await dryRun(f, 'pg-tls', pg.logFile, [app]);
      expect(check(report, 'tls')).toMatchObject({ status: 'fail', code: 'TARGET_TLS', reason: expect.stringMatching(/does not offer TLS/) as unknown });
      expect(check(report, 'current-login').status).toBe('skip');
      expect(proxy.seen).toEqual(['ssl-request']);
    });

    it('a secret that says "ssl": false logs in over plaintext, and the TLS check says so as a skip', async () => {
      const f = get();
      const app = unique('pf_plain');
      const pw = password();
      await pgAdmin.createRole(app, pw);
      await f.put('pg-plain', secretFor(app, pw, { port: proxy.port, ssl: false }), 'single-user');
      const report = await dryRun(f, 'pg-plain', pg.logFile, [app]);
      expect(check(report, 'current-login').status).toBe('pass');
      expect(check(report, 'tls')).toMatchObject({ status: 'skip', reason: expect.stringMatching(/plaintext, as the secret says/) as unknown });
    });
  });

  it('single-user needs no master: those checks are skipped', async () => {
    const f = get();
    const app = unique('pf_single');
    const pw = password();
    await pgAdmin.createRole(app, pw);
    await f.put('pg-single', secretFor(app, pw), 'single-user');
    const report = await dryRun(f, 'pg-single', pg.logFile, [app]);
    expect(statuses(report)).toMatchObject({ 'master-secret': 'skip', 'master-login': 'skip', 'master-rights': 'skip', 'alternate-name': 'skip', 'current-login': 'pass', tls: 'pass' });
    expect(report.checks.some((c) => c.status === 'fail')).toBe(false);
  });

  it('an unreachable target fails the login with a retryable TARGET_UNREACHABLE', async () => {
    const f = get();
    await f.put('pg-down', secretFor('nobody', password(), { port: await freePort() }), 'single-user');
    const report = await f.engine().preflight('pg-down');
    expect(check(report, 'current-login')).toMatchObject({ status: 'fail', code: 'TARGET_UNREACHABLE', retryable: true });
  });

  it('the store side: rotation disabled, and a lock another rotation holds, each fail their own check', async () => {
    const f = get();
    const app = unique('pf_store');
    const pw = password();
    await pgAdmin.createRole(app, pw);
    await f.t.store.createSecret('pg-off', JSON.stringify(secretFor(app, pw)), { rotation: { enabled: false } });
    const off = await f.engine().preflight('pg-off');
    expect(check(off, 'rotation-enabled')).toMatchObject({ status: 'fail', code: 'ROTATION_DISABLED' });
    expect(check(off, 'current-login').status).toBe('pass');

    await f.put('pg-locked', secretFor(app, pw), 'single-user');
    const lease = await f.t.store.lockRotation('pg-locked');
    try {
      const locked = await f.engine().preflight('pg-locked');
      expect(check(locked, 'lock')).toMatchObject({ status: 'fail', code: 'ROTATION_IN_PROGRESS', retryable: true });
    } finally {
      await lease.release();
    }
  });

});

describe('MariaDB', () => {
  const rotator = (): Rotator => createMysqlRotator({ tls: { ca: maria.ca }, connectTimeoutMs: 3_000, statementTimeoutMs: 5_000 });
  const get = fixture(rotator);
  const HOSTS = ['%', 'localhost'];

  const secretFor = (username: string, pw: string, extra: SecretObject = {}): SecretObject => ({
    engine: 'mariadb',
    host: db.host,
    port: db.port,
    username,
    password: pw,
    ssl: true,
    ...extra,
  });

  // Database names stop at 64 characters; user names here go to 80.
  const database = (user: string): string => `\`pfdb_${createHash('sha256').update(user).digest('hex').slice(0, 16)}\``;

  /** Every account of the names and its grants, as the server has them. */
  const grants = (names: readonly string[]): Promise<string[]> =>
    maria.admin(async (c) => {
      const lines: string[] = [];
      for (const name of names) {
        for (const host of await maria.accountHosts(name)) {
          const [rows] = await c.query(`SHOW GRANTS FOR ${quoteAccount(name, host)}`);
          for (const row of rows as Array<Record<string, unknown>>) lines.push(`${name}@${host}: ${String(Object.values(row)[0])}`);
        }
      }
      return lines.sort();
    });

  /** A user with SELECT on its database on two hosts, and a master that may create users and (unless told) grant SELECT there. */
  const alternating = async (f: Fixture, options: { app?: string; mayGrant?: boolean; strategy?: Strategy } = {}): Promise<{ id: string; app: string; master: string }> => {
    const app = options.app ?? unique('pfm_app');
    const master = unique('pfm_master');
    const appPassword = password();
    const masterPassword = password();
    await maria.createUser(app, appPassword, HOSTS);
    await maria.createUser(master, masterPassword);
    await maria.admin(async (c) => {
      await c.query(`CREATE DATABASE ${database(app)}`);
      for (const host of HOSTS) await c.query(`GRANT SELECT ON ${database(app)}.* TO ${quoteAccount(app, host)}`);
      await c.query(`GRANT CREATE USER ON *.* TO ${quoteAccount(master, '%')}`);
      await c.query(`GRANT SELECT ON mysql.* TO ${quoteAccount(master, '%')}`);
      if (options.mayGrant !== false) await c.query(`GRANT SELECT ON ${database(app)}.* TO ${quoteAccount(master, '%')} WITH GRANT OPTION`);
    });
    const id = unique('maria-app').replaceAll('_', '-');
    await f.put(`${id}-master`, secretFor(master, masterPassword));
    await f.put(id, secretFor(app, appPassword, { masterarn: `${id}-master` }), options.strategy ?? 'alternating-users');
    return { id, app, master };
  };

  it('a healthy alternating-users secret passes every check, and nothing changes', async () => {
    const f = get();
    const { id, app, master } = await alternating(f);
    const names = [app, `${app}_clone`, master];
    const before = await grants(names);
    const report = await dryRun(f, id, db.generalLogFile, names);
    expect(statuses(report)).toEqual({
      'rotation-enabled': 'pass',
      lock: 'pass',
      'current-value': 'pass',
      pending: 'pass',
      'master-secret': 'pass',
      'current-login': 'pass',
      tls: 'pass',
      'dual-password': 'skip',
      'alternate-name': 'pass',
      'master-login': 'pass',
      'master-rights': 'pass',
      'alternate-exists': 'pass',
    });
    expect(check(report, 'current-login').reason).toMatch(/MariaDB 10\./);
    expect(check(report, 'master-rights').reason).toMatch(/reads the 2 account\(s\) .* may grant each of the 2 right\(s\)/);
    expect(check(report, 'alternate-exists').reason).toMatch(/does not exist yet; setSecret creates it on 2 host/);
    expect(report.logged).toContain('SHOW GRANTS');
    expect(await grants(names)).toEqual(before);
  });

  it('a master without GRANT OPTION on what the user holds fails the rights check and changes nothing', async () => {
    const f = get();
    const { id, app, master } = await alternating(f, { mayGrant: false });
    const names = [app, `${app}_clone`, master];
    const before = await grants(names);
    const report = await dryRun(f, id, db.generalLogFile, names);
    const rights = check(report, 'master-rights');
    expect(rights).toMatchObject({ status: 'fail', code: 'TARGET_ERROR' });
    expect(rights.reason).toContain(`cannot grant rights that user "${app}" holds: SELECT ON ${database(app)}.*`);
    expect(report.checks.filter((c) => c.status === 'fail').map((c) => c.id)).toEqual(['master-rights']);
    expect(await grants(names)).toEqual(before);
    expect(await maria.accountHosts(`${app}_clone`)).toEqual([]);
  });

  it('a master without CREATE USER fails the rights check', async () => {
    const f = get();
    const { id, master } = await alternating(f);
    await maria.admin((c) => c.query(`REVOKE CREATE USER ON *.* FROM ${quoteAccount(master, '%')}`));
    const report = await dryRun(f, id, db.generalLogFile, [master]);
    expect(check(report, 'master-rights')).toMatchObject({ status: 'fail', reason: expect.stringMatching(/lacks CREATE USER/) as unknown });
  });

  it('a wrong CURRENT password fails "CURRENT logs in"', async () => {
    const f = get();
    const { id, app } = await alternating(f);
    const value = JSON.parse(await f.t.store.getValue(id, { stage: 'CURRENT' })) as SecretObject;
    await f.t.store.putValue(id, JSON.stringify({ ...value, password: password() }));
    const report = await dryRun(f, id, db.generalLogFile, [app]);
    expect(check(report, 'current-login')).toMatchObject({ status: 'fail', code: 'TARGET_AUTH_FAILED' });
    expect(report.checks.filter((c) => c.status === 'fail').map((c) => c.id)).toEqual(['current-login']);
  });

  it('the alternate name fits at 80 characters and fails at 81', async () => {
    const f = get();
    const stem = unique('pfm_len');
    for (const [length, status] of [
      [80 - '_clone'.length, 'pass'],
      [81 - '_clone'.length, 'fail'],
    ] as const) {
      const app = stem + 'x'.repeat(length - stem.length);
      const { id } = await alternating(f, { app });
      const report = await dryRun(f, id, db.generalLogFile, [app]);
      expect(check(report, 'alternate-name').status).toBe(status);
      if (status === 'fail') {
        expect(check(report, 'alternate-name')).toMatchObject({ code: 'INVALID_SECRET', reason: expect.stringMatching(/81 characters, over the limit of 80/) as unknown });
        expect(check(report, 'alternate-exists').status).toBe('skip');
        // The rights are judged all the same.
        expect(check(report, 'master-rights').status).toBe('pass');
      } else {
        expect(check(report, 'alternate-name').reason).toContain('is 80 characters (the limit is 80)');
      }
    }
  });

  it('dual-password is refused on MariaDB', async () => {
    const f = get();
    const { id } = await alternating(f, { strategy: 'dual-password' });
    const report = await dryRun(f, id, db.generalLogFile, []);
    expect(check(report, 'dual-password')).toMatchObject({ status: 'fail', code: 'UNSUPPORTED_ENGINE', reason: expect.stringMatching(/RETAIN CURRENT PASSWORD/) as unknown });
    expect(check(report, 'master-rights').status).toBe('pass');
  });
});

describe.each<Dialect>(['sendgrid', 'datadog', 'http'])('API keys (%s)', (dialect) => {
  const get = fixture(() => createApiKeyRotator({ timeoutMs: 2_000 }));
  let fake: FakeKeyProvider;
  let attacker: FakeKeyProvider;
  beforeEach(async () => {
    fake = await new FakeKeyProvider({ dialect }).start();
    attacker = await new FakeKeyProvider({ dialect }).start();
  });
  afterEach(async () => {
    await fake.close();
    await attacker.close();
  });

  const master = (): SecretObject => ({
    ...(dialect === 'datadog' ? { api_key: fake.adminKey, application_key: fake.appKey } : { key: fake.adminKey }),
    allowed_origins: [fake.url],
  });
  const secretOn = (provider: FakeKeyProvider, key: { key: string; id: string }): SecretObject => ({
    engine: 'api-key',
    provider: dialect,
    key: key.key,
    key_id: key.id,
    masterarn: 'svc-admin',
    ...(dialect === 'http' ? { http: httpDialectConfig(provider.url) } : { base_url: provider.url }),
  });
  /** The preflight, with the store file and the provider's keys unchanged and nothing minted or deleted. */
  const run = async (f: Fixture, value: SecretObject): Promise<PreflightReport> => {
    await f.put('svc-admin', master());
    await f.put('svc-key', value);
    const keys = [...fake.keys.keys()].sort();
    const before = readFileSync(f.t.path);
    const report = await f.engine().preflight('svc-key');
    expect(readFileSync(f.t.path).equals(before)).toBe(true);
    expect([...fake.keys.keys()].sort()).toEqual(keys);
    expect(fake.requests.filter((r) => r.kind === 'create' || r.kind === 'delete')).toEqual([]);
    return report;
  };

  it('a working key passes: the URLs are allowed, the admin credential lists, the provider accepts CURRENT', async () => {
    const f = get();
    const report = await run(f, secretOn(fake, fake.addKey('hand-made')));
    expect(statuses(report)).toEqual({
      'rotation-enabled': 'pass',
      lock: 'pass',
      'current-value': 'pass',
      pending: 'pass',
      'master-secret': 'pass',
      endpoints: 'pass',
      'master-login': 'pass',
      'provider-accepts': 'pass',
    });
    expect(fake.count('test')).toBe(1);
  });

  it('a key the provider no longer accepts fails "provider accepts CURRENT"', async () => {
    const f = get();
    const key = fake.addKey('hand-made');
    fake.keys.delete(key.id);
    const report = await run(f, secretOn(fake, key));
    expect(check(report, 'provider-accepts')).toMatchObject({ status: 'fail', code: 'TARGET_AUTH_FAILED' });
  });

  it('a secret naming a host the master does not allow fails "endpoints allowed" and sends nothing there', async () => {
    const f = get();
    const report = await run(f, secretOn(attacker, attacker.addKey('hand-made')));
    expect(check(report, 'endpoints')).toMatchObject({ status: 'fail', code: 'INVALID_SECRET' });
    expect(check(report, 'provider-accepts').status).toBe('skip');
    expect(attacker.received).toHaveLength(0);
  });
});

describe('API keys (self-issued)', () => {
  const get = fixture(() => createApiKeyRotator());
  it('checks the key against its format only', async () => {
    const f = get();
    const value = { engine: 'api-key', provider: 'self-issued', key_prefix: 'svc_', key_length: 40, key: `svc_${'a'.repeat(40)}` };
    recordSecrets(value.key);
    await f.put('svc-self', value);
    expect(statuses(await f.engine().preflight('svc-self'))).toMatchObject({ 'provider-accepts': 'pass', endpoints: 'skip', 'master-secret': 'skip' });
    await f.t.store.putValue('svc-self', JSON.stringify({ ...value, key: 'other_key' }));
    expect(check(await f.engine().preflight('svc-self'), 'provider-accepts')).toMatchObject({ status: 'fail', code: 'INVALID_SECRET' });
  });
});

describe('rotator rotate --dry-run', () => {
  const get = fixture(() => createPostgresRotator({ tls: { ca: pgAdmin.ca }, connectTimeoutMs: 3_000 }));
  const env = (f: Fixture): NodeJS.ProcessEnv => ({ ROTATOR_STORE: f.t.path, ROTATOR_STORE_KEY: f.t.key.toString('base64'), ROTATOR_TLS_CA_FILE: pg.caFile });

  /** A single-user PostgreSQL secret `id` whose CURRENT logs in (or not, with `wrong`). */
  const secret = async (f: Fixture, id: string, options: { wrong?: boolean; port?: number } = {}): Promise<string> => {
    const app = unique('pf_cli');
    const pw = password();
    await pgAdmin.createRole(app, pw);
    const value = { engine: 'postgres', host: pg.host, port: options.port ?? pg.port, username: app, password: options.wrong === true ? password() : pw, dbname: 'postgres', ssl: true };
    await f.put(id, value, 'single-user');
    return app;
  };

  it('prints one aligned line per check, exits 0, and changes nothing', async () => {
    const f = get();
    const app = await secret(f, 'db/app');
    const before = readFileSync(f.t.path);
    const run = await runRotator(env(f), ['rotate', 'db/app', '--dry-run']);
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    const lines = run.stdout.trimEnd().split('\n');
    expect(lines[0]).toBe('dry run of db/app (postgres, single-user): nothing was changed');
    expect(lines.at(-1)).toBe('a rotation would succeed');
    const rows = lines.slice(1, -1);
    expect(rows.map((l) => l.slice(2, 6))).toEqual(['PASS', 'PASS', 'PASS', 'PASS', 'SKIP', 'PASS', 'PASS', 'SKIP', 'SKIP', 'SKIP', 'SKIP']);
    // Aligned: every reason starts in the same column.
    const column = rows[0]?.indexOf('rotation is enabled');
    expect(rows.find((l) => l.includes('CURRENT logs in'))?.indexOf(`logged in as user "${app}"`)).toBe(column);
    expect(readFileSync(f.t.path).equals(before)).toBe(true);
    expect(await f.t.store.describe('db/app')).toMatchObject({ versions: [{ stages: ['CURRENT'] }] });
  });

  it('--json prints one object, also when a check fails (exit 1, nothing else printed)', async () => {
    const f = get();
    await secret(f, 'db/ok');
    const ok = await runRotator(env(f), ['rotate', 'db/ok', '--dry-run', '--json']);
    expect(ok.code).toBe(0);
    expect(JSON.parse(ok.stdout)).toMatchObject({ ok: true, dryRun: true, secretId: 'db/ok', engine: 'postgres', strategy: 'single-user' });

    await secret(f, 'db/wrong', { wrong: true });
    const bad = await runRotator(env(f), ['rotate', 'db/wrong', '--dry-run', '--json']);
    expect(bad.code).toBe(1);
    const report = JSON.parse(bad.stdout) as { ok: boolean; checks: Array<{ id: string; status: string; code?: string }> };
    expect(report.ok).toBe(false);
    expect(report.checks.find((c) => c.id === 'current-login')).toMatchObject({ status: 'fail', code: 'TARGET_AUTH_FAILED' });
    expect(bad.stderr).toBe('');

    const text = await runRotator(env(f), ['rotate', 'db/wrong', '--dry-run']);
    expect(text.code).toBe(1);
    expect(text.stdout).toMatch(/FAIL {2}CURRENT logs in +TARGET_AUTH_FAILED: PostgreSQL at .* refused the login/);
    expect(text.stdout.trimEnd().split('\n').at(-1)).toBe('1 check(s) failed: a rotation would fail');
  });

  it('exits 75 when the target is unreachable, and 2 for a secret that does not exist', async () => {
    const f = get();
    await secret(f, 'db/down', { port: await freePort() });
    const down = await runRotator(env(f), ['rotate', 'db/down', '--dry-run']);
    expect(down.code).toBe(75);
    expect(down.stdout).toMatch(/FAIL {2}CURRENT logs in +TARGET_UNREACHABLE: /);
    const missing = await runRotator(env(f), ['rotate', 'db/dwn', '--dry-run']);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toMatch(/SECRET_NOT_FOUND: .*did you mean db\/down\?/);
  });

  it('on a store that does not exist: SECRET_NOT_FOUND, and nothing is created', async () => {
    const f = get();
    const path = `${f.t.dir}/typo/store.json`;
    const run = await runRotator({ ...env(f), ROTATOR_STORE: path }, ['rotate', 'db/app', '--dry-run']);
    expect(run.code).toBe(2);
    expect(run.stderr).toContain('SECRET_NOT_FOUND');
    expect(existsSync(`${f.t.dir}/typo`)).toBe(false);
  });

  it('a control character in what the secret holds cannot forge a line of output', async () => {
    const f = get();
    await f.put('db/ctl', { engine: 'evil\n  PASS  forged\r\u001b[2K', host: pg.host, username: 'x', password: password() });
    const run = await runRotator(env(f), ['rotate', 'db/ctl', '--dry-run']);
    expect(run.code).toBe(1);
    const lines = run.stdout.trimEnd().split('\n');
    expect(lines).toHaveLength(5);
    // Every line is the header, a check row (two spaces, a status) or the verdict; the engine is quoted escaped.
    for (const line of lines.slice(1, -1)) expect(line).toMatch(/^ {2}(PASS|FAIL|SKIP) {2}/);
    expect(run.stdout).not.toContain('\r');
    expect(run.stdout).not.toContain('\u001b');
    expect(run.stdout).toContain('FAIL  CURRENT value valid');
  });
});
