import { createHash, randomBytes } from 'node:crypto';
import { isDeepStrictEqual } from 'node:util';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { BACKGROUND_RETRY_MS, createSecretReader, isAuthenticationError, type SecretReaderOptions } from '../../consumer/reader.js';
import { RotatorError } from '../../shared/errors.js';
import type { SecretStore } from '../../shared/store.js';
import { recordSecrets } from '../support/canary.js';
import { createTestStore, storeWith, type TestStore } from '../support/stores.js';

/**
 * The reader over the file store, with its clock in the test's hands: what it reads from the store and when (counted
 * by a wrapping store), what it answers meanwhile, and that no value reaches an error or a report.
 */

const SECRET = 'db/app';
const TTL = 60_000;
const STALE = 10_000;

let t: TestStore;
let clock: number;

beforeEach(() => {
  t = createTestStore();
  clock = 1_000_000;
});
afterEach(async () => {
  await t.dispose();
});

/** A secret value as consumers read it (the RDS JSON format), registered with the leak canary. */
function credential(): string {
  const password = `pw-${randomBytes(18).toString('base64url')}`;
  recordSecrets(password);
  return JSON.stringify({ engine: 'postgres', host: 'db.internal', username: 'app', password });
}

async function seed(): Promise<string> {
  const value = credential();
  await t.store.createSecret(SECRET, value);
  return value;
}

async function rotate(): Promise<string> {
  const value = credential();
  await t.store.putValue(SECRET, value);
  return value;
}

interface Counted {
  store: SecretStore;
  calls: { getValue: number; describe: number; stamp: number };
  /** Holds every getValue until `open()`: a slow store. */
  hold(): void;
  open(): void;
  /** Makes getValue fail with `error` until set back to undefined. */
  failWith(error: Error | undefined): void;
  /** Resolves when every getValue started so far has finished (a background refresh included). */
  idle(): Promise<void>;
}

/** The file store, counting what the reader asks of it; `withStamp` gives it the cheap version call clouds have. */
function counted(withStamp = false): Counted {
  const calls = { getValue: 0, describe: 0, stamp: 0 };
  let gate: Promise<void> | undefined;
  let release: (() => void) | undefined;
  let failure: Error | undefined;
  const running = new Set<Promise<unknown>>();
  const stamp: Partial<SecretStore> = {
    currentVersionStamp: async (id) => {
      calls.stamp += 1;
      const current = (await t.store.describe(id)).versions.find((v) => v.stages.includes('CURRENT'));
      if (current === undefined) throw new Error('no CURRENT');
      return current.versionId;
    },
  };
  const store = storeWith(t.store, {
    getValue: (id, selector) => {
      calls.getValue += 1;
      const read = (async () => {
        await gate;
        if (failure !== undefined) throw failure;
        return t.store.getValue(id, selector);
      })();
      const tracked = read.catch(() => undefined).finally(() => running.delete(tracked));
      running.add(tracked);
      return read;
    },
    describe: async (id) => {
      calls.describe += 1;
      return t.store.describe(id);
    },
    ...(withStamp ? stamp : {}),
  });
  return {
    store,
    calls,
    hold: () => {
      gate = new Promise((resolve) => (release = resolve));
    },
    open: () => {
      release?.();
      gate = undefined;
    },
    failWith: (error) => {
      failure = error;
    },
    idle: async () => {
      await Promise.all(running);
      await settle();
    },
  };
}

function reader(store: SecretStore, options: Partial<SecretReaderOptions> = {}) {
  return createSecretReader({ store, secretId: SECRET, ttlMs: TTL, staleMs: STALE, now: () => clock, ...options });
}

/** Lets queued promise callbacks run. */
const settle = () => new Promise((resolve) => setImmediate(resolve));

/** Compares values that hold secrets without printing them when they differ (the leak canary would fail the run). */
function sameValue(actual: unknown, expected: unknown): void {
  if (!isDeepStrictEqual(actual, expected)) throw new Error(`the value differs from the one expected (${fingerprint(actual)} vs ${fingerprint(expected)})`);
}

function fingerprint(value: unknown): string {
  const text = typeof value === 'string' ? value : (JSON.stringify(value) as string | undefined) ?? 'undefined';
  return `${text.length} characters, sha256 ${createHash('sha256').update(text).digest('hex').slice(0, 12)}`;
}

/** A promise rejected with anything at all, as a callback that breaks its contract would return. */
function rejecting(reason: unknown): Promise<never> {
  // eslint-disable-next-line @typescript-eslint/prefer-promise-reject-errors -- a non-Error reason is the case under test
  return Promise.reject(reason);
}

async function rejection(promise: Promise<unknown>): Promise<RotatorError> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  if (!(error instanceof RotatorError)) throw new Error(`expected a RotatorError, got ${String(error)}`);
  return error;
}

