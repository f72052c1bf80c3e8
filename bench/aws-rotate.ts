/**
 * `npm run bench:aws`: rotations driven exactly as Secrets Manager drives them (RotateSecret's stub, then one
 * invocation of the real Lambda handler per step), against the Secrets Manager fake (test/fakes/) and the local
 * database servers, single-user and alternating-users. Prints, per rotation: the Secrets Manager calls (the figure
 * the AWS issue targets: <= 8; AWS's Python templates make 14), the time, and what the handler writes (its log lines
 * by level and their bytes, and the EMF metric lines: on Lambda all of it is CloudWatch Logs volume), for a warm
 * container (one handler serves every rotation) and a cold one (a new handler per rotation, as a rotation 30 days
 * later gets). The handler logs at LOG_LEVEL (info unless set), as a deployment does. Logins per rotation are the
 * database logins the handler attempts, accepted and refused, counted at the drivers' connect (see countLogins).
 * PostgreSQL is a throwaway cluster that enforces scram-sha-256 (bench/postgres.ts), as on RDS: a trust-auth server
 * would make logins cheaper than they are and add a warning per login; `--postgres local` uses the PG* variables
 * instead, as the demo does. MariaDB is the local server (MYSQL_* variables).
 * Usage: npm run bench:aws [-- --rotations 30] [-- --engine postgres|mariadb] [-- --strategy single-user|alternating-users]
 * [-- --postgres local].
 */
import { CreateSecretCommand, RotateSecretCommand, type Tag } from '@aws-sdk/client-secrets-manager';
import type { Context } from 'aws-lambda';
import mysql from 'mysql2';
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import pg from 'pg';
import { createRotateHandler, type RotateHandler } from '../functions/aws/rotate.js';
import { createRotators } from '../rotators/index.js';
import { loadConfig } from '../shared/config.js';
import { STEPS } from '../shared/engine.js';
import type { Strategy } from '../shared/store.js';
import { STRATEGY_TAG, createSecretsManagerClient } from '../stores/aws/index.js';
import { LOCAL_ENGINES, connectLocal, throwawayPassword, uniqueSuffix, type LocalDatabase, type LocalEngine } from '../scripts/local-databases.js';
import { FAKE_REGION, startSecretsManagerFake, type SecretsManagerFake } from '../test/fakes/aws/secrets-manager.js';
import { startBenchPostgres } from './postgres.js';
import { percentile } from './stats.js';

const LAMBDA_ARN = 'arn:aws:lambda:us-east-1:123456789012:function:rotator-bench';
const STRATEGIES_BENCHED = ['single-user', 'alternating-users'] as const satisfies readonly Strategy[];
const context = { functionName: 'rotator-bench', awsRequestId: 'bench', getRemainingTimeInMillis: () => 60_000 } as unknown as Context;
const config = loadConfig(process.env);

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

/** Database logins since the last reset: accepted, and refused (or otherwise failed) at connect. */
const logins = { ok: 0, failed: 0 };

/**
 * Counts every login at the drivers' connect, the one call each rotator login makes (rotators/postgres/connect.ts,
 * rotators/mysql/connect.ts), whatever its outcome. The rotators load the same driver modules as this file, so the
 * patched prototypes are theirs; the bench's own setup connections fall outside the counted window (fake.resetCounts).
 */
function countLogins(): void {
  const count = (error: unknown): void => {
    if (error === null || error === undefined) logins.ok += 1;
    else logins.failed += 1;
  };
  // The drivers' own types overload connect; only the promise form (pg) and the callback form (mysql2) are used.
  const pgClient = pg.Client.prototype as unknown as { connect: (this: unknown) => Promise<unknown> };
  const pgConnect = pgClient.connect;
  pgClient.connect = function (this: unknown) {
    return pgConnect.call(this).then(
      (client) => {
        count(null);
        return client;
      },
      (error: unknown) => {
        count(error);
        throw error;
      },
    );
  };
  const mysqlConnection = mysql.Connection.prototype as unknown as { connect: (this: unknown, cb: (error: unknown) => void) => void };
  const mysqlConnect = mysqlConnection.connect;
  mysqlConnection.connect = function (this: unknown, cb) {
    mysqlConnect.call(this, (error) => {
      count(error);
      cb(error);
    });
  };
}

