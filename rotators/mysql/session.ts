/**
 * What the MySQL/MariaDB rotator's modules share: the server they talk to, an account, and a session that runs
 * statements. connect.ts opens sessions; sql.ts builds statements for the session's server and sql_mode.
 */
export type Flavor = 'mysql' | 'mariadb';

export interface ServerInfo {
  flavor: Flavor;
  /** [major, minor, patch] from SELECT VERSION(). */
  version: readonly [number, number, number];
  /** The raw VERSION() string, e.g. "10.11.19-MariaDB-0+deb12u1" or "8.0.36". */
  versionText: string;
  /** The session's sql_mode has NO_BACKSLASH_ESCAPES: string literals must not use backslash escapes. */
  noBackslashEscapes: boolean;
}

/** A MySQL account is a user name and a host pattern: 'app'@'%' and 'app'@'10.0.%' are different accounts. */
export interface Account {
  user: string;
  host: string;
}

export interface MysqlSession {
  readonly server: ServerInfo;
  /**
   * Runs one statement. `values` are bound as parameters where the statement allows it; DDL and DCL cannot
   * take parameters, so those are built with sql.ts. `sensitive` strings (passwords, hashes) are withheld from
   * any error the statement produces.
   */
  query<T = Record<string, unknown>>(statement: string, options?: { values?: readonly unknown[]; sensitive?: readonly string[] }): Promise<T[]>;
}
