import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import * as functionsFramework from '@google-cloud/functions-framework';
import { getTestServer } from '@google-cloud/functions-framework/testing';
import type { SecretManagerServiceClient } from '@google-cloud/secret-manager';
import * as grpc from '@grpc/grpc-js';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createGcpHandlers, type GcpFunctionDeps, type GcpHandlers, type HttpAnswer } from '../../functions/gcp/handlers.js';
import { FUNCTIONS, registerGcpFunctions } from '../../functions/gcp/register.js';
import type { Rotator } from '../../shared/rotator.js';
import type { SecretStore, Strategy } from '../../shared/store.js';
import { SecretManagerStore, createCloudSchedulerClient, createSecretManagerClient, createSeededSecretManagerSecret, reconcileRotationJobs, rotationJobId } from '../../stores/gcp/index.js';
import { startCloudSchedulerFake } from '../fakes/gcp/cloud-scheduler.js';
import { startSecretManagerFake, type PublishedMessage, type SecretManagerFake } from '../fakes/gcp/secret-manager.js';
import { recordOutput, recordSecretValue, recordSecrets } from '../support/canary.js';
import { recordingGcpHandlers } from '../support/gcp-events.js';
import { rotatorWith, storeWith } from '../support/stores.js';
import { testTargets, type TestTarget } from '../support/targets.js';

/**
 * Google Cloud end to end: the functions' handlers (functions/gcp) over the Secret Manager store, through the real
 * SecretManagerServiceClient against the gRPC fake, rotating real PostgreSQL and MariaDB credentials, single-user
 * and alternating-users. The notifications are the ones the fake publishes as the service would (SECRET_ROTATE at
 * the due time, and our own SECRET_UPDATE / SECRET_VERSION_ADD), wrapped as Eventarc delivers them.
 *
 * What it proves, per engine and strategy:
 * - SECRET_ROTATE rotates; its redelivery and the notifications the rotation itself causes change nothing more;
 * - `rotate` over HTTP (one secret now; every due secret), `purge`, and `reconcileJobs`, whose job's Force run is
 *   delivered by the Cloud Scheduler fake to the rotate function served by the Functions Framework;
 * - the sweep catches a notification lost for good and a rotation left PENDING;
 * - a crash at each point of a rotation (after each step's write, after the database change, between
 *   AddSecretVersion and the alias move, after the alias move) is finished by the redelivery, with one version per
 *   value and a CURRENT that logs in;
 * - concurrent triggers make one mutation sequence at the database;
 * - a reader polling `latest` and the alias `current` the whole time never sees a value that did not pass testSecret.
 */
const PROJECT = 'rotator-e2e';
const PROJECT_NUMBER = '424242424242';
const TOPIC = `projects/${PROJECT}/topics/rotator`;
const SECRET = 'e2e-app';
const MASTER = 'e2e-master';
const DAY = 86_400_000;
const LOCK_TTL_MS = 2_000;

class Crash extends Error {
  constructor(where: string) {
    super(`simulated crash ${where}`);
  }
}

let fake: SecretManagerFake;
let client: SecretManagerServiceClient;
let counter = 0;
/** The fake's and the stores' clock: real time plus what a test skips forward (a dead lock's expiry). */
let skewMs = 0;
const clock = (): Date => new Date(Date.now() + skewMs);

beforeEach(async () => {
  skewMs = 0;
  fake = await startSecretManagerFake({ project: PROJECT, projectNumber: PROJECT_NUMBER, clock });
  const options = fake.clientOptions();
  client = createSecretManagerClient({
    projectId: PROJECT,
    testOnly: { apiEndpoint: String(options.apiEndpoint), port: Number(options.port), sslCreds: options.sslCreds, auth: options.auth },
  });
});

afterEach(async () => {
  // Every value the fake holds goes to the leak canary before it is gone.
  for (const id of [SECRET, `${SECRET}-rotator-pending`, MASTER]) {
    for (const v of fake.versions(id)) {
      const payload = fake.payload(id, v.n);
      if (payload !== undefined) recordSecretValue(payload.toString('utf8'));
    }
  }
  await client.close();
  await fake.close();
});

