import type { TestProject } from 'vitest/node';
import { mkdirSync } from 'node:fs';
import { findLeaks, readCanary, teeStream } from './canary.js';
import { startMariadbServer, type MariadbServer } from './mariadb-server.js';
import { startScramCluster, type ScramCluster } from './postgres-cluster.js';

/** Connection facts of the password-enforcing PostgreSQL the whole run shares (see postgres-cluster.ts). */
export type ProvidedPostgres = Pick<ScramCluster, 'host' | 'port' | 'superuser' | 'superuserPassword' | 'caFile' | 'logFile'>;

/** Connection facts of the throwaway MariaDB the whole run shares (see mariadb-server.ts). */
export type ProvidedMariadb = Pick<MariadbServer, 'host' | 'port' | 'rootUser' | 'rootPassword' | 'caFile' | 'generalLogFile'>;

declare module 'vitest' {
  export interface ProvidedContext {
    postgres: ProvidedPostgres;
    mariadb: ProvidedMariadb;
  }
}

type Teardown = () => Promise<void>;

/** Starts the PostgreSQL cluster once for the run and hands its facts to the tests (`inject('postgres')`). */
async function providePostgres(project: TestProject): Promise<Teardown> {
  const cluster = await startScramCluster();
  const { host, port, superuser, superuserPassword, caFile, logFile } = cluster;
  project.provide('postgres', { host, port, superuser, superuserPassword, caFile, logFile });
  return () => cluster.stop();
}

/** Starts the MariaDB server once for the run and hands its facts to the tests (`inject('mariadb')`). */
async function provideMariadb(project: TestProject): Promise<Teardown> {
  const server = await startMariadbServer();
  const { host, port, rootUser, rootPassword, caFile, generalLogFile } = server;
  project.provide('mariadb', { host, port, rootUser, rootPassword, caFile, generalLogFile });
  return () => server.stop();
}

/**
 * The leak canary: this process's output (vitest's reporter, which also prints what tests log) joins the
 * workers' output in ROTATOR_CANARY_DIR (set in vitest.config.ts); at the end of the run every secret the tests
 * registered is searched for in all of it, and the run fails if one is found.
 */
function leakCanary(): Promise<Teardown> {
  const dir = process.env.ROTATOR_CANARY_DIR;
  if (dir === undefined) throw new Error('ROTATOR_CANARY_DIR is not set; run the tests through vitest.config.ts');
  mkdirSync(dir, { recursive: true });
  teeStream(process.stdout);
  teeStream(process.stderr);
  return Promise.resolve(() => {
    const { secrets, outputs } = readCanary(dir);
    const leaks = findLeaks(secrets, outputs);
    const bytes = [...outputs.values()].reduce((n, text) => n + text.length, 0);
    process.stdout.write(`leak canary: ${secrets.length} secrets searched in ${bytes} bytes of output from ${outputs.size} processes\n`);
    // vitest reports an error thrown by a global teardown but still exits 0; the exit code must say it too.
    if (leaks.length > 0) process.exitCode = 1;
    if (leaks.length > 0) {
      const where = leaks.map((l) => `a ${l.secretLength}-character secret in ${l.file}`).join('; ');
      return Promise.reject(new Error(`leak canary: secret values were printed: ${where} (files kept in ${dir})`));
    }
    if (secrets.length === 0) process.stdout.write('leak canary: the tests that ran registered no secrets, so it checked nothing\n');
    return Promise.resolve();
  });
}

/**
 * vitest globalSetup: runs each fixture in order and tears them down in reverse. Add a fixture by appending
 * a `(project) => Promise<Teardown>` to FIXTURES.
 */
const FIXTURES: ReadonlyArray<(project: TestProject) => Promise<Teardown>> = [leakCanary, providePostgres, provideMariadb];

export default async function setup(project: TestProject): Promise<Teardown> {
  const teardowns: Teardown[] = [];
  const teardown: Teardown = async () => {
    const errors: unknown[] = [];
    for (const down of teardowns.reverse()) {
      try {
        await down();
      } catch (error) {
        errors.push(error);
      }
    }
    if (errors.length > 0) throw new AggregateError(errors, 'global teardown failed');
  };
  try {
    for (const fixture of FIXTURES) teardowns.push(await fixture(project));
  } catch (error) {
    await teardown();
    throw error;
  }
  return teardown;
}
