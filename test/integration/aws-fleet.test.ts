import {
  CreateSecretCommand,
  DescribeSecretCommand,
  PutSecretValueCommand,
  RotateSecretCommand,
  TagResourceCommand,
  type SecretsManagerClient,
} from '@aws-sdk/client-secrets-manager';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createRotateHandler } from '../../functions/aws/rotate.js';
import { RotationEngine, STEPS } from '../../shared/engine.js';
import { RotatorError } from '../../shared/errors.js';
import { createLogger, type Logger } from '../../shared/logger.js';
import type { RotationSchedule, SecretInfo } from '../../shared/store.js';
import { AwsSecretStore, LAST_ERROR_TAG } from '../../stores/aws/index.js';
import { startSecretsManagerFake, type SecretsManagerFake } from '../fakes/aws/secrets-manager.js';
import { canaryLogger, recordOutput, recordSecretValue } from '../support/canary.js';
import { captureOutput, functionClient, lambdaContext, refusal } from '../support/lambda.js';
import { MemoryTarget } from '../support/memory-target.js';

/**
 * What issue 12 asks of the AWS store for operating a fleet, through the real SDK client against the fake:
 * rotation schedules both ways (RotationRules, NextRotationDate), the last failed rotation as a tag (recorded by the
 * Lambda handler, cleared by the next success), describeAll from ListSecrets pages, and the request pacing that keeps
 * a sweep under Secrets Manager's quotas.
 */

const LAMBDA_ARN = 'arn:aws:lambda:us-east-1:123456789012:function:rotator-rotate';
const HOUR = 3_600_000;
const DAY = 86_400_000;

let fake: SecretsManagerFake;
let sm: SecretsManagerClient;
let store: AwsSecretStore;
let warnings: string[];

function warningLogger(): Logger {
  return createLogger({ level: 'warn', write: (line) => warnings.push(line) });
}

beforeEach(async () => {
  fake = await startSecretsManagerFake();
  sm = fake.client({ maxAttempts: 1 });
  warnings = [];
  store = new AwsSecretStore({ client: sm, logger: warningLogger() });
});
afterEach(async () => {
  recordOutput(warnings.join('\n'));
  sm.destroy();
  await fake.close();
});

const initial = { engine: 'memory', host: 'db.local', username: 'app', password: 'fleet-initial-password-1', dbname: 'app' };

/** Creates a secret with rotation configured and on by these rules (`null`: rotation never configured). */
async function seed(name: string, rules: Record<string, unknown> | null = { AutomaticallyAfterDays: 30 }): Promise<string> {
  const value = JSON.stringify(initial);
  recordSecretValue(value);
  const created = await sm.send(new CreateSecretCommand({ Name: name, SecretString: value }));
  if (rules !== null) await sm.send(new RotateSecretCommand({ SecretId: name, RotateImmediately: false, RotationLambdaARN: LAMBDA_ARN, RotationRules: rules }));
  return created.ARN ?? '';
}

async function rules(name: string): Promise<unknown> {
  return (await sm.send(new DescribeSecretCommand({ SecretId: name }))).RotationRules;
}

async function rotateAsTheService(name: string, target: MemoryTarget): Promise<string> {
  const token = (await sm.send(new RotateSecretCommand({ SecretId: name }))).VersionId ?? '';
  const engine = new RotationEngine({ store, rotators: [target], logger: canaryLogger(), env: {} });
  for (const step of STEPS) await engine.runStep(name, token, step);
  return token;
}

