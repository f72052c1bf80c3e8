import type { AddressInfo, Server } from 'node:net';
import * as functionsFramework from '@google-cloud/functions-framework';
import { getTestServer } from '@google-cloud/functions-framework/testing';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { RECENTLY_RENEWED_MS, createGcpHandlers, type GcpFunctionDeps, type GcpHandlers, type HttpAnswer, type HttpCall, type ReconcileOutcome } from '../../functions/gcp/handlers.js';
import { FUNCTIONS, registerGcpFunctions } from '../../functions/gcp/register.js';
import { loadGcpSettings } from '../../functions/gcp/settings.js';
import { MAX_BODY_BYTES } from '../../functions/self-driven/http.js';
import { RotatorError, isRotatorError } from '../../shared/errors.js';
import type { Rotator, SetInput } from '../../shared/rotator.js';
import type { SecretStore } from '../../shared/store.js';
import { FileStore } from '../../stores/file/index.js';
import { recordOutput, recordSecrets } from '../support/canary.js';
import { messageOf, recordingGcpHandlers, secretManagerEvent } from '../support/gcp-events.js';
import { createTestStore, rotatorWith, storeWith, type TestStore } from '../support/stores.js';
import { testTargets, type TestTarget } from '../support/targets.js';

/**
 * The four Google Cloud functions (functions/gcp) rotating real PostgreSQL credentials. A file store stands in for
 * the Secret Manager store (it implements the same port; the test gives it the due list the Secret Manager store
 * computes from `rotation.nextRotationTime`), so this proves the handlers: the notification's decision, the
 * "unless renewed" check under the lock, what is thrown (Pub/Sub redelivers) and what is acknowledged, statuses,
 * bodies, log lines. Then the registration, with the real Functions Framework over HTTP on 127.0.0.1, as Eventarc,
 * a Pub/Sub push subscription and Cloud Scheduler call it. Every line and every answer goes to the leak canary.
 */
const PROJECT = 'rotator-test';
const NUMBER = '123456789012';
const DAY = 86_400_000;
const pg = testTargets().find((t) => t.engine === 'postgres') as TestTarget;

interface Line {
  severity: string;
  message: string;
  [field: string]: unknown;
}

let t: TestStore;
let lines: Line[];
let due: string[];
let sets: number;
let counter = 0;

beforeEach(() => {
  t = createTestStore();
  lines = [];
  due = [];
  sets = 0;
});

afterEach(async () => {
  await t.dispose();
  expect(lines.filter((l) => l.severity === 'NOT ONE JSON LINE')).toEqual([]);
});

/** The PostgreSQL rotator, counting the times it changed a password at the server. */
function countingRotator(): Rotator {
  const rotator = pg.rotator();
  return rotatorWith(rotator, {
    set: async (input: SetInput, ctx: Parameters<Rotator['set']>[1]) => {
      await rotator.set(input, ctx);
      sets += 1;
    },
  });
}

/**
 * Every line the functions write, kept and given to the canary. Each must be one JSON object on one line (Cloud
 * Logging's structured entry); that is checked after each test, not here, since the logger swallows what its writer
 * throws.
 */
function write(line: string): void {
  recordOutput(`${line}\n`);
  try {
    if (line.includes('\n')) throw new Error('two lines');
    lines.push(JSON.parse(line) as Line);
  } catch {
    lines.push({ severity: 'NOT ONE JSON LINE', message: line });
  }
}

function deps(overrides: Partial<GcpFunctionDeps> = {}): GcpFunctionDeps {
  return {
    store: t.store,
    dueSecretIds: () => Promise.resolve([...due]),
    rotators: [countingRotator()],
    scope: { projectId: PROJECT, projectNumber: NUMBER },
    defaultStrategy: 'single-user',
    retention: { safeWindowMs: 7 * DAY, keepSuperseded: 0 },
    logLevel: 'debug',
    env: {},
    write,
    ...overrides,
  };
}

function handlers(overrides: Partial<GcpFunctionDeps> = {}): GcpHandlers {
  return recordingGcpHandlers(createGcpHandlers(deps(overrides)));
}

function password(): string {
  const p = `Gcp-${counter}-${Math.random().toString(36).slice(2)}-pw`;
  recordSecrets(p);
  return p;
}

