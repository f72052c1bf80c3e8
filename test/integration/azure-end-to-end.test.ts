import { format } from 'node:util';
import azureFunctions from '@azure/functions';
import type { SecretClient } from '@azure/keyvault-secrets';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createAzureHandlers, type AzureHandlers } from '../../functions/azure/register.js';
import type { Rotator } from '../../shared/rotator.js';
import type { SecretInfo, SecretStore, Strategy } from '../../shared/store.js';
import { KeyVaultSecretStore, createBlobLeaseLock, createSeededKeyVaultSecret } from '../../stores/azure/index.js';
import { startKeyVaultFake, type KeyVaultFake } from '../fakes/azure/key-vault.js';
import { startAzurite, type Azurite } from '../support/azurite.js';
import { nearExpiryEvent, recordingHandlers } from '../support/azure-events.js';
import { recordOutput, recordSecretValue, recordSecrets } from '../support/canary.js';
import { rotatorWith, storeWith } from '../support/stores.js';
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

interface HandlerOptions {
  safeWindowMs?: number;
  /** Wraps the store the functions see (a crash injected at one call). */
  wrap?: (store: SecretStore) => SecretStore;
  /** Wraps the rotator (a crash right after the database changed). */
  wrapRotator?: (rotator: Rotator) => Rotator;
  clock?: () => Date;
  /** Only secrets whose names start with this (the vault is shared by every test of the file). */
  namePrefix?: string;
}

/** One lock container for the whole file: every app instance of a test shares it, as they share the account. */
const LOCKS = 'e2e-locks';

function handlers(target: TestTarget, options: HandlerOptions = {}): AzureHandlers {
  const lock = createBlobLeaseLock({ container: azurite.containerClient(LOCKS), durationSeconds: 15 });
  const store = new KeyVaultSecretStore({ client, lock, ...(options.namePrefix === undefined ? {} : { namePrefix: options.namePrefix }) });
  return recordingHandlers(createAzureHandlers({
    store: options.wrap?.(store) ?? store,
    dueSecretIds: (now) => store.dueSecretIds(now),
    rotators: [options.wrapRotator?.(target.rotator()) ?? target.rotator()],
    scope: { vaultName: VAULT },
    defaultStrategy: 'single-user',
    retention: { safeWindowMs: options.safeWindowMs ?? 7 * 86_400_000, keepSuperseded: 0 },
    logLevel: 'debug',
    env: {},
    ...(options.clock === undefined ? {} : { clock: options.clock }),
  }));
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
  return nearExpiryEvent(name, VAULT);
}

function password(): string {
  const p = `E2e-${counter}-${Math.random().toString(36).slice(2)}-pw`;
  recordSecrets(p);
  return p;
}