function newHandler(fake: SecretsManagerFake): RotateHandler {
  const client = createSecretsManagerClient({
    env: { SECRETS_MANAGER_ENDPOINT: fake.endpoint, AWS_REGION: FAKE_REGION },
    credentials: { accessKeyId: 'AKIDBENCH', secretAccessKey: 'bench' },
  });
  return createRotateHandler({ client, rotators: createRotators(config), engineFamily: 'bench', config: { defaultStrategy: 'single-user', logLevel: config.logLevel } });
}

interface Figures {
  times: number[];
  calls: number[];
  /** Per rotation: [accepted, refused] logins. */
  logins: Array<[number, number]>;
  perOperation: Map<string, number>;
  output: Output;
}

/** The users and secrets of one case: the app's user, and for alternating-users its master user and secret. */
async function setUp(db: LocalDatabase, strategy: Strategy, fake: SecretsManagerFake): Promise<{ name: string; users: string[] }> {
  const sm = fake.client();
  try {
    const user = `rotator_awsb_${uniqueSuffix()}`;
    const name = `bench/${db.engine}/${user}`;
    const password = throwawayPassword();
    await db.createUser(user, password);
    if (strategy === 'single-user') {
      await sm.send(new CreateSecretCommand({ Name: name, SecretString: JSON.stringify(db.secret(user, password)) }));
      return { name, users: [user] };
    }
    const master = `${user}_admin`;
    const masterPassword = throwawayPassword();
    await db.createUser(master, masterPassword, { masterOf: user });
    await sm.send(new CreateSecretCommand({ Name: `${name}/master`, SecretString: JSON.stringify(db.secret(master, masterPassword)) }));
    const tags: Tag[] = [{ Key: STRATEGY_TAG, Value: strategy }];
    await sm.send(new CreateSecretCommand({ Name: name, SecretString: JSON.stringify(db.secret(user, password, { masterarn: `${name}/master` })), Tags: tags }));
    // The alternate (_clone) goes before the master, which holds rights on it.
    return { name, users: [`${user}_clone`, user, master] };
  } finally {
    sm.destroy();
  }
}

async function bench(engineName: LocalEngine, strategy: Strategy, rotations: number, fake: SecretsManagerFake, warm: boolean, env: NodeJS.ProcessEnv): Promise<Figures> {
  const db = await connectLocal(engineName, env);
  const sm = fake.client();
  let users: string[] = [];
  try {
    const setup = await setUp(db, strategy, fake);
    const { name } = setup;
    users = setup.users;
    await sm.send(new RotateSecretCommand({ SecretId: name, RotateImmediately: false, RotationLambdaARN: LAMBDA_ARN, RotationRules: { AutomaticallyAfterDays: 30 } }));
    let handler = newHandler(fake);
    const rotate = async (output: Output): Promise<{ ms: number; calls: number; logins: [number, number] }> => {
      const token = (await sm.send(new RotateSecretCommand({ SecretId: name }))).VersionId ?? '';
      if (!warm) handler = newHandler(fake);
      fake.resetCounts();
      logins.ok = 0;
      logins.failed = 0;
      const started = performance.now();
      for (const step of STEPS) await captured(output, () => handler({ SecretId: name, ClientRequestToken: token, Step: step }, context));
      return { ms: performance.now() - started, calls: fake.count(), logins: [logins.ok, logins.failed] };
    };
    await rotate(emptyOutput()); // warm-up: module loading, first connections, the alternate user's creation
    const figures: Figures = { times: [], calls: [], logins: [], perOperation: new Map(), output: emptyOutput() };
    for (let i = 0; i < rotations; i++) {
      const { ms, calls, logins: made } = await rotate(figures.output);
      figures.times.push(ms);
      figures.calls.push(calls);
      figures.logins.push(made);
      for (const [op, n] of Object.entries(fake.counts())) figures.perOperation.set(op, (figures.perOperation.get(op) ?? 0) + n);
    }
    return figures;
  } finally {
    sm.destroy();
    await db.dropUsers(users);
    await db.close();
  }
}

