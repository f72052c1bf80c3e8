import { readFileSync } from 'node:fs';
import type { Config } from '../shared/config.js';
import { RotatorError } from '../shared/errors.js';
import type { Rotator } from '../shared/rotator.js';
import { createPostgresRotator } from './postgres/index.js';

/** Every rotator this build ships, configured from the shared settings. */
export function createRotators(config: Pick<Config, 'connectTimeoutMs' | 'statementTimeoutMs' | 'tlsCaFile' | 'allowPlaintextFallback'>): Rotator[] {
  const tls = { allowPlaintextFallback: config.allowPlaintextFallback, ...(config.tlsCaFile === undefined ? {} : { ca: readCa(config.tlsCaFile) }) };
  return [createPostgresRotator({ connectTimeoutMs: config.connectTimeoutMs, statementTimeoutMs: config.statementTimeoutMs, tls })];
}

function readCa(path: string): Buffer {
  try {
    return readFileSync(path);
  } catch (error) {
    throw new RotatorError('INVALID_INPUT', `ROTATOR_TLS_CA_FILE names ${path}, which cannot be read: ${(error as Error).message}`);
  }
}