function store(overrides: { client?: SecretManagerServiceClient } = {}): SecretManagerStore {
  return new SecretManagerStore({ client: overrides.client ?? client, projectId: PROJECT, clock, lockTtlMs: LOCK_TTL_MS });
}

function password(): string {
  counter += 1;
  const p = `Gcp-${counter}-${Math.random().toString(36).slice(2)}-pw`;
  recordSecrets(p);
  return p;
}

/** The client with every call after `crashAt` answered failing: the process died there. */
function crashingClient(crashAt: (rpc: string, request: Record<string, unknown>) => boolean): SecretManagerServiceClient {
  let crashed = false;
  return new Proxy(client, {
    get(target, name) {
      const member: unknown = Reflect.get(target, name);
      if (typeof member !== 'function' || typeof name !== 'string') return member;
      return (...args: unknown[]) => {
        // Thrown, not a rejected promise: the paging methods answer iterables, and a dead process answers nothing.
        if (crashed) throw new Crash(`before ${name}`);
        const result = (member as (...a: unknown[]) => unknown).apply(target, args);
        if (!crashAt(name, (args[0] ?? {}) as Record<string, unknown>)) return result;
        return (result as Promise<unknown>).then((out) => {
          crashed = true;
          return out;
        });
      };
    },
  });
}

const mainSecretName = `projects/${PROJECT}/secrets/${SECRET}`;
const isMainAdd = (rpc: string, request: Record<string, unknown>): boolean => rpc === 'addSecretVersion' && request.parent === mainSecretName;

