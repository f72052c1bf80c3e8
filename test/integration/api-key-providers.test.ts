import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createApiKeyRotator } from '../../rotators/api-key/index.js';
import { RotationEngine } from '../../shared/engine.js';
import { RotatorError } from '../../shared/errors.js';
import type { Logger } from '../../shared/logger.js';
import { Purger } from '../../shared/purger.js';
import type { Rotator } from '../../shared/rotator.js';
import type { SecretStore } from '../../shared/store.js';
import { FileStore } from '../../stores/file/index.js';
import { FakeKeyProvider, httpDialectConfig, type Dialect } from '../fakes/api-key-providers.js';
import { canaryLogger, recordSecrets } from '../support/canary.js';
import { createTestStore, storeWith, type TestStore } from '../support/stores.js';
import { rejection } from '../support/unreachable.js';

/**
 * Each managed provider (SendGrid, Datadog, the generic http one) rotated through the real engine and purger on
 * the file store, against a fake of the provider that enforces admin auth, caps and deletions.
 */
const DAY = 86_400_000;
const T0 = Date.parse('2026-03-01T00:00:00Z');
const at = (days: number): Date => new Date(T0 + days * DAY);
const SECRET = 'svc/api-key';
const MASTER = 'svc/api-admin';
const WINDOW_DAYS = 7;

interface Stored {
  key: string;
  key_id: string;
  [k: string]: unknown;
}

/** Calls the provider's test endpoint with `key`, as a consumer would; returns the HTTP status. */
async function probe(fake: FakeKeyProvider, key: string): Promise<number> {
  const [path, headers]: [string, Record<string, string>] =
    fake.dialect === 'sendgrid'
      ? ['/v3/scopes', { authorization: `Bearer ${key}` }]
      : fake.dialect === 'datadog'
        ? ['/api/v1/validate', { 'dd-api-key': key }]
        : ['/whoami', { authorization: `Token ${key}` }];
  const response = await fetch(`${fake.url}${path}`, { headers });
  await response.arrayBuffer();
  return response.status;
}

