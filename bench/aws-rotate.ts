/**
 * `npm run bench:aws`: the current build against an earlier one (`--baseline`, default the previous commit), in one
 * run, interleaved, rotating exactly as Secrets Manager rotates: RotateSecret's stub, then one invocation of the
 * deployed Lambda handler per step.
 *
 * - Both builds are bundled from their own checkout with their own serverless.yml settings (bench/function-bundle.ts,
 *   bench/baseline.ts), so what runs is what `osls deploy` uploads, whatever the handler's API was at that commit.
 * - Secrets Manager is the fake (test/fakes/); PostgreSQL is a throwaway cluster enforcing scram-sha-256
 *   (bench/postgres.ts), as on RDS (`--postgres local` uses the PG* variables instead); MariaDB is the local server.
 * - Each build rotates its own secret and users. Per case (engine, strategy, container) the rotations run in rounds,
 *   a batch of one build then of the other, the order swapped every round, so both see the same machine load.
 * - A warm container is one import of the bundle serving every rotation; a cold one is a fresh node process per
 *   rotation (new SDK clients, connections, engine memory), as a rotation 30 days later gets. The import itself is not
 *   timed here (`npm run bench:bundle` measures it).
 * - Per rotation: the time of the four invocations, Secrets Manager calls (counted by the fake), database logins
 *   (TCP connections through a counting proxy in front of each server: every login the rotator attempts, accepted or
 *   refused), and what the handler writes (log lines by level and their bytes, EMF metric lines), at LOG_LEVEL
 *   (info unless set), as a deployment logs.
 *
 * Usage: npm run bench:aws [-- --rotations 20] [-- --rounds 5] [-- --baseline <commit>|none]
 * [-- --engine postgres|mariadb] [-- --strategy single-user|alternating-users] [-- --container warm|cold] [-- --postgres local]
 */
