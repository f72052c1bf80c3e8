import * as z from 'zod';
import { alternateUsername, CLONE_SUFFIX } from '../../shared/alternate-user.js';
import { RotatorError } from '../../shared/errors.js';
import { booleanish, databaseSecretSchema, noControlCharacters, validateSecret, type SecretObject } from '../../shared/secret.js';
import { MARIADB_USERNAME_LIMIT, MYSQL_USERNAME_LIMIT } from './server-info.js';

/** Values of the secret's `engine` key this rotator serves (what RDS writes for MySQL, Aurora MySQL and MariaDB). */
export const MYSQL_ENGINES = ['mysql', 'aurora-mysql', 'mariadb'] as const;
export type MysqlEngine = (typeof MYSQL_ENGINES)[number];

export const DEFAULT_PORT = 3306;

/** The most any supported server keeps (MariaDB 10.6+); USERNAME_CHARACTER_LIMIT may not exceed it. */
export const MAX_USERNAME_CHARACTER_LIMIT = 128;

export const mysqlSecretSchema = databaseSecretSchema.extend({
  engine: z.enum(MYSQL_ENGINES, { error: () => `must be one of ${MYSQL_ENGINES.join(', ')}` }),
  // Control characters are refused like in every connection field; the length is checked per server below.
  username: noControlCharacters(z.string().min(1)),
  /**
   * Lets the client fetch the server's RSA public key to send the password over a plaintext connection (MySQL 8's
   * caching_sha2_password, sha256_password). Off by default: whoever sits in the middle can hand over their own key.
   */
  allowPublicKeyRetrieval: booleanish.optional(),
});

/** A validated MySQL/MariaDB secret with the defaults applied (port 3306; no default database unless `dbname`). */
export interface MysqlSecret {
  engine: MysqlEngine;
  host: string;
  port: number;
  username: string;
  password: string;
  dbname: string | undefined;
  masterarn: string | undefined;
  /** true: verified TLS; false: plaintext; undefined: verified TLS, plaintext only by explicit fallback option. */
  ssl: boolean | undefined;
  allowPublicKeyRetrieval: boolean;
}

/** Characters as MySQL counts them in user names (code points). */
export function usernameLength(name: string): number {
  return [...name].length;
}

/** The limit a secret's engine implies before the server is known: 80 for `mariadb`, 32 for MySQL and Aurora MySQL. */
export function engineUsernameLimit(engine: MysqlEngine): number {
  return engine === 'mariadb' ? MARIADB_USERNAME_LIMIT : MYSQL_USERNAME_LIMIT;
}

/** INVALID_SECRET when `username` is longer than `limit` characters. */
export function checkUsernameLength(username: string, limit: number, what: string, where: string): void {
  const length = usernameLength(username);
  if (length > limit) {
    throw new RotatorError(
      'INVALID_SECRET',
      `${what} is invalid: username: must be at most ${limit} characters (${where}); it has ${length}. Longer names are refused rather than truncated, which could name another user. Set USERNAME_CHARACTER_LIMIT if the server keeps longer names`,
    );
  }
}

/**
 * Validates `value` and applies the defaults; INVALID_SECRET names each bad key of `what`, never a value.
 * `usernameCharacterLimit` replaces the limit the engine implies (see engineUsernameLimit).
 */
export function parseMysqlSecret(value: SecretObject, what: string, usernameCharacterLimit?: number): MysqlSecret {
  const s = validateSecret(mysqlSecretSchema, value, what);
  const limit = usernameCharacterLimit ?? engineUsernameLimit(s.engine);
  checkUsernameLength(s.username, limit, what, usernameCharacterLimit === undefined ? `the ${s.engine} limit` : 'USERNAME_CHARACTER_LIMIT');
  return {
    engine: s.engine,
    host: s.host,
    port: s.port ?? DEFAULT_PORT,
    username: s.username,
    password: s.password,
    dbname: s.dbname,
    masterarn: s.masterarn,
    ssl: s.ssl,
    allowPublicKeyRetrieval: s.allowPublicKeyRetrieval ?? false,
  };
}

/** The alternate of `username`, refused when it would be longer than `limit` characters. */
export function checkedAlternateUsername(username: string, limit: number, what: string): string {
  const next = alternateUsername(username);
  const length = usernameLength(next);
  if (length > limit) {
    throw new RotatorError(
      'INVALID_SECRET',
      `${what} is invalid: username: its alternate user (the name with "${CLONE_SUFFIX}" appended) would be ${length} characters, over the limit of ${limit}; use a name of at most ${limit - CLONE_SUFFIX.length} characters for alternating users`,
    );
  }
  return next;
}