describe.each<Dialect>(['sendgrid', 'datadog', 'http'])('api-key provider %s', (dialect) => {
  let t: TestStore;
  let store: FileStore;
  let now: Date;
  let fake: FakeKeyProvider;
  let rotator: Rotator;
  let lines: string[];
  let logger: Logger;
  let initialKey: string;
  let initialId: string;

  const masterValue = (f: FakeKeyProvider): Record<string, unknown> => adminMaster(dialect, f);

  const secretValue = (extra: Record<string, unknown> = {}): Record<string, unknown> => ({
    engine: 'api-key',
    provider: dialect,
    key: initialKey,
    key_id: initialId,
    masterarn: MASTER,
    ...(dialect === 'http' ? { http: httpDialectConfig(fake.url) } : { base_url: fake.url }),
    team: 'payments',
    ...extra,
  });

  const engine = (s: SecretStore = store): RotationEngine => new RotationEngine({ store: s, rotators: [rotator], logger, env: {} });
  const purger = (): Purger => new Purger({ store, rotators: [rotator], logger, clock: () => now });
  const read = async (stage: 'CURRENT' | 'PREVIOUS'): Promise<Stored> => JSON.parse(await store.getValue(SECRET, { stage })) as Stored;
  const keyNames = (): string[] => [...fake.keys.values()].map((k) => k.name).sort();
  /** The keys the fake holds, by value. */
  const heldKeys = (): string[] => [...fake.keys.values()].map((k) => k.key).sort();

  beforeEach(async () => {
    t = createTestStore();
    now = at(0);
    store = new FileStore({ path: t.path, key: t.key, clock: () => now });
    fake = await new FakeKeyProvider({ dialect }).start();
    const initial = fake.addKey('hand-made');
    initialKey = initial.key;
    initialId = initial.id;
    rotator = createApiKeyRotator({ timeoutMs: 2_000 });
    lines = [];
    logger = canaryLogger(lines);
    await store.createSecret(MASTER, JSON.stringify(masterValue(fake)));
    await store.createSecret(SECRET, JSON.stringify(secretValue()), { rotation: { enabled: true, safeWindowMs: WINDOW_DAYS * DAY } });
  });

  afterEach(async () => {
    await fake.close();
    await t.dispose();
  });

  it('rotates: a new key that works at once, the old one valid until the purger revokes it after the window', async () => {
    now = at(1);
    const report = await engine().rotate(SECRET);
    expect(report.steps.map((s) => s.outcome)).toEqual(['done', 'already-done', 'done', 'done']);
    const current = await read('CURRENT');
    expect(current.key).not.toBe(initialKey);
    expect(current.key_id).not.toBe(initialId);
    expect(current).toMatchObject({ engine: 'api-key', provider: dialect, masterarn: MASTER, team: 'payments' });
    expect(fake.keys.get(current.key_id)?.name).toBe(`rotator-${report.versionId}`);
    expect(await probe(fake, current.key)).toBe(200);
    expect(await probe(fake, initialKey)).toBe(200); // consumers still holding it keep working
    expect((await read('PREVIOUS')).key).toBe(initialKey);

    now = at(1 + WINDOW_DAYS - 1);
    const early = await purger().purge([SECRET]);
    expect(early.secrets[0]).toMatchObject({ ok: true, actions: [] });
    expect(await probe(fake, initialKey)).toBe(200);

    now = at(1 + WINDOW_DAYS);
    const late = await purger().purge([SECRET]);
    expect(late.secrets[0]).toMatchObject({ ok: true, actions: [{ revocation: 'revoked', retired: true }] });
    expect([401, 403]).toContain(await probe(fake, initialKey));
    expect(await probe(fake, current.key)).toBe(200);
    expect(heldKeys()).toEqual([current.key]);

    // The admin key, the new key and the old one never reached a log line.
    const output = lines.join('\n');
    for (const secret of [current.key, initialKey, fake.adminKey, fake.appKey]) expect(output).not.toContain(secret);
  });

  it('a second rotation keeps the first rotated key as PREVIOUS and the purger revokes both older keys in turn', async () => {
    now = at(1);
    await engine().rotate(SECRET);
    const first = await read('CURRENT');
    now = at(2);
    await engine().rotate(SECRET);
    const second = await read('CURRENT');
    expect(heldKeys()).toEqual([initialKey, first.key, second.key].sort());
    now = at(2 + WINDOW_DAYS);
    const report = await purger().purge([SECRET]);
    expect(report.secrets[0]?.actions.map((a) => a.revocation)).toEqual(['revoked', 'revoked']);
    expect(heldKeys()).toEqual([second.key]);
    expect(await probe(fake, second.key)).toBe(200);
  });

  type Failure = { name: string; arm: () => void; wrapStore?: (s: FileStore) => SecretStore; code: string };
  const failures: Failure[] = [
    { name: 'createSecret: the list call fails', arm: () => fake.failNext('list', 1, 503), code: 'TARGET_UNREACHABLE' },
    { name: 'createSecret: the key is minted but the response is lost', arm: () => fake.loseNextCreateResponses(1), code: 'TARGET_UNREACHABLE' },
    { name: 'createSecret: the provider rate-limits creation', arm: () => fake.failNext('create', 1, 429), code: 'TARGET_UNREACHABLE' },
    { name: 'setSecret: the test endpoint fails', arm: () => fake.failNext('test', 1, 500), code: 'TARGET_UNREACHABLE' },
    {
      name: 'finishSecret: the store cannot promote',
      arm: () => undefined,
      wrapStore: (s) => failingOnce(s, 'promote'),
      code: 'STORE_IO',
    },
  ];

  it.each(failures)('retry after a failure leaves no orphan key ($name)', async ({ arm, wrapStore, code }) => {
    now = at(1);
    arm();
    const error = await rejection(() => engine(wrapStore?.(store) ?? store).rotate(SECRET));
    expect(error.code).toBe(code);
    expect((await read('CURRENT')).key).toBe(initialKey); // nothing untested reached consumers
    const report = await engine().rotate(SECRET);
    expect(report.resumed).toBe(true);
    const current = await read('CURRENT');
    expect(heldKeys()).toEqual([initialKey, current.key].sort()); // exactly previous + current
    expect(keyNames()).toEqual(['hand-made', `rotator-${report.versionId}`]);
    expect(await probe(fake, current.key)).toBe(200);
  });

  it('retry after testSecret failed leaves no orphan key', async () => {
    now = at(1);
    const failing = engine();
    const error = await rejection(() =>
      failing.rotate(SECRET, {
        onStep: (r) => {
          if (r.step === 'setSecret') fake.failNext('test', 1, 502);
        },
      }),
    );
    expect(error.code).toBe('TARGET_UNREACHABLE');
    expect(error.retryable).toBe(true);
    const report = await engine().rotate(SECRET);
    expect(report.steps.map((s) => s.outcome)).toEqual(['already-done', 'already-done', 'done', 'done']);
    expect(heldKeys()).toEqual([initialKey, (await read('CURRENT')).key].sort());
  });

  it('deletes the minted key when the store cannot take the pending value', async () => {
    now = at(1);
    const error = await rejection(() => engine(failingOnce(store, 'putPending')).rotate(SECRET));
    expect(error.code).toBe('STORE_IO');
    expect(keyNames()).toEqual(['hand-made']);
    expect(fake.count('delete')).toBe(1);
    // The next run mints again and keeps it.
    await engine().rotate(SECRET);
    expect(heldKeys()).toEqual([initialKey, (await read('CURRENT')).key].sort());
  });

  it('refuses to mint with a wrong admin credential, creating nothing', async () => {
    await store.putValue(MASTER, JSON.stringify(adminMaster(dialect, fake, dialect === 'datadog' ? { application_key: 'wrong-application-key' } : { key: 'wrong-admin-key-123' })));
    const error = await rejection(() => engine().rotate(SECRET));
    expect(error.code).toBe('TARGET_AUTH_FAILED');
    expect(error.message).toMatch(/listing API keys failed with HTTP 40[13]/);
    expect(keyNames()).toEqual(['hand-made']);
    expect((await read('CURRENT')).key).toBe(initialKey);
  });

  describe('key-count cap', () => {
    /** Two rotations: hand-made (v0), rotator-<t1> (v1), rotator-<t2> (v2, CURRENT); the cap then stops a third. */
    async function fillToCap(): Promise<{ first: Stored; second: Stored }> {
      fake.cap = 3;
      now = at(1);
      await engine().rotate(SECRET);
      const first = await read('CURRENT');
      now = at(2);
      await engine().rotate(SECRET);
      return { first, second: await read('CURRENT') };
    }

    it('fails with an error naming the cap, changing nothing, when revoke_oldest_on_cap is not set', async () => {
      const { second } = await fillToCap();
      const before = heldKeys();
      now = at(3);
      const error = await rejection(() => engine().rotate(SECRET));
      expect(error).toBeInstanceOf(RotatorError);
      expect(error.code).toBe('TARGET_ERROR');
      expect(error.message).toMatch(/key-count cap/);
      expect(error.message).toMatch(/revoke_oldest_on_cap/);
      expect(heldKeys()).toEqual(before);
      expect((await read('CURRENT')).key).toBe(second.key);
      // Room made by hand: the same rotation resumes and finishes.
      fake.cap = 4;
      const report = await engine().rotate(SECRET);
      expect(report.resumed).toBe(true);
      expect(heldKeys()).toHaveLength(4);
    });

    it('with revoke_oldest_on_cap, deletes the oldest rotator key that is not CURRENT and retries once', async () => {
      await store.putValue(SECRET, JSON.stringify(secretValue({ revoke_oldest_on_cap: true })));
      const { first, second } = await fillToCap();
      now = at(3);
      await engine().rotate(SECRET);
      const third = await read('CURRENT');
      expect(heldKeys()).toEqual([initialKey, second.key, third.key].sort()); // the hand-made key is not ours to delete
      expect([401, 403]).toContain(await probe(fake, first.key));
      expect(await probe(fake, second.key)).toBe(200);
      expect(lines.some((l) => l.includes('to make room under the key-count cap'))).toBe(true);
      // Purging later: the evicted key is already gone (not-needed); the hand-made key sits in two versions (the flag
      // was added with putValue), revoked by the first and not-needed for the second; the second rotated key is revoked.
      now = at(3 + WINDOW_DAYS);
      const report = await purger().purge([SECRET]);
      expect(report.secrets[0]?.ok).toBe(true);
      expect(report.secrets[0]?.actions.map((a) => a.revocation).sort()).toEqual(['not-needed', 'not-needed', 'revoked', 'revoked']);
      expect(heldKeys()).toEqual([third.key]);
    });

    it('with revoke_oldest_on_cap but only the CURRENT key to spare, fails naming the cap', async () => {
      await store.putValue(SECRET, JSON.stringify(secretValue({ revoke_oldest_on_cap: true })));
      fake.cap = 2;
      now = at(1);
      await engine().rotate(SECRET); // hand-made + rotator-<t1> (CURRENT)
      const error = await rejection(() => engine().rotate(SECRET));
      expect(error.code).toBe('TARGET_ERROR');
      expect(error.message).toMatch(/key-count cap.*other than the current one/);
      expect(heldKeys()).toHaveLength(2);
    });
  });
});

