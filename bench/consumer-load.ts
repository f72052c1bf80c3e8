/**
 * The consumer load test (issue 13): --clients concurrent clients query PostgreSQL (scram-sha-256, verified TLS)
 * through the pool helper (consumer/pg-pool.ts over consumer/reader.ts over the file store) while --rotations
 * rotations of the secret run, one every --interval ms: single-user, then alternating-users, each at every TTL of
 * --ttls. It reports the failed queries, and how often the reader read the store (reads per minute) against its TTL.
 *
 * Baseline, measured in the same run under the same load: pg's own Pool with the secret read once at start-up.
 * Both pools recycle their connections every --lifetime seconds (maxLifetimeSeconds), so that both keep logging in
 * throughout the run, as a long-lived application's pool does over hours; a warm pool that never logs in again
 * survives any rotation, and a short run would measure nothing.
 *
 *   npx tsx bench/consumer-load.ts [--clients 50] [--rotations 20] [--interval 3000] [--ttls 1000,30000] [--lifetime 2] [--think 10]
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { readFile, mkdtemp, rm } from 'node:fs/promises';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseArgs } from 'node:util';
import pg from 'pg';
import { createPgPool } from '../consumer/pg-pool.js';
import { createSecretReader } from '../consumer/reader.js';
import { createRotators } from '../rotators/index.js';
import { scramSha256Verifier } from '../rotators/postgres/index.js';
import { RotationEngine } from '../shared/engine.js';
import { createLogger } from '../shared/logger.js';
import type { SecretStore, Strategy } from '../shared/store.js';
import { FileStore } from '../stores/file/index.js';
import type { ScramCluster } from '../test/support/postgres-cluster.js';
import { storeWith } from '../test/support/stores.js';
import { startBenchPostgres } from './postgres.js';
import { median, percentile } from './stats.js';

const { values } = parseArgs({
  options: {
    clients: { type: 'string', default: '50' },
    rotations: { type: 'string', default: '20' },
    interval: { type: 'string', default: '3000' },
    ttls: { type: 'string', default: '1000,30000' },
    lifetime: { type: 'string', default: '2' },
    think: { type: 'string', default: '10' },
  },
});
const clients = Number(values.clients);
const rotations = Number(values.rotations);
const intervalMs = Number(values.interval);
const ttls = values.ttls.split(',').map(Number);
const lifetime = Number(values.lifetime);
const thinkMs = Number(values.think);
if ([clients, rotations, intervalMs, lifetime, thinkMs, ...ttls].some((n) => !Number.isInteger(n) || n < 0) || clients < 1 || rotations < 1 || lifetime < 1) {
  throw new Error('--clients, --rotations, --interval, --ttls, --lifetime and --think take whole numbers (clients, rotations and lifetime at least 1)');
}
/** Connections per pool: the two pools and the rotations share the cluster's 40. */
const POOL_MAX = 10;
const SECRET = 'load/app';
const MASTER = 'load/master';

interface Load {
  ok: number;
  failed: number;
  failedAfterFirst: number;
  codes: Map<string, number>;
  latencies: number[];
}

interface Run {
  strategy: Strategy;
  ttlMs: number;
  seconds: number;
  helper: Load;
  baseline: Load;
  storeReads: number;
  rotationMs: number[];
}

function newLoad(): Load {
  return { ok: 0, failed: 0, failedAfterFirst: 0, codes: new Map(), latencies: [] };
}

async function createRole(admin: pg.Client, name: string, password: string, options = 'LOGIN'): Promise<void> {
  await admin.query(`CREATE ROLE ${pg.escapeIdentifier(name)} WITH ${options} PASSWORD ${pg.escapeLiteral(scramSha256Verifier(password))}`);
}