describe('rotation schedules on AWS: RotationRules both ways', () => {
  it.each<[string, RotationSchedule, Record<string, unknown>]>([
    ['a rate in hours with a window', { kind: 'rate', everyMs: 12 * HOUR, windowMs: 3 * HOUR }, { ScheduleExpression: 'rate(12 hours)', Duration: '3h' }],
    ['the four-hour floor', { kind: 'rate', everyMs: 4 * HOUR }, { ScheduleExpression: 'rate(4 hours)' }],
    ['a rate in days (the service adds AutomaticallyAfterDays)', { kind: 'rate', everyMs: 30 * DAY }, { ScheduleExpression: 'rate(30 days)', AutomaticallyAfterDays: 30 }],
    ['one day', { kind: 'rate', everyMs: DAY, windowMs: 24 * HOUR }, { ScheduleExpression: 'rate(1 day)', AutomaticallyAfterDays: 1, Duration: '24h' }],
    ['a cron with a window', { kind: 'cron', expression: '0 4 ? * SUN *', windowMs: 2 * HOUR }, { ScheduleExpression: 'cron(0 4 ? * SUN *)', Duration: '2h' }],
    ['a cron every six hours', { kind: 'cron', expression: '0 0/6 * * ? *' }, { ScheduleExpression: 'cron(0 0/6 * * ? *)' }],
  ])('%s: updateSchedule writes the rules, describe reads the same schedule back', async (_label, schedule, expected) => {
    await seed('app/db');
    await store.updateSchedule('app/db', schedule);
    expect(await rules('app/db')).toEqual(expected);
    const info = await store.describe('app/db');
    expect(info.rotation).toEqual({ enabled: true, schedule });
    expect(fake.requests.filter((r) => r.operation === 'RotateSecret').at(-1)?.body.RotateImmediately).toBe(false);
    // No rotation started: no PENDING.
    expect(info.versions.map((v) => v.stages)).toEqual([['CURRENT']]);
  });

  it('reads AutomaticallyAfterDays (with a Duration) as a rate in days, and NextRotationDate as nextRotationAt', async () => {
    await seed('app/db', { AutomaticallyAfterDays: 7, Duration: '4h' });
    const info = await store.describe('app/db');
    expect(info.rotation.schedule).toEqual({ kind: 'rate', everyMs: 7 * DAY, windowMs: 4 * HOUR });
    const raw = await sm.send(new DescribeSecretCommand({ SecretId: 'app/db' }));
    expect(raw.NextRotationDate).toBeInstanceOf(Date);
    expect(info.nextRotationAt).toEqual(raw.NextRotationDate);
    // The service counts from the UTC midnight of the creation (the fake as roughly).
    const created = raw.CreatedDate ?? new Date(0);
    expect(info.nextRotationAt?.getTime()).toBe(Date.UTC(created.getUTCFullYear(), created.getUTCMonth(), created.getUTCDate() + 7));
  });

  it.each<[string, RotationSchedule | undefined, RegExp]>([
    ['every hour', { kind: 'rate', everyMs: HOUR }, /at most every four hours/],
    ['every three hours', { kind: 'rate', everyMs: 3 * HOUR }, /at most every four hours/],
    ['36 hours', { kind: 'rate', everyMs: 36 * HOUR }, /whole number of days/],
    ['1000 days', { kind: 'rate', everyMs: 1000 * DAY }, /999 days/],
    ['a cron every two hours', { kind: 'cron', expression: '0 0/2 * * ? *' }, /at most every four hours/],
    ['a cron hourly on Sundays', { kind: 'cron', expression: '0 * ? * SUN *' }, /at most every four hours/],
    ['a daily window past midnight', { kind: 'cron', expression: '0 22 * * ? *', windowMs: 4 * HOUR }, /midnight UTC/],
    ['a window into the next rotation', { kind: 'cron', expression: '0 0/6 * * ? *', windowMs: 8 * HOUR }, /before the next rotation/],
    ['a window longer than the rate', { kind: 'rate', everyMs: 6 * HOUR, windowMs: 8 * HOUR }, /must not be longer than the rate/],
    ['a cron that is not one', { kind: 'cron', expression: 'every day at noon' }, /six fields/],
    ['no schedule (AWS has no rotation without one)', undefined, /cancel-rotate-secret --secret-id app\/db/],
  ])('refuses %s before any call', async (_label, schedule, message) => {
    await seed('app/db');
    fake.resetCounts();
    const error = await refusal(store.updateSchedule('app/db', schedule));
    expect(error.code).toBe('INVALID_INPUT');
    expect(error.message).toMatch(message);
    expect(fake.count()).toBe(0);
  });

  it('needs rotation configured and on, and no rotation under way, and says how to get there', async () => {
    await seed('app/plain', null);
    const off = await refusal(store.updateSchedule('app/plain', { kind: 'rate', everyMs: 30 * DAY }));
    expect(off.code).toBe('INVALID_INPUT');
    expect(off.message).toContain('aws secretsmanager rotate-secret --secret-id app/plain --rotation-lambda-arn');
    await seed('app/db');
    await sm.send(new RotateSecretCommand({ SecretId: 'app/db' }));
    const busy = await refusal(store.updateSchedule('app/db', { kind: 'rate', everyMs: 30 * DAY }));
    expect([busy.code, busy.retryable]).toEqual(['ROTATION_IN_PROGRESS', true]);
    expect(await rules('app/db')).toEqual({ AutomaticallyAfterDays: 30 });
    expect(await refusal(store.updateSchedule('app/absent', { kind: 'rate', everyMs: 30 * DAY }))).toMatchObject({ code: 'SECRET_NOT_FOUND' });
  });

  it.each<[string, Record<string, unknown>]>([
    ['an expression that is not one', { RotationRules: { ScheduleExpression: 'whenever' } }],
    ['control characters', { RotationRules: { ScheduleExpression: '\u001b[31mrate(1 day)\u0007' } }],
    ['a huge expression', { RotationRules: { ScheduleExpression: `rate(${'9'.repeat(100_000)} days)` } }],
    ['rate(0 days)', { RotationRules: { ScheduleExpression: 'rate(0 days)' } }],
    ['a cron every minute', { RotationRules: { ScheduleExpression: 'cron(* * * * ? *)' } }],
    ['a number for an expression', { RotationRules: { ScheduleExpression: 42 } }],
    ['days as text', { RotationRules: { AutomaticallyAfterDays: '30' } }],
    ['a billion days', { RotationRules: { AutomaticallyAfterDays: 1e9 } }],
    ['negative days', { RotationRules: { AutomaticallyAfterDays: -1 } }],
    ['fractional days', { RotationRules: { AutomaticallyAfterDays: 1.5 } }],
    ['a window of 99h', { RotationRules: { AutomaticallyAfterDays: 3, Duration: '99h' } }],
    ['a window that is not a string', { RotationRules: { AutomaticallyAfterDays: 3, Duration: { h: 3 } } }],
  ])('shows hostile rules (%s) as no schedule, with a warning that does not repeat them', async (_label, fields) => {
    await seed('app/db');
    fake.answerWith('app/db', fields);
    const info = await store.describe('app/db');
    expect(info.rotation).toEqual({ enabled: true });
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toContain('ignoring rotation rules');
    expect(warnings[0]).not.toMatch(/whenever|\\u001b|9999|cron|rate|99h/);
    // describeAll reads the same rules from ListSecrets, and the same way.
    expect((await store.describeAll()).map((i) => i.rotation)).toEqual([{ enabled: true }]);
  });

  it('shows no schedule for rules that are empty, and no nextRotationAt for a date that is not one', async () => {
    await seed('app/db');
    fake.answerWith('app/db', { RotationRules: {}, NextRotationDate: null });
    const info = await store.describe('app/db');
    expect(info.rotation).toEqual({ enabled: true });
    expect(info.nextRotationAt).toBeUndefined();
    expect(warnings).toEqual([]);
  });
});

