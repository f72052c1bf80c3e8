import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { inspect } from 'node:util';
import mysqlCore from 'mysql2';
import mysql from 'mysql2/promise';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { generatePassword } from '../../shared/password.js';
import type { RotatorContext, TestInput } from '../../shared/rotator.js';
import type { SecretObject } from '../../shared/secret.js';
import { withSession, type Endpoint } from '../../rotators/mysql/connect.js';
import type { ConnectionSettings } from '../../rotators/database.js';
import { MYSQL_EXCLUDE_CHARACTERS, createMysqlRotator } from '../../rotators/mysql/index.js';
import { mysqlNativePasswordHash } from '../../rotators/mysql/password-hash.js';
import { describeUnreachableTargets, rejection } from '../support/unreachable.js';
import { canaryLogger, recordSecrets } from '../support/canary.js';
import { mariadbAdmin, quoteAccount } from '../support/mariadb-admin.js';
import { startMariadbServer, type MariadbServer } from '../support/mariadb-server.js';

/**
 * The MySQL/MariaDB rotator against a real MariaDB 10.11 that enforces passwords and offers TLS
 * (test/support/mariadb-server.ts). MySQL 8 syntax and the dual-password flow are covered by the unit tests
 * (test/unit/mysql-*.test.ts), since no MySQL 8 server can run here. Every password used is kept in `passwords`
 * and registered with the leak canary; everything the rotator logs goes to the canary too.
 */
const db = inject('mariadb');
const { ca, admin, createUser, accountHosts, storedHash, dropUser, logsIn } = mariadbAdmin(db);
recordSecrets(db.rootPassword);

const lines: string[] = [];
const logger = canaryLogger(lines);
const ctx: RotatorContext = { logger };
const rotator = createMysqlRotator({ tls: { ca }, connectTimeoutMs: 3_000, statementTimeoutMs: 5_000 });
const settings = (tls: ConnectionSettings['tls'], overrides: Partial<ConnectionSettings> = {}): ConnectionSettings => ({
  connectTimeoutMs: 3_000,
  statementTimeoutMs: 5_000,
  tls,
  ...overrides,
});

const passwords: string[] = [];
function newPassword(excludeCharacters = MYSQL_EXCLUDE_CHARACTERS): string {
  const password = generatePassword({ excludeCharacters });
  passwords.push(password);
  recordSecrets(password, mysqlNativePasswordHash(password));
  return password;
}

let userCounter = 0;
function uniqueName(prefix: string): string {
  userCounter += 1;
  return `${prefix}_${userCounter}`;
}

function secretFor(username: string, password: string, extra: SecretObject = {}): SecretObject {
  return { engine: 'mariadb', host: db.host, port: db.port, username, password, ssl: true, ...extra };
}

const master = (): SecretObject => secretFor(db.rootUser, db.rootPassword);
/** What the engine hands testSecret for an alternating-users rotation from `current`, with the run's root as master. */
const testInput = (current: SecretObject): TestInput => ({
  strategy: 'alternating-users',
  current,
  readMaster: () => Promise.resolve({ value: master(), replicaHosts: [] }),
});

/** The logins made while `run` runs, counted at mysql2's connect (each rotator login calls it once, as bench/aws-rotate.ts counts them). */
async function loginsDuring(run: () => Promise<unknown>): Promise<number> {
  const proto = mysqlCore.Connection.prototype as unknown as { connect: (this: unknown, ...args: unknown[]) => unknown };
  const connect = proto.connect;
  let logins = 0;
  proto.connect = function (this: unknown, ...args: unknown[]) {
    logins += 1;
    return connect.apply(this, args);
  };
  try {
    await run();
  } finally {
    proto.connect = connect;
  }
  return logins;
}

function expectNoPassword(text: string): void {
  for (const p of passwords) {
    expect(text).not.toContain(p);
    expect(text).not.toContain(mysqlNativePasswordHash(p));
  }
  expect(text).not.toContain(db.rootPassword);
}

const endpointFor = (user: string, password: string, ssl: boolean | undefined, host = db.host, port = db.port): Endpoint => ({
  host,
  port,
  database: undefined,
  user,
  password,
  ssl,
  allowPublicKeyRetrieval: false,
});

/** What the server says about the session's encryption, next to what the session reports. */
const sslOfSession = (endpoint: Endpoint, s: ConnectionSettings) =>
  withSession(endpoint, s, ctx, async (session) => {
    const rows = await session.query<{ Value: string }>("SHOW SESSION STATUS LIKE 'Ssl_cipher'");
    return { reported: session.tls, cipher: rows[0]?.Value ?? '' };
  });

beforeAll(async () => {
  await admin(async (c) => {
    await c.query('CREATE DATABASE IF NOT EXISTS canary_db');
    await c.query('CREATE TABLE IF NOT EXISTS canary_db.canary (id int)');
  });
});

