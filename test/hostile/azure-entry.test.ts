import { format } from 'node:util';
import azureFunctions from '@azure/functions';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createAzureHandlers, type AzureHandlers } from '../../functions/azure/register.js';
import { MAX_BODY_BYTES } from '../../functions/azure/rotate-http.js';
import type { Rotator } from '../../shared/rotator.js';
import { nearExpiryEvent, recordingHandlers } from '../support/azure-events.js';
import { recordOutput } from '../support/canary.js';
import { MemoryTarget } from '../support/memory-target.js';
import { createTestStore, rotatorWith, type TestStore } from '../support/stores.js';
import { CONTROL_CHARACTERS, expectNoRawControl, snapshot } from './harness.js';

/**
 * Hostile input to the Azure entry points, called as the Functions host calls them: events Event Grid (or whoever
 * can reach the endpoint) might deliver, and HTTP requests to rotate-now. Each is refused (an acknowledged event,
 * or a 4xx), the store is as it was, the rotator is never called, and nothing printed or answered carries a raw
 * control character from the input. A file store stands in for Key Vault: the refusals happen before the store.
 */
const { InvocationContext, HttpRequest } = azureFunctions;
const VAULT = 'sample-kv';
const SECRET = 'db-app';

let t: TestStore;
let output: string;
let calls: number;
let h: AzureHandlers;

beforeEach(async () => {
  t = createTestStore();
  output = '';
  calls = 0;
  await t.store.createSecret(SECRET, JSON.stringify({ engine: 'memory', host: 'db.local', username: 'app', password: 'hostile-azure-password-1' }), { rotation: { enabled: true } });
  const untouchable: Rotator = rotatorWith(new MemoryTarget(), {
    createPending: () => {
      calls += 1;
      throw new Error('the rotator must not be reached');
    },
  });
  h = recordingHandlers(createAzureHandlers({
    store: t.store,
    rotators: [untouchable],
    scope: { vaultName: VAULT },
    defaultStrategy: 'single-user',
    retention: { safeWindowMs: 86_400_000, keepSuperseded: 0 },
    logLevel: 'debug',
    env: {},
  }));
});

afterEach(async () => {
  recordOutput(output);
  await t.dispose();
});

function context(name: string): InstanceType<typeof InvocationContext> {
  return new InvocationContext({ invocationId: 'hostile', functionName: name, logHandler: (level, ...args) => (output += `${level} ${format(...args)}\n`) });
}

function withData(data: Record<string, unknown>, overrides: Record<string, unknown> = {}): Record<string, unknown> {
  const event = nearExpiryEvent(SECRET, VAULT);
  return { ...event, ...overrides, data: { ...(event.data as Record<string, unknown>), ...data } };
}

describe('secretNearExpiry: hostile events are refused and acknowledged, nothing changes', () => {
  const events: ReadonlyArray<readonly [string, () => unknown]> = [
    ['null', () => null],
    ['a string', () => 'Microsoft.KeyVault.SecretNearExpiry'],
    ['an array', () => [nearExpiryEvent(SECRET, VAULT)]],
    ['an event for another vault', () => nearExpiryEvent(SECRET, 'other-kv')],
    ['a vault name that disagrees with the Id host', () => withData({ VaultName: VAULT, Id: `https://evil-kv.vault.azure.net/secrets/${SECRET}/00` })],
    ['a secret name that disagrees with the subject', () => withData({}, { subject: 'other-app' })],
    ['an object type other than Secret', () => withData({ ObjectType: 'Key' })],
    ['the companion secret', () => nearExpiryEvent(`${SECRET}-rotator-pending`, VAULT)],
    ['a name of 128 characters', () => nearExpiryEvent('a'.repeat(128), VAULT)],
    ...CONTROL_CHARACTERS.map(([name, ch]) => [`${name} in the secret name`, () => nearExpiryEvent(`${SECRET}${ch}forged`, VAULT)] as const),
  ];
  it.each(events)('%s', async (_name, make) => {
    const before = await snapshot(t.store);
    const result = await h.secretNearExpiry(make(), context('secretNearExpiry')).catch((error: unknown) => ({ thrown: error }));
    expect(['refused', 'ignored']).toContain((result as { outcome?: string }).outcome);
    expect(await snapshot(t.store)).toEqual(before);
    expect(calls).toBe(0);
    expectNoRawControl(output.replaceAll('\n', '') + JSON.stringify(result));
  });
});

