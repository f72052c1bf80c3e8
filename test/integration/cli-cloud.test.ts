import { CreateSecretCommand, DescribeSecretCommand, GetSecretValueCommand, RotateSecretCommand, TagResourceCommand, type SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import type { SecretClient } from '@azure/keyvault-secrets';
import type { SecretManagerServiceClient } from '@google-cloud/secret-manager';
import { afterAll, beforeAll, beforeEach, describe, expect, inject, it } from 'vitest';
import type { GoogleClients } from '../../cli/commands/gcp.js';
import { EXIT } from '../../cli/exit-codes.js';
import type { AwsClients, AzureClients } from '../../cli/stores.js';
import type { RotateHandler } from '../../functions/aws/rotate.js';
import { RotatorError } from '../../shared/errors.js';
import { formatFailure, parseFailure } from '../../shared/schedule.js';
import type { SecretStore } from '../../shared/store.js';
import { AwsSecretStore } from '../../stores/aws/index.js';
import { rotateViaService, type ServiceRotationProgress } from '../../stores/aws/rotate-via-service.js';
import { createSeededKeyVaultSecret } from '../../stores/azure/index.js';
import { createSecretManagerClient, createSeededSecretManagerSecret } from '../../stores/gcp/index.js';
import { startSecretsManagerFake, type RotationEvent, type SecretsManagerFake } from '../fakes/aws/secrets-manager.js';
import { startKeyVaultFake, type KeyVaultFake } from '../fakes/azure/key-vault.js';
import { startSecretManagerFake, type SecretManagerFake } from '../fakes/gcp/secret-manager.js';
import { startAzurite, type Azurite } from '../support/azurite.js';
import { recordSecretValue, recordSecrets } from '../support/canary.js';
import { runRotator, type CliRun } from '../support/cli.js';
import { ROTATION_LAMBDA_ARN, databaseRotateHandler, lambdaContext } from '../support/lambda.js';
import { postgresAdmin } from '../support/postgres-admin.js';
import { storeWith } from '../support/stores.js';
import { testTargets } from '../support/targets.js';

/**
 * The CLI on each cloud store, through the real SDK clients against the fakes, with a real scram PostgreSQL:
 * - `secrets list|describe|get` and `purge --dry-run` on AWS, Azure and Google (the dry run writes nothing: no lock,
 *   no label);
 * - `rotate` on AWS asks the service: RotateSecret, whose fake invokes the real Lambda handler step by step, and the
 *   CLI follows until AWSCURRENT moves; a failure recorded by the function, and a rotation that never ends, are
 *   reported as such; a disabled or already pending secret is refused before RotateSecret;
 * - `rotate` on Google runs self-driven under the annotation lease, and on Azure under the blob lease (Azurite).
 * No value is printed unless asked for (--show-value), and the leak canary checks everything printed.
 */
const pg = inject('postgres');
const { createRole, logsIn } = postgresAdmin(pg);
const postgres = testTargets().find((t) => t.engine === 'postgres');
if (postgres === undefined) throw new Error('no PostgreSQL target');
const env: NodeJS.ProcessEnv = { ROTATOR_TLS_CA_FILE: pg.caFile };

let counter = 0;

/** A login role with a fresh password, and its secret's JSON (verified TLS). */
async function role(prefix: string): Promise<{ user: string; password: string; json: string }> {
  counter += 1;
  const user = `${prefix}_${process.pid}_${counter}`;
  const password = `Cc-${counter}-${Math.random().toString(36).slice(2)}-${Math.random().toString(36).slice(2)}`;
  recordSecrets(password);
  await createRole(user, password);
  const json = JSON.stringify(postgres?.secret(user, password));
  recordSecretValue(json);
  return { user, password, json };
}

function passwordOf(json: string): string {
  recordSecretValue(json);
  const { password } = JSON.parse(json) as { password: string };
  recordSecrets(password);
  return password;
}

/** The checks every store gets: list, describe, get (no value without --show-value) and purge --dry-run. */
async function readsOnEveryStore(run: (args: string[]) => Promise<CliRun>, id: string, json: string): Promise<void> {
  const list = await run(['secrets', 'list']);
  expect(list.stderr).toBe('');
  expect(list.code).toBe(EXIT.OK);
  expect(list.stdout).toMatch(new RegExp(`^${id} {2}rotation enabled {2}1 version\\(s\\)$`, 'm'));
  const listed = JSON.parse((await run(['secrets', 'list', '--json'])).stdout) as Array<{ secretId: string; rotation: { enabled: boolean }; versionCount: number }>;
  expect(listed.find((s) => s.secretId === id)).toMatchObject({ rotation: { enabled: true }, versionCount: 1 });

  const described = await run(['secrets', 'describe', id, '--json']);
  expect(described.code).toBe(EXIT.OK);
  expect((JSON.parse(described.stdout) as { versions: Array<{ stages: string[] }> }).versions.map((v) => v.stages)).toEqual([['CURRENT']]);

  const hidden = await run(['secrets', 'get', id]);
  expect(hidden.code).toBe(EXIT.OK);
  expect(hidden.stdout).toMatch(new RegExp(`^${id} version \\S+ \\[CURRENT\\] holds ${Buffer.byteLength(json)} bytes; pass --show-value to print it\\n$`));
  expect((await run(['secrets', 'get', id, '--show-value'])).stdout).toBe(json + '\n');
  expect((await run(['secrets', 'get', id, '--field', 'username'])).stdout).toBe(`${(JSON.parse(json) as { username: string }).username}\n`);

  const dry = await run(['purge', '--dry-run', id]);
  expect(dry.stderr).toBe('');
  expect(dry.code).toBe(EXIT.OK);
  expect(dry.stdout).toMatch(/^dry run at .*: nothing is changed\n/);
  expect(dry.stdout).toContain(`${id} (safe window 30d, keep 0)\n  nothing past the safe window`);

  const missing = await run(['secrets', 'describe', `${id}x`]);
  expect(missing.code).toBe(EXIT.USAGE);
  expect(missing.stderr).toMatch(new RegExp(`SECRET_NOT_FOUND: .*\\(did you mean ${id}\\?\\)`));
}

// ---- AWS ----

describe('rotator --store aws://<region>', () => {
  let fake: SecretsManagerFake;
  let sm: SecretsManagerClient;
  let aws: AwsClients;
  let handler: RotateHandler;
  /** What the rotation function does for a step instead of running it (a failure, a hang); undefined: run it. */
  let interfere: ((event: RotationEvent) => Promise<unknown>) | undefined;

  beforeAll(async () => {
    fake = await startSecretsManagerFake({
      rotationFunction: async (event) => {
        if (interfere !== undefined) return interfere(event);
        // The Lambda handler itself, as the service invokes it (its output goes to the leak canary).
        return handler(event, lambdaContext(60_000));
      },
    });
    sm = fake.client();
    aws = { secretsManager: (region) => fake.client({ region }) };
    handler = databaseRotateHandler(fake.endpoint, postgres);
  });

  afterAll(async () => {
    await fake.idle();
    sm.destroy();
    await fake.close();
  });

  beforeEach(() => {
    interfere = undefined;
  });

  const rotator = (args: string[]): Promise<CliRun> => runRotator(env, ['--store', 'aws://us-east-1', ...args], '', { aws });

  /** A secret whose rotation is on (RotateSecret with RotateImmediately=false records the function and rules). */
  async function seed(enabled = true): Promise<{ id: string; user: string; password: string; json: string }> {
    const r = await role('cli_aws');
    const id = `cli-aws/app-${counter}`;
    await sm.send(new CreateSecretCommand({ Name: id, SecretString: r.json }));
    if (enabled) await sm.send(new RotateSecretCommand({ SecretId: id, RotationLambdaARN: ROTATION_LAMBDA_ARN, RotationRules: { AutomaticallyAfterDays: 30 }, RotateImmediately: false }));
    return { id, ...r };
  }

  async function current(id: string): Promise<{ versionId: string; json: string }> {
    const out = await sm.send(new GetSecretValueCommand({ SecretId: id }));
    return { versionId: out.VersionId ?? '', json: out.SecretString ?? '' };
  }

  it('lists, describes, gets and dry-run purges through the port, writing nothing', async () => {
    const { id, json } = await seed();
    fake.resetCounts();
    await readsOnEveryStore(rotator, id, json);
    const writes = Object.keys(fake.counts()).filter((op) => !/^(Describe|Get|List)/.test(op));
    expect(writes).toEqual([]);
  });

  it('rotate asks the service (RotateSecret) and follows it until AWSCURRENT moves; the new password logs in', async () => {
    const { id, user, password } = await seed();
    const before = await current(id);
    fake.resetCounts();
    const run = await rotator(['rotate', id]);
    expect(run.stderr).toBe('');
    expect(run.code).toBe(EXIT.OK);
    const after = await current(id);
    expect(after.versionId).not.toBe(before.versionId);
    expect(run.stdout).toMatch(new RegExp(`^rotating ${id}\\n {2}createSecret +\\d+ ms\\n {2}setSecret +\\d+ ms\\n {2}testSecret +\\d+ ms\\n {2}finishSecret +\\d+ ms\\n`));
    expect(run.stdout).toContain(`rotated ${id}: CURRENT is now version ${after.versionId} (AWS rotation function, single-user, `);
    expect(fake.count('RotateSecret')).toBe(1);
    expect(fake.requests.filter((r) => r.operation === 'RotateSecret').at(-1)?.body).toMatchObject({ SecretId: id, ClientRequestToken: after.versionId, RotateImmediately: true });
    expect(fake.invocations.filter((i) => i.event.ClientRequestToken === after.versionId).map((i) => `${i.event.Step}:${i.outcome}`)).toEqual([
      'createSecret:ok',
      'setSecret:ok',
      'testSecret:ok',
      'finishSecret:ok',
    ]);
    expect(await logsIn(user, passwordOf(after.json))).toBe(true);
    expect(await logsIn(user, password)).toBe(false);

    const json = await rotator(['rotate', id, '--json']);
    expect(json.code).toBe(EXIT.OK);
    expect(JSON.parse(json.stdout)).toMatchObject({ ok: true, secretId: id, versionId: (await current(id)).versionId });
  });

  it('rotate refuses a secret whose rotation is off (RotateSecret would turn it back on) and one already pending', async () => {
    const off = await seed(false);
    fake.resetCounts();
    const disabled = await rotator(['rotate', off.id]);
    expect(disabled.code).toBe(EXIT.USAGE);
    expect(disabled.stderr).toMatch(/ROTATION_DISABLED: rotation of .* is off in AWS Secrets Manager; turn it on first \(aws secretsmanager rotate-secret --secret-id /);
    expect(fake.count('RotateSecret')).toBe(0);

    const { id } = await seed();
    interfere = () => Promise.reject(new Error('the function is down'));
    const token = (await sm.send(new RotateSecretCommand({ SecretId: id }))).VersionId ?? '';
    await fake.idle();
    fake.resetCounts();
    const pending = await rotator(['rotate', id]);
    expect(pending.code).toBe(EXIT.RETRY);
    expect(pending.stderr).toContain(`ROTATION_IN_PROGRESS: a rotation of ${id} is already under way (version ${token} is AWSPENDING)`);
    expect(pending.stderr).toContain(`aws secretsmanager update-secret-version-stage --secret-id ${id} --version-stage AWSPENDING --remove-from-version-id ${token}`);
    expect(fake.count('RotateSecret')).toBe(0);
  });

  describe('rotateViaService', () => {
    /** The port's store on the fake; the `rotator:last-error` tag read as the AWS store reads it once it records failures. */
    function store(): SecretStore {
      const aws = new AwsSecretStore({ client: sm });
      return storeWith(aws, {
        describe: async (secretId, options) => {
          const info = await aws.describe(secretId, options);
          const lastError = info.lastError ?? parseFailure(info.tags['rotator:last-error']);
          return lastError === undefined ? info : { ...info, lastError };
        },
      });
    }

    it('reports a failure the function recorded, with its code and step, while AWSPENDING stays', async () => {
      const { id, user, password } = await seed();
      const before = await current(id);
      // setSecret fails only once the follower has seen createSecret's value, so both phases are observed in order.
      let valueSeen: () => void = () => undefined;
      const seenValue = new Promise<void>((resolve) => (valueSeen = resolve));
      interfere = async (event) => {
        if (event.Step === 'createSecret') return handler(event, lambdaContext(60_000));
        await seenValue;
        // What the function does when setSecret fails: record the failure on the secret, and fail the step.
        await sm.send(new TagResourceCommand({ SecretId: id, Tags: [{ Key: 'rotator:last-error', Value: formatFailure({ code: 'TARGET_AUTH_FAILED', step: 'setSecret', at: new Date() }) }] }));
        throw new Error('setSecret failed');
      };
      const seen: ServiceRotationProgress[] = [];
      const error = await rotateViaService({ client: sm, store: store(), secretId: id, pollMs: 20, timeoutMs: 20_000, onProgress: (p) => {
          seen.push(p);
          if (p.phase === 'value-stored') valueSeen();
        },
      }).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(RotatorError);
      expect((error as RotatorError).code).toBe('TARGET_ERROR');
      expect((error as RotatorError).message).toMatch(new RegExp(`^the rotation of ${id} failed: the rotation function recorded TARGET_AUTH_FAILED in setSecret at .*AWSCURRENT did not move`));
      expect(seen.map((p) => p.phase)).toEqual(['requested', 'value-stored']);
      expect((await current(id)).versionId).toBe(before.versionId);
      const stages = (await sm.send(new DescribeSecretCommand({ SecretId: id }))).VersionIdsToStages ?? {};
      expect(stages[seen[0]?.versionId ?? '']).toEqual(['AWSPENDING']);
      expect(await logsIn(user, password)).toBe(true);
    });

    it('says the rotation may still be running when nothing moves before its deadline, and stops at once when aborted', async () => {
      const { id } = await seed();
      // The function hangs in its first step until the gate opens; after that every step returns at once.
      let open: () => void = () => undefined;
      const gate = new Promise<void>((resolve) => (open = resolve));
      interfere = () => gate;
      const started = Date.now();
      const error = await rotateViaService({ client: sm, store: store(), secretId: id, pollMs: 20, timeoutMs: 300 }).catch((e: unknown) => e);
      expect(Date.now() - started).toBeLessThan(5_000);
      expect(error).toBeInstanceOf(RotatorError);
      expect((error as RotatorError).code).toBe('ROTATION_IN_PROGRESS');
      expect((error as RotatorError).retryable).toBe(true);
      expect((error as RotatorError).message).toMatch(/is still running after 300ms: AWSCURRENT has not moved and no failure is recorded yet; check the rotation function's CloudWatch logs/);

      const other = await seed();
      const controller = new AbortController();
      const following = rotateViaService({ client: sm, store: store(), secretId: other.id, pollMs: 5_000, signal: controller.signal });
      setTimeout(() => controller.abort(new RotatorError('ROTATION_IN_PROGRESS', 'the caller gave up', { retryable: true })), 100);
      const aborted = await following.catch((e: unknown) => e);
      expect(Date.now() - started).toBeLessThan(4_000);
      expect((aborted as RotatorError).message).toBe('the caller gave up');
      open();
      await fake.idle();
    });

    it('refuses a time to follow outside 1 ms to 1 hour before calling the service', async () => {
      const { id } = await seed();
      fake.resetCounts();
      for (const timeoutMs of [0, -1, 1.5, 3_600_001]) {
        await expect(rotateViaService({ client: sm, store: store(), secretId: id, timeoutMs })).rejects.toThrow(/the time to follow a rotation must be 1 ms to 1h/);
      }
      expect(fake.count()).toBe(0);
    });
  });
});

// ---- Google ----

describe('rotator --store gcp://<project>', () => {
  const PROJECT = 'rotator-cli-cloud';
  let fake: SecretManagerFake;
  let google: GoogleClients;
  let admin: SecretManagerServiceClient;

  beforeAll(async () => {
    fake = await startSecretManagerFake({ project: PROJECT });
    google = {
      secretManager: (projectId) => {
        const o = fake.clientOptions();
        return createSecretManagerClient({ projectId, testOnly: { apiEndpoint: String(o.apiEndpoint), port: Number(o.port), sslCreds: o.sslCreds, auth: o.auth } });
      },
      scheduler: () => {
        throw new Error('no scheduler in this test');
      },
    };
    admin = google.secretManager(PROJECT);
  });

  afterAll(async () => {
    await admin.close();
    await fake.close();
  });

  const rotator = (args: string[]): Promise<CliRun> => runRotator(env, ['--store', `gcp://${PROJECT}`, ...args], '', { google });

  async function seed(): Promise<{ id: string; user: string; password: string; json: string }> {
    const r = await role('cli_gcp');
    const id = `cli-gcp-app-${counter}`;
    await createSeededSecretManagerSecret(admin, PROJECT, id, r.json);
    return { id, ...r };
  }

  it('lists, describes, gets and dry-run purges through the port, writing nothing (no lease annotation)', async () => {
    const { id, json } = await seed();
    const before = fake.calls.length;
    await readsOnEveryStore(rotator, id, json);
    const writes = fake.calls.slice(before).filter((c) => !/^(Get|Access|List)/.test(c.rpc));
    expect(writes).toEqual([]);
  });

  it('rotate runs self-driven under the annotation lease; `latest` then logs in, the old password does not', async () => {
    const { id, user, password } = await seed();
    const run = await rotator(['rotate', id]);
    expect(run.stderr).toBe('');
    expect(run.code).toBe(EXIT.OK);
    expect(run.stdout).toMatch(new RegExp(`^rotating ${id}\\n {2}createSecret +\\d+ ms\\n {2}setSecret +\\d+ ms\\n {2}testSecret +\\d+ ms\\n {2}finishSecret +\\d+ ms\\nrotated ${id}: CURRENT is now version `));
    const [latest] = await admin.accessSecretVersion({ name: `projects/${PROJECT}/secrets/${id}/versions/latest` });
    const value = Buffer.from(latest.payload?.data ?? '').toString('utf8');
    expect(await logsIn(user, passwordOf(value))).toBe(true);
    expect(await logsIn(user, password)).toBe(false);
    // The lease was taken and released: the annotation is gone.
    expect(Object.keys(fake.secret(id)?.annotations ?? {}).filter((k) => k.includes('lock'))).toEqual([]);
  });
});

// ---- Azure ----

describe('rotator --store azure://<vault>', () => {
  let fake: KeyVaultFake;
  let azurite: Azurite;
  let client: SecretClient;
  let azure: AzureClients;
  /** The vault alone: no lock container (read-only use needs none). */
  let vaultOnly: AzureClients;

  beforeAll(async () => {
    [fake, azurite] = await Promise.all([startKeyVaultFake(), startAzurite()]);
    client = fake.client();
    azure = { keyVault: () => fake.client(), lockContainer: () => azurite.containerClient('cli-locks') };
    vaultOnly = { keyVault: () => fake.client() };
  });

  afterAll(async () => {
    await fake.close();
    await azurite.stop();
  });

  const rotator = (args: string[], clients = azure): Promise<CliRun> => runRotator(env, ['--store', 'azure://kv-rotated', ...args], '', { azure: clients });

  async function seed(): Promise<{ id: string; user: string; password: string; json: string }> {
    const r = await role('cli_az');
    const id = `cli-az-app-${counter}`;
    await createSeededKeyVaultSecret(client, id, r.json, { rotation: { enabled: true } });
    return { id, ...r };
  }

  it('lists, describes, gets and dry-run purges through the port, writing nothing, with no lock container needed', async () => {
    const { id, json } = await seed();
    fake.resetCounts();
    await readsOnEveryStore((args) => rotator(args, vaultOnly), id, json);
    expect(fake.count('SetSecret') + fake.count('UpdateSecret') + fake.count('DeleteSecret')).toBe(0);
  });

  it('rotate runs self-driven under the blob lease; the latest version then logs in, the old password does not', async () => {
    const { id, user, password } = await seed();
    const run = await rotator(['rotate', id]);
    expect(run.stderr).toBe('');
    expect(run.code).toBe(EXIT.OK);
    expect(run.stdout).toMatch(new RegExp(`^rotating ${id}\\n {2}createSecret +\\d+ ms\\n {2}setSecret +\\d+ ms\\n {2}testSecret +\\d+ ms\\n {2}finishSecret +\\d+ ms\\nrotated ${id}: CURRENT is now version `));
    const latest = (await client.getSecret(id)).value ?? '';
    expect(await logsIn(user, passwordOf(latest))).toBe(true);
    expect(await logsIn(user, password)).toBe(false);
  });

  it('rotate without a lock container refuses, naming ROTATOR_LOCK_CONTAINER_URL, and changes nothing', async () => {
    const { id, user, password } = await seed();
    fake.resetCounts();
    const run = await rotator(['rotate', id], vaultOnly);
    expect(run.code).toBe(EXIT.USAGE);
    expect(run.stderr).toMatch(/INVALID_INPUT: rotating or purging cli-az-app-\d+ takes its rotation lock.*opened without one.*ROTATOR_LOCK_CONTAINER_URL/);
    expect(fake.count('SetSecret') + fake.count('UpdateSecret')).toBe(0);
    expect(await logsIn(user, password)).toBe(true);
  });
});
