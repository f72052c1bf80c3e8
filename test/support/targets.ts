import { inject } from 'vitest';
import type { Rotator } from '../../shared/rotator.js';
import type { SecretObject } from '../../shared/secret.js';
import type { Strategy } from '../../shared/store.js';
import { createMysqlRotator } from '../../rotators/mysql/index.js';
import { createPostgresRotator } from '../../rotators/postgres/index.js';
import { mariadbAdmin, quoteAccount } from './mariadb-admin.js';
import { postgresAdmin } from './postgres-admin.js';

/**
 * The real database servers of the test run, behind one face, so a test of the engine's guarantees (crash and
 * resume, locking) runs unchanged against each: users are made by the admin, logins are checked by the plain
 * driver, and secrets use verified TLS with the test CA.
 */
export interface TestTarget {
  engine: 'postgres' | 'mariadb';
  /** The strategies the server supports (MariaDB has no dual passwords). */
  strategies: readonly Strategy[];
  /** The CA that signed the server's certificate. */
  caFile: string;
  rotator(): Rotator;
  /** A login user, or with `master` one that may create users and set their passwords. */
  createUser(name: string, password: string, options?: { master?: boolean }): Promise<void>;
  logsIn(user: string, password: string): Promise<boolean>;
  secret(username: string, password: string, extra?: SecretObject): SecretObject;
}

export function testTargets(): TestTarget[] {
  const pg = inject('postgres');
  const maria = inject('mariadb');
  const pgAdmin = postgresAdmin(pg);
  const mariaAdmin = mariadbAdmin(maria);
  return [
    {
      engine: 'postgres',
      strategies: ['single-user', 'alternating-users'],
      caFile: pg.caFile,
      rotator: () => createPostgresRotator({ tls: { ca: pgAdmin.ca } }),
      createUser: (name, password, options = {}) => pgAdmin.createRole(name, password, options.master === true ? 'LOGIN CREATEROLE' : 'LOGIN'),
      logsIn: pgAdmin.logsIn,
      secret: (username, password, extra = {}) => ({ engine: 'postgres', host: pg.host, port: pg.port, username, password, dbname: 'postgres', ssl: true, ...extra }),
    },
    {
      engine: 'mariadb',
      strategies: ['single-user', 'alternating-users'],
      caFile: maria.caFile,
      rotator: () => createMysqlRotator({ tls: { ca: mariaAdmin.ca } }),
      async createUser(name, password, options = {}) {
        await mariaAdmin.createUser(name, password);
        if (options.master === true) {
          // What alternating-users needs from a master: create users and read their grants.
          await mariaAdmin.admin(async (c) => {
            await c.query(`GRANT CREATE USER ON *.* TO ${quoteAccount(name, '%')}`);
            await c.query(`GRANT SELECT ON mysql.* TO ${quoteAccount(name, '%')}`);
          });
        }
      },
      logsIn: (user, password) => mariaAdmin.logsIn(user, password),
      secret: (username, password, extra = {}) => ({ engine: 'mariadb', host: maria.host, port: maria.port, username, password, ssl: true, ...extra }),
    },
  ];
}
