import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { RotationEngine, type Step } from '../../shared/engine.js';
import { RotatorError, type ErrorCode } from '../../shared/errors.js';
import { createLogger, type Logger } from '../../shared/logger.js';
import { REDACTED, Redactor } from '../../shared/redact.js';
import type { Rotator, RotatorContext } from '../../shared/rotator.js';
import type { RotationFailure, SecretStore, VersionInfo } from '../../shared/store.js';
import { FileStore } from '../../stores/file/index.js';
import { MemoryTarget } from '../support/memory-target.js';
import { createTestStore, rotatorWith, storeWith, type TestStore } from '../support/stores.js';
import { canaryLogger, recordOutput } from '../support/canary.js';

const SECRET = 'app/db';
const initial = { engine: 'memory', host: 'db.local', username: 'app', password: 'initial-password-1', dbname: 'app', extra: { keep: true } };

let t: TestStore;
let target: MemoryTarget;
let lines: string[];
let logger: Logger;

function engine(options: Partial<ConstructorParameters<typeof RotationEngine>[0]> = {}): RotationEngine {
  return new RotationEngine({ store: t.store, rotators: [target], logger, env: {}, ...options });
}

async function expectCode(promise: Promise<unknown>, code: ErrorCode): Promise<RotatorError> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(RotatorError);
  expect((error as RotatorError).code).toBe(code);
  return error as RotatorError;
}

/**
 * `store` describing as AWS's store does when asked not to look for PENDING's value (`pendingValue: false`, what
 * createSecret asks): a PENDING version shows `hasValue: false` whether or not it holds one.
 */
function unprobedPending(store: SecretStore): SecretStore {
  return storeWith(store, {
    describe: async (id, options) => {
      const info = await store.describe(id, options);
      if (options?.pendingValue !== false) return info;
      return { ...info, versions: info.versions.map((v) => (v.stages.includes('PENDING') ? { ...v, hasValue: false } : v)) };
    },
  });
}

async function current(store: SecretStore = t.store): Promise<Record<string, unknown>> {
  return JSON.parse(await store.getValue(SECRET, { stage: 'CURRENT' })) as Record<string, unknown>;
}

/**
 * `base` answering `swapped` for the version `token` of SECRET once `swap()` is called. Versions are immutable in every
 * store, and the engine recalls a value once read; to see another value under the same token, the recalled one must
 * also be pushed out: `evict(e)` has `e` read 300 others (secrets other/<n>, described and read as SECRET).
 */
function swappingStore(base: SecretStore, token: string, swapped: string): { store: SecretStore; swap: () => void; evict: (e: RotationEngine) => Promise<void> } {
  let swapping = false;
  const other = (id: string): boolean => id.startsWith('other/');
  const store = storeWith(base, {
    describe: async (id, options) => ({ ...(await base.describe(other(id) ? SECRET : id, options)), secretId: id }),
    getValue: (id, selector, options) =>
      swapping && id === SECRET && 'versionId' in selector && selector.versionId === token
        ? Promise.resolve(swapped)
        : base.getValue(other(id) ? SECRET : id, selector, options),
  });
  return {
    store,
    swap: () => {
      swapping = true;
    },
    evict: async (e) => {
      for (let i = 0; i < 300; i++) await e.preflight(`other/${i}`);
    },
  };
}

beforeEach(async () => {
  t = createTestStore();
  target = new MemoryTarget();
  target.logins.set('app', initial.password);
  lines = [];
  logger = canaryLogger(lines);
  await t.store.createSecret(SECRET, JSON.stringify(initial), { rotation: { enabled: true } });
});

afterEach(async () => {
  await t.dispose();
});

describe('guards, in the order of AWS templates', () => {
  it('refuses when rotation is disabled, before looking at the token', async () => {
    await t.store.updateRotation(SECRET, { enabled: false });
    await expectCode(engine().runStep(SECRET, 'no-such-token', 'createSecret'), 'ROTATION_DISABLED');
    await expectCode(engine().rotate(SECRET), 'ROTATION_DISABLED');
    expect(target.calls).toEqual([]);
    expect((await t.store.describe(SECRET)).versions).toHaveLength(1);
  });

  it('refuses a token that is not a version', async () => {
    const error = await expectCode(engine().runStep(SECRET, 'no-such-token', 'setSecret'), 'VERSION_NOT_FOUND');
    expect(error.message).toMatch(/no version no-such-token/);
  });

  it('succeeds without work when the token is already CURRENT', async () => {
    const currentId = (await t.store.describe(SECRET)).versions[0]?.versionId ?? '';
    for (const step of ['createSecret', 'setSecret', 'testSecret', 'finishSecret'] as Step[]) {
      const result = await engine().runStep(SECRET, currentId, step);
      expect(result.outcome).toBe('already-current');
    }
    expect(target.calls).toEqual([]);
  });

  it('refuses a known version that is not PENDING', async () => {
    const first = await engine().rotate(SECRET);
    await engine().rotate(SECRET);
    // `first` is now PREVIOUS.
    await expectCode(engine().runStep(SECRET, first.versionId, 'setSecret'), 'NOT_PENDING');
  });
});

