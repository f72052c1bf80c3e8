import type { TestProject } from 'vitest/node';
import { mkdirSync } from 'node:fs';
import { findLeaks, keepServerLog, readCanary, summarize, teeStream } from './canary.js';
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
  return async () => {
    // The statement log (log_statement=all) goes to the canary before stop() removes the cluster's directory.
    keepServerLog(logFile, 'postgres');
    await cluster.stop();
  };
}

/** Starts the MariaDB server once for the run and hands its facts to the tests (`inject('mariadb')`). */
async function provideMariadb(project: TestProject): Promise<Teardown> {
  const server = await startMariadbServer();
  const { host, port, rootUser, rootPassword, caFile, generalLogFile } = server;
  project.provide('mariadb', { host, port, rootUser, rootPassword, caFile, generalLogFile });
  return async () => {
    keepServerLog(generalLogFile, 'mariadb');
    await server.stop();
  };
}

/** How many projects have the canary set up; the last one to tear down runs the check (globalThis: each project
 * may load this module on its own). */
const CANARY_USERS = Symbol.for('rotator.canary.users');
type CanaryState = { users: number; teed: boolean };

function canaryState(): CanaryState {
  const global = globalThis as Record<symbol, CanaryState | undefined>;
  return (global[CANARY_USERS] ??= { users: 0, teed: false });
}

/**
 * The leak canary: this process's output (vitest's reporter, which also prints what tests log) joins the
 * workers', the children's and the database servers' logs in ROTATOR_CANARY_DIR (set in vitest.config.ts); when
 * the last project ends, every secret registered (by hand or learned by a Redactor) is searched for in all of it,
 * in each encoded form, and the run fails if one is found. It says what it searched, where, and over how much.
 */
function leakCanary(): Promise<Teardown> {
  const dir = process.env.ROTATOR_CANARY_DIR;
  if (dir === undefined) throw new Error('ROTATOR_CANARY_DIR is not set; run the tests through vitest.config.ts');
  mkdirSync(dir, { recursive: true });
  const state = canaryState();
  state.users += 1;
  if (!state.teed) {
    state.teed = true;
    teeStream(process.stdout);
    teeStream(process.stderr);
  }
  return Promise.resolve(() => {
    state.users -= 1;
    if (state.users > 0) return Promise.resolve();
    const contents = readCanary(dir);
    const leaks = findLeaks(contents.secrets, contents.outputs);
    for (const line of summarize(contents)) process.stdout.write(line + '\n');
    // vitest reports an error thrown by a global teardown but still exits 0; the exit code must say it too.
    if (leaks.length > 0) process.exitCode = 1;
    if (leaks.length > 0) {
      const where = leaks.map((l) => `a ${l.secretLength}-character secret (${l.encoding}) in ${l.file}`).join('; ');
      return Promise.reject(new Error(`leak canary: secret values were printed: ${where} (files kept in ${dir})`));
    }
    if (contents.secrets.length === 0) process.stdout.write('leak canary: the tests that ran registered no secrets, so it checked nothing\n');
    return Promise.resolve();
  });
}

/**
 * vitest globalSetup, per project (vitest.config.ts): the unit project gets the leak canary only, so unit tests
 * run without database server binaries; every other project also gets the databases. Fixtures run in order and
 * are torn down in reverse. Add a fixture by appending a `(project) => Promise<Teardown>` to a list.
 */
const FIXTURES: Readonly<Record<string, ReadonlyArray<(project: TestProject) => Promise<Teardown>>>> = {
  unit: [leakCanary],
  integration: [leakCanary, providePostgres, provideMariadb],
};

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
    for (const fixture of FIXTURES[project.name] ?? [leakCanary]) teardowns.push(await fixture(project));
  } catch (error) {
    await teardown();
    throw error;
  }
  return teardown;
}
