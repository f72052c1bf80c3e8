import type { SecretClient } from '@azure/keyvault-secrets';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { RotationEngine } from '../../shared/engine.js';
import { RotatorError, isRotatorError } from '../../shared/errors.js';
import type { Rotator } from '../../shared/rotator.js';
import { scheduleState } from '../../shared/schedule.js';
import type { Strategy } from '../../shared/store.js';
import {
  KEY_VAULT_MAX_VALUE_BYTES,
  KV_TAG,
  KeyVaultSecretStore,
  PENDING_SECRET_SUFFIX,
  createBlobLeaseLock,
  createSeededKeyVaultSecret,
  leaseBlobName,
  type BlobLease,
  type BlobLeaseLock,
  type KeyVaultRotationSettings,
} from '../../stores/azure/index.js';
import { MAX_VALUE_BYTES, startKeyVaultFake, type KeyVaultFake } from '../fakes/azure/key-vault.js';
import { startAzurite, type Azurite } from '../support/azurite.js';
import { canaryLogger, recordSecretValue, recordSecrets } from '../support/canary.js';
import { MemoryTarget } from '../support/memory-target.js';
import { codeOf, describeStoreContract } from '../support/store-contract.js';
import { rotatorWith, storeWith } from '../support/stores.js';
import { testTargets } from '../support/targets.js';

/**
 * The Key Vault store through the real SecretClient against the Key Vault fake (test/fakes/azure/key-vault.ts:
 * unordered version lists, whole-second dates, per-version tags, 403 for disabled versions), with its rotation lock on
 * Azurite: the shared store contract, unchanged; what is particular to Key Vault (consumers read the latest version,
 * tags carried forward, expiry from the interval, retire = disable, versions written by others); and whole rotations
 * of a real PostgreSQL credential.
 */
const LEASE_S = 15;
let azurite: Azurite;
let containers = 0;

beforeAll(async () => {
  azurite = await startAzurite();
});
afterAll(async () => {
  await azurite.stop();
});

function freshLock(): { lock: BlobLeaseLock; container: string } {
  containers += 1;
  const container = `kv-locks-${containers}`;
  return { lock: createBlobLeaseLock({ container: azurite.containerClient(container), durationSeconds: LEASE_S }), container };
}

/** Hands every value the fake holds to the leak canary (read here, never printed). */
async function harvest(client: SecretClient): Promise<void> {
  for await (const secret of client.listPropertiesOfSecrets()) {
    for await (const version of client.listPropertiesOfSecretVersions(secret.name)) {
      if (version.enabled === false) continue;
      const value = (await client.getSecret(secret.name, { version: version.version ?? '' })).value;
      if (value !== undefined) recordSecretValue(value);
    }
  }
}

/** The client with every call after the main secret's promotion write failing: a process killed right after it. */
function crashingAfterWrite(client: SecretClient, secretId: string): SecretClient {
  let crashed = false;
  return new Proxy(client, {
    get(target, name) {
      const member: unknown = Reflect.get(target, name);
      if (typeof member !== 'function') return member;
      return (...args: unknown[]) => {
        if (crashed) throw new Error('simulated crash');
        const result = (member as (...a: unknown[]) => unknown).apply(target, args);
        if (name === 'setSecret' && args[0] === secretId) {
          return (result as Promise<unknown>).then((out) => {
            crashed = true;
            return out;
          });
        }
        return result;
      };
    },
  });
}


describeStoreContract('Key Vault store on the Key Vault fake and Azurite', async () => {
  const fake = await startKeyVaultFake();
  const client = fake.client();
  const { lock, container } = freshLock();
  const store = new KeyVaultSecretStore({ client, lock });
  return {
    store,
    seed: async (secretId, value, tags) => {
      recordSecretValue(value);
      await createSeededKeyVaultSecret(client, secretId, value, { ...(tags === undefined ? {} : { tags }), rotation: { enabled: true } });
    },
    // A holder that took the lease and died: its renewal timer never fires, so the lease runs out after LEASE_S.
    abandonLock: async (secretId) => {
      const dead = createBlobLeaseLock({
        container: azurite.containerClient(container),
        durationSeconds: LEASE_S,
        timers: { setTimeout: () => ({}), clearTimeout: () => undefined },
      });
      await dead.lock(secretId);
    },
    lockExpiryMs: (LEASE_S + 5) * 1000,
    interruptPromote: async (secretId, token) => {
      const dying = new KeyVaultSecretStore({ client: crashingAfterWrite(client, secretId), lock });
      await dying.promote(secretId, token).catch(() => undefined);
      // The write happened and the bookkeeping did not: the companion still holds an enabled copy of the value.
      expect(fake.versions(secretId)?.at(-1)?.tags[KV_TAG.token]).toBe(token);
      expect(fake.versions(`${secretId}${PENDING_SECRET_SUFFIX}`)?.some((v) => v.enabled && v.tags[KV_TAG.token] === token)).toBe(true);
    },
    dispose: async () => {
      await harvest(client);
      await fake.close();
    },
  };
});

