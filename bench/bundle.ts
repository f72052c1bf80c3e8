/**
 * `npm run bench:bundle`: the size and cold import time of each AWS function bundle, exactly as deployed.
 *
 * 1. Packages serverless.yml with osls (offline, no credentials) in a scratch service directory, so the bundles are
 *    the ones `osls deploy` would upload (serverless-esbuild, the settings of `custom.esbuild`).
 * 2. For each function: the zip's size and the bundle's size unzipped, against the 1 MB target.
 * 3. Cold import: a fresh `node` process per run imports the bundle and reports how long `import()` took, as
 *    Lambda's init phase does (AWS_REGION set, no credentials: the SDK clients must not call out at import).
 *    Median and p90 over the runs, against the 50 ms target.
 * 4. What fills each bundle: the same entry built again by esbuild with the same settings and a metafile, bytes in
 *    the output grouped by npm package.
 *
 * Usage: npm run bench:bundle [-- --runs 20] [-- --top 6]
 */
import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, symlinkSync, copyFileSync, writeFileSync, existsSync } from 'node:fs';
import { availableParallelism, cpus, tmpdir } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { parseArgs, promisify } from 'node:util';
import { build, type BuildOptions } from 'esbuild';
import { parse as parseYaml } from 'yaml';
import { readZip } from '../test/support/zip.js';
import { percentile } from './stats.js';

const run = promisify(execFile);

const MAX_BYTES = 1024 * 1024;
const MAX_IMPORT_MS = 50;

/** The repository root: the nearest directory above this file with serverless.yml (from bench/ or dist/bench/). */
function repoRoot(): string {
  let dir = import.meta.dirname;
  while (!existsSync(join(dir, 'serverless.yml'))) {
    const parent = dirname(dir);
    if (parent === dir) throw new Error('serverless.yml not found above bench/');
    dir = parent;
  }
  return dir;
}

/** Our environment without AWS_* variables and with credential files that do not exist. */
function offlineEnv(scratch: string, extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [name, value] of Object.entries(process.env)) if (!name.startsWith('AWS_') && name !== 'NODE_OPTIONS') env[name] = value;
  return { ...env, AWS_SHARED_CREDENTIALS_FILE: join(scratch, 'none'), AWS_CONFIG_FILE: join(scratch, 'none'), ...extra };
}

interface FunctionBundle {
  key: string;
  handler: string;
  zipPath: string;
}

interface TemplateResource {
  Type: string;
  Properties: { Handler?: string; Code?: { S3Key: string } };
}

async function packageService(repo: string, scratch: string): Promise<{ bundles: FunctionBundle[]; seconds: number }> {
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
    .map(([id, r]) => ({
      key: id.replace(/LambdaFunction$/, ''),
      handler: r.Properties.Handler ?? '',
      zipPath: join(out, basename(r.Properties.Code?.S3Key ?? '')),
    }));
  return { bundles, seconds };
}

/** The single file of a function zip. */
function unzipSingle(zip: Buffer): { name: string; data: Buffer } {
  const [entry, ...more] = readZip(zip);
  if (entry === undefined || more.length > 0) throw new Error('expected a zip with exactly one entry');
  return { name: entry.name, data: entry.data() };
}

const IMPORT_SCRIPT = `
const started = performance.now();
const mod = await import(process.argv[1]);
const ms = performance.now() - started;
if (typeof mod.handler !== 'function') throw new Error('no handler export');
process.stdout.write(String(ms));
`;

async function importTimes(file: string, runs: number, scratch: string): Promise<number[]> {
  const times: number[] = [];
  const env = offlineEnv(scratch, { AWS_REGION: 'us-east-1', LOG_LEVEL: 'error' });
  for (let i = 0; i < runs; i++) {
    const { stdout } = await run(process.execPath, ['--no-warnings', '--input-type=module', '-e', IMPORT_SCRIPT, file], { env });
    times.push(Number(stdout));
  }
  return times;
}

const kb = (bytes: number): string => `${(bytes / 1024).toFixed(0)} KB`;