import { CreateSecretCommand, RotateSecretCommand, type Tag } from '@aws-sdk/client-secrets-manager';
import type { Context } from 'aws-lambda';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { availableParallelism, cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import type { Readable } from 'node:stream';
import { pathToFileURL } from 'node:url';
import { Worker } from 'node:worker_threads';
import { parseArgs } from 'node:util';
import { STEPS } from '../shared/engine.js';
import type { Strategy } from '../shared/store.js';
import { STRATEGY_TAG } from '../stores/aws/index.js';
import { LOCAL_ENGINES, connectLocal, throwawayPassword, uniqueSuffix, type LocalDatabase, type LocalEngine } from '../scripts/local-databases.js';
import { FAKE_REGION, startSecretsManagerFake, type SecretsManagerFake } from '../test/fakes/aws/secrets-manager.js';
import { checkoutBaseline, repoRoot, type Baseline } from './baseline.js';
import { bundleFunction } from './function-bundle.js';
import { startBenchPostgres } from './postgres.js';
import { percentile } from './stats.js';

const LAMBDA_ARN = 'arn:aws:lambda:us-east-1:123456789012:function:rotator-bench';
const STRATEGIES_BENCHED = ['single-user', 'alternating-users'] as const satisfies readonly Strategy[];
const CONTAINERS = ['warm', 'cold'] as const;
type Container = (typeof CONTAINERS)[number];
const HANDLERS: Record<LocalEngine, string> = { postgres: 'functions/aws/rotate-postgres.handler', mariadb: 'functions/aws/rotate-mysql.handler' };
const context = { functionName: 'rotator-bench', awsRequestId: 'bench', getRemainingTimeInMillis: () => 60_000 } as unknown as Context;
const logLevel = process.env.LOG_LEVEL ?? 'info';

/** What the handler wrote during one rotation: log lines by level, EMF metric lines, and the bytes of each. */
interface Output {
  levels: Map<string, number>;
  logBytes: number;
  metricLines: number;
  metricBytes: number;
}

const emptyOutput = (): Output => ({ levels: new Map(), logBytes: 0, metricLines: 0, metricBytes: 0 });

/** Counts one written line: an EMF document (it has `_aws`) or a Powertools log line (its `level`). */
function countLine(line: string, into: Output): void {
  const bytes = Buffer.byteLength(line, 'utf8') + 1;
  let record: { _aws?: unknown; level?: unknown } = {};
  try {
    record = JSON.parse(line) as typeof record;
  } catch {
    // Not JSON: counted as a log line of unknown level.
  }
  if (record._aws !== undefined) {
    into.metricLines += 1;
    into.metricBytes += bytes;
    return;
  }
  const level = typeof record.level === 'string' ? record.level.toUpperCase() : 'OTHER';
  into.levels.set(level, (into.levels.get(level) ?? 0) + 1);
  into.logBytes += bytes;
}

/**
 * Runs `run` with stdout and stderr captured (Powertools writes INFO/DEBUG and EMF to stdout, WARN/ERROR to stderr),
 * counting every line into `into`; the benchmark itself prints only its figures.
 */
async function captured<T>(into: Output, run: () => Promise<T>): Promise<T> {
  const streams = [process.stdout, process.stderr];
  const restore = streams.map((stream) => {
    const write = stream.write.bind(stream);
    stream.write = (chunk: string | Uint8Array) => {
      for (const line of String(chunk).split('\n')) if (line.length > 0) countLine(line, into);
      return true;
    };
    return () => (stream.write = write);
  });
  try {
    return await run();
  } finally {
    for (const undo of restore) undo();
  }
}

/**
 * A TCP proxy in front of a database server that counts the connections made through it: one per login. It runs in a
 * worker thread, so the packets it forwards do not wait on the event loop of the warm handler that sends them.
 */
interface CountingProxy {
  port: number;
  connections: () => number;
  close: () => Promise<void>;
}

const PROXY_WORKER = `
const { createConnection, createServer } = require('node:net');
const { parentPort, workerData } = require('node:worker_threads');
const count = new Int32Array(workerData.counter);
const server = createServer((client) => {
  Atomics.add(count, 0, 1);
  const upstream = createConnection({ host: workerData.host, port: workerData.port });
  client.pipe(upstream).pipe(client);
  client.on('error', () => upstream.destroy());
  upstream.on('error', () => client.destroy());
  client.on('close', () => upstream.destroy());
  upstream.on('close', () => client.destroy());
});
server.listen(0, '127.0.0.1', () => parentPort.postMessage(server.address().port));
`;

async function startCountingProxy(host: string, port: number): Promise<CountingProxy> {
  const counter = new SharedArrayBuffer(4);
  const worker = new Worker(PROXY_WORKER, { eval: true, workerData: { host, port, counter } });
  const listening = await new Promise<number>((resolve, reject) => {
    worker.once('message', (p: number) => resolve(p));
    worker.once('error', reject);
  });
  const count = new Int32Array(counter);
  return {
    port: listening,
    connections: () => Atomics.load(count, 0),
    close: async () => {
      await worker.terminate();
    },
  };
}

type Handler = (event: { SecretId: string; ClientRequestToken: string; Step: string }, context: Context) => Promise<unknown>;

/** One build: its bundles and, for warm containers, the one import each serves every rotation from. */
interface Build {
  name: string;
  bundles: Record<LocalEngine, string>;
  warm: Map<LocalEngine, Handler>;
}

/** The warm container of `build` for `engine`: one import of its bundle, serving every rotation. */
async function warmHandler(build: Build, engine: LocalEngine): Promise<Handler> {
  const known = build.warm.get(engine);
  if (known !== undefined) return known;
  const { handler } = (await import(pathToFileURL(build.bundles[engine]).href)) as { handler?: Handler };
  if (typeof handler !== 'function') throw new Error(`${build.bundles[engine]} exports no handler`);
  build.warm.set(engine, handler);
  return handler;
}

/**
 * A cold container: a fresh node process imports the bundle and invokes its handler once per event, then writes the
 * time of the invocations (not of the import) to fd 3. Its stdout and stderr are the handler's output, as on Lambda.
 * A process per rotation, because a module instance imported in this process could never be freed (about 30 MB each).
 */
const COLD_SCRIPT = `
import { writeSync } from 'node:fs';
const { handler } = await import(process.argv[1]);
const context = { functionName: 'rotator-bench', awsRequestId: 'bench', getRemainingTimeInMillis: () => 60000 };
const started = performance.now();
for (const event of JSON.parse(process.argv[2])) await handler(event, context);
writeSync(3, String(performance.now() - started));
`;

function coldRotation(bundle: string, events: readonly object[], output: Output): Promise<number> {
  return new Promise((resolve, reject) => {
    // --no-warnings: the SDK warns under Node 20 (this machine) that it will need Node 22 (what Lambda runs).
    const child = spawn(process.execPath, ['--no-warnings', '--input-type=module', '-e', COLD_SCRIPT, pathToFileURL(bundle).href, JSON.stringify(events)], {
      stdio: ['ignore', 'pipe', 'pipe', 'pipe'],
    });
    const text = { out: '', err: '', time: '' };
    const [, stdout, stderr, fd3] = child.stdio as unknown as Readable[];
    stdout?.on('data', (chunk: Buffer) => (text.out += chunk.toString('utf8')));
    stderr?.on('data', (chunk: Buffer) => (text.err += chunk.toString('utf8')));
    fd3?.on('data', (chunk: Buffer) => (text.time += chunk.toString('utf8')));
    child.on('error', reject);
    child.on('close', (code) => {
      for (const line of `${text.out}\n${text.err}`.split('\n')) if (line.length > 0) countLine(line, output);
      const ms = Number(text.time);
      if (code === 0 && Number.isFinite(ms)) resolve(ms);
      else reject(new Error(`the cold container exited with ${String(code)}: ${text.err.slice(-2000)}`));
    });
  });
}

interface Figures {
  times: number[];
  calls: number[];
  logins: number[];
  perOperation: Map<string, number>;
  output: Output;
}

const emptyFigures = (): Figures => ({ times: [], calls: [], logins: [], perOperation: new Map(), output: emptyOutput() });

/** The users and secrets of one build in one case: the app's user, and for alternating-users its master user and secret. */
async function setUp(db: LocalDatabase, strategy: Strategy, fake: SecretsManagerFake, via: { host: string; port: number }): Promise<{ name: string; users: string[] }> {
  const sm = fake.client();
  try {
    const user = `rotator_awsb_${uniqueSuffix()}`;
    const name = `bench/${db.engine}/${user}`;
    const password = throwawayPassword();
    await db.createUser(user, password);
    if (strategy === 'single-user') {
      await sm.send(new CreateSecretCommand({ Name: name, SecretString: JSON.stringify(db.secret(user, password, via)) }));
      return { name, users: [user] };
    }
    const master = `${user}_admin`;
    const masterPassword = throwawayPassword();
    await db.createUser(master, masterPassword, { masterOf: user });
    await sm.send(new CreateSecretCommand({ Name: `${name}/master`, SecretString: JSON.stringify(db.secret(master, masterPassword, via)) }));
    const tags: Tag[] = [{ Key: STRATEGY_TAG, Value: strategy }];
    await sm.send(new CreateSecretCommand({ Name: name, SecretString: JSON.stringify(db.secret(user, password, { ...via, masterarn: `${name}/master` })), Tags: tags }));
    // The alternate (_clone) goes before the master, which holds rights on it.
    return { name, users: [`${user}_clone`, user, master] };
  } finally {
    sm.destroy();
  }
}

interface Case {
  engine: LocalEngine;
  strategy: Strategy;
  container: Container;
}

/** One rotation of `name` through `build`'s handler, driven as the service drives it, measured into `into`. */
async function rotateOnce(build: Build, c: Case, name: string, fake: SecretsManagerFake, proxy: CountingProxy, into: Figures | undefined): Promise<void> {
  const sm = fake.client();
  try {
    const token = (await sm.send(new RotateSecretCommand({ SecretId: name }))).VersionId ?? '';
    const events = STEPS.map((step) => ({ SecretId: name, ClientRequestToken: token, Step: step }));
    const output = into?.output ?? emptyOutput();
    const handler = c.container === 'warm' ? await warmHandler(build, c.engine) : undefined;
    fake.resetCounts();
    const connectionsBefore = proxy.connections();
    let ms: number;
    if (handler === undefined) {
      ms = await coldRotation(build.bundles[c.engine], events, output);
    } else {
      const started = performance.now();
      for (const event of events) await captured(output, () => handler(event, context));
      ms = performance.now() - started;
    }
    if (into === undefined) return;
    into.times.push(ms);
    into.calls.push(fake.count());
    into.logins.push(proxy.connections() - connectionsBefore);
    for (const [op, n] of Object.entries(fake.counts())) into.perOperation.set(op, (into.perOperation.get(op) ?? 0) + n);
  } finally {
    sm.destroy();
  }
}

/** One case for every build, interleaved: `rounds` rounds of `perRound` rotations per build, the order swapped each round. */
async function benchCase(c: Case, builds: readonly Build[], rotations: number, rounds: number, fake: SecretsManagerFake, proxy: CountingProxy, env: NodeJS.ProcessEnv): Promise<Figures[]> {
  const db = await connectLocal(c.engine, env);
  const sm = fake.client();
  const users: string[][] = [];
  try {
    const names: string[] = [];
    for (const build of builds) {
      const setup = await setUp(db, c.strategy, fake, { host: '127.0.0.1', port: proxy.port });
      users.push(setup.users);
      names.push(setup.name);
      await sm.send(new RotateSecretCommand({ SecretId: setup.name, RotateImmediately: false, RotationLambdaARN: LAMBDA_ARN, RotationRules: { AutomaticallyAfterDays: 30 } }));
      // Warm-up, not measured: module loading, first connections, the alternate user's creation.
      await rotateOnce(build, c, setup.name, fake, proxy, undefined);
    }
    const figures = builds.map(emptyFigures);
    for (let round = 0; round < rounds; round++) {
      const order = builds.map((_, i) => i);
      if (round % 2 === 1) order.reverse();
      const batch = Math.floor(rotations / rounds) + (round < rotations % rounds ? 1 : 0);
      for (const i of order) {
        for (let n = 0; n < batch; n++) await rotateOnce(builds[i] as Build, c, names[i] as string, fake, proxy, figures[i]);
      }
    }
    return figures;
  } finally {
    sm.destroy();
    for (const u of users) await db.dropUsers(u);
    await db.close();
  }
}

/** The per-rotation figures of one build in one case. */
interface Summary {
  median: number;
  p90: number;
  logins: number;
  calls: number;
  maxCalls: number;
  info: number;
  lines: number;
  logBytes: number;
  metricBytes: number;
  perOperation: string;
}

function summarise(f: Figures): Summary {
  const n = f.times.length;
  const times = [...f.times].sort((a, b) => a - b);
  const sum = (values: Iterable<number>): number => [...values].reduce((a, b) => a + b, 0);
  return {
    median: percentile(times, 50),
    p90: percentile(times, 90),
    logins: sum(f.logins) / n,
    calls: sum(f.calls) / n,
    maxCalls: Math.max(...f.calls),
    info: (f.output.levels.get('INFO') ?? 0) / n,
    lines: sum(f.output.levels.values()) / n,
    logBytes: f.output.logBytes / n,
    metricBytes: f.output.metricBytes / n,
    perOperation: [...f.perOperation].map(([op, count]) => `${op} ${(count / n).toFixed(1)}`).join(', '),
  };
}

const ratio = (a: number, b: number): string => (b === 0 ? '-' : (a / b).toFixed(2));
const fixed = (n: number, digits = 1): string => n.toFixed(digits);

function caseTable(c: Case, builds: readonly Build[], summaries: readonly Summary[]): string {
  const rows = summaries.map(
    (s, i) =>
      `| ${builds[i]?.name ?? ''} | ${fixed(s.median)} | ${fixed(s.p90)} | ${fixed(s.logins)} | ${fixed(s.calls)} (max ${s.maxCalls}) | ${fixed(s.info)} | ${fixed(s.lines)} | ${fixed(s.logBytes, 0)} | ${fixed(s.metricBytes, 0)} |`,
  );
  const [a, b] = summaries;
  if (a !== undefined && b !== undefined) {
    rows.push(
      `| current / baseline | ${ratio(a.median, b.median)} | ${ratio(a.p90, b.p90)} | ${ratio(a.logins, b.logins)} | ${ratio(a.calls, b.calls)} | ${ratio(a.info, b.info)} | ${ratio(a.lines, b.lines)} | ${ratio(a.logBytes, b.logBytes)} | ${ratio(a.metricBytes, b.metricBytes)} |`,
    );
  }
  return (
    `\n${c.engine} ${c.strategy}, ${c.container} container\n` +
    '| build | median ms | p90 ms | logins | Secrets Manager calls | INFO lines | log lines | log bytes | EMF bytes |\n|---|---|---|---|---|---|---|---|---|\n' +
    rows.join('\n') +
    '\n' +
    summaries.map((s, i) => `  ${builds[i]?.name ?? ''} calls: ${s.perOperation}`).join('\n') +
    '\n'
  );
}

/** The environment a deployed rotation function has (serverless.yml's provider.environment), pointed at the fake. */
function lambdaEnvironment(fake: SecretsManagerFake, scratch: string): NodeJS.ProcessEnv {
  return {
    AWS_REGION: FAKE_REGION,
    AWS_ACCESS_KEY_ID: 'AKIDBENCH',
    AWS_SECRET_ACCESS_KEY: 'bench',
    AWS_SHARED_CREDENTIALS_FILE: join(scratch, 'none'),
    AWS_CONFIG_FILE: join(scratch, 'none'),
    SECRETS_MANAGER_ENDPOINT: fake.endpoint,
    AWS_NODEJS_CONNECTION_REUSE_ENABLED: '1',
    LOG_LEVEL: logLevel,
    POWERTOOLS_SERVICE_NAME: 'rotator',
    POWERTOOLS_METRICS_NAMESPACE: 'Rotator',
    ROTATION_STRATEGY: 'single-user',
  };
}

const { values } = parseArgs({
  options: {
    rotations: { type: 'string', default: '20' },
    rounds: { type: 'string', default: '5' },
    baseline: { type: 'string', default: 'HEAD~1' },
    engine: { type: 'string', multiple: true },
    strategy: { type: 'string', multiple: true },
    container: { type: 'string', multiple: true },
    postgres: { type: 'string', default: 'scram' },
  },
});
const wholeNumber = (text: string, name: string): number => {
  const n = Number(text);
  if (!Number.isInteger(n) || n < 1) throw new Error(`--${name} is "${text}"; use a whole number of at least 1`);
  return n;
};
const rotations = wholeNumber(values.rotations, 'rotations');
const rounds = Math.min(wholeNumber(values.rounds, 'rounds'), rotations);
const oneOf = <T extends string>(given: string[] | undefined, allowed: readonly T[], name: string): T[] => {
  for (const v of given ?? []) if (!(allowed as readonly string[]).includes(v)) throw new Error(`--${name} is "${v}"; use one of ${allowed.join(', ')}`);
  return (given as T[] | undefined) ?? [...allowed];
};
const engines = oneOf(values.engine, LOCAL_ENGINES, 'engine');
const strategies = oneOf(values.strategy, STRATEGIES_BENCHED, 'strategy');
const containers = oneOf(values.container, CONTAINERS, 'container');
if (values.postgres !== 'scram' && values.postgres !== 'local') throw new Error(`--postgres is "${values.postgres}"; use scram or local`);

const repo = repoRoot();
const scratch = mkdtempSync(join(tmpdir(), 'rotator-bench-aws-'));
let baseline: Baseline | undefined;
const cleanups: Array<() => Promise<void> | void> = [() => rmSync(scratch, { recursive: true, force: true })];
try {
  baseline = values.baseline === 'none' ? undefined : checkoutBaseline(repo, values.baseline);
  if (baseline !== undefined) cleanups.push(baseline.remove);
  const trees = [{ name: 'current', root: repo }, ...(baseline === undefined ? [] : [{ name: 'baseline', root: baseline.dir }])];
  const builds: Build[] = [];
  // Both builds are bundled before anything is measured.
  for (const [i, tree] of trees.entries()) {
    const bundles = {} as Record<LocalEngine, string>;
    for (const engine of engines) {
      bundles[engine] = join(scratch, `build${i}`, `${engine}.mjs`);
      await bundleFunction(tree.root, HANDLERS[engine], bundles[engine]);
    }
    builds.push({ name: tree.name, bundles, warm: new Map() });
  }

  const scram = values.postgres === 'scram' && engines.includes('postgres') ? await startBenchPostgres() : undefined;
  if (scram !== undefined) cleanups.push(scram.stop);
  const env: NodeJS.ProcessEnv =
    scram === undefined
      ? process.env
      : { ...process.env, PGHOST: scram.cluster.host, PGPORT: String(scram.cluster.port), PGUSER: scram.cluster.superuser, PGPASSWORD: scram.cluster.superuserPassword, PGDATABASE: 'postgres' };
  const fake = await startSecretsManagerFake();
  cleanups.push(() => fake.close());
  const proxies = new Map<LocalEngine, CountingProxy>();
  for (const engine of engines) {
    const target = engine === 'postgres' ? { host: env.PGHOST ?? '127.0.0.1', port: Number(env.PGPORT ?? 5432) } : { host: env.MYSQL_HOST ?? '127.0.0.1', port: Number(env.MYSQL_TCP_PORT ?? 3306) };
    const proxy = await startCountingProxy(target.host, target.port);
    cleanups.push(proxy.close);
    proxies.set(engine, proxy);
  }
  // The bundles read their settings at import, as a function reads its environment at init.
  // The SDK warns on every fresh client under Node 20 (this machine) that it will need Node 22 (what Lambda runs);
  // Node prints process warnings to stderr, which would count as the handler's log lines.
  process.removeAllListeners('warning');
  Object.assign(process.env, lambdaEnvironment(fake, scratch));

  process.stdout.write(
    `node ${process.version}, ${availableParallelism()} CPUs (${cpus()[0]?.model.trim() ?? 'unknown'})${scram === undefined ? '' : `, PostgreSQL ${scram.version} enforcing scram-sha-256`}; ` +
      `${rotations} rotations per build and case after one warm-up, in ${rounds} interleaved rounds; LOG_LEVEL ${logLevel}\n` +
      `current: the working tree${baseline === undefined ? '' : `; baseline: ${baseline.label}`}\n`,
  );
  const summary: string[] = [];
  for (const engine of engines) {
    for (const strategy of strategies) {
      for (const container of containers) {
        const c: Case = { engine, strategy, container };
        const figures = await benchCase(c, builds, rotations, rounds, fake, proxies.get(engine) as CountingProxy, env);
        const s = figures.map(summarise);
        process.stdout.write(caseTable(c, builds, s));
        const [a, b] = s;
        if (a !== undefined) {
          const vs = (x: number, y: number | undefined, digits = 1): string => (y === undefined ? fixed(x, digits) : `${fixed(x, digits)} / ${fixed(y, digits)}`);
          summary.push(
            `| ${engine} ${strategy}, ${container} | ${b === undefined ? '-' : ratio(a.median, b.median)} | ${b === undefined ? '-' : ratio(a.p90, b.p90)} | ` +
              `${vs(a.logins, b?.logins)} | ${vs(a.calls, b?.calls)} | ${vs(a.info, b?.info)} | ${vs(a.logBytes, b?.logBytes, 0)} |`,
          );
        }
      }
    }
  }
  process.stdout.write(
    `\nSummary (current${baseline === undefined ? '' : ' / baseline'}), per rotation\n` +
      '| case | median ratio | p90 ratio | logins | Secrets Manager calls | INFO lines | log bytes |\n|---|---|---|---|---|---|---|\n' +
      summary.join('\n') +
      '\n',
  );
} finally {
  for (const cleanup of cleanups.reverse()) await cleanup();
}
