import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import mysql from 'mysql2/promise';
import pg from 'pg';
import { afterEach, beforeEach, describe, expect, inject, it } from 'vitest';
import { createMysqlPool } from '../../consumer/mysql-pool.js';
import { createPgPool } from '../../consumer/pg-pool.js';
import { createSecretReader, type SecretReader } from '../../consumer/reader.js';
import { RotationEngine } from '../../shared/engine.js';
import { mysqlNativePasswordHash } from '../../rotators/mysql/password-hash.js';
import { scramSha256Verifier } from '../../rotators/postgres/scram.js';
import { isRotatorError } from '../../shared/errors.js';
import type { SecretObject } from '../../shared/secret.js';
import type { SecretStore, Strategy } from '../../shared/store.js';
import { canaryLogger, recordSecrets } from '../support/canary.js';
import { mariadbAdmin, quoteAccount } from '../support/mariadb-admin.js';
import { postgresAdmin } from '../support/postgres-admin.js';
import { createTestStore, storeWith, type TestStore } from '../support/stores.js';
import { testTargets, type TestTarget } from '../support/targets.js';

/**
 * The pool helpers (consumer/pg-pool.ts, consumer/mysql-pool.ts) on the run's scram PostgreSQL and MariaDB, with the
 * file store and the rotation engine: the pool serves queries from several workers while rotations run, and every
 * few queries a worker closes its connection, so the pool keeps logging in again during the rotations (a pool that
 * never opened a new connection would survive any rotation and prove nothing). The same load on a plain pool that
 * read the secret once is the control: it must fail, or the load did not test anything.
 */
const SECRET = 'consumer/app';
const MASTER = 'consumer/master';
const ROTATIONS = 4;
const WORKERS = 6;
/** Every 3rd query of a worker closes its connection afterwards. */
const CHURN = 3;
/** Between rotations: longer than the margin after a promotion in which a login may still fail (single user). */
const PAUSE_MS = 500;
const MARGIN_MS = 200;

/** What the test asks of a pool, the same for both drivers. */
interface Driver {
  /** CURRENT_USER of a connection from the pool, which is closed afterwards with `close`. */
  currentUser(close?: boolean): Promise<string>;
  /** Whether a connection of the pool is encrypted. */
  encrypted(): Promise<boolean>;
  end(): Promise<void>;
}

interface Engine {
  target: TestTarget;
  /** The helper's pool over `reader`. */
  pool(reader: SecretReader, options?: { maxLifetimeSeconds?: number; max?: number }): Driver;
  /** The control: the driver's own pool with the value read once. */
  fixed(secret: SecretObject): Driver;
  /** The server's id of the connection a query ran on. */
  connectionId(driver: Driver): Promise<number>;
}

function pgDriver(pool: pg.Pool): Driver & { pool: pg.Pool } {
  pool.on('error', () => undefined); // an idle connection the server ended; the pool replaces it
  return {
    pool,
    async currentUser(close = false) {
      const client = await pool.connect();
      try {
        return (await client.query<{ u: string }>('SELECT current_user AS u')).rows[0]?.u ?? '';
      } finally {
        client.release(close);
      }
    },
    async encrypted() {
      return (await pool.query<{ ssl: boolean }>('SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()')).rows[0]?.ssl === true;
    },
    end: () => pool.end(),
  };
}

function mysqlDriver(pool: mysql.Pool): Driver & { pool: mysql.Pool } {
  return {
    pool,
    async currentUser(close = false) {
      const connection = await pool.getConnection();
      try {
        const [rows] = await connection.query<mysql.RowDataPacket[]>('SELECT CURRENT_USER() AS u');
        return String(rows[0]?.u ?? '').replace(/@[^@]*$/, '');
      } finally {
        if (close) connection.destroy();
        else connection.release();
      }
    },
    async encrypted() {
      const [rows] = await pool.query<mysql.RowDataPacket[]>("SHOW SESSION STATUS LIKE 'Ssl_cipher'");
      return String(rows[0]?.Value ?? '') !== '';
    },
    end: () => pool.end(),
  };
}

const [pgTarget, mariaTarget] = ['postgres', 'mariadb'].map((name) => testTargets().find((t) => t.engine === name) as TestTarget) as [TestTarget, TestTarget];
const pgAdmin = postgresAdmin(inject('postgres'));
const mariaAdmin = mariadbAdmin(inject('mariadb'));
const pgCa = readFileSync(pgTarget.caFile, 'utf8');
const mariaCa = readFileSync(mariaTarget.caFile, 'utf8');

