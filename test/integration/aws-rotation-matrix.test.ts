import { randomUUID } from 'node:crypto';
import {
  CreateSecretCommand,
  DescribeSecretCommand,
  GetSecretValueCommand,
  ListSecretVersionIdsCommand,
  PutSecretValueCommand,
  UpdateSecretVersionStageCommand,
  type SecretsManagerClient,
} from '@aws-sdk/client-secrets-manager';
import { escapeIdentifier, escapeLiteral } from 'pg';
import { afterEach, beforeEach, describe, expect, inject, it } from 'vitest';
import { DEFAULT_SAFETY_MARGIN_MS, type RotateHandler } from '../../functions/aws/rotate.js';
import { mysqlNativePasswordHash } from '../../rotators/mysql/password-hash.js';
import { scramSha256Verifier } from '../../rotators/postgres/scram.js';
import { alternateUsername } from '../../shared/alternate-user.js';
import { STEPS, type Step } from '../../shared/engine.js';
import type { ErrorCode, RotatorError } from '../../shared/errors.js';
import type { Strategy } from '../../shared/store.js';
import { STRATEGY_TAG } from '../../stores/aws/index.js';
import { startSecretsManagerFake, type SecretsManagerFake } from '../fakes/aws/secrets-manager.js';
import { recordSecretValue, recordSecrets } from '../support/canary.js';
import { ROTATION_LAMBDA_ARN, captureOutput, databaseRotateHandler, lambdaContext, refusal, rotateSecret, stages, type OutputCapture } from '../support/lambda.js';
import { mariadbAdmin, quoteAccount } from '../support/mariadb-admin.js';
import { postgresAdmin } from '../support/postgres-admin.js';
import { testTargets, type TestTarget } from '../support/targets.js';

/**
 * The AWS rotation matrix: the real Lambda handler (functions/aws/rotate.ts) driven exactly as Secrets Manager
 * drives it (RotateSecret makes the AWSPENDING stub, then one invocation per step with a Lambda context), against
 * the real PostgreSQL and MariaDB of the test run, for every strategy each engine supports:
 *
 * - full rotations, and a second one that alternates back, checking after every step that no credential is lost
 *   (alternating-users: the then-AWSCURRENT credential logs in at every instant, invariant 3);
 * - a failure injected in each step (a Secrets Manager error, the Lambda deadline, a login the database refuses),
 *   then the service's retry of that step with the same token and the remaining steps: the rotation converges,
 *   AWSCURRENT never moves on a failure, and the error is typed, redacted and retryable where it should be;
 * - RotateImmediately=false: the service's test-only path changes nothing;
 * - dual-password, which neither server here supports, is refused with nothing changed at the database;
 * - everything printed is searched for every password, secret value and the RotationToken (and handed to the canary).
 */

const targets = testTargets();
const pgAdmin = postgresAdmin(inject('postgres'));
const mariaAdmin = mariadbAdmin(inject('mariadb'));

let fake: SecretsManagerFake;
let sm: SecretsManagerClient;
let output: OutputCapture;
let rotationToken = '';
/** Every secret the running test made or read: none may appear in output or in an error message. */
let known: string[] = [];
let counter = 0;

beforeEach(async () => {
  fake = await startSecretsManagerFake();
  sm = fake.client();
  known = [];
  rotationToken = `rt-${randomUUID()}-${Math.random().toString(36).slice(2)}`;
  remember(rotationToken);
  output = captureOutput();
});

afterEach(async () => {
  output.stop();
  sm.destroy();
  await fake.close();
});

function remember(...values: string[]): void {
  recordSecrets(...values);
  known.push(...values);
}

function rememberValue(raw: string): void {
  recordSecretValue(raw);
  known.push(raw);
}

function password(): string {
  const p = `Mx-${counter}-${Math.random().toString(36).slice(2)}-${Math.random().toString(36).slice(2)}`;
  remember(p);
  return p;
}