// ---- what is particular to Key Vault ----

const SECRET = 'kv-app';
const initial = { engine: 'memory', host: 'db.local', username: 'app', password: 'initial-password-kv-1' };

describe('KeyVaultSecretStore: what is particular to Key Vault', () => {
  let fake: KeyVaultFake;
  let client: SecretClient;
  let lock: BlobLeaseLock;
  let target: MemoryTarget;
  let now: Date;
  let store: KeyVaultSecretStore;

  beforeEach(async () => {
    fake = await startKeyVaultFake();
    client = fake.client();
    lock = freshLock().lock;
    target = new MemoryTarget();
    target.logins.set(initial.username, initial.password);
    now = new Date('2030-01-01T00:00:00.000Z');
    store = new KeyVaultSecretStore({ client, lock, clock: () => now });
  });
  afterEach(async () => {
    await harvest(client);
    await fake.close();
  });

  async function seed(rotation: KeyVaultRotationSettings = { enabled: true }, tags: Record<string, string> = {}, name = SECRET): Promise<string> {
    recordSecretValue(JSON.stringify(initial));
    return createSeededKeyVaultSecret(client, name, JSON.stringify(initial), { tags, rotation, contentType: 'application/json', clock: () => now });
  }

  function engine(rotator: Rotator = target): RotationEngine {
    return new RotationEngine({ store, rotators: [rotator], logger: canaryLogger(), env: {} });
  }

  /** The version of the main secret whose rotator-token tag is `token`. */
  function kvVersionOf(token: string): string | undefined {
    return fake.versions(SECRET)?.find((v) => v.tags[KV_TAG.token] === token)?.id;
  }

  it('a consumer reading the latest version never gets a value that has not passed testSecret, at any point of three rotations', async () => {
    await seed();
    const tested = new Set<string>([initial.password]);
    const slow = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
    const rotator = rotatorWith(target, {
      set: async (input) => {
        await target.set(input);
        await slow(60);
      },
      test: async (pending) => {
        await slow(60);
        await target.test(pending);
        tested.add(pending.password as string); // from here on it may be read
      },
    });
    const done = new AbortController();
    const seen: string[] = [];
    const untested: string[] = [];
    const reader = (async () => {
      while (!done.signal.aborted) {
        // A consumer: the versionless GET, not the store.
        const { password } = JSON.parse((await client.getSecret(SECRET)).value ?? '{}') as { password: string };
        seen.push(password);
        if (!tested.has(password)) untested.push(password);
        await slow(5);
      }
    })();
    try {
      for (let i = 0; i < 3; i++) await engine(rotator).rotate(SECRET);
    } finally {
      done.abort();
      await reader;
    }
    expect(untested).toEqual([]);
    expect(new Set(seen).size).toBeGreaterThanOrEqual(3); // the reader saw the rotations happen
    expect(seen.length).toBeGreaterThan(20);
    // Every PENDING value went to the companion, none to the main secret before it was tested.
    expect(fake.versions(SECRET)).toHaveLength(4);
  });

  it('carries the secret\'s tags and settings forward across three rotations, and chains PREVIOUS by tag', async () => {
    const rotation = { enabled: true, strategy: 'single-user' as Strategy, safeWindowMs: 7 * 86_400_000, keepSuperseded: 2, schedule: { kind: 'rate' as const, everyMs: 90 * 86_400_000 } };
    await seed(rotation, { team: 'payments', 'cost-center': 'cc-42' });
    const tokens: string[] = [];
    for (let i = 0; i < 3; i++) {
      now = new Date(now.getTime() + 86_400_000);
      tokens.push((await engine().rotate(SECRET)).versionId);
      const latest = fake.versions(SECRET)?.at(-1);
      expect(latest?.tags).toMatchObject({
        team: 'payments',
        'cost-center': 'cc-42',
        [KV_TAG.enabled]: 'true',
        [KV_TAG.strategy]: 'single-user',
        [KV_TAG.safeWindow]: '7d',
        [KV_TAG.keep]: '2',
        [KV_TAG.interval]: '90d',
        [KV_TAG.token]: tokens[i],
        [KV_TAG.promotedAt]: now.toISOString(),
      });
      expect(latest?.tags[KV_TAG.pending]).toBeUndefined();
      const info = await store.describe(SECRET);
      expect(info.tags).toEqual({ team: 'payments', 'cost-center': 'cc-42' });
      expect(info.rotation).toEqual({ enabled: true, strategy: 'single-user', safeWindowMs: 7 * 86_400_000, keepSuperseded: 2, schedule: { kind: 'rate', everyMs: 90 * 86_400_000 } });
      expect(info.versions.find((v) => v.stages.includes('CURRENT'))?.versionId).toBe(tokens[i]);
      expect(info.versions.find((v) => v.stages.includes('CURRENT'))?.promotedAt).toEqual(now);
    }
    const info = await store.describe(SECRET);
    expect(info.versions.map((v) => v.versionId).slice(1)).toEqual(tokens); // oldest first, though listed unordered
    expect(info.versions.find((v) => v.stages.includes('PREVIOUS'))?.versionId).toBe(tokens[1]);
    expect(fake.versions(SECRET)?.at(-1)?.tags[KV_TAG.previous]).toBe(tokens[1]);
    // The old versions kept no marker, and the companion keeps no readable copy of a promoted value.
    expect(fake.versions(SECRET)?.some((v) => v.tags[KV_TAG.pending] !== undefined)).toBe(false);
    expect(fake.versions(`${SECRET}${PENDING_SECRET_SUFFIX}`)?.every((v) => !v.enabled)).toBe(true);
  });

  it('sets expiresOn from the interval, so SecretNearExpiry fires when it is up; dueSecretIds follows it', async () => {
    await seed({ enabled: true, schedule: { kind: 'rate', everyMs: 90 * 86_400_000 } });
    await seed({ enabled: true }, {}, 'kv-no-interval');
    await seed({ enabled: false, schedule: { kind: 'rate', everyMs: 86_400_000 } }, {}, 'kv-detached');
    const seededExp = fake.versions(SECRET)?.at(-1)?.exp ?? 0;
    expect(seededExp).toBe(Math.floor(now.getTime() / 1000) + 120 * 86_400);
    const promotedAt = new Date(now.getTime() + 5 * 86_400_000);
    now = promotedAt;
    await engine().rotate(SECRET);
    const exp = fake.versions(SECRET)?.at(-1)?.exp;
    expect(exp).toBe(Math.floor(promotedAt.getTime() / 1000) + 120 * 86_400); // promotion + 90 d + 30 d
    await engine().rotate('kv-no-interval');
    expect(fake.versions('kv-no-interval')?.at(-1)?.exp).toBeUndefined();
    const day = 86_400_000;
    expect(await store.dueSecretIds(new Date(promotedAt.getTime() + 89 * day))).toEqual([]);
    expect(await store.dueSecretIds(new Date(promotedAt.getTime() + 90 * day))).toEqual([SECRET]);
    // The sweep also lists the companion-free, attached secrets only.
    expect((await store.listSecretIds()).sort()).toEqual([SECRET, 'kv-no-interval']);
    expect(await new KeyVaultSecretStore({ client, lock, namePrefix: 'KV-NO' }).listSecretIds()).toEqual(['kv-no-interval']);
  });

  it('a secret with an interval but no expiry is due once the interval has passed since its promotion', async () => {
    await seed({ enabled: true });
    await engine().rotate(SECRET);
    const latest = fake.versions(SECRET)?.at(-1);
    // Attached later with an interval but no expiry on the current version (a tag set by hand).
    await client.updateSecretProperties(SECRET, latest?.id ?? '', { tags: { ...latest?.tags, [KV_TAG.interval]: '30d' } });
    expect(await store.dueSecretIds(new Date(now.getTime() + 29 * 86_400_000))).toEqual([]);
    expect(await store.dueSecretIds(new Date(now.getTime() + 30 * 86_400_000))).toEqual([SECRET]);
  });

  it('retire disables a superseded version: the latest stays readable, the version is gone from describe and unreadable by id', async () => {
    const seeded = await seed();
    const first = (await engine().rotate(SECRET)).versionId;
    const second = (await engine().rotate(SECRET)).versionId;
    await store.retire(SECRET, seeded);
    expect(fake.versions(SECRET)?.find((v) => v.id === seeded)?.enabled).toBe(false);
    const info = await store.describe(SECRET);
    expect(info.versions.map((v) => [v.versionId, v.stages])).toEqual([
      [first, ['PREVIOUS']],
      [second, ['CURRENT']],
    ]);
    expect(await codeOf(store.getValue(SECRET, { versionId: seeded }))).toBe('VERSION_NOT_FOUND');
    await store.retire(SECRET, seeded); // already disabled: a no-op
    expect(await codeOf(store.retire(SECRET, second))).toBe('INVALID_INPUT');
    await store.retire(SECRET, first);
    expect(await codeOf(store.getValue(SECRET, { stage: 'PREVIOUS' }))).toBe('VERSION_NOT_FOUND');
    const { password } = JSON.parse((await client.getSecret(SECRET)).value ?? '{}') as { password: string };
    expect(target.logins.get('app')).toBe(password);
    expect(await codeOf(store.retire(SECRET, 'no-such-version'))).toBe('VERSION_NOT_FOUND');
  });

  it('adopts a version someone else wrote (the portal): named by its Key Vault id, rotated from, and PREVIOUS after', async () => {
    await seed({ enabled: true, strategy: 'single-user' }, { team: 'payments' });
    await engine().rotate(SECRET);
    const byHand = { ...initial, password: 'set-by-hand-in-the-portal-1' };
    recordSecrets(byHand.password);
    target.logins.set('app', byHand.password);
    const written = await client.setSecret(SECRET, JSON.stringify(byHand)); // no tags: the portal writes none
    const kvId = written.properties.version ?? '';
    expect(kvId).toMatch(/^[0-9a-f]{32}$/);
    const info = await store.describe(SECRET);
    expect(info.versions.find((v) => v.stages.includes('CURRENT'))?.versionId).toBe(kvId);
    expect(info.versions.some((v) => v.stages.includes('PREVIOUS'))).toBe(false);
    expect(info.rotation).toMatchObject({ enabled: true, strategy: 'single-user' }); // settings of the newest version that has them
    expect(await store.getValue(SECRET, { versionId: kvId, stage: 'CURRENT' })).toBe(JSON.stringify(byHand));
    expect(await store.listSecretIds()).toEqual([SECRET]); // still swept, though its latest version has no tags
    const report = await engine().rotate(SECRET);
    const after = await store.describe(SECRET);
    expect(after.versions.find((v) => v.stages.includes('PREVIOUS'))?.versionId).toBe(kvId);
    expect(after.versions.find((v) => v.stages.includes('CURRENT'))?.versionId).toBe(report.versionId);
    expect(fake.versions(SECRET)?.at(-1)?.tags).toMatchObject({ [KV_TAG.enabled]: 'true', [KV_TAG.strategy]: 'single-user', [KV_TAG.previous]: kvId });
  });

  it('maps each token to its own Key Vault version, both ways', async () => {
    const seeded = await seed();
    const tokens = [(await engine().rotate(SECRET)).versionId, (await engine().rotate(SECRET)).versionId];
    for (const token of tokens) {
      const kv = kvVersionOf(token);
      expect(kv).toMatch(/^[0-9a-f]{32}$/);
      expect(await store.getValue(SECRET, { versionId: token })).toBe((await client.getSecret(SECRET, { version: kv ?? '' })).value);
    }
    expect(await store.getValue(SECRET, { versionId: seeded })).toBe(JSON.stringify(initial));
    expect((await store.describe(SECRET)).versions.map((v) => v.versionId)).toEqual([seeded, ...tokens]);
    // A token that looks like a Key Vault id is refused before any call.
    fake.resetCounts();
    expect(await codeOf(store.startRotation(SECRET, 'a'.repeat(32)))).toBe('INVALID_INPUT');
    expect(fake.count()).toBe(0);
  });

  it('a cancelled rotation\'s value stays in the companion as an unlabelled version until retire disables it there', async () => {
    await seed();
    const value = JSON.stringify({ ...initial, password: 'cancelled-password-kv-1' });
    recordSecrets('cancelled-password-kv-1');
    await store.startRotation(SECRET, 'kv-token-cancel');
    await store.putPending(SECRET, 'kv-token-cancel', value);
    expect(await store.cancelRotation(SECRET)).toBe('kv-token-cancel');
    expect(fake.versions(SECRET)?.[0]?.tags[KV_TAG.pending]).toBeUndefined();
    const info = await store.describe(SECRET);
    expect(info.versions.at(-1)).toMatchObject({ versionId: 'kv-token-cancel', stages: [], hasValue: true });
    await store.retire(SECRET, 'kv-token-cancel');
    expect(fake.versions(`${SECRET}${PENDING_SECRET_SUFFIX}`)?.map((v) => v.enabled)).toEqual([false]);
    expect(await codeOf(store.getValue(SECRET, { versionId: 'kv-token-cancel' }))).toBe('VERSION_NOT_FOUND');
    expect((await store.describe(SECRET)).versions).toHaveLength(1);
    // The next rotation is not disturbed by it.
    await engine().rotate(SECRET);
    expect((await store.describe(SECRET)).versions.map((v) => v.stages)).toEqual([['PREVIOUS'], ['CURRENT']]);
  });

  it('a blob lease lost mid-rotation (broken on the service) stops the rotation before anything is promoted', async () => {
    await seed();
    const { lock: ownLock, container } = freshLock();
    const kv = new KeyVaultSecretStore({ client, lock: ownLock });
    let held: BlobLease | undefined;
    const store = storeWith(kv, {
      lockRotation: async (id: string) => (held = await ownLock.lock(id)),
    });
    const rotator = rotatorWith(target, {
      set: async (input) => {
        await target.set(input);
        // Someone breaks the lease (as a lease that lapsed and was taken would be); the next renewal finds out.
        await azurite.containerClient(container).getBlockBlobClient(leaseBlobName(SECRET)).getBlobLeaseClient().breakLease(0);
        await held?.renew().catch(() => undefined);
      },
    });
    const engine = new RotationEngine({ store, rotators: [rotator], logger: canaryLogger(), env: {} });
    const error = await engine.rotate(SECRET).catch((e: unknown) => e);
    expect(isRotatorError(error, 'ROTATION_IN_PROGRESS') && error.retryable).toBe(true);
    expect((error as Error).message).toMatch(/lock of secret kv-app was lost/);
    expect(held?.signal.aborted).toBe(true);
    expect(target.calls).not.toContain('test');
    expect(fake.versions(SECRET)).toHaveLength(1); // nothing promoted
    expect(JSON.parse((await client.getSecret(SECRET)).value ?? '{}')).toEqual(initial);
  });

  it('keeps the limit in one constant with the fake, and refuses a larger value before any call', async () => {
    expect(store.maxValueBytes).toBe(KEY_VAULT_MAX_VALUE_BYTES);
    expect(MAX_VALUE_BYTES).toBe(25_600);
    await seed();
    await store.startRotation(SECRET, 'kv-token-size');
    fake.resetCounts();
    expect(await codeOf(store.putPending(SECRET, 'kv-token-size', 'x'.repeat(KEY_VAULT_MAX_VALUE_BYTES + 1)))).toBe('INVALID_INPUT');
    expect(fake.count()).toBe(0);
  });

  it('passes the caller\'s signal to the SDK: an aborted call fails with the caller\'s reason', async () => {
    await seed();
    const reason = new RotatorError('ROTATION_IN_PROGRESS', 'the lock was lost', { retryable: true });
    const error = await store.getValue(SECRET, { stage: 'CURRENT' }, { signal: AbortSignal.abort(reason) }).catch((e: unknown) => e);
    expect(error).toBe(reason);
    const described = await store.describe(SECRET, { signal: AbortSignal.abort(reason) }).catch((e: unknown) => e);
    expect(described).toBe(reason);
  });

  it('maps service failures to typed errors, and a promotion whose write failed promotes nothing', async () => {
    await seed();
    await store.startRotation(SECRET, 'kv-token-fail');
    await store.putPending(SECRET, 'kv-token-fail', JSON.stringify({ ...initial, password: 'pending-password-kv-fail' }));
    recordSecrets('pending-password-kv-fail');
    fake.fail({ operation: 'SetSecret', status: 503 });
    const error = await store.promote(SECRET, 'kv-token-fail').catch((e: unknown) => e);
    expect(isRotatorError(error, 'STORE_IO') && error.retryable).toBe(true);
    expect(JSON.parse((await client.getSecret(SECRET)).value ?? '{}')).toEqual(initial);
    await store.promote(SECRET, 'kv-token-fail');
    expect((await store.describe(SECRET)).versions.find((v) => v.stages.includes('CURRENT'))?.versionId).toBe('kv-token-fail');
    expect(await codeOf(store.describe('kv-absent'))).toBe('SECRET_NOT_FOUND');
    expect(await codeOf(store.describe(`${SECRET}${PENDING_SECRET_SUFFIX}`))).toBe('INVALID_INPUT');
  });

  it('refuses a rotation whose promotion would not fit Key Vault\'s 15 tags, before anything changes', async () => {
    const many = Object.fromEntries(Array.from({ length: 13 }, (_, i) => [`tag-${i}`, 'x']));
    await seed({ enabled: true }, many); // 13 + rotator-enabled = 14; a promotion adds 3
    const error = await store.startRotation(SECRET, 'kv-token-tags').catch((e: unknown) => e);
    expect(isRotatorError(error, 'INVALID_INPUT')).toBe(true);
    expect((error as Error).message).toMatch(/15 per version/);
    expect(fake.versions(SECRET)?.[0]?.tags[KV_TAG.pending]).toBeUndefined();
  });

  it('keeps room for every rotation, not just the next: 9 tags carried forward rotate, fail and record again and again; 10 are refused', async () => {
    now = new Date(Date.now() - 5000); // the fake dates versions by the real clock; promotions must not look newer
    const eight = Object.fromEntries(Array.from({ length: 8 }, (_, i) => [`tag-${i}`, 'x']));
    await seed({ enabled: true }, eight); // 8 + rotator-enabled = 9, the most: 9 + 3 (promotion) + 3 (marker, failure) = 15
    const failing = rotatorWith(target, { test: () => Promise.reject(new RotatorError('TARGET_AUTH_FAILED', 'the new password was refused')) });
    for (let i = 0; i < 2; i++) {
      await engine().rotate(SECRET);
      expect(await codeOf(engine(failing).rotate(SECRET))).toBe('TARGET_AUTH_FAILED');
      const latest = fake.versions(SECRET)?.at(-1);
      expect(Object.keys(latest?.tags ?? {})).toHaveLength(15); // 9 carried, 3 of the promotion, the marker and the failure
      expect((await store.describe(SECRET)).lastError).toMatchObject({ code: 'TARGET_AUTH_FAILED', step: 'testSecret' });
      await engine().rotate(SECRET); // resumes the PENDING rotation, and the new version carries no failure
      expect((await store.describe(SECRET)).lastError).toBeUndefined();
    }
    await seed({ enabled: true }, { ...eight, 'tag-8': 'x' }, 'kv-ten');
    const error = await store.startRotation('kv-ten', 'kv-token-ten').catch((e: unknown) => e);
    expect(isRotatorError(error, 'INVALID_INPUT')).toBe(true);
    expect((error as Error).message).toMatch(/at most 9/);
    // A schedule is a tag too: updateSchedule refuses the tenth, before any write.
    const nine = await seed({ enabled: true }, eight, 'kv-nine');
    expect(await codeOf(store.updateSchedule('kv-nine', { kind: 'rate', everyMs: 86_400_000 }))).toBe('INVALID_INPUT');
    expect(fake.versions('kv-nine')?.find((v) => v.id === nine)?.tags[KV_TAG.interval]).toBeUndefined();
  });

  it('records a failed rotation as a tag on the latest version (no new version), shows it as lastError, and the next success clears it', async () => {
    await seed({ enabled: true }, { team: 'payments' });
    const failing = rotatorWith(target, { set: () => Promise.reject(new RotatorError('TARGET_UNREACHABLE', 'db.local did not answer', { retryable: true })) });
    now = new Date('2030-01-02T03:04:05.000Z');
    expect(await codeOf(engine(failing).rotate(SECRET))).toBe('TARGET_UNREACHABLE');
    expect(fake.versions(SECRET)).toHaveLength(1); // patched, not a new version: consumers read the same value
    expect(fake.versions(SECRET)?.[0]?.tags[KV_TAG.lastError]).toMatch(/^TARGET_UNREACHABLE setSecret \d{4}-/);
    const failed = await store.describe(SECRET);
    expect(failed.lastError).toMatchObject({ code: 'TARGET_UNREACHABLE', step: 'setSecret' });
    expect(failed.tags).toEqual({ team: 'payments' });
    await engine().rotate(SECRET);
    expect((await store.describe(SECRET)).lastError).toBeUndefined();
    // The store's own calls: recording, clearing, and clearing what is not there (no write).
    await store.recordRotationError(SECRET, { code: 'STORE_IO', at: now, step: 'finishSecret' });
    expect((await store.describe(SECRET)).lastError).toEqual({ code: 'STORE_IO', at: now, step: 'finishSecret' });
    await store.recordRotationError(SECRET, undefined);
    expect((await store.describe(SECRET)).lastError).toBeUndefined();
    fake.resetCounts();
    await store.recordRotationError(SECRET, undefined);
    expect(fake.count('UpdateSecret')).toBe(0);
    // What is refused: a failure that could carry anything but a code, a step and a time.
    expect(await codeOf(store.recordRotationError(SECRET, { code: 'bad code\nwith a line', at: now }))).toBe('INVALID_INPUT');
    expect(await codeOf(store.recordRotationError(SECRET, { code: 'STORE_IO', at: new Date(Number.NaN) }))).toBe('INVALID_INPUT');
  });

  it('does not believe a recorded failure edited by hand: anything that does not parse is no lastError, and never echoed', async () => {
    await seed();
    const latest = () => fake.versions(SECRET)?.at(-1);
    const bogus = [
      'TARGET_AUTH_FAILED setSecret yesterday',
      'password=hunter2 setSecret 2030-01-01T00:00:00.000Z',
      'X'.repeat(256),
      'CODE step 2030-01-01T00:00:00.000Z extra',
      'CODE\u0000 step 2030-01-01T00:00:00.000Z',
      'CODE st\nep 2030-01-01T00:00:00.000Z',
      '',
    ];
    for (const value of bogus) {
      await client.updateSecretProperties(SECRET, latest()?.id ?? '', { tags: { ...latest()?.tags, [KV_TAG.lastError]: value } });
      const info = await store.describe(SECRET);
      expect(info.lastError).toBeUndefined();
      expect(info.tags).toEqual({});
      expect(JSON.stringify(info)).not.toContain('hunter2');
    }
    // The longest value formatFailure writes is read back.
    const at = new Date('2030-01-01T00:00:00.000Z');
    const longest = { code: `E${'X'.repeat(63)}`, step: 's'.repeat(32), at };
    await store.recordRotationError(SECRET, longest);
    expect((await store.describe(SECRET)).lastError).toEqual(longest);
    expect(await codeOf(store.recordRotationError(SECRET, { ...longest, code: `E${'X'.repeat(64)}` }))).toBe('INVALID_INPUT');
  });

  it('shows rotator-interval as a rate schedule and exp less 30 days as nextRotationAt; dueSecretIds agrees with scheduleState', async () => {
    const day = 86_400_000;
    await seed({ enabled: true, schedule: { kind: 'rate', everyMs: 30 * day } });
    const info = await store.describe(SECRET);
    expect(info.rotation.schedule).toEqual({ kind: 'rate', everyMs: 30 * day });
    expect(info.nextRotationAt).toEqual(new Date(now.getTime() + 30 * day));
    await engine().rotate(SECRET);
    const rotatedAt = now;
    // At every time around the due date, the sweep's list (one listing of the vault) says what scheduleState says.
    for (const offset of [0, 29 * day, 30 * day - 1000, 30 * day, 31 * day]) {
      const at = new Date(rotatedAt.getTime() + offset);
      const { due } = scheduleState(await store.describe(SECRET), at);
      expect(due).toBe(offset >= 30 * day);
      expect(await store.dueSecretIds(at)).toEqual(due ? [SECRET] : []);
    }
    // A rotation left PENDING is swept too, whatever the schedule.
    await store.startRotation(SECRET, 'kv-token-left');
    expect(await store.dueSecretIds(rotatedAt)).toEqual([SECRET]);
  });

  it('updateSchedule writes a rate as the tag and moves exp with it; refuses a cron, a window and what no rate is; removes it', async () => {
    const day = 86_400_000;
    await seed({ enabled: true }, { team: 'payments' });
    await engine().rotate(SECRET);
    const rotatedAt = now;
    now = new Date(now.getTime() + 10 * day);
    await store.updateSchedule(SECRET, { kind: 'rate', everyMs: 30 * day });
    const versions = fake.versions(SECRET) ?? [];
    expect(versions).toHaveLength(2); // a PATCH, no new version
    expect(versions.at(-1)?.tags).toMatchObject({ [KV_TAG.interval]: '30d', team: 'payments', [KV_TAG.enabled]: 'true' });
    // Due 30 days after the last rotation, so SecretNearExpiry fires then: exp = that + 30 days.
    expect(versions.at(-1)?.exp).toBe(Math.floor(rotatedAt.getTime() / 1000) + 60 * 86_400);
    const info = await store.describe(SECRET);
    expect(info.rotation.schedule).toEqual({ kind: 'rate', everyMs: 30 * day });
    expect(scheduleState(info, now).nextDueAt).toEqual(info.nextRotationAt);
    // A schedule already overdue: exp is never set in the past, and the secret is due at once.
    await store.updateSchedule(SECRET, { kind: 'rate', everyMs: 2 * 3_600_000 });
    expect(fake.versions(SECRET)?.at(-1)?.exp).toBe(Math.floor(now.getTime() / 1000) + 30 * 86_400);
    expect(fake.versions(SECRET)?.at(-1)?.tags[KV_TAG.interval]).toBe('2h');
    expect(await store.dueSecretIds(now)).toEqual([SECRET]);
    fake.resetCounts();
    for (const refused of [
      { kind: 'cron' as const, expression: '0 4 ? * SUN *' },
      { kind: 'rate' as const, everyMs: 30 * day, windowMs: 3_600_000 },
      { kind: 'rate' as const, everyMs: 1_800_000 },
      { kind: 'rate' as const, everyMs: 1001 * day },
      { kind: 'rate' as const, everyMs: 90 * 60_000 },
    ]) {
      const error = await store.updateSchedule(SECRET, refused).catch((e: unknown) => e);
      expect(isRotatorError(error, 'INVALID_INPUT')).toBe(true);
    }
    expect(String(await store.updateSchedule(SECRET, { kind: 'cron', expression: '0 4 ? * SUN *' }).catch((e: unknown) => e))).toMatch(/no cron/);
    expect(fake.count('UpdateSecret')).toBe(0);
    await store.updateSchedule(SECRET, undefined);
    expect(fake.versions(SECRET)?.at(-1)?.tags[KV_TAG.interval]).toBeUndefined();
    expect((await store.describe(SECRET)).rotation).toEqual({ enabled: true });
    // On a value set by hand (a version without tags), the settings it inherits are written with the schedule.
    const written = await client.setSecret(SECRET, JSON.stringify(initial));
    await store.updateSchedule(SECRET, { kind: 'rate', everyMs: 7 * day });
    expect(fake.versions(SECRET)?.find((v) => v.id === written.properties.version)?.tags).toEqual({ [KV_TAG.enabled]: 'true', [KV_TAG.interval]: '7d' });
    expect((await store.describe(SECRET)).rotation).toEqual({ enabled: true, schedule: { kind: 'rate', everyMs: 7 * day } });
  });

  it('a rotator-interval tag that is no rate (edited by hand) is no schedule and a warning: never an error, never echoed', async () => {
    await seed();
    const lines: string[] = [];
    const watched = new KeyVaultSecretStore({ client, lock, clock: () => now, logger: canaryLogger(lines) });
    const latest = () => fake.versions(SECRET)?.at(-1);
    for (const value of ['90m', '45s', '0d', '1001d', 'cron(0 4 ? * SUN *)', 'soon-ish', '30\nd', '30d\u0000', 'x'.repeat(256), '']) {
      lines.length = 0;
      await client.updateSecretProperties(SECRET, latest()?.id ?? '', { tags: { ...latest()?.tags, [KV_TAG.interval]: value } });
      const info = await watched.describe(SECRET);
      expect(info.rotation).toEqual({ enabled: true });
      expect(lines.some((l) => l.includes('invalid tag rotator-interval'))).toBe(true);
      if (value.length > 3) expect(lines.join('\n')).not.toContain(value.trim());
      expect(await watched.dueSecretIds(new Date(now.getTime() + 2000 * 86_400_000))).toEqual([]);
      expect(await watched.listSecretIds()).toEqual([SECRET]);
    }
    // The largest rate there is, and 1 hour, are read back.
    for (const [value, everyMs] of [['1000d', 1000 * 86_400_000], ['1h', 3_600_000], ['rate(12 hours)', 12 * 3_600_000]] as const) {
      await client.updateSecretProperties(SECRET, latest()?.id ?? '', { tags: { ...latest()?.tags, [KV_TAG.interval]: value } });
      expect((await watched.describe(SECRET)).rotation.schedule).toEqual({ kind: 'rate', everyMs });
    }
  });
});