/**
 * A PostgreSQL user and its secret in the store, rotation on. The secret was put a day ago (a second handle on the
 * same file, with its clock set back), as a secret is when its notification comes: a value put moments before counts
 * as renewed, and the "unless renewed" check would rightly leave it alone.
 */
async function seed(name: string, options: { brokenPassword?: boolean } = {}): Promise<{ user: string; initial: string }> {
  counter += 1;
  const user = `gcpfn_${name.replaceAll('-', '_')}_${counter}`;
  const initial = password();
  await pg.createUser(user, initial);
  const stored = options.brokenPassword === true ? password() : initial;
  const yesterday = new FileStore({ path: t.path, key: t.key, clock: () => new Date(Date.now() - DAY) });
  await yesterday.createSecret(name, JSON.stringify(pg.secret(user, stored)), { rotation: { enabled: true } });
  return { user, initial };
}

async function current(name: string): Promise<{ username: string; password: string }> {
  const value = JSON.parse(await t.store.getValue(name, { stage: 'CURRENT' })) as { username: string; password: string };
  recordSecrets(value.password);
  return value;
}

/** What register.ts hands the handlers: the method and the bytes the framework kept. */
function post(body?: string, method = 'POST'): HttpCall {
  return { method, rawBody: body === undefined ? undefined : Buffer.from(body) };
}

function errorCode(answer: HttpAnswer): string | undefined {
  return (answer.body as { error?: { code?: string } }).error?.code;
}

async function thrown(promise: Promise<unknown>): Promise<RotatorError> {
  try {
    await promise;
  } catch (error) {
    if (isRotatorError(error)) return error;
    throw error;
  }
  throw new Error('expected the invocation to fail');
}

const failures = (): string[] => lines.filter((l) => l.severity === 'ERROR').map((l) => l.message);
const errorLines = (): Line[] => lines.filter((l) => l.severity === 'ERROR');

