import { randomBytes, randomUUID } from 'node:crypto';
import { CreateSecretCommand, PutSecretValueCommand } from '@aws-sdk/client-secrets-manager';
import { afterEach, describe, expect, it } from 'vitest';
import { createSecretReader } from '../../consumer/reader.js';
import { RotatorError } from '../../shared/errors.js';
import type { SecretStore } from '../../shared/store.js';
import { AwsSecretStore } from '../../stores/aws/index.js';
import { KeyVaultSecretStore, createSeededKeyVaultSecret, type BlobLeaseLock } from '../../stores/azure/index.js';
import { SecretManagerStore, createSecretManagerClient, createSeededSecretManagerSecret } from '../../stores/gcp/index.js';
import { startSecretsManagerFake } from '../fakes/aws/secrets-manager.js';
import { startKeyVaultFake } from '../fakes/azure/key-vault.js';
import { startSecretManagerFake } from '../fakes/gcp/secret-manager.js';
import { recordSecrets } from '../support/canary.js';

/**
 * The reader over each cloud store, through the real SDK client against the store's fake: it reads what consumers of
 * that cloud read, sees a new CURRENT after a refresh or once its TTL runs out, and the calls it makes are counted
 * where the service counts them. The version check costs one metadata call where the store has one (AWS:
 * DescribeSecret; Secret Manager: GetSecretVersion) and is a plain value read on Key Vault.
 */

const SECRET = 'reader-app';
const TTL = 60_000;

interface Cloud {
  store: SecretStore;
  seed(value: string): Promise<void>;
  /** Makes `value` the CURRENT consumers read, as a rotation (or, on AWS, the service's own put) does. */
  rotate(value: string): Promise<void>;
  /** Calls since the last reset: reads of a value, and the version check's metadata calls. */
  counts(): { values: number; checks: number };
  reset(): void;
  close(): Promise<void>;
}

/** Rotation through the port, as the engine does it once the target accepts the new value. */
async function rotateThroughPort(store: SecretStore, value: string): Promise<void> {
  const token = randomUUID();
  await store.startRotation(SECRET, token);
  await store.putPending(SECRET, token, value);
  await store.promote(SECRET, token);
}

const clouds: Record<string, () => Promise<Cloud>> = {
  'AWS Secrets Manager': async () => {
    const fake = await startSecretsManagerFake();
    const sm = fake.client();
    return {
      store: new AwsSecretStore({ client: sm }),
      seed: async (value) => {
        await sm.send(new CreateSecretCommand({ Name: SECRET, SecretString: value }));
      },
      rotate: async (value) => {
        await sm.send(new PutSecretValueCommand({ SecretId: SECRET, SecretString: value }));
      },
      counts: () => ({ values: fake.count('GetSecretValue'), checks: fake.count('DescribeSecret') }),
      reset: () => fake.resetCounts(),
      close: async () => {
        sm.destroy();
        await fake.close();
      },
    };
  },
  'Azure Key Vault': async () => {
    const fake = await startKeyVaultFake();
    const client = fake.client();
    // Rotations here go through the port without the engine, so the rotation lock is never taken.
    const lock: BlobLeaseLock = { durationSeconds: 15, lock: () => Promise.reject(new RotatorError('INTERNAL', 'the reader never takes the rotation lock')) };
    const store = new KeyVaultSecretStore({ client, lock });
    return {
      store,
      seed: async (value) => {
        await createSeededKeyVaultSecret(client, SECRET, value, { rotation: { enabled: true } });
      },
      rotate: (value) => rotateThroughPort(store, value),
      // GetSecret is also the value read; a version check through describe would list versions (GetSecretVersions).
      counts: () => ({ values: fake.count('GetSecret'), checks: fake.count('GetSecretVersions') }),
      reset: () => fake.resetCounts(),
      close: () => fake.close(),
    };
  },
  'Google Secret Manager': async () => {
    const fake = await startSecretManagerFake();
    const options = fake.clientOptions();
    const client = createSecretManagerClient({
      projectId: fake.project,
      testOnly: { apiEndpoint: options.apiEndpoint ?? '', port: options.port ?? 0, sslCreds: options.sslCreds, auth: options.auth },
    });
    const store = new SecretManagerStore({ client, projectId: fake.project });
    let since = 0;
    const count = (rpc: string) => fake.calls.slice(since).filter((c) => c.rpc === rpc).length;
    return {
      store,
      seed: async (value) => {
        await createSeededSecretManagerSecret(client, fake.project, SECRET, value);
      },
      rotate: (value) => rotateThroughPort(store, value),
      counts: () => ({ values: count('AccessSecretVersion'), checks: count('GetSecretVersion') }),
      reset: () => {
        since = fake.calls.length;
      },
      close: async () => {
        await client.close();
        await fake.close();
      },
    };
  },
};