describe('service-driven steps', () => {
  const token = 'tok-00000000-0000-0000-0000-000000000001';

  beforeEach(async () => {
    await t.store.startRotation(SECRET, token);
  });

  it('createSecret stores a new password with every other key kept, and is idempotent', async () => {
    expect((await engine().runStep(SECRET, token, 'createSecret')).outcome).toBe('done');
    const pending = JSON.parse(await t.store.getValue(SECRET, { versionId: token, stage: 'PENDING' })) as Record<string, unknown>;
    expect(pending).toMatchObject({ ...initial, password: expect.any(String) as string });
    expect(pending.password).not.toBe(initial.password);
    expect(pending.password).toHaveLength(32);
    expect(await engine().runStep(SECRET, token, 'createSecret')).toMatchObject({ outcome: 'already-done' });
    expect(await t.store.getValue(SECRET, { versionId: token })).toBe(JSON.stringify(pending));
  });

  it('createSecret applies the password env vars and the engine exclusions', async () => {
    await engine({ env: { PASSWORD_LENGTH: '57', EXCLUDE_PUNCTUATION: 'true' } }).runStep(SECRET, token, 'createSecret');
    const pending = JSON.parse(await t.store.getValue(SECRET, { versionId: token })) as { password: string };
    expect(pending.password).toMatch(/^[A-Za-z0-9]{57}$/);
  });

  it('createSecret refuses an engine no rotator serves and a strategy the rotator lacks', async () => {
    await t.store.putValue(SECRET, JSON.stringify({ ...initial, engine: 'oracle' }));
    await t.store.startRotation(SECRET, token);
    const error = await expectCode(engine().runStep(SECRET, token, 'createSecret'), 'UNSUPPORTED_ENGINE');
    expect(error.message).toMatch(/"oracle".*supported: memory/);
    await t.store.putValue(SECRET, JSON.stringify(initial)); // cancels the rotation (the stub): start it again
    await t.store.startRotation(SECRET, token);
    await t.store.updateRotation(SECRET, { enabled: true, strategy: 'dual-password' });
    await expectCode(engine().runStep(SECRET, token, 'createSecret'), 'UNSUPPORTED_ENGINE');
  });

  it('createSecret refuses a CURRENT value that is not valid JSON or misses keys, naming the problem', async () => {
    await t.store.putValue(SECRET, 'not json');
    await t.store.startRotation(SECRET, token);
    const error = await expectCode(engine().runStep(SECRET, token, 'createSecret'), 'INVALID_SECRET');
    expect(error.message).toMatch(/not valid JSON/);
    await t.store.putValue(SECRET, JSON.stringify({ host: 'x' }));
    await t.store.startRotation(SECRET, token);
    await expectCode(engine().runStep(SECRET, token, 'createSecret'), 'INVALID_SECRET');
  });

  it('createSecret hands the token and the master to createPending, and discards what it made when the value cannot be stored', async () => {
    await t.store.createSecret('app/master', JSON.stringify({ ...initial, username: 'admin', password: 'master-password-1' }), {});
    await t.store.putValue(SECRET, JSON.stringify({ ...initial, masterarn: 'app/master' }));
    await t.store.updateRotation(SECRET, { enabled: true, strategy: 'alternating-users' });
    await t.store.startRotation(SECRET, token);
    const seen: string[] = [];
    const minting = Object.assign(target, {
      createPending: async (input: Parameters<MemoryTarget['createPending']>[0] & { token: string; readMaster: () => Promise<Record<string, unknown>> }) => {
        const master = await input.readMaster();
        seen.push(`mint:${input.token}:${String(master.username)}`);
        return { ...input.current, password: 'minted-key-value-1' };
      },
      discardPending: (pending: Record<string, unknown>) => {
        seen.push(`discard:${String(pending.password)}`);
        return Promise.resolve();
      },
    });
    const failingStore = storeWith(t.store, { putPending: () => Promise.reject(new RotatorError('STORE_IO', 'disk full', { retryable: true })) });
    await expectCode(engine({ store: failingStore, rotators: [minting] }).runStep(SECRET, token, 'createSecret'), 'STORE_IO');
    expect(seen).toEqual([`mint:${token}:admin`, 'discard:minted-key-value-1']);
    // With a working store the same step keeps what it made.
    await engine({ rotators: [minting] }).runStep(SECRET, token, 'createSecret');
    expect(seen.slice(2)).toEqual([`mint:${token}:admin`]);
    expect(JSON.parse(await t.store.getValue(SECRET, { versionId: token }))).toMatchObject({ password: 'minted-key-value-1' });
    // Run again where the description does not say that PENDING holds a value (AWS): a rotator that mints looks
    // before it mints, so the retry mints nothing.
    expect((await engine({ store: unprobedPending(t.store), rotators: [minting] }).runStep(SECRET, token, 'createSecret')).outcome).toBe('already-done');
    expect(seen).toHaveLength(3);
  });

  it('createSecret on a description that did not look for PENDING\'s value writes first, and keeps a value already there', async () => {
    await engine().runStep(SECRET, token, 'createSecret');
    const stored = await t.store.getValue(SECRET, { versionId: token });
    expect((await engine({ store: unprobedPending(t.store) }).runStep(SECRET, token, 'createSecret')).outcome).toBe('already-done');
    expect(await t.store.getValue(SECRET, { versionId: token })).toBe(stored);
  });

  it('setSecret before createSecret fails cleanly: the stub has no value', async () => {
    await expectCode(engine().runStep(SECRET, token, 'setSecret'), 'VERSION_NOT_FOUND');
    expect(target.calls).toEqual([]);
  });

  it('setSecret does nothing when the pending credential already works', async () => {
    await engine().runStep(SECRET, token, 'createSecret');
    await engine().runStep(SECRET, token, 'setSecret');
    expect(target.calls).toEqual(['works', 'set:single-user:no-previous:no-master']);
    expect((await engine().runStep(SECRET, token, 'setSecret')).outcome).toBe('already-done');
    expect(target.calls.filter((c) => c.startsWith('set'))).toHaveLength(1);
  });

  it('setSecret passes PREVIOUS when usable and ignores a PREVIOUS that is not', async () => {
    await t.store.putValue(SECRET, JSON.stringify(initial)); // the original becomes PREVIOUS
    await t.store.startRotation(SECRET, token);
    await engine().runStep(SECRET, token, 'createSecret');
    await engine().runStep(SECRET, token, 'setSecret');
    expect(target.calls).toContain('set:single-user:previous:no-master');

    const other = 'tok-00000000-0000-0000-0000-000000000002';
    await t.store.putValue(SECRET, '{"engine":"memory"}');
    await t.store.putValue(SECRET, JSON.stringify(initial)); // PREVIOUS is now unusable
    await t.store.startRotation(SECRET, other);
    await engine().runStep(SECRET, other, 'createSecret');
    await engine().runStep(SECRET, other, 'setSecret');
    expect(target.calls.at(-1)).toBe('set:single-user:no-previous:no-master');
    expect(lines.some((l) => l.includes('ignoring the PREVIOUS value'))).toBe(true);
  });

  it('setSecret reads the master secret for alternating users', async () => {
    await t.store.createSecret('app/master', JSON.stringify({ ...initial, username: 'admin', password: 'master-password-1' }), {});
    await t.store.putValue(SECRET, JSON.stringify({ ...initial, masterarn: 'app/master' }));
    await t.store.updateRotation(SECRET, { enabled: true, strategy: 'alternating-users' });
    await t.store.startRotation(SECRET, token);
    await engine().runStep(SECRET, token, 'createSecret');
    const pending = JSON.parse(await t.store.getValue(SECRET, { versionId: token })) as { username: string };
    expect(pending.username).toBe('app_clone');
    await engine().runStep(SECRET, token, 'setSecret');
    expect(target.calls.at(-1)).toBe('set:alternating-users:previous:master');
  });

  it('setSecret fails with the master missing and changes nothing', async () => {
    await t.store.putValue(SECRET, JSON.stringify({ ...initial, masterarn: 'app/absent' }));
    await t.store.updateRotation(SECRET, { enabled: true, strategy: 'alternating-users' });
    await t.store.startRotation(SECRET, token);
    await engine().runStep(SECRET, token, 'createSecret');
    await expectCode(engine().runStep(SECRET, token, 'setSecret'), 'SECRET_NOT_FOUND');
    expect(target.calls.some((c) => c.startsWith('set'))).toBe(false);
  });

  it('testSecret fails while the target refuses the pending credential, and passes once it is set', async () => {
    await engine().runStep(SECRET, token, 'createSecret');
    await expectCode(engine().runStep(SECRET, token, 'testSecret'), 'TARGET_AUTH_FAILED');
    await engine().runStep(SECRET, token, 'setSecret');
    expect((await engine().runStep(SECRET, token, 'testSecret')).outcome).toBe('done');
  });

  it('finishSecret moves CURRENT to the token and the old CURRENT to PREVIOUS', async () => {
    const before = (await t.store.describe(SECRET)).versions[0]?.versionId;
    for (const step of ['createSecret', 'setSecret', 'testSecret', 'finishSecret'] as Step[]) await engine().runStep(SECRET, token, step);
    const info = await t.store.describe(SECRET);
    expect(info.versions.find((v) => v.versionId === token)?.stages).toEqual(['CURRENT']);
    expect(info.versions.find((v) => v.versionId === before)?.stages).toEqual(['PREVIOUS']);
    expect((await engine().runStep(SECRET, token, 'finishSecret')).outcome).toBe('already-current');
  });

  it('finishSecret invoked out of order (setSecret never ran) tests again and leaves CURRENT where it was', async () => {
    const before = await t.store.describe(SECRET);
    await engine().runStep(SECRET, token, 'createSecret');
    const error = await expectCode(engine().runStep(SECRET, token, 'finishSecret'), 'TARGET_AUTH_FAILED');
    expect(error.message).toMatch(/did not make version .* CURRENT: it does not pass testSecret/);
    const after = await t.store.describe(SECRET);
    expect(after.versions.find((v) => v.stages.includes('CURRENT'))?.versionId).toBe(before.versions.find((v) => v.stages.includes('CURRENT'))?.versionId);
    expect(after.versions.find((v) => v.versionId === token)?.stages).toEqual(['PENDING']);
  });
});