describe('the cache', () => {
  it('reads once per TTL, and the new value after it runs out', async () => {
    const first = await seed();
    const c = counted();
    const r = reader(c.store, { staleMs: 0 });
    sameValue(await r.get(), first);
    clock += TTL - 1;
    sameValue(await r.get(), first);
    sameValue(await r.getJson(), JSON.parse(first));
    expect(c.calls.getValue).toBe(1);
    const second = await rotate();
    sameValue(await r.get(), first); // still fresh: the cache does not know
    clock += 1;
    sameValue(await r.get(), second);
    expect(c.calls.getValue).toBe(2);
  });

  it('makes one store read for concurrent get()s on an empty cache, and one for concurrent refresh()es', async () => {
    const first = await seed();
    const c = counted();
    const r = reader(c.store);
    c.hold();
    const gets = [r.get(), r.getJson(), r.get(), r.get()];
    c.open();
    const got = await Promise.all(gets);
    sameValue(got[0], first);
    sameValue(got[1], JSON.parse(first));
    expect(c.calls.getValue).toBe(1);

    const second = await rotate();
    c.hold();
    const refreshes = Array.from({ length: 5 }, () => r.refresh());
    const during = r.get(); // fresh: answered from the cache while the refresh runs
    sameValue(await during, first);
    c.open();
    sameValue(await Promise.all(refreshes), Array(5).fill(second));
    sameValue(await r.get(), second);
    expect(c.calls.getValue).toBe(2);
  });

  it('serves a stale value at once, refreshes it once in the background, then serves the new one', async () => {
    const first = await seed();
    const c = counted();
    const r = reader(c.store);
    await r.get();
    const second = await rotate();
    clock += TTL + 1;
    c.hold(); // the background read cannot finish: the answers below cannot have waited for it
    sameValue(await Promise.all([r.get(), r.get(), r.get()]), [first, first, first]);
    expect(c.calls.getValue).toBe(2);
    c.open();
    await c.idle();
    sameValue(await r.get(), second);
    expect(c.calls.getValue).toBe(2);
  });

  it('reports a failed background refresh, keeps the stale value until it expires, then rejects', async () => {
    const first = await seed();
    const c = counted();
    const reports: RotatorError[] = [];
    const r = reader(c.store, { onError: (e) => reports.push(e) });
    await r.get();
    c.failWith(new RotatorError('STORE_IO', `could not read secret ${SECRET} (the test's failure)`, { retryable: true }));
    clock += TTL;
    sameValue(await r.get(), first);
    await c.idle();
    expect(reports.map((e) => e.code)).toEqual(['STORE_IO']);
    // Not asked again on every request: the next attempt waits BACKGROUND_RETRY_MS.
    sameValue(await r.get(), first);
    await c.idle();
    expect(c.calls.getValue).toBe(2);
    clock += BACKGROUND_RETRY_MS;
    sameValue(await r.get(), first);
    await c.idle();
    expect(c.calls.getValue).toBe(3);
    expect(reports).toHaveLength(2);
    clock += STALE; // past the stale window: no value is better than one this old
    expect((await rejection(r.get())).code).toBe('STORE_IO');
    expect((await rejection(r.getJson())).code).toBe('STORE_IO');
    c.failWith(undefined);
    sameValue(await r.get(), first);
  });

  it('refuses a TTL or stale window that is not a number of milliseconds up to a year', () => {
    for (const bad of [-1, Number.NaN, Number.POSITIVE_INFINITY, 366 * 86_400_000]) {
      expect(() => reader(t.store, { ttlMs: bad })).toThrow(expect.objectContaining({ code: 'INVALID_INPUT' }));
      expect(() => reader(t.store, { staleMs: bad })).toThrow(expect.objectContaining({ code: 'INVALID_INPUT' }));
    }
  });
});

