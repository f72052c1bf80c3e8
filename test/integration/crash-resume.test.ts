import { fileURLToPath } from 'node:url';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { RotationEngine, STEPS, type Step } from '../../shared/engine.js';
import { RotatorError } from '../../shared/errors.js';
import type { Logger } from '../../shared/logger.js';
import type { Rotator } from '../../shared/rotator.js';
import type { SecretStore, Strategy } from '../../shared/store.js';
import { canaryLogger, recordSecrets } from '../support/canary.js';
import { spawnChild } from '../support/child.js';
import { createTestStore, type TestStore } from '../support/stores.js';
import { testTargets, type TestTarget } from '../support/targets.js';

/**
 * Invariant 2: the pending value is in the store before the database changes, so a crash anywhere loses no
 * credential and running again converges to a working CURRENT. Invariant 3: with alternating users, CURRENT
 * logs in at every instant. A "crash" here is an exception thrown at the named point, after which a fresh
 * engine (no memory of the failed run) resumes; the last test kills a real process with SIGKILL.
 */
const SECRET = 'crash/app';
const MASTER = 'crash/master';

class Crash extends Error {
  constructor(where: string) {
    super(`simulated crash ${where}`);
  }
}

const targets = testTargets();
let t: TestStore;
let logger: Logger;
let counter = 0;
/** The server the running test rotates on; set by each engine's describe block. */
let target: TestTarget;

beforeEach(() => {
  t = createTestStore();
  logger = canaryLogger();
});

afterEach(async () => {
  await t.dispose();
});

function password(): string {
  const p = `Init-${counter}-${Math.random().toString(36).slice(2)}-pw`;
  recordSecrets(p);
  return p;
}

async function setUp(strategy: Strategy): Promise<string> {
  counter += 1;
  const user = `crash_${strategy.replace('-', '_')}_${counter}`;
  const secret = target.secret(user, password());
  await target.createUser(user, secret.password as string);
  if (strategy === 'alternating-users') {
    const master = target.secret(`crash_master_${counter}`, password());
    await target.createUser(master.username as string, master.password as string, { master: true });
    await t.store.createSecret(MASTER, JSON.stringify(master));
    await t.store.createSecret(SECRET, JSON.stringify({ ...secret, masterarn: MASTER }), { rotation: { enabled: true, strategy } });
  } else {
    await t.store.createSecret(SECRET, JSON.stringify(secret), { rotation: { enabled: true, strategy } });
  }
  return user;
}

function engine(overrides: { store?: SecretStore; rotator?: Rotator } = {}): RotationEngine {
  return new RotationEngine({
    store: overrides.store ?? t.store,
    rotators: [overrides.rotator ?? target.rotator()],
    logger,
  });
}

async function credentials(selector: { stage: 'CURRENT' } | { versionId: string }): Promise<{ username: string; password: string }> {
  return JSON.parse(await t.store.getValue(SECRET, selector)) as { username: string; password: string };
}

async function currentLogsIn(): Promise<boolean> {
  const { username, password } = await credentials({ stage: 'CURRENT' });
  return target.logsIn(username, password);
}

/** True when some version the store holds logs in: the credential is not lost. */
async function someVersionLogsIn(): Promise<boolean> {
  for (const v of (await t.store.describe(SECRET)).versions) {
    if (!v.hasValue) continue;
    const { username, password } = await credentials({ versionId: v.versionId });
    if (await target.logsIn(username, password)) return true;
  }
  return false;
}

async function crashes(run: Promise<unknown>): Promise<void> {
  await expect(run).rejects.toBeInstanceOf(Crash);
}

/** A rotator whose `set` does its work on the database and then dies before returning. */
function crashingAfterSet(): Rotator {
  const real = target.rotator();
  return {
    ...real,
    set: async (input, ctx) => {
      await real.set(input, ctx);
      throw new Crash('after the database change');
    },
  };
}

/** A store whose `method` writes and then dies before answering, or dies before writing. */
function crashingStore(method: 'putPending' | 'promote', when: 'before' | 'after'): SecretStore {
  const real = t.store;
  return new Proxy(real, {
    get(target, name, receiver) {
      const value: unknown = Reflect.get(target, name, receiver);
      if (name !== method || typeof value !== 'function') return typeof value === 'function' ? (value as () => unknown).bind(target) : value;
      return async (...args: unknown[]) => {
        if (when === 'before') throw new Crash(`before ${method}`);
        await (value as (...a: unknown[]) => Promise<void>).apply(target, args);
        throw new Crash(`after ${method}`);
      };
    },
  });
}