describe('onSecretEvent', () => {
  it('rotates a real credential on SECRET_ROTATE, and logs the outcome without a value', async () => {
    const { user, initial } = await seed('db-app');
    const event = secretManagerEvent('db-app');
    const result = await handlers().onSecretEvent(event);
    expect(result).toMatchObject({ outcome: 'rotated', report: { secretId: 'db-app', resumed: false } });
    const now = await current('db-app');
    expect(now.username).toBe(user);
    expect(now.password).not.toBe(initial);
    expect(await pg.logsIn(user, now.password)).toBe(true);
    expect(await pg.logsIn(user, initial)).toBe(false);
    expect(sets).toBe(1);
    expect(lines.find((l) => l.message === 'rotation succeeded')).toMatchObject({ severity: 'INFO', secretId: 'db-app', messageId: event.id, outcome: 'rotated' });
    expect(JSON.stringify(lines)).not.toContain(now.password);
    expect(failures()).toEqual([]);
  });

  it('converges on a redelivery of the same message: one password change; a later notification rotates again', async () => {
    await seed('db-dup');
    const event = secretManagerEvent('db-dup');
    const h = handlers();
    expect(await h.onSecretEvent(event)).toMatchObject({ outcome: 'rotated' });
    const after = await current('db-dup');
    expect(await h.onSecretEvent(structuredClone(event))).toMatchObject({ outcome: 'already-rotated' });
    expect(await current('db-dup')).toEqual(after);
    expect(sets).toBe(1);
    expect((await t.store.describe('db-dup')).versions).toHaveLength(2);
    expect(lines.some((l) => l.severity === 'INFO' && l.message.startsWith('rotation not needed') && l.messageId === event.id)).toBe(true);
    // The next period's notification is published after the rotation: it rotates.
    expect(await h.onSecretEvent(secretManagerEvent('db-dup', { time: new Date(Date.now() + 1_000) }))).toMatchObject({ outcome: 'rotated' });
    expect(sets).toBe(2);
    expect(failures()).toEqual([]);
  });

  it('throws ROTATION_IN_PROGRESS while another run holds the lock (Pub/Sub redelivers), logged as a warning; the redelivery finds the work done', async () => {
    const { user } = await seed('db-busy');
    const event = secretManagerEvent('db-busy');
    const h = handlers();
    const lease = await t.store.lockRotation('db-busy');
    try {
      const error = await thrown(h.onSecretEvent(event));
      expect(error).toMatchObject({ code: 'ROTATION_IN_PROGRESS', retryable: true });
    } finally {
      await lease.release();
    }
    expect(failures()).toEqual([]);
    expect(lines.some((l) => l.severity === 'WARNING' && l.message.includes('already in progress') && l.secretId === 'db-busy')).toBe(true);
    // Two deliveries at once: one rotates, the other meets the lock and is redelivered.
    const results = await Promise.allSettled([h.onSecretEvent(event), h.onSecretEvent(structuredClone(event))]);
    expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
    expect(results.find((r): r is PromiseRejectedResult => r.status === 'rejected')?.reason).toMatchObject({ code: 'ROTATION_IN_PROGRESS' });
    expect(await h.onSecretEvent(event)).toMatchObject({ outcome: 'already-rotated' });
    expect(sets).toBe(1);
    expect(await pg.logsIn(user, (await current('db-busy')).password)).toBe(true);
  });

  it('acknowledges and ignores the other event types, our own updates included, changing nothing', async () => {
    await seed('db-quiet');
    const before = await t.store.describe('db-quiet');
    const h = handlers();
    for (const eventType of ['SECRET_UPDATE', 'SECRET_VERSION_ADD', 'SECRET_VERSION_DESTROY']) {
      expect(await h.onSecretEvent(secretManagerEvent('db-quiet', { eventType }))).toEqual({ outcome: 'ignored', reason: `${eventType} is not SECRET_ROTATE` });
    }
    expect(await t.store.describe('db-quiet')).toEqual(before);
    expect(sets).toBe(0);
    expect(lines.filter((l) => l.message === 'event ignored').map((l) => l.severity)).toEqual(['DEBUG', 'DEBUG', 'DEBUG']);
    expect(failures()).toEqual([]);
  });

  it('refuses a notification about another project, acknowledges it, changes nothing, and logs "rotation failed" at ERROR', async () => {
    await seed('db-other');
    const before = await t.store.describe('db-other');
    const result = await handlers().onSecretEvent(secretManagerEvent('db-other', { project: '987654321098' }));
    expect(result).toEqual({ outcome: 'refused', code: 'INVALID_INPUT' });
    expect(await t.store.describe('db-other')).toEqual(before);
    expect(sets).toBe(0);
    expect(failures()).toHaveLength(1);
    expect(failures()[0]).toMatch(/^rotation failed: INVALID_INPUT: the Secret Manager notification was refused/);
  });

  it('acknowledges a rotation a retry cannot fix, with an ERROR line naming the secret; throws what a retry may fix', async () => {
    await seed('db-broken', { brokenPassword: true });
    const event = secretManagerEvent('db-broken');
    const result = await handlers().onSecretEvent(event);
    expect(result).toEqual({ outcome: 'failed', code: 'TARGET_AUTH_FAILED' });
    expect(errorLines()).toEqual([expect.objectContaining({ message: 'rotation failed: TARGET_AUTH_FAILED', code: 'TARGET_AUTH_FAILED', secretId: 'db-broken', messageId: event.id, retryable: false })]);
    // A store outage is retryable: thrown, so Pub/Sub redelivers.
    const down = storeWith(t.store, { lockRotation: () => Promise.reject(new RotatorError('STORE_IO', 'Secret Manager did not answer', { retryable: true })) });
    const error = await thrown(handlers({ store: down }).onSecretEvent(event));
    expect(error).toMatchObject({ code: 'STORE_IO', retryable: true });
    expect(failures()).toEqual(['rotation failed: TARGET_AUTH_FAILED', 'rotation failed: STORE_IO']);
    expect(sets).toBe(0);
  });
});