// ---- the database, behind the rotator's back ----

/** Sets a user's password directly as the server's admin (to break a login, then to restore it). */
async function setPasswordAtTarget(target: TestTarget, user: string, newPassword: string): Promise<void> {
  if (target.engine === 'postgres') {
    await pgAdmin.admin((c) => c.query(`ALTER ROLE ${escapeIdentifier(user)} PASSWORD ${escapeLiteral(scramSha256Verifier(newPassword))}`));
    return;
  }
  const hosts = await mariaAdmin.accountHosts(user);
  expect(hosts.length).toBeGreaterThan(0);
  const hash = mysqlNativePasswordHash(newPassword);
  await mariaAdmin.admin(async (c) => {
    for (const host of hosts) await c.query(`ALTER USER ${quoteAccount(user, host)} IDENTIFIED BY PASSWORD '${hash}'`);
  });
}

async function userExists(target: TestTarget, user: string): Promise<boolean> {
  return target.engine === 'postgres' ? pgAdmin.roleExists(user) : (await mariaAdmin.accountHosts(user)).length > 0;
}

// ---- the secret in the fake ----

interface Credential {
  versionId: string;
  username: string;
  password: string;
}

interface Fixture {
  target: TestTarget;
  strategy: Strategy;
  arn: string;
  /** The first CURRENT: its version id, user and password. */
  initial: Credential;
  master?: { user: string; password: string };
  /** The warm container the steps land on. */
  handler: RotateHandler;
}

/**
 * A login user with a secret in the fake whose strategy is given by the `rotator:strategy` tag, or with
 * `via: 'default'` by the handler's config.defaultStrategy. Strategies other than single-user also get a master
 * user and its secret, named by `masterarn` (ARN), as AWS's alternating-users template expects.
 */
async function seed(target: TestTarget, strategy: Strategy, via: 'tag' | 'default' = 'tag'): Promise<Fixture> {
  counter += 1;
  const tag = `${target.engine === 'postgres' ? 'pg' : 'mdb'}_${process.pid}_${counter}_${Math.random().toString(36).slice(2, 6)}`;
  const user = `awm_${tag}`;
  const initialPassword = password();
  await target.createUser(user, initialPassword);
  let master: Fixture['master'];
  let extra = {};
  if (strategy !== 'single-user') {
    master = { user: `awm_master_${tag}`, password: password() };
    await target.createUser(master.user, master.password, { master: true });
    const masterValue = JSON.stringify(target.secret(master.user, master.password));
    rememberValue(masterValue);
    const created = await sm.send(new CreateSecretCommand({ Name: `rds/matrix/${tag}/master`, SecretString: masterValue }));
    extra = { masterarn: created.ARN ?? '' };
  }
  const value = JSON.stringify(target.secret(user, initialPassword, extra));
  rememberValue(value);
  const created = await sm.send(
    new CreateSecretCommand({
      Name: `rds/matrix/${tag}/app`,
      SecretString: value,
      ...(via === 'tag' ? { Tags: [{ Key: STRATEGY_TAG, Value: strategy }] } : {}),
    }),
  );
  return {
    target,
    strategy,
    arn: created.ARN ?? '',
    initial: { versionId: created.VersionId ?? '', username: user, password: initialPassword },
    ...(master === undefined ? {} : { master }),
    handler: databaseRotateHandler(fake.endpoint, target, via === 'default' ? strategy : 'single-user'),
  };
}


function invoke(handler: RotateHandler, arn: string, token: string, step: Step, remainingMs = 60_000): Promise<unknown> {
  return handler({ SecretId: arn, ClientRequestToken: token, Step: step, RotationToken: rotationToken }, lambdaContext(remainingMs));
}



/** Every version the secret has, labelled or not. */
async function versionCount(arn: string): Promise<number> {
  return (await sm.send(new ListSecretVersionIdsCommand({ SecretId: arn, IncludeDeprecated: true }))).Versions?.length ?? 0;
}

