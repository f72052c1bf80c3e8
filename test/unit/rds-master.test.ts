import type { RDSClient } from '@aws-sdk/client-rds';
import { CreateSecretCommand, type SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { MYSQL_ENGINES } from '../../rotators/mysql/index.js';
import { POSTGRES_ENGINES } from '../../rotators/postgres/index.js';
import { RotatorError, isRotatorError } from '../../shared/errors.js';
import type { MasterResolver, RotatorContext } from '../../shared/rotator.js';
import type { SecretObject } from '../../shared/secret.js';
import { AwsSecretStore, RDS_ENDPOINT_ENV, RDS_ENGINES, RDS_INSTANCE_TAG, createRdsClient, createRdsMasterResolver } from '../../stores/aws/index.js';
import { startRdsFake, type RdsFake } from '../fakes/aws/rds.js';
import { FAKE_REGION, startSecretsManagerFake, type SecretsManagerFake } from '../fakes/aws/secrets-manager.js';
import { canaryLogger, recordSecrets } from '../support/canary.js';

/**
 * The RDS master resolver against the RDS fake and the Secrets Manager fake, both through the real SDK clients:
 * an RDS-managed master secret (only username and password, tagged by RDS) gets host, port and engine from its
 * instance or cluster, and the hosts of its replicas; anything missing ends in a typed error that says what to do.
 */

const FAKE_CREDENTIALS = { accessKeyId: 'AKIDFAKEFAKEFAKE', secretAccessKey: 'fake-secret-access-key' };
const PRIMARY_HOST = 'primary.abc.us-east-1.rds.amazonaws.com';

let rdsFake: RdsFake;
let smFake: SecretsManagerFake;
let rds: RDSClient;
let sm: SecretsManagerClient;
let resolve: MasterResolver;
let lines: string[];
let ctx: RotatorContext;
let counter = 0;
const password = `Master-${Math.random().toString(36).slice(2)}-pw`;
recordSecrets(password);

beforeEach(async () => {
  rdsFake = await startRdsFake();
  smFake = await startSecretsManagerFake();
  rds = createRdsClient({ env: { [RDS_ENDPOINT_ENV]: rdsFake.endpoint, AWS_REGION: FAKE_REGION }, credentials: FAKE_CREDENTIALS, maxAttempts: 1 });
  sm = smFake.client({ maxAttempts: 1 });
  resolve = createRdsMasterResolver({ rds, store: new AwsSecretStore({ client: sm }) });
  lines = [];
  ctx = { logger: canaryLogger(lines) };
  ctx.logger.redactor.add(password);
});

afterEach(async () => {
  rds.destroy();
  sm.destroy();
  await rdsFake.close();
  await smFake.close();
});

/** A master secret as RDS makes it: username and password, plus the given tags. */
async function masterSecret(tags: Array<{ Key: string; Value: string }>, value: SecretObject = { username: 'master', password }): Promise<{ arn: string; value: SecretObject }> {
  counter += 1;
  const out = await sm.send(new CreateSecretCommand({ Name: `rds-db-${counter}` /* RDS names its own rds!db-<uuid>; callers cannot use "!" */, SecretString: JSON.stringify(value), Tags: tags }));
  return { arn: out.ARN ?? '', value };
}

async function refusal(promise: Promise<unknown>): Promise<RotatorError> {
  try {
    await promise;
  } catch (error) {
    if (isRotatorError(error)) {
      expect(error.message).not.toContain(password);
      return error;
    }
    throw error;
  }
  throw new Error('expected a RotatorError');
}

function primary(): void {
  rdsFake.putInstance({ identifier: 'primary', engine: 'postgres', endpoint: { address: PRIMARY_HOST, port: 5433 }, dbName: 'app' });
}

describe('RDS master resolver: instances', () => {
  it('a master secret that names its host is used as stored, without a call to Secrets Manager or RDS', async () => {
    const value = { engine: 'postgres', host: 'db.internal', username: 'master', password };
    smFake.resetCounts();
    expect(await resolve('any-id', value, ctx)).toEqual({ value, replicaHosts: [] });
    expect(smFake.count()).toBe(0);
    expect(rdsFake.count()).toBe(0);
  });

  it('completes an RDS-managed secret from its instance: host, port, engine and dbname added, stored keys kept, replicas listed', async () => {
    primary();
    rdsFake.putInstance({ identifier: 'replica-1', engine: 'postgres', endpoint: { address: 'Replica-1.abc.us-east-1.rds.amazonaws.com', port: 5433 }, replicaOf: 'primary' });
    rdsFake.putInstance({ identifier: 'replica-creating', engine: 'postgres', replicaOf: 'primary' });
    rdsFake.putInstance({ identifier: 'unrelated', engine: 'postgres', endpoint: { address: 'unrelated.abc', port: 5432 } });
    const { arn, value } = await masterSecret([{ Key: RDS_INSTANCE_TAG, Value: rdsFake.instanceArn('primary') }], { username: 'master', password, note: 'kept' });

    const out = await resolve(arn, value, ctx);
    expect(out.value).toEqual({ username: 'master', password, note: 'kept', host: PRIMARY_HOST, port: 5433, engine: 'postgres', dbname: 'app' });
    // Lower case (DNS ignores case); the replica still being created has no endpoint yet, and an unrelated instance is not a replica.
    expect(out.replicaHosts).toEqual(['replica-1.abc.us-east-1.rds.amazonaws.com']);
    expect(value).toEqual({ username: 'master', password, note: 'kept' }); // the input is not changed
    expect(rdsFake.requests.map((r) => r.action)).toEqual(['DescribeDBInstances', 'DescribeDBInstances']);
    expect(rdsFake.requests[1]?.params).toMatchObject({ 'Filters.Filter.1.Name': 'db-instance-id' });
    const logged = lines.join('\n');
    expect(logged).toContain('completed the RDS-managed master secret from its DB instance');
    expect(logged).not.toContain(password);
  });

  it('without a client given, builds createRdsClient() from the environment on its first lookup (the Lambda entries)', async () => {
    primary();
    const { arn, value } = await masterSecret([{ Key: RDS_INSTANCE_TAG, Value: rdsFake.instanceArn('primary') }]);
    const env = { [RDS_ENDPOINT_ENV]: rdsFake.endpoint, AWS_REGION: FAKE_REGION, AWS_ACCESS_KEY_ID: FAKE_CREDENTIALS.accessKeyId, AWS_SECRET_ACCESS_KEY: FAKE_CREDENTIALS.secretAccessKey };
    const lazy = createRdsMasterResolver({ store: new AwsSecretStore({ client: sm }) });
    // Built at the lookup, not with the resolver: the environment it reads is the one of the first lookup.
    for (const [name, setting] of Object.entries(env)) vi.stubEnv(name, setting);
    try {
      expect((await lazy(arn, value, ctx)).value).toMatchObject({ host: PRIMARY_HOST, port: 5433, engine: 'postgres' });
      expect(await lazy(arn, value, ctx)).toMatchObject({ value: { host: PRIMARY_HOST } });
    } finally {
      vi.unstubAllEnvs();
    }
    expect(rdsFake.count('DescribeDBInstances')).toBe(2);
  });

  it('matches the tag key without regard to case (as AWS templates do) and never replaces a stored port or engine', async () => {
    primary();
    const { arn, value } = await masterSecret([{ Key: 'aws:rds:primarydbinstancearn', Value: rdsFake.instanceArn('primary') }], {
      username: 'master',
      password,
      port: '6432',
      engine: 'aurora-postgresql',
    });
    const out = await resolve(arn, value, ctx);
    expect(out.value).toMatchObject({ host: PRIMARY_HOST, port: '6432', engine: 'aurora-postgresql', dbname: 'app' });
    expect(out.replicaHosts).toEqual([]);
    expect(rdsFake.count()).toBe(1); // no replicas: no second call
  });

  it('leaves out a cross-region replica (listed by ARN), which this region cannot describe', async () => {
    primary();
    rdsFake.putInstance({ identifier: 'replica-1', engine: 'postgres', endpoint: { address: 'replica-1.abc', port: 5433 }, replicaOf: 'primary' });
    // RDS lists a replica in another region by its ARN.
    rdsFake.putInstance({ identifier: 'arn:aws:rds:eu-west-1:123456789012:db:far', engine: 'postgres', endpoint: { address: 'far.xyz', port: 5433 }, replicaOf: 'primary' });
    const { arn, value } = await masterSecret([{ Key: RDS_INSTANCE_TAG, Value: rdsFake.instanceArn('primary') }]);
    expect((await resolve(arn, value, ctx)).replicaHosts).toEqual(['replica-1.abc']);
    const lookup = rdsFake.requests.at(-1)?.params ?? {};
    expect(lookup['Filters.Filter.1.Values.Value.1']).toBe('replica-1');
    expect(lookup['Filters.Filter.1.Values.Value.2']).toBeUndefined();
  });

  it('an instance being created (no endpoint yet) is TARGET_UNREACHABLE, retryable, and says to retry', async () => {
    rdsFake.putInstance({ identifier: 'primary', engine: 'mysql' });
    const { arn, value } = await masterSecret([{ Key: RDS_INSTANCE_TAG, Value: rdsFake.instanceArn('primary') }]);
    const error = await refusal(resolve(arn, value, ctx));
    expect(error.code).toBe('TARGET_UNREACHABLE');
    expect(error.retryable).toBe(true);
    expect(error.message).toMatch(/no endpoint for DB instance .*primary \(status creating\); retry/);
  });

  it('an instance RDS does not know is INVALID_SECRET naming the instance', async () => {
    const { arn, value } = await masterSecret([{ Key: RDS_INSTANCE_TAG, Value: rdsFake.instanceArn('gone') }]);
    const error = await refusal(resolve(arn, value, ctx));
    expect(error.code).toBe('INVALID_SECRET');
    expect(error.message).toContain(rdsFake.instanceArn('gone'));
    expect(error.message).toContain('masterarn');
  });

  it('a secret without host and without an RDS tag is INVALID_SECRET that says what to add', async () => {
    const { arn, value } = await masterSecret([{ Key: 'team', Value: 'db' }]);
    const error = await refusal(resolve(arn, value, ctx));
    expect(error.code).toBe('INVALID_SECRET');
    expect(error.message).toContain('add "host", "port" and "engine"');
    expect(rdsFake.count()).toBe(0);
  });

  it('a tag that is not an RDS ARN of the right kind, or names another region, is INVALID_SECRET before any RDS call', async () => {
    for (const tag of ['not-an-arn', rdsFake.clusterArn('c1'), `arn:aws:rds:${FAKE_REGION}:123456789012:db:${'x'.repeat(200)}`]) {
      const { arn, value } = await masterSecret([{ Key: RDS_INSTANCE_TAG, Value: tag }]);
      expect((await refusal(resolve(arn, value, ctx))).code).toBe('INVALID_SECRET');
    }
    const { arn, value } = await masterSecret([{ Key: RDS_INSTANCE_TAG, Value: 'arn:aws:rds:eu-west-1:123456789012:db:primary' }]);
    const error = await refusal(resolve(arn, value, ctx));
    expect(error.code).toBe('INVALID_SECRET');
    expect(error.message).toContain('in region eu-west-1, but this function looks up RDS in us-east-1');
    expect(rdsFake.count()).toBe(0);
  });

  it('maps RDS service errors: access denied names the IAM action, throttling is retryable, a missing secret is SECRET_NOT_FOUND', async () => {
    primary();
    const { arn, value } = await masterSecret([{ Key: RDS_INSTANCE_TAG, Value: rdsFake.instanceArn('primary') }]);
    rdsFake.fail({ action: 'DescribeDBInstances', code: 'AccessDenied', status: 403 });
    const denied = await refusal(resolve(arn, value, ctx));
    expect(denied.code).toBe('TARGET_ERROR');
    expect(denied.message).toContain('rds:DescribeDBInstances');
    rdsFake.fail({ action: 'DescribeDBInstances', code: 'Throttling', status: 400 });
    const throttled = await refusal(resolve(arn, value, ctx));
    expect(throttled.code).toBe('TARGET_UNREACHABLE');
    expect(throttled.retryable).toBe(true);
    expect((await refusal(resolve('no-such-secret', value, ctx))).code).toBe('SECRET_NOT_FOUND');
  });

  it("stops at once with the caller's reason when its signal has fired", async () => {
    primary();
    const { arn, value } = await masterSecret([{ Key: RDS_INSTANCE_TAG, Value: rdsFake.instanceArn('primary') }]);
    const reason = new RotatorError('TARGET_UNREACHABLE', 'out of time', { retryable: true });
    const error = await refusal(resolve(arn, value, { ...ctx, signal: AbortSignal.abort(reason) }));
    expect(error).toBe(reason);
    expect(rdsFake.count()).toBe(0);
  });
});

describe('RDS master resolver: clusters', () => {
  beforeEach(() => {
    rdsFake.putCluster({
      identifier: 'aurora-1',
      engine: 'aurora-mysql',
      endpoint: 'aurora-1.cluster-abc.us-east-1.rds.amazonaws.com',
      readerEndpoint: 'aurora-1.cluster-ro-abc.us-east-1.rds.amazonaws.com',
      customEndpoints: ['reports.cluster-custom-abc.us-east-1.rds.amazonaws.com'],
      port: 3306,
    });
    rdsFake.putInstance({ identifier: 'aurora-1-a', engine: 'aurora-mysql', endpoint: { address: 'aurora-1-a.abc.us-east-1.rds.amazonaws.com', port: 3306 }, cluster: 'aurora-1', writer: true });
    rdsFake.putInstance({ identifier: 'aurora-1-b', engine: 'aurora-mysql', endpoint: { address: 'aurora-1-b.abc.us-east-1.rds.amazonaws.com', port: 3306 }, cluster: 'aurora-1' });
  });

  it('completes from the writer endpoint; the reader, custom and member endpoints are the replica hosts', async () => {
    const { arn, value } = await masterSecret([{ Key: 'aws:rds:primaryDBClusterArn', Value: rdsFake.clusterArn('aurora-1') }]);
    const out = await resolve(arn, value, ctx);
    expect(out.value).toEqual({ username: 'master', password, host: 'aurora-1.cluster-abc.us-east-1.rds.amazonaws.com', port: 3306, engine: 'aurora-mysql' });
    expect([...out.replicaHosts].sort()).toEqual(
      [
        'aurora-1.cluster-ro-abc.us-east-1.rds.amazonaws.com',
        'reports.cluster-custom-abc.us-east-1.rds.amazonaws.com',
        'aurora-1-a.abc.us-east-1.rds.amazonaws.com',
        'aurora-1-b.abc.us-east-1.rds.amazonaws.com',
      ].sort(),
    );
    expect(rdsFake.requests.map((r) => r.action)).toEqual(['DescribeDBClusters', 'DescribeDBInstances']);
    expect(rdsFake.requests[1]?.params).toMatchObject({ 'Filters.Filter.1.Name': 'db-cluster-id', 'Filters.Filter.1.Values.Value.1': 'aurora-1' });
  });

  it('a cluster RDS does not know is INVALID_SECRET; one without a writer endpoint yet is retryable', async () => {
    const gone = await masterSecret([{ Key: 'aws:rds:primaryDBClusterArn', Value: rdsFake.clusterArn('gone') }]);
    expect((await refusal(resolve(gone.arn, gone.value, ctx))).code).toBe('INVALID_SECRET');
    rdsFake.putCluster({ identifier: 'new-1', engine: 'aurora-postgresql', port: 5432 });
    const creating = await masterSecret([{ Key: 'aws:rds:primaryDBClusterArn', Value: rdsFake.clusterArn('new-1') }]);
    const error = await refusal(resolve(creating.arn, creating.value, ctx));
    expect(error.code).toBe('TARGET_UNREACHABLE');
    expect(error.retryable).toBe(true);
  });
});

describe('RDS engines', () => {
  it('every RDS engine maps onto an engine value a rotator serves', () => {
    const served: readonly string[] = [...POSTGRES_ENGINES, ...MYSQL_ENGINES];
    for (const engine of Object.values(RDS_ENGINES)) expect(served).toContain(engine);
    expect(RDS_ENGINES.aurora).toBe('aurora-mysql');
  });

  it('an engine Rotator cannot rotate is UNSUPPORTED_ENGINE', async () => {
    rdsFake.putInstance({ identifier: 'orcl', engine: 'oracle-ee', endpoint: { address: 'orcl.abc', port: 1521 } });
    const { arn, value } = await masterSecret([{ Key: RDS_INSTANCE_TAG, Value: rdsFake.instanceArn('orcl') }]);
    const error = await refusal(resolve(arn, value, ctx));
    expect(error.code).toBe('UNSUPPORTED_ENGINE');
    expect(error.message).toContain('oracle-ee');
  });
});