describe('rotate (HTTP)', () => {
  it('rotates the secret a body names, answers 200 with the report, and dedupes a second call within the window', async () => {
    const { user } = await seed('db-http');
    const h = handlers();
    const res = await h.rotate(post('{"secretId":"db-http"}'));
    expect(res.status).toBe(200);
    expect(res.headers['Content-Type']).toMatch(/^application\/json/);
    expect(res.body).toMatchObject({ outcome: 'rotated', report: { secretId: 'db-http', steps: expect.any(Array) as unknown } });
    const now = await current('db-http');
    expect(JSON.stringify(res)).not.toContain(now.password);
    expect(await pg.logsIn(user, now.password)).toBe(true);
    // Its Scheduler job and the SECRET_ROTATE notification fire together; Force run pressed twice: one rotation.
    const again = await h.rotate(post('{"secretId":"db-http"}'));
    expect(again.status).toBe(200);
    expect(again.body).toEqual({ outcome: 'already-rotated', versionId: (res.body as { report: { versionId: string } }).report.versionId, renewedAt: expect.any(String) as unknown });
    expect(sets).toBe(1);
    // After the window, a call rotates again.
    const later = handlers({ clock: () => new Date(Date.now() + RECENTLY_RENEWED_MS + 1_000) });
    expect((await later.rotate(post('{"secretId":"db-http"}'))).body).toMatchObject({ outcome: 'rotated' });
    expect(sets).toBe(2);
    expect(failures()).toEqual([]);
  });

  it('leaves alone a secret whose value was put moments ago: within the window, a value put by hand counts as renewed', async () => {
    counter += 1;
    const user = `gcpfn_by_hand_${counter}`;
    const initial = password();
    await pg.createUser(user, initial);
    await t.store.createSecret('db-by-hand', JSON.stringify(pg.secret(user, initial)), { rotation: { enabled: true } });
    const res = await handlers().rotate(post('{"secretId":"db-by-hand"}'));
    expect(res).toMatchObject({ status: 200, body: { outcome: 'already-rotated' } });
    expect(sets).toBe(0);
    expect(await pg.logsIn(user, initial)).toBe(true);
  });

  it('answers POST only, and 400 for every body that is not {"secretId"} or {"due": true}, never echoing it', async () => {
    await seed('db-codes');
    const h = handlers({ scope: { projectId: PROJECT, secretPrefix: 'db-' } });
    for (const method of ['GET', 'PUT', 'DELETE', 'PATCH']) {
      const res = await h.rotate(post('{"secretId":"db-codes"}', method));
      expect(res).toMatchObject({ status: 405, headers: { Allow: 'POST' } });
      expect(errorCode(res)).toBe('INVALID_INPUT');
    }
    const hostile = '<script>alert(1)</script>';
    for (const body of [
      undefined,
      '',
      '   ',
      '{}',
      '{"secretId":"db-codes"',
      '["db-codes"]',
      '"db-codes"',
      'null',
      '{"secretId":42}',
      `{"secretId":"${hostile}"}`,
      '{"secretId":"db-codes","force":true}',
      '{"secretId":"db-codes","due":true}',
      '{"due":false}',
      '{"due":"true"}',
      '{"secretId":"db-codes-rotator-pending"}',
      '{"secretId":"other-app"}',
      `{"secretId":"${'d'.repeat(240)}"}`,
    ]) {
      const res = await h.rotate(post(body));
      expect(res.status, String(body)).toBe(400);
      expect(errorCode(res)).toBe('INVALID_INPUT');
      expect(JSON.stringify(res.body)).not.toContain('<script>');
      expect(JSON.stringify(res.body)).not.toContain('force');
    }
    expect(sets).toBe(0);
    // Refusals are warnings, never counted as failed rotations.
    expect(failures()).toEqual([]);
    expect(lines.filter((l) => l.message.startsWith('rotation request refused: INVALID_INPUT'))).toHaveLength(17);
  });

  it('answers 413 one byte over MAX_BODY_BYTES, and reads a body of exactly MAX_BODY_BYTES', async () => {
    await seed('db-size');
    const h = handlers();
    const json = '{"secretId":"db-size"}';
    const sized = (bytes: number): string => json + ' '.repeat(bytes - json.length);
    const over = await h.rotate(post(sized(MAX_BODY_BYTES + 1)));
    expect(over.status).toBe(413);
    expect(errorCode(over)).toBe('INVALID_INPUT');
    expect(sets).toBe(0);
    const exact = await h.rotate(post(sized(MAX_BODY_BYTES)));
    expect(exact.status).toBe(200);
    expect(exact.body).toMatchObject({ outcome: 'rotated' });
    expect(sets).toBe(1);
  });

  it('answers 404, 409 with Retry-After, and 502 with an ERROR line naming the secret', async () => {
    await seed('db-busy-http');
    await seed('db-refused', { brokenPassword: true });
    const h = handlers({ retryAfterSeconds: 30 });
    const missing = await h.rotate(post('{"secretId":"db-missing"}'));
    expect(missing.status).toBe(404);
    expect(errorCode(missing)).toBe('SECRET_NOT_FOUND');
    const lease = await t.store.lockRotation('db-busy-http');
    try {
      const busy = await h.rotate(post('{"secretId":"db-busy-http"}'));
      expect(busy.status).toBe(409);
      expect(errorCode(busy)).toBe('ROTATION_IN_PROGRESS');
      expect(busy.headers['Retry-After']).toBe('30');
    } finally {
      await lease.release();
    }
    const refused = await h.rotate(post('{"secretId":"db-refused"}'));
    expect(refused.status).toBe(502);
    expect(errorCode(refused)).toBe('TARGET_AUTH_FAILED');
    expect(sets).toBe(0);
    // Only the rotation that failed at the database is a failure; the line names the secret, as the alert says.
    expect(errorLines()).toEqual([expect.objectContaining({ message: 'rotation failed: TARGET_AUTH_FAILED', secretId: 'db-refused', status: 502 })]);
    expect(lines.filter((l) => l.severity === 'WARNING').map((l) => [l.message, l.secretId])).toEqual([
      ['rotation request refused: SECRET_NOT_FOUND', 'db-missing'],
      ['rotation request refused: ROTATION_IN_PROGRESS', 'db-busy-http'],
    ]);
  });

  it('{"due": true} sweeps the due secrets: past a failing one, one ERROR line per failure, 500 with a summary', async () => {
    const a = await seed('db-sweep-a');
    await seed('db-sweep-bad', { brokenPassword: true });
    const c = await seed('db-sweep-c');
    due = ['db-sweep-a', 'db-sweep-bad', 'db-sweep-c', 'db-sweep-c-rotator-pending', 'db.sweep/d'];
    const res = await handlers().rotate(post('{"due":true}'));
    expect(res.status).toBe(500);
    expect(res.body).toEqual({ error: { code: 'TARGET_ERROR', message: expect.stringContaining('1 of 3 due secret(s) could not be rotated') as unknown } });
    expect(await pg.logsIn(a.user, (await current('db-sweep-a')).password)).toBe(true);
    expect(await pg.logsIn(c.user, (await current('db-sweep-c')).password)).toBe(true);
    expect(sets).toBe(2);
    const report = lines.find((l) => l.message === 'rotation sweep finished') as { report: { secrets: Array<{ secretId: string; outcome: string; code?: string }> } } | undefined;
    expect(report?.report.secrets.map((s) => [s.secretId, s.outcome, s.code])).toEqual([
      ['db-sweep-a', 'rotated', undefined],
      ['db-sweep-bad', 'failed', 'TARGET_AUTH_FAILED'],
      ['db-sweep-c', 'rotated', undefined],
    ]);
    // The alert counts each failure once: the failed secret's line, not the summary again.
    expect(errorLines()).toEqual([expect.objectContaining({ message: 'rotation failed: TARGET_AUTH_FAILED', secretId: 'db-sweep-bad' })]);

    // A due list computed before a rotation that finished after it: the check under the lock leaves the secret alone.
    due = ['db-sweep-a', 'db-sweep-c'];
    const second = await handlers({ clock: () => new Date(Date.now() - 60_000) }).rotate(post('{"due":true}'));
    expect(second.status).toBe(200);
    expect((second.body as { sweep: { secrets: unknown[]; failed: number } }).sweep).toMatchObject({
      failed: 0,
      secrets: [
        { secretId: 'db-sweep-a', outcome: 'already-rotated' },
        { secretId: 'db-sweep-c', outcome: 'already-rotated' },
      ],
    });
    expect(sets).toBe(2);
  });

  it('{"due": true} with a store that cannot list what is due answers 500 with one ERROR line', async () => {
    const res = await handlers({ dueSecretIds: undefined }).rotate(post('{"due":true}'));
    expect(res.status).toBe(500);
    expect(errorCode(res)).toBe('INTERNAL');
    expect(failures()).toEqual([expect.stringMatching(/^rotation failed: INTERNAL: the sweep could not list the secrets that are due/)]);
  });
});