async function runOnce(cluster: ScramCluster, admin: pg.Client, ca: string, strategy: Strategy, ttlMs: number, n: number): Promise<Run> {
  const dir = await mkdtemp(join(tmpdir(), 'rotator-consumer-load-'));
  const fileStore = new FileStore({ path: join(dir, 'store.json'), key: randomBytes(32) });
  let storeReads = 0;
  // Every value the reader reads goes through here; the rotation engine uses the store directly.
  const counted: SecretStore = storeWith(fileStore, {
    getValue: (secretId, selector) => {
      storeReads += 1;
      return fileStore.getValue(secretId, selector);
    },
  });

  const user = `load_${strategy === 'single-user' ? 'single' : 'alt'}_${n}`;
  const password = randomUUID();
  await createRole(admin, user, password);
  const secret = { engine: 'postgres', host: cluster.host, port: cluster.port, username: user, password, dbname: 'postgres', ssl: true };
  if (strategy === 'alternating-users') {
    const master = { ...secret, username: `load_master_${n}`, password: randomUUID() };
    await createRole(admin, master.username, master.password, 'LOGIN CREATEROLE');
    await fileStore.createSecret(MASTER, JSON.stringify(master));
    await fileStore.createSecret(SECRET, JSON.stringify({ ...secret, masterarn: MASTER }), { rotation: { enabled: true, strategy } });
  } else {
    await fileStore.createSecret(SECRET, JSON.stringify(secret), { rotation: { enabled: true, strategy } });
  }

  const reader = createSecretReader({ store: counted, secretId: SECRET, ttlMs, staleMs: Math.min(ttlMs, 60_000) });
  const helperPool = createPgPool({ reader, ca, max: POOL_MAX, maxLifetimeSeconds: lifetime });
  // The baseline: the value read once at start-up, as an application that caches its secret for ever does.
  const baselinePool = new pg.Pool({ host: cluster.host, port: cluster.port, user, password, database: 'postgres', ssl: { ca, rejectUnauthorized: true }, max: POOL_MAX, maxLifetimeSeconds: lifetime });
  for (const pool of [helperPool, baselinePool]) pool.on('error', () => undefined);

  const engine = new RotationEngine({
    store: fileStore,
    rotators: createRotators({ connectTimeoutMs: 5_000, statementTimeoutMs: 15_000, tlsCaFile: cluster.caFile, allowPlaintextFallback: false, allowPublicKeyRetrieval: false, usernameCharacterLimit: undefined }),
    logger: createLogger({ level: 'warn' }),
  });

  const helper = newLoad();
  const baseline = newLoad();
  let rotated = 0;
  let done = false;
  const client = async (pool: pg.Pool, load: Load): Promise<void> => {
    while (!done) {
      const started = performance.now();
      try {
        await pool.query('SELECT 1');
        load.ok += 1;
        load.latencies.push(performance.now() - started);
      } catch (error) {
        load.failed += 1;
        if (rotated > 0) load.failedAfterFirst += 1;
        const code = (error as { code?: string }).code ?? 'other';
        load.codes.set(code, (load.codes.get(code) ?? 0) + 1);
      }
      if (thinkMs > 0) await sleep(thinkMs);
    }
  };
  const running = [...Array.from({ length: clients }, () => client(helperPool, helper)), ...Array.from({ length: clients }, () => client(baselinePool, baseline))];

  const started = performance.now();
  const rotationMs: number[] = [];
  try {
    await sleep(intervalMs);
    for (let r = 0; r < rotations; r++) {
      const t0 = performance.now();
      await engine.rotate(SECRET);
      rotationMs.push(performance.now() - t0);
      rotated += 1;
      await sleep(Math.max(0, intervalMs - (performance.now() - t0)));
    }
  } finally {
    done = true;
    await Promise.all(running);
  }
  const seconds = (performance.now() - started) / 1000;
  await Promise.all([helperPool.end(), baselinePool.end()]);
  await rm(dir, { recursive: true, force: true });
  return { strategy, ttlMs, seconds, helper, baseline, storeReads, rotationMs };
}

function codes(load: Load): string {
  return load.codes.size === 0 ? '' : ` (${[...load.codes].map(([c, k]) => `${c}: ${k}`).join(', ')})`;
}

const { cluster, admin, version, stop } = await startBenchPostgres();
try {
  const ca = await readFile(cluster.caFile, 'utf8');
  console.log(
    `consumer load: ${clients} clients per pool (think ${thinkMs} ms), pools of ${POOL_MAX} connections recycled every ${lifetime} s, ${rotations} rotations ${intervalMs} ms apart; PostgreSQL ${version} (scram-sha-256, verified TLS) on ${cluster.host}:${cluster.port}`,
  );
  console.log(`machine: ${cpus().length} x ${cpus()[0]?.model.trim() ?? '?'}, node ${process.version}, load ${loadavg().map((l) => l.toFixed(2)).join(' ')}`);
  console.log('\n| strategy | TTL | run | helper: queries ok | helper: failed | store reads | reads/min | p50 / p99 query | baseline: ok | baseline: failed (after 1st rotation) | rotation median |');
  console.log('|---|---|---|---|---|---|---|---|---|---|---|');
  let n = 0;
  for (const strategy of ['single-user', 'alternating-users'] as const) {
    for (const ttlMs of ttls) {
      n += 1;
      const r = await runOnce(cluster, admin, ca, strategy, ttlMs, n);
      const sorted = [...r.helper.latencies].sort((a, b) => a - b);
      console.log(
        `| ${strategy} | ${ttlMs / 1000} s | ${r.seconds.toFixed(0)} s | ${r.helper.ok} | ${r.helper.failed}${codes(r.helper)} | ${r.storeReads} | ${(r.storeReads / (r.seconds / 60)).toFixed(1)} | ` +
          `${percentile(sorted, 50).toFixed(1)} / ${percentile(sorted, 99).toFixed(1)} ms | ${r.baseline.ok} | ${r.baseline.failed} (${r.baseline.failedAfterFirst})${codes(r.baseline)} | ${median(r.rotationMs).toFixed(0)} ms |`,
      );
    }
  }
} finally {
  await stop();
}
