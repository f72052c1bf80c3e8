import { randomUUID } from 'node:crypto';
import type { SecretManagerServiceClient } from '@google-cloud/secret-manager';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { RotationEngine } from '../../shared/engine.js';
import { Purger } from '../../shared/purger.js';
import { scheduleState } from '../../shared/schedule.js';
import { RotatorError, isRotatorError } from '../../shared/errors.js';
import type { Rotator } from '../../shared/rotator.js';
import type { SecretStore } from '../../shared/store.js';
import {
  ANNOTATION,
  AnnotationLease,
  GRPC_STATUS,
  PENDING_SECRET_SUFFIX,
  SECRET_MANAGER_MAX_ANNOTATIONS_BYTES,
  SECRET_MANAGER_MAX_VALUE_BYTES,
  SM_LABEL,
  SecretManagerStore,
  attachSecretManagerSecret,
  createSecretManagerClient,
  createSeededSecretManagerSecret,
  mapSecretManagerError,
  type SeedSecretManagerSecretOptions,
} from '../../stores/gcp/index.js';
import { rotationBytes } from '../../stores/gcp/annotations.js';
import { startSecretManagerFake, type SecretManagerFake } from '../fakes/gcp/secret-manager.js';
import { canaryLogger, recordSecretValue, recordSecrets } from '../support/canary.js';
import { MemoryTarget } from '../support/memory-target.js';
import { codeOf, describeStoreContract } from '../support/store-contract.js';
import { rotatorWith, storeWith } from '../support/stores.js';
import { testTargets } from '../support/targets.js';

/**
 * The Secret Manager store through the real SecretManagerServiceClient (gRPC, built by createSecretManagerClient with
 * its test-only loopback options) against the Secret Manager fake (test/fakes/gcp/secret-manager.ts: `latest` without
 * fall-back, aliases, etags, label filters, delayed destruction): the shared store contract, unchanged; what is
 * particular to Secret Manager (consumers read `latest` or the alias `current`, promotion resumable at each of its
 * writes, compare-and-swap races, the annotation lease, retire by destroy, versions written by others, label
 * selection, hostile input, injected failures); and whole rotations of a real PostgreSQL credential.
 */
const LOCK_TTL_MS = 1_500;

function clientFor(fake: SecretManagerFake): SecretManagerServiceClient {
  const options = fake.clientOptions();
  return createSecretManagerClient({
    projectId: fake.project,
    testOnly: { apiEndpoint: options.apiEndpoint ?? '', port: options.port ?? 0, sslCreds: options.sslCreds, auth: options.auth },
  });
}

/** Hands every payload the fake holds (not destroyed) to the leak canary (read here, never printed). */
async function harvest(fake: SecretManagerFake, client: SecretManagerServiceClient): Promise<void> {
  for await (const secret of client.listSecretsAsync({ parent: `projects/${fake.project}` }, { autoPaginate: false })) {
    const id = (secret.name ?? '').split('/').pop() ?? '';
    for (const version of fake.versions(id)) {
      const payload = fake.payload(id, version.n);
      if (payload !== undefined) recordSecretValue(payload.toString('utf8'));
    }
  }
}

/**
 * The client with every call failing once `crashAfter` has matched a call that succeeded: a process killed right
 * after that write.
 */
