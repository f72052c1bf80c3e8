import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createGcpHandlers, type GcpHandlers, type HttpAnswer, type HttpCall } from '../../functions/gcp/handlers.js';
import { MAX_BODY_BYTES } from '../../functions/self-driven/http.js';
import type { Rotator } from '../../shared/rotator.js';
import { recordOutput } from '../support/canary.js';
import { messageOf, recordingGcpHandlers, secretManagerEvent } from '../support/gcp-events.js';
import { MemoryTarget } from '../support/memory-target.js';
import { createTestStore, rotatorWith, type TestStore } from '../support/stores.js';
import { CONTROL_CHARACTERS, expectNoRawControl, snapshot } from './harness.js';

/**
 * Hostile input to the Google Cloud entry points: notifications anyone who can publish to the topic (or reach the
 * function) might deliver, and bodies posted to the HTTP functions. Each is refused or ignored (an acknowledged
 * event, or a 4xx), the store is as it was, neither the rotator nor the reconciler is reached, and nothing printed or
 * answered carries a raw control character from the input. A file store stands in for Secret Manager: the refusals
 * happen before the store.
 */
const PROJECT = 'rotator-test';
const NUMBER = '123456789012';
const SECRET = 'db-app';
const MB = 1024 * 1024;

let t: TestStore;
let output: string;
let calls: number;
let reconciles: number;
let h: GcpHandlers;

beforeEach(async () => {
  t = createTestStore();
  output = '';
  calls = 0;
  reconciles = 0;
  await t.store.createSecret(SECRET, JSON.stringify({ engine: 'memory', host: 'db.local', username: 'app', password: 'hostile-gcp-password-1' }), { rotation: { enabled: true } });
  const untouchable: Rotator = rotatorWith(new MemoryTarget(), {
    createPending: () => {
      calls += 1;
      throw new Error('the rotator must not be reached');
    },
  });
  h = recordingGcpHandlers(
    createGcpHandlers({
      store: t.store,
      dueSecretIds: () => Promise.resolve([]),
      rotators: [untouchable],
      scope: { projectId: PROJECT, projectNumber: NUMBER },
      defaultStrategy: 'single-user',
      retention: { safeWindowMs: 86_400_000, keepSuperseded: 0 },
      logLevel: 'debug',
      env: {},
      write: (line) => (output += `${line}\n`),
      reconcileJobs: () => {
        reconciles += 1;
        return Promise.reject(new Error('the reconciler must not be reached'));
      },
    }),
  );
});

afterEach(async () => {
  recordOutput(output);
  await t.dispose();
});

/** A notification for this project's secret with parts replaced: the CloudEvent's members, the message's, the attributes'. */
const event = (changes: { message?: Record<string, unknown>; attributes?: Record<string, unknown>; top?: Record<string, unknown> } = {}): Record<string, unknown> => {
  const base = secretManagerEvent(SECRET);
  const message = messageOf(base);
  const attributes = { ...(message.attributes as Record<string, unknown>), ...changes.attributes };
  return { ...base, ...changes.top, data: { ...(base.data as Record<string, unknown>), message: { ...message, attributes, ...changes.message } } };
};

/** 1 MB of padding inside the Secret JSON of the message's data (base64, as Secret Manager sends it). */
const paddedData = (): string => Buffer.from(JSON.stringify({ name: `projects/${NUMBER}/secrets/${SECRET}`, padding: 'x'.repeat(MB) })).toString('base64');

