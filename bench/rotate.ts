/**
 * `npm run bench`: single-user rotations of a throwaway PostgreSQL role through the engine and the file store,
 * as `rotator rotate` runs them. Prints the median and p90 time per rotation and the store operations per
 * rotation. Usage: npm run bench [-- --rotations 50]; the server comes from PGHOST/PGPORT/PGUSER/PGPASSWORD.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import pg from 'pg';
import { RotationEngine } from '../shared/engine.js';
import { silentLogger } from '../shared/logger.js';
import type { SecretStore } from '../shared/store.js';
import { FileStore } from '../shared/stores/file/index.js';
import { createPostgresRotator, scramSha256Verifier } from '../rotators/postgres/index.js';
import { connectAdmin, localPostgresFromEnv, throwawayPassword, uniqueSuffix } from '../scripts/local-postgres.js';

const rotations = Number(/--rotations[= ](\d+)/.exec(process.argv.slice(2).join(' '))?.[1] ?? '50');

/** Wraps a store so every port call is counted. */
function counting(store: SecretStore): { store: SecretStore; counts: Map<string, number> } {
  const counts = new Map<string, number>();
  const proxy = new Proxy(store, {
    get(target, name, receiver) {
      const value: unknown = Reflect.get(target, name, receiver);
      if (typeof value !== 'function' || typeof name !== 'string') return value;
      return (...args: unknown[]) => {
        counts.set(name, (counts.get(name) ?? 0) + 1);
        return (value as (...a: unknown[]) => unknown).apply(target, args);
      };
    },
  });
  return { store: proxy, counts };
}

function percentile(sorted: readonly number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)] ?? Number.NaN;
}

async function main(): Promise<void> {
  const target = localPostgresFromEnv(process.env);
  const admin = await connectAdmin(target);
  const role = `rotator_bench_${uniqueSuffix()}`;
  const dir = mkdtempSync(join(tmpdir(), 'rotator-bench-'));
  try {
    const password = throwawayPassword();
    await admin.query(`CREATE ROLE ${role} LOGIN PASSWORD ${pg.escapeLiteral(scramSha256Verifier(password))}`);
    const fileStore = new FileStore({ path: join(dir, 'store.json'), key: randomBytes(32) });
    const secret = { engine: 'postgres', host: target.host, port: target.port, username: role, password, dbname: target.database, ssl: false };
    await fileStore.createSecret('bench/app', JSON.stringify(secret), { rotation: { enabled: true } });
    const { store, counts } = counting(fileStore);
    const engine = new RotationEngine({ store, rotators: [createPostgresRotator({})], logger: silentLogger() });

    await engine.rotate('bench/app'); // warm-up: module loading, first TLS-less connection
    counts.clear();
    const times: number[] = [];
    const stepTimes = new Map<string, number[]>();
    for (let i = 0; i < rotations; i++) {
      const started = performance.now();
      const report = await engine.rotate('bench/app');
      times.push(performance.now() - started);
      for (const { step, ms } of report.steps) stepTimes.set(step, [...(stepTimes.get(step) ?? []), ms]);
    }
    times.sort((a, b) => a - b);
    const ops = [...counts.values()].reduce((a, b) => a + b, 0) / rotations;
    const perOp = [...counts.entries()].map(([name, n]) => `${name} ${n / rotations}`).join(', ');
    process.stdout.write(
      `postgres single-user, ${rotations} rotations against ${target.host}:${target.port}\n` +
        `  median ${percentile(times, 50).toFixed(1)} ms, p90 ${percentile(times, 90).toFixed(1)} ms per rotation\n` +
        `  median per step: ${[...stepTimes].map(([step, ms]) => `${step} ${percentile(ms.sort((a, b) => a - b), 50)} ms`).join(', ')}\n` +
        `  store operations per rotation: ${ops} (${perOp})\n`,
    );
  } finally {
    await admin.query(`DROP ROLE IF EXISTS ${role}`);
    await admin.end();
    rmSync(dir, { recursive: true, force: true });
  }
}

await main();