const engines: Engine[] = [
  {
    target: pgTarget,
    pool: (reader, { max = 4, ...options } = {}) => pgDriver(createPgPool({ reader, ca: pgCa, max, ...options })),
    fixed: (s) =>
      pgDriver(
        new pg.Pool({ host: s.host as string, port: s.port as number, user: s.username as string, password: s.password as string, database: s.dbname as string, ssl: { ca: pgCa }, max: 4 }),
      ),
    async connectionId(driver) {
      return (await (driver as ReturnType<typeof pgDriver>).pool.query<{ id: number }>('SELECT pg_backend_pid() AS id')).rows[0]?.id ?? -1;
    },
  },
  {
    target: mariaTarget,
    pool: (reader, { max = 4, ...options } = {}) => mysqlDriver(createMysqlPool({ reader, ca: mariaCa, connectionLimit: max, ...options })),
    fixed: (s) =>
      mysqlDriver(
        mysql.createPool({ host: s.host as string, port: s.port as number, user: s.username as string, password: s.password as string, ssl: { ca: mariaCa, verifyIdentity: true }, connectionLimit: 4 }),
      ),
    async connectionId(driver) {
      const [rows] = await (driver as ReturnType<typeof mysqlDriver>).pool.query<mysql.RowDataPacket[]>('SELECT CONNECTION_ID() AS id');
      return Number(rows[0]?.id);
    },
  },
];

let t: TestStore;
let counter = 0;
const opened: Driver[] = [];

beforeEach(() => {
  t = createTestStore();
});

afterEach(async () => {
  await Promise.allSettled(opened.splice(0).map((d) => d.end()));
  await t.dispose();
});

function password(): string {
  const p = `Pool-${randomUUID()}`;
  recordSecrets(p);
  return p;
}

/** A login (and for alternating users, a master) and the secret naming it, in the file store. */
async function setUp(target: TestTarget, strategy: Strategy, value: { password?: string; extra?: SecretObject } = {}): Promise<SecretObject> {
  counter += 1;
  const user = `pool_${strategy === 'single-user' ? 'single' : 'alt'}_${counter}`;
  const pw = password();
  await target.createUser(user, pw);
  const secret = target.secret(user, value.password ?? pw, value.extra);
  if (strategy === 'alternating-users') {
    const master = target.secret(`pool_master_${counter}`, password());
    await target.createUser(master.username as string, master.password as string, { master: true });
    await t.store.createSecret(MASTER, JSON.stringify(master));
    secret.masterarn = MASTER;
  }
  await t.store.createSecret(SECRET, JSON.stringify(secret), { rotation: { enabled: true, strategy } });
  return secret;
}

/** The file store, counting the value reads the reader makes. */
function countingStore(): { store: SecretStore; reads: () => number } {
  let reads = 0;
  const store = storeWith(t.store, {
    getValue: (secretId, selector) => {
      reads += 1;
      return t.store.getValue(secretId, selector);
    },
  });
  return { store, reads: () => reads };
}

function track<D extends Driver>(driver: D): D {
  opened.push(driver);
  return driver;
}

interface Tally {
  ok: number;
  failed: number;
  users: Set<string>;
  errors: Set<string>;
  /** Failed queries after the first rotation finished. */
  failedAfterFirst: number;
  /** When each failed query started (performance.now()). */
  failedAt: number[];
}

/**
 * WORKERS loops on each driver, querying (and closing every CHURN-th connection after its query) while ROTATIONS
 * rotations run one after another; one tally per driver.
 */
async function underLoad(drivers: readonly Driver[], rotate: () => Promise<unknown>): Promise<Tally[]> {
  let rotated = 0;
  let done = false;
  const tallies = drivers.map((): Tally => ({ ok: 0, failed: 0, users: new Set(), errors: new Set(), failedAfterFirst: 0, failedAt: [] }));
  const worker = async (driver: Driver, tally: Tally): Promise<void> => {
    for (let i = 1; !done; i++) {
      const started = performance.now();
      try {
        tally.users.add(await driver.currentUser(i % CHURN === 0));
        tally.ok += 1;
      } catch (error) {
        tally.failed += 1;
        if (rotated > 0) tally.failedAfterFirst += 1;
        tally.failedAt.push(started);
        const { code, message } = error as { code?: string; message?: string };
        tally.errors.add(code ?? message ?? 'unknown');
      }
    }
  };
  const workers = drivers.flatMap((driver, d) => Array.from({ length: WORKERS }, () => worker(driver, tallies[d] as Tally)));
  try {
    await sleep(100);
    for (let r = 0; r < ROTATIONS; r++) {
      await rotate();
      rotated += 1;
      await sleep(PAUSE_MS);
    }
  } finally {
    done = true;
    await Promise.all(workers);
  }
  return tallies;
}

