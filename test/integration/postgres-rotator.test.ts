import { readFileSync } from 'node:fs';
import { inspect } from 'node:util';
import { Client, escapeIdentifier, escapeLiteral } from 'pg';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { generatePassword } from '../../shared/password.js';
import type { RotatorContext, TestInput } from '../../shared/rotator.js';
import type { SecretObject } from '../../shared/secret.js';
import { withSession, type Endpoint } from '../../rotators/postgres/connect.js';
import { createPostgresRotator, POSTGRES_EXCLUDE_CHARACTERS } from '../../rotators/postgres/index.js';
import { scramSha256Verifier } from '../../rotators/postgres/scram.js';
import { describeUnreachableTargets, rejection } from '../support/unreachable.js';
import { canaryLogger, recordSecrets } from '../support/canary.js';
import { CLEARTEXT_ROLE, TRUST_ROLE } from '../support/postgres-cluster.js';
import { postgresAdmin } from '../support/postgres-admin.js';
import { startNoTlsProxy, type NoTlsProxy } from '../support/no-tls-proxy.js';

/**
 * The PostgreSQL rotator against a real server that enforces scram-sha-256 (test/support/global-setup.ts).
 * Every password used here is kept in `passwords`; at the end the server's statement log and everything the
 * rotator logged are searched for each of them.
 */
const pg = inject('postgres');
const { ca, admin, createRole, roleExists, logsIn } = postgresAdmin(pg);

const lines: string[] = [];
const logger = canaryLogger(lines);
const ctx: RotatorContext = { logger };
const rotator = createPostgresRotator({ tls: { ca }, connectTimeoutMs: 3_000, statementTimeoutMs: 5_000 });

const passwords: string[] = [];
function newPassword(): string {
  const password = generatePassword({ excludeCharacters: POSTGRES_EXCLUDE_CHARACTERS });
  passwords.push(password);
  recordSecrets(password);
  return password;
}

let roleCounter = 0;
function uniqueName(prefix: string): string {
  roleCounter += 1;
  return `${prefix}_${roleCounter}`;
}

function secretFor(username: string, password: string, extra: SecretObject = {}): SecretObject {
  return { engine: 'postgres', host: pg.host, port: pg.port, username, password, dbname: 'postgres', ssl: true, ...extra };
}

/** What the engine hands testSecret for an alternating-users rotation from `current` (PostgreSQL asks for no master). */
const testInput = (current: SecretObject): TestInput => ({
  strategy: 'alternating-users',
  current,
  readMaster: () => Promise.reject(new Error('the PostgreSQL rotator proves the rights through the pending login')),
});


function expectNoPassword(text: string): void {
  for (const p of passwords) expect(text).not.toContain(p);
  expect(text).not.toContain(pg.superuserPassword);
}

describe('the test cluster', () => {
  it('enforces passwords: a wrong one is refused, the right one accepted', async () => {
    const name = uniqueName('sanity');
    const password = newPassword();
    await createRole(name, password);
    expect(await logsIn(name, newPassword())).toBe(false);
    expect(await logsIn(name, password)).toBe(true);
    expect(await rotator.works(secretFor(name, password.slice(1) + 'x'), ctx)).toBe(false);
    expect(await rotator.works(secretFor(name, password), ctx)).toBe(true);
    // Unknown roles are refused the same way (no vacuous success for a typo in a username).
    expect(await rotator.works(secretFor('no_such_role', password), ctx)).toBe(false);
  });

  it('computes the same verifier as PostgreSQL does for the same salt', async () => {
    const name = uniqueName('vector');
    const password = newPassword();
    const stored = await admin(async (c) => {
      // This one statement carries the plaintext on purpose; keep it out of the log the last test searches.
      await c.query("SET log_statement = 'none'");
      await c.query(`CREATE ROLE ${escapeIdentifier(name)} LOGIN PASSWORD ${escapeLiteral(password)}`);
      const { rows } = await c.query<{ rolpassword: string }>('SELECT rolpassword FROM pg_authid WHERE rolname = $1', [name]);
      return rows[0]?.rolpassword ?? '';
    });
    const salt = /^SCRAM-SHA-256\$4096:([^$]+)\$/.exec(stored)?.[1];
    expect(salt).toBeDefined();
    expect(scramSha256Verifier(password, { salt: Buffer.from(salt ?? '', 'base64') })).toBe(stored);
  });
});