describe('finishSecret trusts a testSecret that passed moments ago in this process, and nothing else', () => {
  const token = 'tok-00000000-0000-0000-0000-000000000001';
  let clock: number;
  const now = (): number => clock;
  const tests = (): number => target.calls.filter((c) => c === 'test').length;
  const currentId = async (): Promise<string | undefined> => (await t.store.describe(SECRET)).versions.find((v) => v.stages.includes('CURRENT'))?.versionId;
  /** The login a hand (or an attacker) changes between testSecret and finishSecret: only a new test can notice. */
  const changeByHand = (): void => {
    target.logins.set('app', 'changed-by-hand-1');
  };
  /** createSecret in another process (so no cached value or derivation here), then setSecret and testSecret in `e`. */
  const testedIn = async (e: RotationEngine): Promise<void> => {
    await engine().runStep(SECRET, token, 'createSecret');
    await e.runStep(SECRET, token, 'setSecret');
    await e.runStep(SECRET, token, 'testSecret');
  };

  beforeEach(async () => {
    clock = 1_000;
    await t.store.startRotation(SECRET, token);
  });

  it('a warm container logs in once for testSecret and finishSecret, and promotes', async () => {
    const e = engine({ now });
    for (const step of ['createSecret', 'setSecret', 'testSecret'] as Step[]) await e.runStep(SECRET, token, step);
    clock += 59_000;
    expect((await e.runStep(SECRET, token, 'finishSecret')).outcome).toBe('done');
    expect(tests()).toBe(1);
    expect(await currentId()).toBe(token);
  });

  it('a cold finishSecret (another process) tests again and refuses what no longer logs in', async () => {
    await testedIn(engine({ now }));
    changeByHand();
    const error = await expectCode(engine({ now }).runStep(SECRET, token, 'finishSecret'), 'TARGET_AUTH_FAILED');
    expect(error.message).toMatch(/does not pass testSecret/);
    expect(tests()).toBe(2);
    expect(await currentId()).not.toBe(token);
  });

  it('a pass a minute old is ignored: tested again and refused', async () => {
    const e = engine({ now });
    await testedIn(e);
    changeByHand();
    clock += 60_000;
    await expectCode(e.runStep(SECRET, token, 'finishSecret'), 'TARGET_AUTH_FAILED');
    expect(tests()).toBe(2);
    expect(await currentId()).not.toBe(token);
  });

  it('a testSecret that fails after one that passed withdraws the pass', async () => {
    const e = engine({ now });
    await testedIn(e);
    changeByHand();
    await expectCode(e.runStep(SECRET, token, 'testSecret'), 'TARGET_AUTH_FAILED');
    await expectCode(e.runStep(SECRET, token, 'finishSecret'), 'TARGET_AUTH_FAILED');
    expect(await currentId()).not.toBe(token);
  });

  it('a value swapped under the token is tested again and refused', async () => {
    const { store, swap, evict } = swappingStore(t.store, token, JSON.stringify({ ...initial, password: 'swapped-password-1' }));
    const e = engine({ now, store });
    await testedIn(e);
    await evict(e);
    swap();
    await expectCode(e.runStep(SECRET, token, 'finishSecret'), 'TARGET_AUTH_FAILED');
    expect(tests()).toBe(2);
    expect(await currentId()).not.toBe(token);
  });
});

