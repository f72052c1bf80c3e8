import Module, { createRequire } from 'node:module';
import { format } from 'node:util';
import azureFunctions from '@azure/functions';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { AzureFunctionDeps } from '../../functions/azure/deps.js';
import { FUNCTIONS, createAzureHandlers, type AzureHandlers } from '../../functions/azure/register.js';
import { MAX_BODY_BYTES } from '../../functions/azure/rotate-http.js';
import { RotatorError, isRotatorError } from '../../shared/errors.js';
import type { Rotator, SetInput } from '../../shared/rotator.js';
import type { SecretStore } from '../../shared/store.js';
import { nearExpiryEvent, recordingHandlers } from '../support/azure-events.js';
import { recordOutput, recordSecrets } from '../support/canary.js';
import { createTestStore, rotatorWith, storeWith, type TestStore } from '../support/stores.js';
import { testTargets, type TestTarget } from '../support/targets.js';

/**
 * The four Azure functions (functions/azure) called as the Functions host calls them, with the library's own
 * InvocationContext and HttpRequest, rotating real PostgreSQL credentials. A file store stands in for the Key Vault
 * store (it implements the same port; the test gives it the due list the Key Vault store computes from `exp`), so
 * this proves the handlers: parsing, the due check under the lock, status codes, reports, logs. Everything the
 * handlers log goes to the leak canary.
 */
const { InvocationContext, HttpRequest } = azureFunctions;
const VAULT = 'sample-kv';
const DAY = 86_400_000;
const pg = testTargets().find((t) => t.engine === 'postgres') as TestTarget;

let t: TestStore;
let lines: Array<{ level: string; text: string }>;
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

function deps(overrides: Partial<AzureFunctionDeps> = {}): AzureFunctionDeps {
  return {
    store: t.store,
    dueSecretIds: () => Promise.resolve([...due]),
    rotators: [countingRotator()],
    scope: { vaultName: VAULT },
    defaultStrategy: 'single-user',
    retention: { safeWindowMs: 7 * DAY, keepSuperseded: 0 },
    logLevel: 'debug',
    env: {},
    ...overrides,
  };
}

function handlers(overrides: Partial<AzureFunctionDeps> = {}): AzureHandlers {
  return recordingHandlers(createAzureHandlers(deps(overrides)));
}

/** The library's InvocationContext; every line goes to `lines` and to the leak canary. */
function context(functionName: string): InstanceType<typeof InvocationContext> {
  counter += 1;
  return new InvocationContext({
    invocationId: `test-${counter}`,
    functionName,
    logHandler: (level, ...args) => {
      const text = format(...args);
      lines.push({ level, text });
      recordOutput(`${level} ${text}\n`);
    },
  });
}

function password(): string {
  const p = `Az-${counter}-${Math.random().toString(36).slice(2)}-pw`;
  recordSecrets(p);
  return p;
}

/** A PostgreSQL user and its secret in the store, rotation on. */
async function seed(name: string, options: { brokenPassword?: boolean } = {}): Promise<{ user: string; initial: string }> {
  counter += 1;
  const user = `azfn_${name.replaceAll('-', '_')}_${counter}`;
  const initial = password();
  await pg.createUser(user, initial);
  const stored = options.brokenPassword === true ? password() : initial;
  await t.store.createSecret(name, JSON.stringify(pg.secret(user, stored)), { rotation: { enabled: true } });
  return { user, initial };
}

async function current(name: string): Promise<{ username: string; password: string }> {
  const value = JSON.parse(await t.store.getValue(name, { stage: 'CURRENT' })) as { username: string; password: string };
  recordSecrets(value.password);
  return value;
}

function nearExpiry(name: string, time = new Date(), vault = VAULT): Record<string, unknown> {
  return nearExpiryEvent(name, vault, time);
}

