import { RotatorError } from '../../shared/errors.js';
import type { ServerInfo } from './session.js';

/**
 * What the rotator needs to know about the server it talks to, read once per session from
 * `SELECT VERSION(), @@SESSION.sql_mode`: which product and version (the password syntax, the user-name limit and
 * dual passwords depend on them) and whether string literals may use backslash escapes.
 */
type Version = readonly [number, number, number];

/**
 * Aurora MySQL reports its own release after the MySQL major.minor ("8.0.mysql_aurora.3.05.2"). Every Aurora
 * MySQL 3 release is compatible with MySQL 8.0.23 or later, every Aurora MySQL 2 release with 5.7.12.
 */
const AURORA_PATCH: Readonly<Record<string, number>> = { '8.0': 23, '5.7': 12 };

export function parseServerInfo(versionText: string, sqlMode: string): ServerInfo {
  const flavor = /mariadb/i.test(versionText) ? 'mariadb' : 'mysql';
  // MariaDB 10.x behind some proxies still reports the "5.5.5-" prefix its handshake uses for old clients.
  const text = flavor === 'mariadb' ? versionText.replace(/^5\.5\.5-(?=\d+\.\d+)/, '') : versionText;
  const match = /^(\d+)\.(\d+)(?:\.(\d+))?/.exec(text);
  if (match === null) {
    throw new RotatorError('TARGET_ERROR', `cannot read the server version from VERSION() = ${JSON.stringify(versionText.slice(0, 80))}; expected MySQL or MariaDB`);
  }
  const major = Number(match[1]);
  const minor = Number(match[2]);
  let patch = match[3] === undefined ? 0 : Number(match[3]);
  if (match[3] === undefined && /mysql_aurora/i.test(text)) patch = AURORA_PATCH[`${major}.${minor}`] ?? 0;
  const modes = sqlMode.toUpperCase().split(',').map((m) => m.trim());
  return { flavor, version: [major, minor, patch], versionText, noBackslashEscapes: modes.includes('NO_BACKSLASH_ESCAPES') };
}

export function atLeast(version: Version, major: number, minor: number, patch: number): boolean {
  const [a, b, c] = version;
  return a !== major ? a > major : b !== minor ? b > minor : c >= patch;
}

/** "MySQL 8.0.36" / "MariaDB 10.11.19", for messages. */
export function describeServer(server: ServerInfo): string {
  return `${server.flavor === 'mariadb' ? 'MariaDB' : 'MySQL'} ${server.version.join('.')}`;
}

/**
 * How a password reaches the server:
 * - `native-hash`: only the mysql_native_password hash computed here (MariaDB; MySQL before 8.0).
 * - `plaintext`: MySQL 8.0+, whose default caching_sha2_password stores salted hashes that cannot be computed
 *   portably on the client. The statement carries the password (over TLS unless the secret says "ssl": false);
 *   MySQL rewrites it out of its general, slow and binary logs.
 */
export type PasswordTransport = 'native-hash' | 'plaintext';

export function passwordTransport(server: ServerInfo): PasswordTransport {
  return server.flavor === 'mysql' && server.version[0] >= 8 ? 'plaintext' : 'native-hash';
}

/** `ALTER USER ... RETAIN CURRENT PASSWORD` exists from MySQL 8.0.14; MariaDB has no dual passwords. */
export function supportsDualPassword(server: ServerInfo): boolean {
  return server.flavor === 'mysql' && atLeast(server.version, 8, 0, 14);
}

/** `REPLACE '<current>'` (password verification) exists from MySQL 8.0.13. */
export function supportsReplaceClause(server: ServerInfo): boolean {
  return server.flavor === 'mysql' && atLeast(server.version, 8, 0, 13);
}

/**
 * The longest user name the server keeps, in characters: MariaDB documents 80 (10.6 and later accept up to 128,
 * which USERNAME_CHARACTER_LIMIT can allow), MySQL 32 from 5.7.8, 16 before.
 */
export function serverUsernameLimit(server: ServerInfo): number {
  if (server.flavor === 'mariadb') return MARIADB_USERNAME_LIMIT;
  return atLeast(server.version, 5, 7, 8) ? MYSQL_USERNAME_LIMIT : MYSQL_56_USERNAME_LIMIT;
}

export const MARIADB_USERNAME_LIMIT = 80;
export const MYSQL_USERNAME_LIMIT = 32;
export const MYSQL_56_USERNAME_LIMIT = 16;