describe('the version check', () => {
  it('asks which version is CURRENT instead of reading the value while it has not moved, and reads it once it has', async () => {
    const first = await seed();
    const c = counted(true);
    const r = reader(c.store, { versionCheck: true, staleMs: 0 });
    sameValue(await r.get(), first);
    expect(c.calls).toEqual({ getValue: 1, describe: 0, stamp: 1 });
    clock += TTL;
    sameValue(await r.get(), first);
    expect(c.calls).toEqual({ getValue: 1, describe: 0, stamp: 2 });
    clock += TTL - 1;
    sameValue(await r.get(), first); // renewed by the check: fresh again
    expect(c.calls.stamp).toBe(2);
    const second = await rotate();
    clock += 1;
    sameValue(await r.get(), second);
    expect(c.calls).toEqual({ getValue: 2, describe: 0, stamp: 3 }); // the check's stamp is the new value's
  });

  it.each([
    ['refused for good (no permission for the metadata): reads the value and stops checking', false, 0],
    ['failed for now: reads the value, and checks again next time', true, 1],
  ])('a check that is %s', async (_name, retryable, laterChecks) => {
    const first = await seed();
    const c = counted();
    let checks = 0;
    const failing = storeWith(c.store, {
      currentVersionStamp: () => {
        checks += 1;
        return Promise.reject(new RotatorError('STORE_IO', `AWS Secrets Manager refused DescribeSecret on ${SECRET} (AccessDeniedException)`, { retryable }));
      },
    });
    const reports: RotatorError[] = [];
    const r = reader(failing, { versionCheck: true, staleMs: 0, onError: (e) => reports.push(e) });
    sameValue(await r.get(), first);
    expect([checks, c.calls.getValue, reports.length]).toEqual([1, 1, 1]);
    const second = await rotate();
    clock += TTL;
    sameValue(await r.get(), second);
    expect([checks, c.calls.getValue]).toEqual([1 + laterChecks, 2]);
  });

  it('reads the value each TTL on a store without a cheap version call (never describe, which costs more)', async () => {
    await seed();
    const c = counted(false);
    const r = reader(c.store, { versionCheck: true, staleMs: 0 });
    await r.get();
    clock += TTL;
    await r.get();
    expect(c.calls).toEqual({ getValue: 2, describe: 0, stamp: 0 });
  });

  it('refresh() reads the value whatever the stamp says', async () => {
    await seed();
    const c = counted(true);
    const r = reader(c.store, { versionCheck: true });
    await r.get();
    await r.refresh();
    expect(c.calls.getValue).toBe(2);
  });
});

