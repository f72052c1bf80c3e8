import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createApiKeyRotator, createApiKeyVerifier } from '../../rotators/api-key/index.js';
import { RotationEngine } from '../../shared/engine.js';
import type { Logger } from '../../shared/logger.js';
import { Purger } from '../../shared/purger.js';
import type { SecretStore } from '../../shared/store.js';
import { FileStore } from '../../stores/file/index.js';
import { canaryLogger, recordSecrets } from '../support/canary.js';
import { createTestStore, type TestStore } from '../support/stores.js';
import { rejection } from '../support/unreachable.js';

const DAY = 86_400_000;
const T0 = Date.parse('2026-03-01T00:00:00Z');
const at = (ms: number): Date => new Date(T0 + ms);
const SECRET = 'svc/inbound-key';
const INITIAL = 'pk_live_InitialKeyValue0000000000000000000000';
const WINDOW = 7 * DAY;

let t: TestStore;
let store: FileStore;
let now: Date;
let lines: string[];
let logger: Logger;
const rotator = createApiKeyRotator();

const engine = (): RotationEngine => new RotationEngine({ store, rotators: [rotator], logger, env: {} });
const currentKey = async (): Promise<string> => (JSON.parse(await store.getValue(SECRET, { stage: 'CURRENT' })) as { key: string }).key;

beforeEach(async () => {
  t = createTestStore();
  now = at(0);
  store = new FileStore({ path: t.path, key: t.key, clock: () => now });
  lines = [];
  logger = canaryLogger(lines);
  recordSecrets(INITIAL);
  await store.createSecret(SECRET, JSON.stringify({ engine: 'api-key', provider: 'self-issued', key: INITIAL, key_prefix: 'pk_live_', owner: 'billing' }), {
    rotation: { enabled: true, safeWindowMs: WINDOW },
  });
});

afterEach(async () => {
  await t.dispose();
});

describe('self-issued keys', () => {
  it('draws a new key with the secret\'s prefix from node:crypto, keeping every other key', async () => {
    await engine().rotate(SECRET);
    const current = JSON.parse(await store.getValue(SECRET, { stage: 'CURRENT' })) as Record<string, unknown>;
    expect(current.key).toMatch(/^pk_live_[A-Za-z0-9]{40}$/);
    expect(current).toMatchObject({ engine: 'api-key', provider: 'self-issued', key_prefix: 'pk_live_', owner: 'billing' });
    await engine().rotate(SECRET);
    expect(await currentKey()).not.toBe(current.key);
    expect(lines.join('\n')).not.toContain(String(current.key).slice(8));
  });

  it('honours key_length and key_alphabet', async () => {
    await store.putValue(SECRET, JSON.stringify({ engine: 'api-key', provider: 'self-issued', key: INITIAL, key_length: '64', key_alphabet: '0123456789abcdef' }));
    await engine().rotate(SECRET);
    expect(await currentKey()).toMatch(/^[0-9a-f]{64}$/);
  });

  it('refuses a format with too little randomness or a bad alphabet, naming the key, with nothing rotated', async () => {
    await store.putValue(SECRET, JSON.stringify({ engine: 'api-key', provider: 'self-issued', key: INITIAL, key_length: 20, key_alphabet: '0123456789' }));
    const weak = await rejection(() => engine().rotate(SECRET));
    expect(weak.code).toBe('INVALID_SECRET');
    expect(weak.message).toMatch(/key_length: with a 10-character key_alphabet, key_length must be at least 39/);
    await store.putValue(SECRET, JSON.stringify({ engine: 'api-key', provider: 'self-issued', key: INITIAL, key_alphabet: 'aabbccddeeff' }));
    const repeated = await rejection(() => engine().rotate(SECRET));
    expect(repeated.message).toMatch(/key_alphabet: must not repeat a character/);
    expect(repeated.message).not.toContain(INITIAL);
    expect(await currentKey()).toBe(INITIAL);
  });

  it('test() refuses a pending key that does not match the format; revoke has nothing to do', async () => {
    const ctx = { logger };
    const pending = { engine: 'api-key', provider: 'self-issued', key: 'pk_live_short', key_prefix: 'pk_live_' };
    expect(await rotator.works(pending, ctx)).toBe(false);
    expect((await rejection(() => rotator.test(pending, ctx))).code).toBe('INVALID_SECRET');
    const good = { ...pending, key: `pk_live_${'A'.repeat(40)}` };
    expect(await rotator.works(good, ctx)).toBe(true);
    await rotator.test(good, ctx);
    expect(await rotator.revoke?.({ strategy: 'single-user', retired: pending, current: good }, ctx)).toBe('not-needed');
  });

  it('sends nothing anywhere, whatever URLs the secret names (it has no admin credential to leak)', async () => {
    const urls: string[] = [];
    const recording = createApiKeyRotator({ fetch: (url) => (urls.push(url), Promise.resolve(new Response('{}'))) });
    const http = {
      create: { url: 'https://evil.example/k', keyPath: 'key', idPath: 'id' },
      test: { url: 'https://evil.example/me' },
      revoke: { url: 'https://evil.example/k/{{id}}' },
    };
    const rogue = { base_url: 'https://evil.example', http, masterarn: 'svc/admin', key_id: 'id-0' };
    await store.putValue(SECRET, JSON.stringify({ engine: 'api-key', provider: 'self-issued', key: INITIAL, ...rogue }));
    now = at(DAY);
    await new RotationEngine({ store, rotators: [recording], logger, env: {} }).rotate(SECRET);
    now = at(DAY + WINDOW);
    await new Purger({ store, rotators: [recording], logger, clock: () => now }).purge([SECRET]);
    expect(urls).toEqual([]);
  });

  it('the purger retires the old version after the window without calling anything outside', async () => {
    now = at(DAY);
    await engine().rotate(SECRET);
    now = at(DAY + WINDOW);
    const report = await new Purger({ store, rotators: [rotator], logger, clock: () => now }).purge([SECRET]);
    expect(report.secrets[0]).toMatchObject({ ok: true, actions: [{ revocation: 'not-needed', retired: true }] });
  });
});