/** A version's credential, by stage or id; undefined for a value-less stub or a missing stage. */
async function read(arn: string, selector: { stage: 'AWSCURRENT' | 'AWSPENDING' | 'AWSPREVIOUS' } | { versionId: string }): Promise<Credential | undefined> {
  try {
    const out = await sm.send(
      new GetSecretValueCommand({ SecretId: arn, ...('stage' in selector ? { VersionStage: selector.stage } : { VersionId: selector.versionId }) }),
    );
    const raw = out.SecretString ?? '{}';
    rememberValue(raw);
    const value = JSON.parse(raw) as { username: string; password: string };
    remember(value.password);
    return { versionId: out.VersionId ?? '', username: value.username, password: value.password };
  } catch (error) {
    if ((error as { name?: string }).name === 'ResourceNotFoundException') return undefined;
    throw error;
  }
}

async function current(arn: string): Promise<Credential> {
  const value = await read(arn, { stage: 'AWSCURRENT' });
  if (value === undefined) throw new Error('the secret has no AWSCURRENT value');
  return value;
}

async function logsIn(f: Fixture, credential: Credential | undefined): Promise<boolean> {
  return credential !== undefined && (await f.target.logsIn(credential.username, credential.password));
}

/**
 * No credential is ever lost. With alternating users the then-AWSCURRENT credential logs in at every instant
 * (invariant 3); with a single user the password changes in place, so between setSecret and finishSecret only the
 * AWSPENDING one does.
 */
async function expectNoCredentialLost(f: Fixture, when: string): Promise<void> {
  const now = await current(f.arn);
  if (f.strategy === 'single-user') {
    const works = (await logsIn(f, now)) || (await logsIn(f, await read(f.arn, { stage: 'AWSPENDING' })));
    expect(works, `neither AWSCURRENT nor AWSPENDING logs in ${when}`).toBe(true);
  } else {
    expect(await logsIn(f, now), `AWSCURRENT does not log in ${when}`).toBe(true);
  }
}

/** Runs a whole service-driven rotation, checking the invariant after every step; returns the token. */
async function rotateFully(f: Fixture): Promise<string> {
  const token = (await rotateSecret(sm, f.arn)) ?? '';
  expect(token).toMatch(/^[0-9a-f-]{36}$/);
  await expectNoCredentialLost(f, 'after RotateSecret');
  for (const step of STEPS) {
    await invoke(f.handler, f.arn, token, step);
    await expectNoCredentialLost(f, `after ${step}`);
  }
  return token;
}

/**
 * The rotation `token` finished and nothing is left half-done: AWSCURRENT is the token and logs in, the old CURRENT
 * is AWSPREVIOUS (logging in with alternating users, refused with a single user), no other version is AWSPENDING,
 * and the service would start the next rotation.
 */
async function expectRotated(f: Fixture, token: string, before: Credential): Promise<Credential> {
  const labels = await stages(sm, f.arn);
  expect(labels[token]).toContain('AWSCURRENT');
  expect(labels[before.versionId]).toEqual(['AWSPREVIOUS']);
  expect(Object.entries(labels).filter(([id, l]) => id !== token && l.includes('AWSPENDING'))).toEqual([]);
  expect(Object.keys(labels)).toHaveLength(2);

  const now = await current(f.arn);
  expect(now.versionId).toBe(token);
  expect(now.password).not.toBe(before.password);
  expect(await logsIn(f, now)).toBe(true);
  if (f.strategy === 'alternating-users') {
    expect(now.username).toBe(alternateUsername(before.username));
    expect(await logsIn(f, before)).toBe(true);
  } else {
    expect(now.username).toBe(before.username);
    expect(await logsIn(f, before)).toBe(false);
  }
  expectNoLeak();
  return now;
}

/** No secret this test knows of appears in anything the handler printed (the canary checks the same at the end). */
function expectNoLeak(): void {
  const text = output.text();
  for (const secret of known) expect(text.includes(secret), 'a secret appeared in the output').toBe(false);
}