describe('a rotation reads its master once in this process, and testSecret hears of a setSecret that passed moments ago', () => {
  const token = 'tok-00000000-0000-0000-0000-000000000001';
  const MASTER = 'app/master';
  let clock: number;
  const now = (): number => clock;
  let masterReads: number;
  /** What each call of the rotator's test was told (TestInput.setMomentsAgo), in order. */
  let told: Array<boolean | undefined>;
  let store: SecretStore;
  /**
   * The memory target, with a test that (as MariaDB's rights check does) logs in as the master with alternating users,
   * and a third strategy that derives the same user as single-user (so a strategy change passes the PENDING checks).
   */
  const rotator = (): Rotator =>
    rotatorWith(target, {
      strategies: ['single-user', 'alternating-users', 'dual-password'],
      test: async (pending, _ctx, input) => {
        told.push(input?.setMomentsAgo);
        if (input?.strategy === 'alternating-users') {
          const master = await input.readMaster();
          if (target.logins.get('admin') !== master.value.password) throw new RotatorError('TARGET_AUTH_FAILED', 'login as admin refused');
        }
        return target.test(pending);
      },
    });
  const newEngine = (options: Partial<ConstructorParameters<typeof RotationEngine>[0]> = {}): RotationEngine => engine({ store, rotators: [rotator()], now, ...options });
  const run = async (e: RotationEngine, ...steps: Step[]): Promise<void> => {
    for (const step of steps) await e.runStep(SECRET, token, step);
  };
  /**
   * `store` describing SECRET's CURRENT as another version, 'replaced-current', holding `value`, once `replace()` is
   * called. The version keeps the dates of the real CURRENT, so for an engine that did not derive the PENDING value
   * itself, the PENDING still fits.
   */
  const replacingCurrent = (value: string): { store: SecretStore; replace: () => void } => {
    let replaced = false;
    const base = store;
    return {
      store: storeWith(base, {
        describe: async (id, options) => {
          const info = await base.describe(id, options);
          if (!replaced || id !== SECRET) return info;
          return { ...info, versions: info.versions.map((v) => (v.stages.includes('CURRENT') ? { ...v, versionId: 'replaced-current' } : v)) };
        },
        getValue: (id, selector, options) =>
          'versionId' in selector && selector.versionId === 'replaced-current' ? Promise.resolve(value) : base.getValue(id, selector, options),
      }),
      replace: () => {
        replaced = true;
      },
    };
  };

  beforeEach(async () => {
    clock = 1_000;
    masterReads = 0;
    told = [];
    await t.store.createSecret(MASTER, JSON.stringify({ ...initial, username: 'admin', password: 'master-password-1' }), {});
    target.logins.set('admin', 'master-password-1');
    await t.store.putValue(SECRET, JSON.stringify({ ...initial, masterarn: MASTER }));
    await t.store.updateRotation(SECRET, { enabled: true, strategy: 'alternating-users' });
    await t.store.startRotation(SECRET, token);
    const base: SecretStore = t.store;
    store = storeWith(base, {
      getValue: (id, selector, options) => {
        if (id.startsWith(MASTER)) masterReads += 1;
        return base.getValue(id, selector, options);
      },
    });
  });

  describe('the master', () => {
    it('is read once for all the steps of a rotation, service-driven and self-driven', async () => {
      await run(newEngine(), 'createSecret', 'setSecret', 'testSecret', 'finishSecret');
      expect(await current()).toMatchObject({ username: 'app_clone' });
      expect(masterReads).toBe(1);
      // rotate checks the master before it starts the rotation, then sets and tests: one read for the three.
      await newEngine().rotate(SECRET);
      expect(await current()).toMatchObject({ username: 'app' });
      expect(masterReads).toBe(2);
    });

    it('is read again by another rotation (another token)', async () => {
      const e = newEngine();
      await run(e, 'createSecret', 'setSecret', 'testSecret');
      expect(masterReads).toBe(1);
      await t.store.cancelRotation(SECRET, token);
      const next = 'tok-00000000-0000-0000-0000-000000000002';
      await t.store.startRotation(SECRET, next);
      await e.runStep(SECRET, next, 'createSecret');
      await e.runStep(SECRET, next, 'setSecret');
      expect(masterReads).toBe(2);
    });

    it('is read again once the window has passed since it was read', async () => {
      const e = newEngine();
      await run(e, 'createSecret', 'setSecret');
      clock += 59_999;
      await run(e, 'testSecret');
      expect(masterReads).toBe(1);
      clock += 1;
      await run(e, 'testSecret');
      expect(masterReads).toBe(2);
    });

    it('rotated between two steps: the step fails with the remembered one, and its retry reads it again and passes', async () => {
      const e = newEngine();
      await run(e, 'createSecret', 'setSecret');
      await t.store.putValue(MASTER, JSON.stringify({ ...initial, username: 'admin', password: 'master-password-2' }));
      target.logins.set('admin', 'master-password-2');
      await expectCode(e.runStep(SECRET, token, 'testSecret'), 'TARGET_AUTH_FAILED');
      expect(masterReads).toBe(1);
      await run(e, 'testSecret', 'finishSecret');
      expect(masterReads).toBe(2);
      expect(await current()).toMatchObject({ username: 'app_clone' });
    });

    it('is read again when CURRENT names another master', async () => {
      await t.store.createSecret(`${MASTER}2`, JSON.stringify({ ...initial, username: 'admin', password: 'master-password-1' }), {});
      const { store: replacing, replace } = replacingCurrent(JSON.stringify({ ...initial, masterarn: `${MASTER}2` }));
      await run(newEngine(), 'createSecret'); // in another process, as above
      const e = newEngine({ store: replacing });
      await run(e, 'setSecret');
      replace();
      await run(e, 'testSecret');
      expect(masterReads).toBe(2);
    });

    it('is registered with the redactor again when recalled, so a redactor that had forgotten it masks it again', async () => {
      const redactor = new Redactor({ maxValues: 8 });
      const e = newEngine({ logger: createLogger({ level: 'debug', redactor, write: (line) => recordOutput(line + '\n') }) });
      await run(e, 'createSecret', 'setSecret');
      for (let i = 0; i < 20; i++) redactor.add(`another-invocation-value-${i}`);
      expect(redactor.redact('master-password-1')).toBe('master-password-1');
      await run(e, 'testSecret');
      expect(masterReads).toBe(1);
      expect(redactor.redact('master-password-1')).toBe(REDACTED);
    });
  });

  describe('setMomentsAgo', () => {
    it('is true for testSecret right after setSecret in this process, self-driven too, and false in another process', async () => {
      const e = newEngine();
      await run(e, 'createSecret', 'setSecret', 'testSecret');
      await run(newEngine(), 'testSecret');
      expect(told).toEqual([true, false]);
      await run(e, 'finishSecret'); // trusts e's testSecret: no test
      await newEngine().rotate(SECRET);
      expect(told).toEqual([true, false, true]);
    });

    it('is false once the window has passed since setSecret', async () => {
      const e = newEngine();
      await run(e, 'createSecret', 'setSecret');
      clock += 60_000;
      await run(e, 'testSecret');
      expect(told).toEqual([false]);
    });

    it('is false after a setSecret that failed, even with an earlier one that passed', async () => {
      const e = newEngine();
      await run(e, 'createSecret', 'setSecret');
      // The memory target's works() answers for the login alone: the second setSecret fails there.
      target.failNext.works = new RotatorError('TARGET_UNREACHABLE', 'timed out', { retryable: true });
      await expectCode(e.runStep(SECRET, token, 'setSecret'), 'TARGET_UNREACHABLE');
      await run(e, 'testSecret');
      expect(told).toEqual([false]);
    });

    it("is false after a setSecret that found the pending credential already working: 'already-done' proves nothing more", async () => {
      const e = newEngine();
      await run(e, 'createSecret', 'setSecret');
      expect((await e.runStep(SECRET, token, 'setSecret')).outcome).toBe('already-done');
      await run(e, 'testSecret');
      expect(told).toEqual([false]);
    });

    it('is false when the strategy changed after setSecret', async () => {
      await t.store.updateRotation(SECRET, { enabled: true, strategy: 'single-user' });
      const e = newEngine();
      await run(e, 'createSecret', 'setSecret');
      await t.store.updateRotation(SECRET, { enabled: true, strategy: 'dual-password' });
      await run(e, 'testSecret');
      expect(told).toEqual([false]);
    });

    it('is false when CURRENT is another version than setSecret had', async () => {
      // The same value under another version id: the PENDING checks pass it (its dates are CURRENT's), the fingerprint not.
      const { store: replacing, replace } = replacingCurrent(JSON.stringify({ ...initial, masterarn: MASTER }));
      await run(newEngine(), 'createSecret'); // in another process: this one has no derivation to compare CURRENT with
      const e = newEngine({ store: replacing });
      await run(e, 'setSecret');
      replace();
      await run(e, 'testSecret');
      expect(told).toEqual([false]);
    });

    it('is false for another pending value under the token', async () => {
      await run(newEngine(), 'createSecret');
      const { store: swapping, swap, evict } = swappingStore(store, token, JSON.stringify({ ...initial, username: 'app_clone', password: 'swapped-password-1', masterarn: MASTER }));
      const e = newEngine({ store: swapping });
      await run(e, 'setSecret');
      await evict(e);
      swap();
      await expectCode(e.runStep(SECRET, token, 'testSecret'), 'TARGET_AUTH_FAILED');
      expect(told).toEqual([false]);
    });

    it("is never given to finishSecret's own test", async () => {
      const e = newEngine();
      await run(e, 'createSecret', 'setSecret');
      await run(newEngine(), 'testSecret'); // another process: finishSecret here has no pass to trust, and tests again
      await run(e, 'finishSecret');
      expect(told).toEqual([false, false]);
      expect(await current()).toMatchObject({ username: 'app_clone' });
    });
  });
});