const canaryTablePresent = () =>
  admin(async (c) => {
    const [rows] = await c.query<mysql.RowDataPacket[]>("SELECT COUNT(*) AS n FROM information_schema.TABLES WHERE TABLE_SCHEMA = 'canary_db' AND TABLE_NAME = 'canary'");
    return Number(rows[0]?.n) === 1;
  });

describe('the test server', () => {
  it('enforces passwords: a wrong one is refused, the right one accepted', async () => {
    const name = uniqueName('sanity');
    const password = newPassword();
    await createUser(name, password);
    expect(await logsIn(name, newPassword())).toBe(false);
    expect(await logsIn(name, password)).toBe(true);
    expect(await logsIn(db.rootUser, '')).toBe(false);
    expect(await rotator.works(secretFor(name, password.slice(1) + 'x'), ctx)).toBe(false);
    expect(await rotator.works(secretFor(name, password), ctx)).toBe(true);
    // Unknown users are refused the same way (no vacuous success for a typo in a username).
    expect(await rotator.works(secretFor('no_such_user', password), ctx)).toBe(false);
  });

  it('computes the same hash as the server does for the same password', async () => {
    const password = newPassword('');
    const unicode = `${newPassword()}é用`;
    recordSecrets(unicode, mysqlNativePasswordHash(unicode));
    const hashes = await admin(async (c) => {
      // The plaintext goes to the server only here, and on purpose: kept out of the general log the canary searches.
      await c.query('SET SESSION sql_log_off = ON');
      const [rows] = await c.execute<mysql.RowDataPacket[]>('SELECT PASSWORD(?) AS a, PASSWORD(?) AS b', [password, unicode]);
      return [String(rows[0]?.a), String(rows[0]?.b)];
    });
    expect(hashes).toEqual([mysqlNativePasswordHash(password), mysqlNativePasswordHash(unicode)]);
  });
});

