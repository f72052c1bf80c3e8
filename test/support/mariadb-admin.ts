import { readFileSync } from 'node:fs';
import mysql from 'mysql2/promise';
import { mysqlNativePasswordHash } from '../../rotators/mysql/password-hash.js';
import type { ProvidedMariadb } from './global-setup.js';

/**
 * Direct access to the test MariaDB, independent of the rotator's own connection code, so tests check the
 * rotator's effects with a second opinion. Passwords reach the server only as mysql_native_password hashes, so
 * the general log a test reads holds no plaintext the tests wrote themselves.
 */
export interface MariadbAdmin {
  ca: Buffer;
  admin: <T>(run: (connection: mysql.Connection) => Promise<T>) => Promise<T>;
  /** Creates `name` on each host (default '%') with the password. */
  createUser: (name: string, password: string, hosts?: readonly string[]) => Promise<void>;
  /** The hosts `name` has accounts on, sorted. */
  accountHosts: (name: string) => Promise<string[]>;
  /** The stored authentication string of one account. */
  storedHash: (name: string, host?: string) => Promise<string | undefined>;
  dropUser: (name: string) => Promise<void>;
  /** True when the login works, false when the server refuses the password; throws on anything else. */
  logsIn: (user: string, password: string, probe?: string) => Promise<boolean>;
}

export function quoteAccount(user: string, host: string): string {
  return `${mysql.escapeId(user, true)}@${mysql.escapeId(host, true)}`;
}

export function mariadbAdmin(db: ProvidedMariadb): MariadbAdmin {
  const ca = readFileSync(db.caFile);
  const connect = (user: string, password: string): Promise<mysql.Connection> =>
    mysql.createConnection({ host: db.host, port: db.port, user, password, ssl: { ca, rejectUnauthorized: true, verifyIdentity: true } });

  const admin = async <T>(run: (connection: mysql.Connection) => Promise<T>): Promise<T> => {
    const connection = await connect(db.rootUser, db.rootPassword);
    try {
      return await run(connection);
    } finally {
      await connection.end();
    }
  };

  const accountHosts = (name: string): Promise<string[]> =>
    admin(async (c) => {
      const [rows] = await c.execute<mysql.RowDataPacket[]>('SELECT Host AS host FROM mysql.user WHERE User = ? ORDER BY Host', [name]);
      return rows.map((r) => String(r.host));
    });

  return {
    ca,
    admin,
    async createUser(name, password, hosts = ['%']) {
      const hash = mysqlNativePasswordHash(password);
      await admin(async (c) => {
        for (const host of hosts) await c.query(`CREATE USER ${quoteAccount(name, host)} IDENTIFIED BY PASSWORD '${hash}'`);
      });
    },
    accountHosts,
    async storedHash(name, host = '%') {
      return admin(async (c) => {
        const [rows] = await c.execute<mysql.RowDataPacket[]>('SELECT authentication_string AS hash FROM mysql.user WHERE User = ? AND Host = ?', [name, host]);
        const hash: unknown = rows[0]?.hash;
        return typeof hash === 'string' ? hash : undefined;
      });
    },
    async dropUser(name) {
      const hosts = await accountHosts(name);
      await admin(async (c) => {
        for (const host of hosts) await c.query(`DROP USER ${quoteAccount(name, host)}`);
      });
    },
    async logsIn(user, password, probe = 'SELECT 1') {
      let connection: mysql.Connection;
      try {
        connection = await connect(user, password);
      } catch (error) {
        if ((error as { errno?: number }).errno === 1045) return false;
        throw error;
      }
      try {
        await connection.query(probe);
        return true;
      } finally {
        await connection.end();
      }
    },
  };
}
