/**
 * `npm run bench:bundle`: the size and cold import time of each AWS function bundle, exactly as deployed, against a
 * previous build measured in the same run.
 *
 * 1. Checks out the baseline (`--baseline <ref>`, default HEAD~1) beside the tree (bench/baseline.ts) and packages
 *    both serverless.yml's with osls (offline, no credentials), each in a scratch service directory, so the bundles
 *    are the ones `osls deploy` would upload (serverless-esbuild, the settings of each build's `custom.esbuild`).
 * 2. For each function: the zip's size and the bundle's size unzipped, both builds, against the 1 MB target.
 * 3. Cold import: a fresh `node` process per run imports the bundle and reports how long `import()` took, as
 *    Lambda's init phase does (AWS_REGION set, no credentials: the SDK clients must not call out at import). The
 *    two builds take turns (current, baseline, baseline, current, ...), so both see the same machine load. Median
 *    and p90 over the runs, against the 50 ms target, and the ratio of the medians, current / baseline.
 * 4. The other deployables, unless `--lambda-only`: each build compiled by tsc as `npm run build` does (into the
 *    scratch directory), then the cold import of the Azure Functions app entry (functions/azure/app.js) and the
 *    Google Cloud entry (functions/gcp/index.js), taking turns the same way. Reported, not judged.
 * 5. What fills each bundle: the same entry built again by esbuild with the same settings and a metafile, bytes in
 *    the output grouped by npm package; and the packages whose bytes changed against the baseline.
 *
 * Exit status 1 when a current bundle misses a target (1 MB zipped or unzipped, 50 ms median); the ratios are
 * reported, not judged.
 *
 * Usage: npm run bench:bundle [-- --runs 20] [-- --top 6] [-- --baseline <ref>] [-- --lambda-only]
 */
import { execFile } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { availableParallelism, cpus, loadavg, tmpdir } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { parseArgs, promisify } from 'node:util';
import { build } from 'esbuild';
import { readZip } from '../test/support/zip.js';
import { checkoutBaseline, repoRoot } from './baseline.js';
import { esbuildOptionsOf, handlerSource } from './function-bundle.js';
import { percentile } from './stats.js';

const run = promisify(execFile);

const MAX_BYTES = 1024 * 1024;
const MAX_IMPORT_MS = 50;

/** Our environment without AWS_* variables and with credential files that do not exist. */
function offlineEnv(scratch: string, extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [name, value] of Object.entries(process.env)) if (!name.startsWith('AWS_') && name !== 'NODE_OPTIONS') env[name] = value;
  return { ...env, AWS_SHARED_CREDENTIALS_FILE: join(scratch, 'none'), AWS_CONFIG_FILE: join(scratch, 'none'), ...extra };
}

interface FunctionBundle {
  key: string;
  handler: string;
  zipBytes: number;
  /** The bundle, unzipped into the scratch directory. */
  file: string;
  bytes: number;
}

interface TemplateResource {
  Type: string;
  Properties: { Handler?: string; Code?: { S3Key: string } };
}

/** One build: a repository root (this tree or the baseline's checkout) and its scratch directory. */
interface Build {
  label: string;
  repo: string;
  scratch: string;
}

/** Packages `build.repo`'s serverless.yml with osls and unzips each function's single file. */
async function packageService({ repo, scratch }: Build): Promise<{ bundles: FunctionBundle[]; seconds: number }> {
  const service = join(scratch, 'service');
  mkdirSync(service);
  copyFileSync(join(repo, 'serverless.yml'), join(service, 'serverless.yml'));
  for (const entry of ['functions', 'shared', 'rotators', 'node_modules', 'package.json', 'tsconfig.json']) symlinkSync(join(repo, entry), join(service, entry));
  const out = join(scratch, 'package');
  const started = performance.now();
  await run(process.execPath, [join(repo, 'node_modules/osls/bin/serverless.js'), 'package', '--stage', 'bench', '--package', out], {
    cwd: service,
    env: offlineEnv(scratch),
  });
  const seconds = (performance.now() - started) / 1000;
  const template = JSON.parse(readFileSync(join(out, 'cloudformation-template-update-stack.json'), 'utf8')) as { Resources: Record<string, TemplateResource> };
  const bundles = Object.entries(template.Resources)
    .filter(([, r]) => r.Type === 'AWS::Lambda::Function')
    .map(([id, r]): FunctionBundle => {
      const key = id.replace(/LambdaFunction$/, '');
      const zipPath = join(out, basename(r.Properties.Code?.S3Key ?? ''));
      const { name, data } = unzipSingle(readFileSync(zipPath));
      const file = join(scratch, 'unzipped', key, name);
      mkdirSync(dirname(file), { recursive: true });
      writeFileSync(file, data);
      return { key, handler: r.Properties.Handler ?? '', zipBytes: statSync(zipPath).size, file, bytes: data.length };
    });
  return { bundles, seconds };
}

