import {
  CreateSecretCommand,
  DescribeSecretCommand,
  GetSecretValueCommand,
  ListSecretsCommand,
  PutSecretValueCommand,
  ListSecretVersionIdsCommand,
  RotateSecretCommand,
  TagResourceCommand,
  type SecretsManagerClient,
} from '@aws-sdk/client-secrets-manager';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { RotationEngine, STEPS } from '../../shared/engine.js';
import type { SecretStore } from '../../shared/store.js';
import { AwsSecretStore, createSecretsManagerClient } from '../../stores/aws/index.js';
import { startSecretsManagerFake, type SecretsManagerFake } from '../fakes/aws/secrets-manager.js';
import { canaryLogger, recordSecretValue, recordSecrets } from '../support/canary.js';
import { refusal } from '../support/lambda.js';
import { MemoryTarget } from '../support/memory-target.js';
import { codeOf, describeStoreContract } from '../support/store-contract.js';

/**
 * The AWS store through the real SDK client against the Secrets Manager fake (test/fakes/secrets-manager.ts):
 * the shared SecretStore contract, the AWS-specific decisions (service-created stubs, PENDING-on-CURRENT,
 * caching), error mapping, and the engine's four steps driven exactly as the service drives them.
 */

const FAKE_CREDENTIALS = { accessKeyId: 'AKIDFAKEFAKEFAKE', secretAccessKey: 'fake-secret-access-key' };
const LAMBDA_ARN = 'arn:aws:lambda:us-east-1:123456789012:function:rotator-rotate';

/** Hands every value the fake holds to the leak canary (values are only ever read here, never printed). */
async function harvest(sm: SecretsManagerClient): Promise<void> {
  for (const secret of (await sm.send(new ListSecretsCommand({}))).SecretList ?? []) {
    const versions = await sm.send(new ListSecretVersionIdsCommand({ SecretId: secret.ARN, IncludeDeprecated: true }));
    for (const v of versions.Versions ?? []) {
      try {
        const value = await sm.send(new GetSecretValueCommand({ SecretId: secret.ARN, VersionId: v.VersionId }));
        if (value.SecretString !== undefined) recordSecretValue(value.SecretString);
      } catch {
        // a value-less stub
      }
    }
  }
}

/** Creates a secret with rotation enabled, as `aws secretsmanager rotate-secret --no-rotate-immediately` leaves it. */
async function seed(sm: SecretsManagerClient, name: string, value: string, tags: Readonly<Record<string, string>> = {}): Promise<string> {
  recordSecretValue(value);
  const Tags = Object.entries(tags).map(([Key, Value]) => ({ Key, Value }));
  const created = await sm.send(new CreateSecretCommand({ Name: name, SecretString: value, ...(Tags.length === 0 ? {} : { Tags }) }));
  await sm.send(new RotateSecretCommand({ SecretId: name, RotateImmediately: false, RotationLambdaARN: LAMBDA_ARN, RotationRules: { AutomaticallyAfterDays: 30 } }));
  return created.ARN ?? '';
}

/**
 * The port as the contract suite drives it. On AWS only the service creates a PENDING stub (RotateSecret), so
 * here startRotation plays the service for a token it has not seen; the adapter handles a token already PENDING.
 */
function asServiceDrives(store: AwsSecretStore, sm: SecretsManagerClient): SecretStore {
  return {
    maxValueBytes: store.maxValueBytes,
    listSecretIds: () => store.listSecretIds(),
    describe: (id) => store.describe(id),
    getValue: (id, selector) => store.getValue(id, selector),
    putPending: (id, token, value) => store.putPending(id, token, value),
    promote: (id, token) => store.promote(id, token),
    retire: (id, versionId) => store.retire(id, versionId),
    lockRotation: (id) => store.lockRotation(id),
    rotationLock: store.rotationLock,
    cancelRotation: (id, versionId) => store.cancelRotation(id, versionId),
    startRotation: async (id, token) => {
      const known = (await store.describe(id)).versions.some((v) => v.versionId === token);
      if (known) await store.startRotation(id, token);
      else await sm.send(new RotateSecretCommand({ SecretId: id, ClientRequestToken: token }));
    },
  };
}