describe.each(engines)('$target.engine', (engine) => {
  const { target } = engine;
  const rotation = (): RotationEngine => new RotationEngine({ store: t.store, rotators: [target.rotator()], logger: canaryLogger() });

  describe.each(['single-user', 'alternating-users'] as const)('%s, rotating under load', (strategy) => {
    it('the helper follows every rotation; the pool that read the secret once does not', { timeout: 120_000 }, async () => {
      const secret = await setUp(target, strategy);
      const counting = countingStore();
      // A TTL longer than the test: every value after the first is read because a login was refused.
      const reader = createSecretReader({ store: counting.store, secretId: SECRET, ttlMs: 600_000 });
      const helper = track(engine.pool(reader));
      const fixed = track(engine.fixed(secret));
      // Single user: from the start of setSecret (the password changes) to the end of finishSecret (CURRENT changes).
      const windows: Array<{ from: number; to: number }> = [];
      const rotate = () => {
        const window = { from: Number.NaN, to: Number.NaN };
        windows.push(window);
        return rotation().rotate(SECRET, {
          onStep: ({ step }) => {
            if (step === 'createSecret') window.from = performance.now();
            if (step === 'finishSecret') window.to = performance.now();
          },
        });
      };
      const [helperTally, fixedTally] = (await underLoad([helper, fixed], rotate)) as [Tally, Tally];
      console.log(
        `${target.engine} ${strategy}, ${ROTATIONS} rotations: helper ${helperTally.ok} ok, ${helperTally.failed} failed (${[...helperTally.errors].join(', ') || 'none'}), ` +
          `${counting.reads()} store reads, password-to-promotion windows ${windows.map((w) => (w.to - w.from).toFixed(0)).join('/')} ms; read-once pool ${fixedTally.ok} ok, ${fixedTally.failed} failed (${[...fixedTally.errors].join(', ') || 'none'})`,
      );

      const user = secret.username as string;
      if (strategy === 'alternating-users') {
        expect(helperTally.failed).toBe(0);
        // It logged in as both users of the pair, and read the store again after logins were refused.
        expect([...helperTally.users].sort()).toEqual([user, `${user}_clone`]);
        expect(counting.reads()).toBeGreaterThan(1);
      } else {
        expect([...helperTally.users]).toEqual([user]);
        // Single user: a refused login is read again at once, so only queries around a rotation's own window can fail
        // (the password changed, CURRENT not yet promoted), far fewer than the read-once pool's. Around: a query
        // that waited in the pool's queue from just before the window, or a store read and a login begun before the
        // promotion, take at most as long as the rotation's own steps (which are such reads and logins), however
        // loaded the machine: so the slack is the window's length, at least MARGIN_MS.
        const outside = helperTally.failedAt.filter(
          (at) =>
            !windows.some((w) => {
              const slack = Math.max(MARGIN_MS, w.to - w.from);
              return at >= w.from - slack && at <= w.to + slack;
            }),
        );
        expect(outside).toEqual([]);
        expect(helperTally.failed).toBeLessThan(fixedTally.failed);
      }
      // The control: after the rotations, every new login of the read-once pool is refused.
      expect(fixedTally.failedAfterFirst).toBeGreaterThan(0);
      expect(fixedTally.errors).toEqual(new Set([target.engine === 'postgres' ? '28P01' : 'ER_ACCESS_DENIED_ERROR']));
      // And the helper's pool still logs in at the end (with the value it holds, which may be the one before CURRENT
      // while that still works).
      expect(helperTally.users).toContain(await helper.currentUser(true));
      expect(helperTally.users).toContain(await helper.currentUser());
    });
  });

  it('a login refused after a rotation the reader has not seen: one more store read, then the new value works', async () => {
    await setUp(target, 'single-user');
    const counting = countingStore();
    const reader = createSecretReader({ store: counting.store, secretId: SECRET, ttlMs: 600_000 });
    await reader.get();
    await rotation().rotate(SECRET);
    const driver = track(engine.pool(reader));
    expect(counting.reads()).toBe(1);
    await driver.currentUser();
    expect(counting.reads()).toBe(2);
  });

  it('a credential the server refuses: read once more, tried once more, then the driver error (no value in it)', async () => {
    const wrong = password();
    await setUp(target, 'single-user', { password: wrong });
    const counting = countingStore();
    const reader = createSecretReader({ store: counting.store, secretId: SECRET, ttlMs: 600_000 });
    const driver = track(engine.pool(reader, { max: 1 }));
    for (let attempt = 1; attempt <= 3; attempt++) {
      const error = (await driver.currentUser().catch((e: unknown) => e)) as Error & { code?: string; errno?: number };
      expect(target.engine === 'postgres' ? error.code : error.errno).toBe(target.engine === 'postgres' ? '28P01' : 1045);
      expect(JSON.stringify({ message: error.message, stack: error.stack })).not.toContain(wrong);
      // The first query reads the value, and each refused login reads it once more.
      expect(counting.reads()).toBe(attempt + 1);
    }
    // A refused login leaves no slot taken: with room for one connection, the fixed secret logs in.
    const fixed = JSON.parse(await t.store.getValue(SECRET, { stage: 'CURRENT' })) as SecretObject;
    const right = password();
    await alterPassword(target, fixed.username as string, right);
    await writeCurrent(t.store, JSON.stringify({ ...fixed, password: right }));
    expect(await driver.currentUser()).toBe(fixed.username);
  });

  it('TLS follows the secret: verified by default (the CA must be given), plaintext only with "ssl": false', async () => {
    const secret = await setUp(target, 'single-user');
    const reader = createSecretReader({ store: t.store, secretId: SECRET });
    expect(await track(engine.pool(reader)).encrypted()).toBe(true);

    // Without the test CA the server's certificate is not trusted: no connection, no fallback.
    const untrusted = track(target.engine === 'postgres' ? pgDriver(createPgPool({ reader })) : mysqlDriver(createMysqlPool({ reader })));
    const error = (await untrusted.currentUser().catch((e: unknown) => e)) as Error & { code?: string };
    expect(String(error.code)).toMatch(/SELF_SIGNED|UNABLE_TO|HANDSHAKE_SSL_ERROR|CERT/);

    await writeCurrent(t.store, JSON.stringify({ ...secret, ssl: false }));
    const plain = createSecretReader({ store: t.store, secretId: SECRET });
    expect(await track(engine.pool(plain)).encrypted()).toBe(false);
  });

  it('an invalid secret is INVALID_SECRET, naming the key and not the value', async () => {
    const secret = await setUp(target, 'single-user');
    await writeCurrent(t.store, JSON.stringify({ ...secret, host: 'db/../socket' }));
    const reader = createSecretReader({ store: t.store, secretId: SECRET });
    const error = await track(engine.pool(reader)).currentUser().catch((e: unknown) => e);
    expect(isRotatorError(error, 'INVALID_SECRET')).toBe(true);
    expect((error as Error).message).toMatch(/host: must be a host name/);
    expect((error as Error).message).not.toContain(secret.password as string);
  });

  it('maxLifetimeSeconds: a connection older than that is replaced before it is handed out again', { timeout: 15_000 }, async () => {
    await setUp(target, 'single-user');
    const reader = createSecretReader({ store: t.store, secretId: SECRET });
    const driver = track(engine.pool(reader, { maxLifetimeSeconds: 1, max: 1 }));
    const first = await engine.connectionId(driver);
    expect(await engine.connectionId(driver)).toBe(first);
    await sleep(1_300);
    expect(await engine.connectionId(driver)).not.toBe(first);
  });
});

