import { mkdirSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { dirname } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { SecretStore } from '../../shared/store.js';
import { rotationLockPath } from '../../stores/file/file-store.js';
import { deadPid } from '../fixtures/file-store-helpers.js';
import { describeStoreContract, expectRotationExclusion } from '../support/store-contract.js';
import { createTestStore } from '../support/stores.js';

describeStoreContract('file store', () => {
  const t = createTestStore();
  return Promise.resolve({
    store: t.store,
    seed: (secretId: string, value: string, tags?: Readonly<Record<string, string>>) =>
      t.store.createSecret(secretId, value, { rotation: { enabled: true }, ...(tags === undefined ? {} : { tags: { ...tags } }) }),
    // What a rotation killed mid-way leaves: a lock file naming a process that has ended.
    abandonLock: (secretId: string) => {
      const path = rotationLockPath(t.path, secretId);
      mkdirSync(dirname(path), { recursive: true });
      writeFileSync(path, JSON.stringify({ pid: deadPid(), hostname: hostname(), createdAt: new Date().toISOString(), nonce: 'killed-holder' }), { flag: 'wx' });
      return Promise.resolve();
    },
    dispose: () => t.dispose(),
  });
});

/** The file store with one member replaced: a store that claims more than it does. */
function broken(store: SecretStore, override: Partial<SecretStore>): SecretStore {
  return new Proxy(store, {
    get: (target, name) => {
      if (name in override) return override[name as keyof SecretStore];
      const member: unknown = Reflect.get(target, name);
      return typeof member === 'function' ? (member as (...a: unknown[]) => unknown).bind(target) : member;
    },
  });
}

describe('the contract\'s exclusion check can fail', () => {
  it('fails on a store that claims an exclusive lock but hands out a lease that excludes nothing', async () => {
    const t = createTestStore();
    try {
      await t.store.createSecret('contract-app', 'value-current-1', { rotation: { enabled: true } });
      await expectRotationExclusion(t.store, 'contract-app'); // the real one passes
      const noop = broken(t.store, { lockRotation: () => Promise.resolve({ release: () => Promise.resolve() }) });
      await expect(expectRotationExclusion(noop, 'contract-app')).rejects.toThrow(/second lockRotation was granted/);
    } finally {
      await t.dispose();
    }
  });

  it('fails on a store that claims the service enforces exclusion when nothing refuses a second rotation', async () => {
    const t = createTestStore();
    try {
      await t.store.createSecret('contract-app', 'value-current-1', { rotation: { enabled: true } });
      // The file store lets a new token take PENDING over (its lock is what excludes): not service-enforced.
      const claims = broken(t.store, { rotationLock: 'service-enforced' });
      await expect(expectRotationExclusion(claims, 'contract-app')).rejects.toThrow(/second rotation started while one was PENDING/);
    } finally {
      await t.dispose();
    }
  });
});
