import { RotatorError } from '../../shared/errors.js';
import { describeServer, passwordTransport, supportsDualPassword, supportsReplaceClause, atLeast } from './server-info.js';
import type { Account, ServerInfo } from './session.js';
import { account, literal } from './sql.js';

/**
 * The statements the MySQL/MariaDB rotator runs, built for the server the session found (see server-info.ts).
 * Account-management statements cannot take bind parameters, so names are quoted with sql.ts and passwords or
 * hashes written as literals for the session's sql_mode. A statement that carries a password or a hash lists it
 * in `sensitive`: its text and the server's echo of it never reach an error message, a log line or an error's
 * cause; `label` says what it does without the secret.
 */
export interface Statement {
  label: string;
  sql: string;
  values?: readonly unknown[];
  sensitive?: readonly string[];
}

/** A password and its mysql_native_password hash (see password-hash.ts), both registered with the redactor. */
export interface PasswordMaterial {
  password: string;
  hash: string;
}

export const probe: Statement = { label: 'SELECT 1', sql: 'SELECT 1' };

/** One round trip after login: what the server is, how to quote for it, and which account it logged us in as. */
export const detectServer: Statement = {
  label: 'detect the server version and sql_mode',
  sql: 'SELECT VERSION() AS version, @@SESSION.sql_mode AS sql_mode, CURRENT_USER() AS account',
};

/**
 * Server-side bounds for this session, so a statement stuck behind a lock ends with a clean error before the
 * client gives up: lock_wait_timeout (both, whole seconds; what ALTER USER waits on) and, on MariaDB,
 * max_statement_time (seconds, fractional).
 */
export function sessionTimeouts(server: ServerInfo, statementTimeoutMs: number): Statement {
  const seconds = Math.max(1, Math.ceil(statementTimeoutMs / 1000));
  const sql =
    server.flavor === 'mariadb'
      ? `SET SESSION lock_wait_timeout = ${seconds}, SESSION max_statement_time = ${(statementTimeoutMs / 1000).toFixed(3)}`
      : `SET SESSION lock_wait_timeout = ${seconds}`;
  return { label: 'SET SESSION lock_wait_timeout', sql };
}

/** Every host pattern the user has an account on ('app'@'%', 'app'@'10.0.%', ...). Needs SELECT on mysql.user. */
export function accountHosts(user: string): Statement {
  return { label: 'look up the accounts of the user in mysql.user', sql: 'SELECT Host AS host FROM mysql.user WHERE User = ? ORDER BY Host', values: [user] };
}

/**
 * Changes the password of the account the session logged in as, which is all an unprivileged user may do:
 * - MariaDB (and MySQL before 5.7.6): `SET PASSWORD = '<hash>'` takes the hash, so the plaintext stays here.
 * - MySQL 5.7.6+ and 8: only `IDENTIFIED BY '<plaintext>'` is open to an account without CREATE USER (5.7 refuses
 *   `IDENTIFIED WITH ... AS '<hash>'` for it), so the password travels (over TLS unless "ssl": false) and MySQL
 *   rewrites it out of its logs. From 8.0.13 `REPLACE '<current>'` proves the current password, which servers with
 *   password_require_current demand; `current` is the password this session logged in with.
 */
export function setOwnPassword(server: ServerInfo, next: PasswordMaterial, current: string): Statement {
  if (server.flavor === 'mariadb' || !atLeast(server.version, 5, 7, 6)) {
    return { label: 'SET PASSWORD (own account, native hash)', sql: `SET PASSWORD = ${literal(next.hash, server)}`, sensitive: [next.hash] };
  }
  if (supportsReplaceClause(server)) {
    return {
      label: 'ALTER USER USER() IDENTIFIED BY ... REPLACE',
      sql: `ALTER USER USER() IDENTIFIED BY ${literal(next.password, server)} REPLACE ${literal(current, server)}`,
      sensitive: [next.password, current],
    };
  }
  return { label: 'ALTER USER USER() IDENTIFIED BY', sql: `ALTER USER USER() IDENTIFIED BY ${literal(next.password, server)}`, sensitive: [next.password] };
}

/**
 * The authentication clause of CREATE USER for a new account with this password (what grants.ts's copyAccount
 * puts after the account name).
 */