describe('single-user', () => {
  it('sets and tests the new password; the old one is refused afterwards', async () => {
    const name = uniqueName('single');
    const old = newPassword();
    await createRole(name, old);
    const current = secretFor(name, old, { port: String(pg.port), note: 'kept' });
    const pending = rotator.createPending({ strategy: 'single-user', current, generatePassword: newPassword });
    expect(await rotator.works(pending, ctx)).toBe(false);

    await rotator.set({ strategy: 'single-user', current, pending }, ctx);
    await rotator.test(pending, ctx);

    expect(await rotator.works(pending, ctx)).toBe(true);
    expect(await logsIn(name, pending.password as string)).toBe(true);
    expect(await logsIn(name, old)).toBe(false);
    const stored = await admin(async (c) => (await c.query<{ rolpassword: string }>('SELECT rolpassword FROM pg_authid WHERE rolname = $1', [name])).rows[0]?.rolpassword);
    expect(stored).toMatch(/^SCRAM-SHA-256\$4096:/);
  });

  it('logs in with the previous password when the current one no longer works', async () => {
    const name = uniqueName('previous');
    const inDatabase = newPassword();
    await createRole(name, inDatabase);
    const previous = secretFor(name, inDatabase);
    const current = secretFor(name, newPassword()); // an earlier run stored it but never set it
    const pending = rotator.createPending({ strategy: 'single-user', current, generatePassword: newPassword });

    await rotator.set({ strategy: 'single-user', current, pending, readPrevious: () => Promise.resolve(previous) }, ctx);

    expect(await logsIn(name, pending.password as string)).toBe(true);
    expect(await logsIn(name, inDatabase)).toBe(false);
    expect(lines.some((l) => l.includes('"loggedInWith":"previous"'))).toBe(true);
  });

  it('fails with TARGET_AUTH_FAILED naming the user when neither current nor previous logs in', async () => {
    const name = uniqueName('locked_out');
    const real = newPassword();
    await createRole(name, real);
    const current = secretFor(name, newPassword());
    const previous = secretFor(name, newPassword());
    const pending = rotator.createPending({ strategy: 'single-user', current, generatePassword: newPassword });
    const e = await rejection(() => rotator.set({ strategy: 'single-user', current, pending, readPrevious: () => Promise.resolve(previous) }, ctx));
    expect(e.code).toBe('TARGET_AUTH_FAILED');
    expect(e.message).toContain(`"${name}"`);
    expectNoPassword(e.message);
    expect(await logsIn(name, real)).toBe(true); // nothing changed
  });

  it('test() fails with TARGET_AUTH_FAILED when the pending password is refused', async () => {
    const name = uniqueName('untested');
    await createRole(name, newPassword());
    const e = await rejection(() => rotator.test(secretFor(name, newPassword()), ctx));
    expect(e.code).toBe('TARGET_AUTH_FAILED');
    expectNoPassword(e.message);
  });

  it('maps a statement timeout to a retryable TARGET_UNREACHABLE without quoting the statement', async () => {
    const name = uniqueName('locked_row');
    const old = newPassword();
    await createRole(name, old);
    const quick = createPostgresRotator({ tls: { ca }, statementTimeoutMs: 400 });
    const current = secretFor(name, old);
    const pending = rotator.createPending({ strategy: 'single-user', current, generatePassword: newPassword });
    const holder = new Client({ host: pg.host, port: pg.port, user: pg.superuser, password: pg.superuserPassword, database: 'postgres', ssl: { ca } });
    await holder.connect();
    try {
      // An open transaction that altered the role holds its pg_authid row: our ALTER ROLE must wait, then time out.
      await holder.query('BEGIN');
      await holder.query(`ALTER ROLE ${escapeIdentifier(name)} CONNECTION LIMIT 5`);
      const started = Date.now();
      const e = await rejection(() => quick.set({ strategy: 'single-user', current, pending }, ctx));
      expect(Date.now() - started).toBeLessThan(5_000);
      expect(e.code).toBe('TARGET_UNREACHABLE');
      expect(e.retryable).toBe(true);
      expect(e.message).toMatch(/ALTER ROLE .* did not finish within 400 ms/);
      expect(e.message).not.toContain('SCRAM-SHA-256');
      expect(inspect(e, { depth: 10 })).not.toContain('SCRAM-SHA-256');
      expectNoPassword(e.message);
    } finally {
      await holder.query('ROLLBACK');
      await holder.end();
    }
    expect(await logsIn(name, old)).toBe(true);
  });
});

