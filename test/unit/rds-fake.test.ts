import { DescribeDBClustersCommand, DescribeDBInstancesCommand, paginateDescribeDBInstances, type RDSClient } from '@aws-sdk/client-rds';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { startRdsFake, type RdsFake } from '../fakes/aws/rds.js';

/** The RDS fake, driven by the real RDSClient: what the SDK's awsQuery deserializer makes of its XML. */

let fake: RdsFake;
let rds: RDSClient;

beforeEach(async () => {
  fake = await startRdsFake();
  rds = fake.client({ maxAttempts: 1 });
});

afterEach(async () => {
  rds.destroy();
  await fake.close();
});

async function failure(promise: Promise<unknown>): Promise<{ name: string; status: number | undefined; message: string }> {
  try {
    await promise;
  } catch (error) {
    const e = error as { name: string; message: string; $metadata?: { httpStatusCode?: number } };
    return { name: e.name, status: e.$metadata?.httpStatusCode, message: e.message };
  }
  throw new Error('expected the call to fail');
}

describe('RDS fake: DescribeDBInstances', () => {
  beforeEach(() => {
    fake.putInstance({ identifier: 'primary', engine: 'postgres', endpoint: { address: 'primary.abc.us-east-1.rds.amazonaws.com', port: 5432 }, dbName: 'app' });
    fake.putInstance({ identifier: 'replica-1', engine: 'postgres', endpoint: { address: 'replica-1.abc.us-east-1.rds.amazonaws.com', port: 5432 }, replicaOf: 'primary' });
    fake.putInstance({ identifier: 'replica-2', engine: 'postgres', replicaOf: 'primary' });
  });

  it('finds an instance by identifier and by ARN, with its endpoint, engine, database and read replicas', async () => {
    for (const id of ['primary', fake.instanceArn('primary')]) {
      const out = await rds.send(new DescribeDBInstancesCommand({ DBInstanceIdentifier: id }));
      expect(out.DBInstances).toHaveLength(1);
      const [instance] = out.DBInstances ?? [];
      expect(instance?.DBInstanceIdentifier).toBe('primary');
      expect(instance?.DBInstanceArn).toBe(fake.instanceArn('primary'));
      expect(instance?.Engine).toBe('postgres');
      expect(instance?.DBName).toBe('app');
      expect(instance?.Endpoint).toEqual({ Address: 'primary.abc.us-east-1.rds.amazonaws.com', Port: 5432, HostedZoneId: 'Z2R2ITUGPM61AM' });
      expect(instance?.ReadReplicaDBInstanceIdentifiers).toEqual(['replica-1', 'replica-2']);
      expect(instance?.ReadReplicaSourceDBInstanceIdentifier).toBeUndefined();
      expect(instance?.MultiAZ).toBe(false);
    }
    const wire = fake.requests.at(-1);
    expect(wire?.params).toMatchObject({ Action: 'DescribeDBInstances', Version: '2014-10-31', DBInstanceIdentifier: fake.instanceArn('primary') });
  });

  it('shows a replica its source, and an instance being created without an endpoint', async () => {
    const replica = (await rds.send(new DescribeDBInstancesCommand({ DBInstanceIdentifier: 'replica-1' }))).DBInstances?.[0];
    expect(replica?.ReadReplicaSourceDBInstanceIdentifier).toBe('primary');
    expect(replica?.ReadReplicaDBInstanceIdentifiers).toEqual([]);
    const creating = (await rds.send(new DescribeDBInstancesCommand({ DBInstanceIdentifier: 'replica-2' }))).DBInstances?.[0];
    expect(creating?.DBInstanceStatus).toBe('creating');
    expect(creating?.Endpoint).toBeUndefined();
  });

  it('an unknown instance is DBInstanceNotFoundFault with HTTP 404, as the service answers', async () => {
    const error = await failure(rds.send(new DescribeDBInstancesCommand({ DBInstanceIdentifier: 'nope' })));
    expect(error).toEqual({ name: 'DBInstanceNotFoundFault', status: 404, message: 'DBInstance nope not found.' });
  });

  it('filters by db-instance-id (identifiers or ARNs) and db-cluster-id; another filter name is InvalidParameterValue', async () => {
    fake.putInstance({ identifier: 'member-a', engine: 'aurora-mysql', endpoint: { address: 'member-a.abc', port: 3306 }, cluster: 'c1', writer: true });
    const byId = await rds.send(new DescribeDBInstancesCommand({ Filters: [{ Name: 'db-instance-id', Values: ['replica-1', fake.instanceArn('replica-2')] }] }));
    expect(byId.DBInstances?.map((i) => i.DBInstanceIdentifier)).toEqual(['replica-1', 'replica-2']);
    expect(fake.requests.at(-1)?.params).toMatchObject({ 'Filters.Filter.1.Name': 'db-instance-id', 'Filters.Filter.1.Values.Value.2': fake.instanceArn('replica-2') });
    const byCluster = await rds.send(new DescribeDBInstancesCommand({ Filters: [{ Name: 'db-cluster-id', Values: [fake.clusterArn('c1')] }] }));
    expect(byCluster.DBInstances?.map((i) => [i.DBInstanceIdentifier, i.DBClusterIdentifier])).toEqual([['member-a', 'c1']]);
    const error = await failure(rds.send(new DescribeDBInstancesCommand({ Filters: [{ Name: 'colour', Values: ['blue'] }] })));
    expect(error.name).toBe('InvalidParameterValue');
    expect(error.status).toBe(400);
  });

  it('pages with MaxRecords and Marker', async () => {
    for (let i = 0; i < 25; i++) fake.putInstance({ identifier: `many-${String(i).padStart(2, '0')}`, engine: 'mysql', endpoint: { address: `many-${i}.abc`, port: 3306 } });
    const first = await rds.send(new DescribeDBInstancesCommand({ MaxRecords: 20 }));
    expect(first.DBInstances).toHaveLength(20);
    expect(first.Marker).toBeDefined();
    const ids: string[] = [];
    for await (const page of paginateDescribeDBInstances({ client: rds, pageSize: 20 }, {})) ids.push(...(page.DBInstances ?? []).map((i) => i.DBInstanceIdentifier ?? ''));
    expect(ids).toHaveLength(28);
    expect(new Set(ids).size).toBe(28);
    expect((await failure(rds.send(new DescribeDBInstancesCommand({ MaxRecords: 5 })))).name).toBe('InvalidParameterValue');
  });

  it('fails a chosen action with a chosen error code', async () => {
    fake.fail({ action: 'DescribeDBInstances', code: 'AccessDenied', status: 403 });
    expect(await failure(rds.send(new DescribeDBInstancesCommand({ DBInstanceIdentifier: 'primary' })))).toMatchObject({ name: 'AccessDenied', status: 403 });
    await expect(rds.send(new DescribeDBInstancesCommand({ DBInstanceIdentifier: 'primary' }))).resolves.toBeDefined();
  });
});

