/**
 * `npx tsx bench/file-store.ts`: the file store with a fleet of secrets, one file per secret (this tree) against the
 * single-document design it replaced (format version 1, taken from git), measured in the same run on the same machine.
 * For each design: creating the secrets; a pass of `describe` + one write (`putValue`) per secret, one secret at a time
 * and 8 at a time (as `rotate --due --concurrency 8` drives the store); and the fleet view (`describeAll` here; the
 * old store has none, so `list` + `describe` per id as `status` would do, and `list` alone for reference). Then the
 * migration of the old design's store by this one's first write. Prints a Markdown table for bench/RESULTS.md.
 * Usage: npx tsx bench/file-store.ts [--secrets 1000] [--baseline <git ref of the single-document store>]
 */
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { copyFileSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import type { SecretInfo } from '../shared/store.js';
import { FileStore } from '../stores/file/index.js';
import { mapBounded } from '../shared/fleet.js';

/** What both designs offer (the old one has no describeAll). */
interface BenchedStore {
  createSecret(secretId: string, value: string): Promise<void>;
  describe(secretId: string): Promise<SecretInfo>;
  putValue(secretId: string, value: string): Promise<unknown>;
  list(): Promise<{ secretId: string }[]>;
  describeAll?(): Promise<SecretInfo[]>;
}
type StoreClass = new (options: { path: string; key: Buffer; lock: { timeoutMs: number } }) => BenchedStore;

const { values: args } = parseArgs({
  options: {
    secrets: { type: 'string', default: '1000' },
    // The last commit whose stores/file/ is the single-document design (format version 1).
    baseline: { type: 'string', default: 'a150f43' },
  },
});
const count = Number(args.secrets);
if (!Number.isInteger(count) || count < 1 || count > 100_000) throw new Error('--secrets must be a whole number from 1 to 100000');
const baselineRef = args.baseline;

const repo = fileURLToPath(new URL('..', import.meta.url));
const key = randomBytes(32);
const ids = Array.from({ length: count }, (_, i) => `fleet/db-${String(i).padStart(5, '0')}`);
// A database secret's size; bench data, not a secret.
const valueOf = (id: string, n: number): string => JSON.stringify({ engine: 'postgres', host: 'db.internal', port: 5432, username: id, password: `bench-${n}-${randomBytes(16).toString('hex')}` });

/** The old design's modules, checked out of git into a scratch directory two levels below the root, where their
 * `../../shared/` imports resolve to this tree's shared/ (unchanged by the new design). */
async function loadBaseline(): Promise<{ Store: StoreClass; cleanup: () => void }> {
  const scratch = mkdtempSync(join(repo, 'bench', '.baseline-'));
  const files = execFileSync('git', ['ls-tree', '--name-only', baselineRef, 'stores/file/'], { cwd: repo, encoding: 'utf8' }).split('\n').filter((f) => f.endsWith('.ts'));
  for (const file of files) writeFileSync(join(scratch, file.slice('stores/file/'.length)), execFileSync('git', ['show', `${baselineRef}:${file}`], { cwd: repo }));
  const module = (await import(join(scratch, 'file-store.ts'))) as { FileStore: StoreClass };
  return { Store: module.FileStore, cleanup: () => rmSync(scratch, { recursive: true, force: true }) };
}

async function timed(run: () => Promise<unknown>): Promise<number> {
  const started = performance.now();
  await run();
  return performance.now() - started;
}

interface Figures {
  create: number;
  serial: number;
  parallel: number;
  view: number;
  listOnly?: number;
}

// At 1,000 secrets the old design's writers, 8 at a time, wait longer than its default 10 s for the store lock
// (STORE_LOCKED); a long timeout lets the pass finish so that it can be timed.
const lock = { timeoutMs: 30 * 60_000 };

async function measure(Store: StoreClass, dir: string, name: string): Promise<Figures> {
  const store = new Store({ path: join(dir, 'store.json'), key, lock });
  const step = (what: string): void => void process.stderr.write(`${name}: ${what}\n`);
  const create = await timed(async () => {
    for (const id of ids) await store.createSecret(id, valueOf(id, 0));
  });
  const pass = async (id: string, n: number): Promise<void> => {
    await store.describe(id);
    await store.putValue(id, valueOf(id, n));
  };
  step(`created in ${create.toFixed(0)} ms`);
  const serial = await timed(async () => {
    for (const id of ids) await pass(id, 1);
  });
  step(`one at a time in ${serial.toFixed(0)} ms`);
  const parallel = await timed(() => mapBounded(ids, 8, (id) => pass(id, 2)));
  step(`8 at a time in ${parallel.toFixed(0)} ms`);
  if (store.describeAll !== undefined) return { create, serial, parallel, view: await timed(() => store.describeAll?.() ?? Promise.resolve()) };
  const view = await timed(async () => {
    for (const { secretId } of await store.list()) await store.describe(secretId);
  });
  return { create, serial, parallel, view, listOnly: await timed(() => store.list()) };
}

const base = mkdtempSync(join(tmpdir(), 'rotator-bench-file-store-'));
const baseline = await loadBaseline();
try {
  mkdirSync(join(base, 'old'));
  mkdirSync(join(base, 'new'));
  const old = await measure(baseline.Store, join(base, 'old'), 'single document');
  const now = await measure(FileStore, join(base, 'new'), 'one file per secret');

  // The old design's store (three versions per secret by now) migrated by this design's first write.
  mkdirSync(join(base, 'migrate'));
  const migrating = join(base, 'migrate', 'store.json');
  copyFileSync(join(base, 'old', 'store.json'), migrating);
  const migration = await timed(() => new FileStore({ path: migrating, key }).putValue(ids[0] ?? '', valueOf('x', 3)));

  const ms = (value: number): string => (value >= 10_000 ? `${(value / 1000).toFixed(1)} s` : `${value.toFixed(0)} ms`);
  const per = (value: number): string => `${((value / count) * 1000).toFixed(0)} µs`;
  const ratio = (a: number, b: number): string => `${(b / a).toFixed(b / a >= 10 ? 0 : 2)}x`;
  const rows: [string, number, number][] = [
    [`create ${count} secrets, one at a time`, old.create, now.create],
    ['describe + putValue per secret, one at a time', old.serial, now.serial],
    ['describe + putValue per secret, 8 at a time', old.parallel, now.parallel],
    ['fleet view: describeAll (old: list + describe each)', old.view, now.view],
  ];
  process.stdout.write(`secrets: ${count}; baseline: ${baselineRef} (single document); node ${process.version}; ${cpus().length} CPUs; store in ${tmpdir()}\n\n`);
  process.stdout.write('| | single document (baseline) | one file per secret | per secret, new | baseline / new |\n|---|---|---|---|---|\n');
  for (const [what, a, b] of rows) process.stdout.write(`| ${what} | ${ms(a)} | ${ms(b)} | ${per(b)} | ${ratio(b, a)} |\n`);
  process.stdout.write(`\nold list() alone: ${ms(old.listOnly ?? 0)}; migrating the old store (${count} secrets, 3 versions each) by the first write: ${ms(migration)}\n`);
  const rate = (count / now.parallel) * 1000;
  process.stdout.write(`store operations per second for describe + write, 8 at a time: ${rate.toFixed(0)} (${((count / old.parallel) * 1000).toFixed(1)} for the baseline)\n`);
} finally {
  baseline.cleanup();
  rmSync(base, { recursive: true, force: true });
}
