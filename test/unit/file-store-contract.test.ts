import { describeStoreContract } from '../support/store-contract.js';
import { createTestStore } from '../support/stores.js';

describeStoreContract('file store', () => {
  const t = createTestStore();
  return Promise.resolve({
    store: t.store,
    seed: (secretId: string, value: string) => t.store.createSecret(secretId, value, { rotation: { enabled: true } }),
    dispose: () => t.dispose(),
  });
});