describe('single-user', () => {
  it('sets and tests the new password; the old one is refused afterwards', async () => {
    const name = uniqueName('single');
    const old = newPassword();
    await createUser(name, old);
    const current = secretFor(name, old, { port: String(db.port), note: 'kept' });
    const pending = rotator.createPending({ strategy: 'single-user', current, generatePassword: () => newPassword() });
    expect(pending).toMatchObject({ username: name, port: String(db.port), note: 'kept' });
    expect(await rotator.works(pending, ctx)).toBe(false);

    await rotator.set({ strategy: 'single-user', current, pending }, ctx);
    await rotator.test(pending, ctx);

    expect(await rotator.works(pending, ctx)).toBe(true);
    expect(await logsIn(name, pending.password as string)).toBe(true);
    expect(await logsIn(name, old)).toBe(false);
    expect(await storedHash(name)).toBe(mysqlNativePasswordHash(pending.password as string));
  });

  it('logs in with the previous password when the current one no longer works', async () => {
    const name = uniqueName('previous');
    const inDatabase = newPassword();
    await createUser(name, inDatabase);
    const previous = secretFor(name, inDatabase);
    const current = secretFor(name, newPassword()); // an earlier run stored it but never set it
    const pending = rotator.createPending({ strategy: 'single-user', current, generatePassword: () => newPassword() });
    const mark = lines.length;

    await rotator.set({ strategy: 'single-user', current, pending, readPrevious: () => Promise.resolve(previous) }, ctx);

    expect(await logsIn(name, pending.password as string)).toBe(true);
    expect(await logsIn(name, inDatabase)).toBe(false);
    expect(lines.slice(mark).some((l) => l.includes('"loggedInWith":"previous"'))).toBe(true);
  });

  it('does not try a previous secret that names another user', async () => {
    const name = uniqueName('prev_other');
    const other = uniqueName('prev_other');
    const otherPassword = newPassword();
    await createUser(name, newPassword());
    await createUser(other, otherPassword);
    const current = secretFor(name, newPassword());
    const pending = rotator.createPending({ strategy: 'single-user', current, generatePassword: () => newPassword() });
    const e = await rejection(() => rotator.set({ strategy: 'single-user', current, pending, readPrevious: () => Promise.resolve(secretFor(other, otherPassword)) }, ctx));
    expect(e.code).toBe('TARGET_AUTH_FAILED');
    expect(await logsIn(other, otherPassword)).toBe(true);
  });

  it('fails with TARGET_AUTH_FAILED naming the user when neither current nor previous logs in', async () => {
    const name = uniqueName('locked_out');
    const real = newPassword();
    await createUser(name, real);
    const current = secretFor(name, newPassword());
    const previous = secretFor(name, newPassword());
    const pending = rotator.createPending({ strategy: 'single-user', current, generatePassword: () => newPassword() });
    const e = await rejection(() => rotator.set({ strategy: 'single-user', current, pending, readPrevious: () => Promise.resolve(previous) }, ctx));
    expect(e.code).toBe('TARGET_AUTH_FAILED');
    expect(e.message).toContain(`"${name}"`);
    expectNoPassword(e.message);
    expect(await logsIn(name, real)).toBe(true); // nothing changed
  });

  it('test() fails with TARGET_AUTH_FAILED when the pending password is refused', async () => {
    const name = uniqueName('untested');
    await createUser(name, newPassword());
    const e = await rejection(() => rotator.test(secretFor(name, newPassword()), ctx));
    expect(e.code).toBe('TARGET_AUTH_FAILED');
    expect(e.message).toMatch(/refused the login of user/);
    expectNoPassword(e.message);
  });

  it('rotates passwords made of every punctuation character, quotes and backslashes included', async () => {
    const name = uniqueName('punct');
    const old = newPassword('');
    await createUser(name, old);
    const current = secretFor(name, old);
    const pending = rotator.createPending({ strategy: 'single-user', current, generatePassword: () => `'"\\${newPassword('')}\\'` });
    recordSecrets(pending.password as string, mysqlNativePasswordHash(pending.password as string));
    passwords.push(pending.password as string);
    await rotator.set({ strategy: 'single-user', current, pending }, ctx);
    await rotator.test(pending, ctx);
    expect(await logsIn(name, pending.password as string)).toBe(true);
    expect(await logsIn(name, old)).toBe(false);
  });

  it('connects to the named database when the secret has dbname, and refuses a database the user may not use', async () => {
    const name = uniqueName('dbname');
    const password = newPassword();
    await createUser(name, password);
    await admin((c) => c.query(`GRANT SELECT ON canary_db.* TO ${quoteAccount(name, '%')}`));
    const database = await withSession({ ...endpointFor(name, password, true), database: 'canary_db' }, settings({ ca }), ctx, async (s) => {
      const rows = await s.query<{ db: string }>('SELECT DATABASE() AS db');
      return rows[0]?.db;
    });
    expect(database).toBe('canary_db');
    await rotator.test(secretFor(name, password, { dbname: 'canary_db' }), ctx);
    const e = await rejection(() => rotator.test(secretFor(name, password, { dbname: 'mysql' }), ctx));
    expect(e.code).toBe('TARGET_AUTH_FAILED');
    expect(e.message).toMatch(/access to database "mysql"/);
  });

  it('maps a statement blocked by a lock to a retryable TARGET_UNREACHABLE without quoting the hash', async () => {
    const name = uniqueName('blocked');
    const old = newPassword();
    await createUser(name, old);
    const quick = createMysqlRotator({ tls: { ca }, statementTimeoutMs: 1_000 });
    const current = secretFor(name, old);
    const pending = rotator.createPending({ strategy: 'single-user', current, generatePassword: () => newPassword() });
    const holder = await mysql.createConnection({ host: db.host, port: db.port, user: db.rootUser, password: db.rootPassword, ssl: { ca } });
    try {
      // A global read lock makes every account change wait for it.
      await holder.query('FLUSH TABLES WITH READ LOCK');
      const started = Date.now();
      const e = await rejection(() => quick.set({ strategy: 'single-user', current, pending }, ctx));
      expect(Date.now() - started).toBeLessThan(5_000);
      expect(e.code).toBe('TARGET_UNREACHABLE');
      expect(e.retryable).toBe(true);
      expect(e.message).toMatch(/SET PASSWORD \(own account, native hash\) .* did not finish within 1000 ms/);
      const hash = mysqlNativePasswordHash(pending.password as string);
      expect(inspect(e, { depth: 10 })).not.toContain(hash);
      expectNoPassword(inspect(e, { depth: 10 }));
    } finally {
      await holder.query('UNLOCK TABLES');
      await holder.end();
    }
    expect(await logsIn(name, old)).toBe(true);
  });
});

