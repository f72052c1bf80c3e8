import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { isRotatorError, type ErrorCode } from '../../shared/errors.js';
import { STAGES, type Lease, type SecretInfo, type SecretStore } from '../../shared/store.js';

/**
 * The SecretStore contract every adapter must keep (the promises written in shared/store.ts), written once against
 * the port alone, so the file store and each cloud adapter run the same suite unchanged. Creating a secret is not
 * part of the port, so each adapter's test supplies `seed`, and the hooks below for what only the adapter can stage.
 * Ids are valid on every cloud: Key Vault names are [a-zA-Z][0-9a-zA-Z-]{0,126} and Secret Manager ids
 * [A-Za-z0-9_-]{1,255}, so no "/" and no "_".
 */
export interface ContractFixture {
  store: SecretStore;
  /** Creates `secretId` with `value` as its CURRENT version, rotation enabled, and `tags` (none if absent). */
  seed(secretId: string, value: string, tags?: Readonly<Record<string, string>>): Promise<void>;
  /**
   * Exclusive locks only: leaves the rotation lock of `secretId` held by a holder that died without releasing it
   * (file store: a lock file naming a process that has ended; a cloud lease: one taken and never renewed).
   */
  abandonLock?(secretId: string): Promise<void>;
  /** How long an abandoned lock may stay held before it must be free (default 0: at once). */
  lockExpiryMs?: number;
  /**
   * Stores whose promotion is a write followed by bookkeeping (Key Vault, Secret Manager): does the write of
   * promoting `token` and stops where a crash would, before the bookkeeping. Absent where promotion is one atomic
   * change (file store, AWS), which a crash cannot split.
   */
  interruptPromote?(secretId: string, token: string): Promise<void>;
  dispose(): Promise<void>;
}

/** The RotatorError code `promise` rejects with, 'resolved', or 'other' for an error that is not typed. */
export async function codeOf(promise: Promise<unknown>): Promise<ErrorCode | 'resolved' | 'other'> {
  try {
    await promise;
    return 'resolved';
  } catch (error) {
    return isRotatorError(error) ? error.code : 'other';
  }
}

function stagesOf(info: SecretInfo): Record<string, string[]> {
  return Object.fromEntries(info.versions.map((v) => [v.versionId, [...v.stages].sort()]));
}

/** Each stage on at most one version, whatever happened before. */
function expectLabelsUnique(info: SecretInfo): void {
  for (const stage of STAGES) expect(info.versions.filter((v) => v.stages.includes(stage)).length).toBeLessThanOrEqual(1);
}

// Tokens are 32-64 characters on AWS, and a Key Vault tag value holds them; these fit every store.
const TOKEN_A = 'contract-token-aaaaaaaaaaaaaaaaaaaaaaaa';
const TOKEN_B = 'contract-token-bbbbbbbbbbbbbbbbbbbbbbbb';

/**
 * The exclusive lock's half of the contract, on a bare lock function (a store's lockRotation, or a lock component such
 * as the Azure blob lease before it is part of a store): while a lease is held a second lock of the same secret is
 * refused with ROTATION_IN_PROGRESS (retryable), and once it is released the lock is granted again.
 */
export async function expectLockExclusion(lock: (secretId: string) => Promise<Lease>, secretId: string): Promise<void> {
  const first = await lock(secretId);
  let second: Lease | undefined;
  try {
    const refused = await lock(secretId).then(
      (lease) => {
        second = lease;
        return undefined;
      },
      (error: unknown) => error,
    );
    expect(second, 'a second lockRotation was granted while the first lease was held').toBeUndefined();
    expect(isRotatorError(refused, 'ROTATION_IN_PROGRESS')).toBe(true);
    expect(isRotatorError(refused) && refused.retryable).toBe(true);
  } finally {
    await second?.release();
    await first.release();
  }
  const again = await lock(secretId);
  await again.release();
}

/**
 * Exclusion, as the store declares it (`rotationLock`):
 * - exclusive: while a lease is held a second lockRotation is refused with ROTATION_IN_PROGRESS (retryable), and once
 *   it is released the lock is granted again;
 * - service-enforced: the lease excludes nothing, so the service must: while a rotation is PENDING, starting another
 *   with a new token is refused and PENDING stays where it was.
 * Exported so a test can prove it fails on a store whose lock does nothing.
 */