/** The secret as `rotator status` sees it (describe needs no lock). */
function describeSecret(name: string): Promise<SecretInfo> {
  return new KeyVaultSecretStore({ client, lock: createBlobLeaseLock({ container: azurite.containerClient(LOCKS) }) }).describe(name);
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

/** A database user and its secret in the vault (with a master secret for alternating users), rotation on. */
async function seed(target: TestTarget, strategy: Strategy, everyMs?: number): Promise<{ name: string; user: string; initial: string }> {
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
  const rotation = { enabled: true, strategy, ...(everyMs === undefined ? {} : { schedule: { kind: 'rate' as const, everyMs } }) };
  await createSeededKeyVaultSecret(client, name, JSON.stringify(value), { rotation });
  return { name, user, initial };
}

const cases = testTargets().flatMap((target) => (['single-user', 'alternating-users'] as Strategy[]).map((strategy) => ({ target, strategy, engine: target.engine })));

describe.each(cases)('$engine, $strategy: the Azure functions on Key Vault and Azurite', ({ target, strategy }) => {
  it('rotates on a near-expiry event and on rotate-now, consumers always read a working credential, and purge disables only what is past the window', async () => {
    const { name, user, initial } = await seed(target, strategy);

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

    // Inside the safe window (7 days) nothing is retired.
    await handlers(target).purge({ isPastDue: false }, context('purge'));
    expect(await enabledVersions(name)).toBe(3);
    // A window of zero: both superseded versions are past it; CURRENT stays, and still logs in.
    await handlers(target, { safeWindowMs: 0 }).purge({ isPastDue: false }, context('purge'));
    expect(await enabledVersions(name)).toBe(1);
    const after = await latest(name);
    expect(after).toEqual(second);
    expect(await target.logsIn(after.username, after.password)).toBe(true);
    if (strategy === 'alternating-users') expect(await target.logsIn(first.username, first.password)).toBe(false);
    expect(lines.filter((l) => l.startsWith('error'))).toEqual([]);
  });
});

class Crash extends Error {}

/** Where a rotation can die: before or after each store write, and after the database changed. */
const CRASHES: ReadonlyArray<readonly [string, (store: SecretStore) => SecretStore]> = [
  ['before putPending', (store) => storeWith(store, { putPending: () => Promise.reject(new Crash('before putPending')) })],
  ['after putPending', (store) => storeWith(store, { putPending: async (...args) => { await store.putPending(...args); throw new Crash('after putPending'); } })],
  ['before promote', (store) => storeWith(store, { promote: () => Promise.reject(new Crash('before promote')) })],
  ['after promote', (store) => storeWith(store, { promote: async (...args) => { await store.promote(...args); throw new Crash('after promote'); } })],
];

describe.each(cases)('$engine, $strategy: crashes, races and the sweep through the Azure functions', ({ target, strategy }) => {
  it.each(CRASHES)('a crash %s: consumers keep a working credential, and the redelivered event converges', async (_where, crash) => {
    const { name } = await seed(target, strategy);
    const event = nearExpiry(name);
    await handlers(target, { wrap: crash }).secretNearExpiry(event, context('secretNearExpiry')).catch(() => undefined);
    // Alternating users: CURRENT logs in at every instant. Single-user has its documented window: a crash between
    // setSecret and promote leaves the old password in latest until the retry promotes the new one.
    const during = await latest(name);
    if (strategy === 'alternating-users') expect(await target.logsIn(during.username, during.password)).toBe(true);
    // The failure is recorded on the secret (a tag on the latest version) for `status`, whichever runner failed.
    const failed = await describeSecret(name);
    if (_where !== 'after promote') expect(failed.lastError).toMatchObject({ code: 'INTERNAL', step: _where === 'before promote' ? 'finishSecret' : 'createSecret' });
    expect(failed.tags).toEqual({});
    const retried = await handlers(target).secretNearExpiry(event, context('secretNearExpiry'));
    expect(['rotated', 'resumed', 'already-rotated']).toContain((retried as { outcome: string }).outcome);
    const after = await latest(name);
    expect(await target.logsIn(after.username, after.password)).toBe(true);
    // The rotation that succeeded cleared it (its promotion wrote a version without the tag).
    if (_where !== 'after promote') expect((await describeSecret(name)).lastError).toBeUndefined();
  });

  it.each(CRASHES.filter(([where]) => where !== 'after promote'))('a crash %s leaves the untested PENDING value where no consumer reads it', async (_where, crash) => {
    const { name } = await seed(target, strategy);
    await handlers(target, { wrap: crash }).secretNearExpiry(nearExpiry(name), context('secretNearExpiry')).catch(() => undefined);
    const pending = await client.getSecret(`${name}-rotator-pending`).then(
      (secret) => JSON.parse(secret.value ?? '{}') as { password?: string },
      () => undefined,
    );
    if (pending?.password !== undefined) recordSecrets(pending.password);
    expect((await latest(name)).password).not.toBe(pending?.password);
  });

  it('a crash right after the database accepted the new credential (before testSecret): the redelivered event converges', async () => {
    const { name } = await seed(target, strategy);
    const event = nearExpiry(name);
    const dying = (rotator: Rotator): Rotator =>
      rotatorWith(rotator, {
        set: async (...args: Parameters<Rotator['set']>) => {
          await rotator.set(...args);
          throw new Crash('after setSecret');
        },
      });
    await handlers(target, { wrapRotator: dying }).secretNearExpiry(event, context('secretNearExpiry')).catch(() => undefined);
    expect(await handlers(target).secretNearExpiry(event, context('secretNearExpiry'))).toMatchObject({ outcome: 'resumed' });
    const after = await latest(name);
    expect(await target.logsIn(after.username, after.password)).toBe(true);
  });

  it('two concurrent near-expiry events: one rotation, the other is told to retry and then finds it done', async () => {
    const { name } = await seed(target, strategy);
    const event = nearExpiry(name);
    const results = await Promise.allSettled([handlers(target).secretNearExpiry(event, context('secretNearExpiry')), handlers(target).secretNearExpiry(event, context('secretNearExpiry'))]);
    expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
    expect(results.find((r): r is PromiseRejectedResult => r.status === 'rejected')?.reason).toMatchObject({ code: 'ROTATION_IN_PROGRESS' });
    expect(await handlers(target).secretNearExpiry(event, context('secretNearExpiry'))).toMatchObject({ outcome: 'already-rotated' });
    expect(await enabledVersions(name)).toBe(2);
  });

  it('the sweep rotates a secret whose interval is up, found from the vault alone', async () => {
    const interval = 30 * 86_400_000;
    const { name, initial } = await seed(target, strategy, interval);
    await handlers(target).rotate(new HttpRequest({ method: 'POST', url: `http://localhost:7071/api/rotate/${name}`, params: { secretId: name } }), context('rotate'));
    const first = await latest(name);
    expect(first.password).not.toBe(initial);
    // A day after the interval is up: the version's exp (interval + 30 days) is less than 30 days away.
    const later = new Date(Date.now() + interval + 86_400_000);
    await handlers(target, { clock: () => later, namePrefix: name }).rotateSweep({ isPastDue: false }, context('rotateSweep'));
    const second = await latest(name);
    expect(second.password).not.toBe(first.password);
    expect(await target.logsIn(second.username, second.password)).toBe(true);
  });
});
