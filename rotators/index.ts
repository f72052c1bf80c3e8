import type { Config } from '../shared/config.js';
import type { Rotator } from '../shared/rotator.js';
import { createApiKeyRotator } from './api-key/index.js';
import { databaseRotatorOptions } from './database.js';
import { createMysqlRotator } from './mysql/index.js';
import { createPostgresRotator } from './postgres/index.js';

export type RotatorSettings = Pick<
  Config,
  'connectTimeoutMs' | 'statementTimeoutMs' | 'tlsCaFile' | 'allowPlaintextFallback' | 'allowPublicKeyRetrieval' | 'usernameCharacterLimit'
>;

/** Every rotator this build ships, configured from the shared settings. */
export function createRotators(config: RotatorSettings): Rotator[] {
  const connection = databaseRotatorOptions(config);
  return [
    createPostgresRotator(connection),
    createMysqlRotator({
      ...connection,
      allowPublicKeyRetrieval: config.allowPublicKeyRetrieval,
      ...(config.usernameCharacterLimit === undefined ? {} : { usernameCharacterLimit: config.usernameCharacterLimit }),
    }),
    createApiKeyRotator({ timeoutMs: config.statementTimeoutMs }),
  ];
}
