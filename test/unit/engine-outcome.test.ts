import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { RotationEngine } from '../../shared/engine.js';
import { RotatorError } from '../../shared/errors.js';
import type { Logger } from '../../shared/logger.js';
import type { RotationFailure, SecretStore } from '../../shared/store.js';
import { MemoryTarget } from '../support/memory-target.js';
import { createTestStore, type TestStore } from '../support/stores.js';
import { canaryLogger } from '../support/canary.js';

/** Every runner records a failed rotation on the secret through the store, and the next success clears it. */
const SECRET = 'app/db';
const initial = { engine: 'memory', host: 'db.local', username: 'app', password: 'initial-password-1', dbname: 'app' };

let t: TestStore;
let target: MemoryTarget;
let lines: string[];
let logger: Logger;

const engine = (store: SecretStore = t.store): RotationEngine => new RotationEngine({ store, rotators: [target], logger, env: {} });
const lastError = async (): Promise<RotationFailure | undefined> => (await t.store.describe(SECRET)).lastError;

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
    const store = new Proxy(t.store, {
      get(target_, key, receiver) {
        if (key === 'recordRotationError') {
          return async (secretId: string, failure: RotationFailure | undefined) => {
            recorded++;
            await target_.recordRotationError(secretId, failure);
          };
        }
        const value: unknown = Reflect.get(target_, key, receiver);
        return typeof value === 'function' ? (value as (...a: unknown[]) => unknown).bind(target_) : value;
      },
    });
    await engine(store).rotate(SECRET);
    expect(recorded).toBe(0);
  });

  it('records no failure when finishSecret failed after its promotion: the secret was rotated', async () => {
    target.failNext.set = new RotatorError('TARGET_ERROR', 'refused');
    await expect(engine().rotate(SECRET)).rejects.toMatchObject({ code: 'TARGET_ERROR' });
    expect(await lastError()).toMatchObject({ code: 'TARGET_ERROR' });
    const store = new Proxy(t.store, {
      get(target_, key, receiver) {
        if (key === 'promote') {
          return async (secretId: string, token: string) => {
            await target_.promote(secretId, token);
            throw new RotatorError('STORE_IO', 'the bookkeeping after the promotion failed');
          };
        }
        const value: unknown = Reflect.get(target_, key, receiver);
        return typeof value === 'function' ? (value as (...a: unknown[]) => unknown).bind(target_) : value;
      },
    });
    await expect(engine(store).rotate(SECRET)).rejects.toMatchObject({ code: 'STORE_IO' });
    expect(await lastError()).toBeUndefined(); // the earlier failure is cleared too: the rotation it was about finished
  });

  it('keeps the rotation\'s own error when the store cannot record it, with a warning', async () => {
    const store = new Proxy(t.store, {
      get(target_, key, receiver) {
        if (key === 'recordRotationError') return () => Promise.reject(new RotatorError('STORE_IO', 'disk full'));
        const value: unknown = Reflect.get(target_, key, receiver);
        return typeof value === 'function' ? (value as (...a: unknown[]) => unknown).bind(target_) : value;
      },
    });
    target.failNext.test = new RotatorError('TARGET_UNREACHABLE', 'down', { retryable: true });
    await expect(engine(store).rotate(SECRET)).rejects.toMatchObject({ code: 'TARGET_UNREACHABLE' });
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
