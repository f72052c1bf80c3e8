import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { RotationEngine } from '../../shared/engine.js';
import { RotatorError } from '../../shared/errors.js';
import type { Logger } from '../../shared/logger.js';
import { planRetention, Purger, type RetentionPolicy } from '../../shared/purger.js';
import type { SecretInfo, VersionInfo } from '../../shared/store.js';
import { FileStore } from '../../stores/file/index.js';
import { canaryLogger } from '../support/canary.js';
import { MemoryTarget } from '../support/memory-target.js';
import { createTestStore, type TestStore } from '../support/stores.js';

const DAY = 86_400_000;
const T0 = new Date('2026-01-01T00:00:00Z');
const at = (days: number): Date => new Date(T0.getTime() + days * DAY);

describe('planRetention', () => {
  const version = (versionId: string, stages: VersionInfo['stages'], createdDay: number, promotedDay?: number): VersionInfo => ({
    versionId,
    stages,
    createdAt: at(createdDay),
    hasValue: true,
    ...(promotedDay === undefined ? {} : { promotedAt: at(promotedDay) }),
  });
  const info = (versions: VersionInfo[]): SecretInfo => ({ secretId: 's', rotation: { enabled: true }, tags: {}, versions });
  const policy: RetentionPolicy = { safeWindowMs: 30 * DAY, keepSuperseded: 0 };
  const retired = (verdicts: ReturnType<typeof planRetention>): string[] => verdicts.filter((v) => v.retire).map((v) => v.version.versionId);

  const history = info([
    version('v1', [], 0, 0), // replaced on day 10
    version('v2', ['PREVIOUS'], 10, 10), // replaced on day 50
    version('v3', ['CURRENT'], 50, 50),
    version('v4', ['PENDING'], 70),
  ]);

  it('retires a version once its successor has been CURRENT for the safe window, counted from the promotion', () => {
    expect(retired(planRetention(history, policy, at(39)))).toEqual([]);
    expect(retired(planRetention(history, policy, at(40)))).toEqual(['v1']);
    expect(retired(planRetention(history, policy, at(79)))).toEqual(['v1']);
    expect(retired(planRetention(history, policy, at(80)))).toEqual(['v1', 'v2']);
  });

  it('never retires CURRENT or PENDING, however old', () => {
    const verdicts = planRetention(history, { safeWindowMs: 0, keepSuperseded: 0 }, at(10_000));
    expect(retired(verdicts)).toEqual(['v1', 'v2']);
    expect(verdicts.find((v) => v.version.versionId === 'v3')?.reason).toBe('CURRENT');
    expect(verdicts.find((v) => v.version.versionId === 'v4')?.reason).toBe('PENDING');
  });

  it('keeps the newest N superseded versions regardless of age', () => {
    const verdicts = planRetention(history, { safeWindowMs: 0, keepSuperseded: 1 }, at(10_000));
    expect(retired(verdicts)).toEqual(['v1']);
    expect(verdicts.find((v) => v.version.versionId === 'v2')?.reason).toMatch(/newest superseded versions kept/);
  });

  it('measures from the promotion, not the creation: a rotation that stayed PENDING for weeks does not shorten the window', () => {
    const slow = info([version('old', ['PREVIOUS'], 0, 0), version('new', ['CURRENT'], 1, 60)]);
    expect(retired(planRetention(slow, policy, at(89)))).toEqual([]);
    expect(retired(planRetention(slow, policy, at(90)))).toEqual(['old']);
  });

  it('keeps a version nothing has replaced (a value written after the last promotion)', () => {
    const orphan = info([version('cur', ['CURRENT'], 0, 0), version('late', [], 5)]);
    const verdicts = planRetention(orphan, { safeWindowMs: 0, keepSuperseded: 0 }, at(100));
    expect(retired(verdicts)).toEqual([]);
    expect(verdicts.find((v) => v.version.versionId === 'late')?.reason).toBe('not superseded');
  });
});