// ---- a real database, end to end ----

describe('KeyVaultSecretStore: rotating a real PostgreSQL credential', () => {
  const pg = testTargets().find((t) => t.engine === 'postgres');
  if (pg === undefined) throw new Error('no PostgreSQL target');
  let fake: KeyVaultFake;
  let client: SecretClient;
  let store: KeyVaultSecretStore;
  let counter = 0;

  beforeEach(async () => {
    fake = await startKeyVaultFake();
    client = fake.client();
    store = new KeyVaultSecretStore({ client, lock: freshLock().lock });
  });
  afterEach(async () => {
    await harvest(client);
    await fake.close();
  });

  function password(): string {
    const p = `Kv-${counter}-${Math.random().toString(36).slice(2)}-pw`;
    recordSecrets(p);
    return p;
  }

  async function credentials(selector: { stage: 'CURRENT' | 'PREVIOUS' }): Promise<{ username: string; password: string }> {
    return JSON.parse(await store.getValue('kv-pg-app', selector)) as { username: string; password: string };
  }

  it.each(['single-user', 'alternating-users'] as const)('%s: the database accepts the new CURRENT, and the old one as the strategy says', async (strategy) => {
    counter += 1;
    const user = `kv_${strategy === 'single-user' ? 'single' : 'alt'}_${counter}_${Date.now() % 100_000}`;
    const first = password();
    await pg.createUser(user, first);
    let value = pg.secret(user, first);
    if (strategy === 'alternating-users') {
      const master = pg.secret(`${user}_master`, password());
      await pg.createUser(master.username as string, master.password as string, { master: true });
      await createSeededKeyVaultSecret(client, 'kv-pg-master', JSON.stringify(master), { rotation: { enabled: false } });
      value = { ...value, masterarn: 'kv-pg-master' };
    }
    await createSeededKeyVaultSecret(client, 'kv-pg-app', JSON.stringify(value), { rotation: { enabled: true, strategy } });
    const engine = new RotationEngine({ store, rotators: [pg.rotator()], logger: canaryLogger(), env: {} });

    const report = await engine.rotate('kv-pg-app');
    expect(report.steps.map((s) => s.outcome)).toEqual(['done', 'done', 'done', 'done']);
    const current = await credentials({ stage: 'CURRENT' });
    // What a consumer reads (the latest version) logs in.
    const latest = JSON.parse((await client.getSecret('kv-pg-app')).value ?? '{}') as { username: string; password: string };
    expect(latest).toEqual(current);
    expect(await pg.logsIn(current.username, current.password)).toBe(true);
    const previous = await credentials({ stage: 'PREVIOUS' });
    expect(previous.password).toBe(first);
    if (strategy === 'single-user') {
      expect(current.username).toBe(user);
      expect(await pg.logsIn(user, first)).toBe(false);
    } else {
      expect(current.username).toBe(`${user}_clone`);
      expect(await pg.logsIn(user, first)).toBe(true); // the old user still works until the purger revokes it
      const again = await engine.rotate('kv-pg-app');
      expect(again.resumed).toBe(false);
      const back = await credentials({ stage: 'CURRENT' });
      expect(back.username).toBe(user);
      expect(await pg.logsIn(back.username, back.password)).toBe(true);
      expect(await pg.logsIn(current.username, current.password)).toBe(true);
    }
  });
});
