/**
 * `npm run bench`: single-user rotations of a throwaway database user through the engine and the file store,
 * as `rotator rotate` runs them, on each local server. Prints the median and p90 time per rotation, the
 * median per step, and the store operations per rotation.
 * Usage: npm run bench [-- --rotations 50] [-- --engine postgres|mariadb]; servers as for the demo
 * (PG* and MYSQL_* variables).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { RotationEngine } from '../shared/engine.js';
import { silentLogger } from '../shared/logger.js';
import type { SecretStore } from '../shared/store.js';
import { FileStore } from '../stores/file/index.js';
import { createRotators } from '../rotators/index.js';
import { loadConfig } from '../shared/config.js';
import { LOCAL_ENGINES, connectLocal, throwawayPassword, uniqueSuffix, type LocalEngine } from '../scripts/local-databases.js';
import { median, percentile } from './stats.js';

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

async function bench(engineName: LocalEngine, rotations: number): Promise<void> {
  const db = await connectLocal(engineName, process.env);
  const user = `rotator_bench_${uniqueSuffix()}`;
  const dir = mkdtempSync(join(tmpdir(), 'rotator-bench-'));
  try {
    const password = throwawayPassword();
    await db.createUser(user, password);
    const fileStore = new FileStore({ path: join(dir, 'store.json'), key: randomBytes(32) });
    await fileStore.createSecret('bench/app', JSON.stringify(db.secret(user, password)), { rotation: { enabled: true } });
    const { store, counts } = counting(fileStore);
    const engine = new RotationEngine({ store, rotators: createRotators(loadConfig(process.env)), logger: silentLogger() });

    await engine.rotate('bench/app'); // warm-up: module loading, first connections
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
      `${engineName} single-user, ${rotations} rotations against ${db.where}\n` +
        `  median ${percentile(times, 50).toFixed(1)} ms, p90 ${percentile(times, 90).toFixed(1)} ms per rotation\n` +
        `  median per step: ${[...stepTimes].map(([step, ms]) => `${step} ${median(ms)} ms`).join(', ')}\n` +
        `  store operations per rotation: ${ops} (${perOp})\n`,
    );
  } finally {
    await db.dropUsers([user]);
    await db.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

const { values } = parseArgs({ options: { rotations: { type: 'string', default: '50' }, engine: { type: 'string', multiple: true } } });
const rotations = Number(values.rotations);
if (!Number.isInteger(rotations) || rotations < 1) throw new Error(`--rotations is "${values.rotations}"; use a whole number of at least 1`);
const engines = values.engine ?? [...LOCAL_ENGINES];
for (const name of engines) {
  if (!(LOCAL_ENGINES as readonly string[]).includes(name)) throw new Error(`--engine is "${name}"; use one of ${LOCAL_ENGINES.join(', ')}`);
  await bench(name as LocalEngine, rotations);
}