describe('pool options', () => {
  const reader = createSecretReader({ store: {} as SecretStore, secretId: SECRET }); // never read: the options are refused first;

  it.each([
    ['createPgPool', () => createPgPool({ reader, ...({ user: 'app', password: 'p' } as object) })],
    ['createMysqlPool', () => createMysqlPool({ reader, ...({ host: 'db', ssl: {} } as object) })],
  ])('%s refuses options the secret decides', (_name, create) => {
    expect(create).toThrow(/come from the secret; remove them/);
  });

  it.each([
    ['createPgPool', () => createPgPool({ reader, maxLifetimeSeconds: -1 })],
    ['createMysqlPool', () => createMysqlPool({ reader, maxLifetimeSeconds: 0.5 })],
  ])('%s refuses a bad maxLifetimeSeconds', (_name, create) => {
    expect(create).toThrow(/maxLifetimeSeconds must be a whole number/);
  });
});

/** Sets `user`'s password by hand, as the server's admin (a verifier or hash only reaches the server). */
async function alterPassword(target: TestTarget, user: string, pw: string): Promise<void> {
  if (target.engine === 'postgres') {
    await pgAdmin.admin((c) => c.query(`ALTER ROLE ${pg.escapeIdentifier(user)} PASSWORD ${pg.escapeLiteral(scramSha256Verifier(pw))}`));
  } else {
    await mariaAdmin.admin((c) => c.query(`ALTER USER ${quoteAccount(user, '%')} IDENTIFIED BY PASSWORD '${mysqlNativePasswordHash(pw)}'`));
  }
}

/** Makes `value` CURRENT, as a rotation's last step would. */
async function writeCurrent(store: SecretStore, value: string): Promise<void> {
  const token = randomUUID();
  await store.startRotation(SECRET, token);
  await store.putPending(SECRET, token, value);
  await store.promote(SECRET, token);
}