describe('the last failed rotation: the rotator:last-error tag', () => {
  const failure = { code: 'TARGET_AUTH_FAILED', step: 'setSecret', at: new Date('2026-11-29T15:00:00.000Z') };

  it('records, shows as lastError (not as a tag), keeps the other tags, and clears', async () => {
    await seed('app/db');
    await sm.send(new TagResourceCommand({ SecretId: 'app/db', Tags: [{ Key: 'team', Value: 'payments' }] }));
    await store.recordRotationError('app/db', failure);
    const raw = await sm.send(new DescribeSecretCommand({ SecretId: 'app/db' }));
    expect(raw.Tags).toContainEqual({ Key: LAST_ERROR_TAG, Value: 'TARGET_AUTH_FAILED setSecret 2026-11-29T15:00:00.000Z' });
    const info = await store.describe('app/db');
    expect(info.lastError).toEqual(failure);
    expect(info.tags).toEqual({ team: 'payments' });
    // A later failure replaces it; one without a step too.
    await store.recordRotationError('app/db', { code: 'STORE_IO', at: new Date('2026-11-30T00:00:00.000Z') });
    expect((await store.describe('app/db')).lastError).toEqual({ code: 'STORE_IO', at: new Date('2026-11-30T00:00:00.000Z') });
    fake.resetCounts();
    await store.recordRotationError('app/db', undefined);
    expect(fake.counts()).toEqual({ UntagResource: 1 });
    const cleared = await store.describe('app/db');
    expect(cleared.lastError).toBeUndefined();
    expect(cleared.tags).toEqual({ team: 'payments' });
    await store.recordRotationError('app/db', undefined); // nothing to clear: fine
  });

  it.each([
    ['free text', 'rotation failed: password was hunter2'],
    ['a bad date', 'TARGET_ERROR setSecret 2026-13-45T99:00:00.000Z'],
    ['a lower-case code', 'oops setSecret 2026-11-29T15:00:00.000Z'],
    ['a fourth field', 'TARGET_ERROR setSecret 2026-11-29T15:00:00.000Z extra'],
    ['the longest value a tag holds', `A${'B'.repeat(254)}`],
    ['an empty value', ''],
  ])('does not believe a hand-edited tag (%s), and still hides it from the tags', async (_label, value) => {
    await seed('app/db');
    await sm.send(new TagResourceCommand({ SecretId: 'app/db', Tags: [{ Key: LAST_ERROR_TAG, Value: value }] }));
    const info = await store.describe('app/db');
    expect(info.lastError).toBeUndefined();
    expect(info.tags).toEqual({});
  });

  it('refuses a failure it cannot write before any call, and maps the service refusing a 51st tag', async () => {
    await seed('app/db');
    fake.resetCounts();
    for (const bad of [
      { code: 'lower case', at: new Date() },
      { code: 'TARGET_ERROR', step: 'set Secret', at: new Date() },
      { code: 'TARGET_ERROR', at: new Date(Number.NaN) },
      { code: `A${'B'.repeat(64)}`, at: new Date() },
    ]) {
      expect((await refusal(store.recordRotationError('app/db', bad))).code).toBe('INVALID_INPUT');
    }
    expect(fake.count()).toBe(0);
    const Tags = Array.from({ length: 50 }, (_, i) => ({ Key: `k${String(i)}`, Value: 'v' }));
    await sm.send(new TagResourceCommand({ SecretId: 'app/db', Tags }));
    const full = await refusal(store.recordRotationError('app/db', failure));
    expect(full.code).toBe('INVALID_INPUT');
    expect(full.message).toContain('TagResource');
    expect((await store.describe('app/db')).lastError).toBeUndefined();
  });
});

