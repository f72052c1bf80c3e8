import * as z from 'zod';
import { CLONE_SUFFIX, alternateUsername } from '../../shared/alternate-user.js';
import { RotatorError } from '../../shared/errors.js';
import { databaseSecretSchema, noControlCharacters, validateSecret, type SecretObject } from '../../shared/secret.js';

export { CLONE_SUFFIX, alternateUsername } from '../../shared/alternate-user.js';

/** Values of the secret's `engine` key this rotator serves (what RDS writes for PostgreSQL and Aurora PostgreSQL). */
export const POSTGRES_ENGINES = ['postgres', 'aurora-postgresql'] as const;

/** NAMEDATALEN - 1: PostgreSQL silently truncates longer identifiers, so a longer name could alter another role. */
export const MAX_IDENTIFIER_BYTES = 63;

export const DEFAULT_PORT = 5432;
export const DEFAULT_DBNAME = 'postgres';

export function identifierBytes(name: string): number {
  return Buffer.byteLength(name, 'utf8');
}

// Control characters are refused like in every connection field (a NUL would end the name in the startup packet).
const roleName = noControlCharacters(z.string().min(1)).refine(
    (s) => identifierBytes(s) <= MAX_IDENTIFIER_BYTES,
    `must be at most ${MAX_IDENTIFIER_BYTES} bytes in UTF-8 (PostgreSQL truncates longer names, which could name another role)`,
  );

export const postgresSecretSchema = databaseSecretSchema.extend({
  engine: z.enum(POSTGRES_ENGINES, { error: () => `must be one of ${POSTGRES_ENGINES.join(', ')}` }),
  username: roleName,
});

/** A validated PostgreSQL secret with the defaults applied (port 5432, dbname postgres). */
export interface PostgresSecret {
  engine: (typeof POSTGRES_ENGINES)[number];
  host: string;
  port: number;
  username: string;
  password: string;
  dbname: string;
  masterarn: string | undefined;
  /** true: verified TLS; false: plaintext; undefined: verified TLS, plaintext only by explicit fallback option. */
  ssl: boolean | undefined;
}

/** Validates `value` and applies the defaults; INVALID_SECRET names each bad key of `what`, never a value. */
export function parsePostgresSecret(value: SecretObject, what: string): PostgresSecret {
  const s = validateSecret(postgresSecretSchema, value, what);
  return {
    engine: s.engine,
    host: s.host,
    port: s.port ?? DEFAULT_PORT,
    username: s.username,
    password: s.password,
    dbname: s.dbname ?? DEFAULT_DBNAME,
    masterarn: s.masterarn,
    ssl: s.ssl,
  };
}

/** The alternate of `username`, refused when it would be longer than PostgreSQL keeps. */
export function checkedAlternateUsername(username: string, what: string): string {
  const next = alternateUsername(username);
  if (identifierBytes(next) > MAX_IDENTIFIER_BYTES) {
    throw new RotatorError(
      'INVALID_SECRET',
      `${what} is invalid: username: its alternate user (the name with "${CLONE_SUFFIX}" appended) would be ${identifierBytes(next)} bytes, over PostgreSQL's ${MAX_IDENTIFIER_BYTES}-byte limit; use a name of at most ${MAX_IDENTIFIER_BYTES - CLONE_SUFFIX.length} bytes for alternating users`,
    );
  }
  return next;
}