/** The npm package an esbuild input path belongs to, or "rotator" for our own sources. */
function packageOf(input: string): string {
  const match = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(input.slice(input.lastIndexOf('node_modules/')));
  return match?.[1] ?? 'rotator (own code)';
}

/** custom.esbuild of serverless.yml, as esbuild options (the plugin's own keys removed). */
function esbuildOptionsFromServerlessYml(repo: string): BuildOptions {
  // CloudFormation tags (!Sub, ...) are kept as plain values; only custom.esbuild is read.
  const doc = parseYaml(readFileSync(join(repo, 'serverless.yml'), 'utf8'), { logLevel: 'silent' }) as { custom: { esbuild: Record<string, unknown> } };
  const options: BuildOptions & Record<string, unknown> = { ...doc.custom.esbuild };
  for (const pluginOnly of ['exclude', 'outputFileExtension', 'packager', 'keepOutputDirectory', 'nativeZip', 'concurrency', 'zipConcurrency']) {
    Reflect.deleteProperty(options, pluginOnly);
  }
  return options;
}

async function composition(repo: string, handler: string, top: number): Promise<string> {
  const entry = join(repo, `${handler.replace(/\.handler$/, '')}.ts`);
  const result = await build({ ...esbuildOptionsFromServerlessYml(repo), entryPoints: [entry], write: false, metafile: true, outdir: '/tmp/unused' });
  const byPackage = new Map<string, number>();
  for (const output of Object.values(result.metafile.outputs)) {
    for (const [input, { bytesInOutput }] of Object.entries(output.inputs)) {
      const name = packageOf(input);
      byPackage.set(name, (byPackage.get(name) ?? 0) + bytesInOutput);
    }
  }
  return [...byPackage.entries()]
    .sort((a, b) => b[1] - a[1])
    .slice(0, top)
    .map(([name, bytes]) => `${name} ${kb(bytes)}`)
    .join(', ');
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { runs: { type: 'string', default: '20' }, top: { type: 'string', default: '6' } } });
  const runs = Number(values.runs);
  const top = Number(values.top);
  const repo = repoRoot();
  const scratch = mkdtempSync(join(tmpdir(), 'rotator-bench-bundle-'));
  try {
    console.log(`node ${process.version}, ${availableParallelism()} CPUs (${cpus()[0]?.model.trim() ?? 'unknown'}), ${runs} cold imports per bundle`);
    const { bundles, seconds } = await packageService(repo, scratch);
    console.log(`osls package: ${seconds.toFixed(1)} s\n`);
    console.log('| function | zip | unzipped | import median | import p90 | zip ≤ 1 MB | unzipped ≤ 1 MB | median ≤ 50 ms |');
    console.log('|---|---|---|---|---|---|---|---|');
    const contents: string[] = [];
    let allMet = true;
    for (const bundle of bundles) {
      const zipBytes = statSync(bundle.zipPath).size;
      const { name, data } = unzipSingle(readFileSync(bundle.zipPath));
      const file = join(scratch, 'unzipped', bundle.key, name);
      mkdirSync(dirname(file), { recursive: true });
      writeFileSync(file, data);
      const times = (await importTimes(file, runs, scratch)).sort((a, b) => a - b);
      const median = percentile(times, 50);
      const p90 = percentile(times, 90);
      const verdicts = [zipBytes <= MAX_BYTES, data.length <= MAX_BYTES, median <= MAX_IMPORT_MS];
      allMet &&= verdicts.every(Boolean);
      const cells = verdicts.map((met) => (met ? 'met' : 'MISSED')).join(' | ');
      console.log(`| ${bundle.key} | ${kb(zipBytes)} | ${kb(data.length)} | ${median.toFixed(1)} ms | ${p90.toFixed(1)} ms | ${cells} |`);
      contents.push(`- ${bundle.key}: ${await composition(repo, bundle.handler, top)}`);
    }
    console.log(`\nLargest contributors (bytes in the minified bundle, by package):\n${contents.join('\n')}`);
    if (!allMet) process.exitCode = 1;
  } finally {
    rmSync(scratch, { recursive: true, force: true });
  }
}

await main();