describe('the Lambda rotation handler records a failed step and the next success clears it', () => {
  it('a failing setSecret leaves the tag with its code and step; the service\'s retry through finishSecret removes it', async () => {
    const arn = await seed('app/db');
    const target = new MemoryTarget();
    target.logins.set('app', initial.password);
    const output = captureOutput();
    try {
      const handler = createRotateHandler({ client: functionClient(fake.endpoint), rotators: [target], engineFamily: 'memory', config: { defaultStrategy: 'single-user', logLevel: 'info' } });
      const token = (await sm.send(new RotateSecretCommand({ SecretId: arn }))).VersionId ?? '';
      const invoke = (step: string): Promise<unknown> => handler({ SecretId: arn, ClientRequestToken: token, Step: step }, lambdaContext(60_000));
      await invoke('createSecret');
      target.failNext.set = new RotatorError('TARGET_ERROR', 'the target refused the change');
      const before = Date.now();
      expect((await refusal(invoke('setSecret'))).code).toBe('TARGET_ERROR');
      const recorded = (await store.describe(arn)).lastError;
      expect(recorded).toMatchObject({ code: 'TARGET_ERROR', step: 'setSecret' });
      expect(recorded?.at.getTime()).toBeGreaterThanOrEqual(before - 1000);
      // The service retries the step; the rotation then finishes, and finishSecret clears the record.
      for (const step of ['setSecret', 'testSecret']) await invoke(step);
      expect((await store.describe(arn)).lastError).toMatchObject({ code: 'TARGET_ERROR' });
      await invoke('finishSecret');
      const after = await sm.send(new DescribeSecretCommand({ SecretId: arn }));
      expect(after.Tags?.map((t) => t.Key)).not.toContain(LAST_ERROR_TAG);
      expect(after.VersionIdsToStages?.[token]).toContain('AWSCURRENT');
    } finally {
      output.stop();
    }
  });
});