describe('onSecretEvent: hostile notifications are refused or ignored, nothing changes', () => {
  const events: ReadonlyArray<readonly [string, () => unknown]> = [
    ['null', () => null],
    ['a string', () => 'SECRET_ROTATE'],
    ['a number', () => 42],
    ['an array', () => [secretManagerEvent(SECRET)]],
    ['a secret of another project (by id)', () => secretManagerEvent(SECRET, { project: 'other-project' })],
    ['a secret of another project (by number)', () => secretManagerEvent(SECRET, { project: '987654321098' })],
    ['the companion secret', () => secretManagerEvent(`${SECRET}-rotator-pending`)],
    ['an id of 240 characters', () => secretManagerEvent('a'.repeat(240))],
    ['a version name in secretId', () => event({ attributes: { secretId: `projects/${NUMBER}/secrets/${SECRET}/versions/1` } })],
    ['a path traversal in secretId', () => event({ attributes: { secretId: `projects/${NUMBER}/secrets/../${SECRET}` } })],
    ['an oversized secretId', () => event({ attributes: { secretId: `projects/${NUMBER}/secrets/${'a'.repeat(100_000)}` } })],
    ['an oversized eventType', () => event({ attributes: { eventType: `SECRET_ROTATE${'A'.repeat(100_000)}` } })],
    ['an oversized messageId', () => event({ message: { messageId: '1'.repeat(100_000) } })],
    ['attributes that are a string', () => event({ message: { attributes: 'eventType=SECRET_ROTATE' } })],
    ['an eventType that is a number', () => event({ attributes: { eventType: 7 } })],
    ['a secretId that is an object', () => event({ attributes: { secretId: { toString: SECRET } } })],
    ['a publishTime that is a number', () => event({ message: { publishTime: 1_785_000_000_000 } })],
    ['a message that is an array', () => ({ ...secretManagerEvent(SECRET), data: { message: [messageOf(secretManagerEvent(SECRET))] } })],
    ['a publishTime that is not a time', () => event({ message: { publishTime: 'tomorrow' } })],
    ['no publish time anywhere', () => event({ message: { publishTime: undefined }, top: { time: undefined } })],
    [
      'a __proto__ attribute naming the secret (no own secretId)',
      () => JSON.parse(JSON.stringify(event({ attributes: { secretId: undefined } })).replace('"attributes":{', `"attributes":{"__proto__":{"secretId":"projects/${NUMBER}/secrets/${SECRET}"},`)) as unknown,
    ],
    ['1 MB of padding in the data, for another project', () => event({ message: { data: paddedData() }, attributes: { secretId: `projects/other-project/secrets/${SECRET}` } })],
    ['1 MB of padding in the data, on another event type', () => event({ message: { data: paddedData() }, attributes: { eventType: 'SECRET_VERSION_ADD' } })],
    ['1 MB of unknown keys beside the message', () => event({ top: { padding: 'x'.repeat(MB) }, attributes: { secretId: `projects/other-project/secrets/${SECRET}` } })],
    ...CONTROL_CHARACTERS.map(([name, ch]) => [`${name} in the secret id`, () => secretManagerEvent(`${SECRET}${ch}forged`)] as const),
    ...CONTROL_CHARACTERS.map(([name, ch]) => [`${name} in the event type`, () => event({ attributes: { eventType: `SECRET_ROTATE${ch}forged` } })] as const),
    ...CONTROL_CHARACTERS.map(([name, ch]) => [`${name} in the message id`, () => event({ message: { messageId: `1${ch}forged` } })] as const),
    ...CONTROL_CHARACTERS.map(([name, ch]) => [`${name} in the CloudEvent type`, () => event({ top: { type: `google.cloud.pubsub.topic.v1.messagePublished${ch}` } })] as const),
  ];
  it.each(events)('%s', async (_name, make) => {
    const before = await snapshot(t.store);
    const result = await h.onSecretEvent(make()).catch((error: unknown) => ({ thrown: error }));
    expect(['refused', 'ignored']).toContain((result as { outcome?: string }).outcome);
    expect(await snapshot(t.store)).toEqual(before);
    expect(calls).toBe(0);
    expectNoRawControl(output.replaceAll('\n', '') + JSON.stringify(result));
    expect(output.length).toBeLessThan(20_000);
    expect(output).not.toContain('forged');
    expect(({} as Record<string, unknown>).secretId).toBeUndefined();
  });
});

describe('onSecretEvent: what a notification carries besides its attributes is ignored, never obeyed or echoed', () => {
  // Acted on for this project's secret (the rotator is reached, and refuses, here), nothing global changed, the log
  // small: the data is never decoded, unknown keys never reach a line.
  const events: ReadonlyArray<readonly [string, () => unknown]> = [
    ['1 MB of padding in the message data', () => event({ message: { data: paddedData() } })],
    ['1 MB of unknown keys', () => event({ top: { padding: 'x'.repeat(MB) }, message: { orderingKey: 'y'.repeat(MB) } })],
    ['a __proto__ key naming another project', () => JSON.parse(JSON.stringify(secretManagerEvent(SECRET)).replace('"attributes":{', '"attributes":{"__proto__":{"secretId":"projects/other-project/secrets/db-other"},')) as unknown],
  ];
  it.each(events)('%s', async (_name, make) => {
    const result = await h.onSecretEvent(make());
    expect(result).toEqual({ outcome: 'failed', code: 'INTERNAL' });
    expect(calls).toBe(1);
    expect(({} as Record<string, unknown>).secretId).toBeUndefined();
    expect(output.length).toBeLessThan(20_000);
    expect(output).not.toContain('other-project');
    expect(output).not.toContain('xxxxxxxx');
  });

  it('a secret named __proto__ is looked up as a name, and not found: nothing changes', async () => {
    const before = await snapshot(t.store);
    const result = await h.onSecretEvent(secretManagerEvent('__proto__'));
    expect(result).toEqual({ outcome: 'failed', code: 'SECRET_NOT_FOUND' });
    expect(await snapshot(t.store)).toEqual(before);
    expect(calls).toBe(0);
  });
});