describe('setSecret logs in with CURRENT first where the rotator allows it (Rotator.setBeforeWorks)', () => {
  const token = 'tok-00000000-0000-0000-0000-000000000001';
  const setFirst = (): Rotator => rotatorWith(target, { setBeforeWorks: ['single-user'] });

  beforeEach(async () => {
    await t.store.startRotation(SECRET, token);
    await engine().runStep(SECRET, token, 'createSecret');
  });

  it('a fresh rotation sets without asking whether the pending credential works', async () => {
    expect((await engine({ rotators: [setFirst()] }).runStep(SECRET, token, 'setSecret')).outcome).toBe('done');
    expect(target.calls).toEqual(['set:single-user:no-previous:no-master']);
  });

  it('when no stored credential logs in, a pending credential that works means an earlier run set it', async () => {
    const pending = JSON.parse(await t.store.getValue(SECRET, { versionId: token })) as { password: string };
    target.logins.set('app', pending.password);
    target.failNext = { set: new RotatorError('TARGET_AUTH_FAILED', 'current and previous refused') };
    expect((await engine({ rotators: [setFirst()] }).runStep(SECRET, token, 'setSecret')).outcome).toBe('already-done');
    expect(target.calls).toEqual(['set:single-user:no-previous:no-master', 'works']);
  });

  it('when neither logs in, the refusal stands; other failures are not followed by a login', async () => {
    target.failNext = { set: new RotatorError('TARGET_AUTH_FAILED', 'current and previous refused') };
    await expectCode(engine({ rotators: [setFirst()] }).runStep(SECRET, token, 'setSecret'), 'TARGET_AUTH_FAILED');
    target.failNext = { set: new RotatorError('TARGET_UNREACHABLE', 'timed out', { retryable: true }) };
    await expectCode(engine({ rotators: [setFirst()] }).runStep(SECRET, token, 'setSecret'), 'TARGET_UNREACHABLE');
    expect(target.calls.filter((c) => c === 'works')).toEqual(['works']);
  });
});