describe('describeAll: the fleet from ListSecrets pages', () => {
  /** The fields describeAll promises to share with describe (see its comment). */
  function promised(info: SecretInfo): unknown {
    const pending = info.versions.find((v) => v.stages.includes('PENDING'));
    return {
      secretId: info.secretId,
      rotation: info.rotation,
      tags: info.tags,
      lastError: info.lastError,
      nextRotationAt: info.nextRotationAt,
      versions: info.versions.map((v) => ({ versionId: v.versionId, stages: v.stages, hasValue: v.hasValue })).sort((a, b) => a.versionId.localeCompare(b.versionId)),
      pendingSince: pending?.createdAt,
    };
  }

  async function fleet(): Promise<{ names: string[]; target: MemoryTarget }> {
    const target = new MemoryTarget();
    target.logins.set('app', initial.password);
    const names: string[] = [];
    for (let i = 0; i < 130; i++) {
      const name = `fleet/${String(i).padStart(3, '0')}`;
      names.push(name);
      await seed(name, i % 3 === 0 ? { ScheduleExpression: 'rate(12 hours)', Duration: '2h' } : i % 3 === 1 ? { AutomaticallyAfterDays: 30 } : { ScheduleExpression: 'cron(0 4 ? * SUN *)' });
    }
    await rotateAsTheService('fleet/001', target); // PREVIOUS
    await sm.send(new RotateSecretCommand({ SecretId: 'fleet/002' })); // a stub
    const token = (await sm.send(new RotateSecretCommand({ SecretId: 'fleet/003' }))).VersionId ?? '';
    const pendingValue = JSON.stringify({ ...initial, password: 'fleet-pending-password-3' });
    recordSecretValue(pendingValue);
    await sm.send(new PutSecretValueCommand({ SecretId: 'fleet/003', ClientRequestToken: token, SecretString: pendingValue, VersionStages: ['AWSPENDING'] }));
    await store.recordRotationError('fleet/004', { code: 'TARGET_TLS', step: 'testSecret', at: new Date('2026-11-28T01:02:03.000Z') });
    await sm.send(new TagResourceCommand({ SecretId: 'fleet/005', Tags: [{ Key: 'rotator:strategy', Value: 'alternating-users' }] }));
    // Left out: rotation off, and someone else's prefix.
    await sm.send(new CreateSecretCommand({ Name: 'fleet/off', SecretString: JSON.stringify(initial) }));
    return { names, target };
  }

  it('equals describe for each secret on what it promises, in one ListSecrets call per 100 secrets plus one ListSecretVersionIds per rotation under way', async () => {
    const { names } = await fleet();
    const cold = new AwsSecretStore({ client: sm });
    fake.resetCounts();
    const all = await cold.describeAll();
    expect(fake.counts()).toEqual({ ListSecrets: 2, ListSecretVersionIds: 2, GetSecretValue: 2 });
    expect(all.map((i) => i.secretId)).toEqual(names);
    const described = await Promise.all(names.map((name) => new AwsSecretStore({ client: sm }).describe(name)));
    expect(all.map(promised)).toEqual(described.map(promised));
    const byId = new Map(all.map((i) => [i.secretId, i]));
    expect(byId.get('fleet/002')?.versions.find((v) => v.stages.includes('PENDING'))).toMatchObject({ hasValue: false, createdAt: expect.any(Date) as Date });
    expect(byId.get('fleet/003')?.versions.find((v) => v.stages.includes('PENDING'))?.hasValue).toBe(true);
    expect(byId.get('fleet/004')?.lastError).toEqual({ code: 'TARGET_TLS', step: 'testSecret', at: new Date('2026-11-28T01:02:03.000Z') });
    expect(byId.get('fleet/005')?.rotation.strategy).toBe('alternating-users');
    expect(byId.get('fleet/000')?.rotation.schedule).toEqual({ kind: 'rate', everyMs: 12 * HOUR, windowMs: 2 * HOUR });
  });

  it('dates CURRENT by the service\'s LastRotatedDate (else the creation) until this instance has dated it, then as describe does', async () => {
    const { target } = await fleet();
    await rotateAsTheService('fleet/001', target);
    const raw = await sm.send(new DescribeSecretCommand({ SecretId: 'fleet/001' }));
    const cold = new AwsSecretStore({ client: sm });
    const first = (await cold.describeAll()).find((i) => i.secretId === 'fleet/001');
    const current = first?.versions.find((v) => v.stages.includes('CURRENT'));
    expect(current?.createdAt).toBeUndefined();
    expect(current?.promotedAt).toEqual(raw.LastRotatedDate);
    const never = (await cold.describeAll()).find((i) => i.secretId === 'fleet/010')?.versions[0];
    expect(never?.promotedAt).toEqual((await sm.send(new DescribeSecretCommand({ SecretId: 'fleet/010' }))).CreatedDate);
    const full = await cold.describe('fleet/001');
    const again = (await cold.describeAll()).find((i) => i.secretId === 'fleet/001');
    expect(again?.versions).toEqual(full.versions);
  });

  it('leaves out a secret whose strategy tag is refused, with a warning, and narrows by the sweep filter', async () => {
    await fleet();
    await sm.send(new TagResourceCommand({ SecretId: 'fleet/007', Tags: [{ Key: 'rotator:strategy', Value: 'sideways' }] }));
    const all = await store.describeAll();
    expect(all).toHaveLength(129);
    expect(all.map((i) => i.secretId)).not.toContain('fleet/007');
    expect(warnings.some((w) => w.includes('leaving out a secret') && w.includes('fleet/007'))).toBe(true);
    // Deleted between the listing and its dating: left out, silently.
    fake.fail({ operation: 'ListSecretVersionIds', type: 'ResourceNotFoundException' });
    expect((await new AwsSecretStore({ client: sm }).describeAll()).map((i) => i.secretId)).not.toContain('fleet/002');
    fake.fail({ operation: 'ListSecretVersionIds', type: 'AccessDeniedException' });
    expect((await refusal(new AwsSecretStore({ client: sm }).describeAll())).message).toContain('secretsmanager:ListSecretVersionIds');
    await seed('other/db');
    const narrowed = new AwsSecretStore({ client: sm, sweep: { namePrefix: 'other/' } });
    expect((await narrowed.describeAll()).map((i) => i.secretId)).toEqual(['other/db']);
  });
});

