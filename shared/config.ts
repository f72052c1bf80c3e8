import { homedir } from 'node:os';
import { join } from 'node:path';
import * as z from 'zod';
import { RotatorError } from './errors.js';
import { parseDuration } from './duration.js';
import type { LogLevel } from './logger.js';
import { DEFAULT_RETENTION, type RetentionPolicy } from './purger.js';
import { STRATEGIES, type Strategy } from './store.js';

/** "true"/"false" in any case, as AWS's templates and most shells spell them. */
export const envBoolean = z
  .string()
  .regex(/^(true|false)$/i, 'must be true or false')
  .transform((s) => s.toLowerCase() === 'true');

const milliseconds = (min: number, max: number) =>
  z
    .string()
    .regex(/^\d+$/, 'must be a whole number of milliseconds')
    .transform(Number)
    .pipe(z.number().int().min(min).max(max));

const configSchema = z.object({
  ROTATOR_STORE: z.string().min(1).optional(),
  ROTATOR_STORE_KEY_FILE: z.string().min(1).optional(),
  ROTATION_STRATEGY: z.enum(STRATEGIES).optional(),
  ROTATOR_TLS_CA_FILE: z.string().min(1).optional(),
  ROTATOR_ALLOW_PLAINTEXT_FALLBACK: envBoolean.optional(),
  ROTATOR_ALLOW_PUBLIC_KEY_RETRIEVAL: envBoolean.optional(),
  USERNAME_CHARACTER_LIMIT: z
    .string()
    .regex(/^\d+$/, 'must be a whole number of characters')
    .transform(Number)
    .pipe(z.number().int().min(1).max(128))
    .optional(),
  ROTATOR_CONNECT_TIMEOUT_MS: milliseconds(100, 120_000).optional(),
  ROTATOR_STATEMENT_TIMEOUT_MS: milliseconds(100, 600_000).optional(),
  ROTATOR_SAFE_WINDOW: z.string().min(1).optional(),
  ROTATOR_KEEP_SUPERSEDED: z
    .string()
    .regex(/^\d{1,4}$/, 'must be a whole number of versions')
    .transform(Number)
    .optional(),
  LOG_LEVEL: z
    .string()
    .transform((s) => s.toLowerCase())
    .pipe(z.enum(['debug', 'info', 'warn', 'error']))
    .optional(),
});

/** Settings shared by every entry point, read once from the environment and validated. */
export interface Config {
  storePath: string;
  storeKeyFile: string | undefined;
  defaultStrategy: Strategy;
  tlsCaFile: string | undefined;
  allowPlaintextFallback: boolean;
  /** MySQL 8: may fetch the server's RSA key to send a password over plaintext (unauthenticated key). */
  allowPublicKeyRetrieval: boolean;
  /** Longest alternate user name for MySQL/MariaDB (AWS's USERNAME_CHARACTER_LIMIT); unset: per server. */
  usernameCharacterLimit: number | undefined;
  connectTimeoutMs: number;
  statementTimeoutMs: number;
  logLevel: LogLevel;
  /** The purger's defaults; each secret's rotation settings may override them. */
  retention: RetentionPolicy;
}

export const DEFAULT_STORE_PATH = join(homedir(), '.rotator', 'store.json');

export function loadConfig(env: NodeJS.ProcessEnv, defaults: { logLevel?: LogLevel } = {}): Config {
  const result = configSchema.safeParse(env);
  if (!result.success) throw envError(result.error);
  const e = result.data;
  return {
    storePath: e.ROTATOR_STORE ?? DEFAULT_STORE_PATH,
    storeKeyFile: e.ROTATOR_STORE_KEY_FILE,
    defaultStrategy: e.ROTATION_STRATEGY ?? 'single-user',
    tlsCaFile: e.ROTATOR_TLS_CA_FILE,
    allowPlaintextFallback: e.ROTATOR_ALLOW_PLAINTEXT_FALLBACK ?? false,
    allowPublicKeyRetrieval: e.ROTATOR_ALLOW_PUBLIC_KEY_RETRIEVAL ?? false,
    usernameCharacterLimit: e.USERNAME_CHARACTER_LIMIT,
    connectTimeoutMs: e.ROTATOR_CONNECT_TIMEOUT_MS ?? 5_000,
    statementTimeoutMs: e.ROTATOR_STATEMENT_TIMEOUT_MS ?? 15_000,
    logLevel: e.LOG_LEVEL ?? defaults.logLevel ?? 'info',
    retention: {
      safeWindowMs: e.ROTATOR_SAFE_WINDOW === undefined ? DEFAULT_RETENTION.safeWindowMs : parseDuration(e.ROTATOR_SAFE_WINDOW, 'ROTATOR_SAFE_WINDOW'),
      keepSuperseded: e.ROTATOR_KEEP_SUPERSEDED ?? DEFAULT_RETENTION.keepSuperseded,
    },
  };
}

/** One message naming every bad variable and what it must be; never the value, which may be a secret. */
export function envError(error: z.ZodError): RotatorError {
  const problems = error.issues.map((issue) => `${issue.path.join('.')}: ${issue.message}`).join('; ');
  return new RotatorError('INVALID_INPUT', `environment variables are invalid: ${problems}`);
}