describeStoreContract('AWS store on the Secrets Manager fake', async () => {
  const fake = await startSecretsManagerFake();
  const sm = fake.client();
  const store = new AwsSecretStore({ client: sm });
  return {
    store: asServiceDrives(store, sm),
    seed: async (secretId, value, tags) => {
      await seed(sm, secretId, value, tags);
    },
    dispose: async () => {
      await harvest(sm);
      sm.destroy();
      await fake.close();
    },
  };
});



let fake: SecretsManagerFake;
let sm: SecretsManagerClient;
let store: AwsSecretStore;

beforeEach(async () => {
  fake = await startSecretsManagerFake();
  sm = fake.client();
  store = new AwsSecretStore({ client: sm });
});
afterEach(async () => {
  await harvest(sm);
  sm.destroy();
  await fake.close();
});

const TOKEN_A = 'aws-token-aaaaaaaaaaaaaaaaaaaaaaaaaaaaaa';
const TOKEN_B = 'aws-token-bbbbbbbbbbbbbbbbbbbbbbbbbbbbbb';

describe('AwsSecretStore: what is particular to AWS', () => {
  it('reports the RotateSecret stub as PENDING without a value; reading it is VERSION_NOT_FOUND', async () => {
    const arn = await seed(sm, 'app/db', 'current-value-1');
    const { VersionId } = await sm.send(new RotateSecretCommand({ SecretId: arn }));
    const token = VersionId ?? '';
    const info = await store.describe(arn);
    expect(info.rotation).toEqual({ enabled: true, schedule: { kind: 'rate', everyMs: 30 * 86_400_000 } });
    expect(info.versions.map((v) => [v.stages, v.hasValue])).toEqual([
      [['CURRENT'], true],
      [['PENDING'], false],
    ]);
    expect(info.versions[1]?.versionId).toBe(token);
    expect(info.versions[1]?.createdAt).toBeInstanceOf(Date);
    // Never rotated: CURRENT was promoted when it was put; PENDING never was.
    expect(info.versions.map((v) => v.promotedAt)).toEqual([info.versions[0]?.createdAt, undefined]);
    expect(await codeOf(store.getValue(arn, { stage: 'PENDING' }))).toBe('VERSION_NOT_FOUND');
    expect(await codeOf(store.getValue(arn, { versionId: token }))).toBe('VERSION_NOT_FOUND');
    expect(await codeOf(store.getValue('app/absent', { versionId: token }))).toBe('SECRET_NOT_FOUND');
    // startRotation with the service's token is a no-op; the stub is filled by putPending.
    await store.startRotation(arn, token);
    await store.putPending(arn, token, 'pending-value-1');
    expect((await store.describe(arn)).versions.find((v) => v.versionId === token)).toMatchObject({ stages: ['PENDING'], hasValue: true });
  });

  it('describe with pendingValue: false makes no GetSecretValue for PENDING; its hasValue then means "known to hold one"', async () => {
    const arn = await seed(sm, 'app/db', 'current-value-1');
    const token = (await sm.send(new RotateSecretCommand({ SecretId: arn }))).VersionId ?? '';
    await sm.send(new PutSecretValueCommand({ SecretId: arn, ClientRequestToken: token, SecretString: 'pending-value-1', VersionStages: ['AWSPENDING'] }));
    const reads = (): number => fake.requests.filter((r) => r.operation === 'GetSecretValue').length;
    const before = reads();
    const unprobed = await store.describe(arn, { dates: false, pendingValue: false });
    expect(reads()).toBe(before);
    expect(unprobed.versions.find((v) => v.versionId === token)).toMatchObject({ stages: ['PENDING'], hasValue: false });
    // Asked (the default), it looks, and then knows: versions are immutable.
    expect((await store.describe(arn, { dates: false })).versions.find((v) => v.versionId === token)?.hasValue).toBe(true);
    expect(reads()).toBe(before + 1);
    expect((await store.describe(arn, { dates: false, pendingValue: false })).versions.find((v) => v.versionId === token)?.hasValue).toBe(true);
    expect(reads()).toBe(before + 1);
    // A second, different value under the token is refused as the service refuses it.
    expect(await codeOf(store.putPending(arn, token, 'pending-value-2'))).toBe('VERSION_CONFLICT');
  });

  it('startRotation cannot create a stub on AWS: it says to use rotate-secret, and names a rotation in progress', async () => {
    await seed(sm, 'app/db', 'current-value-1');
    const error = await refusal(store.startRotation('app/db', TOKEN_A));
    expect(error.code).toBe('INVALID_INPUT');
    expect(error.message).toContain('aws secretsmanager rotate-secret --secret-id app/db');
    await sm.send(new RotateSecretCommand({ SecretId: 'app/db', ClientRequestToken: TOKEN_B }));
    const busy = await refusal(store.startRotation('app/db', TOKEN_A));
    expect([busy.code, busy.retryable]).toEqual(['ROTATION_IN_PROGRESS', true]);
    expect(await codeOf(store.startRotation('app/db', 'short'))).toBe('INVALID_INPUT');
  });

  it('promote moves AWSCURRENT in one call and leaves AWSPENDING on it, which the port reports as no PENDING', async () => {
    const arn = await seed(sm, 'app/db', 'current-value-1');
    const first = (await store.describe(arn)).versions[0]?.versionId ?? '';
    await sm.send(new RotateSecretCommand({ SecretId: arn, ClientRequestToken: TOKEN_A }));
    await store.putPending(arn, TOKEN_A, 'pending-value-1');
    fake.resetCounts();
    await store.promote(arn, TOKEN_A);
    // One call: the value is known from putPending, the CURRENT version from the last DescribeSecret.
    expect(fake.counts()).toEqual({ UpdateSecretVersionStage: 1 });
    const raw = await sm.send(new DescribeSecretCommand({ SecretId: arn }));
    expect(raw.VersionIdsToStages).toEqual({ [first]: ['AWSPREVIOUS'], [TOKEN_A]: ['AWSPENDING', 'AWSCURRENT'] });
    expect((await store.describe(arn)).versions.map((v) => [v.versionId, v.stages])).toEqual([
      [first, ['PREVIOUS']],
      [TOKEN_A, ['CURRENT']],
    ]);
    expect(await codeOf(store.getValue(arn, { stage: 'PENDING' }))).toBe('VERSION_NOT_FOUND');
    expect(await codeOf(store.startRotation(arn, TOKEN_A))).toBe('VERSION_CONFLICT');
  });

  it('same token with another value is VERSION_CONFLICT, from the cache or from the service, and never echoes a value', async () => {
    await seed(sm, 'app/db', 'current-value-1');
    await sm.send(new RotateSecretCommand({ SecretId: 'app/db', ClientRequestToken: TOKEN_A }));
    recordSecrets('pending-value-AAA', 'pending-value-BBB');
    await store.putPending('app/db', TOKEN_A, 'pending-value-AAA');
    fake.resetCounts();
    await store.putPending('app/db', TOKEN_A, 'pending-value-AAA');
    expect(fake.count()).toBe(0); // known to be a no-op
    const cached = await refusal(store.putPending('app/db', TOKEN_A, 'pending-value-BBB'));
    const fresh = new AwsSecretStore({ client: sm });
    const served = await refusal(fresh.putPending('app/db', TOKEN_A, 'pending-value-BBB'));
    await fresh.putPending('app/db', TOKEN_A, 'pending-value-AAA'); // the service ignores it
    expect(fake.counts()).toEqual({ PutSecretValue: 2 });
    for (const error of [cached, served]) {
      expect(error.code).toBe('VERSION_CONFLICT');
      expect(error.message).not.toMatch(/pending-value/);
    }
    expect(await store.getValue('app/db', { stage: 'PENDING' })).toBe('pending-value-AAA');
  });

  it('serves reads by version id from the cache (versions are immutable) and always asks for reads by stage', async () => {
    await seed(sm, 'app/db', 'current-value-1');
    const current = (await store.describe('app/db')).versions[0]?.versionId ?? '';
    fake.resetCounts();
    expect(await store.getValue('app/db', { versionId: current })).toBe('current-value-1');
    expect(await store.getValue('app/db', { versionId: current })).toBe('current-value-1');
    expect(fake.count('GetSecretValue')).toBe(1);
    expect(await store.getValue('app/db', { stage: 'CURRENT' })).toBe('current-value-1');
    expect(await store.getValue('app/db', { stage: 'CURRENT' })).toBe('current-value-1');
    expect(fake.count('GetSecretValue')).toBe(3);
    // With a stage as well, the service checks the label.
    expect(await store.getValue('app/db', { versionId: current, stage: 'CURRENT' })).toBe('current-value-1');
    expect(await codeOf(store.getValue('app/db', { versionId: current, stage: 'PREVIOUS' }))).toBe('VERSION_NOT_FOUND');
    // A value this instance wrote needs no read at all.
    await sm.send(new RotateSecretCommand({ SecretId: 'app/db', ClientRequestToken: TOKEN_A }));
    await store.putPending('app/db', TOKEN_A, 'pending-value-1');
    fake.resetCounts();
    expect(await store.getValue('app/db', { versionId: TOKEN_A })).toBe('pending-value-1');
    expect(fake.count()).toBe(0);
  });

  it('retire removes every label of a superseded version (it then leaves describe) and refuses CURRENT and PENDING', async () => {
    await seed(sm, 'app/db', 'current-value-1');
    const first = (await store.describe('app/db')).versions[0]?.versionId ?? '';
    for (const [token, value] of [
      [TOKEN_A, 'pending-value-1'],
      [TOKEN_B, 'pending-value-2'],
    ] as const) {
      await sm.send(new RotateSecretCommand({ SecretId: 'app/db', ClientRequestToken: token }));
      await store.putPending('app/db', token, value);
      await store.promote('app/db', token);
    }
    expect(await codeOf(store.retire('app/db', TOKEN_B))).toBe('INVALID_INPUT');
    expect(await codeOf(store.retire('app/db', 'no-such-version'))).toBe('VERSION_NOT_FOUND');
    await store.retire('app/db', first); // already unlabelled: a no-op
    await store.retire('app/db', TOKEN_A); // PREVIOUS
    expect((await store.describe('app/db')).versions.map((v) => [v.versionId, v.stages])).toEqual([[TOKEN_B, ['CURRENT']]]);
    // The service keeps unlabelled versions until it deletes them.
    const all = await sm.send(new ListSecretVersionIdsCommand({ SecretId: 'app/db', IncludeDeprecated: true }));
    expect(all.Versions?.map((v) => v.VersionId).sort()).toEqual([first, TOKEN_A, TOKEN_B].sort());
  });

  it('reads the strategy from the rotator:strategy tag and lists secrets across pages', async () => {
    await seed(sm, 'app/db', 'current-value-1');
    await sm.send(new TagResourceCommand({ SecretId: 'app/db', Tags: [{ Key: 'rotator:strategy', Value: 'alternating-users' }] }));
    expect((await store.describe('app/db')).rotation).toEqual({ enabled: true, schedule: { kind: 'rate', everyMs: 30 * 86_400_000 }, strategy: 'alternating-users' });
    await sm.send(new TagResourceCommand({ SecretId: 'app/db', Tags: [{ Key: 'rotator:strategy', Value: 'sideways' }] }));
    expect(await codeOf(store.describe('app/db'))).toBe('INVALID_INPUT');
    // The sweep lists the secrets whose rotation is on (here every even one), across the service's pages.
    for (let i = 0; i < 105; i++) {
      const name = `bulk/${String(i).padStart(3, '0')}`;
      await sm.send(new CreateSecretCommand({ Name: name, SecretString: 'bulk-value-1' }));
      if (i % 2 === 0) await sm.send(new RotateSecretCommand({ SecretId: name, RotateImmediately: false, RotationLambdaARN: LAMBDA_ARN }));
    }
    fake.resetCounts();
    const ids = await store.listSecretIds();
    expect(ids).toHaveLength(1 + 53);
    expect(ids).toContain('bulk/104');
    expect(ids).not.toContain('bulk/103');
    expect(fake.count('ListSecrets')).toBe(2);
  });
});