describe.each(targets)('$engine', (engineTarget) => {
  beforeEach(() => {
    target = engineTarget;
  });

  describe.each(engineTarget.strategies)('%s: crash and resume', (strategy) => {
    const alternating = strategy === 'alternating-users';

    async function checkInvariants(): Promise<void> {
      expect(await someVersionLogsIn()).toBe(true);
      if (alternating) expect(await currentLogsIn()).toBe(true);
    }

    async function resumeAndCheck(originalUser: string): Promise<void> {
      const report = await engine().rotate(SECRET);
      expect(report.resumed).toBe(true);
      expect(await currentLogsIn()).toBe(true);
      const info = await t.store.describe(SECRET);
      expect(info.versions.filter((v) => v.stages.includes('PENDING'))).toEqual([]);
      const now = await credentials({ stage: 'CURRENT' });
      expect(now.username).toBe(alternating ? `${originalUser}_clone` : originalUser);
      // The rotation after a resumed one starts cleanly too.
      await engine().rotate(SECRET);
      expect(await currentLogsIn()).toBe(true);
    }

    it.each(STEPS.slice(0, 3))('after %s', async (step: Step) => {
      const user = await setUp(strategy);
      await crashes(
        engine().rotate(SECRET, {
          onStep: (r) => {
            if (r.step === step) throw new Crash(`after ${step}`);
          },
        }),
      );
      await checkInvariants();
      await resumeAndCheck(user);
    });

    it('after finishSecret (nothing left to resume: the next run starts a new rotation)', async () => {
      await setUp(strategy);
      await crashes(engine().rotate(SECRET, { onStep: (r) => { if (r.step === 'finishSecret') throw new Crash('after finishSecret'); } }));
      expect(await currentLogsIn()).toBe(true);
      expect((await engine().rotate(SECRET)).resumed).toBe(false);
      expect(await currentLogsIn()).toBe(true);
    });

    it('between the store write and the database change', async () => {
      const user = await setUp(strategy);
      await crashes(engine({ store: crashingStore('putPending', 'after') }).rotate(SECRET));
      expect(await currentLogsIn()).toBe(true); // the database has not changed yet
      await resumeAndCheck(user);
    });

    it('before the store write (nothing reached the database)', async () => {
      const user = await setUp(strategy);
      await crashes(engine({ store: crashingStore('putPending', 'before') }).rotate(SECRET));
      expect(await currentLogsIn()).toBe(true);
      await resumeAndCheck(user);
    });

    it('after the database change, before setSecret returns', async () => {
      const user = await setUp(strategy);
      await crashes(engine({ rotator: crashingAfterSet() }).rotate(SECRET));
      await checkInvariants();
      await resumeAndCheck(user);
    });

    it('before the promotion is written', async () => {
      const user = await setUp(strategy);
      await crashes(engine({ store: crashingStore('promote', 'before') }).rotate(SECRET));
      await checkInvariants();
      await resumeAndCheck(user);
    });

    it('service-driven: a failed step retried with the same token converges', async () => {
      await setUp(strategy);
      const token = 'svc-token-00000000-0000-0000-0000-000000000001';
      await t.store.startRotation(SECRET, token);
      await engine().runStep(SECRET, token, 'createSecret');
      await expect(engine({ rotator: crashingAfterSet() }).runStep(SECRET, token, 'setSecret')).rejects.toBeInstanceOf(Crash);
      for (const step of STEPS) await engine().runStep(SECRET, token, step);
      expect((await t.store.describe(SECRET)).versions.find((v) => v.versionId === token)?.stages).toEqual(['CURRENT']);
      expect(await currentLogsIn()).toBe(true);
    });
  });

  describe('a real process killed mid-rotation', () => {
    it('leaves a stale lock and a PENDING version that the next run takes over and finishes', async () => {
      await setUp('single-user');
      const fixture = fileURLToPath(new URL('../fixtures/rotate-and-hang.ts', import.meta.url));
      const child = spawnChild(process.execPath, ['--import', 'tsx', fixture, t.path, t.key.toString('base64'), SECRET, target.caFile], {
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let output = '';
      child.stdout.on('data', (d: Buffer) => (output += d.toString()));
      child.stderr.on('data', (d: Buffer) => (output += d.toString()));
      await new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`the child never reached setSecret: ${output}`)), 20_000);
        child.stdout.on('data', () => {
          if (output.includes('HANGING')) {
            clearTimeout(timer);
            resolve();
          }
        });
        child.on('exit', () => reject(new Error(`the child exited early: ${output}`)));
      });
      const exited = new Promise((resolve) => child.on('exit', resolve));
      child.kill('SIGKILL');
      await exited;

      // The dead process's lock is still on disk, and the database already has the pending password.
      const pending = (await t.store.describe(SECRET)).versions.find((v) => v.stages.includes('PENDING'));
      expect(pending?.hasValue).toBe(true);
      const report = await engine().rotate(SECRET);
      expect(report).toMatchObject({ resumed: true, versionId: pending?.versionId });
      expect(report.steps.find((s) => s.step === 'setSecret')?.outcome).toBe('already-done');
      expect(await currentLogsIn()).toBe(true);
    });
  });

  describe('no rotation runs twice at once', () => {
    it('a second trigger while one holds the lock is refused as retryable and changes nothing', async () => {
      await setUp('single-user');
      let second: Promise<unknown> | undefined;
      await engine().rotate(SECRET, {
        onStep: (r) => {
          if (r.step === 'createSecret') second = engine().rotate(SECRET).catch((e: unknown) => e);
        },
      });
      const error = await second;
      expect(error).toBeInstanceOf(RotatorError);
      expect((error as RotatorError).code).toBe('ROTATION_IN_PROGRESS');
      expect((await t.store.describe(SECRET)).versions).toHaveLength(2);
      expect(await currentLogsIn()).toBe(true);
    });
  });
});
