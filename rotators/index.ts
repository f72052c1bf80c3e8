import { readFileSync } from 'node:fs';
import type { Config } from '../shared/config.js';
import { RotatorError } from '../shared/errors.js';
import type { Rotator } from '../shared/rotator.js';
import { createApiKeyRotator } from './api-key/index.js';
import { createMysqlRotator } from './mysql/index.js';
import { createPostgresRotator } from './postgres/index.js';

export type RotatorSettings = Pick<
  Config,
  'connectTimeoutMs' | 'statementTimeoutMs' | 'tlsCaFile' | 'allowPlaintextFallback' | 'allowPublicKeyRetrieval' | 'usernameCharacterLimit'
>;

/** Every rotator this build ships, configured from the shared settings. */
export function createRotators(config: RotatorSettings): Rotator[] {
  const tls = { allowPlaintextFallback: config.allowPlaintextFallback, ...(config.tlsCaFile === undefined ? {} : { ca: readCa(config.tlsCaFile) }) };
  const timeouts = { connectTimeoutMs: config.connectTimeoutMs, statementTimeoutMs: config.statementTimeoutMs };
  return [
    createPostgresRotator({ ...timeouts, tls }),
    createMysqlRotator({
      ...timeouts,
      tls,
      allowPublicKeyRetrieval: config.allowPublicKeyRetrieval,
      ...(config.usernameCharacterLimit === undefined ? {} : { usernameCharacterLimit: config.usernameCharacterLimit }),
    }),
    createApiKeyRotator({ timeoutMs: config.statementTimeoutMs }),
  ];
}

function readCa(path: string): Buffer {
  try {
    return readFileSync(path);
  } catch (error) {
    throw new RotatorError('INVALID_INPUT', `ROTATOR_TLS_CA_FILE names ${path}, which cannot be read: ${(error as Error).message}`);
  }
}