describe('alternating-users', () => {
  const masterName = 'rotator_master';
  let master: SecretObject;

  beforeAll(async () => {
    const password = newPassword();
    await createRole(masterName, password, 'LOGIN CREATEROLE');
    master = secretFor(masterName, password);
  });

  it('creates the clone with the rights of the original, then alters the original back', async () => {
    const name = uniqueName('app');
    const table = `${name}_orders`;
    const original = newPassword();
    await createRole(name, original);
    await admin(async (c) => {
      await c.query(`CREATE TABLE ${escapeIdentifier(table)} (id int)`);
      await c.query(`INSERT INTO ${escapeIdentifier(table)} VALUES (1), (2)`);
      await c.query(`ALTER TABLE ${escapeIdentifier(table)} OWNER TO ${escapeIdentifier(name)}`);
    });
    const read = `SELECT count(*) FROM ${escapeIdentifier(table)}`;

    const current = secretFor(name, original, { masterarn: 'arn:master' });
    const toClone = rotator.createPending({ strategy: 'alternating-users', current, generatePassword: newPassword });
    expect(toClone.username).toBe(`${name}_clone`);
    expect(rotator.masterSecretId(current, 'alternating-users')).toBe('arn:master');
    expect(await roleExists(`${name}_clone`)).toBe(false);
    // Without the grant the clone could not read the table: prove that before rotating.
    expect(await logsIn(name, original, read)).toBe(true);

    await rotator.set({ strategy: 'alternating-users', current, pending: toClone, master }, ctx);
    await rotator.test(toClone, ctx, testInput(current));
    // A login proves nothing about the clone's rights: setSecret must not be skipped for alternating users.
    expect(await rotator.works(toClone, ctx)).toBe(true);
    expect(await rotator.works(toClone, ctx, 'alternating-users')).toBe(false);

    expect(await logsIn(`${name}_clone`, toClone.password as string, read)).toBe(true);
    expect(await logsIn(name, original)).toBe(true); // CURRENT keeps working
    const member = await admin(async (c) =>
      (
        await c.query(
          'SELECT 1 FROM pg_auth_members m JOIN pg_roles r ON r.oid = m.roleid JOIN pg_roles u ON u.oid = m.member WHERE r.rolname = $1 AND u.rolname = $2',
          [name, `${name}_clone`],
        )
      ).rows.length,
    );
    expect(member).toBe(1);

    // Second rotation: the clone is CURRENT, the original gets a new password.
    const back = rotator.createPending({ strategy: 'alternating-users', current: toClone, generatePassword: newPassword });
    expect(back.username).toBe(name);
    await rotator.set({ strategy: 'alternating-users', current: toClone, pending: back, master }, ctx);
    await rotator.test(back, ctx, testInput(toClone));
    expect(await logsIn(name, back.password as string, read)).toBe(true);
    expect(await logsIn(name, original)).toBe(false);
    expect(await logsIn(`${name}_clone`, toClone.password as string, read)).toBe(true);

    // Re-running set with the same pending value is harmless (idempotent step).
    await rotator.set({ strategy: 'alternating-users', current: toClone, pending: back, master }, ctx);
    expect(await logsIn(name, back.password as string)).toBe(true);

    // testSecret proves the membership that carries the rights, whichever user is pending, and names it.
    const again = rotator.createPending({ strategy: 'alternating-users', current: back, generatePassword: newPassword });
    await admin((c) => c.query(`REVOKE ${escapeIdentifier(name)} FROM ${escapeIdentifier(`${name}_clone`)}`));
    for (const [pending, from] of [
      [back, toClone],
      [toClone, back],
    ] as const) {
      const e = await rejection(() => rotator.test(pending, ctx, testInput(from)));
      expect(e.code).toBe('TARGET_ERROR');
      expect(e.message).toContain(`"${name}_clone" does not hold the rights of "${name}"`);
    }
    // setSecret of an existing clone grants the membership back, in the transaction that sets its password.
    await rotator.set({ strategy: 'alternating-users', current: back, pending: again, master }, ctx);
    await rotator.test(again, ctx, testInput(back));
    expect(await logsIn(`${name}_clone`, again.password as string, read)).toBe(true);
  });

  it('refuses when the current credential no longer logs in, and creates nothing', async () => {
    const name = uniqueName('stale');
    await createRole(name, newPassword());
    const current = secretFor(name, newPassword(), { masterarn: 'arn:master' }); // not what the database holds
    const pending = rotator.createPending({ strategy: 'alternating-users', current, generatePassword: newPassword });
    const e = await rejection(() => rotator.set({ strategy: 'alternating-users', current, pending, master }, ctx));
    expect(e.code).toBe('TARGET_AUTH_FAILED');
    expect(e.message).toMatch(/current secret no longer logs in/);
    expect(e.message).toContain(`"${name}"`);
    expectNoPassword(e.message);
    expect(await roleExists(`${name}_clone`)).toBe(false);
  });

  it('fails with TARGET_ERROR and creates nothing when the master lacks CREATEROLE', async () => {
    const name = uniqueName('weak');
    const password = newPassword();
    await createRole(name, password);
    const weakPassword = newPassword();
    const weakMasterName = uniqueName('weak_master');
    await createRole(weakMasterName, weakPassword);
    const weakMaster = secretFor(weakMasterName, weakPassword);
    const current = secretFor(name, password);
    const pending = rotator.createPending({ strategy: 'alternating-users', current, generatePassword: newPassword });
    const e = await rejection(() => rotator.set({ strategy: 'alternating-users', current, pending, master: weakMaster }, ctx));
    expect(e.code).toBe('TARGET_ERROR');
    expect(e.message).toMatch(/CREATE ROLE .* failed \(42501/);
    expect(inspect(e, { depth: 10 })).not.toContain('SCRAM-SHA-256');
    expect(await roleExists(`${name}_clone`)).toBe(false);
  });
});

describe('hostile role names', () => {
  beforeAll(async () => {
    await admin((c) => c.query('CREATE TABLE canary (id int)'));
  });

  const canaryTablePresent = () =>
    admin(async (c) => (await c.query<{ present: boolean }>("SELECT to_regclass('public.canary') IS NOT NULL AS present")).rows[0]?.present);

  const names = [
    "o'brien",
    'say "hi"',
    'x; DROP TABLE canary; --',
    "x'; DROP TABLE canary; --",
    'with  spaces here',
    'rôle_ü',
    'back\\slash\\',
    '$$dollar$$',
    'a'.repeat(63),
    'é'.repeat(31) + 'z', // 63 bytes
  ];

  it.each(names)('single-user rotates %j', async (name) => {
    const old = newPassword();
    await createRole(name, old);
    const current = secretFor(name, old);
    const pending = rotator.createPending({ strategy: 'single-user', current, generatePassword: newPassword });
    await rotator.set({ strategy: 'single-user', current, pending }, ctx);
    await rotator.test(pending, ctx);
    expect(await logsIn(name, pending.password as string)).toBe(true);
    expect(await logsIn(name, old)).toBe(false);
    expect(await canaryTablePresent()).toBe(true);
  });

  it.each(["o'brien \"q\"; DROP TABLE canary; --", 'rôle_ü_alt', 'é'.repeat(28) + 'b'])('alternating users clone %j', async (name) => {
    const old = newPassword();
    await createRole(name, old);
    const masterPassword = newPassword();
    const masterName = uniqueName('hostile_master');
    await createRole(masterName, masterPassword, 'LOGIN CREATEROLE');
    const current = secretFor(name, old);
    const pending = rotator.createPending({ strategy: 'alternating-users', current, generatePassword: newPassword });
    await rotator.set({ strategy: 'alternating-users', current, pending, master: secretFor(masterName, masterPassword) }, ctx);
    await rotator.test(pending, ctx);
    expect(await logsIn(`${name}_clone`, pending.password as string)).toBe(true);
    expect(await logsIn(name, old)).toBe(true);
    expect(await canaryTablePresent()).toBe(true);
  });

  it('refuses names over 63 bytes with INVALID_SECRET and leaves the truncated namesake alone', async () => {
    const namesake = 'b'.repeat(63);
    const old = newPassword();
    await createRole(namesake, old);
    for (const name of ['b'.repeat(64), 'b'.repeat(63) + 'é']) {
      const current = secretFor(name, old);
      const pending = { ...current, password: newPassword() };
      expect(() => rotator.validate(current, 'the current secret')).toThrow(/username: must be at most 63 bytes/);
      const e = await rejection(() => rotator.set({ strategy: 'single-user', current, pending }, ctx));
      expect(e.code).toBe('INVALID_SECRET');
      expect((await rejection(() => rotator.works(pending, ctx))).code).toBe('INVALID_SECRET');
    }
    expect(await logsIn(namesake, old)).toBe(true);
  });
});

describe('TLS', () => {
  let user: string;
  let password: string;

  beforeAll(async () => {
    user = uniqueName('tls');
    password = newPassword();
    await createRole(user, password);
  });

  const endpoint = (ssl: boolean | undefined, host = pg.host, port = pg.port): Endpoint => ({ host, port, database: 'postgres', user, password, ssl });
  const settings = (tls: { ca?: Buffer; allowPlaintextFallback?: boolean }) => ({ connectTimeoutMs: 3_000, statementTimeoutMs: 5_000, tls });
  const sslOfBackend = (e: Endpoint, s: ReturnType<typeof settings>) =>
    withSession(e, s, ctx, async (session) => {
      const { rows } = await session.query<{ ssl: boolean }>({ label: 'pg_stat_ssl', text: 'SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()' });
      return { reported: session.tls, server: rows[0]?.ssl };
    });

  it('ssl=true with the test CA connects over verified TLS', async () => {
    expect(await sslOfBackend(endpoint(true), settings({ ca }))).toEqual({ reported: true, server: true });
    await rotator.test(secretFor(user, password, { ssl: true }), ctx);
  });

  it('no ssl key means verified TLS too', async () => {
    expect(await sslOfBackend(endpoint(undefined), settings({ ca }))).toEqual({ reported: true, server: true });
  });

  it('ssl=false connects in plaintext', async () => {
    expect(await sslOfBackend(endpoint(false), settings({ ca }))).toEqual({ reported: false, server: false });
    await rotator.test(secretFor(user, password, { ssl: false }), ctx);
    await rotator.test(secretFor(user, password, { ssl: 'false' }), ctx);
  });

  it('ssl=true without the CA fails with TARGET_TLS, and works() throws rather than answering false', async () => {
    const noCa = createPostgresRotator({ connectTimeoutMs: 3_000 });
    const e = await rejection(() => noCa.test(secretFor(user, password, { ssl: true }), ctx));
    expect(e.code).toBe('TARGET_TLS');
    expect(e.message).toMatch(/ROTATOR_TLS_CA_FILE/);
    expect(e.message).toMatch(/"ssl": false/);
    expectNoPassword(e.message);
    expect((await rejection(() => noCa.works(secretFor(user, password, { ssl: true }), ctx))).code).toBe('TARGET_TLS');
  });

  it('verifies the host name: a name absent from the certificate fails even with the right CA', async () => {
    // "127.1" resolves to 127.0.0.1 but is not a name in the certificate (localhost, IP 127.0.0.1).
    const e = await rejection(() => withSession(endpoint(true, '127.1'), settings({ ca }), ctx, (s) => s.query({ label: 'x', text: 'SELECT 1' })));
    expect(e.code).toBe('TARGET_TLS');
    expect(e.message).toMatch(/ERR_TLS_CERT_ALTNAME_INVALID/);
  });

  it('never falls back to plaintext on a certificate failure', async () => {
    const mark = lines.length;
    const e = await rejection(() => sslOfBackend(endpoint(undefined), settings({ allowPlaintextFallback: true })));
    expect(e.code).toBe('TARGET_TLS');
    expect(lines.slice(mark).some((l) => l.includes('plaintext'))).toBe(false);
  });

  describe('against a server without TLS', () => {
    let proxy: NoTlsProxy;
    beforeAll(async () => {
      proxy = await startNoTlsProxy(pg.host, pg.port);
    });
    afterAll(async () => {
      await proxy.close();
    });

    it('refuses plaintext by default, and when the secret says ssl=true', async () => {
      for (const [ssl, fallback] of [
        [undefined, false],
        [true, true],
      ] as const) {
        proxy.seen.length = 0;
        const e = await rejection(() => sslOfBackend(endpoint(ssl, pg.host, proxy.port), settings({ ca, allowPlaintextFallback: fallback })));
        expect(e.code).toBe('TARGET_TLS');
        expect(e.message).toMatch(/does not offer TLS/);
        expect(proxy.seen).toEqual(['ssl-request']);
      }
    });

    it('falls back to plaintext with a warning only when allowed and the secret has no ssl key', async () => {
      proxy.seen.length = 0;
      const mark = lines.length;
      expect(await sslOfBackend(endpoint(undefined, pg.host, proxy.port), settings({ ca, allowPlaintextFallback: true }))).toEqual({ reported: false, server: false });
      expect(proxy.seen).toEqual(['ssl-request', 'plaintext-startup']);
      const warnings = lines.slice(mark).filter((l) => l.includes('"level":"warn"'));
      expect(warnings).toHaveLength(1);
      expect(warnings[0]).toMatch(/plaintext/);
    });
  });
});

describe('weak server authentication', () => {
  it('does not take a trust login as proof that a password works, and still sets it', async () => {
    if (!(await roleExists(TRUST_ROLE))) await createRole(TRUST_ROLE, newPassword());
    const before = lines.length;
    const any = secretFor(TRUST_ROLE, newPassword());
    expect(await rotator.works(any, ctx)).toBe(false);
    expect(lines.slice(before).join('\n')).toMatch(/without asking for a password \(trust authentication\)/);
    // setSecret therefore runs, and the role really gets the new verifier.
    const pending = { ...any, password: newPassword() };
    await rotator.set({ strategy: 'single-user', current: any, pending }, ctx);
    const stored = await admin(async (c) => (await c.query<{ p: string }>('SELECT rolpassword AS p FROM pg_authid WHERE rolname = $1', [TRUST_ROLE])).rows[0]?.p);
    expect(stored).toMatch(/^SCRAM-SHA-256\$4096:/);
    expect(stored).toBe(scramSha256Verifier(pending.password, { salt: Buffer.from(/:([^$]+)\$/.exec(stored ?? '')?.[1] ?? '', 'base64') }));
  });

  it('lets a trust login count as "current still logs in" for alternating users', async () => {
    if (!(await roleExists(TRUST_ROLE))) await createRole(TRUST_ROLE, newPassword());
    const masterPassword = newPassword();
    const masterName = uniqueName('trust_master');
    await createRole(masterName, masterPassword, 'LOGIN CREATEROLE');
    const current = secretFor(TRUST_ROLE, newPassword(), { masterarn: 'm' });
    const pending = { ...current, username: `${TRUST_ROLE}_clone`, password: newPassword() };
    await rotator.set({ strategy: 'alternating-users', current, pending, master: secretFor(masterName, masterPassword) }, ctx);
    // The clone is under scram: its new password, and only that, logs in.
    expect(await logsIn(`${TRUST_ROLE}_clone`, pending.password)).toBe(true);
    expect(await logsIn(`${TRUST_ROLE}_clone`, newPassword())).toBe(false);
  });

  it('never sends a password in cleartext over plaintext; over TLS the same login works', async () => {
    const password = newPassword();
    if (!(await roleExists(CLEARTEXT_ROLE))) await createRole(CLEARTEXT_ROLE, password);
    else await admin((c) => c.query(`ALTER ROLE ${escapeIdentifier(CLEARTEXT_ROLE)} PASSWORD ${escapeLiteral(scramSha256Verifier(password))}`));
    const error = await rejection(() => rotator.test(secretFor(CLEARTEXT_ROLE, password, { ssl: false }), ctx));
    expect(error.code).toBe('TARGET_TLS');
    expect(error.message).toMatch(/asked for the password of user "rotator_cleartext_role" in cleartext over an unencrypted connection; refusing/);
    await expect(rotator.test(secretFor(CLEARTEXT_ROLE, password, { ssl: true }), ctx)).resolves.toBeUndefined();
  });
});

describeUnreachableTargets({
  rotator: (connectTimeoutMs) => createPostgresRotator({ tls: { ca }, ...(connectTimeoutMs === undefined ? {} : { connectTimeoutMs }) }),
  secretOn: (port) => secretFor('anyone', newPassword(), { port }),
  ctx,
});

// Runs last (tests in a file run in order): searches what the whole file produced.
describe('no plaintext anywhere', () => {
  it('the server statement log holds verifiers, never a password', () => {
    const log = readFileSync(pg.logFile, 'utf8');
    expect(log).toContain('SCRAM-SHA-256$4096:');
    expect(log).toMatch(/ALTER ROLE .* PASSWORD 'SCRAM-SHA-256\$/);
    expect(log).toMatch(/CREATE ROLE .* WITH LOGIN PASSWORD 'SCRAM-SHA-256\$/);
    expect(passwords.length).toBeGreaterThan(40);
    expectNoPassword(log);
  });

  it('nothing the rotator logged holds a password or a verifier', () => {
    expect(lines.length).toBeGreaterThan(10);
    const all = lines.join('\n');
    expectNoPassword(all);
    expect(all).not.toContain('SCRAM-SHA-256$');
  });
});
