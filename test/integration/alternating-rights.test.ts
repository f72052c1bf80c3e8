import { CreateSecretCommand, GetSecretValueCommand, type SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { randomUUID } from 'node:crypto';
import { escapeIdentifier, escapeLiteral } from 'pg';
import { afterEach, beforeEach, describe, expect, inject, it } from 'vitest';
import type { RotateHandler } from '../../functions/aws/rotate.js';
import { normaliseGrantLine } from '../../rotators/mysql/grant-lines.js';
import { mysqlNativePasswordHash } from '../../rotators/mysql/password-hash.js';
import { scramSha256Verifier } from '../../rotators/postgres/scram.js';
import { alternateUsername } from '../../shared/alternate-user.js';
import { RotationEngine, STEPS, type Step } from '../../shared/engine.js';
import { isRotatorError, type RotatorError } from '../../shared/errors.js';
import type { Logger } from '../../shared/logger.js';
import type { Rotator } from '../../shared/rotator.js';
import { STRATEGY_TAG } from '../../stores/aws/index.js';
import { startSecretsManagerFake, type SecretsManagerFake } from '../fakes/aws/secrets-manager.js';
import { canaryLogger, recordSecretValue, recordSecrets } from '../support/canary.js';
import { captureOutput, databaseRotateHandler, lambdaContext, rotateSecret, type OutputCapture } from '../support/lambda.js';
import { mariadbAdmin, quoteAccount } from '../support/mariadb-admin.js';
import { postgresAdmin } from '../support/postgres-admin.js';
import { createTestStore, type TestStore } from '../support/stores.js';
import { testTargets, type TestTarget } from '../support/targets.js';

/**
 * Invariant 8: an alternate user never becomes CURRENT with fewer rights than the user it replaces, whatever failed
 * or crashed before. Each case runs on the CLI path (the self-driven engine over the file store) and on the Lambda
 * path (the real handler, one invocation per step, against the Secrets Manager fake), on the run's throwaway MariaDB
 * and PostgreSQL:
 *
 * - a run killed between the alternate's creation and its grants, then a plain retry;
 * - a GRANT the master may not give, then plain retries (refused, typed, never promoted), then the fixed master;
 * - the rotation after that, which copies the alternate's rights back onto the original user: they must be intact.
 *
 * The original user holds SELECT on its own database (MariaDB: on two host accounts) or table (PostgreSQL).
 */

const maria = mariadbAdmin(inject('mariadb'));
const pg = postgresAdmin(inject('postgres'));

interface Credential {
  username: string;
  password: string;
}

let counter = 0;
function password(): string {
  counter += 1;
  const p = `Alt-${counter}-${randomUUID()}`;
  recordSecrets(p, mysqlNativePasswordHash(p));
  return p;
}

/** What differs between the engines: the original's rights, the master's, and a clone a killed run left behind. */
interface Rights {
  /** Creates the user with its rights and the master (which may grant them or not). */
  setUp(user: string, userPassword: string, master: string, masterPassword: string, masterMayGrant: boolean): Promise<void>;
  /** Gives the master what copying the rights needs. */
  allowMaster(master: string, original: string): Promise<void>;
  /** Takes one of the original's rights away from the clone (MariaDB: on one of its two accounts). */
  takeAway(original: string, clone: string): Promise<void>;
  /** The alternate as a run killed after creating it and before its grants left it: logging in with `pendingPassword`, no rights. */
  leaveHalfMadeClone(original: string, clone: string, pendingPassword: string): Promise<void>;
  /** What `user` may do, comparable between the original and its clone. */
  of(user: string, original: string): Promise<string[]>;
}

function mariadbRights(): Rights {
  const HOSTS = ['%', 'localhost'];
  const db = (user: string): string => `\`${user.replace(/_clone$/, '')}_db\``;
  return {
    async setUp(user, userPassword, master, masterPassword, masterMayGrant) {
      await maria.createUser(user, userPassword, HOSTS);
      await maria.createUser(master, masterPassword);
      await maria.admin(async (c) => {
        await c.query(`CREATE DATABASE ${db(user)}`);
        for (const host of HOSTS) await c.query(`GRANT SELECT ON ${db(user)}.* TO ${quoteAccount(user, host)}`);
        // What alternating-users needs from a master besides the rights it copies: create users and read their grants.
        await c.query(`GRANT CREATE USER ON *.* TO ${quoteAccount(master, '%')}`);
        await c.query(`GRANT SELECT ON mysql.* TO ${quoteAccount(master, '%')}`);
        if (masterMayGrant) await c.query(`GRANT SELECT ON ${db(user)}.* TO ${quoteAccount(master, '%')} WITH GRANT OPTION`);
      });
    },
    async allowMaster(master, original) {
      await maria.admin((c) => c.query(`GRANT SELECT ON ${db(original)}.* TO ${quoteAccount(master, '%')} WITH GRANT OPTION`));
    },
    async takeAway(original, clone) {
      await maria.admin((c) => c.query(`REVOKE SELECT ON ${db(original)}.* FROM ${quoteAccount(clone, 'localhost')}`));
    },
    async leaveHalfMadeClone(original, clone, pendingPassword) {
      const hash = mysqlNativePasswordHash(pendingPassword);
      await maria.admin(async (c) => {
        for (const host of await maria.accountHosts(original)) await c.query(`CREATE USER ${quoteAccount(clone, host)} IDENTIFIED BY PASSWORD '${hash}'`);
      });
    },
    async of(user) {
      const lines: string[] = [];
      await maria.admin(async (c) => {
        for (const host of await maria.accountHosts(user)) {
          const [rows] = await c.query(`SHOW GRANTS FOR ${quoteAccount(user, host)}`);
          for (const row of rows as Array<Record<string, unknown>>) lines.push(`${host}: ${normaliseGrantLine(String(Object.values(row)[0]), { user, host })}`);
        }
      });
      return lines.sort();
    },
  };
}

function postgresRights(): Rights {
  const table = (user: string): string => escapeIdentifier(`${user.replace(/_clone$/, '')}_t`);
  return {
    async setUp(user, userPassword, master, masterPassword, masterMayGrant) {
      await pg.createRole(user, userPassword);
      await pg.createRole(master, masterPassword, masterMayGrant ? 'LOGIN CREATEROLE' : 'LOGIN');
      await pg.admin(async (c) => {
        await c.query(`CREATE TABLE ${table(user)} (x int)`);
        await c.query(`GRANT SELECT ON ${table(user)} TO ${escapeIdentifier(user)}`);
      });
    },
    async allowMaster(master) {
      await pg.admin((c) => c.query(`ALTER ROLE ${escapeIdentifier(master)} CREATEROLE`));
    },
    async takeAway(original, clone) {
      await pg.admin((c) => c.query(`REVOKE ${escapeIdentifier(original)} FROM ${escapeIdentifier(clone)}`));
    },
    async leaveHalfMadeClone(_original, clone, pendingPassword) {
      await pg.admin((c) => c.query(`CREATE ROLE ${escapeIdentifier(clone)} LOGIN PASSWORD ${escapeLiteral(scramSha256Verifier(pendingPassword))}`));
    },
    async of(user, original) {
      return pg.admin(async (c) => {
        const { rows } = await c.query<{ select: boolean; insert: boolean }>(
          "SELECT has_table_privilege($1, $2, 'SELECT') AS select, has_table_privilege($1, $2, 'INSERT') AS insert",
          [user, `public.${table(original)}`],
        );
        return [`SELECT: ${String(rows[0]?.select)}`, `INSERT: ${String(rows[0]?.insert)}`];
      });
    },
  };
}

// ---- the two ways a rotation is driven ----

interface Fixture {
  target: TestTarget;
  original: string;
  clone: string;
  master: string;
}

interface Driver {
  /** Starts a rotation: PENDING is stored, and the run dies before setSecret touches the database. */
  start(f: Fixture): Promise<void>;
  /**
   * A plain retry of what is left; the error it ended with, if any. `afterSet` runs once setSecret has done its work,
   * and testSecret and finishSecret then run in a new process (a fresh engine, a new Lambda container): one that ran
   * setSecret seconds before may trust the rights it copied (TestInput.setMomentsAgo) rather than compare them again.
   */
  retry(f: Fixture, afterSet?: () => Promise<void>): Promise<RotatorError | undefined>;
  /** A whole new rotation, which must succeed. */
  rotate(f: Fixture): Promise<void>;
  current(): Promise<Credential>;
  pending(): Promise<Credential>;
}

class Crash extends Error {}

/** The real rotator, except that `set` dies before doing anything (the kill before setSecret's first statement). */
function dyingBeforeSet(real: Rotator): Rotator {
  return { ...real, set: () => Promise.reject(new Crash('killed before setSecret')) };
}

async function typedError(run: () => Promise<unknown>): Promise<RotatorError | undefined> {
  try {
    await run();
    return undefined;
  } catch (error) {
    if (isRotatorError(error)) return error;
    throw error;
  }
}

const SECRET = 'alt/app';
const MASTER = 'alt/master';

/** The CLI path: RotationEngine.rotate over the file store, as `rotator rotate` runs it. */
function cliDriver(): Driver & { setUp(f: Fixture, value: object, master: object): Promise<void>; dispose(): Promise<void> } {
  const t: TestStore = createTestStore();
  const logger: Logger = canaryLogger();
  const engine = (rotator: Rotator): RotationEngine => new RotationEngine({ store: t.store, rotators: [rotator], logger });
  const read = async (stage: 'CURRENT' | 'PENDING'): Promise<Credential> => JSON.parse(await t.store.getValue(SECRET, { stage })) as Credential;
  return {
    async setUp(_f, value, master) {
      await t.store.createSecret(MASTER, JSON.stringify(master));
      await t.store.createSecret(SECRET, JSON.stringify(value), { rotation: { enabled: true, strategy: 'alternating-users' } });
    },
    async start(f) {
      await expect(engine(dyingBeforeSet(f.target.rotator())).rotate(SECRET)).rejects.toBeInstanceOf(Crash);
    },
    async retry(f, afterSet) {
      const real = f.target.rotator();
      if (afterSet === undefined) return typedError(() => engine(real).rotate(SECRET));
      // setSecret's work, the change, and the process dies; the CLI has no command for one step, so the new process
      // runs the remaining steps through the engine's step API, on the same file store.
      const set: Rotator['set'] = async (input, ctx) => {
        await real.set(input, ctx);
        await afterSet();
        throw new Crash('killed after setSecret');
      };
      await expect(engine({ ...real, set }).rotate(SECRET)).rejects.toThrow(/killed after setSecret/);
      const token = (await t.store.describe(SECRET)).versions.find((v) => v.stages.includes('PENDING'))?.versionId ?? '';
      const fresh = engine(real);
      const errors: Array<RotatorError | undefined> = [];
      for (const step of ['testSecret', 'finishSecret'] as const) errors.push(await typedError(() => fresh.runStep(SECRET, token, step)));
      return errors.find((e) => e !== undefined);
    },
    async rotate(f) {
      await engine(f.target.rotator()).rotate(SECRET);
    },
    current: () => read('CURRENT'),
    pending: () => read('PENDING'),
    dispose: () => t.dispose(),
  };
}

/** The Lambda path: the real handler, one invocation per step, as Secrets Manager drives it (here: the fake). */
function lambdaDriver(): Driver & { setUp(f: Fixture, value: object, master: object): Promise<void>; dispose(): Promise<void> } {
  let fake: SecretsManagerFake | undefined;
  let sm: SecretsManagerClient | undefined;
  let handler: RotateHandler | undefined;
  let arn = '';
  let token = '';
  const rotationToken = `rt-${randomUUID()}`;
  recordSecrets(rotationToken);
  const output: OutputCapture = captureOutput();
  const client = (): SecretsManagerClient => {
    if (sm === undefined) throw new Error('the fake is not running');
    return sm;
  };
  const invoke = (step: Step): Promise<unknown> => {
    if (handler === undefined) throw new Error('no handler');
    return handler({ SecretId: arn, ClientRequestToken: token, Step: step, RotationToken: rotationToken }, lambdaContext(60_000));
  };
  const read = async (stage: 'AWSCURRENT' | 'AWSPENDING'): Promise<Credential> => {
    const raw = (await client().send(new GetSecretValueCommand({ SecretId: arn, VersionStage: stage }))).SecretString ?? '{}';
    recordSecretValue(raw);
    return JSON.parse(raw) as Credential;
  };
  return {
    async setUp(f, value, master) {
      fake = await startSecretsManagerFake();
      sm = fake.client();
      const masterArn = (await client().send(new CreateSecretCommand({ Name: `${f.original}/master`, SecretString: JSON.stringify(master) }))).ARN ?? '';
      const app = await client().send(
        new CreateSecretCommand({
          Name: `${f.original}/app`,
          SecretString: JSON.stringify({ ...value, masterarn: masterArn }),
          Tags: [{ Key: STRATEGY_TAG, Value: 'alternating-users' }],
        }),
      );
      arn = app.ARN ?? '';
      handler = databaseRotateHandler(fake.endpoint, f.target);
    },
    async start() {
      // The service's RotateSecret and createSecret; the invocation of setSecret is lost (the kill).
      token = (await rotateSecret(client(), arn)) ?? '';
      await invoke('createSecret');
    },
    async retry(f, afterSet) {
      // The service retries setSecret with the same token, then runs the rest. Anyone may invoke finishSecret, so
      // every step is invoked even after one failed: none of them may promote an alternate lacking rights.
      const errors: Array<RotatorError | undefined> = [];
      for (const step of ['setSecret', 'testSecret', 'finishSecret'] as const) {
        errors.push(await typedError(() => invoke(step)));
        if (step === 'setSecret' && errors[0] === undefined && afterSet !== undefined) {
          await afterSet();
          // The next invocations land in a new container.
          if (fake === undefined) throw new Error('the fake is not running');
          handler = databaseRotateHandler(fake.endpoint, f.target);
        }
      }
      return errors.find((e) => e !== undefined);
    },
    async rotate() {
      token = (await rotateSecret(client(), arn)) ?? '';
      for (const step of STEPS) await invoke(step);
    },
    current: () => read('AWSCURRENT'),
    pending: () => read('AWSPENDING'),
    async dispose() {
      output.stop();
      sm?.destroy();
      await fake?.close();
    },
  };
}

const DRIVERS = [
  { path: 'CLI (self-driven engine, file store)', make: cliDriver },
  { path: 'Lambda (service-driven steps, Secrets Manager fake)', make: lambdaDriver },
];

describe.each(testTargets())('$engine', (target) => {
  const rights = target.engine === 'postgres' ? postgresRights() : mariadbRights();

  describe.each(DRIVERS)('$path', ({ make }) => {
    let driver: ReturnType<typeof cliDriver>;
    beforeEach(() => {
      driver = make();
    });
    afterEach(async () => {
      await driver.dispose();
    });

    /** A user with its rights, its secret (alternating-users, naming the master) and the master's secret. */
    async function setUp(masterMayGrant: boolean): Promise<{ f: Fixture; baseline: string[] }> {
      counter += 1;
      const original = `altr_${target.engine === 'postgres' ? 'pg' : 'mdb'}_${process.pid}_${counter}`;
      const f: Fixture = { target, original, clone: alternateUsername(original), master: `${original}_master` };
      const userPassword = password();
      const masterPassword = password();
      await rights.setUp(original, userPassword, f.master, masterPassword, masterMayGrant);
      await driver.setUp(f, target.secret(original, userPassword, { masterarn: MASTER }), target.secret(f.master, masterPassword));
      const baseline = await rights.of(original, original);
      expect(baseline.join('\n')).toMatch(/SELECT/);
      return { f, baseline };
    }

    /** The rotation after: the original user comes back, with its rights intact. */
    async function expectNextRotationKeepsOriginalRights(f: Fixture, baseline: string[]): Promise<void> {
      await driver.rotate(f);
      const now = await driver.current();
      expect(now.username).toBe(f.original);
      expect(await target.logsIn(now.username, now.password)).toBe(true);
      expect(await rights.of(f.original, f.original)).toEqual(baseline);
    }

    it('a run killed between creating the alternate and granting its rights: the plain retry copies them before promoting', async () => {
      const { f, baseline } = await setUp(true);
      await driver.start(f);
      const pending = await driver.pending();
      expect(pending.username).toBe(f.clone);
      // What the kill left behind at its worst: the alternate logs in with the PENDING password and holds nothing.
      await rights.leaveHalfMadeClone(f.original, f.clone, pending.password);
      expect(await target.logsIn(f.clone, pending.password)).toBe(true);
      expect(await rights.of(f.clone, f.original)).not.toEqual(baseline);

      expect(await driver.retry(f)).toBeUndefined();
      const now = await driver.current();
      expect(now.username).toBe(f.clone);
      expect(await rights.of(f.clone, f.original)).toEqual(baseline);

      await expectNextRotationKeepsOriginalRights(f, baseline);
    });

    it('a GRANT the master may not give: each plain retry is refused with a typed error and never promotes; once the master may, the rotation finishes', async () => {
      const { f, baseline } = await setUp(false);
      await driver.start(f);
      const pending = await driver.pending();

      for (let attempt = 1; attempt <= 2; attempt += 1) {
        const error = await driver.retry(f);
        expect(error?.code, `attempt ${attempt}`).toBe('TARGET_ERROR');
        if (target.engine === 'mariadb') expect(error?.message).toMatch(/GRANT OPTION/);
        expect((await driver.current()).username, `attempt ${attempt}`).toBe(f.original);
        // The alternate (if the failed copy made it) does not take the PENDING password while it lacks rights.
        expect(await target.logsIn(f.clone, pending.password), `attempt ${attempt}`).toBe(false);
      }

      await rights.allowMaster(f.master, f.original);
      expect(await driver.retry(f)).toBeUndefined();
      const now = await driver.current();
      expect(now.username).toBe(f.clone);
      expect(await rights.of(f.clone, f.original)).toEqual(baseline);

      await expectNextRotationKeepsOriginalRights(f, baseline);
    });

    it('testSecret refuses an alternate that lost a right after setSecret, naming it; nothing is promoted', async () => {
      const { f } = await setUp(true);
      await driver.start(f);
      const error = await driver.retry(f, () => rights.takeAway(f.original, f.clone));
      expect(error?.code).toBe('TARGET_ERROR');
      expect(error?.message).toMatch(target.engine === 'postgres' ? /"altr_\w+_clone" does not hold the rights of "altr_\w+"/ : /lacks rights .*SELECT ON `altr_\w+_db`\.\* for 'altr_\w+_clone'@'localhost'/);
      expect((await driver.current()).username).toBe(f.original);
    });
  });
});