describe('AwsSecretStore: errors mapped by name', () => {
  it('names the IAM action on AccessDeniedException and is retryable after throttling outlasts the retries', async () => {
    await seed(sm, 'app/db', 'current-value-1');
    fake.fail({ operation: 'GetSecretValue', type: 'AccessDeniedException' });
    const denied = await refusal(store.getValue('app/db', { stage: 'CURRENT' }));
    expect([denied.code, denied.retryable]).toEqual(['STORE_IO', false]);
    expect(denied.message).toContain('secretsmanager:GetSecretValue');

    const client = createSecretsManagerClient({ endpoint: fake.endpoint, region: 'us-east-1', credentials: FAKE_CREDENTIALS, maxAttempts: 2 });
    const throttled = new AwsSecretStore({ client });
    fake.fail({ operation: 'DescribeSecret', type: 'ThrottlingException', times: 2 });
    fake.resetCounts();
    const error = await refusal(throttled.describe('app/db'));
    expect([error.code, error.retryable]).toEqual(['STORE_IO', true]);
    expect(fake.count('DescribeSecret')).toBe(2); // the SDK retried before giving up
    fake.fail({ operation: 'DescribeSecret', type: 'InternalServiceError', status: 500 });
    expect((await throttled.describe('app/db')).versions).toHaveLength(1); // one failure: the retry succeeds
    client.destroy();
  });

  it('createSecretsManagerClient uses adaptive retry and honours SECRETS_MANAGER_ENDPOINT', async () => {
    await seed(sm, 'app/db', 'current-value-1');
    const client = createSecretsManagerClient({ env: { SECRETS_MANAGER_ENDPOINT: fake.endpoint, AWS_REGION: 'us-east-1' }, credentials: FAKE_CREDENTIALS });
    expect(await client.config.retryStrategy()).toMatchObject({ mode: 'adaptive' });
    expect(await new AwsSecretStore({ client }).getValue('app/db', { stage: 'CURRENT' })).toBe('current-value-1');
    client.destroy();
  });

  it('refuses an oversized value before any call, without echoing it', async () => {
    await seed(sm, 'app/db', 'current-value-1');
    await sm.send(new RotateSecretCommand({ SecretId: 'app/db', ClientRequestToken: TOKEN_A }));
    const big = 'secret-' + 'é'.repeat(32_765);
    recordSecrets(big);
    fake.resetCounts();
    const error = await refusal(store.putPending('app/db', TOKEN_A, big));
    expect(error.code).toBe('INVALID_INPUT');
    expect(error.message).not.toContain('secret-é');
    expect(fake.count()).toBe(0);
  });
});