describe('self-driven rotation', () => {
  it('runs the four steps, reports each, and leaves a working CURRENT', async () => {
    const seen: string[] = [];
    const report = await engine().rotate(SECRET, { onStep: (r) => seen.push(`${r.step}:${r.outcome}`) });
    expect(seen).toEqual(['createSecret:done', 'setSecret:done', 'testSecret:done', 'finishSecret:done']);
    expect(report).toMatchObject({ secretId: SECRET, engine: 'memory', strategy: 'single-user', resumed: false });
    const now = await current();
    expect(target.logins.get('app')).toBe(now.password);
    expect(now.password).not.toBe(initial.password);
  });

  it('resumes a rotation left PENDING instead of starting another', async () => {
    target.failNext.test = new RotatorError('TARGET_UNREACHABLE', 'down', { retryable: true });
    await expectCode(engine().rotate(SECRET), 'TARGET_UNREACHABLE');
    const pendingId = (await t.store.describe(SECRET)).versions.find((v) => v.stages.includes('PENDING'))?.versionId;
    expect(pendingId).toBeDefined();
    const report = await engine().rotate(SECRET);
    expect(report).toMatchObject({ resumed: true, versionId: pendingId });
    expect(report.steps.map((s) => s.outcome)).toEqual(['already-done', 'already-done', 'done', 'done']);
    expect((await t.store.describe(SECRET)).versions).toHaveLength(2);
  });

  it('takes the rotation lock: a second rotation of the same secret is refused while one runs, and the lock is released after a failure', async () => {
    const lease = await t.store.lockRotation(SECRET);
    const error = await expectCode(engine().rotate(SECRET), 'ROTATION_IN_PROGRESS');
    expect(error.retryable).toBe(true);
    await lease.release();
    target.failNext.set = new RotatorError('TARGET_ERROR', 'nope');
    await expectCode(engine().rotate(SECRET), 'TARGET_ERROR');
    await expect(engine().rotate(SECRET)).resolves.toMatchObject({ resumed: true });
  });

  it('stops at the next step when its lease is lost mid-rotation: nothing promoted, a typed retryable error, the lease released', async () => {
    const lost = new AbortController();
    let released = 0;
    const calls: string[] = [];
    const store = storeWith(t.store, {
      lockRotation: async (id: string) => {
        const lease = await t.store.lockRotation(id);
        return { signal: lost.signal, release: () => ((released += 1), lease.release()) };
      },
      promote: (id: string, token: string) => (calls.push('promote'), t.store.promote(id, token)),
    });
    const set = target.set.bind(target);
    let signalSeenBySet: AbortSignal | undefined;
    target.set = async (input: Parameters<Rotator['set']>[0], ctx?: RotatorContext) => {
      signalSeenBySet = ctx?.signal;
      await set(input);
      // The lease is lost while the target is being changed: another process may hold the lock from now on.
      lost.abort(new RotatorError('ROTATION_IN_PROGRESS', `the rotation lock of secret ${SECRET} was lost`, { retryable: true }));
    };
    const error = await expectCode(engine({ store }).rotate(SECRET), 'ROTATION_IN_PROGRESS');
    expect(error.retryable).toBe(true);
    expect(error.message).toMatch(/lock .* was lost/);
    expect(signalSeenBySet?.aborted).toBe(true); // the steps' calls carry the lease's signal
    expect(target.calls).not.toContain('test');
    expect(calls).toEqual([]);
    expect(await current()).toEqual(initial);
    expect(released).toBe(1);
    // PENDING stays for the next run (or the process that holds the lock now) to resume.
    expect((await t.store.describe(SECRET)).versions.some((v) => v.stages.includes('PENDING'))).toBe(true);
  });

  it('never logs a password, generated or stored', async () => {
    await engine().rotate(SECRET);
    target.failNext.test = new RotatorError('TARGET_AUTH_FAILED', 'refused');
    await expectCode(engine().rotate(SECRET), 'TARGET_AUTH_FAILED');
    const values = (await t.store.describe(SECRET)).versions.map((v) => v.versionId);
    const passwords = await Promise.all(values.map(async (id) => (JSON.parse(await t.store.getValue(SECRET, { versionId: id })) as { password: string }).password));
    expect(passwords.length).toBe(3);
    const output = lines.join('\n');
    expect(output.length).toBeGreaterThan(0);
    for (const p of passwords) expect(output).not.toContain(p);
  });
});

describe('a PENDING that no longer fits is never resumed', () => {
  /** A store on the same file whose clock the test moves, so "created before" and "replaced after" are exact. */
  let now: Date;
  const clocked = (): FileStore => new FileStore({ path: t.path, key: t.key, clock: () => now });
  const pendingOf = async (store: SecretStore = t.store): Promise<VersionInfo | undefined> =>
    (await store.describe(SECRET)).versions.find((v) => v.stages.includes('PENDING'));

  beforeEach(() => {
    now = new Date('2026-01-01T00:00:00Z');
  });

  it('after `put` of a fixed value, rotate starts from the fix instead of resuming the PENDING of the old one', async () => {
    target.failNext.set = new RotatorError('TARGET_ERROR', 'refused');
    await expectCode(engine().rotate(SECRET), 'TARGET_ERROR');
    const stale = await pendingOf();
    expect(stale?.hasValue).toBe(true);
    await t.store.putValue(SECRET, JSON.stringify({ ...initial, host: 'db2.local' }));
    const report = await engine().rotate(SECRET);
    expect(report.resumed).toBe(false);
    expect(report.versionId).not.toBe(stale?.versionId);
    expect(await current()).toMatchObject({ host: 'db2.local', username: 'app' });
  });

  it('refuses a PENDING created before CURRENT was replaced (a rollback), naming the version, its age and cancel-rotation; nothing is set', async () => {
    const store = clocked();
    await store.putValue(SECRET, JSON.stringify({ ...initial, password: 'second-password-2' }));
    target.logins.set('app', 'second-password-2');
    const previous = (await store.describe(SECRET)).versions.find((v) => v.stages.includes('PREVIOUS'))?.versionId ?? '';
    now = new Date('2026-01-01T01:00:00Z');
    target.failNext.set = new RotatorError('TARGET_ERROR', 'refused');
    await expectCode(engine({ store }).rotate(SECRET), 'TARGET_ERROR');
    const stale = await pendingOf(store);
    now = new Date('2026-01-01T02:00:00Z');
    await store.promote(SECRET, previous); // someone rolls CURRENT back; the PENDING (derived from the other) stays
    const calls = target.calls.length;
    const error = await expectCode(engine({ store }).rotate(SECRET), 'STALE_PENDING');
    expect(error.message).toContain(`version ${stale?.versionId ?? '?'}`);
    expect(error.message).toMatch(/created \d+[smhd] ago \(2026-01-01T01:00:00.000Z\)/);
    expect(error.message).toContain(`rotator secrets cancel-rotation ${SECRET}`);
    expect(error.message).not.toContain('aws secretsmanager'); // the file store names its own command only
    expect(target.calls.slice(calls).filter((c) => c.startsWith('set'))).toEqual([]);
    // The service-driven steps refuse it too, createSecret also where it writes before it looks (AWS).
    await expectCode(engine({ store: unprobedPending(store) }).runStep(SECRET, stale?.versionId ?? '', 'createSecret'), 'STALE_PENDING');
    await expectCode(engine({ store }).runStep(SECRET, stale?.versionId ?? '', 'setSecret'), 'STALE_PENDING');
    await expectCode(engine({ store }).runStep(SECRET, stale?.versionId ?? '', 'finishSecret'), 'STALE_PENDING');
    // Cancelled as the message says, the next rotation starts from the rolled-back CURRENT.
    await store.cancelRotation(SECRET);
    await expect(engine({ store }).rotate(SECRET)).resolves.toMatchObject({ resumed: false });
    expect(await current(store)).toMatchObject({ username: 'app' });
  });

  it('refuses a PENDING made for another strategy than the secret now names', async () => {
    await t.store.createSecret('app/master', JSON.stringify({ ...initial, username: 'admin', password: 'master-password-1' }), {});
    await t.store.putValue(SECRET, JSON.stringify({ ...initial, masterarn: 'app/master' }));
    await t.store.updateRotation(SECRET, { enabled: true, strategy: 'single-user' });
    target.failNext.set = new RotatorError('TARGET_ERROR', 'refused');
    await expectCode(engine().rotate(SECRET), 'TARGET_ERROR');
    await t.store.updateRotation(SECRET, { enabled: true, strategy: 'alternating-users' });
    const error = await expectCode(engine().rotate(SECRET), 'STALE_PENDING');
    expect(error.message).toMatch(/made for another strategy than alternating-users/);
    expect(target.calls.filter((c) => c.startsWith('set:alternating'))).toEqual([]);
  });

  it('every error of a resumed rotation names the PENDING version, its age and how to start over, keeping code and retryable', async () => {
    target.failNext.test = new RotatorError('TARGET_UNREACHABLE', 'down', { retryable: true });
    await expectCode(engine().rotate(SECRET), 'TARGET_UNREACHABLE');
    const pending = await pendingOf();
    target.failNext.test = new RotatorError('TARGET_UNREACHABLE', 'down', { retryable: true });
    const error = await expectCode(engine().rotate(SECRET), 'TARGET_UNREACHABLE');
    expect(error.retryable).toBe(true);
    expect(error.message).toMatch(new RegExp(`^down \\(while resuming the rotation left PENDING by an earlier run: version ${pending?.versionId ?? '?'}, created \\d+s ago`));
    expect(error.message).toContain(`rotator secrets cancel-rotation ${SECRET}`);
  });
});

