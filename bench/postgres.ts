import pg from 'pg';
import { startScramCluster, type ScramCluster } from '../test/support/postgres-cluster.js';

export interface BenchPostgres {
  cluster: ScramCluster;
  /** Connected as the superuser. */
  admin: pg.Client;
  version: string;
  /** Closes the admin connection and stops the cluster. */
  stop: () => Promise<void>;
}

/**
 * The benchmarks' PostgreSQL: a throwaway cluster that enforces scram-sha-256 (test/support/postgres-cluster.ts), with
 * statement logging off. The test suite logs every statement to prove that no plaintext password reaches the server;
 * in a benchmark that would only measure the disk.
 */
export async function startBenchPostgres(): Promise<BenchPostgres> {
  const cluster = await startScramCluster();
  const admin = new pg.Client({ host: cluster.host, port: cluster.port, user: cluster.superuser, password: cluster.superuserPassword, database: 'postgres' });
  try {
    await admin.connect();
    await admin.query(`ALTER SYSTEM SET log_statement = 'none'`);
    await admin.query('SELECT pg_reload_conf()');
    const version = (await admin.query<{ v: string }>("SELECT current_setting('server_version') AS v")).rows[0]?.v ?? '?';
    return { cluster, admin, version, stop: async () => { await admin.end(); await cluster.stop(); } };
  } catch (error) {
    await admin.end().catch(() => undefined);
    await cluster.stop();
    throw error;
  }
}