describe('purge (HTTP)', () => {
  it('retires versions past the safe window and answers the report; a failing secret gets one "purge failed" line and a 500', async () => {
    await seed('db-purge');
    const fresh = handlers({ recentlyRenewedMs: 0 });
    await fresh.rotate(post('{"secretId":"db-purge"}'));
    await fresh.rotate(post('{"secretId":"db-purge"}'));
    expect((await t.store.describe('db-purge')).versions).toHaveLength(3);
    expect(sets).toBe(2);
    expect(await fresh.purge(post('{}', 'GET'))).toMatchObject({ status: 405, headers: { Allow: 'POST' } });
    for (const body of ['{"secretId":"db-purge"}', '[]', 'nope']) expect((await fresh.purge(post(body))).status, body).toBe(400);
    // Inside the window: nothing retired.
    const inside = await handlers({ clock: () => new Date(Date.now() + DAY) }).purge(post());
    expect(inside.status).toBe(200);
    expect((inside.body as { report: { secrets: Array<{ actions: unknown[] }> } }).report.secrets[0]?.actions).toEqual([]);
    const later = await handlers({ clock: () => new Date(Date.now() + 8 * DAY) }).purge(post('{}'));
    expect(later.status).toBe(200);
    expect((later.body as { report: { secrets: Array<{ actions: Array<{ retired: boolean }> }> } }).report.secrets[0]?.actions.filter((a) => a.retired)).toHaveLength(2);
    expect((await t.store.describe('db-purge')).versions.map((v) => v.stages)).toEqual([['CURRENT']]);
    expect(lines.some((l) => l.message === 'purge finished' && l.severity === 'INFO')).toBe(true);
    expect(failures()).toEqual([]);

    await fresh.rotate(post('{"secretId":"db-purge"}'));
    const failing: SecretStore = storeWith(t.store, { retire: () => Promise.reject(new RotatorError('STORE_IO', 'Secret Manager refused the update', { retryable: true })) });
    const res = await handlers({ store: failing, clock: () => new Date(Date.now() + 30 * DAY) }).purge(post());
    expect(res.status).toBe(500);
    expect(res.body).toEqual({ error: { code: 'TARGET_ERROR', message: expect.stringContaining('1 of 1 secret(s) could not be purged') as unknown } });
    expect(errorLines()).toEqual([expect.objectContaining({ message: 'purge failed: STORE_IO', secretId: 'db-purge' })]);
  });
});