/** The single file of a function zip. */
function unzipSingle(zip: Buffer): { name: string; data: Buffer } {
  const [entry, ...more] = readZip(zip);
  if (entry === undefined || more.length > 0) throw new Error('expected a zip with exactly one entry');
  return { name: entry.name, data: entry.data() };
}

/** Compiles `build.repo` as `npm run build` does (tsconfig.build.json), into the scratch directory. */
async function compile({ repo, scratch }: Build): Promise<string> {
  const outDir = join(scratch, 'tsc');
  await run(process.execPath, [join(repo, 'node_modules/typescript/bin/tsc'), '-p', join(repo, 'tsconfig.build.json'), '--outDir', outDir, '--declaration', 'false', '--sourceMap', 'false'], {
    cwd: repo,
  });
  // What the compiled files need around them: "type": "module", and the packages they import.
  copyFileSync(join(repo, 'package.json'), join(outDir, 'package.json'));
  symlinkSync(join(repo, 'node_modules'), join(outDir, 'node_modules'));
  return outDir;
}

// The figure goes on a line of its own: an entry module may print (Azure's package warns outside its host).
const IMPORT_SCRIPT = `
const started = performance.now();
const mod = await import(process.argv[1]);
const ms = performance.now() - started;
if (process.argv[2] === 'handler' && typeof mod.handler !== 'function') throw new Error('no handler export');
process.stdout.write('\\nimport-ms ' + String(ms) + '\\n');
`;

async function importOnce(file: string, expectHandler: boolean, scratch: string): Promise<number> {
  const env = offlineEnv(scratch, { AWS_REGION: 'us-east-1', LOG_LEVEL: 'error' });
  const { stdout } = await run(process.execPath, ['--no-warnings', '--input-type=module', '-e', IMPORT_SCRIPT, file, expectHandler ? 'handler' : ''], { env });
  const ms = /^import-ms (\S+)$/m.exec(stdout)?.[1];
  if (ms === undefined) throw new Error(`no import time from ${file}`);
  return Number(ms);
}

interface Times {
  median: number;
  p90: number;
}

/**
 * Cold imports of each file, taking turns (A B, B A, A B, ...): none always runs first, and all see the same load.
 * Median and p90 of each.
 */
async function interleaved(files: readonly string[], runs: number, expectHandler: boolean, scratch: string): Promise<Times[]> {
  const times = files.map((): number[] => []);
  for (let i = 0; i < runs; i++) {
    const order = files.map((_, index) => index);
    if (i % 2 === 1) order.reverse();
    for (const which of order) times[which]?.push(await importOnce(files[which] ?? '', expectHandler, scratch));
  }
  return times.map((values) => {
    const sorted = [...values].sort((a, b) => a - b);
    return { median: percentile(sorted, 50), p90: percentile(sorted, 90) };
  });
}

const kb = (bytes: number): string => `${(bytes / 1024).toFixed(0)} KB`;
const ms = (value: number): string => `${value.toFixed(1)} ms`;
const ratio = (current: number, baseline: number): string => (current / baseline).toFixed(2);

/** The npm package an esbuild input path belongs to, or "rotator" for our own sources. */
function packageOf(input: string): string {
  const match = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(input.slice(input.lastIndexOf('node_modules/')));
  return match?.[1] ?? 'rotator (own code)';
}

/** Bytes in the bundle of `handler` by npm package, built as serverless-esbuild builds it (from the service root). */
async function composition(repo: string, handler: string): Promise<Map<string, number>> {
  const result = await build({
    ...(await esbuildOptionsOf(repo)),
    absWorkingDir: repo,
    entryPoints: [handlerSource(repo, handler)],
    write: false,
    metafile: true,
    outdir: '/tmp/unused',
  });
  const byPackage = new Map<string, number>();
  for (const output of Object.values(result.metafile.outputs)) {
    for (const [input, { bytesInOutput }] of Object.entries(output.inputs)) {
      const name = packageOf(input);
      byPackage.set(name, (byPackage.get(name) ?? 0) + bytesInOutput);
    }
  }
  return byPackage;
}

function largest(byPackage: Map<string, number>, top: number): string {
  return [...byPackage.entries()]
    .sort((a, b) => b[1] - a[1])
    .slice(0, top)
    .map(([name, bytes]) => `${name} ${kb(bytes)}`)
    .join(', ');
}