describe('alternating-users', () => {
  it('creates the clone on every host with the rights of the original, then alters the original back', async () => {
    const name = uniqueName('app');
    const clone = `${name}_clone`;
    const original = newPassword();
    await createUser(name, original, ['%', '127.0.0.1']);
    await admin(async (c) => {
      await c.query(`CREATE DATABASE ${mysql.escapeId(`${name}_db`)}`);
      await c.query(`CREATE TABLE ${mysql.escapeId(`${name}_db`)}.orders (id int)`);
      await c.query(`INSERT INTO ${mysql.escapeId(`${name}_db`)}.orders VALUES (1), (2)`);
      for (const host of ['%', '127.0.0.1']) await c.query(`GRANT SELECT ON ${mysql.escapeId(`${name}_db`)}.* TO ${quoteAccount(name, host)}`);
    });
    const read = `SELECT COUNT(*) FROM ${mysql.escapeId(`${name}_db`)}.orders`;

    const current = secretFor(name, original, { masterarn: 'arn:master' });
    const toClone = rotator.createPending({ strategy: 'alternating-users', current, generatePassword: () => newPassword() });
    expect(toClone.username).toBe(clone);
    expect(rotator.masterSecretId(current, 'alternating-users')).toBe('arn:master');
    expect(await accountHosts(clone)).toEqual([]);
    expect(await logsIn(name, original, read)).toBe(true);

    await rotator.set({ strategy: 'alternating-users', current, pending: toClone, master: master() }, ctx);
    await rotator.test(toClone, ctx, testInput(current));
    // A login proves nothing about the alternate's rights: setSecret must not be skipped for alternating users.
    expect(await rotator.works(toClone, ctx)).toBe(true);
    expect(await rotator.works(toClone, ctx, 'alternating-users')).toBe(false);

    expect(await accountHosts(clone)).toEqual(['%', '127.0.0.1']);
    for (const host of ['%', '127.0.0.1']) expect(await storedHash(clone, host)).toBe(mysqlNativePasswordHash(toClone.password as string));
    expect(await logsIn(clone, toClone.password as string, read)).toBe(true);
    expect(await logsIn(name, original, read)).toBe(true); // CURRENT keeps working

    // Second rotation: the clone is CURRENT, the original gets a new password.
    const back = rotator.createPending({ strategy: 'alternating-users', current: toClone, generatePassword: () => newPassword() });
    expect(back.username).toBe(name);
    await rotator.set({ strategy: 'alternating-users', current: toClone, pending: back, master: master() }, ctx);
    await rotator.test(back, ctx, testInput(toClone));
    expect(await logsIn(name, back.password as string, read)).toBe(true);
    expect(await logsIn(name, original)).toBe(false);
    for (const host of ['%', '127.0.0.1']) expect(await storedHash(name, host)).toBe(mysqlNativePasswordHash(back.password as string));
    expect(await logsIn(clone, toClone.password as string, read)).toBe(true);

    // Third rotation: the clone exists already and gets a new password.
    const again = rotator.createPending({ strategy: 'alternating-users', current: back, generatePassword: () => newPassword() });
    await rotator.set({ strategy: 'alternating-users', current: back, pending: again, master: master() }, ctx);
    expect(await logsIn(clone, again.password as string, read)).toBe(true);
    expect(await logsIn(clone, toClone.password as string)).toBe(false);
    expect(await logsIn(name, back.password as string)).toBe(true);

    // Re-running set with the same pending value is harmless (idempotent step).
    await rotator.set({ strategy: 'alternating-users', current: back, pending: again, master: master() }, ctx);
    expect(await logsIn(clone, again.password as string, read)).toBe(true);

    // testSecret proves the rights on every account, through the master, and names what is missing.
    await admin((c) => c.query(`REVOKE SELECT ON ${mysql.escapeId(`${name}_db`)}.* FROM ${quoteAccount(clone, '127.0.0.1')}`));
    let e = await rejection(() => rotator.test(again, ctx, testInput(back)));
    expect(e.code).toBe('TARGET_ERROR');
    expect(e.message).toContain(`lacks rights that user "${name}" holds: SELECT ON \`${name}_db\`.* for '${clone}'@'127.0.0.1'`);
    expectNoPassword(e.message);
    await admin((c) => c.query(`DROP USER ${quoteAccount(clone, '127.0.0.1')}`));
    e = await rejection(() => rotator.test(again, ctx, testInput(back)));
    expect(e.message).toContain(`the account '${clone}'@'127.0.0.1'`);
    // setSecret puts it all back, and the pending password works only once the account has its rights.
    await rotator.set({ strategy: 'alternating-users', current: back, pending: again, master: master() }, ctx);
    await rotator.test(again, ctx, testInput(back));
  });

  it('testSecret logs in as the pending user, and compares the rights as the master unless setSecret copied them moments ago', async () => {
    const name = uniqueName('trust');
    const clone = `${name}_clone`;
    const password = newPassword();
    await createUser(name, password, ['%', '127.0.0.1']);
    const current = secretFor(name, password, { masterarn: 'arn:master' });
    await admin(async (c) => {
      await c.query(`CREATE DATABASE ${mysql.escapeId(`${name}_db`)}`);
      for (const host of ['%', '127.0.0.1']) await c.query(`GRANT SELECT ON ${mysql.escapeId(`${name}_db`)}.* TO ${quoteAccount(name, host)}`);
    });
    const pending = rotator.createPending({ strategy: 'alternating-users', current, generatePassword: () => newPassword() });
    await rotator.set({ strategy: 'alternating-users', current, pending, master: master() }, ctx);

    let masterReads = 0;
    const input = (setMomentsAgo?: boolean): TestInput => ({
      ...testInput(current),
      readMaster: () => {
        masterReads += 1;
        return Promise.resolve({ value: master(), replicaHosts: [] });
      },
      ...(setMomentsAgo === undefined ? {} : { setMomentsAgo }),
    });
    // Cold container, a step run by hand: the pending user, then the master.
    expect(await loginsDuring(() => rotator.test(pending, ctx, input()))).toBe(2);
    expect(await loginsDuring(() => rotator.test(pending, ctx, input(false)))).toBe(2);
    expect(masterReads).toBe(2);
    // setSecret proved the rights seconds ago in this process: the pending login alone.
    lines.length = 0;
    expect(await loginsDuring(() => rotator.test(pending, ctx, input(true)))).toBe(1);
    expect(masterReads).toBe(2);
    expect(lines.some((l) => l.includes('"level":"debug"') && l.includes('not comparing them again as the master'))).toBe(true);
    // The pending credential must log in whatever set proved.
    const wrong = { ...pending, password: newPassword() };
    expect((await rejection(() => rotator.test(wrong, ctx, input(true)))).code).toBe('TARGET_AUTH_FAILED');

    // An alternate missing a right fails testSecret unless set just proved otherwise (the window the engine bounds).
    await admin((c) => c.query(`REVOKE SELECT ON ${mysql.escapeId(`${name}_db`)}.* FROM ${quoteAccount(clone, '127.0.0.1')}`));
    const e = await rejection(() => rotator.test(pending, ctx, input()));
    expect(e.code).toBe('TARGET_ERROR');
    expect(e.message).toContain(`for '${clone}'@'127.0.0.1'`);
    await rotator.test(pending, ctx, input(true));
  });

  it('refuses when the current credential no longer logs in, and creates nothing', async () => {
    const name = uniqueName('stale');
    await createUser(name, newPassword());
    const current = secretFor(name, newPassword(), { masterarn: 'arn:master' }); // not what the database holds
    const pending = rotator.createPending({ strategy: 'alternating-users', current, generatePassword: () => newPassword() });
    const e = await rejection(() => rotator.set({ strategy: 'alternating-users', current, pending, master: master() }, ctx));
    expect(e.code).toBe('TARGET_AUTH_FAILED');
    expect(e.message).toMatch(/current secret no longer logs in/);
    expect(e.message).toContain(`"${name}"`);
    expectNoPassword(e.message);
    expect(await accountHosts(`${name}_clone`)).toEqual([]);
  });

  it('refuses a pending user that is not the alternate, and a master on another host', async () => {
    const name = uniqueName('mismatch');
    const password = newPassword();
    await createUser(name, password);
    const current = secretFor(name, password);
    const wrong = secretFor(`${name}_other`, newPassword());
    expect((await rejection(() => rotator.set({ strategy: 'alternating-users', current, pending: wrong, master: master() }, ctx))).code).toBe('CREDENTIAL_MISMATCH');
    const pending = rotator.createPending({ strategy: 'alternating-users', current, generatePassword: () => newPassword() });
    const elsewhere = { ...master(), host: 'localhost' };
    const e = await rejection(() => rotator.set({ strategy: 'alternating-users', current, pending, master: elsewhere }, ctx));
    expect(e.code).toBe('CREDENTIAL_MISMATCH');
    expect(e.message).toMatch(/master secret names host localhost/);
    expect(await accountHosts(`${name}_clone`)).toEqual([]);
  });
});