function crashingClient(client: SecretManagerServiceClient, crashAfter: (method: string, request: Record<string, unknown>) => boolean): SecretManagerServiceClient {
  let crashed = false;
  return new Proxy(client, {
    get(target, name) {
      const member: unknown = Reflect.get(target, name);
      if (typeof member !== 'function') return member;
      return (...args: unknown[]) => {
        if (crashed) throw new Error('simulated crash');
        const result = (member as (...a: unknown[]) => unknown).apply(target, args);
        if (typeof name === 'string' && crashAfter(name, (args[0] ?? {}) as Record<string, unknown>)) {
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

/** The client with `before` run ahead of each call of `method` (a racing writer, a recorder of requests). */
function interceptingClient(client: SecretManagerServiceClient, method: string, before: (request: Record<string, unknown>) => Promise<void>): SecretManagerServiceClient {
  return new Proxy(client, {
    get(target, name) {
      const member: unknown = Reflect.get(target, name);
      if (typeof member !== 'function') return member;
      if (name !== method) return (member as (...a: unknown[]) => unknown).bind(target);
      return async (...args: unknown[]) => {
        await before((args[0] ?? {}) as Record<string, unknown>);
        return (member as (...a: unknown[]) => Promise<unknown>).apply(target, args);
      };
    },
  });
}

const isMainAdd = (fake: SecretManagerFake, secretId: string) => (method: string, request: Record<string, unknown>) =>
  method === 'addSecretVersion' && request.parent === `projects/${fake.project}/secrets/${secretId}`;


async function errorOf(promise: Promise<unknown>): Promise<RotatorError> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  if (!(error instanceof RotatorError)) throw new Error(`expected a RotatorError, got ${String(error)}`);
  return error;
}

/** Writes the lock annotation as a holder that took it and died would have left it. */
async function plantLock(client: SecretManagerServiceClient, project: string, secretId: string, until: Date): Promise<string> {
  const holder = randomUUID();
  const name = `projects/${project}/secrets/${secretId}`;
  const [secret] = await client.getSecret({ name });
  await client.updateSecret({
    secret: { name, etag: secret.etag ?? '', annotations: { ...secret.annotations, [ANNOTATION.lock]: `${holder}|${until.toISOString()}` } },
    updateMask: { paths: ['annotations'] },
  });
  return holder;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describeStoreContract('Secret Manager store on the Secret Manager fake', async () => {
  const fake = await startSecretManagerFake();
  const client = clientFor(fake);
  const store = new SecretManagerStore({ client, projectId: fake.project, lockTtlMs: LOCK_TTL_MS });
  return {
    store,
    seed: async (secretId, value, tags) => {
      recordSecretValue(value);
      await createSeededSecretManagerSecret(client, fake.project, secretId, value, { labels: tags ?? {} });
    },
    // A holder that took the lease and died: nothing renews it, so it runs out after LOCK_TTL_MS.
    abandonLock: async (secretId) => {
      await plantLock(client, fake.project, secretId, new Date(Date.now() + LOCK_TTL_MS));
    },
    lockExpiryMs: LOCK_TTL_MS + 3_000,
    interruptPromote: async (secretId, token) => {
      const dying = new SecretManagerStore({ client: crashingClient(client, isMainAdd(fake, secretId)), projectId: fake.project });
      await dying.promote(secretId, token).catch(() => undefined);
      // The add happened and the compare-and-swap did not: the value is `latest`, the marker still names the token.
      expect(fake.versions(secretId)).toHaveLength(2);
      expect(fake.secret(secretId)?.versionAliases).toEqual({ current: 1 });
      expect(fake.secret(secretId)?.annotations[ANNOTATION.pending]).toMatch(new RegExp(`^${token}\\|`));
    },
    dispose: async () => {
      await harvest(fake, client);
      await client.close();
      await fake.close();
    },
  };
});

// ---- what is particular to Secret Manager ----

const SECRET = 'sm-app';
const initial = { engine: 'memory', host: 'db.local', username: 'app', password: 'initial-password-sm-1' };

describe('SecretManagerStore: what is particular to Secret Manager', () => {
  let fake: SecretManagerFake;
  let client: SecretManagerServiceClient;
  let target: MemoryTarget;
  let now: Date;
  let store: SecretManagerStore;
  const clock = () => now;

  beforeEach(async () => {
    now = new Date('2030-01-01T00:00:00.000Z');
    fake = await startSecretManagerFake({ clock });
    client = clientFor(fake);
    target = new MemoryTarget();
    target.logins.set(initial.username, initial.password);
    store = new SecretManagerStore({ client, projectId: fake.project, clock, lockTtlMs: LOCK_TTL_MS });
  });
  afterEach(async () => {
    await harvest(fake, client);
    await client.close();
    await fake.close();
  });

  async function seed(options: SeedSecretManagerSecretOptions = {}, secretId = SECRET): Promise<string> {
    recordSecretValue(JSON.stringify(initial));
    return createSeededSecretManagerSecret(client, fake.project, secretId, JSON.stringify(initial), options);
  }

  function engine(rotator: Rotator = target, on: SecretStore = store): RotationEngine {
    return new RotationEngine({ store: on, rotators: [rotator], logger: canaryLogger(), env: {} });
  }

  const name = (secretId = SECRET) => `projects/${fake.project}/secrets/${secretId}`;
  const read = async (version: string, secretId = SECRET) =>
    (await client.accessSecretVersion({ name: `${name(secretId)}/versions/${version}` }))[0].payload?.data?.toString() ?? '';
  const companion = `${SECRET}${PENDING_SECRET_SUFFIX}`;

  it('a reader polling latest and current never gets a value that has not passed testSecret, through three rotations', async () => {
    await seed();
    const tested = new Set<string>([initial.password]);
    const rotator = rotatorWith(target, {
      set: async (input) => {
        await target.set(input);
        await sleep(60);
      },
      test: async (pending) => {
        await sleep(60);
        await target.test(pending);
        tested.add(pending.password as string); // from here on it may be read
      },
    });
    const done = new AbortController();
    const seen: string[] = [];
    const untested: string[] = [];
    const reader = (async () => {
      while (!done.signal.aborted) {
        for (const version of ['latest', 'current']) {
          const { password } = JSON.parse(await read(version)) as { password: string };
          seen.push(password);
          if (!tested.has(password)) untested.push(password);
        }
        await sleep(5);
      }
    })();
    try {
      for (let i = 0; i < 3; i++) await engine(rotator).rotate(SECRET);
    } finally {
      done.abort();
      await reader;
    }
    expect(untested).toEqual([]);
    expect(new Set(seen).size).toBeGreaterThanOrEqual(3);
    expect(seen.length).toBeGreaterThan(20);
    // One version of the main secret per tested value, the aliases on the last two, no copy left in the companion.
    expect(fake.versions(SECRET).map((v) => v.state)).toEqual(['ENABLED', 'ENABLED', 'ENABLED', 'ENABLED']);
    expect(fake.secret(SECRET)?.versionAliases).toEqual({ current: 4, previous: 3 });
    expect(fake.versions(companion).every((v) => v.state === 'DESTROYED')).toBe(true);
    expect(Object.keys(fake.secret(SECRET)?.annotations ?? {}).sort()).toEqual(['rotator-v2', 'rotator-v3', 'rotator-v4']);
  });

  it('a promotion that died after its add is finished without a second copy of the value', async () => {
    await seed();
    await store.startRotation(SECRET, 'sm-token-crash-add');
    await store.putPending(SECRET, 'sm-token-crash-add', 'value-pending-crash-add');
    const dying = new SecretManagerStore({ client: crashingClient(client, isMainAdd(fake, SECRET)), projectId: fake.project, clock });
    expect(await codeOf(dying.promote(SECRET, 'sm-token-crash-add'))).toBe('INTERNAL');
    expect(fake.versions(SECRET)).toHaveLength(2);
    // Until it is finished, CURRENT stays where the alias is, and PENDING is still the token's.
    const during = await store.describe(SECRET);
    expect(during.versions.map((v) => [v.versionId, v.stages])).toEqual([
      ['1', ['CURRENT']],
      ['2', []],
      ['sm-token-crash-add', ['PENDING']],
    ]);
    await store.promote(SECRET, 'sm-token-crash-add');
    expect(fake.versions(SECRET)).toHaveLength(2);
    expect(fake.secret(SECRET)?.versionAliases).toEqual({ current: 2, previous: 1 });
    expect((await store.describe(SECRET)).versions.map((v) => [v.versionId, v.stages])).toEqual([
      ['1', ['PREVIOUS']],
      ['sm-token-crash-add', ['CURRENT']],
    ]);
    expect(fake.versions(companion).map((v) => v.state)).toEqual(['DESTROYED']);
  });

  it('a promotion that died after its compare-and-swap is already done; promote again only cleans the companion', async () => {
    await seed();
    await store.startRotation(SECRET, 'sm-token-crash-cas');
    await store.putPending(SECRET, 'sm-token-crash-cas', 'value-pending-crash-cas');
    const afterAliases = (method: string, request: Record<string, unknown>) =>
      method === 'updateSecret' && ((request.updateMask as { paths?: string[] } | undefined)?.paths ?? []).includes('version_aliases');
    const dying = new SecretManagerStore({ client: crashingClient(client, afterAliases), projectId: fake.project, clock });
    await dying.promote(SECRET, 'sm-token-crash-cas'); // the cleanup after the write is best effort: the crash is logged, not thrown
    expect(fake.secret(SECRET)?.versionAliases).toEqual({ current: 2, previous: 1 });
    expect(fake.versions(companion).map((v) => v.state)).toEqual(['ENABLED']); // the copy the cleanup never reached
    expect(await store.getValue(SECRET, { stage: 'CURRENT' })).toBe('value-pending-crash-cas');
    await store.promote(SECRET, 'sm-token-crash-cas');
    expect(fake.versions(SECRET)).toHaveLength(2);
    expect(fake.versions(companion).map((v) => v.state)).toEqual(['DESTROYED']);
    // A copy left by a putPending that died before recording it goes the same way at the next promotion.
    await store.startRotation(SECRET, 'sm-token-orphan');
    await client.addSecretVersion({ parent: name(companion), payload: { data: Buffer.from('value-orphan-copy') } });
    recordSecrets('value-orphan-copy');
    await store.putPending(SECRET, 'sm-token-orphan', 'value-pending-orphan');
    await store.promote(SECRET, 'sm-token-orphan');
    expect(fake.versions(companion).map((v) => v.state)).toEqual(['DESTROYED', 'DESTROYED', 'DESTROYED']);
  });

  it('a write racing the store\'s compare-and-swap makes it read again and re-apply its change; both changes survive', async () => {
    await seed();
    await store.startRotation(SECRET, 'sm-token-race');
    await store.putPending(SECRET, 'sm-token-race', 'value-pending-race');
    let raced = false;
    const racing = interceptingClient(client, 'updateSecret', async () => {
      if (raced) return;
      raced = true;
      // Someone else writes the secret between the store's read and its write (a label set with gcloud).
      await client.updateSecret({ secret: { name: name(), labels: { ...fake.secret(SECRET)?.labels, team: 'payments' } }, updateMask: { paths: ['labels'] } });
    });
    const racer = new SecretManagerStore({ client: racing, projectId: fake.project, clock });
    await racer.promote(SECRET, 'sm-token-race');
    expect(fake.calls.filter((c) => c.rpc === 'UpdateSecret' && c.status === GRPC_STATUS.FAILED_PRECONDITION)).toHaveLength(1);
    expect(fake.secret(SECRET)?.labels).toMatchObject({ team: 'payments' });
    expect(fake.secret(SECRET)?.versionAliases).toEqual({ current: 2, previous: 1 });
    expect((await store.describe(SECRET)).tags).toEqual({ team: 'payments' });

    // Two processes taking the lock at once: exactly one gets it, whatever the interleaving.
    const other = new SecretManagerStore({ client, projectId: fake.project, clock });
    for (let i = 0; i < 5; i++) {
      const outcomes = await Promise.allSettled([store.lockRotation(SECRET), other.lockRotation(SECRET)]);
      const held = outcomes.filter((o): o is PromiseFulfilledResult<AnnotationLease> => o.status === 'fulfilled');
      expect(held).toHaveLength(1);
      const refused = outcomes.find((o) => o.status === 'rejected');
      expect(isRotatorError(refused?.reason, 'ROTATION_IN_PROGRESS')).toBe(true);
      await held[0]?.value.release();
    }
    expect(fake.secret(SECRET)?.annotations[ANNOTATION.lock]).toBeUndefined();
  });

  it('gives up on a compare-and-swap that keeps losing, retryably, with nothing written', async () => {
    await seed();
    fake.failNext('UpdateSecret', GRPC_STATUS.FAILED_PRECONDITION, 5);
    const error = await errorOf(store.startRotation(SECRET, 'sm-token-lost'));
    expect(error.code).toBe('STORE_IO');
    expect(error.retryable).toBe(true);
    expect(fake.secret(SECRET)?.annotations[ANNOTATION.pending]).toBeUndefined();
    await store.startRotation(SECRET, 'sm-token-lost'); // the next try goes through
    expect(fake.secret(SECRET)?.annotations[ANNOTATION.pending]).toMatch(/^sm-token-lost\|/);
  });

  it('takes over a lock that claims to last longer than any ttl (written by hand, or by a clock gone wrong)', async () => {
    await seed();
    const store = new SecretManagerStore({ client, projectId: fake.project, lockTtlMs: 3_000 });
    await plantLock(client, fake.project, SECRET, new Date(Date.now() + 2 * 3_600_000 - 60_000)); // within two max ttls: believed
    expect(await codeOf(store.lockRotation(SECRET))).toBe('ROTATION_IN_PROGRESS');
    await plantLock(client, fake.project, SECRET, new Date('2999-01-01T00:00:00Z'));
    const lease = await store.lockRotation(SECRET);
    expect(fake.secret(SECRET)?.annotations[ANNOTATION.lock]).toMatch(new RegExp(`^${lease.holder}\\|`));
    await lease.release();
  });

  it('renews a held lock, so it outlives its ttl, and frees it on release', async () => {
    await seed();
    const ttl = 3_000; // renewed every second: a stall of two seconds on a busy machine still keeps it
    const realClock = new SecretManagerStore({ client, projectId: fake.project, lockTtlMs: ttl });
    const lease = await realClock.lockRotation(SECRET);
    const first = lease.until.getTime();
    await sleep(ttl + 1_000);
    expect(lease.signal.aborted).toBe(false);
    expect(lease.until.getTime()).toBeGreaterThan(first + 1_000);
    expect(fake.secret(SECRET)?.annotations[ANNOTATION.lock]).toBe(`${lease.holder}|${lease.until.toISOString()}`);
    expect(await codeOf(realClock.lockRotation(SECRET))).toBe('ROTATION_IN_PROGRESS');
    await lease.release();
    expect(fake.secret(SECRET)?.annotations[ANNOTATION.lock]).toBeUndefined();
    await (await realClock.lockRotation(SECRET)).release();
  });

  it('aborts the lease\'s signal when a renewal finds the lock taken, and its release then leaves the new holder alone', async () => {
    await seed();
    const lease = await store.lockRotation(SECRET);
    const thief = await plantLock(client, fake.project, SECRET, new Date(now.getTime() + 60_000));
    await sleep(LOCK_TTL_MS);
    expect(lease.signal.aborted).toBe(true);
    const reason: unknown = lease.signal.reason;
    expect(isRotatorError(reason, 'ROTATION_IN_PROGRESS') && reason.retryable).toBe(true);
    expect((reason as Error).message).toMatch(/lock of secret sm-app was lost: its annotation no longer names this holder/);
    await lease.release();
    expect(fake.secret(SECRET)?.annotations[ANNOTATION.lock]).toMatch(new RegExp(`^${thief}\\|`));
  });

  it('aborts the lease\'s signal when it cannot be renewed before it lapses', async () => {
    await seed();
    const lease = await store.lockRotation(SECRET);
    fake.failNext('GetSecret', GRPC_STATUS.UNAVAILABLE, 1_000);
    await sleep(LOCK_TTL_MS + 500);
    expect(lease.signal.aborted).toBe(true);
    expect((lease.signal.reason as Error).message).toMatch(/lapsed/);
  });

  it('a lock lost mid-rotation stops the rotation before testSecret, with nothing promoted', async () => {
    await seed();
    let held: AnnotationLease | undefined;
    const wrapped = storeWith(store, { lockRotation: async (id: string) => (held = await store.lockRotation(id)) });
    const rotator = rotatorWith(target, {
      set: async (input) => {
        await target.set(input);
        await plantLock(client, fake.project, SECRET, new Date(now.getTime() + 60_000)); // taken by another process
        await held?.renew().catch(() => undefined);
      },
    });
    const error = await errorOf(engine(rotator, wrapped).rotate(SECRET));
    expect(error.code).toBe('ROTATION_IN_PROGRESS');
    expect(error.message).toMatch(/lock of secret sm-app was lost/);
    expect(target.calls).not.toContain('test');
    expect(fake.versions(SECRET)).toHaveLength(1);
    expect(JSON.parse(await read('latest'))).toEqual(initial);
  });

  it('retire moves previous away and destroys the version with its etag; CURRENT and PENDING are refused', async () => {
    const seeded = await seed();
    const first = (await engine().rotate(SECRET)).versionId;
    const second = (await engine().rotate(SECRET)).versionId;
    const etags: unknown[] = [];
    const recording = interceptingClient(client, 'destroySecretVersion', async (request) => {
      etags.push(request.etag);
      return Promise.resolve();
    });
    const retiring = new SecretManagerStore({ client: recording, projectId: fake.project, clock });
    const [version2] = await client.getSecretVersion({ name: `${name()}/versions/2` });
    await retiring.retire(SECRET, first);
    expect(etags).toEqual([version2.etag]);
    expect(fake.secret(SECRET)?.versionAliases).toEqual({ current: 3 });
    expect(fake.secret(SECRET)?.annotations[`${ANNOTATION.promotedPrefix}2`]).toBeUndefined();
    expect(fake.versions(SECRET).map((v) => v.state)).toEqual(['ENABLED', 'DESTROYED', 'ENABLED']);
    expect((await store.describe(SECRET)).versions.map((v) => [v.versionId, v.stages])).toEqual([
      [seeded, []],
      [second, ['CURRENT']],
    ]);
    expect(await codeOf(store.getValue(SECRET, { versionId: first }))).toBe('VERSION_NOT_FOUND');
    expect(await codeOf(store.retire(SECRET, second))).toBe('INVALID_INPUT');
    await store.startRotation(SECRET, 'sm-token-retire');
    expect(await codeOf(store.retire(SECRET, 'sm-token-retire'))).toBe('INVALID_INPUT');
    await store.cancelRotation(SECRET);
    // A version someone else's alias names is theirs to move first.
    await client.updateSecret({ secret: { name: name(), versionAliases: { ...fake.secret(SECRET)?.versionAliases, pinned: 1 } }, updateMask: { paths: ['version_aliases'] } });
    const pinned = await errorOf(store.retire(SECRET, seeded));
    expect(pinned.code).toBe('INVALID_INPUT');
    expect(pinned.message).toMatch(/alias pinned/);
    expect(fake.versions(SECRET)[0]?.state).toBe('ENABLED');
    expect(await codeOf(store.retire(SECRET, 'no-such-version'))).toBe('VERSION_NOT_FOUND');
  });

  it('with version_destroy_ttl, a retired version is DISABLED and scheduled, gone from describe, and destroyed later', async () => {
    const seeded = await seed({ versionDestroyTtlSeconds: 86_400 });
    await engine().rotate(SECRET);
    await store.retire(SECRET, seeded);
    expect(fake.versions(SECRET)[0]).toMatchObject({ state: 'DISABLED', scheduledDestroyTime: new Date(now.getTime() + 86_400_000) });
    expect((await store.describe(SECRET)).versions.map((v) => v.versionId)).not.toContain(seeded);
    expect(await codeOf(store.getValue(SECRET, { versionId: seeded }))).toBe('VERSION_NOT_FOUND');
    await store.retire(SECRET, seeded); // retired already: a no-op
    expect(fake.calls.filter((c) => c.rpc === 'DestroySecretVersion' && c.resource === `${name()}/versions/1`)).toHaveLength(1);
    now = new Date(now.getTime() + 86_400_000 + 1);
    expect(fake.versions(SECRET)[0]?.state).toBe('DESTROYED');
    expect(fake.secret(companion)?.versionDestroyTtlSeconds).toBe(86_400);
  });

  it('the purger retires what is past the safe window through this store, and keeps CURRENT and the newest superseded', async () => {
    const day = 86_400_000;
    const seeded = await seed({ settings: { enabled: true, safeWindowMs: 7 * day, keepSuperseded: 1 } });
    const tokens: string[] = [];
    for (let i = 0; i < 3; i++) {
      now = new Date(now.getTime() + 10 * day);
      tokens.push((await engine().rotate(SECRET)).versionId);
    }
    now = new Date(now.getTime() + 10 * day);
    const purger = new Purger({ store, rotators: [target], logger: canaryLogger(), clock });
    const report = await purger.purge(undefined);
    expect(report.failed).toBe(0);
    expect(report.secrets[0]?.actions.map((a) => a.versionId).sort()).toEqual([seeded, tokens[0]].sort());
    expect((await store.describe(SECRET)).versions.map((v) => [v.versionId, v.stages])).toEqual([
      [tokens[1], ['PREVIOUS']],
      [tokens[2], ['CURRENT']],
    ]);
    expect(fake.versions(SECRET).map((v) => v.state)).toEqual(['DESTROYED', 'DESTROYED', 'ENABLED', 'ENABLED']);
    expect(Object.keys(fake.secret(SECRET)?.annotations ?? {}).sort()).toEqual(['rotator-v3', 'rotator-v4']);
  });

  it('a value added by hand gets Secret Manager\'s id, is readable, and is handled by the next rotation', async () => {
    await seed({ labels: { team: 'payments' } });
    const rotated = (await engine().rotate(SECRET)).versionId;
    const byHand = JSON.stringify({ ...initial, password: 'added-by-hand-sm-1' });
    recordSecrets('added-by-hand-sm-1');
    await client.addSecretVersion({ parent: name(), payload: { data: Buffer.from(byHand) } });
    const info = await store.describe(SECRET);
    expect(info.versions.map((v) => [v.versionId, v.stages])).toEqual([
      ['1', ['PREVIOUS']],
      [rotated, ['CURRENT']],
      ['3', []],
    ]);
    expect(info.versions[2]?.promotedAt).toBeUndefined();
    expect(await store.getValue(SECRET, { versionId: '3' })).toBe(byHand);
    expect(await codeOf(store.getValue(SECRET, { versionId: '2' }))).toBe('VERSION_NOT_FOUND'); // version 2 is named by its token
    // The next promotion adds the tested value (the hand-written one is no copy of it) and moves the aliases.
    const next = (await engine().rotate(SECRET)).versionId;
    expect(fake.versions(SECRET)).toHaveLength(4);
    expect((await store.describe(SECRET)).versions.map((v) => [v.versionId, v.stages])).toEqual([
      ['1', []],
      [rotated, ['PREVIOUS']],
      ['3', []],
      [next, ['CURRENT']],
    ]);
    await store.retire(SECRET, '3');
    expect(fake.versions(SECRET)[2]?.state).toBe('DESTROYED');
  });

  it('attaches a secret written by others: its newest version is CURRENT, pinned as `current` when a rotation starts', async () => {
    await client.createSecret({ parent: `projects/${fake.project}`, secretId: SECRET, secret: { replication: { automatic: {} }, labels: { team: 'payments' } } });
    recordSecretValue(JSON.stringify(initial));
    await client.addSecretVersion({ parent: name(), payload: { data: Buffer.from('{"engine":"memory","old":true}') } });
    await client.addSecretVersion({ parent: name(), payload: { data: Buffer.from(JSON.stringify(initial)) } });
    await attachSecretManagerSecret(client, fake.project, SECRET, { settings: { enabled: true, strategy: 'single-user' } });
    expect(fake.secret(SECRET)?.labels).toEqual({ team: 'payments', [SM_LABEL.enabled]: 'true', [SM_LABEL.strategy]: 'single-user' });
    expect(fake.secret(companion)).toBeDefined();
    const info = await store.describe(SECRET);
    expect(info.versions.map((v) => [v.versionId, v.stages])).toEqual([
      ['1', []],
      ['2', ['CURRENT']],
    ]);
    expect(info.versions[1]?.promotedAt).toEqual(fake.versions(SECRET)[1]?.createTime);
    expect(await store.getValue(SECRET, { stage: 'CURRENT' })).toBe(JSON.stringify(initial)); // read from `latest`
    await store.startRotation(SECRET, 'sm-token-attached');
    expect(fake.secret(SECRET)?.versionAliases).toEqual({ current: 2 });
    // The first promotion dies after its add: CURRENT stays version 2, and the next run resumes and adopts the add.
    const pending = { ...initial, password: 'attached-pending-sm-1' };
    recordSecrets(pending.password);
    await store.putPending(SECRET, 'sm-token-attached', JSON.stringify(pending));
    target.logins.set(pending.username, pending.password); // the target took it before the crash
    const dying = new SecretManagerStore({ client: crashingClient(client, isMainAdd(fake, SECRET)), projectId: fake.project, clock });
    await dying.promote(SECRET, 'sm-token-attached').catch(() => undefined);
    expect((await store.describe(SECRET)).versions.map((v) => [v.versionId, v.stages])).toEqual([
      ['1', []],
      ['2', ['CURRENT']],
      ['3', []],
      ['sm-token-attached', ['PENDING']],
    ]);
    const report = await engine().rotate(SECRET);
    expect(report).toMatchObject({ resumed: true, versionId: 'sm-token-attached' });
    expect(fake.versions(SECRET)).toHaveLength(3);
    expect(fake.secret(SECRET)?.versionAliases).toEqual({ current: 3, previous: 2 });
    await attachSecretManagerSecret(client, fake.project, SECRET); // again: the companion is there already
  });

  it('labels select what listSecretIds, dueSecretIds and rotationSchedules see', async () => {
    const topics = [`projects/${fake.project}/topics/rotations`];
    const hour = 3_600_000;
    await seed({ rotation: { periodSeconds: 86_400, next: new Date(now.getTime() + hour) }, topics }, 'sm-due');
    await seed({ rotation: { periodSeconds: 86_400, next: new Date(now.getTime() + 48 * hour) }, topics }, 'sm-later');
    await seed({}, 'sm-unscheduled');
    await seed({ settings: { enabled: false }, rotation: { periodSeconds: 86_400, next: new Date(now.getTime() + hour) }, topics }, 'sm-off');
    await client.createSecret({ parent: `projects/${fake.project}`, secretId: 'sm-foreign', secret: { replication: { automatic: {} } } });
    expect((await store.listSecretIds()).sort()).toEqual(['sm-due', 'sm-later', 'sm-unscheduled']);
    expect(await new SecretManagerStore({ client, projectId: fake.project, namePrefix: 'sm-l' }).listSecretIds()).toEqual(['sm-later']);
    expect(fake.calls.filter((c) => c.rpc === 'ListSecrets').every((c) => c.status === 0)).toBe(true);
    expect(await store.dueSecretIds(now)).toEqual([]);
    now = new Date(now.getTime() + 2 * hour);
    expect(await store.dueSecretIds(now)).toEqual(['sm-due']);
    expect((await store.rotationSchedules()).sort((a, b) => a.secretId.localeCompare(b.secretId))).toEqual([
      { secretId: 'sm-due', rotationPeriodMs: 86_400_000, nextRotationTime: new Date('2030-01-01T01:00:00.000Z') },
      { secretId: 'sm-later', rotationPeriodMs: 86_400_000, nextRotationTime: new Date('2030-01-03T00:00:00.000Z') },
      { secretId: 'sm-unscheduled' },
    ]);
    // The service moves the schedule on when it publishes SECRET_ROTATE; the sweep follows it.
    fake.fireDueRotations();
    expect(await store.dueSecretIds(now)).toEqual([]);
    // Settings from labels, strictly.
    await client.updateSecret({ secret: { name: name('sm-later'), labels: { [SM_LABEL.enabled]: 'true', [SM_LABEL.safeWindow]: '36h', [SM_LABEL.keep]: '3', env: 'prod' } }, updateMask: { paths: ['labels'] } });
    expect(await store.describe('sm-later')).toMatchObject({ rotation: { enabled: true, safeWindowMs: 36 * hour, keepSuperseded: 3 }, tags: { env: 'prod' } });
    for (const [label, value] of [
      [SM_LABEL.enabled, 'yes'],
      [SM_LABEL.strategy, 'round-robin'],
      [SM_LABEL.safeWindow, '7'],
      [SM_LABEL.keep, '1001'],
    ] as const) {
      await client.updateSecret({ secret: { name: name('sm-later'), labels: { [SM_LABEL.enabled]: 'true', [label]: value } }, updateMask: { paths: ['labels'] } });
      const error = await errorOf(store.describe('sm-later'));
      expect(error.code).toBe('INVALID_INPUT');
      expect(error.message).toContain(`invalid label ${label}`);
      if (value.length > 3) expect(error.message).not.toContain(value);
    }
  });

  it('shows rotation_period as a rate and next_rotation_time as nextRotationAt; dueSecretIds agrees with scheduleState', async () => {
    const day = 86_400_000;
    const topics = [`projects/${fake.project}/topics/rotations`];
    await seed({ rotation: { periodSeconds: 30 * 86_400, next: new Date(now.getTime() + 30 * day) }, topics });
    const info = await store.describe(SECRET);
    expect(info.rotation.schedule).toEqual({ kind: 'rate', everyMs: 30 * day });
    expect(info.nextRotationAt).toEqual(new Date(now.getTime() + 30 * day));
    await engine().rotate(SECRET);
    const rotatedAt = new Date(now.getTime());
    // The notification was lost: the service moved its date on without us. At every time around the due date, the
    // sweep's list says what scheduleState says (while the service's own date has not come).
    await client.updateSecret({
      secret: { name: name(), rotation: { rotationPeriod: { seconds: 30 * 86_400 }, nextRotationTime: { seconds: Math.floor(now.getTime() / 1000) + 45 * 86_400 } } },
      updateMask: { paths: ['rotation'] },
    });
    for (const offset of [0, 29 * day, 30 * day - 1000, 30 * day, 31 * day]) {
      const at = new Date(rotatedAt.getTime() + offset);
      const { due } = scheduleState(await store.describe(SECRET), at);
      expect(due).toBe(offset >= 30 * day);
      expect(await store.dueSecretIds(at)).toEqual(due ? [SECRET] : []);
    }
    // The service's own date counts too (its SECRET_ROTATE has not gone out yet), and so does a rotation left PENDING.
    expect(await store.dueSecretIds(new Date(rotatedAt.getTime() + 45 * day))).toEqual([SECRET]);
    await store.startRotation(SECRET, 'sm-token-left');
    expect(await store.dueSecretIds(rotatedAt)).toEqual([SECRET]);
  });

  it('updateSchedule writes a rate as rotation (period, and the next time the schedule is due) with the etag; refuses what Secret Manager cannot keep; removes it', async () => {
    const day = 86_400_000;
    await seed({ topics: [`projects/${fake.project}/topics/rotations`] });
    await engine().rotate(SECRET);
    const rotatedAt = now;
    now = new Date(now.getTime() + 10 * day);
    await store.updateSchedule(SECRET, { kind: 'rate', everyMs: 30 * day });
    expect(fake.secret(SECRET)?.rotation).toEqual({ rotationPeriodSeconds: 30 * 86_400, nextRotationTime: new Date(rotatedAt.getTime() + 30 * day) });
    const info = await store.describe(SECRET);
    expect(info.rotation.schedule).toEqual({ kind: 'rate', everyMs: 30 * day });
    expect(info.nextRotationAt).toEqual(scheduleState(info, now).nextDueAt);
    // Already overdue: the service's date is as soon as it accepts (it refuses under 5 minutes), and the sweep has it now.
    await store.updateSchedule(SECRET, { kind: 'rate', everyMs: 3_600_000 });
    expect(fake.secret(SECRET)?.rotation).toEqual({ rotationPeriodSeconds: 3_600, nextRotationTime: new Date(now.getTime() + 600_000) });
    expect(await store.dueSecretIds(now)).toEqual([SECRET]);
    const before = fake.calls.filter((c) => c.rpc === 'UpdateSecret').length;
    for (const [refused, why] of [
      [{ kind: 'cron' as const, expression: '0 4 ? * SUN *' }, /no cron/],
      [{ kind: 'rate' as const, everyMs: 30 * day, windowMs: 3_600_000 }, /no rotation window/],
      [{ kind: 'rate' as const, everyMs: 1_800_000 }, /from 1 hour to 1000 days/],
      [{ kind: 'rate' as const, everyMs: 1001 * day }, /from 1 hour to 1000 days/],
      [{ kind: 'rate' as const, everyMs: 5_400_000 }, /whole number of hours/],
    ] as const) {
      const error = await errorOf(store.updateSchedule(SECRET, refused));
      expect(error.code).toBe('INVALID_INPUT');
      expect(error.message).toMatch(why);
    }
    expect(fake.calls.filter((c) => c.rpc === 'UpdateSecret').length).toBe(before);
    await store.updateSchedule(SECRET, undefined);
    expect(fake.secret(SECRET)?.rotation).toBeUndefined();
    expect((await store.describe(SECRET)).rotation.schedule).toBeUndefined();
    // Without a topic the service would have nowhere to publish: refused, naming the gcloud command.
    await seed({}, 'sm-no-topic');
    const error = await errorOf(store.updateSchedule('sm-no-topic', { kind: 'rate', everyMs: day }));
    expect(error.code).toBe('INVALID_INPUT');
    expect(error.message).toContain('--add-topics');
    // A write racing it (the service moving its own date on) makes it read again and write over the new etag.
    const racing = new SecretManagerStore({
      client: interceptingClient(client, 'updateSecret', async () => {
        if (fake.secret(SECRET)?.labels.raced === undefined) {
          const [secret] = await client.getSecret({ name: name() });
          await client.updateSecret({ secret: { name: name(), etag: secret.etag ?? '', labels: { ...secret.labels, raced: 'yes' } }, updateMask: { paths: ['labels'] } });
        }
      }),
      projectId: fake.project,
      clock,
    });
    await racing.updateSchedule(SECRET, { kind: 'rate', everyMs: 2 * day });
    expect(fake.secret(SECRET)?.rotation?.rotationPeriodSeconds).toBe(2 * 86_400);
    expect(fake.secret(SECRET)?.labels.raced).toBe('yes');
  });

  it('a rotation period that is no rate (set by hand) is no schedule and a warning, never an error', async () => {
    const lines: string[] = [];
    const watched = new SecretManagerStore({ client, projectId: fake.project, clock, logger: canaryLogger(lines) });
    await seed({ topics: [`projects/${fake.project}/topics/rotations`] });
    for (const seconds of [5_400, 1001 * 86_400, 100 * 365 * 86_400]) {
      lines.length = 0;
      await client.updateSecret({
        secret: { name: name(), rotation: { rotationPeriod: { seconds }, nextRotationTime: { seconds: Math.floor(now.getTime() / 1000) + 86_400 } } },
        updateMask: { paths: ['rotation'] },
      });
      const info = await watched.describe(SECRET);
      expect(info.rotation.schedule).toBeUndefined();
      expect(info.nextRotationAt).toEqual(new Date(now.getTime() + 86_400_000));
      expect(lines.some((l) => l.includes('rotation period is not a whole number of hours'))).toBe(true);
      expect(await watched.dueSecretIds(new Date(now.getTime() + 3_600_000))).toEqual([]);
    }
    // The longest and the shortest rates the port has are read back.
    for (const seconds of [1000 * 86_400, 3_600]) {
      await client.updateSecret({
        secret: { name: name(), rotation: { rotationPeriod: { seconds }, nextRotationTime: { seconds: Math.floor(now.getTime() / 1000) + 86_400 } } },
        updateMask: { paths: ['rotation'] },
      });
      expect((await watched.describe(SECRET)).rotation.schedule).toEqual({ kind: 'rate', everyMs: seconds * 1000 });
    }
  });

  it('records a failed rotation as the rotator-last-error annotation by compare-and-swap; the next success clears it', async () => {
    await seed({ labels: { team: 'payments' } });
    const failing = rotatorWith(target, { set: () => Promise.reject(new RotatorError('TARGET_UNREACHABLE', 'db.local did not answer', { retryable: true })) });
    expect(await codeOf(engine(failing).rotate(SECRET))).toBe('TARGET_UNREACHABLE');
    // (the engine dates it by the real clock, not the store's)
    expect(fake.secret(SECRET)?.annotations[ANNOTATION.lastError]).toMatch(/^TARGET_UNREACHABLE setSecret \d{4}-\d\d-\d\dT[\d:.]+Z$/);
    const failed = await store.describe(SECRET);
    expect(failed.lastError).toMatchObject({ code: 'TARGET_UNREACHABLE', step: 'setSecret' });
    expect(failed.tags).toEqual({ team: 'payments' });
    await engine().rotate(SECRET);
    expect((await store.describe(SECRET)).lastError).toBeUndefined();
    expect(fake.secret(SECRET)?.annotations[ANNOTATION.lastError]).toBeUndefined();
    // Clearing what is not there writes nothing; a failure that is more than a code, a step and a time is refused.
    const updates = () => fake.calls.filter((c) => c.rpc === 'UpdateSecret').length;
    const before = updates();
    await store.recordRotationError(SECRET, undefined);
    expect(await codeOf(store.recordRotationError(SECRET, { code: 'bad code\nwith a line', at: now }))).toBe('INVALID_INPUT');
    expect(await codeOf(store.recordRotationError(SECRET, { code: 'STORE_IO', at: now, step: 'step with spaces' }))).toBe('INVALID_INPUT');
    expect(updates()).toBe(before);
  });

  it('does not believe a recorded failure edited by hand, and keeps room for one within the 16 KiB of annotations', async () => {
    await seed();
    const setAnnotation = async (key: string, value: string): Promise<void> => {
      const [secret] = await client.getSecret({ name: name() });
      await client.updateSecret({ secret: { name: name(), etag: secret.etag ?? '', annotations: { ...secret.annotations, [key]: value } }, updateMask: { paths: ['annotations'] } });
    };
    for (const value of ['TARGET_AUTH_FAILED setSecret yesterday', 'password=hunter2 setSecret 2030-01-01T00:00:00.000Z', 'X'.repeat(129), 'CODE step 2030-01-01T00:00:00.000Z extra', 'CODE\u0000 step 2030-01-01T00:00:00.000Z', '']) {
      await setAnnotation(ANNOTATION.lastError, value);
      const info = await store.describe(SECRET);
      expect(info.lastError).toBeUndefined();
      expect(JSON.stringify(info)).not.toContain('hunter2');
    }
    const longest = { code: `E${'X'.repeat(63)}`, step: 's'.repeat(32), at: now };
    await store.recordRotationError(SECRET, longest);
    expect((await store.describe(SECRET)).lastError).toEqual(longest);
    // Annotations filled to the byte by others: a rotation is refused before it starts, as it could not record its
    // failure; with room for exactly one rotation and its failure it starts, fails, and records it.
    const used = (): number => Object.entries(fake.secret(SECRET)?.annotations ?? {}).reduce((n, [k, v]) => n + Buffer.byteLength(k) + Buffer.byteLength(v), 0);
    await store.recordRotationError(SECRET, undefined);
    const token = 'sm-token-room';
    const needs = rotationBytes(token);
    await setAnnotation('filler', '');
    await setAnnotation('filler', 'f'.repeat(SECRET_MANAGER_MAX_ANNOTATIONS_BYTES - used() - needs + 1));
    expect(await codeOf(store.startRotation(SECRET, token))).toBe('INVALID_INPUT');
    await setAnnotation('filler', 'f'.repeat(SECRET_MANAGER_MAX_ANNOTATIONS_BYTES - (used() - (fake.secret(SECRET)?.annotations.filler?.length ?? 0)) - needs));
    await store.startRotation(SECRET, token);
    await store.putPending(SECRET, token, JSON.stringify({ ...initial, password: 'pending-password-sm-room' }));
    recordSecrets('pending-password-sm-room');
    await store.recordRotationError(SECRET, longest);
    expect((await store.describe(SECRET)).lastError).toEqual(longest);
    await store.promote(SECRET, token);
    expect(used()).toBeLessThanOrEqual(SECRET_MANAGER_MAX_ANNOTATIONS_BYTES);
  });

  it('describeAll gives what describe gives for every rotation-enabled secret, in one ListSecrets and one ListSecretVersions each', async () => {
    for (let i = 0; i < 12; i++) await seed({ labels: { index: String(i) } }, `sm-fleet-${String(i).padStart(2, '0')}`);
    await seed({ settings: { enabled: false } }, 'sm-fleet-off');
    await engine().rotate('sm-fleet-03');
    await store.recordRotationError('sm-fleet-05', { code: 'STORE_IO', at: now, step: 'createSecret' });
    const calls = fake.calls.length;
    const all = await store.describeAll();
    const made = fake.calls.slice(calls);
    expect(made.filter((c) => c.rpc === 'ListSecrets')).toHaveLength(1);
    expect(made.filter((c) => c.rpc === 'ListSecretVersions')).toHaveLength(12);
    expect(made).toHaveLength(13);
    expect(all.map((i) => i.secretId)).toEqual((await store.listSecretIds()));
    for (const info of all) expect(info).toEqual(await store.describe(info.secretId));
    expect(all.find((i) => i.secretId === 'sm-fleet-05')?.lastError).toMatchObject({ code: 'STORE_IO' });
    expect(await new SecretManagerStore({ client, projectId: fake.project, clock }).describeAll({ signal: AbortSignal.abort(new Error('stop')) }).catch((e: unknown) => String(e))).toContain('stop');
    // A secret deleted between the listing and its versions is left out, as the next listing would; other failures fail it.
    fake.failNext('ListSecretVersions', GRPC_STATUS.NOT_FOUND);
    expect(await store.describeAll()).toHaveLength(11);
    fake.failNext('ListSecretVersions', GRPC_STATUS.PERMISSION_DENIED);
    expect(await codeOf(store.describeAll())).toBe('STORE_IO');
  });

  it('refuses hostile ids, tokens and version ids before any call', async () => {
    await seed();
    const before = fake.calls.length;
    const hostile = ['', 'a\nb', 'a\u0000b', 'a\rb', '../sm-app', 'sm/app', 'sm.app', 'é', 'x'.repeat(240), `${SECRET}${PENDING_SECRET_SUFFIX}`, 'projects/other/secrets/x'];
    for (const id of hostile) {
      expect(await codeOf(store.describe(id))).toBe('INVALID_INPUT');
      expect(await codeOf(store.getValue(id, { stage: 'CURRENT' }))).toBe('INVALID_INPUT');
      expect(await codeOf(store.lockRotation(id))).toBe('INVALID_INPUT');
      const error = await errorOf(store.startRotation(id, 'sm-token-x'));
      if (id.length > 0 && id.length < 200) expect(error.message).not.toContain(id);
    }
    for (const token of ['12345', 'a|b', 'a\nb', '', 'x'.repeat(129), 'tök']) {
      expect(await codeOf(store.startRotation(SECRET, token))).toBe('INVALID_INPUT');
      expect(await codeOf(store.putPending(SECRET, token, 'value'))).toBe('INVALID_INPUT');
    }
    for (const versionId of ['0', '01', 'a|b', '1.5', 'a\nb']) expect(await codeOf(store.getValue(SECRET, { versionId }))).toBe('INVALID_INPUT');
    expect(fake.calls.length).toBe(before);
    // The longest id that leaves room for the companion is fine.
    const longest = 'l'.repeat(239);
    await seed({}, longest);
    expect((await store.describe(longest)).versions).toHaveLength(1);
  });

  it('keeps a value of exactly 64 KiB and refuses one byte more before any call', async () => {
    expect(store.maxValueBytes).toBe(SECRET_MANAGER_MAX_VALUE_BYTES);
    expect(SECRET_MANAGER_MAX_VALUE_BYTES).toBe(65_536);
    await seed();
    await store.startRotation(SECRET, 'sm-token-size');
    const before = fake.calls.length;
    expect(await codeOf(store.putPending(SECRET, 'sm-token-size', 'x'.repeat(65_537)))).toBe('INVALID_INPUT');
    expect(await codeOf(store.putPending(SECRET, 'sm-token-size', `${'x'.repeat(65_535)}é`))).toBe('INVALID_INPUT');
    expect(fake.calls.length).toBe(before);
    const exact = 'y'.repeat(65_536);
    await store.putPending(SECRET, 'sm-token-size', exact);
    expect(await store.getValue(SECRET, { versionId: 'sm-token-size', stage: 'PENDING' })).toBe(exact);
    await store.promote(SECRET, 'sm-token-size');
    expect(await read('latest')).toBe(exact);
  });

  it('maps injected failures to typed errors, with nothing half-written', async () => {
    await seed();
    fake.failNext('UpdateSecret', GRPC_STATUS.PERMISSION_DENIED);
    const denied = await errorOf(store.startRotation(SECRET, 'sm-token-fail'));
    expect(denied.code).toBe('STORE_IO');
    expect(denied.retryable).toBe(false);
    expect(denied.message).toContain('secretmanager.secrets.update');
    expect(fake.secret(SECRET)?.annotations[ANNOTATION.pending]).toBeUndefined();

    await store.startRotation(SECRET, 'sm-token-fail');
    fake.failNext('AddSecretVersion', GRPC_STATUS.INVALID_ARGUMENT);
    expect(await codeOf(store.putPending(SECRET, 'sm-token-fail', 'value-pending-fail'))).toBe('INVALID_INPUT');
    expect((await store.describe(SECRET)).versions.find((v) => v.versionId === 'sm-token-fail')).toMatchObject({ stages: ['PENDING'], hasValue: false });
    await store.putPending(SECRET, 'sm-token-fail', 'value-pending-fail');

    fake.failNext('AddSecretVersion', GRPC_STATUS.UNAVAILABLE);
    const unavailable = await errorOf(store.promote(SECRET, 'sm-token-fail'));
    expect(unavailable.code).toBe('STORE_IO');
    expect(unavailable.retryable).toBe(true);
    expect(fake.versions(SECRET)).toHaveLength(1);
    expect(JSON.parse(await read('latest'))).toEqual(initial);

    fake.failNext('UpdateSecret', GRPC_STATUS.UNAVAILABLE);
    expect(await codeOf(store.promote(SECRET, 'sm-token-fail'))).toBe('STORE_IO'); // added, then its bookkeeping failed
    expect(fake.secret(SECRET)?.versionAliases).toEqual({ current: 1 });
    await store.promote(SECRET, 'sm-token-fail'); // finishes it: the added copy is adopted
    expect(fake.versions(SECRET)).toHaveLength(2);
    expect(fake.secret(SECRET)?.versionAliases).toEqual({ current: 2, previous: 1 });

    fake.failNext('ListSecretVersions', GRPC_STATUS.DEADLINE_EXCEEDED);
    expect(await errorOf(store.describe(SECRET))).toMatchObject({ code: 'STORE_IO', retryable: true });
    fake.failNext('GetSecret', GRPC_STATUS.UNAUTHENTICATED);
    expect(await errorOf(store.describe(SECRET))).toMatchObject({ code: 'STORE_IO', retryable: false });
    expect(await codeOf(store.describe('sm-absent'))).toBe('SECRET_NOT_FOUND');
    expect(await codeOf(store.getValue('sm-absent', { stage: 'CURRENT' }))).toBe('SECRET_NOT_FOUND');
    await client.createSecret({ parent: `projects/${fake.project}`, secretId: 'sm-no-companion', secret: { replication: { automatic: {} }, labels: { [SM_LABEL.enabled]: 'true' } } });
    await store.startRotation('sm-no-companion', 'sm-token-companion');
    const missing = await errorOf(store.putPending('sm-no-companion', 'sm-token-companion', 'value-pending-companion'));
    expect(missing.code).toBe('SECRET_NOT_FOUND');
    expect(missing.message).toContain(`sm-no-companion${PENDING_SECRET_SUFFIX}`);
  });

  it('honours the caller\'s signal: an aborted call fails with the caller\'s reason, before or during the call', async () => {
    await seed();
    const reason = new RotatorError('ROTATION_IN_PROGRESS', 'the lock was lost', { retryable: true });
    const before = fake.calls.length;
    expect(await store.getValue(SECRET, { stage: 'CURRENT' }, { signal: AbortSignal.abort(reason) }).catch((e: unknown) => e)).toBe(reason);
    expect(await store.describe(SECRET, { signal: AbortSignal.abort(reason) }).catch((e: unknown) => e)).toBe(reason);
    expect(fake.calls.length).toBe(before);
    const controller = new AbortController();
    const slow = interceptingClient(client, 'getSecret', async () => {
      controller.abort(reason);
      await sleep(50);
    });
    const during = new SecretManagerStore({ client: slow, projectId: fake.project });
    expect(await during.describe(SECRET, { signal: controller.signal }).catch((e: unknown) => e)).toBe(reason);
    const timedOut = await errorOf(store.describe(SECRET, { signal: AbortSignal.abort(new DOMException('deadline', 'TimeoutError')) }));
    expect(timedOut).toMatchObject({ code: 'STORE_IO', retryable: true });
  });

  it('checks the project id and keeps the test-only endpoint on loopback', async () => {
    for (const projectId of ['p', 'Test-Project', '1project', 'project-', 'x'.repeat(31), 'proj\nect', 'example.com:proj']) {
      expect(() => createSecretManagerClient({ projectId })).toThrow(/project id is invalid/);
      expect(() => new SecretManagerStore({ client, projectId })).toThrow(/project id is invalid/);
    }
    const options = fake.clientOptions();
    for (const apiEndpoint of ['secretmanager.evil.example', '10.0.0.1', 'secretmanager.googleapis.com']) {
      expect(() => createSecretManagerClient({ projectId: fake.project, testOnly: { apiEndpoint, port: 443, sslCreds: options.sslCreds, auth: options.auth } })).toThrow(/loopback/);
    }
    const production = createSecretManagerClient({ projectId: 'my-project-123' });
    expect(production.universeDomain).toBe('googleapis.com');
    expect(production.apiEndpoint).toBe('secretmanager.googleapis.com');
    await production.close();
    expect(() => new SecretManagerStore({ client, projectId: fake.project, lockTtlMs: 10 })).toThrow(/ttl/);
    // What a mapped error says, and what it never says.
    const mapped = mapSecretManagerError(Object.assign(new Error('3 INVALID_ARGUMENT: bad value value-echoed-1'), { code: 3, details: 'bad value value-echoed-1' }), {
      operation: 'AddSecretVersion',
      secretId: SECRET,
      scrub: ['value-echoed-1'],
    });
    expect(mapped.code).toBe('INVALID_INPUT');
    expect(mapped.message).not.toContain('value-echoed-1');
  });
});

// ---- a real database, end to end ----

describe('SecretManagerStore: rotating a real PostgreSQL credential', () => {
  const pg = testTargets().find((t) => t.engine === 'postgres');
  if (pg === undefined) throw new Error('no PostgreSQL target');
  let fake: SecretManagerFake;
  let client: SecretManagerServiceClient;
  let store: SecretManagerStore;
  let counter = 0;

  beforeEach(async () => {
    fake = await startSecretManagerFake();
    client = clientFor(fake);
    store = new SecretManagerStore({ client, projectId: fake.project, lockTtlMs: 30_000 });
  });
  afterEach(async () => {
    await harvest(fake, client);
    await client.close();
    await fake.close();
  });

  function password(): string {
    const p = `Sm-${counter}-${Math.random().toString(36).slice(2)}-pw`;
    recordSecrets(p);
    return p;
  }

  async function consumerReads(version: 'latest' | 'current'): Promise<{ username: string; password: string }> {
    const [response] = await client.accessSecretVersion({ name: `projects/${fake.project}/secrets/sm-pg-app/versions/${version}` });
    return JSON.parse(response.payload?.data?.toString() ?? '{}') as { username: string; password: string };
  }

  it.each(['single-user', 'alternating-users'] as const)('%s: the database accepts the new CURRENT, and the old one as the strategy says', async (strategy) => {
    counter += 1;
    const user = `sm_${strategy === 'single-user' ? 'single' : 'alt'}_${counter}_${Date.now() % 100_000}`;
    const first = password();
    await pg.createUser(user, first);
    let value = pg.secret(user, first);
    if (strategy === 'alternating-users') {
      const master = pg.secret(`${user}_master`, password());
      await pg.createUser(master.username as string, master.password as string, { master: true });
      await createSeededSecretManagerSecret(client, fake.project, 'sm-pg-master', JSON.stringify(master), { settings: { enabled: false } });
      value = { ...value, masterarn: 'sm-pg-master' };
    }
    await createSeededSecretManagerSecret(client, fake.project, 'sm-pg-app', JSON.stringify(value), { settings: { enabled: true, strategy } });
    const engine = new RotationEngine({ store, rotators: [pg.rotator()], logger: canaryLogger(), env: {} });

    const report = await engine.rotate('sm-pg-app');
    expect(report.steps.map((s) => s.outcome)).toEqual(['done', 'done', 'done', 'done']);
    const current = JSON.parse(await store.getValue('sm-pg-app', { stage: 'CURRENT' })) as { username: string; password: string };
    // What consumers read (`latest`, or the alias `current`) logs in.
    expect(await consumerReads('latest')).toEqual(current);
    expect(await consumerReads('current')).toEqual(current);
    expect(await pg.logsIn(current.username, current.password)).toBe(true);
    const previous = JSON.parse(await store.getValue('sm-pg-app', { stage: 'PREVIOUS' })) as { username: string; password: string };
    expect(previous.password).toBe(first);
    if (strategy === 'single-user') {
      expect(current.username).toBe(user);
      expect(await pg.logsIn(user, first)).toBe(false);
    } else {
      expect(current.username).toBe(`${user}_clone`);
      expect(await pg.logsIn(user, first)).toBe(true); // the old user still works until the purger revokes it
      const again = await engine.rotate('sm-pg-app');
      expect(again.resumed).toBe(false);
      const back = JSON.parse(await store.getValue('sm-pg-app', { stage: 'CURRENT' })) as { username: string; password: string };
      expect(back.username).toBe(user);
      expect(await pg.logsIn(back.username, back.password)).toBe(true);
      expect(await pg.logsIn(current.username, current.password)).toBe(true);
    }
  });
});
