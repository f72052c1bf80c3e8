import { randomBytes } from 'node:crypto';
import middy from '@middy/core';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { rotatorSecret, type ContextWithSecret } from '../../consumer/middy.js';
import { createSecretReader } from '../../consumer/reader.js';
import { RotatorError } from '../../shared/errors.js';
import type { SecretStore } from '../../shared/store.js';
import { recordSecrets } from '../support/canary.js';
import { lambdaContext } from '../support/lambda.js';
import { createTestStore, storeWith, type TestStore } from '../support/stores.js';

/**
 * The middy middleware with @middy/core and a handler, over the file store: the secret on the context, one store read
 * across the invocations of a warm container, a refresh after the handler's credential was refused (so the next
 * invocation has the new value), and nothing else refreshed, masked or printed.
 */

const SECRET = 'db/app';
let t: TestStore;
let reads: number;
let failReads: boolean;
let store: SecretStore;

beforeEach(() => {
  t = createTestStore();
  reads = 0;
  failReads = false;
  store = storeWith(t.store, {
    getValue: (id, selector) => {
      reads += 1;
      return failReads ? Promise.reject(new RotatorError('STORE_IO', `could not read secret ${id}`, { retryable: true })) : t.store.getValue(id, selector);
    },
  });
});
afterEach(async () => {
  await t.dispose();
});

function credential(): { value: string; password: string } {
  const password = `pw-${randomBytes(18).toString('base64url')}`;
  recordSecrets(password);
  return { value: JSON.stringify({ engine: 'postgres', host: 'db.internal', username: 'app', password }), password };
}

const refused = () => Object.assign(new Error('password authentication failed for user "app"'), { code: '28P01' });
/** One invocation, as the Lambda runtime makes it (the context gets the secret from the middleware). */
const invoke = (handler: (event: unknown, context: never) => Promise<unknown>) => handler({}, lambdaContext(30_000, 'consumer') as never);

describe('rotatorSecret', () => {
  it('puts the parsed secret on the context, and reads the store once for a warm container', async () => {
    const first = credential();
    await t.store.createSecret(SECRET, first.value);
    const seen: boolean[] = [];
    const handler = middy<unknown, unknown, Error, ContextWithSecret>()
      .use(rotatorSecret({ store, secretId: SECRET }))
      .handler((_event, context) => {
        seen.push(context.secret.password === first.password && context.secret.username === 'app');
        return Promise.resolve('ok');
      });
    for (let i = 0; i < 5; i++) expect(await invoke(handler)).toBe('ok');
    expect(seen).toEqual([true, true, true, true, true]);
    expect(reads).toBe(1);
  });

  it('after a refused credential, reads the secret again so that the next invocation has the new value', async () => {
    const first = credential();
    await t.store.createSecret(SECRET, first.value);
    const second = credential();
    const used: string[] = [];
    const handler = middy<unknown, unknown, Error, ContextWithSecret>()
      .use(rotatorSecret({ store, secretId: SECRET }))
      .handler(async (_event, context) => {
        const password = String(context.secret.password);
        used.push(password === first.password ? 'first' : password === second.password ? 'second' : 'other');
        if (password !== second.password) {
          await t.store.putValue(SECRET, second.value); // rotated while this invocation ran
          throw new Error('could not load the orders', { cause: refused() });
        }
        return 'ok';
      });
    const error = await invoke(handler).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(Error);
    expect((error as Error).message).toBe('could not load the orders'); // the invocation's own error, untouched
    expect(reads).toBe(2); // the refresh happened in onError, not on the next invocation
    expect(await invoke(handler)).toBe('ok');
    expect(used).toEqual(['first', 'second']);
    expect(reads).toBe(2);
  });

  it('does not read again after an error that is not a refused credential', async () => {
    await t.store.createSecret(SECRET, credential().value);
    const handler = middy()
      .use(rotatorSecret({ store, secretId: SECRET }))
      .handler(() => Promise.reject(Object.assign(new Error('relation "orders" does not exist'), { code: '42P01' })));
    await expect(invoke(handler)).rejects.toThrow('relation "orders" does not exist');
    await expect(invoke(handler)).rejects.toThrow('relation "orders" does not exist');
    expect(reads).toBe(1);
  });

  it('keeps the handler\'s error when the refresh fails, and reports the refresh failure', async () => {
    await t.store.createSecret(SECRET, credential().value);
    const reports: string[] = [];
    const handler = middy()
      .use(rotatorSecret({ store, secretId: SECRET, onRefreshError: (e) => reports.push(e.code) }))
      .handler(() => {
        failReads = true;
        return Promise.reject(refused());
      });
    await expect(invoke(handler)).rejects.toMatchObject({ code: '28P01' });
    expect(reports).toEqual(['STORE_IO']);
  });

  it('fails the invocation before the handler when the store cannot be read and nothing is cached', async () => {
    failReads = true;
    let ran = false;
    const handler = middy()
      .use(rotatorSecret({ store, secretId: SECRET }))
      .handler(() => {
        ran = true;
        return Promise.resolve();
      });
    await expect(invoke(handler)).rejects.toMatchObject({ code: 'STORE_IO' });
    expect(ran).toBe(false);
  });

  it('takes a reader shared with other code, and a context key of its own', async () => {
    const first = credential();
    await t.store.createSecret(SECRET, first.value);
    const reader = createSecretReader({ store, secretId: SECRET });
    await reader.get();
    const handler = middy<unknown, unknown, Error, ContextWithSecret<'db'>>()
      .use(rotatorSecret({ reader, contextKey: 'db' }))
      .handler((_event, context) => Promise.resolve(context.db.password === first.password));
    expect(await invoke(handler)).toBe(true);
    expect(reads).toBe(1);
  });

  it.each(['', 'awsRequestId', 'getRemainingTimeInMillis', '__proto__', 'constructor', 'db secret', 'a.b', 'x'.repeat(65), '1st'])(
    'refuses the context key %j',
    (contextKey) => {
      expect(() => rotatorSecret({ store, secretId: SECRET, contextKey })).toThrow(expect.objectContaining({ code: 'INVALID_INPUT' }));
    },
  );
});