describe('dual-password', () => {
  it('is refused on MariaDB with UNSUPPORTED_ENGINE naming the version and alternating-users, changing nothing', async () => {
    const name = uniqueName('dual');
    const old = newPassword();
    await createUser(name, old);
    // A secret that says "mariadb" is refused before any value is made...
    const mariadb = secretFor(name, old, { masterarn: 'arn:master' });
    expect(mariadb.engine).toBe('mariadb');
    expect(() => rotator.createPending({ strategy: 'dual-password', current: mariadb, generatePassword: () => newPassword() })).toThrow(
      /dual-password strategy needs MySQL 8\.0\.14.*"engine": "mariadb".*use alternating-users/,
    );
    // ...and one that says "mysql" while the server is MariaDB, once setSecret has learnt the server.
    const current = { ...mariadb, engine: 'mysql' };
    expect(rotator.masterSecretId(current, 'dual-password')).toBe('arn:master');
    const pending = rotator.createPending({ strategy: 'dual-password', current, generatePassword: () => newPassword() });
    expect(pending.username).toBe(name);
    const e = await rejection(() => rotator.set({ strategy: 'dual-password', current, pending, master: master() }, ctx));
    expect(e.code).toBe('UNSUPPORTED_ENGINE');
    expect(e.message).toMatch(/MariaDB 10\.11\.\d+/);
    expect(e.message).toMatch(/use alternating-users, the zero-downtime strategy/);
    expect(await logsIn(name, old)).toBe(true);
    expect(await logsIn(name, pending.password as string)).toBe(false);
  });
});