describe('secretNearExpiry: extra keys are ignored, never obeyed or echoed', () => {
  // Event Grid may add fields, so unknown keys are tolerated; they must neither steer the decision nor pollute a
  // prototype nor bloat the logs. Handled correctly means: acted on for this vault's secret (the rotator is reached,
  // and refuses, here), nothing global changed, and the log stays small.
  const events: ReadonlyArray<readonly [string, () => unknown]> = [
    ['a __proto__ key naming another vault', () => JSON.parse(JSON.stringify(nearExpiryEvent(SECRET, VAULT)).replace('"VaultName"', '"__proto__":{"VaultName":"other-kv"},"VaultName"')) as unknown],
    ['a megabyte of unknown data', () => withData({ Padding: 'x'.repeat(1024 * 1024) })],
  ];
  it.each(events)('%s', async (_name, make) => {
    await h.secretNearExpiry(make(), context('secretNearExpiry')).catch(() => undefined);
    expect(calls).toBe(1);
    expect(({} as Record<string, unknown>).VaultName).toBeUndefined();
    expect(output.length).toBeLessThan(20_000);
    expect(output).not.toContain('other-kv');
  });
});

describe('rotate (HTTP): hostile requests are answered 4xx, nothing changes', () => {
  function request(path: string, body?: string, method = 'POST'): InstanceType<typeof HttpRequest> {
    const secretId = /^\/api\/rotate\/(.+)$/.exec(path)?.[1];
    return new HttpRequest({
      method,
      url: `http://localhost:7071${path}`,
      headers: { 'content-type': 'application/json' },
      ...(body === undefined ? {} : { body: { string: body } }),
      ...(secretId === undefined ? {} : { params: { secretId: decodeURIComponent(secretId) } }),
    });
  }
  /** A body of exactly `bytes` bytes naming the secret (padded with spaces, which JSON ignores). */
  const bodyOf = (bytes: number): string => {
    const json = `{"secretId":"${SECRET}-absent"}`;
    return json + ' '.repeat(bytes - json.length);
  };

  const requests: ReadonlyArray<readonly [string, () => InstanceType<typeof HttpRequest>, number]> = [
    ['a GET', () => request(`/api/rotate/${SECRET}`, undefined, 'GET'), 405],
    ['a body one byte over the limit', () => request('/api/rotate', bodyOf(MAX_BODY_BYTES + 1)), 413],
    ['a body of exactly the limit, naming no such secret', () => request('/api/rotate', bodyOf(MAX_BODY_BYTES)), 404],
    ['a body that is not JSON', () => request('/api/rotate', '{"secretId":'), 400],
    ['a body with an unknown key', () => request('/api/rotate', `{"secretId":"${SECRET}","force":true}`), 400],
    ['a prototype-polluting body', () => request('/api/rotate', `{"secretId":"${SECRET}","__proto__":{"secretId":"other"}}`), 400],
    ['the companion secret', () => request(`/api/rotate/${SECRET}-rotator-pending`), 400],
    ...CONTROL_CHARACTERS.map(([name, ch]) => [`${name} in the route`, () => request(`/api/rotate/${encodeURIComponent(`${SECRET}${ch}forged`)}`), 400] as const),
    ...CONTROL_CHARACTERS.map(([name, ch]) => [`${name} in the body`, () => request('/api/rotate', JSON.stringify({ secretId: `${SECRET}${ch}forged` })), 400] as const),
  ];
  it.each(requests)('%s', async (_name, make, status) => {
    const before = await snapshot(t.store);
    const res = await h.rotate(make(), context('rotate'));
    expect(res.status).toBe(status);
    expect((res.jsonBody as { error?: { code?: string } }).error?.code).toMatch(/^[A-Z_]+$/);
    expect(await snapshot(t.store)).toEqual(before);
    expect(calls).toBe(0);
    expectNoRawControl(output.replaceAll('\n', '') + JSON.stringify(res.jsonBody));
  });
});
