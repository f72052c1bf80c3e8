import { randomBytes } from 'node:crypto';
import pg from 'pg';

/**
 * The admin connection the demo and the benchmark use to create throwaway roles, from the usual libpq
 * variables (PGHOST, PGPORT, PGUSER, PGPASSWORD, PGDATABASE) with defaults for a local server.
 */
export interface LocalPostgres {
  host: string;
  port: number;
  user: string;
  password: string | undefined;
  database: string;
}

export function localPostgresFromEnv(env: NodeJS.ProcessEnv): LocalPostgres {
  const port = Number(env.PGPORT ?? '5432');
  if (!Number.isInteger(port) || port < 1 || port > 65_535) throw new Error(`PGPORT is "${env.PGPORT ?? ''}"; use a port number`);
  return {
    host: env.PGHOST ?? '127.0.0.1',
    port,
    user: env.PGUSER ?? 'postgres',
    password: env.PGPASSWORD,
    database: env.PGDATABASE ?? 'postgres',
  };
}

/** Connects as the admin, or explains how to get a server when none answers. */
export async function connectAdmin(target: LocalPostgres): Promise<pg.Client> {
  const client = new pg.Client({ ...target, connectionTimeoutMillis: 5_000, application_name: 'rotator-demo' });
  try {
    await client.connect();
    return client;
  } catch (error) {
    const reason = (error as NodeJS.ErrnoException).code ?? (error as Error).message;
    throw new Error(
      `cannot reach PostgreSQL as ${target.user} at ${target.host}:${target.port} (${reason}).\n` +
        'Start a local server (Debian: pg_ctlcluster 15 main start) or point PGHOST, PGPORT, PGUSER, PGPASSWORD\n' +
        'and PGDATABASE at one where that user may CREATE ROLE.',
      { cause: error },
    );
  }
}

/** A suffix that keeps concurrent demo and benchmark runs from colliding. */
export function uniqueSuffix(): string {
  return randomBytes(4).toString('hex');
}

export function throwawayPassword(): string {
  return randomBytes(18).toString('base64url');
}
