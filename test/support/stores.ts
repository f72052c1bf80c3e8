import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Rotator } from '../../shared/rotator.js';
import type { SecretStore } from '../../shared/store.js';
import { FileStore } from '../../stores/file/index.js';
import { recordSecretValue } from './canary.js';

export interface TestStore {
  store: FileStore;
  dir: string;
  path: string;
  key: Buffer;
  /** Hands every value the store holds to the leak canary, then deletes the store. */
  dispose(): Promise<void>;
}

/** A file store in a fresh temporary directory. */
export function createTestStore(): TestStore {
  const dir = mkdtempSync(join(tmpdir(), 'rotator-test-'));
  const path = join(dir, 'store.json');
  const key = randomBytes(32);
  const store = new FileStore({ path, key });
  return {
    store,
    dir,
    path,
    key,
    async dispose() {
      await harvestSecrets(store);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

export async function harvestSecrets(store: FileStore): Promise<void> {
  for (const { secretId } of await store.list()) {
    for (const version of (await store.describe(secretId)).versions) {
      if (version.hasValue) recordSecretValue(await store.getValue(secretId, { versionId: version.versionId }));
    }
  }
}

/** `target` with some members replaced; every other member is the target's own, bound to it. */
export function withOverrides<T extends object>(target: T, overrides: Partial<T>): T {
  return new Proxy(target, {
    get: (object, name) => {
      if (Object.hasOwn(overrides, name)) return (overrides as Record<string | symbol, unknown>)[name];
      const member: unknown = Reflect.get(object, name);
      return typeof member === 'function' ? (member as (...a: unknown[]) => unknown).bind(object) : member;
    },
  });
}

/** `store` with some members replaced (a failing write, a smaller limit); every other member is the store's own. */
export function storeWith(store: SecretStore, overrides: Partial<SecretStore>): SecretStore {
  return withOverrides(store, overrides);
}

/** `rotator` with some steps replaced (a crash after `set`, a slow `test`); every other member is the rotator's own. */
export function rotatorWith(rotator: Rotator, overrides: Partial<Rotator>): Rotator {
  return withOverrides(rotator, overrides);
}