/** The version check's calls for one TTL when CURRENT has not moved: one metadata call, or (Key Vault) the value. */
const CHECK_COST: Record<string, { values: number; checks: number }> = {
  'AWS Secrets Manager': { values: 0, checks: 1 },
  'Azure Key Vault': { values: 1, checks: 0 },
  'Google Secret Manager': { values: 0, checks: 1 },
};

function credential(): string {
  const password = `pw-${randomBytes(18).toString('base64url')}`;
  recordSecrets(password);
  return JSON.stringify({ username: 'app', password });
}

/** Whether the reader's answer is `expected`, without printing either (they are secrets). */
const matches = (actual: string, expected: string): boolean => actual === expected;

let cloud: Cloud | undefined;
afterEach(async () => {
  await cloud?.close();
  cloud = undefined;
});

describe.each(Object.keys(clouds))('the reader on %s', (name) => {
  const start = async (): Promise<Cloud> => {
    const make = clouds[name];
    if (make === undefined) throw new Error(`no cloud ${name}`);
    cloud = await make();
    return cloud;
  };

  it('reads CURRENT once per TTL, and a new CURRENT after refresh()', async () => {
    const c = await start();
    const first = credential();
    await c.seed(first);
    let clock = 0;
    const reader = createSecretReader({ store: c.store, secretId: SECRET, ttlMs: TTL, staleMs: 0, now: () => clock });
    c.reset();
    expect(matches(await reader.get(), first)).toBe(true);
    expect((await reader.getJson()).username).toBe('app');
    expect(c.counts().values).toBe(1);

    const second = credential();
    await c.rotate(second);
    c.reset();
    expect(matches(await reader.get(), first)).toBe(true); // fresh: no call
    expect(c.counts()).toEqual({ values: 0, checks: 0 });
    expect(matches(await reader.refresh(), second)).toBe(true);
    expect(matches(await reader.get(), second)).toBe(true);
    expect(c.counts()).toEqual({ values: 1, checks: 0 });

    const third = credential();
    await c.rotate(third);
    clock += TTL;
    expect(matches(await reader.get(), third)).toBe(true);
  });

  it('checks the version with one metadata call while CURRENT stays, and reads the value once it moves', async () => {
    const c = await start();
    await c.seed(credential());
    await c.rotate(credential()); // a rotated secret: on Secret Manager the alias `current` exists from here on
    let clock = 0;
    const reader = createSecretReader({ store: c.store, secretId: SECRET, ttlMs: TTL, staleMs: 0, versionCheck: true, now: () => clock });
    await reader.get();
    c.reset();
    clock += TTL;
    await reader.get();
    expect(c.counts()).toEqual(CHECK_COST[name]);

    const next = credential();
    await c.rotate(next);
    c.reset();
    clock += TTL;
    expect(matches(await reader.get(), next)).toBe(true);
    // The check saw CURRENT move: its answer is the new value's stamp, and the value is read once.
    expect(c.counts()).toEqual({ values: 1, checks: CHECK_COST[name]?.checks });
  });
});