describe('reconcileJobs (HTTP)', () => {
  it('answers 400 naming the settings when the reconciler is not configured', async () => {
    const res = await handlers().reconcileJobs(post());
    expect(res.status).toBe(400);
    expect(errorCode(res)).toBe('INVALID_INPUT');
    const message = (res.body as { error: { message: string } }).error.message;
    for (const name of ['ROTATOR_SCHEDULER_LOCATION', 'ROTATOR_ROTATE_URL', 'ROTATOR_SCHEDULER_SERVICE_ACCOUNT']) expect(message).toContain(name);
    expect(failures()).toEqual([]);
  });

  it('runs the configured reconciler with the dry-run flag, and answers 500 with an ERROR line when it reports failures', async () => {
    const runs: Array<{ dryRun: boolean }> = [];
    let outcome: ReconcileOutcome & { jobs?: string[] } = { counts: { failed: 0 }, jobs: ['rotator-secret-db-app'] };
    const h = handlers({
      reconcileJobs: (options) => {
        runs.push(options);
        return Promise.resolve(outcome);
      },
    });
    expect(await h.reconcileJobs(post())).toMatchObject({ status: 200, body: { report: { counts: { failed: 0 }, jobs: ['rotator-secret-db-app'] } } });
    expect((await h.reconcileJobs(post('{"dryRun":true}'))).status).toBe(200);
    expect((await h.reconcileJobs(post('{"dryRun":false}'))).status).toBe(200);
    for (const body of ['{"dryRun":"yes"}', '{"dryRun":true,"all":true}', '[true]']) expect((await h.reconcileJobs(post(body))).status, body).toBe(400);
    expect((await h.reconcileJobs(post(undefined, 'GET'))).status).toBe(405);
    expect(runs).toEqual([{ dryRun: false }, { dryRun: true }, { dryRun: false }]);
    expect(failures()).toEqual([]);

    outcome = { counts: { failed: 2 } };
    const res = await h.reconcileJobs(post());
    expect(res.status).toBe(500);
    expect((res.body as { error: { message: string } }).error.message).toContain('2 Scheduler job(s) could not be brought in line');
    expect(failures()).toEqual([expect.stringMatching(/^reconcile failed: [A-Z_]+$/)]);
    // A reconciler that throws (Cloud Scheduler unreachable) fails the run the same way, with its code.
    const down = await handlers({ reconcileJobs: () => Promise.reject(new RotatorError('STORE_IO', 'Cloud Scheduler did not answer', { retryable: true })) }).reconcileJobs(post());
    expect(down.status).toBe(500);
    expect(errorCode(down)).toBe('STORE_IO');
    expect(failures()).toEqual([expect.stringMatching(/^reconcile failed: [A-Z_]+$/), 'reconcile failed: STORE_IO']);
  });
});

