import { readFileSync } from 'node:fs';
import { Client, escapeIdentifier, escapeLiteral } from 'pg';
import { scramSha256Verifier } from '../../rotators/postgres/scram.js';
import type { ProvidedPostgres } from './global-setup.js';

/**
 * Direct access to the test cluster, independent of the rotator's own connection code, so tests check the
 * rotator's effects with a second opinion.
 */
export interface PostgresAdmin {
  ca: Buffer;
  admin: <T>(run: (client: Client) => Promise<T>) => Promise<T>;
  /** Creates a role; its password reaches the server only as a verifier, like the rotator's. */
  createRole: (name: string, password: string, options?: string) => Promise<void>;
  roleExists: (name: string) => Promise<boolean>;
  /** True when the login works, false when the server refuses the password; throws on anything else. */
  logsIn: (user: string, password: string, probe?: string) => Promise<boolean>;
}

export function postgresAdmin(pg: ProvidedPostgres): PostgresAdmin {
  const ca = readFileSync(pg.caFile);
  const connect = async (user: string, password: string): Promise<Client> => {
    const client = new Client({ host: pg.host, port: pg.port, user, password, database: 'postgres', ssl: { ca, rejectUnauthorized: true } });
    await client.connect();
    return client;
  };

  const admin = async <T>(run: (client: Client) => Promise<T>): Promise<T> => {
    const client = await connect(pg.superuser, pg.superuserPassword);
    try {
      return await run(client);
    } finally {
      await client.end();
    }
  };

  return {
    ca,
    admin,
    async createRole(name, password, options = 'LOGIN') {
      await admin((c) => c.query(`CREATE ROLE ${escapeIdentifier(name)} WITH ${options} PASSWORD ${escapeLiteral(scramSha256Verifier(password))}`));
    },
    async roleExists(name) {
      return admin(async (c) => (await c.query('SELECT 1 FROM pg_roles WHERE rolname = $1', [name])).rows.length === 1);
    },
    async logsIn(user, password, probe = 'SELECT 1') {
      let client: Client;
      try {
        client = await connect(user, password);
      } catch (error) {
        if ((error as { code?: string }).code === '28P01') return false;
        throw error;
      }
      try {
        await client.query(probe);
        return true;
      } finally {
        await client.end();
      }
    },
  };
}
