import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { RotationEngine } from '../../shared/engine.js';
import type { Logger } from '../../shared/logger.js';
import { Purger } from '../../shared/purger.js';
import { FileStore } from '../../stores/file/index.js';
import { canaryLogger, recordSecrets } from '../support/canary.js';
import { createTestStore, type TestStore } from '../support/stores.js';
import { testTargets } from '../support/targets.js';

/**
 * Invariant 6 end to end, on real servers: after the safe window the purger revokes the retired alternate
 * credential at the database (a login with it is refused) and only then forgets it; CURRENT keeps working and the
 * next rotation still succeeds.
 */
const DAY = 86_400_000;
const T0 = Date.parse('2026-01-01T00:00:00Z');
let counter = 0;

describe.each(testTargets())('$engine alternating users', (target) => {
  let t: TestStore;
  let store: FileStore;
  let now: number;
  let logger: Logger;

  beforeEach(() => {
    t = createTestStore();
    now = T0;
    store = new FileStore({ path: t.path, key: t.key, clock: () => new Date(now) });
    logger = canaryLogger();
  });

  afterEach(async () => {
    await t.dispose();
  });

  it('revokes the retired credential at the database, then retires it; CURRENT and the next rotation keep working', async () => {
    counter += 1;
    const user = `purge_app_${counter}`;
    const password = `Purge-${counter}-${Math.random().toString(36).slice(2)}-pw`;
    const masterPassword = `${password}-master`;
    recordSecrets(password, masterPassword);
    await target.createUser(user, password);
    await target.createUser(`purge_master_${counter}`, masterPassword, { master: true });
    await store.createSecret('purge/master', JSON.stringify(target.secret(`purge_master_${counter}`, masterPassword)));
    await store.createSecret('purge/app', JSON.stringify(target.secret(user, password, { masterarn: 'purge/master' })), {
      rotation: { enabled: true, strategy: 'alternating-users' },
    });
    const engine = new RotationEngine({ store, rotators: [target.rotator()], logger });
    const value = async (versionId: string): Promise<{ username: string; password: string }> =>
      JSON.parse(await store.getValue('purge/app', { versionId })) as { username: string; password: string };

    now = T0 + DAY;
    const first = await engine.rotate('purge/app'); // CURRENT: user_clone
    now = T0 + 2 * DAY;
    await engine.rotate('purge/app'); // CURRENT: user again; user_clone's password is still valid (PREVIOUS)
    const retired = await value(first.versionId);
    expect(retired.username).toBe(`${user}_clone`);
    expect(await target.logsIn(retired.username, retired.password)).toBe(true);

    const purger = new Purger({ store, rotators: [target.rotator()], logger, clock: () => new Date(T0 + 40 * DAY) });
    const report = await purger.purge(['purge/app']);
    expect(report.secrets[0]).toMatchObject({ ok: true });
    expect(report.secrets[0]?.actions.find((a) => a.versionId === first.versionId)).toMatchObject({ revocation: 'revoked', retired: true });
    expect(await target.logsIn(retired.username, retired.password)).toBe(false);

    const current = JSON.parse(await store.getValue('purge/app', { stage: 'CURRENT' })) as { username: string; password: string };
    expect(await target.logsIn(current.username, current.password)).toBe(true);
    now = T0 + 41 * DAY;
    await engine.rotate('purge/app');
    const next = JSON.parse(await store.getValue('purge/app', { stage: 'CURRENT' })) as { username: string; password: string };
    expect(next.username).toBe(`${user}_clone`);
    expect(await target.logsIn(next.username, next.password)).toBe(true);
  });
});