describe('request pacing', () => {
  it('spaces the calls of a group by its rate, per store instance', async () => {
    await seed('app/db');
    const paced = new AwsSecretStore({ client: sm, requestRates: { listVersions: 20 } });
    const start = fake.requests.length;
    // retire of a version that is not labelled lists the versions (IncludeDeprecated): six at once, one every 50 ms.
    await Promise.all(Array.from({ length: 6 }, () => paced.retire('app/db', 'no-such-version').catch(() => undefined)));
    const listings = fake.requests.slice(start).filter((r) => r.operation === 'ListSecretVersionIds').map((r) => r.at);
    expect(listings).toHaveLength(6);
    // Five intervals of 50 ms (timers may fire a little late, never early; arrival jitter is allowed for).
    expect((listings.at(-1) ?? 0) - (listings[0] ?? 0)).toBeGreaterThanOrEqual(230);
    // DescribeSecret, in another group at 5,000 per second, is not held back by them.
    const describes = fake.requests.slice(start).filter((r) => r.operation === 'DescribeSecret').map((r) => r.at);
    expect((describes.at(-1) ?? 0) - (describes[0] ?? 0)).toBeLessThan(200);
  });

  it('refuses a rate above the service\'s quota', () => {
    expect(() => new AwsSecretStore({ client: sm, requestRates: { write: 51 } })).toThrow(/at most the service's quota \(50 per second\)/);
    expect(() => new AwsSecretStore({ client: sm, requestRates: { read: 0 } })).toThrow(RotatorError);
  });
});