function expectNoSecretIn(error: RotatorError): void {
  for (const secret of known) expect(error.message.includes(secret), 'a secret appeared in an error message').toBe(false);
  expect(error.cause).toBeUndefined();
}

// ---- the failures injected into each step ----

interface Injected {
  /** The Lambda context's remaining time for the failing invocation. */
  remainingMs?: number;
  /** Undoes a breakage at the database before the service retries. */
  restore?: () => Promise<void>;
}

interface FailureCase {
  name: string;
  step: Step;
  inject: (f: Fixture, token: string) => Promise<Injected>;
  code: ErrorCode;
  retryable: boolean;
  /** The retry lands on a fresh container (no cached values) instead of the warm one. */
  cold?: boolean;
  /** More checks of the state the failure left, before the retry. */
  check?: (f: Fixture, token: string) => Promise<void>;
}

const serviceError =
  (operation: string, type: string, status: number) =>
  (): Promise<Injected> => {
    fake.fail({ operation, type, status });
    return Promise.resolve({});
  };

const noTimeLeft = (): Promise<Injected> => Promise.resolve({ remainingMs: DEFAULT_SAFETY_MARGIN_MS - 500 });

/** The credential setSecret logs in with stops working: the user's own (single user) or the master (alternating). */
async function breakSetLogin(f: Fixture): Promise<Injected> {
  const [user, original] = f.master === undefined ? [f.initial.username, f.initial.password] : [f.master.user, f.master.password];
  await setPasswordAtTarget(f.target, user, password());
  return { restore: () => setPasswordAtTarget(f.target, user, original) };
}

/** The database stops accepting the pending credential that setSecret set. */
async function breakPendingLogin(f: Fixture, token: string): Promise<Injected> {
  const pending = await read(f.arn, { versionId: token });
  if (pending === undefined) throw new Error('the pending version has no value');
  await setPasswordAtTarget(f.target, pending.username, password());
  return { restore: () => setPasswordAtTarget(f.target, pending.username, pending.password) };
}

const FAILURES: readonly FailureCase[] = [
  {
    name: 'createSecret: PutSecretValue fails (InternalServiceError)',
    step: 'createSecret',
    inject: serviceError('PutSecretValue', 'InternalServiceError', 500),
    code: 'STORE_IO',
    retryable: true,
    check: async (f, token) => {
      // The stub is still empty and the database untouched.
      expect(await read(f.arn, { versionId: token })).toBeUndefined();
      expect(await logsIn(f, f.initial)).toBe(true);
    },
  },
  {
    name: 'createSecret: DescribeSecret fails (ServiceUnavailable), retried on a fresh container',
    step: 'createSecret',
    inject: serviceError('DescribeSecret', 'ServiceUnavailable', 503),
    code: 'STORE_IO',
    retryable: true,
    cold: true,
    check: async (f, token) => expect(await read(f.arn, { versionId: token })).toBeUndefined(),
  },
  {
    name: 'setSecret: DescribeSecret fails (InternalServiceError)',
    step: 'setSecret',
    inject: serviceError('DescribeSecret', 'InternalServiceError', 500),
    code: 'STORE_IO',
    retryable: true,
  },
  {
    name: 'setSecret: no time left before the Lambda deadline',
    step: 'setSecret',
    inject: noTimeLeft,
    code: 'TARGET_UNREACHABLE',
    retryable: true,
  },
  {
    name: 'setSecret: the database refuses the login setSecret needs, fixed before the retry on a fresh container',
    step: 'setSecret',
    inject: breakSetLogin,
    code: 'TARGET_AUTH_FAILED',
    retryable: false,
    cold: true,
    check: async (f, token) => {
      // Nothing was set: the pending credential does not log in, and no alternate user was made.
      const pending = await read(f.arn, { versionId: token });
      expect(await logsIn(f, pending)).toBe(false);
      if (f.strategy === 'alternating-users') expect(await userExists(f.target, alternateUsername(f.initial.username))).toBe(false);
    },
  },
  {
    name: 'testSecret: DescribeSecret fails (InternalServiceError)',
    step: 'testSecret',
    inject: serviceError('DescribeSecret', 'InternalServiceError', 500),
    code: 'STORE_IO',
    retryable: true,
  },
  {
    name: 'testSecret: no time left before the Lambda deadline',
    step: 'testSecret',
    inject: noTimeLeft,
    code: 'TARGET_UNREACHABLE',
    retryable: true,
  },
  {
    name: 'testSecret: the database refuses the pending credential, fixed before the retry',
    step: 'testSecret',
    inject: breakPendingLogin,
    code: 'TARGET_AUTH_FAILED',
    retryable: false,
  },
  {
    name: 'finishSecret: UpdateSecretVersionStage fails (InternalServiceError)',
    step: 'finishSecret',
    inject: serviceError('UpdateSecretVersionStage', 'InternalServiceError', 500),
    code: 'STORE_IO',
    retryable: true,
  },
  {
    name: 'finishSecret: DescribeSecret fails (ServiceUnavailable), retried on a fresh container',
    step: 'finishSecret',
    inject: serviceError('DescribeSecret', 'ServiceUnavailable', 503),
    code: 'STORE_IO',
    retryable: true,
    cold: true,
  },
];