describe.each(testTargets())('$engine', (target: TestTarget) => {
  describe.each(target.strategies)('%s', (strategy: Strategy) => {
    const alternating = strategy === 'alternating-users';
    let user: string;
    /** Passwords testSecret passed: the only ones consumers may ever read, besides the first. */
    let tested: Set<string>;
    let initial: string;
    let sets: number;

    beforeEach(async () => {
      tested = new Set();
      sets = 0;
      user = `gcp_${target.engine}_${alternating ? 'alt' : 'one'}_${counter}_${Math.random().toString(36).slice(2, 6)}`;
      const pw = password();
      await target.createUser(user, pw);
      let secret = target.secret(user, pw);
      if (alternating) {
        const master = target.secret(`gcp_master_${counter}_${Math.random().toString(36).slice(2, 6)}`, password());
        await target.createUser(master.username as string, master.password as string, { master: true });
        await createSeededSecretManagerSecret(client, PROJECT, MASTER, JSON.stringify(master), { settings: { enabled: false } });
        secret = { ...secret, masterarn: MASTER };
      }
      initial = JSON.stringify(secret);
      await createSeededSecretManagerSecret(client, PROJECT, SECRET, initial, {
        settings: { enabled: true, strategy, safeWindowMs: 0, keepSuperseded: 0 },
        rotation: { periodSeconds: 30 * 86_400, next: new Date(clock().getTime() + 3_600_000) },
        topics: [TOPIC],
      });
    });

    /** The engine's rotator, recording every value its test passed and counting password changes at the server. */
    function rotator(overrides: Partial<Rotator> = {}): Rotator {
      const real = target.rotator();
      return rotatorWith(real, {
        set: async (input, ctx) => {
          await real.set(input, ctx);
          sets += 1;
        },
        test: async (pending, ctx, input) => {
          await real.test(pending, ctx, input);
          tested.add(String(pending.password));
        },
        ...overrides,
      });
    }

    function handlers(overrides: Partial<GcpFunctionDeps> = {}): GcpHandlers {
      return recordingGcpHandlers(
        createGcpHandlers({
          store: store(),
          dueSecretIds: (now) => store().dueSecretIds(now),
          rotators: [rotator()],
          scope: { projectId: PROJECT, projectNumber: PROJECT_NUMBER },
          defaultStrategy: 'single-user',
          retention: { safeWindowMs: 0, keepSuperseded: 0 },
          logLevel: 'debug',
          env: {},
          clock,
          write: (line) => recordOutput(`${line}\n`),
          ...overrides,
        }),
      );
    }

    /** Secret Manager's notification, as Eventarc delivers it (the fake publishes it with the project's id). */
    function delivered(message: PublishedMessage, messageId = `m-${String(counter)}-${message.attributes.eventType}`): Record<string, unknown> {
      return {
        specversion: '1.0',
        id: messageId,
        type: 'google.cloud.pubsub.topic.v1.messagePublished',
        source: `//pubsub.googleapis.com/${message.topic}`,
        time: message.attributes.timestamp,
        data: { subscription: `projects/${PROJECT}/subscriptions/eventarc`, message: { attributes: message.attributes, data: message.data, messageId, publishTime: message.attributes.timestamp } },
      };
    }

    /** Skips to the due time and takes the SECRET_ROTATE the service publishes then. */
    function secretRotate(): Record<string, unknown> {
      skewMs += 3_600_000 + 1_000;
      const fired = fake.fireDueRotations().filter((m) => m.attributes.secretId.endsWith(`/secrets/${SECRET}`));
      expect(fired).toHaveLength(1);
      return delivered(fired[0] as PublishedMessage);
    }

    async function currentValue(): Promise<{ username: string; password: string }> {
      const [version] = await client.accessSecretVersion({ name: `${mainSecretName}/versions/current` });
      const value = JSON.parse(Buffer.from(version.payload?.data ?? []).toString('utf8')) as { username: string; password: string };
      recordSecrets(value.password);
      return value;
    }

    async function currentLogsIn(): Promise<boolean> {
      const value = await currentValue();
      return target.logsIn(value.username, value.password);
    }

    /** Reads `latest` and `current` as consumers do, until stopped; everything read must be tested (or the first). */
    function pollingReader(): { stop: () => Promise<string[]> } {
      const seen: string[] = [];
      const reading = { on: true };
      const loop = (async () => {
        while (reading.on) {
          for (const alias of ['latest', 'current']) {
            try {
              const [v] = await client.accessSecretVersion({ name: `${mainSecretName}/versions/${alias}` });
              seen.push(Buffer.from(v.payload?.data ?? []).toString('utf8'));
            } catch (error) {
              seen.push(`unreadable: ${String((error as { code?: number }).code)}`);
            }
          }
          await new Promise((r) => setTimeout(r, 2));
        }
      })();
      return {
        stop: async () => {
          reading.on = false;
          await loop;
          return seen;
        },
      };
    }

    function expectOnlyTestedValues(seen: readonly string[]): void {
      expect(seen.length).toBeGreaterThan(0);
      for (const value of seen) {
        expect(value.startsWith('unreadable'), `a reader of latest or current failed: ${value}`).toBe(false);
        const read = JSON.parse(value) as { password: string };
        expect(value === initial || tested.has(read.password), 'a reader saw a value that had not passed testSecret').toBe(true);
      }
    }

    /** One version on the main secret per distinct value, the aliases on the newest, nothing left PENDING. */
    async function expectConverged(): Promise<void> {
      const versions = fake.versions(SECRET).filter((v) => v.state !== 'DESTROYED');
      const payloads = versions.map((v) => fake.payload(SECRET, v.n)?.toString('utf8'));
      expect(new Set(payloads).size).toBe(payloads.length);
      const meta = fake.secret(SECRET);
      expect(Number(meta?.versionAliases.current)).toBe(fake.versions(SECRET).at(-1)?.n);
      expect(Object.keys(meta?.annotations ?? {}).filter((k) => k === 'rotator-pending' || k === 'rotator-lock')).toEqual([]);
      expect(await currentLogsIn()).toBe(true);
      const info = await store().describe(SECRET);
      expect(info.versions.filter((v) => v.stages.includes('PENDING'))).toEqual([]);
    }

    it('SECRET_ROTATE rotates; its redelivery and our own notifications change nothing more', async () => {
      const reader = pollingReader();
      const event = secretRotate();
      const first = await handlers().onSecretEvent(event);
      expect(first).toMatchObject({ outcome: 'rotated' });
      const again = await handlers().onSecretEvent(event);
      expect(again).toMatchObject({ outcome: 'already-rotated' });
      // What the rotation itself published (SECRET_UPDATE, SECRET_VERSION_ADD) is acknowledged and ignored.
      const own = fake.published.filter((m) => m.attributes.eventType !== 'SECRET_ROTATE');
      expect(own.length).toBeGreaterThan(0);
      for (const m of own) expect(await handlers().onSecretEvent(delivered(m, `own-${m.attributes.eventType}-${String(fake.published.indexOf(m))}`))).toMatchObject({ outcome: 'ignored' });
      expectOnlyTestedValues(await reader.stop());
      expect(sets).toBe(1);
      await expectConverged();
      const now = await currentValue();
      expect(now.username).toBe(alternating ? `${user}_clone` : user);
      expect(await target.logsIn(now.username, now.password)).toBe(true);
    });

    it('rotate over HTTP (one secret now; every due secret), then purge retires what was superseded', async () => {
      // A secret renewed in the last ten minutes is not rotated again by "rotate now" (the trigger twice).
      skewMs += 11 * 60_000;
      const rotateNow = await handlers().rotate({ method: 'POST', rawBody: Buffer.from(JSON.stringify({ secretId: SECRET })) });
      expect(rotateNow.status).toBe(200);
      expect(rotateNow.body).toMatchObject({ outcome: 'rotated' });
      // Pressed again at once: the dedupe window makes it one rotation.
      const twice = await handlers().rotate({ method: 'POST', rawBody: Buffer.from(JSON.stringify({ secretId: SECRET })) });
      expect(twice.body).toMatchObject({ outcome: 'already-rotated' });
      expect(sets).toBe(1);
      // A period later the secret is due, and the sweep rotates it.
      skewMs += 31 * DAY;
      const sweep: HttpAnswer = await handlers().rotate({ method: 'POST', rawBody: Buffer.from('{"due":true}') });
      expect(sweep.status).toBe(200);
      expect(sweep.body).toMatchObject({ sweep: { failed: 0, secrets: [{ secretId: SECRET, outcome: 'rotated' }] } });
      expect(sets).toBe(2);
      const purged = await handlers().purge({ method: 'POST' });
      expect(purged.status).toBe(200);
      const states = fake.versions(SECRET).map((v) => v.state);
      expect(states.at(-1)).toBe('ENABLED');
      expect(states.filter((s) => s === 'ENABLED').length).toBeLessThan(states.length);
      await expectConverged();
    });

    it('reconcileJobs makes the secret\'s Cloud Scheduler job, and its Force run rotates it, over HTTP', async () => {
      // The functions as Cloud Run serves them: the Functions Framework over HTTP, with the handlers of this test.
      const scheduler = await startCloudSchedulerFake({ project: PROJECT, location: 'europe-west1', clock });
      const jobs = createCloudSchedulerClient({ testOnly: { port: scheduler.port, sslCreds: grpc.credentials.createInsecure() } });
      const listen = async (name: string): Promise<Server> => {
        const server: Server = getTestServer(name);
        await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
        return server;
      };
      const urlOf = (server: Server): string => `http://127.0.0.1:${String((server.address() as AddressInfo).port)}/`;
      // (Each test registers its own: the framework keeps the last registration of a name.)
      let rotateUrl = '';
      const served = handlers({
        reconcileJobs: async ({ dryRun }) => {
          const target = { projectId: PROJECT, location: 'europe-west1', rotateUrl, serviceAccountEmail: `rotator-scheduler@${PROJECT}.iam.gserviceaccount.com` };
          return reconcileRotationJobs(jobs, target, await store().rotationSchedules(), { dryRun, testOnly: { allowLoopbackHttp: true } });
        },
      });
      registerGcpFunctions(functionsFramework, () => served, (line) => recordOutput(`${line}\n`));
      const rotateServer = await listen(FUNCTIONS.rotate);
      const reconcileServer = await listen(FUNCTIONS.reconcileJobs);
      try {
        rotateUrl = urlOf(rotateServer);
        const reconciled = await fetch(urlOf(reconcileServer), { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' });
        expect(reconciled.status).toBe(200);
        expect(await reconciled.json()).toMatchObject({ report: { counts: { created: 1, failed: 0 } } });
        expect(scheduler.jobs().map((j) => j.name)).toEqual([`${scheduler.parent}/jobs/${rotationJobId(SECRET)}`]);
        skewMs += 11 * 60_000; // past the dedupe window of a freshly seeded secret
        await jobs.runJob({ name: `${scheduler.parent}/jobs/${rotationJobId(SECRET)}` });
        await scheduler.idle();
        expect(scheduler.deliveries.map((d) => d.status)).toEqual([200]);
        expect(sets).toBe(1);
        await expectConverged();
      } finally {
        await jobs.close();
        await scheduler.close();
        await Promise.all([rotateServer, reconcileServer].map((server) => new Promise((resolve) => server.close(resolve))));
      }
    });

    it('the sweep catches what the notifications missed: a SECRET_ROTATE lost for good, a rotation left PENDING', async () => {
      // The service publishes and moves nextRotationTime on; the message never arrives.
      secretRotate();
      const sweep = async (): Promise<HttpAnswer> => handlers().rotate({ method: 'POST', rawBody: Buffer.from('{"due":true}') });
      expect(await sweep()).toMatchObject({ status: 200, body: { sweep: { secrets: [] } } });
      skewMs += 30 * DAY; // one period after CURRENT was renewed
      expect(await sweep()).toMatchObject({ status: 200, body: { sweep: { failed: 0, secrets: [{ secretId: SECRET, outcome: 'rotated' }] } } });
      expect(sets).toBe(1);
      // A rotation that died after changing the database, and whose redeliveries gave up, is finished by the sweep.
      skewMs += 31 * DAY;
      await handlers({ rotators: [rotator({ set: async (input, ctx) => { await target.rotator().set(input, ctx); sets += 1; throw new Crash('after set'); } })] })
        .rotate({ method: 'POST', rawBody: Buffer.from(JSON.stringify({ secretId: SECRET })) });
      // The failure is recorded on the secret (its rotator-last-error annotation) for `status`, and not as a label.
      const failed = await store().describe(SECRET);
      expect(failed.lastError).toMatchObject({ code: 'INTERNAL', step: 'setSecret' });
      expect(failed.tags).toEqual({});
      skewMs += LOCK_TTL_MS + 1_000;
      expect(await sweep()).toMatchObject({ status: 200, body: { sweep: { failed: 0, secrets: [{ secretId: SECRET, outcome: 'resumed' }] } } });
      await expectConverged();
      // The rotation that succeeded cleared it.
      expect((await store().describe(SECRET)).lastError).toBeUndefined();
      expect(fake.secret(SECRET)?.annotations['rotator-last-error']).toBeUndefined();
    });

    const crashPoints: Array<[string, () => Partial<GcpFunctionDeps>]> = [
      ['after the pending value is stored', () => ({ store: storeWith(store(), { putPending: failAfter('putPending', store()) }) })],
      ['after the database change', () => ({ rotators: [rotator({ set: async (input, ctx) => { await target.rotator().set(input, ctx); sets += 1; throw new Crash('after set'); } })] })],
      ['after testSecret', () => ({ rotators: [rotator({ test: async (pending, ctx, input) => { await target.rotator().test(pending, ctx, input); tested.add(String(pending.password)); throw new Crash('after test'); } })] })],
      ['between AddSecretVersion and the alias move', () => ({ store: store({ client: crashingClient(isMainAdd) }) })],
      ['after the alias move, before the companion cleanup', () => ({ store: store({ client: crashingClient(afterPromotion()) }) })],
    ];

    it.each(crashPoints)('a crash %s is finished by the redelivery', async (_where, crashing) => {
      const reader = pollingReader();
      const event = secretRotate();
      const deps = crashing();
      // A thrown crash stands for a process that died: whatever this run answered, Pub/Sub delivers the message again.
      await handlers(deps)
        .onSecretEvent(event)
        .catch(() => undefined);
      expect(await someVersionLogsIn()).toBe(true);
      if (alternating) expect(await currentLogsIn()).toBe(true);
      // The dead run's lock may still be there: the redelivery is refused until it expires, then finishes the work.
      let outcome = await handlers().onSecretEvent(event).catch((error: unknown) => error);
      if (outcome instanceof Error) {
        expect(outcome).toMatchObject({ code: 'ROTATION_IN_PROGRESS' });
        skewMs += LOCK_TTL_MS + 1_000;
        outcome = await handlers().onSecretEvent(event);
      }
      expect(['resumed', 'already-rotated']).toContain((outcome as { outcome: string }).outcome);
      expectOnlyTestedValues(await reader.stop());
      await expectConverged();
      // The next rotation starts cleanly.
      skewMs += 31 * DAY;
      const next = secretRotate();
      expect(await handlers().onSecretEvent(next)).toMatchObject({ outcome: 'rotated' });
      await expectConverged();
    });

    it('concurrent triggers (the notification twice, its Scheduler job, a person) make one mutation sequence', async () => {
      const reader = pollingReader();
      const event = secretRotate();
      const results = await Promise.allSettled([
        handlers().onSecretEvent(event),
        handlers().onSecretEvent(event),
        handlers().rotate({ method: 'POST', rawBody: Buffer.from(JSON.stringify({ secretId: SECRET })) }),
        handlers().rotate({ method: 'POST', rawBody: Buffer.from(JSON.stringify({ secretId: SECRET })) }),
      ]);
      // The losers were told to come back (a thrown ROTATION_IN_PROGRESS, a 409); they come back and find it done.
      for (const r of results) {
        if (r.status === 'rejected') expect(r.reason).toMatchObject({ code: 'ROTATION_IN_PROGRESS' });
        else if ('status' in (r.value as object)) expect([200, 409]).toContain((r.value as HttpAnswer).status);
      }
      expect(await handlers().onSecretEvent(event)).toMatchObject({ outcome: 'already-rotated' });
      expect(sets).toBe(1);
      expectOnlyTestedValues(await reader.stop());
      await expectConverged();
    });

    /** Any stored version (CURRENT, or the PENDING one) logs in: no credential was lost. */
    async function someVersionLogsIn(): Promise<boolean> {
      const s = store();
      const info = await s.describe(SECRET);
      for (const v of info.versions.filter((x) => x.hasValue)) {
        const value = JSON.parse(await s.getValue(SECRET, { versionId: v.versionId })) as { username: string; password: string };
        recordSecrets(value.password);
        if (await target.logsIn(value.username, value.password)) return true;
      }
      return false;
    }
  });
});

/** The store's `method`, doing its work and then crashing. */
function failAfter(method: 'putPending', real: SecretStore): SecretStore['putPending'] {
  return async (...args) => {
    await real[method](...args);
    throw new Crash(`after ${method}`);
  };
}

/** Crashes after the UpdateSecret that follows the main secret's AddSecretVersion: the alias move. */
function afterPromotion(): (rpc: string, request: Record<string, unknown>) => boolean {
  let added = false;
  return (rpc, request) => {
    if (isMainAdd(rpc, request)) added = true;
    return added && rpc === 'updateSecret';
  };
}

