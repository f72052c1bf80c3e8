import {
  CreateSecretCommand,
  DescribeSecretCommand,
  ListSecretVersionIdsCommand,
  RotateSecretCommand,
  type SecretsManagerClient,
} from '@aws-sdk/client-secrets-manager';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createPurgeHandler, parsePurgeEvent, sweepFromEnv } from '../../functions/aws/purge-handler.js';
import { RotationEngine, STEPS } from '../../shared/engine.js';
import { AwsSecretStore, STRATEGY_TAG } from '../../stores/aws/index.js';
import { FAKE_REGION, startSecretsManagerFake, type SecretsManagerFake } from '../fakes/aws/secrets-manager.js';
import { canaryLogger, recordSecretValue, recordSecrets } from '../support/canary.js';
import { ROTATION_LAMBDA_ARN, captureOutput, functionClient, lambdaContext, refusal, type OutputCapture } from '../support/lambda.js';
import { MemoryTarget } from '../support/memory-target.js';

/**
 * The purge function (functions/aws/purge-handler.ts) on the Secrets Manager fake: rotations are driven as the
 * service drives them, the clocks of the fake and the purger are moved by hand, and the handler is invoked as
 * EventBridge (or an operator) would. On AWS, retiring a version removes its labels; the service deletes it later.
 */

const DAY = 86_400_000;
const OTHER_FUNCTION = 'arn:aws:lambda:us-east-1:123456789012:function:someone-else';

let fake: SecretsManagerFake;
let sm: SecretsManagerClient;
let now: Date;
let target: MemoryTarget;
let output: OutputCapture;

beforeEach(async () => {
  now = new Date('2026-01-01T00:00:00Z');
  fake = await startSecretsManagerFake({ clock: () => now });
  sm = fake.client();
  target = new MemoryTarget();
  output = captureOutput();
  // The master the alternating strategy reads (its rotation is off, so no sweep lists it).
  const master = JSON.stringify({ engine: 'memory', host: 'db.local', username: 'admin', password: `master-${Math.random().toString(36).slice(2)}` });
  recordSecretValue(master);
  await sm.send(new CreateSecretCommand({ Name: 'master/db', SecretString: master }));
});

afterEach(async () => {
  output.stop();
  sm.destroy();
  await fake.close();
});


function purgeHandler(options: { sweep?: Parameters<typeof createPurgeHandler>[0]['sweep']; safeWindowDays?: number } = {}): ReturnType<typeof createPurgeHandler> {
  return createPurgeHandler({
    client: functionClient(fake.endpoint),
    rotators: [target],
    config: { defaultStrategy: 'single-user', logLevel: 'info', retention: { safeWindowMs: (options.safeWindowDays ?? 7) * DAY, keepSuperseded: 0 } },
    clock: () => now,
    ...(options.sweep === undefined ? {} : { sweep: options.sweep }),
  });
}

/** A memory-engine secret with the alternating strategy (so revocation has something to do), rotation on. */
async function seed(name: string, lambdaArn = ROTATION_LAMBDA_ARN): Promise<string> {
  const password = `initial-${name}-${Math.random().toString(36).slice(2)}`;
  recordSecrets(password);
  const value = JSON.stringify({ engine: 'memory', host: 'db.local', username: 'app', password, masterarn: 'master/db' });
  recordSecretValue(value);
  target.logins.set('app', password);
  const created = await sm.send(new CreateSecretCommand({ Name: name, SecretString: value, Tags: [{ Key: STRATEGY_TAG, Value: 'alternating-users' }] }));
  await sm.send(new RotateSecretCommand({ SecretId: name, RotateImmediately: false, RotationLambdaARN: lambdaArn, RotationRules: { AutomaticallyAfterDays: 30 } }));
  return created.ARN ?? '';
}

/** One rotation as the service drives it (stub, then the four steps), on the day given. */
async function rotate(arn: string, day: number): Promise<string> {
  now = new Date(Date.UTC(2026, 0, 1) + day * DAY);
  const token = (await sm.send(new RotateSecretCommand({ SecretId: arn }))).VersionId ?? '';
  const engine = new RotationEngine({ store: new AwsSecretStore({ client: sm }), rotators: [target], logger: canaryLogger(), env: {} });
  for (const step of STEPS) await engine.runStep(arn, token, step);
  return token;
}

async function labels(arn: string): Promise<Record<string, string[]>> {
  return (await sm.send(new DescribeSecretCommand({ SecretId: arn }))).VersionIdsToStages ?? {};
}


const scheduled = { version: '0', id: 'evt-1', 'detail-type': 'Scheduled Event', source: 'aws.events', account: '123456789012', time: '2026-02-01T00:00:00Z', region: FAKE_REGION, resources: [], detail: {} };