export async function expectRotationExclusion(store: SecretStore, secretId: string): Promise<void> {
  if (store.rotationLock === 'exclusive') {
    await expectLockExclusion((id) => store.lockRotation(id), secretId);
    return;
  }
  expect(store.rotationLock).toBe('service-enforced');
  await store.startRotation(secretId, TOKEN_A);
  expect(await codeOf(store.startRotation(secretId, TOKEN_B)), 'a second rotation started while one was PENDING').not.toBe('resolved');
  const info = await store.describe(secretId);
  expect(info.versions.find((v) => v.stages.includes('PENDING'))?.versionId).toBe(TOKEN_A);
  expect(info.versions.some((v) => v.versionId === TOKEN_B)).toBe(false);
}

export function describeStoreContract(name: string, create: () => Promise<ContractFixture>): void {
  describe(`${name}: the SecretStore contract`, () => {
    let f: ContractFixture;
    beforeEach(async () => {
      f = await create();
      await f.seed('contract-app', 'value-current-1');
    });
    afterEach(async () => {
      await f.dispose();
    });

    it('lists the secret, and names a missing one SECRET_NOT_FOUND', async () => {
      expect(await f.store.listSecretIds()).toContain('contract-app');
      expect(await codeOf(f.store.describe('contract-absent'))).toBe('SECRET_NOT_FOUND');
      expect(await codeOf(f.store.getValue('contract-absent', { stage: 'CURRENT' }))).toBe('SECRET_NOT_FOUND');
    });

    it('starts a rotation with a value-less PENDING stub that cannot be read', async () => {
      await f.store.startRotation('contract-app', TOKEN_A);
      const info = await f.store.describe('contract-app');
      const stub = info.versions.find((v) => v.versionId === TOKEN_A);
      expect(stub).toMatchObject({ stages: ['PENDING'], hasValue: false });
      expect(await codeOf(f.store.getValue('contract-app', { versionId: TOKEN_A }))).toBe('VERSION_NOT_FOUND');
      expect(await codeOf(f.store.getValue('contract-app', { stage: 'PENDING' }))).toBe('VERSION_NOT_FOUND');
      await f.store.startRotation('contract-app', TOKEN_A); // repeated: no-op
      expectLabelsUnique(await f.store.describe('contract-app'));
    });

    it('puts PENDING idempotently and refuses the same token with another value', async () => {
      await f.store.startRotation('contract-app', TOKEN_A);
      await f.store.putPending('contract-app', TOKEN_A, 'value-pending-1');
      await f.store.putPending('contract-app', TOKEN_A, 'value-pending-1');
      expect(await codeOf(f.store.putPending('contract-app', TOKEN_A, 'value-pending-2'))).toBe('VERSION_CONFLICT');
      expect(await f.store.getValue('contract-app', { versionId: TOKEN_A, stage: 'PENDING' })).toBe('value-pending-1');
      expect(await f.store.getValue('contract-app', { stage: 'CURRENT' })).toBe('value-current-1');
    });

    it('promotes: CURRENT moves to the token, the old CURRENT becomes PREVIOUS, PENDING leaves; repeating is a no-op', async () => {
      const before = (await f.store.describe('contract-app')).versions.find((v) => v.stages.includes('CURRENT'))?.versionId;
      await f.store.startRotation('contract-app', TOKEN_A);
      await f.store.putPending('contract-app', TOKEN_A, 'value-pending-1');
      await f.store.promote('contract-app', TOKEN_A);
      await f.store.promote('contract-app', TOKEN_A);
      const info = await f.store.describe('contract-app');
      expectLabelsUnique(info);
      const stages = stagesOf(info);
      expect(stages[TOKEN_A]).toEqual(['CURRENT']);
      expect(stages[before ?? '']).toEqual(['PREVIOUS']);
      expect(await f.store.getValue('contract-app', { stage: 'CURRENT' })).toBe('value-pending-1');
      expect(await f.store.getValue('contract-app', { stage: 'PREVIOUS' })).toBe('value-current-1');

      // A second rotation: PREVIOUS follows CURRENT again, and the first version loses its label.
      await f.store.startRotation('contract-app', TOKEN_B);
      await f.store.putPending('contract-app', TOKEN_B, 'value-pending-2');
      await f.store.promote('contract-app', TOKEN_B);
      const again = stagesOf(await f.store.describe('contract-app'));
      expect(again[TOKEN_B]).toEqual(['CURRENT']);
      expect(again[TOKEN_A]).toEqual(['PREVIOUS']);
      expect(again[before ?? ''] ?? []).toEqual([]);
    });

    it('refuses to promote a stub, and to retire CURRENT or PENDING', async () => {
      await f.store.startRotation('contract-app', TOKEN_A);
      expect(await codeOf(f.store.promote('contract-app', TOKEN_A))).toBe('VERSION_NOT_FOUND');
      const current = (await f.store.describe('contract-app')).versions.find((v) => v.stages.includes('CURRENT'))?.versionId ?? '';
      expect(await codeOf(f.store.retire('contract-app', current))).toBe('INVALID_INPUT');
      expect(await codeOf(f.store.retire('contract-app', TOKEN_A))).toBe('INVALID_INPUT');
      expect(await f.store.getValue('contract-app', { stage: 'CURRENT' })).toBe('value-current-1');
    });

    it('retires a superseded version: it keeps no stage label and cannot be read by stage', async () => {
      const first = (await f.store.describe('contract-app')).versions.find((v) => v.stages.includes('CURRENT'))?.versionId ?? '';
      await f.store.startRotation('contract-app', TOKEN_A);
      await f.store.putPending('contract-app', TOKEN_A, 'value-pending-1');
      await f.store.promote('contract-app', TOKEN_A);
      await f.store.retire('contract-app', first);
      const info = await f.store.describe('contract-app');
      expect(info.versions.find((v) => v.versionId === first)?.stages ?? []).toEqual([]);
      expect(await codeOf(f.store.getValue('contract-app', { stage: 'PREVIOUS' }))).toBe('VERSION_NOT_FOUND');
      expect(await f.store.getValue('contract-app', { stage: 'CURRENT' })).toBe('value-pending-1');
    });

    it('hands out a rotation lease that can be released', async () => {
      const lease = await f.store.lockRotation('contract-app');
      await lease.release();
      await (await f.store.lockRotation('contract-app')).release();
    });

    it('excludes a second rotation, as its declared rotationLock says', async () => {
      await expectRotationExclusion(f.store, 'contract-app');
    });

    it('cancels a rotation: a stub is dropped, a value kept unlabelled, and only the version named', async () => {
      await f.store.startRotation('contract-app', TOKEN_A);
      expect(await f.store.cancelRotation('contract-app', TOKEN_B)).toBeUndefined(); // not the PENDING one: no-op
      expect((await f.store.describe('contract-app')).versions.find((v) => v.stages.includes('PENDING'))?.versionId).toBe(TOKEN_A);
      expect(await f.store.cancelRotation('contract-app', TOKEN_A)).toBe(TOKEN_A);
      const afterStub = await f.store.describe('contract-app');
      expect(afterStub.versions.some((v) => v.stages.includes('PENDING'))).toBe(false);
      expect(afterStub.versions.some((v) => v.versionId === TOKEN_A)).toBe(false);

      await f.store.startRotation('contract-app', TOKEN_B);
      await f.store.putPending('contract-app', TOKEN_B, 'value-pending-1');
      expect(await f.store.cancelRotation('contract-app')).toBe(TOKEN_B);
      expect(await codeOf(f.store.getValue('contract-app', { stage: 'PENDING' }))).toBe('VERSION_NOT_FOUND');
      expect(await f.store.getValue('contract-app', { versionId: TOKEN_B })).toBe('value-pending-1');
      expect(await f.store.getValue('contract-app', { stage: 'CURRENT' })).toBe('value-current-1');
      expect(await f.store.cancelRotation('contract-app')).toBeUndefined();
    });
    it('describes the secret\'s tags, and a rotation keeps them', async () => {
      const tags = { team: 'payments', 'cost-center': 'cc-42' };
      await f.seed('contract-tagged', 'value-current-1', tags);
      expect((await f.store.describe('contract-tagged')).tags).toEqual(tags);
      expect((await f.store.describe('contract-app')).tags).toEqual({});
      await f.store.startRotation('contract-tagged', TOKEN_A);
      await f.store.putPending('contract-tagged', TOKEN_A, 'value-pending-1');
      await f.store.promote('contract-tagged', TOKEN_A);
      expect((await f.store.describe('contract-tagged')).tags).toEqual(tags);
    });

    it('names every version Rotator wrote by its token, for its whole life', async () => {
      const seeded = (await f.store.describe('contract-app')).versions.find((v) => v.stages.includes('CURRENT'))?.versionId ?? '';
      expect(await f.store.getValue('contract-app', { versionId: seeded })).toBe('value-current-1'); // the cloud's own id
      await f.store.startRotation('contract-app', TOKEN_A);
      await f.store.putPending('contract-app', TOKEN_A, 'value-pending-1');
      await f.store.promote('contract-app', TOKEN_A);
      expect(await f.store.getValue('contract-app', { versionId: TOKEN_A, stage: 'CURRENT' })).toBe('value-pending-1');
      await f.store.startRotation('contract-app', TOKEN_B);
      await f.store.putPending('contract-app', TOKEN_B, 'value-pending-2');
      expect(await f.store.getValue('contract-app', { versionId: TOKEN_B, stage: 'PENDING' })).toBe('value-pending-2');
      await f.store.promote('contract-app', TOKEN_B);
      const info = await f.store.describe('contract-app');
      expect(info.versions.map((v) => v.versionId)).toEqual(expect.arrayContaining([TOKEN_A, TOKEN_B]));
      expect(await f.store.getValue('contract-app', { versionId: TOKEN_A, stage: 'PREVIOUS' })).toBe('value-pending-1');
      expect(await f.store.getValue('contract-app', { versionId: TOKEN_B, stage: 'CURRENT' })).toBe('value-pending-2');
      await f.store.retire('contract-app', seeded);
      expect((await f.store.describe('contract-app')).versions.some((v) => v.versionId === seeded)).toBe(false);
    });

    it('keeps a value of exactly maxValueBytes and refuses a larger one with INVALID_INPUT, storing nothing', async () => {
      expect(f.store.maxValueBytes).toBeGreaterThan(0);
      await f.store.startRotation('contract-app', TOKEN_A);
      const over = `${'x'.repeat(f.store.maxValueBytes - 1)}é`; // the limit is in UTF-8 bytes, not characters
      expect(await codeOf(f.store.putPending('contract-app', TOKEN_A, over))).toBe('INVALID_INPUT');
      expect((await f.store.describe('contract-app')).versions.find((v) => v.versionId === TOKEN_A)?.hasValue).toBe(false);
      const exact = 'y'.repeat(f.store.maxValueBytes);
      await f.store.putPending('contract-app', TOKEN_A, exact);
      expect(await f.store.getValue('contract-app', { versionId: TOKEN_A })).toBe(exact);
    });

    it('frees a lock whose holder died (exclusive locks)', async (ctx) => {
      if (f.store.rotationLock !== 'exclusive') ctx.skip(); // service-enforced: there is no lock to abandon
      expect(f.abandonLock !== undefined, 'an exclusive store must show that a dead holder\'s lock is freed').toBe(true);
      await f.abandonLock?.('contract-app');
      const deadline = Date.now() + (f.lockExpiryMs ?? 0);
      for (;;) {
        const outcome = await f.store.lockRotation('contract-app').then(
          async (lease) => {
            await lease.release();
            return 'resolved';
          },
          (error: unknown) => (isRotatorError(error, 'ROTATION_IN_PROGRESS') ? 'held' : error),
        );
        if (outcome === 'resolved') break;
        if (outcome !== 'held') throw outcome;
        expect(Date.now(), 'the dead holder\'s lock was not freed in time').toBeLessThan(deadline);
        await new Promise((resolve) => setTimeout(resolve, 250));
      }
    });

    it('finishes a promotion interrupted after its write without writing the value again', async (ctx) => {
      if (f.interruptPromote === undefined) ctx.skip(); // promotion is one atomic change on this store
      await f.store.startRotation('contract-app', TOKEN_A);
      await f.store.putPending('contract-app', TOKEN_A, 'value-pending-1');
      await f.interruptPromote?.('contract-app', TOKEN_A);
      await f.store.promote('contract-app', TOKEN_A);
      const info = await f.store.describe('contract-app');
      expectLabelsUnique(info);
      expect(info.versions.map((v) => [...v.stages])).toEqual([['PREVIOUS'], ['CURRENT']]); // no second copy of the value
      expect(info.versions[1]?.versionId).toBe(TOKEN_A);
      expect(await f.store.getValue('contract-app', { stage: 'CURRENT' })).toBe('value-pending-1');
      expect(await f.store.getValue('contract-app', { stage: 'PREVIOUS' })).toBe('value-current-1');
    });
  });
}