export function createIdentifiedBy(server: ServerInfo, next: PasswordMaterial): string {
  if (server.flavor === 'mariadb' || !atLeast(server.version, 5, 7, 6)) return `IDENTIFIED BY PASSWORD ${literal(next.hash, server)}`;
  if (passwordTransport(server) === 'native-hash') return `IDENTIFIED WITH mysql_native_password AS ${literal(next.hash, server)}`;
  return `IDENTIFIED BY ${literal(next.password, server)}`;
}

/**
 * Sets the password of another account (the master's statements): the hash on MariaDB and MySQL before 8.0, the
 * plaintext on MySQL 8 (which keeps the account's plugin). `retainCurrent` keeps the old password working as the
 * secondary one (MySQL 8.0.14+, dual-password); the next rotation's RETAIN replaces it, and the purger can end it
 * sooner with discardOldPassword.
 */
export function alterAccountPassword(server: ServerInfo, targets: readonly Account[], next: PasswordMaterial, options: { retainCurrent?: boolean } = {}): Statement[] {
  if (targets.length === 0) throw new RotatorError('INTERNAL', 'alterAccountPassword needs at least one account');
  const names = targets.map(account);
  // One ALTER USER names every account, so a run that dies cannot leave some accounts of the user with the old
  // password and others with the new one (MySQL 8 applies it atomically; the server finishes a statement even
  // when the client is gone). SET PASSWORD takes one account, so servers that need it get one statement each.
  const alterUser = (label: string, clause: (name: string) => string, sensitive: string): Statement[] => [
    { label: `ALTER USER ${names.join(', ')} ${label}`, sql: `ALTER USER ${names.map(clause).join(', ')}`, sensitive: [sensitive] },
  ];
  const setPassword = (): Statement[] =>
    names.map((name) => ({ label: `SET PASSWORD FOR ${name}`, sql: `SET PASSWORD FOR ${name} = ${literal(next.hash, server)}`, sensitive: [next.hash] }));
  if (options.retainCurrent === true) {
    if (!supportsDualPassword(server)) {
      throw new RotatorError('UNSUPPORTED_ENGINE', `${describeServer(server)} has no dual passwords (RETAIN CURRENT PASSWORD needs MySQL 8.0.14 or later)`);
    }
    return alterUser('IDENTIFIED BY ... RETAIN CURRENT PASSWORD', (name) => `${name} IDENTIFIED BY ${literal(next.password, server)} RETAIN CURRENT PASSWORD`, next.password);
  }
  if (server.flavor === 'mariadb') {
    // ALTER USER exists from MariaDB 10.2; SET PASSWORD FOR takes the same hash on every version.
    return atLeast(server.version, 10, 2, 0)
      ? alterUser('IDENTIFIED BY PASSWORD', (name) => `${name} IDENTIFIED BY PASSWORD ${literal(next.hash, server)}`, next.hash)
      : setPassword();
  }
  if (!atLeast(server.version, 5, 7, 6)) return setPassword();
  if (passwordTransport(server) === 'native-hash') {
    return alterUser('IDENTIFIED WITH mysql_native_password AS', (name) => `${name} IDENTIFIED WITH mysql_native_password AS ${literal(next.hash, server)}`, next.hash);
  }
  return alterUser('IDENTIFIED BY', (name) => `${name} IDENTIFIED BY ${literal(next.password, server)}`, next.password);
}

/**
 * Ends the secondary password RETAIN CURRENT PASSWORD kept (the purger's revoke for dual-password secrets), on every
 * account of the user in one statement, as alterAccountPassword does, so no account keeps its old password.
 */
export function discardOldPassword(server: ServerInfo, targets: readonly Account[]): Statement {
  if (!supportsDualPassword(server)) {
    throw new RotatorError('UNSUPPORTED_ENGINE', `${describeServer(server)} has no dual passwords, so there is no old password to discard`);
  }
  if (targets.length === 0) throw new RotatorError('INTERNAL', 'discardOldPassword needs at least one account');
  const text = `ALTER USER ${targets.map((t) => `${account(t)} DISCARD OLD PASSWORD`).join(', ')}`;
  return { label: text, sql: text };
}
