import { format } from 'node:util';
import azureFunctions from '@azure/functions';
import type { SecretClient } from '@azure/keyvault-secrets';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createAzureHandlers, type AzureHandlers } from '../../functions/azure/register.js';
import type { Strategy } from '../../shared/store.js';
import { KeyVaultSecretStore, createBlobLeaseLock, createSeededKeyVaultSecret } from '../../stores/azure/index.js';
import { startKeyVaultFake, type KeyVaultFake } from '../fakes/azure/key-vault.js';
import { startAzurite, type Azurite } from '../support/azurite.js';
import { recordOutput, recordSecretValue, recordSecrets } from '../support/canary.js';
import { testTargets, type TestTarget } from '../support/targets.js';

/**
 * The whole Azure path: the four functions, the Key Vault store through the real SecretClient against the Key Vault
 * fake, the rotation lock on Azurite, and real PostgreSQL and MariaDB credentials, single-user and alternating. What a
 * consumer reads (the latest version, a versionless GET) is checked to log in after every step of the way.
 */
const { InvocationContext, HttpRequest } = azureFunctions;
const VAULT = 'sample-kv';

let azurite: Azurite;
let fake: KeyVaultFake;
let client: SecretClient;
let counter = 0;
const lines: string[] = [];

beforeAll(async () => {
  azurite = await startAzurite();
  fake = await startKeyVaultFake();
  client = fake.client();
});

afterAll(async () => {
  await fake.close();
  await azurite.stop();
});

function handlers(target: TestTarget, safeWindowMs = 7 * 86_400_000): AzureHandlers {
  counter += 1;
  const lock = createBlobLeaseLock({ container: azurite.containerClient(`e2e-locks-${counter}`), durationSeconds: 15 });
  const store = new KeyVaultSecretStore({ client, lock });
  return createAzureHandlers({
    store,
    dueSecretIds: (now) => store.dueSecretIds(now),
    rotators: [target.rotator()],
    scope: { vaultName: VAULT },
    defaultStrategy: 'single-user',
    retention: { safeWindowMs, keepSuperseded: 0 },
    logLevel: 'debug',
    env: {},
  });
}

function context(functionName: string): InstanceType<typeof InvocationContext> {
  counter += 1;
  return new InvocationContext({
    invocationId: `e2e-${counter}`,
    functionName,
    logHandler: (level, ...args) => {
      const text = `${level} ${format(...args)}`;
      lines.push(text);
      recordOutput(text + '\n');
    },
  });
}

function nearExpiry(name: string): Record<string, unknown> {
  const time = new Date();
  return {
    id: `evt-${name}-${time.getTime()}`,
    source: `/subscriptions/s/resourceGroups/rg/providers/Microsoft.KeyVault/vaults/${VAULT}`,
    subject: name,
    type: 'Microsoft.KeyVault.SecretNearExpiry',
    time: time.toISOString(),
    specversion: '1.0',
    data: { Id: `https://${VAULT}.vault.azure.net/secrets/${name}/0123456789abcdef0123456789abcdef`, VaultName: VAULT, ObjectType: 'Secret', ObjectName: name, NBF: '1559081980', EXP: 1559082102 },
  };
}

function password(): string {
  const p = `E2e-${counter}-${Math.random().toString(36).slice(2)}-pw`;
  recordSecrets(p);
  return p;
}

/** What a consumer reads: the latest version of the main secret. */
async function latest(name: string): Promise<{ username: string; password: string }> {
  const value = (await client.getSecret(name)).value ?? '';
  recordSecretValue(value);
  return JSON.parse(value) as { username: string; password: string };
}

async function enabledVersions(name: string): Promise<number> {
  let n = 0;
  for await (const version of client.listPropertiesOfSecretVersions(name)) if (version.enabled !== false) n += 1;
  return n;
}

const cases = testTargets().flatMap((target) => (['single-user', 'alternating-users'] as Strategy[]).map((strategy) => ({ target, strategy, engine: target.engine })));

describe.each(cases)('$engine, $strategy: the Azure functions on Key Vault and Azurite', ({ target, strategy }) => {
  it('rotates on a near-expiry event and on rotate-now, consumers always read a working credential, and purge disables only what is past the window', async () => {
    counter += 1;
    const name = `e2e-${target.engine}-${strategy === 'single-user' ? 'single' : 'alt'}-${counter}`;
    const user = name.replaceAll('-', '_');
    const initial = password();
    await target.createUser(user, initial);
    let value = target.secret(user, initial);
    if (strategy === 'alternating-users') {
      const master = target.secret(`${user}_m`, password());
      await target.createUser(master.username as string, master.password as string, { master: true });
      await createSeededKeyVaultSecret(client, `${name}-master`, JSON.stringify(master), { rotation: { enabled: false } });
      value = { ...value, masterarn: `${name}-master` };
    }
    await createSeededKeyVaultSecret(client, name, JSON.stringify(value), { rotation: { enabled: true, strategy } });

    const h = handlers(target);
    expect(await h.secretNearExpiry(nearExpiry(name), context('secretNearExpiry'))).toMatchObject({ outcome: 'rotated' });
    const first = await latest(name);
    expect(first.password).not.toBe(initial);
    expect(await target.logsIn(first.username, first.password)).toBe(true);
    // single-user replaces the password; alternating leaves the previous user working until the purger.
    expect(await target.logsIn(user, initial)).toBe(strategy === 'alternating-users');

    const res = await h.rotate(new HttpRequest({ method: 'POST', url: `http://localhost:7071/api/rotate/${name}`, params: { secretId: name } }), context('rotate'));
    expect(res.status).toBe(200);
    const second = await latest(name);
    expect(second.password).not.toBe(first.password);
    expect(await target.logsIn(second.username, second.password)).toBe(true);
    expect(await enabledVersions(name)).toBe(3);

    // A window of zero: both superseded versions are past it; CURRENT stays, and still logs in.
    await handlers(target, 0).purge({ isPastDue: false }, context('purge'));
    expect(await enabledVersions(name)).toBe(1);
    const after = await latest(name);
    expect(after).toEqual(second);
    expect(await target.logsIn(after.username, after.password)).toBe(true);
    if (strategy === 'alternating-users') expect(await target.logsIn(first.username, first.password)).toBe(false);
    expect(lines.filter((l) => l.startsWith('error'))).toEqual([]);
  });
});