describe('failures before the target could change leave no PENDING behind', () => {
  const noPending = async (): Promise<void> => {
    expect((await t.store.describe(SECRET)).versions.flatMap((v) => v.stages)).not.toContain('PENDING');
  };

  it('an engine no rotator serves, an invalid CURRENT, a strategy the rotator lacks', async () => {
    await t.store.putValue(SECRET, JSON.stringify({ ...initial, engine: 'oracle' }));
    await expectCode(engine().rotate(SECRET), 'UNSUPPORTED_ENGINE');
    await noPending();
    await t.store.putValue(SECRET, JSON.stringify({ engine: 'memory', host: 'x' }));
    await expectCode(engine().rotate(SECRET), 'INVALID_SECRET');
    await noPending();
    await t.store.putValue(SECRET, JSON.stringify(initial));
    await t.store.updateRotation(SECRET, { enabled: true, strategy: 'dual-password' });
    await expectCode(engine().rotate(SECRET), 'UNSUPPORTED_ENGINE');
    await noPending();
    expect(target.calls).toEqual([]);
  });

  it('a master secret that does not exist', async () => {
    await t.store.putValue(SECRET, JSON.stringify({ ...initial, masterarn: 'app/absent' }));
    await t.store.updateRotation(SECRET, { enabled: true, strategy: 'alternating-users' });
    await expectCode(engine().rotate(SECRET), 'SECRET_NOT_FOUND');
    await noPending();
    expect(target.calls).toEqual([]);
  });

  it('createSecret failing before it stored a value: the stub it started is removed', async () => {
    const failing = Object.assign(target, {
      createPending: () => Promise.reject(new RotatorError('TARGET_UNREACHABLE', 'provider down', { retryable: true })),
    });
    await expectCode(engine({ rotators: [failing] }).rotate(SECRET), 'TARGET_UNREACHABLE');
    await noPending();
    expect((await t.store.describe(SECRET)).versions).toHaveLength(1);
  });
});

describe('no silent strategy downgrade', () => {
  beforeEach(async () => {
    await t.store.createSecret('app/master', JSON.stringify({ ...initial, username: 'admin', password: 'master-password-1' }), {});
  });

  it('a MultiUser-template secret (masterarn) with no strategy of its own rotates alternating-users, with a warning that says why', async () => {
    await t.store.putValue(SECRET, JSON.stringify({ ...initial, masterarn: 'app/master' }));
    const report = await engine().rotate(SECRET);
    expect(report.strategy).toBe('alternating-users');
    expect(await current()).toMatchObject({ username: 'app_clone' });
    const warning = lines.find((l) => l.includes('rotating it alternating-users'));
    expect(warning).toMatch(/"level":"warn"/);
    expect(warning).toContain('masterarn');
    expect(warning).toContain(`rotator secrets rotation ${SECRET} --strategy alternating-users`);
  });

  it('so is one whose user is the alternate (_clone), and the next rotation alternates back', async () => {
    await t.store.putValue(SECRET, JSON.stringify({ ...initial, username: 'app_clone', masterarn: 'app/master' }));
    target.logins.set('app_clone', initial.password);
    await expect(engine().rotate(SECRET)).resolves.toMatchObject({ strategy: 'alternating-users' });
    expect(await current()).toMatchObject({ username: 'app' });
    expect(lines.some((l) => l.includes('its user is an alternate'))).toBe(true);
  });

  it("the secret's own setting wins: single-user stays single-user, without the warning", async () => {
    await t.store.putValue(SECRET, JSON.stringify({ ...initial, masterarn: 'app/master' }));
    await t.store.updateRotation(SECRET, { enabled: true, strategy: 'single-user' });
    await expect(engine().rotate(SECRET)).resolves.toMatchObject({ strategy: 'single-user' });
    expect(await current()).toMatchObject({ username: 'app' });
    expect(lines.some((l) => l.includes('rotating it alternating-users'))).toBe(false);
  });
});

describe('a finished rotation is a success even if its lock will not go away', () => {
  it('warns, and reports the rotation', async () => {
    const stuck = storeWith(t.store, {
      lockRotation: async (id: string) => {
        await t.store.lockRotation(id); // taken, and never let go: its release fails
        return { release: () => Promise.reject(new RotatorError('STORE_IO', 'cannot remove the lock file: EACCES')) };
      },
    });
    const report = await engine({ store: stuck }).rotate(SECRET);
    expect(report.steps.map((s) => s.outcome)).toEqual(['done', 'done', 'done', 'done']);
    expect(lines.some((l) => l.includes('could not release the rotation lock') && l.includes('"level":"warn"'))).toBe(true);
  });
});