describe('AWS purge function', () => {
  it('removes the labels of a version superseded for longer than the window, after revoking it; CURRENT is kept', async () => {
    const arn = await seed('app/db');
    const first = await rotate(arn, 1); // app -> app_clone
    const second = await rotate(arn, 3); // app_clone -> app: the first token is AWSPREVIOUS, superseded on day 3
    const handler = purgeHandler();

    now = new Date(Date.UTC(2026, 0, 1) + 9 * DAY); // 6 days after: inside the 7-day window
    await handler(scheduled, lambdaContext(60_000, 'rotator-purge'));
    expect((await labels(arn))[first]).toEqual(['AWSPREVIOUS']);
    expect(target.calls.filter((c) => c.startsWith('revoke'))).toEqual([]);

    now = new Date(Date.UTC(2026, 0, 1) + 11 * DAY); // 8 days after
    const report = (await handler(scheduled, lambdaContext(60_000, 'rotator-purge'))) as { secrets: Array<{ secretId: string; actions: unknown[] }> };
    expect(report.secrets.map((s) => s.secretId)).toEqual(['app/db']);
    expect(report.secrets[0]?.actions).toEqual([{ versionId: first, supersededAt: new Date(Date.UTC(2026, 0, 4)).toISOString(), revocation: 'revoked', retired: true }]);
    // The label is gone; the version itself stays until the service deletes it.
    expect((await labels(arn))[first]).toBeUndefined();
    expect((await labels(arn))[second]).toEqual(expect.arrayContaining(['AWSCURRENT']));
    const all = await sm.send(new ListSecretVersionIdsCommand({ SecretId: arn, IncludeDeprecated: true }));
    expect(all.Versions?.find((v) => v.VersionId === first)?.VersionStages).toBeUndefined();
    expect(target.calls.filter((c) => c.startsWith('revoke'))).toEqual(['revoke:app_clone']);
    expect(target.logins.get('app_clone')).toBe('revoked-unknown-password');

    // Metrics: what was retired and revoked.
    const doc = output.emf().at(-1);
    expect(doc).toMatchObject({ Function: 'purge', VersionsRetired: 1, RevocationsDone: 1, PurgeFailed: 0 });
    // A second run has nothing to do.
    const again = (await handler(scheduled, lambdaContext(60_000, 'rotator-purge'))) as { secrets: Array<{ actions: unknown[] }> };
    expect(again.secrets[0]?.actions).toEqual([]);
  });

  it('stays out of a secret whose rotation is under way (AWSPENDING on another version), and purges it once the rotation has finished', async () => {
    const arn = await seed('app/db');
    await rotate(arn, 1);
    const second = await rotate(arn, 3);
    // The service starts the next rotation on day 20 and createSecret has run: the alternate user's PENDING password
    // is stored, the PREVIOUS credential (app_clone, superseded on day 3, past the window) is the one setSecret is about to set.
    now = new Date(Date.UTC(2026, 0, 1) + 20 * DAY);
    const token = (await sm.send(new RotateSecretCommand({ SecretId: arn }))).VersionId ?? '';
    const engine = new RotationEngine({ store: new AwsSecretStore({ client: sm }), rotators: [target], logger: canaryLogger(), env: {} });
    await engine.runStep(arn, token, 'createSecret');
    const before = await labels(arn);

    const report = (await purgeHandler()(scheduled, lambdaContext(60_000, 'rotator-purge'))) as {
      secrets: Array<{ secretId: string; ok: boolean; actions: unknown[]; skipped?: string }>;
    };
    expect(report.secrets).toMatchObject([{ secretId: 'app/db', ok: true, actions: [] }]);
    expect(report.secrets[0]?.skipped).toContain(`version ${token} is PENDING`);
    expect(await labels(arn)).toEqual(before);
    expect(target.calls.filter((c) => c.startsWith('revoke'))).toEqual([]);

    for (const step of ['setSecret', 'testSecret', 'finishSecret'] as const) await engine.runStep(arn, token, step);
    now = new Date(Date.UTC(2026, 0, 1) + 30 * DAY);
    const after = (await purgeHandler()(scheduled, lambdaContext(60_000, 'rotator-purge'))) as { secrets: Array<{ actions: Array<{ versionId: string }>; skipped?: string }> };
    expect(after.secrets[0]?.skipped).toBeUndefined();
    expect(after.secrets[0]?.actions.map((a) => a.versionId)).toEqual([second]); // AWSPREVIOUS since day 20
  });

  it('sweeps only the secrets this deployment rotates: name prefix, rotation function, rotation on', async () => {
    const ours = await seed('team/db');
    const elsewhere = await seed('other/db');
    const foreign = await seed('team/foreign', OTHER_FUNCTION);
    for (const arn of [ours, elsewhere, foreign]) {
      await rotate(arn, 1);
      await rotate(arn, 2);
    }
    now = new Date(Date.UTC(2026, 0, 1) + 30 * DAY);
    const handler = purgeHandler({ sweep: sweepFromEnv({ ROTATOR_SECRET_PREFIX: 'team/', ROTATOR_ROTATION_FUNCTION_ARNS: `${ROTATION_LAMBDA_ARN}, ` }) });
    const report = (await handler(scheduled, lambdaContext(60_000, 'rotator-purge'))) as { secrets: Array<{ secretId: string }> };
    expect(report.secrets.map((s) => s.secretId)).toEqual(['team/db']);
    for (const arn of [elsewhere, foreign]) expect(Object.values(await labels(arn)).flat()).toContain('AWSPREVIOUS');
    expect(Object.values(await labels(ours)).flat()).not.toContain('AWSPREVIOUS');
  });

  it('a manual dry run reports and changes nothing; a misspelt key is refused before anything is read', async () => {
    const arn = await seed('app/db');
    await rotate(arn, 1);
    await rotate(arn, 2);
    now = new Date(Date.UTC(2026, 0, 1) + 30 * DAY);
    const before = await labels(arn);
    const handler = purgeHandler();
    const report = (await handler({ secretIds: ['app/db'], dryRun: true }, lambdaContext(60_000, 'rotator-purge'))) as { dryRun: boolean; secrets: Array<{ actions: Array<{ revocation: string; retired: boolean }> }> };
    expect(report.dryRun).toBe(true);
    expect(report.secrets[0]?.actions).toMatchObject([{ revocation: 'would-revoke', retired: false }]);
    expect(await labels(arn)).toEqual(before);
    expect(target.calls.some((c) => c.startsWith('revoke'))).toBe(false);

    fake.resetCounts();
    const error = await refusal(handler({ secretId: 'app/db' }, lambdaContext(60_000, 'rotator-purge')));
    expect(error.code).toBe('INVALID_INPUT');
    expect(error.message).toMatch(/unknown key\(s\) secretId; use secretIds and dryRun/);
    expect(fake.count()).toBe(0);
    expect(await labels(arn)).toEqual(before);
  });

  it('fails the invocation when a revocation fails, keeps that version, and the next run finishes it', async () => {
    const arn = await seed('app/db');
    const first = await rotate(arn, 1);
    await rotate(arn, 2);
    now = new Date(Date.UTC(2026, 0, 1) + 30 * DAY);
    const handler = purgeHandler();
    target.failNext.revoke = Object.assign(new Error('connection reset'), { code: 'ECONNRESET' });
    const error = await refusal(handler(scheduled, lambdaContext(60_000, 'rotator-purge')));
    expect(error.code).toBe('TARGET_ERROR');
    expect(error.message).toMatch(/1 of 1 secret\(s\) could not be purged/);
    expect((await labels(arn))[first]).toEqual(['AWSPREVIOUS']);
    expect(output.emf().at(-1)).toMatchObject({ PurgeFailed: 1, VersionsRetired: 0 });

    await handler(scheduled, lambdaContext(60_000, 'rotator-purge'));
    expect((await labels(arn))[first]).toBeUndefined();
  });

  it('near the deadline it starts no new secret and says which were not reached', async () => {
    await seed('app/one');
    const error = await refusal(purgeHandler()(scheduled, lambdaContext(1_000, 'rotator-purge')));
    expect(error.code).toBe('TARGET_ERROR');
    expect(error.retryable).toBe(true);
    expect(error.message).toMatch(/1 not reached before the timeout/);
  });
});