function report(engine: string, strategy: Strategy, warm: boolean, rotations: number, f: Figures): string {
  const times = [...f.times].sort((a, b) => a - b);
  const per = (n: number): string => (n / rotations).toFixed(1);
  const calls = f.calls.reduce((a, b) => a + b, 0) / rotations;
  const accepted = f.logins.reduce((a, [ok]) => a + ok, 0);
  const refused = f.logins.reduce((a, [, failed]) => a + failed, 0);
  const perOp = [...f.perOperation].map(([op, n]) => `${op} ${per(n)}`).join(', ');
  const { levels, logBytes, metricLines, metricBytes } = f.output;
  const lines = [...levels.values()].reduce((a, b) => a + b, 0);
  const byLevel = [...levels].map(([level, n]) => `${level} ${per(n)}`).join(', ');
  return (
    `${engine} ${strategy}, ${warm ? 'warm container (one handler)' : 'cold container (a handler per rotation)'}, ${rotations} rotations\n` +
    `  Secrets Manager calls per rotation: ${calls.toFixed(1)} (max ${Math.max(...f.calls)}; ${perOp}); vs AWS's templates' 14: ${(calls / 14).toFixed(2)}\n` +
    `  logins per rotation: ${per(accepted + refused)} (accepted ${per(accepted)}, refused ${per(refused)})\n` +
    `  median ${percentile(times, 50).toFixed(1)} ms, p90 ${percentile(times, 90).toFixed(1)} ms per rotation (four invocations)\n` +
    `  log lines per rotation at ${config.logLevel}: ${per(lines)} (${byLevel || 'none'}), ${per(logBytes)} bytes; ` +
    `EMF metric lines: ${per(metricLines)}, ${per(metricBytes)} bytes\n`
  );
}

const { values } = parseArgs({
  options: {
    rotations: { type: 'string', default: '30' },
    engine: { type: 'string', multiple: true },
    strategy: { type: 'string', multiple: true },
    postgres: { type: 'string', default: 'scram' },
  },
});
const rotations = Number(values.rotations);
if (!Number.isInteger(rotations) || rotations < 1) throw new Error(`--rotations is "${values.rotations}"; use a whole number of at least 1`);
const engines = values.engine ?? [...LOCAL_ENGINES];
for (const name of engines) if (!(LOCAL_ENGINES as readonly string[]).includes(name)) throw new Error(`--engine is "${name}"; use one of ${LOCAL_ENGINES.join(', ')}`);
const strategies = values.strategy ?? [...STRATEGIES_BENCHED];
for (const s of strategies) if (!(STRATEGIES_BENCHED as readonly string[]).includes(s)) throw new Error(`--strategy is "${s}"; use one of ${STRATEGIES_BENCHED.join(', ')}`);
if (values.postgres !== 'scram' && values.postgres !== 'local') throw new Error(`--postgres is "${values.postgres}"; use scram or local`);
const scram = values.postgres === 'scram' && engines.includes('postgres') ? await startBenchPostgres() : undefined;
const env: NodeJS.ProcessEnv =
  scram === undefined
    ? process.env
    : { ...process.env, PGHOST: scram.cluster.host, PGPORT: String(scram.cluster.port), PGUSER: scram.cluster.superuser, PGPASSWORD: scram.cluster.superuserPassword, PGDATABASE: 'postgres' };
if (scram !== undefined) process.stdout.write(`PostgreSQL ${scram.version}, a throwaway cluster enforcing scram-sha-256\n`);
countLogins();
const fake = await startSecretsManagerFake();
try {
  for (const engine of engines) {
    for (const strategy of strategies) {
      for (const warm of [true, false]) {
        const f = await bench(engine as LocalEngine, strategy as Strategy, rotations, fake, warm, env);
        process.stdout.write(report(engine, strategy as Strategy, warm, rotations, f));
      }
    }
  }
} finally {
  await fake.close();
  await scram?.stop();
}