describe('Purger on the file store', () => {
  let t: TestStore;
  let store: FileStore;
  let now: Date;
  let target: MemoryTarget;
  let logger: Logger;
  const SECRET = 'app/db';
  const MASTER = 'app/master';

  beforeEach(async () => {
    t = createTestStore();
    now = at(0);
    store = new FileStore({ path: t.path, key: t.key, clock: () => now });
    target = new MemoryTarget();
    logger = canaryLogger();
    target.logins.set('app', 'initial-password-1');
    await store.createSecret(MASTER, JSON.stringify({ engine: 'memory', host: 'h', username: 'admin', password: 'master-password-1' }));
    await store.createSecret(SECRET, JSON.stringify({ engine: 'memory', host: 'h', username: 'app', password: 'initial-password-1', masterarn: MASTER }), {
      rotation: { enabled: true, strategy: 'alternating-users' },
    });
  });

  afterEach(async () => {
    await t.dispose();
  });

  const engine = (): RotationEngine => new RotationEngine({ store, rotators: [target], logger, env: {} });
  const purger = (clock = (): Date => now): Purger => new Purger({ store, rotators: [target], logger, clock });

  /** Rotations on days 10 and 20: v0 (app, initial) -> v1 (app_clone) -> v2 (app). */
  async function rotateTwice(): Promise<string[]> {
    now = at(10);
    await engine().rotate(SECRET);
    now = at(20);
    await engine().rotate(SECRET);
    return (await store.describe(SECRET)).versions.map((v) => v.versionId);
  }

  it('retires past-window versions, revoking first; CURRENT keeps working and a second run does nothing', async () => {
    const [v0, v1, v2] = await rotateTwice();
    const clonePassword = target.logins.get('app_clone');
    expect(clonePassword).toBeDefined();

    const early = await purger(() => at(45)).purge([SECRET]);
    expect(early.secrets[0]?.actions.map((a) => a.versionId)).toEqual([v0]); // v1 was replaced on day 20: inside the window
    expect(early.secrets[0]?.actions[0]).toMatchObject({ revocation: 'not-needed', retired: true }); // app's password changed since

    const late = await purger(() => at(51)).purge([SECRET]);
    expect(late.secrets[0]).toMatchObject({ ok: true, actions: [{ versionId: v1, revocation: 'revoked', retired: true }] });
    expect(target.logins.get('app_clone')).not.toBe(clonePassword); // the retired credential no longer logs in
    const info = await store.describe(SECRET);
    expect(info.versions.map((v) => v.versionId)).toEqual([v2]);
    const current = JSON.parse(await store.getValue(SECRET, { stage: 'CURRENT' })) as { username: string; password: string };
    expect(target.logins.get(current.username)).toBe(current.password);

    const again = await purger(() => at(60)).purge([SECRET]);
    expect(again.secrets[0]).toMatchObject({ ok: true, actions: [] });
    // The next rotation still succeeds: the master sets the revoked user's password.
    await engine().rotate(SECRET);
    const next = JSON.parse(await store.getValue(SECRET, { stage: 'CURRENT' })) as { username: string; password: string };
    expect(next.username).toBe('app_clone');
    expect(target.logins.get('app_clone')).toBe(next.password);
  });

  it('--dry-run reports what it would do and changes nothing', async () => {
    await rotateTwice();
    const before = await store.describe(SECRET);
    const loginsBefore = new Map(target.logins);
    const report = await purger(() => at(100)).purge(undefined, { dryRun: true });
    expect(report.dryRun).toBe(true);
    const actions = report.secrets.find((s) => s.secretId === SECRET)?.actions ?? [];
    expect(actions.map((a) => [a.revocation, a.retired])).toEqual([
      ['would-revoke', false],
      ['would-revoke', false],
    ]);
    expect(await store.describe(SECRET)).toEqual(before);
    expect(target.logins).toEqual(loginsBefore);
    expect(target.calls.filter((c) => c.startsWith('revoke'))).toEqual([]);
  });

  it('keeps a version whose revocation failed, reports it, and goes on with the other secrets', async () => {
    const [, v1] = await rotateTwice();
    await store.createSecret('other/db', JSON.stringify({ engine: 'memory', host: 'h', username: 'o', password: 'other-password-1' }));
    await store.putValue('other/db', JSON.stringify({ engine: 'memory', host: 'h', username: 'o', password: 'other-password-2' }));
    target.failNext.revoke = new RotatorError('TARGET_UNREACHABLE', 'down', { retryable: true });
    const report = await purger(() => at(100)).purge(undefined);
    const app = report.secrets.find((s) => s.secretId === SECRET);
    // The first retired version (v0) hit the failure and stays; v1 was revoked and retired.
    expect(app?.ok).toBe(false);
    expect(app?.error).toMatchObject({ code: 'TARGET_UNREACHABLE', retryable: true });
    expect(app?.actions.map((a) => a.retired)).toEqual([false, true]);
    expect(report.secrets.find((s) => s.secretId === 'other/db')).toMatchObject({ ok: true, actions: [{ retired: true, revocation: 'not-needed' }] });
    expect(report.failed).toBe(1);
    expect((await store.describe(SECRET)).versions.map((v) => v.versionId)).not.toContain(v1);
    // The next run retries the kept version.
    const retry = await purger(() => at(100)).purge([SECRET]);
    expect(retry.secrets[0]).toMatchObject({ ok: true, actions: [{ retired: true }] });
  });

  it('takes the rotation lock: a secret being rotated is reported as retryable and left alone', async () => {
    await rotateTwice();
    const lease = await store.lockRotation(SECRET);
    try {
      const report = await purger(() => at(100)).purge([SECRET]);
      expect(report.secrets[0]).toMatchObject({ ok: false, error: { code: 'ROTATION_IN_PROGRESS', retryable: true } });
      expect((await store.describe(SECRET)).versions).toHaveLength(3);
    } finally {
      await lease.release();
    }
  });

  it('leaves alone a secret whose rotation is under way even when its lock is free (a failed rotation left PENDING), saying why', async () => {
    const [v0] = await rotateTwice();
    target.failNext.set = new RotatorError('TARGET_ERROR', 'refused');
    await expect(engine().rotate(SECRET)).rejects.toMatchObject({ code: 'TARGET_ERROR' });
    const before = await store.describe(SECRET);
    const pending = before.versions.find((v) => v.stages.includes('PENDING'));
    const report = await purger(() => at(100)).purge([SECRET]);
    expect(report.secrets[0]).toMatchObject({ ok: true, actions: [] });
    expect(report.secrets[0]?.skipped).toContain(`version ${pending?.versionId ?? '?'} is PENDING`);
    expect(report.failed).toBe(0);
    expect(await store.describe(SECRET)).toEqual(before);
    expect(target.calls.filter((c) => c.startsWith('revoke'))).toEqual([]);
    // Once the rotation is cancelled, the purge goes ahead.
    await store.cancelRotation(SECRET);
    const after = await purger(() => at(100)).purge([SECRET]);
    expect(after.secrets[0]?.skipped).toBeUndefined();
    expect(after.secrets[0]?.actions.map((a) => a.versionId)).toContain(v0);
  });

  it('on a store whose lock is service-enforced (a no-op lease), a PENDING rotation is what keeps the purger out', async () => {
    await rotateTwice();
    await store.startRotation(SECRET, 'service-started-rotation-token-0001');
    const serviceLike = new Proxy(store, {
      get: (real, name) => {
        if (name === 'rotationLock') return 'service-enforced';
        if (name === 'lockRotation') return () => Promise.resolve({ release: () => Promise.resolve() });
        const member: unknown = Reflect.get(real, name);
        return typeof member === 'function' ? (member as (...a: unknown[]) => unknown).bind(real) : member;
      },
    });
    const report = await new Purger({ store: serviceLike, rotators: [target], logger, clock: () => at(100) }).purge([SECRET]);
    expect(report.secrets[0]).toMatchObject({ ok: true, actions: [] });
    expect(report.secrets[0]?.skipped).toMatch(/a rotation is under way/);
    expect((await store.describe(SECRET)).versions).toHaveLength(4);
  });

  it('a purge that finished is reported even if its lock will not go away', async () => {
    await rotateTwice();
    const stuck = new Proxy(store, {
      get: (real, name) => {
        if (name === 'lockRotation') {
          return async (id: string) => {
            await real.lockRotation(id); // taken, and never let go: its release fails
            return { release: () => Promise.reject(new RotatorError('STORE_IO', 'cannot remove the lock file: EACCES')) };
          };
        }
        const member: unknown = Reflect.get(real, name);
        return typeof member === 'function' ? (member as (...a: unknown[]) => unknown).bind(real) : member;
      },
    });
    const report = await new Purger({ store: stuck, rotators: [target], logger, clock: () => at(100) }).purge([SECRET]);
    expect(report.secrets[0]).toMatchObject({ ok: true });
    expect(report.secrets[0]?.actions.length).toBe(2);
  });

  it('stops before the next version when its lease is lost mid-purge: the rest is kept, and the report says why', async () => {
    const [v0, v1] = await rotateTwice();
    const lost = new AbortController();
    const leasing = new Proxy(store, {
      get: (real, name) => {
        if (name === 'lockRotation') {
          return async (id: string) => {
            const lease = await real.lockRotation(id);
            return { signal: lost.signal, release: () => lease.release() };
          };
        }
        const member: unknown = Reflect.get(real, name);
        return typeof member === 'function' ? (member as (...a: unknown[]) => unknown).bind(real) : member;
      },
    });
    const revoke = target.revoke.bind(target);
    target.revoke = (input) => {
      lost.abort(new RotatorError('ROTATION_IN_PROGRESS', `the rotation lock of secret ${SECRET} was lost`, { retryable: true }));
      return revoke(input);
    };
    const report = await new Purger({ store: leasing, rotators: [target], logger, clock: () => at(100) }).purge([SECRET]);
    expect(report.secrets[0]).toMatchObject({ ok: false, error: { code: 'ROTATION_IN_PROGRESS', retryable: true } });
    expect(report.secrets[0]?.actions.map((a) => a.versionId)).toEqual([v0]);
    expect(report.secrets[0]?.kept).toContainEqual({ versionId: v1, reason: 'the rotation lock was lost during the purge' });
    expect(target.calls.filter((c) => c.startsWith('revoke:'))).toEqual(['revoke:app']); // app_clone (v1) untouched
    expect((await store.describe(SECRET)).versions.map((v) => v.versionId)).toContain(v1);
  });

  it('honours the secret\'s own window and keep count', async () => {
    await rotateTwice();
    await store.updateRotation(SECRET, { enabled: true, strategy: 'alternating-users', safeWindowMs: 2 * DAY, keepSuperseded: 1 });
    const report = await purger(() => at(23)).purge([SECRET]);
    expect(report.secrets[0]?.policy).toEqual({ safeWindowMs: 2 * DAY, keepSuperseded: 1 });
    expect(report.secrets[0]?.actions).toHaveLength(1);
  });
});
