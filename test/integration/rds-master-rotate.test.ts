import { createServer as createTcpServer, connect as tcpConnect, type Socket } from 'node:net';
import type { AddressInfo } from 'node:net';
import type { RDSClient } from '@aws-sdk/client-rds';
import { CreateSecretCommand, DescribeSecretCommand, GetSecretValueCommand, type SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { afterEach, beforeEach, describe, expect, inject, it } from 'vitest';
import { createRotateHandler, type RotateHandler } from '../../functions/aws/rotate.js';
import type { Step } from '../../shared/engine.js';
import {
  AwsSecretStore,
  RDS_ENDPOINT_ENV,
  RDS_INSTANCE_TAG,
  STRATEGY_TAG,
  createRdsClient,
  createRdsMasterResolver,
  createSecretsManagerClient,
} from '../../stores/aws/index.js';
import { startRdsFake, type RdsFake } from '../fakes/aws/rds.js';
import { FAKE_REGION, startSecretsManagerFake, type SecretsManagerFake } from '../fakes/aws/secrets-manager.js';
import { canaryLogger, recordSecretValue, recordSecrets } from '../support/canary.js';
import { FAKE_CREDENTIALS, captureOutput, expectOneInfoLinePerStep, lambdaContext, refusal, rotateSecret, type OutputCapture } from '../support/lambda.js';
import { mariadbAdmin } from '../support/mariadb-admin.js';
import { postgresAdmin } from '../support/postgres-admin.js';
import { testTargets, type TestTarget } from '../support/targets.js';

/**
 * Alternating-users rotation on AWS with a master secret that RDS manages (only username and password, tagged with
 * its instance's ARN), driven as Secrets Manager drives the Lambda handler: RotateSecret, then one invocation per
 * step. The RDS master resolver fills host and port from the RDS fake, which describes the test servers:
 * (a) the secret names the primary itself; (b) it names a read replica, a host name RDS lists for a replica of the
 * primary; (c) it names a host RDS knows nothing of, which is refused before anything changes.
 *
 * For (b) two TCP proxies stand in front of the one local server: the primary's (the only address the master's
 * resolved value names) and the replica's, `localhost` (the test certificate's other name). A connection through
 * the primary's proxy can only come from the master, so it proves the master changed the user on the primary.
 */

const STEPS: readonly Step[] = ['createSecret', 'setSecret', 'testSecret', 'finishSecret'];
let output: OutputCapture;

// ---- a counting TCP proxy: another address for the same server ----

interface Proxy {
  port: number;
  /** Connections accepted so far. */
  connections: number;
  close(): Promise<void>;
}

async function startProxy(targetHost: string, targetPort: number): Promise<Proxy> {
  const sockets = new Set<Socket>();
  const server = createTcpServer((client) => {
    proxy.connections += 1;
    const upstream = tcpConnect({ host: targetHost, port: targetPort });
    for (const s of [client, upstream]) {
      sockets.add(s);
      s.on('error', () => s.destroy());
      s.on('close', () => {
        sockets.delete(s);
        client.destroy();
        upstream.destroy();
      });
    }
    client.pipe(upstream);
    upstream.pipe(client);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const proxy: Proxy = {
    port: (server.address() as AddressInfo).port,
    connections: 0,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
  return proxy;
}

const targets = testTargets();
const pg = postgresAdmin(inject('postgres'));
const maria = mariadbAdmin(inject('mariadb'));
const userExists = (target: TestTarget, name: string): Promise<boolean> =>
  target.engine === 'postgres' ? pg.roleExists(name) : maria.accountHosts(name).then((hosts) => hosts.length > 0);
const serverOf = (target: TestTarget): { host: string; port: number } => {
  const facts = target.engine === 'postgres' ? inject('postgres') : inject('mariadb');
  return { host: facts.host, port: facts.port };
};

let smFake: SecretsManagerFake;
let rdsFake: RdsFake;
let sm: SecretsManagerClient;
let rds: RDSClient;
let proxies: Proxy[] = [];
let counter = 0;

beforeEach(async () => {
  smFake = await startSecretsManagerFake();
  rdsFake = await startRdsFake();
  sm = smFake.client();
  rds = createRdsClient({ env: { [RDS_ENDPOINT_ENV]: rdsFake.endpoint, AWS_REGION: FAKE_REGION }, credentials: FAKE_CREDENTIALS, maxAttempts: 1 });
  output = captureOutput();
});

afterEach(async () => {
  output.stop();
  sm.destroy();
  rds.destroy();
  await Promise.all(proxies.map((p) => p.close()));
  proxies = [];
  await smFake.close();
  await rdsFake.close();
});

function password(): string {
  const p = `Init-${counter}-${Math.random().toString(36).slice(2)}-pw`;
  recordSecrets(p);
  return p;
}

/** The function as deployed (functions/aws/rotate-*.ts): one store shared with the RDS resolver. */
function handlerFor(target: TestTarget): RotateHandler {
  const client = createSecretsManagerClient({ env: { SECRETS_MANAGER_ENDPOINT: smFake.endpoint, AWS_REGION: FAKE_REGION }, credentials: FAKE_CREDENTIALS, maxAttempts: 1 });
  const store = new AwsSecretStore({ client });
  return createRotateHandler({
    client,
    store,
    rotators: [target.rotator()],
    engineFamily: target.engine === 'postgres' ? 'postgres' : 'mysql',
    config: { defaultStrategy: 'single-user', logLevel: 'debug' },
    resolveMaster: createRdsMasterResolver({ rds, store }),
  });
}

interface Seeded {
  arn: string;
  user: string;
  oldPassword: string;
  currentVersion: string;
  masterArn: string;
}

/**
 * A master user whose secret RDS manages for instance `primary`, and an application user whose alternating-users
 * secret names `host`:`port` and that master.
 */
async function seed(target: TestTarget, at: { host: string; port: number }): Promise<Seeded> {
  counter += 1;
  const master = `rdsm_m_${target.engine}_${counter}_${process.pid}`;
  const masterPassword = password();
  await target.createUser(master, masterPassword, { master: true });
  const masterValue = JSON.stringify({ username: master, password: masterPassword });
  recordSecretValue(masterValue);
  const masterSecret = await sm.send(
    new CreateSecretCommand({ Name: `rds-db-${target.engine}-${counter}`, SecretString: masterValue, Tags: [{ Key: RDS_INSTANCE_TAG, Value: rdsFake.instanceArn('primary') }] }),
  );

  const user = `rdsm_${target.engine}_${counter}_${process.pid}`;
  const oldPassword = password();
  await target.createUser(user, oldPassword);
  const value = JSON.stringify(target.secret(user, oldPassword, { host: at.host, port: at.port, masterarn: masterSecret.ARN ?? '' }));
  recordSecretValue(value);
  const created = await sm.send(
    new CreateSecretCommand({ Name: `app/${target.engine}/${counter}`, SecretString: value, Tags: [{ Key: STRATEGY_TAG, Value: 'alternating-users' }] }),
  );
  return { arn: created.ARN ?? '', user, oldPassword, currentVersion: created.VersionId ?? '', masterArn: masterSecret.ARN ?? '' };
}


function invoke(handler: RotateHandler, arn: string, token: string, step: Step): Promise<unknown> {
  return handler({ SecretId: arn, ClientRequestToken: token, Step: step }, lambdaContext(60_000));
}


async function current(arn: string): Promise<{ versionId: string; value: Record<string, unknown> }> {
  const out = await sm.send(new GetSecretValueCommand({ SecretId: arn }));
  recordSecretValue(out.SecretString ?? '');
  return { versionId: out.VersionId ?? '', value: JSON.parse(out.SecretString ?? '{}') as Record<string, unknown> };
}

function expectNoLeak(...secrets: string[]): void {
  const text = output.text();
  for (const secret of secrets) expect(text.includes(secret), 'a secret appeared in the output').toBe(false);
}

describe.each(targets.map((t) => [t.engine, t] as const))('alternating users with an RDS-managed master on %s', (_engine, target) => {
  it('(a) the secret names the primary: host and port come from RDS, the clone is made and CURRENT moves to it', async () => {
    const server = serverOf(target);
    rdsFake.putInstance({ identifier: 'primary', engine: target.engine === 'postgres' ? 'postgres' : 'mariadb', endpoint: { address: server.host, port: server.port } });
    const { arn, user, oldPassword, currentVersion } = await seed(target, server);
    const handler = handlerFor(target);
    const token = (await rotateSecret(sm, arn)) ?? '';
    for (const step of STEPS) await invoke(handler, arn, token, step);

    const now = await current(arn);
    expect(now.versionId).toBe(token);
    expect(now.value.username).toBe(`${user}_clone`);
    expect(await target.logsIn(`${user}_clone`, String(now.value.password))).toBe(true);
    // Alternating users: the previous credential still works.
    expect(await target.logsIn(user, oldPassword)).toBe(true);
    expect((await sm.send(new DescribeSecretCommand({ SecretId: arn }))).VersionIdsToStages?.[currentVersion]).toEqual(['AWSPREVIOUS']);
    // One lookup per rotation (the instance has no replicas): setSecret resolves the master, and the steps after it that
    // log in as the master (on MySQL/MariaDB testSecret, which compares the clone's grants with the original's) use the
    // master this rotation resolved moments ago in this process. finishSecret does not test again: testSecret passed
    // moments ago in this process for the same value.
    expect(rdsFake.count('DescribeDBInstances')).toBe(1);
    expect(output.text()).toContain('completed the RDS-managed master secret from its DB instance');
    expectOneInfoLinePerStep(output, arn, STEPS);
    expectNoLeak(oldPassword, String(now.value.password));
  });

  it('(b) the secret names a read replica: the master changes the user on the primary, the rotation completes, and revoke acts on the primary too', async () => {
    const server = serverOf(target);
    const primaryProxy = await startProxy(server.host, server.port);
    const replicaProxy = await startProxy(server.host, server.port);
    proxies.push(primaryProxy, replicaProxy);
    const engine = target.engine === 'postgres' ? 'postgres' : 'mariadb';
    rdsFake.putInstance({ identifier: 'primary', engine, endpoint: { address: '127.0.0.1', port: primaryProxy.port } });
    rdsFake.putInstance({ identifier: 'replica-1', engine, endpoint: { address: 'localhost', port: replicaProxy.port }, replicaOf: 'primary' });
    const { arn, user, oldPassword, masterArn } = await seed(target, { host: 'localhost', port: replicaProxy.port });
    const handler = handlerFor(target);
    const token = (await rotateSecret(sm, arn)) ?? '';
    for (const step of STEPS) await invoke(handler, arn, token, step);

    const now = await current(arn);
    expect(now.versionId).toBe(token);
    expect(now.value).toMatchObject({ username: `${user}_clone`, host: 'localhost', port: replicaProxy.port });
    expect(await target.logsIn(`${user}_clone`, String(now.value.password))).toBe(true);
    expect(await target.logsIn(user, oldPassword)).toBe(true);
    // Only the master's resolved value names the primary's address: its connections are the master's.
    expect(primaryProxy.connections).toBeGreaterThan(0);
    // The secret's own logins (the check that CURRENT works, the test of PENDING) went to the replica it names.
    expect(replicaProxy.connections).toBeGreaterThan(0);

    // The purger's revoke of the retired user (the old CURRENT) also changes it through the master on the primary.
    const logger = canaryLogger();
    const resolve = createRdsMasterResolver({ rds, store: new AwsSecretStore({ client: sm }) });
    const masterRaw = (await sm.send(new GetSecretValueCommand({ SecretId: masterArn }))).SecretString ?? '{}';
    const master = await resolve(masterArn, JSON.parse(masterRaw) as Record<string, unknown>, { logger });
    expect(master.replicaHosts).toEqual(['localhost']);
    const before = primaryProxy.connections;
    const retired = target.secret(user, oldPassword, { host: 'localhost', port: replicaProxy.port, masterarn: masterArn });
    const outcome = await target.rotator().revoke?.(
      { strategy: 'alternating-users', retired, current: now.value, master: master.value, masterReplicaHosts: master.replicaHosts },
      { logger },
    );
    expect(outcome).toBe('revoked');
    expect(await target.logsIn(user, oldPassword)).toBe(false);
    expect(primaryProxy.connections).toBeGreaterThan(before);
    expectNoLeak(oldPassword, String(now.value.password));
  });

  it('(c) a host that is neither the primary nor a replica of it is refused with CREDENTIAL_MISMATCH; nothing changes in the database or the store', async () => {
    const server = serverOf(target);
    const engine = target.engine === 'postgres' ? 'postgres' : 'mariadb';
    rdsFake.putInstance({ identifier: 'primary', engine, endpoint: { address: server.host, port: server.port } });
    rdsFake.putInstance({ identifier: 'replica-1', engine, endpoint: { address: 'replica-1.invalid', port: server.port }, replicaOf: 'primary' });
    // `localhost` reaches the same server, but RDS does not list it for this master: the master must not act there.
    const { arn, user, oldPassword, currentVersion } = await seed(target, { host: 'localhost', port: server.port });
    const handler = handlerFor(target);
    const token = (await rotateSecret(sm, arn)) ?? '';
    await invoke(handler, arn, token, 'createSecret');
    const stagesBefore = (await sm.send(new DescribeSecretCommand({ SecretId: arn }))).VersionIdsToStages;

    const error = await refusal(invoke(handler, arn, token, 'setSecret'));
    expect(error.code).toBe('CREDENTIAL_MISMATCH');
    expect(error.message).toContain(`the master secret names host ${server.host}, but the secret being rotated names localhost`);
    expect(error.message).toContain('replica-1.invalid');

    expect(await userExists(target, `${user}_clone`)).toBe(false);
    expect(await target.logsIn(user, oldPassword)).toBe(true);
    expect((await sm.send(new DescribeSecretCommand({ SecretId: arn }))).VersionIdsToStages).toEqual(stagesBefore);
    expect((await current(arn)).versionId).toBe(currentVersion);
    expectNoLeak(oldPassword);
  });
});
