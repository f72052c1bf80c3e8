import { randomBytes } from 'node:crypto';
import { Redactor } from '../shared/redact.js';
import { median } from './stats.js';

/**
 * How the cost of redacting one log line depends on what is registered (docs/architecture.md, invariant 10: it must not grow
 * with the number or the size of the values). Each case redacts the same 10 KB line (no secret in it, the common
 * case; and with one registered value inside) and reports the median time per line and its ratio to the case with
 * one short value registered. Also the heap each case holds.
 *
 *   npx tsx bench/redact.ts [--lines 2000]
 */
const lines = Number(process.argv[process.argv.indexOf('--lines') + 1] ?? '') || 2000;

function timePerLine(redactor: Redactor, text: string): number {
  const samples: number[] = [];
  for (let round = 0; round < 7; round++) {
    const started = performance.now();
    for (let i = 0; i < lines; i++) redactor.redact(text);
    samples.push((performance.now() - started) / lines);
  }
  return median(samples);
}

function heapMb(): number {
  globalThis.gc?.();
  return process.memoryUsage().heapUsed / 1e6;
}

const line = randomBytes(7_500).toString('base64'); // 10 000 characters of noise
const cases: Array<{ name: string; values: () => string[] }> = [
  { name: '1 value of 32 characters', values: () => [randomBytes(24).toString('base64url')] },
  { name: '10 000 values of 32 characters', values: () => Array.from({ length: 10_000 }, () => randomBytes(24).toString('base64url')) },
  { name: '10 values of 64 KiB', values: () => Array.from({ length: 10 }, () => randomBytes(48 * 1024).toString('base64')) },
  { name: '1 000 values sharing a 20-character prefix', values: () => Array.from({ length: 1_000 }, () => `shared-prefix-000000-${randomBytes(12).toString('hex')}`) },
];

const redactorsAlive: number[] = [];
let baseline: number | undefined;
let baselineHit: number | undefined;
console.log(`| registered | 10 KB line, no secret | ratio | line with one secret inside: time, per 1000 characters | ratio (per character) | heap held (values and index) |`);
console.log(`|---|---|---|---|---|---|`);
for (const c of cases) {
  const values = c.values();
  const before = heapMb();
  const redactor = new Redactor({ maxValues: values.length });
  const startedAdd = performance.now();
  redactor.add(...values);
  const addMs = performance.now() - startedAdd;
  const heap = heapMb() - before;
  const miss = timePerLine(redactor, line);
  const inside = values[Math.floor(values.length / 2)] ?? '';
  const hitText = (line.slice(0, 5_000) + inside + line).slice(0, 10_000 + inside.length);
  // Per 1000 characters: a line holding a 64 KiB value is 74 KB long.
  const hit = (timePerLine(redactor, hitText) / hitText.length) * 1000;
  baseline ??= miss;
  baselineHit ??= hit;
  redactorsAlive.push(redactor.size);
  console.log(
    `| ${c.name} (registered in ${addMs.toFixed(0)} ms) | ${(miss * 1000).toFixed(0)} µs | ${(miss / baseline).toFixed(2)} | ${((hit * hitText.length) / 1000 * 1000).toFixed(0)} µs, ${(hit * 1000).toFixed(1)} µs | ${(hit / baselineHit).toFixed(2)} | ${heap.toFixed(1)} MB |`,
  );
}