describe('createApiKeyVerifier', () => {
  /** The store, counting reads. */
  function counting(): { store: SecretStore; reads: () => number } {
    let reads = 0;
    const proxy = new Proxy(store, {
      get: (target, name) => {
        const member = Reflect.get(target, name) as (...a: unknown[]) => unknown;
        if (name !== 'describe' && name !== 'getValue') return member.bind(target);
        return (...args: unknown[]) => {
          if (name === 'describe') reads += 1;
          return member.apply(target, args);
        };
      },
    });
    return { store: proxy, reads: () => reads };
  }

  const verifier = (s: SecretStore, cacheTtlMs = 60_000, missRefreshMs?: number): ReturnType<typeof createApiKeyVerifier> =>
    createApiKeyVerifier({ store: s, secretId: SECRET, cacheTtlMs, safeWindowMs: WINDOW, clock: () => now, ...(missRefreshMs === undefined ? {} : { missRefreshMs }) });

  it('accepts CURRENT, accepts PREVIOUS only inside the window from the promotion, refuses anything else', async () => {
    now = at(DAY);
    await engine().rotate(SECRET);
    const fresh = await currentKey();
    const v = verifier(store, 0);
    expect(await v.verify(fresh)).toBe(true);
    expect(await v.verify(INITIAL)).toBe(true); // inside the window
    expect(await v.verify(`${fresh}x`)).toBe(false);
    expect(await v.verify(fresh.slice(0, -1))).toBe(false);
    expect(await v.verify('')).toBe(false);
    now = at(DAY + WINDOW - 1);
    expect(await v.verify(INITIAL)).toBe(true);
    now = at(DAY + WINDOW);
    expect(await v.verify(INITIAL)).toBe(false);
    expect(await v.verify(fresh)).toBe(true);
    expect(lines.join('\n')).not.toContain(fresh);
  });

  it('a cached read does not stretch the window', async () => {
    now = at(DAY);
    await engine().rotate(SECRET);
    const v = verifier(store, 30 * DAY, Infinity);
    expect(await v.verify(INITIAL)).toBe(true);
    now = at(DAY + WINDOW);
    expect(await v.verify(INITIAL)).toBe(false);
  });

  it('keeps what it read for cacheTtlMs', async () => {
    const { store: s, reads } = counting();
    const v = verifier(s, 60_000, Infinity);
    expect(await v.verify(INITIAL)).toBe(true);
    expect(await v.verify(INITIAL)).toBe(true);
    expect(reads()).toBe(1);
    await engine().rotate(SECRET);
    const fresh = await currentKey();
    now = at(59_999);
    expect(await v.verify(fresh)).toBe(false); // still the cached CURRENT
    expect(reads()).toBe(1);
    now = at(60_000);
    expect(await v.verify(fresh)).toBe(true);
    expect(reads()).toBe(2);
  });

  it('a refused key inside the TTL re-reads at most once per missRefreshMs, so a freshly promoted key is accepted', async () => {
    const { store: s, reads } = counting();
    const v = verifier(s, 60_000, 1_000);
    expect(await v.verify(INITIAL)).toBe(true);
    await engine().rotate(SECRET);
    const fresh = await currentKey();
    expect(await v.verify(fresh)).toBe(false); // read at this instant: too soon to re-read
    expect(reads()).toBe(1);
    now = at(1_000);
    expect(await v.verify(fresh)).toBe(true);
    expect(reads()).toBe(2);
    expect(await v.verify('wrong-key-wrong-key')).toBe(false);
    expect(await v.verify('wrong-key-wrong-key')).toBe(false);
    expect(reads()).toBe(2);
  });

  it('fails closed when the store cannot be read', async () => {
    const v = createApiKeyVerifier({ store, secretId: 'svc/absent', cacheTtlMs: 1_000, safeWindowMs: WINDOW, clock: () => now });
    expect((await rejection(() => v.verify(INITIAL))).code).toBe('SECRET_NOT_FOUND');
  });
});
