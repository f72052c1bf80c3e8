/**
 * `npm run bench:aws`: single-user rotations driven exactly as Secrets Manager drives them (RotateSecret's stub,
 * then one invocation of the real Lambda handler per step), against the Secrets Manager fake (test/fakes/) and
 * the local database servers. Prints the Secrets Manager calls per rotation (the figure the AWS issue targets:
 * <= 8; AWS's Python templates make 14) and the time per rotation, for a warm container (one handler serves
 * every rotation) and a cold one (a new handler per rotation, as a rotation 30 days later gets).
 * Usage: npm run bench:aws [-- --rotations 30] [-- --engine postgres|mariadb]; servers as for the demo.
 */
import { CreateSecretCommand, RotateSecretCommand } from '@aws-sdk/client-secrets-manager';
import type { Context } from 'aws-lambda';
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { createRotateHandler, type RotateHandler } from '../functions/aws/rotate.js';
import { createRotators } from '../rotators/index.js';
import { loadConfig } from '../shared/config.js';
import { STEPS } from '../shared/engine.js';
import { createSecretsManagerClient } from '../stores/aws/index.js';
import { LOCAL_ENGINES, connectLocal, throwawayPassword, uniqueSuffix, type LocalEngine } from '../scripts/local-databases.js';
import { FAKE_REGION, startSecretsManagerFake, type SecretsManagerFake } from '../test/fakes/aws/secrets-manager.js';
import { percentile } from './stats.js';

const LAMBDA_ARN = 'arn:aws:lambda:us-east-1:123456789012:function:rotator-bench';
const context = { functionName: 'rotator-bench', awsRequestId: 'bench', getRemainingTimeInMillis: () => 60_000 } as unknown as Context;

/** The handler's log lines and EMF metrics go to stdout; the benchmark prints only its figures. */
async function quietly<T>(run: () => Promise<T>): Promise<T> {
  const write = process.stdout.write.bind(process.stdout);
  process.stdout.write = () => true;
  try {
    return await run();
  } finally {
    process.stdout.write = write;
  }
}

function newHandler(fake: SecretsManagerFake): RotateHandler {
  const client = createSecretsManagerClient({
    env: { SECRETS_MANAGER_ENDPOINT: fake.endpoint, AWS_REGION: FAKE_REGION },
    credentials: { accessKeyId: 'AKIDBENCH', secretAccessKey: 'bench' },
  });
  return createRotateHandler({ client, rotators: createRotators(loadConfig(process.env)), engineFamily: 'bench', config: { defaultStrategy: 'single-user', logLevel: 'error' } });
}

interface Figures {
  times: number[];
  calls: number[];
  perOperation: Map<string, number>;
}

async function bench(engineName: LocalEngine, rotations: number, fake: SecretsManagerFake, warm: boolean): Promise<Figures> {
  const db = await connectLocal(engineName, process.env);
  const user = `rotator_awsb_${uniqueSuffix()}`;
  const sm = fake.client();
  try {
    const name = `bench/${engineName}/${user}`;
    const password = throwawayPassword();
    await db.createUser(user, password);
    await sm.send(new CreateSecretCommand({ Name: name, SecretString: JSON.stringify(db.secret(user, password)) }));
    await sm.send(new RotateSecretCommand({ SecretId: name, RotateImmediately: false, RotationLambdaARN: LAMBDA_ARN, RotationRules: { AutomaticallyAfterDays: 30 } }));
    let handler = newHandler(fake);
    const rotate = async (): Promise<{ ms: number; calls: number }> => {
      const token = (await sm.send(new RotateSecretCommand({ SecretId: name }))).VersionId ?? '';
      if (!warm) handler = newHandler(fake);
      fake.resetCounts();
      const started = performance.now();
      for (const step of STEPS) await quietly(() => handler({ SecretId: name, ClientRequestToken: token, Step: step }, context));
      return { ms: performance.now() - started, calls: fake.count() };
    };
    await rotate(); // warm-up: module loading, first connections
    const figures: Figures = { times: [], calls: [], perOperation: new Map() };
    for (let i = 0; i < rotations; i++) {
      const { ms, calls } = await rotate();
      figures.times.push(ms);
      figures.calls.push(calls);
      for (const [op, n] of Object.entries(fake.counts())) figures.perOperation.set(op, (figures.perOperation.get(op) ?? 0) + n);
    }
    return figures;
  } finally {
    sm.destroy();
    await db.dropUsers([user]);
    await db.close();
  }
}

const { values } = parseArgs({ options: { rotations: { type: 'string', default: '30' }, engine: { type: 'string', multiple: true } } });
const rotations = Number(values.rotations);
if (!Number.isInteger(rotations) || rotations < 1) throw new Error(`--rotations is "${values.rotations}"; use a whole number of at least 1`);
const engines = values.engine ?? [...LOCAL_ENGINES];
const fake = await startSecretsManagerFake();
try {
  for (const name of engines) {
    if (!(LOCAL_ENGINES as readonly string[]).includes(name)) throw new Error(`--engine is "${name}"; use one of ${LOCAL_ENGINES.join(', ')}`);
    for (const warm of [true, false]) {
      const f = await bench(name as LocalEngine, rotations, fake, warm);
      const times = [...f.times].sort((a, b) => a - b);
      const calls = f.calls.reduce((a, b) => a + b, 0) / rotations;
      const perOp = [...f.perOperation].map(([op, n]) => `${op} ${(n / rotations).toFixed(1)}`).join(', ');
      process.stdout.write(
        `${name} single-user, ${warm ? 'warm container (one handler)' : 'cold container (a handler per rotation)'}, ${rotations} rotations\n` +
          `  Secrets Manager calls per rotation: ${calls.toFixed(1)} (max ${Math.max(...f.calls)}; ${perOp}); vs AWS's templates' 14: ${(calls / 14).toFixed(2)}\n` +
          `  median ${percentile(times, 50).toFixed(1)} ms, p90 ${percentile(times, 90).toFixed(1)} ms per rotation (four invocations)\n`,
      );
    }
  }
} finally {
  await fake.close();
}
