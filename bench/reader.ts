import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { createSecretReader } from '../consumer/reader.js';
import { FileStore } from '../stores/file/index.js';
import { median } from './stats.js';

/**
 * What a cache hit of the reader costs (issue 13: under 1 µs a call), as an application pays it: `await reader.get()`
 * and `await reader.getJson()` in a loop, while the value is fresh. Beside it, in the same run: the floor any async
 * cache pays (`await` of a Map lookup wrapped in a resolved promise), and what the cache saves, a read of the file
 * store (decrypting one secret's file).
 *
 *   npx tsx bench/reader.ts [--calls 1000000]
 */
const calls = Number(process.argv[process.argv.indexOf('--calls') + 1] ?? '') || 1_000_000;
const ROUNDS = 7;

/** Median ns per call of `round` (which makes `n` calls), over ROUNDS rounds after a warm-up. */
async function nsPerCall(n: number, round: (n: number) => Promise<unknown>): Promise<number> {
  await round(Math.min(n, 10_000));
  const samples: number[] = [];
  for (let i = 0; i < ROUNDS; i++) {
    const started = performance.now();
    await round(n);
    samples.push(((performance.now() - started) * 1e6) / n);
  }
  return median(samples);
}

const dir = mkdtempSync(join(tmpdir(), 'rotator-bench-reader-'));
try {
  const store = new FileStore({ path: join(dir, 'store.json'), key: randomBytes(32) });
  const value = JSON.stringify({ engine: 'postgres', host: 'db.internal', username: 'app', password: randomBytes(24).toString('base64url') });
  await store.createSecret('db/app', value);
  const reader = createSecretReader({ store, secretId: 'db/app' });
  const checked = createSecretReader({ store, secretId: 'db/app', versionCheck: true });
  await reader.getJson();
  await checked.getJson();
  const map = new Map([['db/app', value]]);
  let sink = 0;

  const cases: Array<[string, number, (n: number) => Promise<unknown>]> = [
    [
      'baseline: `await Promise.resolve(map.get(id))`',
      calls,
      async (n) => {
        for (let i = 0; i < n; i++) sink += (await Promise.resolve(map.get('db/app')))?.length ?? 0;
      },
    ],
    [
      '`await reader.get()`, fresh',
      calls,
      async (n) => {
        for (let i = 0; i < n; i++) sink += (await reader.get()).length;
      },
    ],
    [
      '`await reader.getJson()`, fresh',
      calls,
      async (n) => {
        for (let i = 0; i < n; i++) sink += (await reader.getJson()).username === 'app' ? 1 : 0;
      },
    ],
    [
      '`await reader.getJson()`, fresh, versionCheck on',
      calls,
      async (n) => {
        for (let i = 0; i < n; i++) sink += (await checked.getJson()).username === 'app' ? 1 : 0;
      },
    ],
    [
      'what a hit saves: `await store.getValue(id, CURRENT)` (file store)',
      Math.max(100, Math.floor(calls / 1000)),
      async (n) => {
        for (let i = 0; i < n; i++) sink += (await store.getValue('db/app', { stage: 'CURRENT' })).length;
      },
    ],
  ];

  console.log(`Node ${process.version}, ${calls} calls per round, median of ${ROUNDS} rounds`);
  console.log('| case | ns/call | vs baseline |');
  console.log('|---|---|---|');
  let baseline: number | undefined;
  for (const [name, n, round] of cases) {
    const ns = await nsPerCall(n, round);
    baseline ??= ns;
    console.log(`| ${name} | ${ns < 10_000 ? ns.toFixed(0) : `${(ns / 1000).toFixed(1)} µs`} | ${(ns / baseline).toFixed(2)}x |`);
  }
  if (sink === -1) console.log(''); // keeps the loops' results alive
} finally {
  rmSync(dir, { recursive: true, force: true });
}