describe('registration with the Functions Framework, over HTTP', () => {
  /** What `build` hands out: the tests swap it; unset, the build fails as with a missing setting. */
  let served: GcpHandlers | undefined;
  let builds = 0;
  const servers = new Map<string, { server: Server; url: string }>();

  const delegate: GcpHandlers = {
    onSecretEvent: (event) => (served as GcpHandlers).onSecretEvent(event),
    rotate: (call) => (served as GcpHandlers).rotate(call),
    purge: (call) => (served as GcpHandlers).purge(call),
    reconcileJobs: (call) => (served as GcpHandlers).reconcileJobs(call),
  };

  beforeAll(async () => {
    // Once per file: the framework's registry is one global map.
    registerGcpFunctions(
      functionsFramework,
      () => {
        builds += 1;
        if (served === undefined) loadGcpSettings({});
        return delegate;
      },
      write,
    );
    for (const name of Object.values(FUNCTIONS)) {
      const server = getTestServer(name);
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
      servers.set(name, { server, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}` });
    }
  });

  afterAll(async () => {
    await Promise.all([...servers.values()].map(({ server }) => new Promise((resolve) => server.close(resolve))));
  });

  async function send(name: string, init: { method?: string; path?: string; headers?: Record<string, string>; body?: string }): Promise<{ status: number; text: string; headers: Headers }> {
    const target = servers.get(name);
    if (target === undefined) throw new Error(`${name} is not listening`);
    const res = await fetch(`${target.url}${init.path ?? '/'}`, { method: init.method ?? 'POST', headers: init.headers ?? {}, ...(init.body === undefined ? {} : { body: init.body }) });
    const text = await res.text();
    recordOutput(`${text}\n`);
    return { status: res.status, text, headers: res.headers };
  }

  /** Eventarc's delivery: binary content mode, the CloudEvent's attributes in ce-* headers, the Pub/Sub body as JSON. */
  function binary(event: Record<string, unknown>): { headers: Record<string, string>; body: string } {
    const headers: Record<string, string> = { 'content-type': 'application/json' };
    for (const k of ['specversion', 'id', 'type', 'source', 'time']) headers[`ce-${k}`] = String(event[k]);
    return { headers, body: JSON.stringify(event.data) };
  }

  it('registers the four functions under the entry points infra/gcp deploys', () => {
    expect(Object.values(FUNCTIONS).sort()).toEqual(['onSecretEvent', 'purge', 'reconcileJobs', 'rotate']);
    expect(servers.size).toBe(4);
  });

  it('when the build fails (a missing setting), each function logs its ERROR line naming it; HTTP answers 500 with the code, the CloudEvent 500 (redelivered)', async () => {
    served = undefined;
    for (const [name, failure] of [
      [FUNCTIONS.rotate, 'rotation'],
      [FUNCTIONS.purge, 'purge'],
      [FUNCTIONS.reconcileJobs, 'reconcile'],
    ] as const) {
      const res = await send(name, { headers: { 'content-type': 'application/json' }, body: '{"secretId":"db-app"}' });
      expect(res.status, name).toBe(500);
      expect(JSON.parse(res.text)).toEqual({ error: { code: 'INVALID_INPUT', message: expect.stringContaining('could not start') as unknown } });
      expect(failures().at(-1)).toMatch(new RegExp(`^${failure} failed: INVALID_INPUT: the function could not start: .*ROTATOR_PROJECT`));
    }
    const event = binary(secretManagerEvent('db-app'));
    expect((await send(FUNCTIONS.onSecretEvent, event)).status).toBe(500);
    expect(failures()).toHaveLength(4);
    expect(failures()[3]).toMatch(/^rotation failed: INVALID_INPUT: the function could not start/);
    expect(builds).toBe(4);
  });

  it('a CloudEvent in binary mode and a Pub/Sub push body both reach the handler; a redelivery is acknowledged without a second rotation', async () => {
    const ce = await seed('db-ce');
    const push = await seed('db-push');
    served = handlers();
    const event = secretManagerEvent('db-ce');
    const res = await send(FUNCTIONS.onSecretEvent, binary(event));
    expect(res.status).toBe(204);
    expect(sets).toBe(1);
    expect(await pg.logsIn(ce.user, (await current('db-ce')).password)).toBe(true);
    expect((await send(FUNCTIONS.onSecretEvent, binary(event))).status).toBe(204);
    expect(sets).toBe(1);

    // A push subscription straight to the function: no ce-* headers; the framework makes the CloudEvent.
    const message = messageOf(secretManagerEvent('db-push', { project: PROJECT }));
    const pushed = await send(FUNCTIONS.onSecretEvent, {
      path: `/projects/${PROJECT}/topics/rotator`,
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ message: { ...message, message_id: message.messageId, publish_time: message.publishTime }, subscription: `projects/${PROJECT}/subscriptions/rotator-push` }),
    });
    expect(pushed.status).toBe(204);
    expect(sets).toBe(2);
    expect(await pg.logsIn(push.user, (await current('db-push')).password)).toBe(true);
    expect(lines.filter((l) => l.message === 'rotation succeeded').map((l) => [l.secretId, l.messageId])).toEqual([
      ['db-ce', event.id],
      ['db-push', message.messageId],
    ]);
    // Other event types are acknowledged.
    expect((await send(FUNCTIONS.onSecretEvent, binary(secretManagerEvent('db-ce', { eventType: 'SECRET_VERSION_ADD' })))).status).toBe(204);
    expect(failures()).toEqual([]);
  });

  it('a thrown error answers 500, so Pub/Sub redelivers: the lock held by another run', async () => {
    await seed('db-held');
    served = handlers();
    const lease = await t.store.lockRotation('db-held');
    try {
      const res = await send(FUNCTIONS.onSecretEvent, binary(secretManagerEvent('db-held')));
      expect(res.status).toBe(500);
    } finally {
      await lease.release();
    }
    expect(sets).toBe(0);
    // A refused notification is acknowledged (2xx): redelivering it would change nothing.
    expect((await send(FUNCTIONS.onSecretEvent, binary(secretManagerEvent('db-held', { project: 'other-project' })))).status).toBe(204);
    expect(failures()).toEqual([expect.stringMatching(/^rotation failed: INVALID_INPUT/)]);
  });

  it('the HTTP functions read the body the framework kept, and answer JSON with our statuses and headers', async () => {
    const { user } = await seed('db-scheduler');
    served = handlers();
    // What a Cloud Scheduler job sends (Cloud Run checks the OIDC token before the code runs).
    const job = { 'content-type': 'application/json', 'X-CloudScheduler': 'true', 'X-CloudScheduler-JobName': 'rotator-secret-db-scheduler', authorization: 'Bearer eyJhbGciOi' };
    const res = await send(FUNCTIONS.rotate, { headers: job, body: '{"secretId":"db-scheduler"}' });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^application\/json/);
    expect(res.headers.get('cache-control')).toBe('no-store');
    expect(JSON.parse(res.text)).toMatchObject({ outcome: 'rotated', report: { secretId: 'db-scheduler' } });
    expect(await pg.logsIn(user, (await current('db-scheduler')).password)).toBe(true);
    // The same job fired with the notification: deduped.
    expect(JSON.parse((await send(FUNCTIONS.rotate, { headers: job, body: '{"secretId":"db-scheduler"}' })).text)).toMatchObject({ outcome: 'already-rotated' });
    // A body sent as text is read the same way.
    expect((await send(FUNCTIONS.rotate, { headers: { 'content-type': 'text/plain' }, body: '{"secretId":"db-scheduler"}' })).status).toBe(200);
    const get = await send(FUNCTIONS.rotate, { method: 'GET' });
    expect(get.status).toBe(405);
    expect(get.headers.get('allow')).toBe('POST');
    const big = await send(FUNCTIONS.rotate, { headers: { 'content-type': 'application/json' }, body: `{"secretId":"db-scheduler","pad":"${'x'.repeat(MAX_BODY_BYTES)}"}` });
    expect(big.status).toBe(413);
    expect(JSON.parse(big.text)).toMatchObject({ error: { code: 'INVALID_INPUT' } });
    expect((await send(FUNCTIONS.purge, { headers: { 'content-type': 'application/json' }, body: '{}' })).status).toBe(200);
    expect(sets).toBe(1);
    // Built once, at the first invocation after the failed ones, and kept.
    expect(builds).toBe(5);
    expect(failures()).toEqual([]);
  });
});
