import { randomBytes } from 'node:crypto';
import mysql from 'mysql2/promise';
import pg from 'pg';
import type { SecretObject } from '../shared/secret.js';
import { scramSha256Verifier } from '../rotators/postgres/index.js';
import { mysqlNativePasswordHash } from '../rotators/mysql/password-hash.js';

/**
 * The local database servers the demo and the benchmark rotate throwaway users on, reached as an admin
 * through the clients' usual environment variables: PGHOST, PGPORT, PGUSER, PGPASSWORD, PGDATABASE for
 * PostgreSQL, and MYSQL_HOST, MYSQL_TCP_PORT, MYSQL_USER, MYSQL_PWD for MariaDB/MySQL. Passwords reach the
 * servers only as verifiers or hashes, like the rotators send them.
 */
export const LOCAL_ENGINES = ['postgres', 'mariadb'] as const;
export type LocalEngine = (typeof LOCAL_ENGINES)[number];

export interface LocalDatabase {
  engine: LocalEngine;
  /** host:port, for messages. */
  where: string;
  /** Creates a login user; `master` may create users and grant them what `grants` lists. */
  createUser(name: string, password: string, options?: { masterOf?: string }): Promise<void>;
  dropUsers(names: readonly string[]): Promise<void>;
  /** A secret in the RDS JSON format for the user, plaintext because local servers rarely have a trusted certificate. */
  secret(username: string, password: string, extra?: SecretObject): SecretObject;
  /** Logs in as the user and returns who the server says it is. */
  whoAmI(username: string, password: string): Promise<string>;
  close(): Promise<void>;
}

export async function connectLocal(engine: LocalEngine, env: NodeJS.ProcessEnv): Promise<LocalDatabase> {
  return engine === 'postgres' ? connectPostgres(env) : connectMariadb(env);
}

/** A suffix that keeps concurrent demo and benchmark runs from colliding. */
export function uniqueSuffix(): string {
  return randomBytes(4).toString('hex');
}

export function throwawayPassword(): string {
  return randomBytes(18).toString('base64url');
}

function port(value: string | undefined, fallback: number, name: string): number {
  const n = Number(value ?? String(fallback));
  if (!Number.isInteger(n) || n < 1 || n > 65_535) throw new Error(`${name} is "${value ?? ''}"; use a port number`);
  return n;
}

function unreachable(what: string, user: string, where: string, error: unknown, hint: string): Error {
  const reason = (error as NodeJS.ErrnoException).code ?? (error as Error).message;
  return new Error(`cannot reach ${what} as ${user} at ${where} (${reason}).\n${hint}`, { cause: error });
}

async function connectPostgres(env: NodeJS.ProcessEnv): Promise<LocalDatabase> {
  const target = {
    host: env.PGHOST ?? '127.0.0.1',
    port: port(env.PGPORT, 5432, 'PGPORT'),
    user: env.PGUSER ?? 'postgres',
    password: env.PGPASSWORD,
    database: env.PGDATABASE ?? 'postgres',
  };
  const where = `${target.host}:${target.port}`;
  const admin = new pg.Client({ ...target, connectionTimeoutMillis: 5_000, application_name: 'rotator-demo' });
  try {
    await admin.connect();
  } catch (error) {
    throw unreachable(
      'PostgreSQL',
      target.user,
      where,
      error,
      'Start a local server (Debian: pg_ctlcluster 15 main start) or point PGHOST, PGPORT, PGUSER, PGPASSWORD\n' +
        'and PGDATABASE at one where that user may CREATE ROLE.',
    );
  }
  const id = pg.escapeIdentifier;
  return {
    engine: 'postgres',
    where,
    async createUser(name, password, options = {}) {
      const verifier = pg.escapeLiteral(scramSha256Verifier(password));
      await admin.query(`CREATE ROLE ${id(name)} LOGIN ${options.masterOf === undefined ? '' : 'CREATEROLE '}PASSWORD ${verifier}`);
      // PostgreSQL 16+ lets a CREATEROLE role grant only roles it has ADMIN OPTION on; 15 and older ignore this.
      if (options.masterOf !== undefined) await admin.query(`GRANT ${id(options.masterOf)} TO ${id(name)} WITH ADMIN OPTION`);
    },
    async dropUsers(names) {
      for (const name of names) await admin.query(`DROP ROLE IF EXISTS ${id(name)}`);
    },
    secret: (username, password, extra = {}) => ({
      engine: 'postgres',
      host: target.host,
      port: target.port,
      username,
      password,
      dbname: target.database,
      ssl: false,
      ...extra,
    }),
    async whoAmI(username, password) {
      const client = new pg.Client({ ...target, user: username, password, connectionTimeoutMillis: 5_000 });
      await client.connect();
      try {
        const { rows } = await client.query<{ user: string }>('SELECT current_user AS user');
        return rows[0]?.user ?? '?';
      } finally {
        await client.end();
      }
    },
    close: () => admin.end(),
  };
}