describe.each(targets.map((t) => [t.engine, t] as const))('AWS rotation matrix on %s', (_engine, target) => {
  describe.each(target.strategies.map((s) => [s] as const))('%s', (strategy) => {
    it('rotates through RotateSecret and the four steps, then a second rotation alternates back', async () => {
      // The strategy comes from the handler's config.defaultStrategy here; the failure cases below use the tag.
      const f = await seed(target, strategy, 'default');
      const first = await rotateFully(f);
      const afterFirst = await expectRotated(f, first, f.initial);

      const second = await rotateFully(f);
      const afterSecond = await expectRotated(f, second, afterFirst);
      // Back to the first user; the version before last is no longer labelled.
      expect(afterSecond.username).toBe(f.initial.username);
      expect((await stages(sm, f.arn))[f.initial.versionId]).toBeUndefined();
      // The initial password is gone from the database in both schemes (alternating: the user's password was set anew).
      expect(await logsIn(f, f.initial)).toBe(false);
      if (strategy === 'alternating-users') expect(await logsIn(f, afterFirst)).toBe(true);
      expect(fake.requests.filter((r) => r.operation === 'PutSecretValue').map((r) => r.body.RotationToken === rotationToken)).toEqual([true, true]);
      expectNoLeak();
    });

    it.each(FAILURES.map((c) => [c.name, c] as const))('%s: the same-token retry converges', async (_name, failure) => {
      const f = await seed(target, strategy);
      const token = (await rotateSecret(sm, f.arn)) ?? '';
      const index = STEPS.indexOf(failure.step);
      for (const step of STEPS.slice(0, index)) {
        await invoke(f.handler, f.arn, token, step);
        await expectNoCredentialLost(f, `after ${step}`);
      }

      const injected = await failure.inject(f, token);
      const error = await refusal(invoke(f.handler, f.arn, token, failure.step, injected.remainingMs));
      expect([error.code, error.retryable]).toEqual([failure.code, failure.retryable]);
      expectNoSecretIn(error);
      const failed = output.emf().at(-1);
      expect([failed?.Step, failed?.errorCode, failed?.StepFailed]).toEqual([failure.step, failure.code, 1]);
      // AWSCURRENT did not move, and the token is still the one PENDING version.
      const labels = await stages(sm, f.arn);
      expect(labels[f.initial.versionId]).toEqual(['AWSCURRENT']);
      expect(labels[token]).toEqual(['AWSPENDING']);
      await failure.check?.(f, token);
      await injected.restore?.();
      await expectNoCredentialLost(f, `after the failed ${failure.step}`);

      // Secrets Manager retries the failed step with the same token, then carries on.
      const retry = failure.cold === true ? databaseRotateHandler(fake.endpoint, target) : f.handler;
      for (const step of STEPS.slice(index)) {
        await invoke(retry, f.arn, token, step);
        await expectNoCredentialLost(f, `after the retried ${step}`);
      }
      await expectRotated(f, token, f.initial);
      // Nothing half-done: the service accepts the next rotation.
      expect(await rotateSecret(sm, f.arn)).toMatch(/^[0-9a-f-]{36}$/);
    });

    it('RotateImmediately=false: the test-only testSecret with a token the secret does not know changes nothing', async () => {
      const f = await seed(target, strategy);
      const beforeStages = await stages(sm, f.arn);
      const beforeVersions = await versionCount(f.arn);
      expect(await rotateSecret(sm, f.arn, false)).toBeUndefined();
      const described = await sm.send(new DescribeSecretCommand({ SecretId: f.arn }));
      expect([described.RotationEnabled, described.RotationLambdaARN]).toEqual([true, ROTATION_LAMBDA_ARN]);
      expect(described.VersionIdsToStages).toEqual(beforeStages);
      fake.resetCounts();

      // The engine's guards (shared/engine.ts): rotation enabled, then the token must be a known version. A fresh
      // token is none, so the step is refused before anything is read or changed: VERSION_NOT_FOUND, not retryable.
      const error = await refusal(invoke(f.handler, f.arn, randomUUID(), 'testSecret'));
      expect([error.code, error.retryable]).toEqual(['VERSION_NOT_FOUND', false]);
      expect(error.message).toMatch(/has no version/);
      expectNoSecretIn(error);
      expect(fake.counts()).toEqual({ DescribeSecret: 1 });

      expect(await stages(sm, f.arn)).toEqual(beforeStages);
      expect(await versionCount(f.arn)).toBe(beforeVersions);
      const now = await current(f.arn);
      expect([now.versionId, now.username, now.password]).toEqual([f.initial.versionId, f.initial.username, f.initial.password]);
      expect(await logsIn(f, f.initial)).toBe(true);
      expect(await userExists(f.target, alternateUsername(f.initial.username))).toBe(false);
      expectNoLeak();

      // The configuration it tested works: the next scheduled rotation runs normally.
      const token = await rotateFully(f);
      await expectRotated(f, token, f.initial);
    });
  });

  it('dual-password is refused with UNSUPPORTED_ENGINE naming alternating-users, and the database does not change', async () => {
    expect(target.strategies).not.toContain('dual-password');
    const f = await seed(target, 'dual-password');
    const token = (await rotateSecret(sm, f.arn)) ?? '';
    const expectRefused = (error: RotatorError): void => {
      expect([error.code, error.retryable]).toEqual(['UNSUPPORTED_ENGINE', false]);
      expect(error.message).toMatch(/dual-password/);
      expect(error.message).toMatch(/alternating-users/);
      expectNoSecretIn(error);
    };
    fake.resetCounts();

    if (!target.rotator().strategies.includes('dual-password')) {
      // PostgreSQL: the rotator does not list the strategy, so every step is refused before anything is read or
      // written (the guards pass: the token is the PENDING stub).
      for (const step of STEPS) expectRefused(await refusal(invoke(f.handler, f.arn, token, step)));
      expect(fake.count('PutSecretValue') + fake.count('UpdateSecretVersionStage')).toBe(0);
      expect(await read(f.arn, { versionId: token })).toBeUndefined();
    } else {
      // MariaDB through the MySQL rotator, which lists dual-password for MySQL 8.0.14+: the secret says "mariadb",
      // so createSecret refuses before a PENDING value is stored, and so does the service's retry.
      expectRefused(await refusal(invoke(f.handler, f.arn, token, 'createSecret')));
      expectRefused(await refusal(invoke(f.handler, f.arn, token, 'createSecret')));
      expect(fake.count('PutSecretValue') + fake.count('UpdateSecretVersionStage')).toBe(0);
      expect(await read(f.arn, { versionId: token })).toBeUndefined();
    }
    const labels = await stages(sm, f.arn);
    expect(labels[f.initial.versionId]).toEqual(['AWSCURRENT']);
    expect(labels[token]).toEqual(['AWSPENDING']);
    expect(await logsIn(f, f.initial)).toBe(true);
    expect(await logsIn(f, await current(f.arn))).toBe(true);
    expect(await userExists(f.target, alternateUsername(f.initial.username))).toBe(false);
    expect(output.emf().map((d) => d.errorCode).filter((c) => c !== undefined).every((c) => c === 'UNSUPPORTED_ENGINE')).toBe(true);
    expectNoLeak();
  });
});