describe('the redactor keeps what the engine keeps using', () => {
  it('registers a value recalled from the engine cache again, so a redactor that had forgotten it masks it again', async () => {
    const redactor = new Redactor({ maxValues: 8 });
    const warm = engine({ logger: createLogger({ level: 'debug', redactor, write: (line) => recordOutput(line + '\n') }) });
    await warm.rotate(SECRET);
    const password = String((await current()).password);
    // A long-lived container registers many other values; the oldest are forgotten.
    for (let i = 0; i < 20; i++) redactor.add(`another-invocation-value-${i}`);
    expect(redactor.redact(password)).toBe(password);
    // The next rotation recalls CURRENT from the engine's cache instead of reading the store.
    await warm.rotate(SECRET);
    expect(redactor.redact(password)).toBe(REDACTED);
  });
});

describe("messages name the store's own commands", () => {
  it('says how to enable rotation and how to cancel a stale rotation in the words the store gives', async () => {
    const hints = { cancelRotation: (id: string, v: string) => `CANCEL ${id} ${v}`, enableRotation: (id: string) => `ENABLE ${id}` };
    await t.store.updateRotation(SECRET, { enabled: false });
    const disabled = await expectCode(engine({ store: storeWith(t.store, { hints }) }).rotate(SECRET), 'ROTATION_DISABLED');
    expect(disabled.message).toContain(`ENABLE ${SECRET}`);
    // The file store's own words.
    expect((await expectCode(engine().rotate(SECRET), 'ROTATION_DISABLED')).message).toContain(`rotator secrets rotation ${SECRET} --enable`);
  });
});

// Every runner records a failed rotation on the secret through the store, and the next success clears it.
const lastError = async (): Promise<RotationFailure | undefined> => (await t.store.describe(SECRET)).lastError;

describe('the outcome a self-driven rotation records', () => {
  it('records the code and the step of a failure, and a later success clears it', async () => {
    target.failNext.set = new RotatorError('TARGET_ERROR', 'refused');
    const before = Date.now();
    await expect(engine().rotate(SECRET)).rejects.toMatchObject({ code: 'TARGET_ERROR' });
    const failure = await lastError();
    expect(failure).toMatchObject({ code: 'TARGET_ERROR', step: 'setSecret' });
    expect(failure?.at.getTime()).toBeGreaterThanOrEqual(before - 1000);
    await engine().rotate(SECRET); // resumes the PENDING rotation and finishes it
    expect(await lastError()).toBeUndefined();
  });

  it('records nothing for a rotation it could not start: disabled, or someone else\'s lock', async () => {
    await t.store.updateRotation(SECRET, { enabled: false });
    await expect(engine().rotate(SECRET)).rejects.toMatchObject({ code: 'ROTATION_DISABLED' });
    expect(await lastError()).toBeUndefined();
    await t.store.updateRotation(SECRET, { enabled: true });
    const lease = await t.store.lockRotation(SECRET);
    await expect(engine().rotate(SECRET)).rejects.toMatchObject({ code: 'ROTATION_IN_PROGRESS' });
    await lease.release();
    expect(await lastError()).toBeUndefined();
  });

  it('writes nothing extra after a healthy rotation', async () => {
    let recorded = 0;
    const store = storeWith(t.store, {
      recordRotationError: async (secretId: string, failure: RotationFailure | undefined) => {
        recorded++;
        await t.store.recordRotationError(secretId, failure);
      },
    });
    await engine({ store }).rotate(SECRET);
    expect(recorded).toBe(0);
  });

  it('records no failure when finishSecret failed after its promotion: the secret was rotated', async () => {
    target.failNext.set = new RotatorError('TARGET_ERROR', 'refused');
    await expect(engine().rotate(SECRET)).rejects.toMatchObject({ code: 'TARGET_ERROR' });
    expect(await lastError()).toMatchObject({ code: 'TARGET_ERROR' });
    const store = storeWith(t.store, {
      promote: async (secretId: string, token: string) => {
        await t.store.promote(secretId, token);
        throw new RotatorError('STORE_IO', 'the bookkeeping after the promotion failed');
      },
    });
    await expect(engine({ store }).rotate(SECRET)).rejects.toMatchObject({ code: 'STORE_IO' });
    expect(await lastError()).toBeUndefined(); // the earlier failure is cleared too: the rotation it was about finished
  });

  it('keeps the rotation\'s own error when the store cannot record it, with a warning', async () => {
    const store = storeWith(t.store, { recordRotationError: () => Promise.reject(new RotatorError('STORE_IO', 'disk full')) });
    target.failNext.test = new RotatorError('TARGET_UNREACHABLE', 'down', { retryable: true });
    await expect(engine({ store }).rotate(SECRET)).rejects.toMatchObject({ code: 'TARGET_UNREACHABLE' });
    expect(lines.join('\n')).toMatch(/could not record the outcome of the rotation/);
  });
});

describe('the outcome service-driven steps record', () => {
  it('records a failing step, ignores a stray one, and finishSecret clears it', async () => {
    const token = 'token-0001';
    await t.store.startRotation(SECRET, token);
    await expect(engine().runStep(SECRET, 'no-such-token', 'setSecret')).rejects.toMatchObject({ code: 'VERSION_NOT_FOUND' });
    expect(await lastError()).toBeUndefined();
    await engine().runStep(SECRET, token, 'createSecret');
    target.failNext.set = new RotatorError('TARGET_AUTH_FAILED', 'refused');
    await expect(engine().runStep(SECRET, token, 'setSecret')).rejects.toMatchObject({ code: 'TARGET_AUTH_FAILED' });
    expect(await lastError()).toMatchObject({ code: 'TARGET_AUTH_FAILED', step: 'setSecret' });
    await engine().runStep(SECRET, token, 'setSecret');
    await engine().runStep(SECRET, token, 'testSecret');
    expect(await lastError()).toMatchObject({ code: 'TARGET_AUTH_FAILED' }); // cleared only once the rotation has finished
    await engine().runStep(SECRET, token, 'finishSecret');
    expect(await lastError()).toBeUndefined();
  });
});