async function connectMariadb(env: NodeJS.ProcessEnv): Promise<LocalDatabase> {
  const target = {
    host: env.MYSQL_HOST ?? '127.0.0.1',
    port: port(env.MYSQL_TCP_PORT, 3306, 'MYSQL_TCP_PORT'),
    user: env.MYSQL_USER ?? 'root',
    password: env.MYSQL_PWD ?? '',
  };
  const where = `${target.host}:${target.port}`;
  let admin: mysql.Connection;
  try {
    admin = await mysql.createConnection({ ...target, connectTimeout: 5_000 });
  } catch (error) {
    throw unreachable(
      'MariaDB/MySQL',
      target.user,
      where,
      error,
      'Start a local server (Debian: service mariadb start) or point MYSQL_HOST, MYSQL_TCP_PORT, MYSQL_USER and\n' +
        'MYSQL_PWD at one where that user may CREATE USER and GRANT.',
    );
  }
  // Every user the demo creates can read this schema; the master may hand that right on.
  const schema = `rotator_demo_${uniqueSuffix()}`;
  await admin.query(`CREATE DATABASE ${mysql.escapeId(schema)}`);
  await admin.query(`CREATE TABLE ${mysql.escapeId(schema)}.greeting (text VARCHAR(40))`);
  await admin.query(`INSERT INTO ${mysql.escapeId(schema)}.greeting VALUES ('hello from the demo schema')`);
  const account = (name: string): string => `${mysql.escapeId(name)}@'%'`;
  return {
    engine: 'mariadb',
    where,
    async createUser(name, password, options = {}) {
      await admin.query(`CREATE USER ${account(name)} IDENTIFIED BY PASSWORD '${mysqlNativePasswordHash(password)}'`);
      if (options.masterOf === undefined) {
        await admin.query(`GRANT SELECT ON ${mysql.escapeId(schema)}.* TO ${account(name)}`);
      } else {
        // What alternating-users needs from a master: create users, read grants, and hold what it grants.
        await admin.query(`GRANT CREATE USER ON *.* TO ${account(name)}`);
        await admin.query(`GRANT SELECT ON mysql.* TO ${account(name)}`);
        await admin.query(`GRANT SELECT ON ${mysql.escapeId(schema)}.* TO ${account(name)} WITH GRANT OPTION`);
      }
    },
    async dropUsers(names) {
      for (const name of names) await admin.query(`DROP USER IF EXISTS ${account(name)}`);
    },
    secret: (username, password, extra = {}) => ({ engine: 'mariadb', host: target.host, port: target.port, username, password, ssl: false, ...extra }),
    async whoAmI(username, password) {
      const client = await mysql.createConnection({ host: target.host, port: target.port, user: username, password, connectTimeout: 5_000 });
      try {
        const [rows] = await client.query<mysql.RowDataPacket[]>(`SELECT CURRENT_USER() AS user, (SELECT text FROM ${mysql.escapeId(schema)}.greeting) AS greeting`);
        return `${String(rows[0]?.user)} (reads "${String(rows[0]?.greeting)}")`;
      } finally {
        await client.end();
      }
    },
    async close() {
      await admin.query(`DROP DATABASE IF EXISTS ${mysql.escapeId(schema)}`);
      await admin.end();
    },
  };
}