describe('HTTP functions: hostile requests are answered 4xx, nothing changes', () => {
  const call = (body?: string | Buffer, method = 'POST'): HttpCall => ({ method, rawBody: body === undefined ? undefined : Buffer.from(body) });
  /** A body of exactly `bytes` bytes (padded with spaces, which JSON ignores). */
  const sized = (json: string, bytes: number): string => json + ' '.repeat(bytes - json.length);
  const absent = `{"secretId":"${SECRET}-absent"}`;

  type Fn = 'rotate' | 'purge' | 'reconcileJobs';
  const requests: ReadonlyArray<readonly [string, Fn, () => HttpCall, number]> = [
    ['rotate: a GET', 'rotate', () => call(`{"secretId":"${SECRET}"}`, 'GET'), 405],
    ['rotate: a body one byte over the limit', 'rotate', () => call(sized(`{"secretId":"${SECRET}"}`, MAX_BODY_BYTES + 1)), 413],
    ['rotate: a body of exactly the limit, naming no such secret', 'rotate', () => call(sized(absent, MAX_BODY_BYTES)), 404],
    ['rotate: a megabyte', 'rotate', () => call(`{"secretId":"${SECRET}","pad":"${'x'.repeat(MB)}"}`), 413],
    ['rotate: a body that is not JSON', 'rotate', () => call('{"secretId":'), 400],
    ['rotate: bytes that are not UTF-8', 'rotate', () => call(Buffer.concat([Buffer.from(`{"secretId":"${SECRET}`), Buffer.from([0xff, 0xfe]), Buffer.from('"}')])), 400],
    ['rotate: an unknown key', 'rotate', () => call(`{"secretId":"${SECRET}","force":true}`), 400],
    ['rotate: a prototype-polluting body', 'rotate', () => call(`{"secretId":"${SECRET}","__proto__":{"due":true}}`), 400],
    ['rotate: a __proto__ body alone', 'rotate', () => call(`{"__proto__":{"secretId":"${SECRET}"}}`), 400],
    ['rotate: the companion secret', 'rotate', () => call(`{"secretId":"${SECRET}-rotator-pending"}`), 400],
    ['rotate: a secret id that is a number', 'rotate', () => call('{"secretId":42}'), 400],
    ['rotate: a secret id that is an array', 'rotate', () => call(`{"secretId":["${SECRET}"]}`), 400],
    ['rotate: due as a string', 'rotate', () => call('{"due":"true"}'), 400],
    ['rotate: due and a secret at once', 'rotate', () => call(`{"due":true,"secretId":"${SECRET}"}`), 400],
    ['rotate: a resource name instead of an id', 'rotate', () => call(`{"secretId":"projects/${NUMBER}/secrets/${SECRET}"}`), 400],
    ...CONTROL_CHARACTERS.map(([name, ch]) => [`rotate: ${name} in the secret id`, 'rotate' as const, () => call(JSON.stringify({ secretId: `${SECRET}${ch}forged` })), 400] as const),
    ['purge: a GET', 'purge', () => call(undefined, 'GET'), 405],
    ['purge: a body one byte over the limit', 'purge', () => call(sized('{}', MAX_BODY_BYTES + 1)), 413],
    ['purge: an unknown key', 'purge', () => call(`{"secretId":"${SECRET}"}`), 400],
    ['purge: a prototype-polluting body', 'purge', () => call('{"__proto__":{"keep":0}}'), 400],
    ['purge: an array', 'purge', () => call('[]'), 400],
    ['reconcileJobs: a DELETE', 'reconcileJobs', () => call(undefined, 'DELETE'), 405],
    ['reconcileJobs: a body one byte over the limit', 'reconcileJobs', () => call(sized('{"dryRun":true}', MAX_BODY_BYTES + 1)), 413],
    ['reconcileJobs: dryRun as a string', 'reconcileJobs', () => call('{"dryRun":"false"}'), 400],
    ['reconcileJobs: an unknown key', 'reconcileJobs', () => call('{"dryRun":true,"location":"us-central1"}'), 400],
    ['reconcileJobs: a prototype-polluting body', 'reconcileJobs', () => call('{"__proto__":{"dryRun":false}}'), 400],
    ...CONTROL_CHARACTERS.map(([name, ch]) => [`reconcileJobs: ${name} in an unknown key`, 'reconcileJobs' as const, () => call(JSON.stringify({ [`dry${ch}forged`]: true })), 400] as const),
  ];
  it.each(requests)('%s', async (_name, fn, make, status) => {
    const before = await snapshot(t.store);
    const res: HttpAnswer = await h[fn](make());
    expect(res.status).toBe(status);
    expect((res.body as { error?: { code?: string } }).error?.code).toMatch(/^[A-Z_]+$/);
    expect(await snapshot(t.store)).toEqual(before);
    expect(calls).toBe(0);
    expect(reconciles).toBe(0);
    expectNoRawControl(output.replaceAll('\n', '') + JSON.stringify(res.body));
    expect(output + JSON.stringify(res.body)).not.toContain('forged');
    expect(output.length).toBeLessThan(20_000);
    expect(({} as Record<string, unknown>).due).toBeUndefined();
  });
});