describe('the engine, driven exactly as Secrets Manager drives the rotation function', () => {
  const initial = { engine: 'memory', host: 'db.local', username: 'app', password: 'initial-password-1', dbname: 'app' };

  async function rotateAsTheService(engineFor: () => RotationEngine, arn: string): Promise<{ token: string; calls: Record<string, number>; total: number }> {
    const { VersionId } = await sm.send(new RotateSecretCommand({ SecretId: arn }));
    const token = VersionId ?? '';
    fake.resetCounts();
    for (const step of STEPS) await engineFor().runStep(arn, token, step);
    return { token, calls: fake.counts(), total: fake.count() };
  }

  it('refuses to set or promote a PENDING value when a PutSecretValue replaced AWSCURRENT under it, naming the AWS command that cancels it', async () => {
    const arn = await seed(sm, 'app/db', JSON.stringify(initial));
    const target = new MemoryTarget();
    target.logins.set('app', initial.password);
    const engine = new RotationEngine({ store, rotators: [target], logger: canaryLogger(), env: {} });
    const token = (await sm.send(new RotateSecretCommand({ SecretId: arn }))).VersionId ?? '';
    await engine.runStep(arn, token, 'createSecret');
    await new Promise((resolve) => setTimeout(resolve, 5));
    const moved = JSON.stringify({ ...initial, host: 'db2.local' });
    recordSecretValue(moved);
    await sm.send(new PutSecretValueCommand({ SecretId: arn, SecretString: moved })); // AWSCURRENT by default; AWSPENDING stays
    for (const step of ['setSecret', 'testSecret', 'finishSecret'] as const) {
      const error = await refusal(engine.runStep(arn, token, step));
      expect(error.code).toBe('STALE_PENDING');
      expect(error.message).toContain(`--version-stage AWSPENDING --remove-from-version-id ${token}`);
    }
    expect(target.calls.filter((c) => c.startsWith('set'))).toEqual([]);
    expect(JSON.parse(await store.getValue(arn, { stage: 'CURRENT' })) as unknown).toMatchObject({ host: 'db2.local' });
    // Cancelled (the store's cancelRotation is that command), the next rotation starts from the new value.
    expect(await store.cancelRotation(arn)).toBe(token);
    await rotateAsTheService(() => engine, arn);
    expect(JSON.parse(await store.getValue(arn, { stage: 'CURRENT' })) as unknown).toMatchObject({ host: 'db2.local', username: 'app' });
  });

  it('rotates through createSecret, setSecret, testSecret and finishSecret, and counts the Secrets Manager calls', async () => {
    const arn = await seed(sm, 'app/db', JSON.stringify(initial));
    const target = new MemoryTarget();
    target.logins.set('app', initial.password);
    const logger = canaryLogger();
    // A warm container: one store and one engine serve all four invocations.
    const engine = new RotationEngine({ store, rotators: [target], logger, env: {} });
    const first = await rotateAsTheService(() => engine, arn);

    const raw = await sm.send(new DescribeSecretCommand({ SecretId: arn }));
    expect(raw.VersionIdsToStages?.[first.token]).toEqual(['AWSPENDING', 'AWSCURRENT']);
    for (const label of ['AWSCURRENT', 'AWSPENDING', 'AWSPREVIOUS']) {
      expect(Object.values(raw.VersionIdsToStages ?? {}).filter((l) => l.includes(label))).toHaveLength(1);
    }
    const now = JSON.parse(await store.getValue(arn, { stage: 'CURRENT' })) as Record<string, unknown>;
    recordSecretValue(JSON.stringify(now));
    expect(now.password).not.toBe(initial.password);
    expect(target.logins.get('app')).toBe(now.password);
    expect(JSON.parse(await store.getValue(arn, { stage: 'PREVIOUS' })) as unknown).toEqual(initial);
    // finishSecret does not test again: testSecret passed moments ago in this process, for the same value. (A
    // finishSecret anywhere else tests again, since anyone may invoke it: test/unit/engine.test.ts.)
    expect(target.calls).toEqual(['works', 'set:single-user:no-previous:no-master', 'test']);

    // Replaying any step after the rotation finished changes nothing (the service retries).
    fake.resetCounts();
    for (const step of STEPS) expect((await engine.runStep(arn, first.token, step)).outcome).toBe('already-current');
    expect(fake.counts()).toEqual({ DescribeSecret: 4 });

    // The second rotation, now with a PREVIOUS that single-user setSecret may fall back to.
    const second = await rotateAsTheService(() => engine, arn);
    // DescribeSecret per step (the guards, without dates); createSecret reads AWSCURRENT by the id the description
    // gave and puts the value (without probing the stub first: a value already there would refuse the write);
    // finishSecret moves AWSCURRENT. Everything else is recalled: values by version id never change. (AWS's templates
    // make 14 calls.) On the same container the second rotation's CURRENT is the value the first one wrote, and its
    // PREVIOUS is recalled too, so it reads nothing. The later steps check that the stored PENDING still fits CURRENT
    // from what this engine remembers deriving it from.
    expect(first.calls).toEqual({ DescribeSecret: 4, GetSecretValue: 1, PutSecretValue: 1, UpdateSecretVersionStage: 1 });
    expect(first.total).toBe(7);
    expect(second.calls).toEqual({ DescribeSecret: 4, PutSecretValue: 1, UpdateSecretVersionStage: 1 });
    expect((await store.describe(arn)).versions.map((v) => v.stages)).toEqual([['PREVIOUS'], ['CURRENT']]);
  });

  it('gives the same result when each invocation builds a fresh engine on the warm store, at a cost of pending reads', async () => {
    const arn = await seed(sm, 'app/db', JSON.stringify(initial));
    const target = new MemoryTarget();
    target.logins.set('app', initial.password);
    const logger = canaryLogger();
    const { token, calls, total } = await rotateAsTheService(() => new RotationEngine({ store, rotators: [target], logger, env: {} }), arn);
    // setSecret, testSecret and finishSecret (which tests again) read PENDING by id and label: the label must be
    // checked by the service. CURRENT is read by id, which the store recalls.
    // A fresh engine does not know which CURRENT the PENDING came from: setSecret asks once for creation dates to check
    // that PENDING was created after CURRENT (one DescribeSecret and one ListSecretVersionIds, remembered by the store).
    expect(calls).toEqual({ DescribeSecret: 5, GetSecretValue: 4, ListSecretVersionIds: 1, PutSecretValue: 1, UpdateSecretVersionStage: 1 });
    expect(total).toBe(12);
    expect((await store.describe(arn)).versions.find((v) => v.versionId === token)?.stages).toEqual(['CURRENT']);
  });

  it('a step that fails is retried by the service with the same token and converges', async () => {
    const arn = await seed(sm, 'app/db', JSON.stringify(initial));
    const target = new MemoryTarget();
    target.logins.set('app', initial.password);
    const engine = new RotationEngine({ store, rotators: [target], logger: canaryLogger(), env: {} });
    const { VersionId } = await sm.send(new RotateSecretCommand({ SecretId: arn }));
    const token = VersionId ?? '';
    await engine.runStep(arn, token, 'createSecret');
    fake.fail({ operation: 'DescribeSecret', type: 'AccessDeniedException' });
    expect(await codeOf(engine.runStep(arn, token, 'setSecret'))).toBe('STORE_IO');
    // A second RotateSecret meanwhile is refused by the service: the lock on AWS.
    expect(await codeOf(sm.send(new RotateSecretCommand({ SecretId: arn })))).toBe('other');
    for (const step of ['createSecret', 'setSecret', 'testSecret', 'finishSecret'] as const) await engine.runStep(arn, token, step);
    expect((await store.describe(arn)).versions.find((v) => v.versionId === token)?.stages).toEqual(['CURRENT']);
    const now = JSON.parse(await store.getValue(arn, { stage: 'CURRENT' })) as Record<string, unknown>;
    expect(target.logins.get('app')).toBe(now.password);
  });
});