describe('RDS fake: DescribeDBClusters', () => {
  beforeEach(() => {
    fake.putCluster({
      identifier: 'aurora-1',
      engine: 'aurora-postgresql',
      endpoint: 'aurora-1.cluster-abc.us-east-1.rds.amazonaws.com',
      readerEndpoint: 'aurora-1.cluster-ro-abc.us-east-1.rds.amazonaws.com',
      customEndpoints: ['analytics.cluster-custom-abc.us-east-1.rds.amazonaws.com'],
      port: 5432,
      databaseName: 'app',
    });
    fake.putInstance({ identifier: 'aurora-1-a', engine: 'aurora-postgresql', endpoint: { address: 'aurora-1-a.abc', port: 5432 }, cluster: 'aurora-1', writer: true });
    fake.putInstance({ identifier: 'aurora-1-b', engine: 'aurora-postgresql', endpoint: { address: 'aurora-1-b.abc', port: 5432 }, cluster: 'aurora-1' });
  });

  it('finds a cluster by identifier and by ARN with its writer, reader and custom endpoints and its members', async () => {
    for (const id of ['aurora-1', fake.clusterArn('aurora-1')]) {
      const out = await rds.send(new DescribeDBClustersCommand({ DBClusterIdentifier: id }));
      const [cluster] = out.DBClusters ?? [];
      expect(out.DBClusters).toHaveLength(1);
      expect(cluster).toMatchObject({
        DBClusterIdentifier: 'aurora-1',
        DBClusterArn: fake.clusterArn('aurora-1'),
        Engine: 'aurora-postgresql',
        Status: 'available',
        Endpoint: 'aurora-1.cluster-abc.us-east-1.rds.amazonaws.com',
        ReaderEndpoint: 'aurora-1.cluster-ro-abc.us-east-1.rds.amazonaws.com',
        CustomEndpoints: ['analytics.cluster-custom-abc.us-east-1.rds.amazonaws.com'],
        Port: 5432,
        DatabaseName: 'app',
      });
      expect(cluster?.DBClusterMembers).toEqual([
        { DBInstanceIdentifier: 'aurora-1-a', IsClusterWriter: true, DBClusterParameterGroupStatus: 'in-sync', PromotionTier: 1 },
        { DBInstanceIdentifier: 'aurora-1-b', IsClusterWriter: false, DBClusterParameterGroupStatus: 'in-sync', PromotionTier: 1 },
      ]);
    }
    expect(fake.requests.at(-1)?.params).toMatchObject({ Action: 'DescribeDBClusters', Version: '2014-10-31' });
  });

  it('an unknown cluster is DBClusterNotFoundFault with HTTP 404', async () => {
    const error = await failure(rds.send(new DescribeDBClustersCommand({ DBClusterIdentifier: 'nope' })));
    expect(error).toEqual({ name: 'DBClusterNotFoundFault', status: 404, message: 'DBCluster nope not found.' });
  });
});
