/**
 * The fleet benchmark (issue 12): N secrets in the file store, all due, each a PostgreSQL login on one local
 * throwaway cluster that enforces scram-sha-256. For each concurrency it runs the built CLI as cron would,
 * `rotator rotate --due --concurrency N --json`, times it, checks that every secret was rotated and that every
 * CURRENT logs in afterwards, and times `rotator status --json` over the rotated fleet.
 *
 * Baseline, measured in the same run: what a fleet needed before `--due`, one `rotator rotate <id>` process per
 * secret in a shell loop, over the first --baseline secrets.
 *
 *   npm run bench:fleet -- [--secrets 1000] [--concurrency 1,2,4,8,16] [--baseline 50]
 */
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { parseArgs, promisify } from 'node:util';
import pg from 'pg';
import { scramSha256Verifier } from '../rotators/postgres/index.js';
import { FileStore } from '../stores/file/index.js';
import type { ScramCluster } from '../test/support/postgres-cluster.js';
import { startBenchPostgres } from './postgres.js';

const run = promisify(execFile);
const CLI = join(import.meta.dirname, '..', 'dist', 'cli', 'main.js');
const DAY = 86_400_000;

const { values } = parseArgs({
  options: {
    secrets: { type: 'string', default: '1000' },
    concurrency: { type: 'string', default: '1,2,4,8,16' },
    baseline: { type: 'string', default: '50' },
  },
});
const secrets = Number(values.secrets);
const levels = values.concurrency.split(',').map(Number);
const baselineCount = Math.min(secrets, Number(values.baseline));
if (!Number.isInteger(secrets) || secrets < 1 || levels.some((n) => !Number.isInteger(n) || n < 1) || !Number.isInteger(baselineCount)) {
  throw new Error('--secrets, --concurrency and --baseline take whole numbers');
}

interface Fleet {
  dir: string;
  env: NodeJS.ProcessEnv;
  store: FileStore;
  ids: string[];
}

const role = (i: number): string => `fleet_${String(i).padStart(5, '0')}`;

/** A fresh store with every secret due: CURRENT dated two days ago under a one-day schedule. Each role gets a new
 * password, so a fleet starts from what the store holds whatever earlier runs did. */
async function seedFleet(cluster: ScramCluster, admin: pg.Client): Promise<Fleet> {
  const dir = await mkdtemp(join(tmpdir(), 'rotator-fleet-'));
  const key = randomBytes(32);
  const path = join(dir, 'store.json');
  const store = new FileStore({ path, key, clock: () => new Date(Date.now() - 2 * DAY) });
  const ids: string[] = [];
  for (let i = 0; i < secrets; i++) {
    const username = role(i);
    const password = randomBytes(18).toString('base64url');
    await admin.query(`ALTER ROLE ${username} PASSWORD '${scramSha256Verifier(password)}'`);
    const id = `fleet/${username}`;
    const value = { engine: 'postgres', host: cluster.host, port: cluster.port, username, password, dbname: 'postgres', ssl: false };
    await store.createSecret(id, JSON.stringify(value), { rotation: { enabled: true, strategy: 'single-user', schedule: { kind: 'rate', everyMs: DAY } } });
    ids.push(id);
  }
  return { dir, env: { ...process.env, ROTATOR_STORE: path, ROTATOR_STORE_KEY: key.toString('base64'), LOG_LEVEL: 'warn' }, store, ids };
}

async function cli(fleet: Fleet, args: string[]): Promise<{ ms: number; stdout: string; code: number }> {
  const started = performance.now();
  try {
    const { stdout } = await run(process.execPath, [CLI, ...args], { env: fleet.env, maxBuffer: 64 * 1024 * 1024 });
    return { ms: performance.now() - started, stdout, code: 0 };
  } catch (error) {
    const { stdout = '', code = -1 } = error as { stdout?: string; code?: number };
    return { ms: performance.now() - started, stdout, code };
  }
}

/** Every CURRENT logs in, and was rotated (it is no longer the seeded version). */
async function verify(cluster: ScramCluster, fleet: Fleet): Promise<{ loggedIn: number; rotated: number }> {
  let loggedIn = 0;
  let rotated = 0;
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < fleet.ids.length) {
      const id = fleet.ids[next++] ?? '';
      const info = await fleet.store.describe(id);
      if (info.versions.length > 1) rotated++;
      const { username, password } = JSON.parse(await fleet.store.getValue(id, { stage: 'CURRENT' })) as { username: string; password: string };
      const client = new pg.Client({ host: cluster.host, port: cluster.port, user: username, password, database: 'postgres' });
      await client.connect();
      await client.end();
      loggedIn++;
    }
  };
  await Promise.all(Array.from({ length: 8 }, worker));
  return { loggedIn, rotated };
}

const { cluster, admin, version, stop } = await startBenchPostgres();
try {
  for (let i = 0; i < secrets; i++) await admin.query(`CREATE ROLE ${role(i)} LOGIN`);
  console.log(`fleet benchmark: ${secrets} secrets, PostgreSQL ${version} (scram-sha-256) on ${cluster.host}:${cluster.port}`);
  console.log(`machine: ${cpus().length} x ${cpus()[0]?.model ?? '?'}, node ${process.version}, load ${loadavg().map((l) => l.toFixed(2)).join(' ')}`);

  // The baseline: one process per secret, as a shell loop over `rotator rotate <id>` does.
  const base = await seedFleet(cluster, admin);
  const started = performance.now();
  for (const id of base.ids.slice(0, baselineCount)) {
    const result = await cli(base, ['rotate', id, '--json']);
    if (result.code !== 0) throw new Error(`baseline: rotate ${id} exited ${result.code}`);
  }
  const baselineRate = baselineCount / ((performance.now() - started) / 1000);
  console.log(`baseline (one \`rotator rotate <id>\` process per secret, ${baselineCount} secrets): ${baselineRate.toFixed(1)} rotations/s`);
  await rm(base.dir, { recursive: true, force: true });

  console.log('\n| concurrency | rotate --due | rotations/s | vs baseline | rotated | CURRENT logs in | status --json |');
  console.log('|---|---|---|---|---|---|---|');
  for (const n of levels) {
    const fleet = await seedFleet(cluster, admin);
    const rotate = await cli(fleet, ['rotate', '--due', '--concurrency', String(n), '--json']);
    const report = JSON.parse(rotate.stdout) as { rotated?: unknown[]; failed?: unknown[] };
    const status = await cli(fleet, ['status', '--json']);
    const { loggedIn, rotated } = await verify(cluster, fleet);
    const rate = secrets / (rotate.ms / 1000);
    const failed = report.failed?.length ?? 0;
    console.log(
      `| ${n} | ${(rotate.ms / 1000).toFixed(1)} s (exit ${rotate.code}${failed === 0 ? '' : `, ${failed} failed`}) | ${rate.toFixed(1)} | ${(rate / baselineRate).toFixed(1)}x | ` +
        `${report.rotated?.length ?? 0} (store: ${rotated}) | ${loggedIn}/${secrets} | ${Math.round(status.ms)} ms (exit ${status.code}) |`,
    );
    await rm(fleet.dir, { recursive: true, force: true });
  }
} finally {
  await stop();
}