/** Packages whose bytes moved by 1 KB or more, largest change first. */
function changes(current: Map<string, number>, baseline: Map<string, number>): string {
  const names = new Set([...current.keys(), ...baseline.keys()]);
  const moved = [...names]
    .map((name) => ({ name, delta: (current.get(name) ?? 0) - (baseline.get(name) ?? 0) }))
    .filter(({ delta }) => Math.abs(delta) >= 1024)
    .sort((a, b) => Math.abs(b.delta) - Math.abs(a.delta));
  return moved.length === 0 ? 'none' : moved.map(({ name, delta }) => `${name} ${delta > 0 ? '+' : '-'}${kb(Math.abs(delta))}`).join(', ');
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      runs: { type: 'string', default: '20' },
      top: { type: 'string', default: '6' },
      baseline: { type: 'string', default: 'HEAD~1' },
      'lambda-only': { type: 'boolean', default: false },
    },
  });
  const runs = Number(values.runs);
  const top = Number(values.top);
  if (!Number.isInteger(runs) || runs < 1) throw new Error(`--runs is "${values.runs}"; give a whole number of at least 1`);
  const repo = repoRoot();
  const baseline = checkoutBaseline(repo, values.baseline);
  const scratch = mkdtempSync(join(tmpdir(), 'rotator-bench-bundle-'));
  const current: Build = { label: 'current', repo, scratch: join(scratch, 'current') };
  const previous: Build = { label: 'baseline', repo: baseline.dir, scratch: join(scratch, 'baseline') };
  mkdirSync(current.scratch);
  mkdirSync(previous.scratch);
  try {
    console.log(`node ${process.version}, ${availableParallelism()} CPUs (${cpus()[0]?.model.trim() ?? 'unknown'}), load average ${loadavg()[0]?.toFixed(1) ?? '?'}`);
    console.log(`baseline: ${baseline.label}; ${runs} cold imports per bundle and build, taking turns\n`);
    const [mine, theirs] = await Promise.all([packageService(current), packageService(previous)]);
    console.log(`osls package: ${mine.seconds.toFixed(1)} s (current) and ${theirs.seconds.toFixed(1)} s (baseline), in parallel\n`);
    console.log('| function | zip, current / baseline | unzipped, current / baseline | import median, current / baseline | import p90, current / baseline | median ratio | zip ≤ 1 MB | unzipped ≤ 1 MB | median ≤ 50 ms |');
    console.log('|---|---|---|---|---|---|---|---|---|');
    const contents: string[] = [];
    let allMet = true;
    for (const bundle of mine.bundles) {
      const before = theirs.bundles.find((b) => b.key === bundle.key);
      const [now, then] = await interleaved(before === undefined ? [bundle.file] : [bundle.file, before.file], runs, true, scratch);
      if (now === undefined) throw new Error('no import times');
      const pair = (a: string, b: string | undefined): string => `${a} / ${b ?? '-'}`;
      const cells = [
        pair(kb(bundle.zipBytes), before && kb(before.zipBytes)),
        pair(kb(bundle.bytes), before && kb(before.bytes)),
        pair(ms(now.median), then && ms(then.median)),
        pair(ms(now.p90), then && ms(then.p90)),
        then === undefined ? '-' : ratio(now.median, then.median),
      ];
      const verdicts = [bundle.zipBytes <= MAX_BYTES, bundle.bytes <= MAX_BYTES, now.median <= MAX_IMPORT_MS];
      allMet &&= verdicts.every(Boolean);
      console.log(`| ${bundle.key} | ${cells.join(' | ')} | ${verdicts.map((met) => (met ? 'met' : 'MISSED')).join(' | ')} |`);
      const byPackage = await composition(repo, bundle.handler);
      const was = before === undefined ? undefined : await composition(baseline.dir, before.handler);
      contents.push(`- ${bundle.key}: ${largest(byPackage, top)}${was === undefined ? '' : `\n  against the baseline: ${changes(byPackage, was)}`}`);
    }
    for (const gone of theirs.bundles.filter((b) => !mine.bundles.some((m) => m.key === b.key))) console.log(`| ${gone.key} | (baseline only) |`);
    console.log(`\nLargest contributors (bytes in the minified bundle, by package):\n${contents.join('\n')}`);

    if (!values['lambda-only']) {
      const [mineOut, theirsOut] = await Promise.all([compile(current), compile(previous)]);
      console.log('\nThe other deployables, compiled by tsc (`npm run build`), not bundled:\n');
      console.log('| entry | import median, current / baseline | import p90, current / baseline | median ratio |');
      console.log('|---|---|---|---|');
      for (const entry of ['functions/azure/app.js', 'functions/gcp/index.js']) {
        const [now, then] = await interleaved([join(mineOut, entry), join(theirsOut, entry)], runs, false, scratch);
        if (now === undefined || then === undefined) throw new Error('no import times');
        console.log(`| ${entry} | ${ms(now.median)} / ${ms(then.median)} | ${ms(now.p90)} / ${ms(then.p90)} | ${ratio(now.median, then.median)} |`);
      }
    }
    if (!allMet) process.exitCode = 1;
  } finally {
    rmSync(scratch, { recursive: true, force: true });
    baseline.remove();
  }
}

await main();