describe('withSecret', () => {
  const pg = (code: string) => Object.assign(new Error('password authentication failed for user "app"'), { code, severity: 'FATAL' });
  const authErrors: Array<[string, unknown]> = [
    ['PostgreSQL 28P01', pg('28P01')],
    ['PostgreSQL 28000', pg('28000')],
    ['MySQL 1045 by code', Object.assign(new Error("Access denied for user 'app'@'10.0.0.1'"), { code: 'ER_ACCESS_DENIED_ERROR', errno: 1045 })],
    ['MySQL 1045 by errno', Object.assign(new Error('Access denied'), { errno: 1045 })],
    ['HTTP 401 (status)', Object.assign(new Error('Unauthorized'), { status: 401 })],
    ['HTTP 403 (statusCode)', Object.assign(new Error('Forbidden'), { statusCode: 403 })],
    ['a fetch Response 401', new Response(null, { status: 401 })],
    ['TARGET_AUTH_FAILED', new RotatorError('TARGET_AUTH_FAILED', 'the database refused the credential')],
    ['28P01 wrapped by the application', new Error('could not load the orders', { cause: new Error('query failed', { cause: pg('28P01') }) })],
  ];
  const otherErrors: Array<[string, unknown]> = [
    ['PostgreSQL 42P01', pg('42P01')],
    ['MySQL 1044 (no rights on the database)', Object.assign(new Error('Access denied to database'), { code: 'ER_DBACCESS_DENIED_ERROR', errno: 1044 })],
    ['ECONNREFUSED', Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' })],
    ['HTTP 500', Object.assign(new Error('Internal'), { status: 500 })],
    ['HTTP 429', new Response(null, { status: 429 })],
    ['TARGET_UNREACHABLE', new RotatorError('TARGET_UNREACHABLE', 'could not connect')],
    ['a string', '28P01'],
    ['null', null],
    ['28P01 wrapped deeper than five causes', [1, 2, 3, 4, 5].reduce<unknown>((cause) => new Error('wrapped', { cause }), pg('28P01'))],
  ];

  it.each(authErrors)('calls fn again, once, with the value read again, after %s', async (_name, error) => {
    expect(isAuthenticationError(error)).toBe(true);
    await seed();
    const c = counted();
    const r = reader(c.store);
    const seen: unknown[] = [];
    let next: string | undefined;
    const out = await r.withSecret(async (secret) => {
      seen.push(secret.password);
      if (seen.length === 1) {
        next = await rotate();
        throw error;
      }
      return 'done';
    });
    expect(out).toBe('done');
    expect(seen).toHaveLength(2);
    sameValue(seen[1], (JSON.parse(next ?? '{}') as { password: string }).password);
    expect(seen[1] !== seen[0]).toBe(true);
    expect(c.calls.getValue).toBe(2);
  });

  it.each(otherErrors)('does not call fn again after %s', async (_name, error) => {
    expect(isAuthenticationError(error)).toBe(false);
    await seed();
    const c = counted();
    const r = reader(c.store);
    let calls = 0;
    const outcome = await r
      .withSecret(() => {
        calls += 1;
        return rejecting(error);
      })
      .then(
        () => 'resolved',
        (e: unknown) => e,
      );
    expect(outcome).toBe(error);
    expect(calls).toBe(1);
    expect(c.calls.getValue).toBe(1);
  });

  it('calls fn at most twice, and rejects with the second refusal', async () => {
    await seed();
    const r = reader(t.store);
    let calls = 0;
    const refusals = [Object.assign(new Error('first'), { code: '28P01' }), Object.assign(new Error('second'), { code: '28P01' })];
    const outcome = await r
      .withSecret(() => {
        calls += 1;
        return rejecting(refusals[calls - 1]);
      })
      .catch((e: unknown) => e);
    expect(calls).toBe(2);
    expect(outcome).toBe(refusals[1]);
  });

  it('uses a value someone else read meanwhile instead of reading again', async () => {
    await seed();
    const c = counted();
    const r = reader(c.store);
    const passwords: unknown[] = [];
    await r.withSecret(async (secret) => {
      passwords.push(secret.password);
      if (passwords.length === 1) {
        await rotate();
        await r.refresh(); // another request saw the refusal first
        throw Object.assign(new Error('refused'), { code: '28P01' });
      }
    });
    expect(c.calls.getValue).toBe(2);
    expect(passwords[1] !== passwords[0]).toBe(true);
  });

  it('reads again after a refusal even when a version check renewed the refused value meanwhile', async () => {
    await seed();
    const c = counted(true);
    const r = reader(c.store, { versionCheck: true, staleMs: 0 });
    const passwords: unknown[] = [];
    await r.withSecret(async (secret) => {
      passwords.push(secret.password);
      if (passwords.length === 1) {
        clock += TTL;
        await r.get(); // the check finds CURRENT unchanged and keeps the value
        await rotate(); // then the rotation, then the refusal
        throw Object.assign(new Error('refused'), { code: '28P01' });
      }
    });
    expect(passwords[1] !== passwords[0]).toBe(true);
  });
});

describe('the value stays out of errors and reports', () => {
  it('gives INVALID_SECRET without the value when it is not JSON, and still serves it as text', async () => {
    const raw = `not-json-${randomBytes(16).toString('hex')}`;
    recordSecrets(raw);
    await t.store.createSecret(SECRET, raw);
    const r = reader(t.store);
    const error = await rejection(r.getJson());
    expect(error.code).toBe('INVALID_SECRET');
    expect(error.message).toContain(SECRET);
    expect(error.message).not.toContain(raw);
    sameValue(await r.get(), raw);
    expect((await rejection(r.withSecret(() => Promise.resolve('never')))).code).toBe('INVALID_SECRET');
    for (const value of ['[1,2]', '"a string value"', '{"__proto__":{"ssl":false}}']) {
      await t.store.putValue(SECRET, value);
      expect((await rejection(r.refresh().then(() => r.getJson()))).code).toBe('INVALID_SECRET');
    }
  });

  it('wraps a foreign error that carries the value into STORE_IO naming the secret, without its message or itself', async () => {
    const value = await seed();
    const c = counted();
    const reports: RotatorError[] = [];
    const r = reader(c.store, { onError: (e) => reports.push(e) });
    await r.get();
    c.failWith(Object.assign(new Error(`upstream echoed ${value}`), { code: 'EPROTO' }));
    const error = await rejection(r.refresh());
    expect(error.code).toBe('STORE_IO');
    expect(error.retryable).toBe(true);
    expect(error.message).toBe(`could not read secret ${SECRET} (Error EPROTO)`);
    expect(error.cause).toBeUndefined();
    clock += TTL;
    await r.get();
    await c.idle();
    expect(reports).toHaveLength(1);
    for (const e of [error, ...reports]) expect(JSON.stringify({ message: e.message, stack: e.stack, cause: String(e.cause) })).not.toContain((JSON.parse(value) as { password: string }).password);
  });

  it('shares one frozen parsed object: a caller cannot change the secret for the others', async () => {
    await seed();
    const r = reader(t.store);
    const a = await r.getJson();
    expect(Object.isFrozen(a)).toBe(true);
    expect(() => {
      (a as Record<string, unknown>).host = 'evil.example.com';
    }).toThrow(TypeError);
    expect(await r.getJson()).toBe(a);
    expect((await r.getJson()).host).toBe('db.internal');
    await t.store.putValue(SECRET, JSON.stringify({ nested: { deep: [{ x: 1 }] } }));
    const nested = (await r.refresh().then(() => r.getJson())) as { nested: { deep: Array<{ x: number }> } };
    expect(Object.isFrozen(nested.nested.deep[0])).toBe(true);
  });

  it('passes on the store\'s own errors by code (a missing secret, an invalid id)', async () => {
    expect((await rejection(reader(t.store).get())).code).toBe('SECRET_NOT_FOUND');
    expect((await rejection(createSecretReader({ store: t.store, secretId: 'db/app\u0000x' }).get())).code).toBe('INVALID_INPUT');
  });
});