describe('purge events and environment', () => {
  it('reads a scheduled event as a sweep and a manual one strictly', () => {
    expect(parsePurgeEvent(scheduled)).toEqual({});
    expect(parsePurgeEvent({})).toEqual({});
    expect(parsePurgeEvent({ secretIds: ['a'], dryRun: true })).toEqual({ secretIds: ['a'], dryRun: true });
    for (const [event, pattern] of [
      [{ secretIds: [] }, /secretIds: must name at least one secret/],
      [{ secretIds: 'a' }, /secretIds: must be a list/],
      [{ dryRun: 'yes' }, /dryRun: must be true or false/],
      ['purge', /event: /],
    ] as const) {
      expect(() => parsePurgeEvent(event)).toThrow(pattern);
    }
  });

  it('validates the sweep settings and names the variable', () => {
    expect(sweepFromEnv({})).toEqual({});
    expect(sweepFromEnv({ ROTATOR_SECRET_PREFIX: 'rds/', ROTATOR_ROTATION_FUNCTION_ARNS: `${ROTATION_LAMBDA_ARN},${OTHER_FUNCTION}:live` })).toEqual({
      namePrefix: 'rds/',
      rotationLambdaArns: [ROTATION_LAMBDA_ARN, `${OTHER_FUNCTION}:live`],
    });
    expect(() => sweepFromEnv({ ROTATOR_ROTATION_FUNCTION_ARNS: 'rotator-rotate' })).toThrow(/ROTATOR_ROTATION_FUNCTION_ARNS.*Lambda function ARNs/);
    expect(() => sweepFromEnv({ ROTATOR_SECRET_PREFIX: '' })).toThrow(/ROTATOR_SECRET_PREFIX: must not be empty/);
  });
});

