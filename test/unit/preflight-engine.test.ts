import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { RotationEngine } from '../../shared/engine.js';
import type { PreflightCheckId } from '../../shared/rotator.js';
import { canaryLogger, recordSecrets } from '../support/canary.js';
import { MemoryTarget } from '../support/memory-target.js';
import { createTestStore, type TestStore } from '../support/stores.js';

/**
 * engine.preflight's own checks (the store side, CURRENT, the master secret) over the file store, with a target
 * that has no checks of its own: what it reports, and that it writes nothing whatever it finds.
 */
let t: TestStore;
let target: MemoryTarget;
const logger = canaryLogger();

beforeEach(() => {
  t = createTestStore();
  target = new MemoryTarget();
  recordSecrets('pw-app', 'pw-master', 'pw-new');
});
afterEach(async () => {
  await t.dispose();
});

const engine = (): RotationEngine => new RotationEngine({ store: t.store, rotators: [target], logger, env: {} });

async function preflight(id: string): Promise<Partial<Record<PreflightCheckId, { status: string; code?: string; reason: string }>>> {
  const report = await engine().preflight(id);
  return Object.fromEntries(report.checks.map((c) => [c.id, c]));
}

describe('engine.preflight', () => {
  it('a target without checks is reported as such; calls nothing on it', async () => {
    await t.store.createSecret('app', JSON.stringify({ engine: 'memory', username: 'app', password: 'pw-app' }), { rotation: { enabled: true } });
    const checks = await preflight('app');
    expect(checks.target).toMatchObject({ status: 'skip', reason: 'the memory rotator has no checks against its target' });
    expect(target.calls).toEqual([]);
  });

  it('a master secret that is missing fails its check; one without masterarn is INVALID_SECRET', async () => {
    await t.store.createSecret('app', JSON.stringify({ engine: 'memory', username: 'app', password: 'pw-app', masterarn: 'nowhere' }), { rotation: { enabled: true, strategy: 'alternating-users' } });
    expect((await preflight('app'))['master-secret']).toMatchObject({ status: 'fail', code: 'SECRET_NOT_FOUND' });
    await t.store.createSecret('master', JSON.stringify({ engine: 'memory', username: 'root', password: 'pw-master' }));
    await t.store.putValue('app', JSON.stringify({ engine: 'memory', username: 'app', password: 'pw-app', masterarn: 'master' }));
    expect((await preflight('app'))['master-secret']).toMatchObject({ status: 'pass', reason: 'secret master is readable and valid JSON' });
  });

  it('an invalid CURRENT stops after the store checks', async () => {
    await t.store.createSecret('app', JSON.stringify({ engine: 'unknown', username: 'app' }), { rotation: { enabled: true } });
    const report = await engine().preflight('app');
    expect(report.checks.map((c) => `${c.id}:${c.status}`)).toEqual(['rotation-enabled:pass', 'lock:pass', 'current-value:fail']);
    expect(report.engine).toBeUndefined();
  });

  it('a PENDING rotation is one rotate would resume, unless it no longer fits (STALE_PENDING); either way it stays as it was', async () => {
    await t.store.createSecret('app', JSON.stringify({ engine: 'memory', username: 'app', password: 'pw-app', masterarn: 'master' }), { rotation: { enabled: true, strategy: 'single-user' } });
    await t.store.createSecret('master', JSON.stringify({ engine: 'memory', username: 'root', password: 'pw-master' }));
    await t.store.startRotation('app', 'tok-1');
    await t.store.putPending('app', 'tok-1', JSON.stringify({ engine: 'memory', username: 'app', password: 'pw-new', masterarn: 'master' }));
    expect((await preflight('app')).pending).toMatchObject({ status: 'pass', reason: expect.stringMatching(/^version tok-1 is PENDING \(created .*\); rotate would resume it$/) as unknown });
    // The strategy changed since: the PENDING value names the same user, alternating-users the other one.
    await t.store.updateRotation('app', { enabled: true, strategy: 'alternating-users' });
    const before = await t.store.describe('app');
    expect((await preflight('app')).pending).toMatchObject({ status: 'fail', code: 'STALE_PENDING' });
    expect(await t.store.describe('app')).toEqual(before);
  });
});