describe('the test-only path of RotateImmediately=false with a test version that holds a value', () => {
  it.each(targets.map((t) => [t.engine, t] as const))('%s: testSecret passes on the current value and changes nothing', async (_engine, target) => {
    // Our reading of "creates an AWSPENDING version of the secret and then removes it": a version carrying the
    // current value (AWS's own templates' testSecret reads the pending value, so it must have one). testSecret logs
    // in with it and changes nothing; the service then removes the label.
    const f = await seed(target, 'single-user');
    expect(await rotateSecret(sm, f.arn, false)).toBeUndefined();
    const value = (await sm.send(new GetSecretValueCommand({ SecretId: f.arn }))).SecretString ?? '';
    const token = randomUUID();
    await sm.send(new PutSecretValueCommand({ SecretId: f.arn, ClientRequestToken: token, SecretString: value, VersionStages: ['AWSPENDING'] }));
    const before = await stages(sm, f.arn);
    fake.resetCounts();

    await invoke(f.handler, f.arn, token, 'testSecret');
    expect(fake.count('PutSecretValue') + fake.count('UpdateSecretVersionStage')).toBe(0);
    expect(await stages(sm, f.arn)).toEqual(before);
    expect(await logsIn(f, f.initial)).toBe(true);

    await sm.send(new UpdateSecretVersionStageCommand({ SecretId: f.arn, VersionStage: 'AWSPENDING', RemoveFromVersionId: token }));
    const next = await rotateFully(f);
    await expectRotated(f, next, f.initial);
    expectNoLeak();
  });
});