describe('hostile user names', () => {
  const names = [
    "o'neil",
    'back`tick`',
    'back\\slash\\',
    'semi; DROP TABLE canary_db.canary; --',
    "x'; DROP TABLE canary_db.canary; --",
    'with  inner spaces',
    'quest?ion ?? :name',
    'ünïcødé_用户',
    'pct%_under',
    'a'.repeat(80),
    'é'.repeat(80),
  ];

  for (const mode of ['default sql_mode', 'GLOBAL sql_mode with NO_BACKSLASH_ESCAPES'] as const) {
    describe(mode, () => {
      let saved = '';
      beforeAll(async () => {
        if (mode === 'default sql_mode') return;
        saved = await admin(async (c) => {
          const [rows] = await c.query<mysql.RowDataPacket[]>('SELECT @@GLOBAL.sql_mode AS m');
          const before = String(rows[0]?.m);
          await c.query('SET GLOBAL sql_mode = ?', [before === '' ? 'NO_BACKSLASH_ESCAPES' : `${before},NO_BACKSLASH_ESCAPES`]);
          return before;
        });
      });
      afterAll(async () => {
        if (mode !== 'default sql_mode') await admin((c) => c.query('SET GLOBAL sql_mode = ?', [saved]));
      });

      it('new sessions see the mode', async () => {
        const password = newPassword();
        const name = uniqueName('mode');
        await createUser(name, password);
        const seen = await withSession(endpointFor(name, password, true), settings({ ca }), ctx, (s) => Promise.resolve(s.server.noBackslashEscapes));
        expect(seen).toBe(mode !== 'default sql_mode');
      });

      it.each(names)('single-user rotates %j', async (name) => {
        const old = newPassword();
        await createUser(name, old);
        try {
          const current = secretFor(name, old);
          const pending = rotator.createPending({ strategy: 'single-user', current, generatePassword: () => newPassword() });
          await rotator.set({ strategy: 'single-user', current, pending }, ctx);
          await rotator.test(pending, ctx);
          expect(await logsIn(name, pending.password as string)).toBe(true);
          expect(await logsIn(name, old)).toBe(false);
          expect(await canaryTablePresent()).toBe(true);
        } finally {
          await dropUser(name);
        }
      });

      it.each(["o'brien \"q\"; DROP TABLE canary_db.canary; --", 'back\\slash`tick', 'ünïcødé_alt'])('alternating users clone %j', async (name) => {
        const old = newPassword();
        await createUser(name, old);
        try {
          const current = secretFor(name, old);
          const pending = rotator.createPending({ strategy: 'alternating-users', current, generatePassword: () => newPassword() });
          await rotator.set({ strategy: 'alternating-users', current, pending, master: master() }, ctx);
          await rotator.test(pending, ctx);
          expect(await logsIn(`${name}_clone`, pending.password as string)).toBe(true);
          expect(await logsIn(name, old)).toBe(true);
          expect(await canaryTablePresent()).toBe(true);
        } finally {
          await dropUser(name);
          await dropUser(`${name}_clone`);
        }
      });
    });
  }

  it('refuses names over the limit with INVALID_SECRET and leaves the account alone', async () => {
    // MariaDB 10.11 itself would take 81 characters; the rotator holds to the documented 80 unless told otherwise.
    const name = 'b'.repeat(81);
    const old = newPassword();
    await createUser(name, old);
    try {
      const current = secretFor(name, old);
      const pending = { ...current, password: newPassword() };
      expect(() => rotator.validate(current, 'the current secret')).toThrow(/username: must be at most 80 characters/);
      expect(() => rotator.createPending({ strategy: 'single-user', current, generatePassword: () => newPassword() })).toThrow(/at most 80 characters/);
      const e = await rejection(() => rotator.set({ strategy: 'single-user', current, pending }, ctx));
      expect(e.code).toBe('INVALID_SECRET');
      expect((await rejection(() => rotator.works(pending, ctx))).code).toBe('INVALID_SECRET');
      expect(await logsIn(name, old)).toBe(true);
      // USERNAME_CHARACTER_LIMIT raises it (MariaDB 10.6+ keeps 128).
      const roomy = createMysqlRotator({ tls: { ca }, usernameCharacterLimit: 128 });
      await roomy.set({ strategy: 'single-user', current, pending }, ctx);
      expect(await logsIn(name, pending.password)).toBe(true);
    } finally {
      await dropUser(name);
    }
  });

  it('checks the alternate name against the limit too', () => {
    const current = secretFor('c'.repeat(75), newPassword());
    expect(() => rotator.createPending({ strategy: 'alternating-users', current, generatePassword: () => newPassword() })).toThrow(
      /alternate user .* would be 81 characters, over the limit of 80/,
    );
  });

  it('a configured lower limit is enforced against the server too', async () => {
    const name = 'd'.repeat(17);
    const old = newPassword();
    await createUser(name, old);
    try {
      const strict = createMysqlRotator({ tls: { ca }, usernameCharacterLimit: 16 });
      const current = secretFor(name, old);
      const e = await rejection(() => strict.set({ strategy: 'single-user', current, pending: { ...current, password: newPassword() } }, ctx));
      expect(e.code).toBe('INVALID_SECRET');
      expect(e.message).toMatch(/at most 16 characters \(USERNAME_CHARACTER_LIMIT\)/);
      expect(await logsIn(name, old)).toBe(true);
    } finally {
      await dropUser(name);
    }
  });
});