/** The master secret for `fake`: its admin credential, and its origin as the one the rotated secret may name. */
function adminMaster(dialect: Dialect, fake: FakeKeyProvider, extra: Record<string, unknown> = {}): Record<string, unknown> {
  const credential = dialect === 'datadog' ? { api_key: fake.adminKey, application_key: fake.appKey } : { key: fake.adminKey };
  return { ...credential, allowed_origins: [fake.url], ...extra };
}

/**
 * Issue 9, item 4: whoever can write the rotated secret must not be able to send the admin credential to a server of
 * their choosing. Two fakes: `legit`, the provider the master secret allows, and `attacker`, named only by the
 * rotated secret. Through createSecret, setSecret/testSecret and the purger's revoke, the attacker gets nothing.
 */
describe.each<Dialect>(['sendgrid', 'datadog', 'http'])('the admin credential goes only where the master secret says (%s)', (dialect) => {
  let t: TestStore;
  let store: FileStore;
  let now: Date;
  let legit: FakeKeyProvider;
  let attacker: FakeKeyProvider;
  let rotator: Rotator;
  let lines: string[];
  let logger: Logger;
  let initial: { key: string; id: string };

  /** The rotated secret, every URL on `on` (for http, `override` moves single routes elsewhere). */
  const secretOn = (on: FakeKeyProvider, override: Record<string, unknown> = {}): Record<string, unknown> => ({
    engine: 'api-key',
    provider: dialect,
    key: initial.key,
    key_id: initial.id,
    masterarn: MASTER,
    ...(dialect === 'http' ? { http: { ...httpDialectConfig(on.url), ...override } } : { base_url: on.url }),
  });
  const engine = (): RotationEngine => new RotationEngine({ store, rotators: [rotator], logger, env: {} });
  const current = async (): Promise<Record<string, unknown>> => JSON.parse(await store.getValue(SECRET, { stage: 'CURRENT' })) as Record<string, unknown>;
  /** Nothing the attacker received carries an admin credential or a key the legit provider holds. */
  const attackerGotNoCredential = (): void => {
    for (const value of [legit.adminKey, legit.appKey, ...[...legit.keys.values()].map((k) => k.key)]) expect(attacker.requestsCarrying(value)).toBe(0);
  };

  beforeEach(async () => {
    t = createTestStore();
    now = at(0);
    store = new FileStore({ path: t.path, key: t.key, clock: () => now });
    legit = await new FakeKeyProvider({ dialect }).start();
    attacker = await new FakeKeyProvider({ dialect }).start();
    const k = legit.addKey('hand-made');
    initial = { key: k.key, id: k.id };
    rotator = createApiKeyRotator({ timeoutMs: 2_000 });
    lines = [];
    logger = canaryLogger(lines);
    await store.createSecret(MASTER, JSON.stringify(adminMaster(dialect, legit)));
  });

  afterEach(async () => {
    await legit.close();
    await attacker.close();
    await t.dispose();
  });

  it('still rotates and revokes end to end when every URL is on an origin the master allows', async () => {
    await store.createSecret(SECRET, JSON.stringify(secretOn(legit)), { rotation: { enabled: true, safeWindowMs: WINDOW_DAYS * DAY } });
    now = at(1);
    await engine().rotate(SECRET);
    const rotated = (await current()).key as string;
    expect(legit.accepts(rotated)).toBe(true);
    now = at(1 + WINDOW_DAYS);
    const report = await new Purger({ store, rotators: [rotator], logger, clock: () => now }).purge([SECRET]);
    expect(report.secrets[0]).toMatchObject({ ok: true, actions: [{ revocation: 'revoked' }] });
    expect(legit.accepts(initial.key)).toBe(false);
    expect(attacker.received).toHaveLength(0);
  });

  it('createSecret: a rotated secret naming another server is refused before any request, saying what to set', async () => {
    await store.createSecret(SECRET, JSON.stringify(secretOn(attacker)), { rotation: { enabled: true, safeWindowMs: WINDOW_DAYS * DAY } });
    now = at(1);
    const error = await rejection(() => engine().rotate(SECRET));
    expect(error.code).toBe('INVALID_SECRET');
    expect(error.message).toContain(attacker.url);
    expect(error.message).toContain('"allowed_origins" in the master secret (svc/api-admin)');
    expect(attacker.received).toHaveLength(0);
    expect(legit.received).toHaveLength(0);
    expect((await current()).key).toBe(initial.key);
  });

  it('the master secret allowing the other origin is what makes it usable', async () => {
    await store.createSecret(SECRET, JSON.stringify(secretOn(attacker)), { rotation: { enabled: true, safeWindowMs: WINDOW_DAYS * DAY } });
    // The owner of the master moves the provider: its credential and origin now name the other server.
    await store.putValue(MASTER, JSON.stringify(adminMaster(dialect, attacker)));
    attacker.addKey('hand-made');
    await engine().rotate(SECRET);
    expect(attacker.accepts((await current()).key as string)).toBe(true);
    expect(legit.received).toHaveLength(0);
  });

  it('createSecret: a provider that redirects does not take the admin key along', async () => {
    await store.createSecret(SECRET, JSON.stringify(secretOn(legit)), { rotation: { enabled: true, safeWindowMs: WINDOW_DAYS * DAY } });
    legit.redirectTo = attacker.url;
    const error = await rejection(() => engine().rotate(SECRET));
    expect(error.code).toBe('TARGET_UNREACHABLE');
    expect(legit.received.length).toBeGreaterThan(0);
    expect(attacker.received).toHaveLength(0);
  });

  it('setSecret and testSecret: a PENDING that names another server never gets the admin credential sent there', async () => {
    await store.createSecret(SECRET, JSON.stringify(secretOn(legit)), { rotation: { enabled: true, safeWindowMs: WINDOW_DAYS * DAY } });
    // A PENDING written by someone who can write the secret: its own key, pointing at the attacker.
    const planted = { ...secretOn(attacker), key: 'planted-key-value-0123456789', key_id: 'planted' };
    recordSecrets(planted.key);
    await store.putPending(SECRET, 'planted-token', JSON.stringify(planted));
    const error = await rejection(() => engine().rotate(SECRET));
    // works() has no master: it sends the planted key (and only it) to the planted URL; set() then refuses.
    expect(error.code).toBe('INVALID_SECRET');
    expect(error.message).toMatch(/setSecret sends credentials to .*allowed_origins/);
    expect(attacker.received.length).toBeLessThanOrEqual(1);
    expect(attacker.received.every((r) => r.method === 'GET')).toBe(true);
    attackerGotNoCredential();
    const direct = await rejection(() => rotator.test(planted, { logger }));
    expect(direct.code).toBe('TARGET_AUTH_FAILED');
    attackerGotNoCredential();
    expect(legit.count('create') + legit.count('delete') + legit.count('list')).toBe(0);
    expect((await current()).key).toBe(initial.key);
  });

  it('revoke: a retired version that names another server is not revoked there', async () => {
    // Someone wrote a version pointing at the attacker, with the id of a key the legit provider holds; the owner put
    // the right value back. When the purger retires the planted version, it must not send the admin key with it.
    await store.createSecret(SECRET, JSON.stringify(secretOn(legit)), { rotation: { enabled: true, safeWindowMs: WINDOW_DAYS * DAY } });
    const victim = legit.addKey('rotator-victim');
    await store.putValue(SECRET, JSON.stringify({ ...secretOn(attacker), key: victim.key, key_id: victim.id }));
    await store.putValue(SECRET, JSON.stringify(secretOn(legit)));
    await store.putValue(SECRET, JSON.stringify(secretOn(legit)));
    now = at(1 + WINDOW_DAYS);
    const report = await new Purger({ store, rotators: [rotator], logger, clock: () => now }).purge([SECRET]);
    expect(report.secrets[0]?.ok).toBe(false);
    expect(JSON.stringify(report.secrets[0])).toMatch(/INVALID_SECRET/);
    expect(attacker.received).toHaveLength(0);
    expect(legit.accepts(victim.key)).toBe(true);
  });

  if (dialect === 'http') {
    it.each(['create', 'test', 'revoke', 'list'])('a single route (%s) on another server refuses the whole rotation before any request', async (route) => {
      const elsewhere = httpDialectConfig(attacker.url)[route];
      await store.createSecret(SECRET, JSON.stringify(secretOn(legit, { [route]: elsewhere })), { rotation: { enabled: true, safeWindowMs: WINDOW_DAYS * DAY } });
      const error = await rejection(() => engine().rotate(SECRET));
      expect(error.code).toBe('INVALID_SECRET');
      expect(error.message).toContain(`http.${route}.url`);
      expect(attacker.received).toHaveLength(0);
      expect(legit.received).toHaveLength(0);
    });
  }
});

/** The store with `method` failing once, as a full disk would. */
function failingOnce(store: FileStore, method: 'putPending' | 'promote'): SecretStore {
  let failed = false;
  const real = store[method].bind(store) as (...a: unknown[]) => Promise<void>;
  return storeWith(store, {
    [method]: (...args: unknown[]) => {
      if (failed) return real(...args);
      failed = true;
      return Promise.reject(new RotatorError('STORE_IO', 'disk full', { retryable: true }));
    },
  });
}