describe('the test-only path when the service leaves a value-less AWSPENDING version', () => {
  it.each(targets.map((t) => [t.engine, t] as const))('%s: testSecret on it is refused with VERSION_NOT_FOUND and changes nothing', async (_engine, target) => {
    // AWS documents that RotateImmediately=false "creates an AWSPENDING version of the secret and then removes it"
    // around testSecret. Whatever that version holds, a value-less one must not make the step change anything.
    const f = await seed(target, 'single-user');
    const token = (await rotateSecret(sm, f.arn)) ?? '';
    const before = await stages(sm, f.arn);
    fake.resetCounts();

    const error = await refusal(invoke(f.handler, f.arn, token, 'testSecret'));
    expect([error.code, error.retryable]).toEqual(['VERSION_NOT_FOUND', false]);
    expectNoSecretIn(error);
    expect(fake.count('PutSecretValue') + fake.count('UpdateSecretVersionStage')).toBe(0);
    expect(await stages(sm, f.arn)).toEqual(before);
    expect(await logsIn(f, f.initial)).toBe(true);

    // The service removes its throwaway version; the secret is as it was and rotates normally afterwards.
    await sm.send(new UpdateSecretVersionStageCommand({ SecretId: f.arn, VersionStage: 'AWSPENDING', RemoveFromVersionId: token }));
    expect(await stages(sm, f.arn)).toEqual({ [f.initial.versionId]: ['AWSCURRENT'] });
    const next = await rotateFully(f);
    await expectRotated(f, next, f.initial);
  });
});