describe('anonymous accounts', () => {
  it('a login that lands in an anonymous account proves nothing, and its password is never changed', async () => {
    const anonymousPassword = newPassword();
    const hash = mysqlNativePasswordHash(anonymousPassword);
    // ''@'127.0.0.1' is more specific than 'user'@'%', so it catches every TCP login of a user without a
    // 127.0.0.1 account: the server lets "ghost" in with the anonymous account's password.
    await admin((c) => c.query(`CREATE USER ''@'127.0.0.1' IDENTIFIED BY PASSWORD '${hash}'`));
    try {
      const ghost = secretFor('ghost_user', anonymousPassword);
      expect(await logsIn('ghost_user', anonymousPassword)).toBe(true); // the server's view
      const mark = lines.length;
      expect(await rotator.works(ghost, ctx)).toBe(false);
      expect(lines.slice(mark).join('\n')).toMatch(/logged the user in as another account/);
      const pending = { ...ghost, password: newPassword() };
      const e = await rejection(() => rotator.set({ strategy: 'single-user', current: ghost, pending }, ctx));
      expect(e.code).toBe('TARGET_ERROR');
      expect(e.message).toMatch(/refusing to change that account's password/);
      expect(await storedHash('', '127.0.0.1')).toBe(hash);
    } finally {
      await admin((c) => c.query("DROP USER ''@'127.0.0.1'"));
    }
  });
});

describe('TLS', () => {
  let user: string;
  let password: string;

  beforeAll(async () => {
    user = uniqueName('tls');
    password = newPassword();
    await createUser(user, password);
  });

  it('ssl=true with the test CA connects over verified TLS', async () => {
    const seen = await sslOfSession(endpointFor(user, password, true), settings({ ca }));
    expect(seen.reported).toBe(true);
    expect(seen.cipher).not.toBe('');
    await rotator.test(secretFor(user, password, { ssl: true }), ctx);
  });

  it('no ssl key means verified TLS too', async () => {
    const seen = await sslOfSession(endpointFor(user, password, undefined), settings({ ca }));
    expect(seen.reported).toBe(true);
    expect(seen.cipher).not.toBe('');
  });

  it('ssl=false connects in plaintext', async () => {
    expect(await sslOfSession(endpointFor(user, password, false), settings({ ca }))).toEqual({ reported: false, cipher: '' });
    await rotator.test(secretFor(user, password, { ssl: false }), ctx);
    await rotator.test(secretFor(user, password, { ssl: 'false' }), ctx);
  });

  it('ssl=true without the CA fails with TARGET_TLS, and works() throws rather than answering false', async () => {
    const noCa = createMysqlRotator({ connectTimeoutMs: 3_000 });
    const e = await rejection(() => noCa.test(secretFor(user, password, { ssl: true }), ctx));
    expect(e.code).toBe('TARGET_TLS');
    expect(e.message).toMatch(/ROTATOR_TLS_CA_FILE/);
    expect(e.message).toMatch(/"ssl": false/);
    expectNoPassword(e.message);
    expect((await rejection(() => noCa.works(secretFor(user, password, { ssl: true }), ctx))).code).toBe('TARGET_TLS');
  });

  it('verifies the host name: a name absent from the certificate fails even with the right CA', async () => {
    // "127.1" reaches 127.0.0.1 but is not a name in the certificate (localhost, IP 127.0.0.1).
    const e = await rejection(() => sslOfSession(endpointFor(user, password, true, '127.1'), settings({ ca })));
    expect(e.code).toBe('TARGET_TLS');
    expect(e.message).toMatch(/does not match certificate|altnames/i);
  });

  it('never falls back to plaintext on a certificate failure', async () => {
    const mark = lines.length;
    const e = await rejection(() => sslOfSession(endpointFor(user, password, undefined), settings({ allowPlaintextFallback: true })));
    expect(e.code).toBe('TARGET_TLS');
    expect(lines.slice(mark).some((l) => l.includes('plaintext'))).toBe(false);
  });

  describe('against a server without TLS (a second throwaway MariaDB started without TLS)', () => {
    const fallbackUser = `rotator_fallback_${randomBytes(4).toString('hex')}`;
    const fallbackPassword = newPassword();
    let plain: MariadbServer | undefined;
    const SYSTEM = { host: '127.0.0.1', port: 0 };

    beforeAll(async () => {
      plain = await startMariadbServer({ tls: false });
      recordSecrets(plain.rootPassword);
      SYSTEM.host = plain.host;
      SYSTEM.port = plain.port;
      const c = await mysql.createConnection({ host: plain.host, port: plain.port, user: plain.rootUser, password: plain.rootPassword });
      try {
        const [rows] = await c.query<mysql.RowDataPacket[]>("SHOW GLOBAL VARIABLES LIKE 'have_ssl'");
        // A server that offers TLS after all would make these tests prove nothing.
        expect(String(rows[0]?.Value)).not.toBe('YES');
        await c.query(`CREATE USER ${quoteAccount(fallbackUser, '%')} IDENTIFIED BY PASSWORD '${mysqlNativePasswordHash(fallbackPassword)}'`);
      } finally {
        await c.end();
      }
    }, 60_000);
    afterAll(async () => {
      await plain?.stop();
    });

    const systemEndpoint = (ssl: boolean | undefined) => endpointFor(fallbackUser, fallbackPassword, ssl, SYSTEM.host, SYSTEM.port);

    it('refuses plaintext by default, and when the secret says ssl=true', async () => {
      for (const [ssl, fallback] of [
        [undefined, false],
        [true, true],
      ] as const) {
        const e = await rejection(() => sslOfSession(systemEndpoint(ssl), settings({ ca, allowPlaintextFallback: fallback })));
        expect(e.code).toBe('TARGET_TLS');
        expect(e.message).toMatch(/does not offer TLS/);
        expect(e.message).toMatch(/ROTATOR_ALLOW_PLAINTEXT_FALLBACK/);
        expectNoPassword(e.message);
      }
    });

    it('falls back to plaintext with a warning only when allowed and the secret has no ssl key', async () => {
      const mark = lines.length;
      expect(await sslOfSession(systemEndpoint(undefined), settings({ ca, allowPlaintextFallback: true }))).toEqual({ reported: false, cipher: '' });
      const warnings = lines.slice(mark).filter((l) => l.includes('"level":"warn"'));
      expect(warnings).toHaveLength(1);
      expect(warnings[0]).toMatch(/plaintext/);
      // The rotator's own test step takes the same path.
      const lenient = createMysqlRotator({ tls: { ca, allowPlaintextFallback: true } });
      await lenient.test({ engine: 'mariadb', host: SYSTEM.host, port: SYSTEM.port, username: fallbackUser, password: fallbackPassword }, ctx);
      expect(await sslOfSession(systemEndpoint(false), settings({ ca }))).toEqual({ reported: false, cipher: '' });
    });
  });
});

describeUnreachableTargets({
  rotator: (connectTimeoutMs) => createMysqlRotator({ tls: { ca }, ...(connectTimeoutMs === undefined ? {} : { connectTimeoutMs }) }),
  secretOn: (port) => secretFor('anyone', newPassword(), { port }),
  ctx,
});

describe('the general log', () => {
  it('records rotations with hashes only, never a plaintext password', async () => {
    const single = uniqueName('logged');
    const pair = uniqueName('logged_pair');
    const rotated: string[] = [];
    const singleOld = newPassword();
    const pairOld = newPassword();
    await createUser(single, singleOld);
    await createUser(pair, pairOld);
    await admin((c) => c.query('SET GLOBAL general_log = ON'));
    try {
      const current = secretFor(single, singleOld);
      const pending = rotator.createPending({ strategy: 'single-user', current, generatePassword: () => newPassword() });
      await rotator.set({ strategy: 'single-user', current, pending }, ctx);
      await rotator.test(pending, ctx);
      rotated.push(pending.password as string);

      const pairCurrent = secretFor(pair, pairOld);
      const clone = rotator.createPending({ strategy: 'alternating-users', current: pairCurrent, generatePassword: () => newPassword() });
      await rotator.set({ strategy: 'alternating-users', current: pairCurrent, pending: clone, master: master() }, ctx);
      await rotator.test(clone, ctx);
      rotated.push(clone.password as string);
    } finally {
      // The general log stays on: the leak canary searches it for the whole run (test/support/mariadb-server.ts).
    }
    const log = readFileSync(db.generalLogFile, 'utf8');
    // Booleans rather than toContain: a failure must not print the log into the test output.
    expect(log.includes(`SET PASSWORD = '${mysqlNativePasswordHash(rotated[0] ?? '')}'`)).toBe(true);
    expect(log).toMatch(/CREATE USER .*logged_pair.*_clone.* IDENTIFIED BY PASSWORD '\*[0-9A-F]{40}'/);
    expect(log).toMatch(/ALTER USER .*logged_pair.*_clone.* IDENTIFIED BY PASSWORD '\*[0-9A-F]{40}'/);
    expect([...rotated, ...passwords, db.rootPassword].filter((p) => log.includes(p)).length).toBe(0);
  });
});

// Runs last (tests in a file run in order): searches what the whole file produced.
describe('no secret in what the rotator logged', () => {
  it('holds no password and no hash', () => {
    expect(lines.length).toBeGreaterThan(10);
    const all = lines.join('\n');
    expectNoPassword(all);
    expect(all).not.toMatch(/\*[0-9A-F]{40}/);
    expect(passwords.length).toBeGreaterThan(40);
  });
});