function post(path: string, body?: string, headers: Record<string, string> = {}, method = 'POST'): InstanceType<typeof HttpRequest> {
  const secretId = /^\/api\/rotate\/(.+)$/.exec(path)?.[1];
  return new HttpRequest({
    method,
    url: `http://localhost:7071${path}`,
    headers: { 'content-type': 'application/json', ...headers },
    ...(body === undefined ? {} : { body: { string: body } }),
    ...(secretId === undefined ? {} : { params: { secretId: decodeURIComponent(secretId) } }),
  });
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

const failures = (): string[] => lines.filter((l) => l.level === 'error').map((l) => l.text);

describe('secretNearExpiry', () => {
  it('rotates a real credential on a near-expiry event, and logs the outcome without a value', async () => {
    const { user, initial } = await seed('db-app');
    const result = await handlers().secretNearExpiry(nearExpiry('db-app'), context('secretNearExpiry'));
    expect(result).toMatchObject({ outcome: 'rotated', report: { secretId: 'db-app', resumed: false } });
    const now = await current('db-app');
    expect(now.username).toBe(user);
    expect(now.password).not.toBe(initial);
    expect(await pg.logsIn(user, now.password)).toBe(true);
    expect(await pg.logsIn(user, initial)).toBe(false);
    expect(sets).toBe(1);
    expect(lines.some((l) => l.level === 'information' && l.text.startsWith('rotation succeeded {'))).toBe(true);
    expect(lines.map((l) => l.text).join('\n')).not.toContain(now.password);
    expect(failures()).toEqual([]);
  });

  it('converges on a duplicate delivery: the same event twice rotates once', async () => {
    await seed('db-dup');
    const event = nearExpiry('db-dup');
    const h = handlers();
    expect(await h.secretNearExpiry(event, context('secretNearExpiry'))).toMatchObject({ outcome: 'rotated' });
    const after = await current('db-dup');
    expect(await h.secretNearExpiry(structuredClone(event), context('secretNearExpiry'))).toMatchObject({ outcome: 'already-rotated' });
    expect(await current('db-dup')).toEqual(after);
    expect(sets).toBe(1);
    expect((await t.store.describe('db-dup')).versions).toHaveLength(2);
  });

  it('two concurrent deliveries give one mutation sequence; the one that met the lock is redelivered and finds the work done', async () => {
    const { user } = await seed('db-race');
    const event = nearExpiry('db-race');
    const h = handlers();
    const results = await Promise.allSettled([h.secretNearExpiry(event, context('secretNearExpiry')), h.secretNearExpiry(structuredClone(event), context('secretNearExpiry'))]);
    const fulfilled = results.filter((r) => r.status === 'fulfilled');
    const rejected = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected');
    expect(fulfilled).toHaveLength(1);
    expect(rejected).toHaveLength(1);
    // Thrown, so Event Grid redelivers; logged as a warning, not as a failed rotation.
    expect(rejected[0]?.reason).toMatchObject({ code: 'ROTATION_IN_PROGRESS', retryable: true });
    expect(failures()).toEqual([]);
    expect(lines.some((l) => l.level === 'warning' && l.text.includes('already in progress'))).toBe(true);
    expect(await h.secretNearExpiry(event, context('secretNearExpiry'))).toMatchObject({ outcome: 'already-rotated' });
    expect(sets).toBe(1);
    expect(await pg.logsIn(user, (await current('db-race')).password)).toBe(true);
  });

  it('refuses an event for another vault, acknowledges it, changes nothing, and logs "rotation failed" at error', async () => {
    await seed('db-other');
    const before = await t.store.describe('db-other');
    const result = await handlers().secretNearExpiry(nearExpiry('db-other', new Date(), 'other-kv'), context('secretNearExpiry'));
    expect(result).toEqual({ outcome: 'refused', code: 'INVALID_INPUT' });
    expect(await t.store.describe('db-other')).toEqual(before);
    expect(sets).toBe(0);
    expect(failures()).toHaveLength(1);
    expect(failures()[0]).toMatch(/^rotation failed: INVALID_INPUT: the SecretNearExpiry event was refused/);
  });

  it('acknowledges a rotation that cannot succeed (the database refuses the stored password) and logs it; rethrows only what a retry may fix', async () => {
    await seed('db-broken', { brokenPassword: true });
    const result = await handlers().secretNearExpiry(nearExpiry('db-broken'), context('secretNearExpiry'));
    expect(result).toEqual({ outcome: 'failed', code: 'TARGET_AUTH_FAILED' });
    expect(failures()[0]).toMatch(/^rotation failed: TARGET_AUTH_FAILED \{/);
    // A store outage is retryable: thrown, so Event Grid redelivers.
    const down = storeWith(t.store, { lockRotation: () => Promise.reject(new RotatorError('STORE_IO', 'the vault did not answer', { retryable: true })) });
    const error = await thrown(handlers({ store: down }).secretNearExpiry(nearExpiry('db-broken'), context('secretNearExpiry')));
    expect(error.code).toBe('STORE_IO');
  });
});

describe('rotate (HTTP)', () => {
  it('rotates the secret named in the route or the body, and answers 200 with the report', async () => {
    const { user } = await seed('db-http');
    const h = handlers();
    const res = await h.rotate(post('/api/rotate/db-http'), context('rotate'));
    expect(res.status).toBe(200);
    const body = res.jsonBody as { report: { secretId: string; versionId: string; steps: unknown[] } };
    expect(body.report).toMatchObject({ secretId: 'db-http', steps: expect.any(Array) as unknown });
    const now = await current('db-http');
    expect(JSON.stringify(res)).not.toContain(now.password);
    expect(await pg.logsIn(user, now.password)).toBe(true);
    const again = await h.rotate(post('/api/rotate', '{"secretId":"db-http"}'), context('rotate'));
    expect(again.status).toBe(200);
    expect(sets).toBe(2);
  });

  it('answers 400, 404, 405, 409 with Retry-After, 413 and 502 with the code, and never echoes the input', async () => {
    await seed('db-codes');
    await seed('db-refused', { brokenPassword: true });
    const h = handlers();
    const status = async (request: InstanceType<typeof HttpRequest>): Promise<{ status: number; code: string; text: string; headers: Record<string, string> }> => {
      const res = await h.rotate(request, context('rotate'));
      return { status: res.status ?? 0, code: (res.jsonBody as { error?: { code: string } }).error?.code ?? '', text: JSON.stringify(res.jsonBody), headers: res.headers as Record<string, string> };
    };
    const hostile = '<script>alert(1)</script>';
    for (const request of [
      post('/api/rotate'),
      post(`/api/rotate/${encodeURIComponent(hostile)}`),
      post('/api/rotate', `{"secretId":"${hostile}"}`),
      post('/api/rotate', '{"secretId":"db-codes","force":true}'),
      post('/api/rotate', '{"secretId":"db-codes"'),
      post('/api/rotate', '["db-codes"]'),
      post('/api/rotate/db-codes', '{"secretId":"db-other"}'),
      post('/api/rotate/db-codes-rotator-pending'),
    ]) {
      const r = await status(request);
      expect(r.status).toBe(400);
      expect(r.code).toBe('INVALID_INPUT');
      expect(r.text).not.toContain('<script>');
    }
    expect(await status(post('/api/rotate', `{"secretId":"db-codes","pad":"${'x'.repeat(MAX_BODY_BYTES)}"}`))).toMatchObject({ status: 413, code: 'INVALID_INPUT' });
    expect(await status(post('/api/rotate/db-codes', undefined, {}, 'GET'))).toMatchObject({ status: 405 });
    expect(await status(post('/api/rotate/db-missing'))).toMatchObject({ status: 404, code: 'SECRET_NOT_FOUND' });
    const lease = await t.store.lockRotation('db-codes');
    try {
      const busy = await status(post('/api/rotate/db-codes'));
      expect(busy).toMatchObject({ status: 409, code: 'ROTATION_IN_PROGRESS' });
      expect(busy.headers['Retry-After']).toBe('60');
    } finally {
      await lease.release();
    }
    expect(await status(post('/api/rotate/db-refused'))).toMatchObject({ status: 502, code: 'TARGET_AUTH_FAILED' });
    expect(sets).toBe(0);
    // Refusals are warnings; only the rotation that failed at the database counts as a failure.
    expect(failures()).toHaveLength(1);
    expect(failures()[0]).toMatch(/^rotation failed: TARGET_AUTH_FAILED/);
  });
});

describe('rotateSweep', () => {
  it('rotates every due secret, keeps going past a failing one, logs one report and a failure line, and fails the invocation', async () => {
    const a = await seed('db-sweep-a');
    await seed('db-sweep-bad', { brokenPassword: true });
    const c = await seed('db-sweep-c');
    due = ['db-sweep-a', 'db-sweep-bad', 'db-sweep-c', 'db-sweep-c-rotator-pending'];
    const error = await thrown(handlers().rotateSweep({ isPastDue: false }, context('rotateSweep')));
    expect(error.message).toContain('1 of 3 due secret(s) could not be rotated');
    expect(await pg.logsIn(a.user, (await current('db-sweep-a')).password)).toBe(true);
    expect(await pg.logsIn(c.user, (await current('db-sweep-c')).password)).toBe(true);
    expect(sets).toBe(2);
    const report = lines.find((l) => l.text.startsWith('rotation sweep finished'))?.text ?? '';
    const parsed = JSON.parse(report.slice(report.indexOf('{'))) as { report: { secrets: Array<{ secretId: string; outcome: string; code?: string }> } };
    expect(parsed.report.secrets.map((s) => [s.secretId, s.outcome, s.code])).toEqual([
      ['db-sweep-a', 'rotated', undefined],
      ['db-sweep-bad', 'failed', 'TARGET_AUTH_FAILED'],
      ['db-sweep-c', 'rotated', undefined],
    ]);
    expect(failures()).toEqual([expect.stringMatching(/^rotation failed: TARGET_AUTH_FAILED \{.*"secretId":"db-sweep-bad"/)]);
    // The Key Vault store no longer lists a renewed secret as due; if a due list is stale (computed before a
    // rotation that finished after it), the check under the lock still leaves the renewed secret alone.
    due = ['db-sweep-a'];
    const second = await handlers({ clock: () => new Date(Date.now() - 60_000) }).rotateSweep({ isPastDue: false }, context('rotateSweep'));
    expect(second.secrets).toEqual([{ secretId: 'db-sweep-a', outcome: 'already-rotated', versionId: expect.any(String) as unknown }]);
    expect(sets).toBe(2);
  });
});

describe('purge', () => {
  it('retires versions past the safe window and logs the report; a failing secret gets a "purge failed" line and fails the invocation', async () => {
    await seed('db-purge');
    const h = handlers();
    await h.rotate(post('/api/rotate/db-purge'), context('rotate'));
    await h.rotate(post('/api/rotate/db-purge'), context('rotate'));
    expect((await t.store.describe('db-purge')).versions).toHaveLength(3);
    // Inside the window: nothing retired.
    const inside = await handlers({ clock: () => new Date(Date.now() + DAY) }).purge({ isPastDue: false }, context('purge'));
    expect(inside.secrets[0]?.actions).toEqual([]);
    const later = (): Date => new Date(Date.now() + 8 * DAY);
    const report = await handlers({ clock: later }).purge({ isPastDue: false }, context('purge'));
    // The first value and the first rotation's were both superseded more than 7 days before; CURRENT stays.
    expect(report.secrets[0]?.actions.filter((a) => a.retired)).toHaveLength(2);
    expect((await t.store.describe('db-purge')).versions.map((v) => v.stages)).toEqual([['CURRENT']]);
    expect(lines.some((l) => l.text.startsWith('purge finished {'))).toBe(true);
    expect(failures()).toEqual([]);

    await h.rotate(post('/api/rotate/db-purge'), context('rotate'));
    const failing: SecretStore = storeWith(t.store, { retire: () => Promise.reject(new RotatorError('STORE_IO', 'the vault refused the update', { retryable: true })) });
    const error = await thrown(handlers({ store: failing, clock: () => new Date(Date.now() + 30 * DAY) }).purge({ isPastDue: false }, context('purge')));
    expect(error.message).toContain('1 of 1 secret(s) could not be purged');
    expect(failures()).toEqual([expect.stringMatching(/^purge failed: STORE_IO \{.*"secretId":"db-purge"/)]);
  });
});

describe('app.ts', () => {
  const registered = new Map<string, { metadata: { name: string; bindings: Record<string, Record<string, unknown>> }; handler: (...args: unknown[]) => Promise<unknown> }>();
  const resolve = (Module as unknown as { _resolveFilename: (request: string, ...rest: unknown[]) => string })._resolveFilename;
  const saved = { ...process.env };

  beforeAll(async () => {
    // The worker injects '@azure/functions-core' (it is not on npm); stand in for it so app.* really registers.
    const fakeCore = {
      setProgrammingModel: () => undefined,
      registerFunction: (metadata: { name: string; bindings: Record<string, Record<string, unknown>> }, handler: (...args: unknown[]) => Promise<unknown>) => {
        registered.set(metadata.name, { metadata, handler });
        return { dispose: () => undefined };
      },
      registerHook: () => ({ dispose: () => undefined }),
    };
    (Module as unknown as { _resolveFilename: typeof resolve })._resolveFilename = function (request: string, ...rest: unknown[]) {
      return request === '@azure/functions-core' ? '@azure/functions-core' : resolve.call(this, request, ...rest);
    };
    createRequire(import.meta.url).cache['@azure/functions-core'] = { id: '@azure/functions-core', filename: '@azure/functions-core', loaded: true, exports: fakeCore } as unknown as NodeJS.Module;
    // No settings: the app must still register its functions (it reads them at the first invocation).
    delete process.env.AZURE_KEY_VAULT_URL;
    delete process.env.ROTATOR_LOCK_CONTAINER_URL;
    await import('../../functions/azure/app.js');
  });

  afterAll(() => {
    (Module as unknown as { _resolveFilename: typeof resolve })._resolveFilename = resolve;
    Object.assign(process.env, saved);
  });

  it('registers exactly the four functions, with the names, triggers, schedules and route infra/azure uses', () => {
    expect([...registered.keys()].sort()).toEqual(['purge', 'rotate', 'rotateSweep', 'secretNearExpiry']);
    expect(FUNCTIONS.secretNearExpiry.name).toBe('secretNearExpiry'); // infra/azure/main.tf: local.near_expiry_function
    const trigger = (name: string): Record<string, unknown> => {
      const bindings = Object.values(registered.get(name)?.metadata.bindings ?? {});
      return bindings.find((b) => b.direction === 'in') ?? {};
    };
    expect(trigger('secretNearExpiry')).toMatchObject({ type: 'eventGridTrigger' });
    expect(trigger('rotateSweep')).toMatchObject({ type: 'timerTrigger', schedule: '%ROTATOR_SWEEP_SCHEDULE%' });
    expect(trigger('purge')).toMatchObject({ type: 'timerTrigger', schedule: '%ROTATOR_PURGE_SCHEDULE%' });
    expect(trigger('rotate')).toMatchObject({ type: 'httpTrigger', authLevel: 'function', methods: ['POST'], route: 'rotate/{secretId?}' });
  });

  it('with a missing setting, each function logs "rotation failed" (or "purge failed") naming it, and the HTTP function answers 500', async () => {
    const res = (await registered.get('rotate')?.handler(post('/api/rotate/db-app'), context('rotate'))) as { status: number; jsonBody: { error: { code: string } } };
    expect(res.status).toBe(500);
    expect(res.jsonBody.error.code).toBe('INVALID_INPUT');
    await expect(registered.get('secretNearExpiry')?.handler(nearExpiry('db-app'), context('secretNearExpiry'))).rejects.toMatchObject({ code: 'INVALID_INPUT' });
    await expect(registered.get('purge')?.handler({ isPastDue: false }, context('purge'))).rejects.toMatchObject({ code: 'INVALID_INPUT' });
    expect(failures()).toHaveLength(3);
    expect(failures()[0]).toMatch(/^rotation failed: INVALID_INPUT: the function app could not start: .*AZURE_KEY_VAULT_URL/);
    expect(failures()[2]).toMatch(/^purge failed: INVALID_INPUT/);
  });
});
