/**
 * `npx tsx bench/aws-fleet.ts [--secrets 10000]`: a fleet in the Secrets Manager fake (test/fakes/aws/), and what
 * operating it costs in Secrets Manager calls:
 * (a) the status view: `describeAll` (ListSecrets pages), then shared/schedule.ts `scheduleState` and the purge plan
 *     `planRetention` for every secret, computed from the descriptions alone;
 * (b) the purge sweep: shared/purger.ts's Purger over the AWS store, as a dry run and for real.
 * For each run it prints the calls per operation, the wall time, and per quota group the average and the busiest
 * second (calls in any one-second window, from the fake's arrival times) beside Secrets Manager's published quota
 * (stores/aws/request-pacer.ts names the source).
 *
 * The fleet (a realistic mix): rotation on for 95% (rules: 70% every 30 days, 20% rate(12 hours) with a 2h window,
 * 10% a weekly cron), rotation off for 5%; 60% rotated once 40 days ago (PREVIOUS past the 30-day window), 20% rotated
 * 5 days ago (inside it), 5% rotated twice (an unlabelled older version too); 5% with a rotation under way (a
 * value-less AWSPENDING stub); 1% with a recorded failure. Seeding goes through the SDK like any client and is not
 * counted. The fake runs in this process on loopback, so its calls are far faster than the service's: the rates
 * printed are what the store's pacing allows, the upper bound on a real account.
 */
import {
  CreateSecretCommand,
  DescribeSecretCommand,
  PutSecretValueCommand,
  RotateSecretCommand,
  TagResourceCommand,
  UpdateSecretVersionStageCommand,
  type SecretsManagerClient,
} from '@aws-sdk/client-secrets-manager';
import { randomUUID } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { createLogger } from '../shared/logger.js';
import { DEFAULT_RETENTION, Purger, planRetention, type PurgeReport } from '../shared/purger.js';
import { scheduleState } from '../shared/schedule.js';
import { AwsSecretStore, LAST_ERROR_TAG } from '../stores/aws/index.js';
import { DEFAULT_QUOTA_SHARE, SECRETS_MANAGER_QUOTAS, type QuotaGroup } from '../stores/aws/request-pacer.js';
import { startSecretsManagerFake, type RecordedRequest, type SecretsManagerFake } from '../test/fakes/aws/secrets-manager.js';

const LAMBDA_ARN = 'arn:aws:lambda:us-east-1:123456789012:function:rotator-bench';
const DAY = 86_400_000;
const SEED_CONCURRENCY = 32;

const GROUPS: ReadonlyArray<[QuotaGroup, string, readonly string[]]> = [
  ['read', 'DescribeSecret + GetSecretValue', ['DescribeSecret', 'GetSecretValue']],
  ['listSecrets', 'ListSecrets', ['ListSecrets']],
  ['listVersions', 'ListSecretVersionIds', ['ListSecretVersionIds']],
  ['write', 'PutSecretValue + UpdateSecretVersionStage', ['PutSecretValue', 'UpdateSecretVersionStage']],
  ['tag', 'TagResource + UntagResource', ['TagResource', 'UntagResource']],
];

/** The fake's clock: seeding moves it back to date the versions; the runs use the real time. */
let clockOffsetMs = 0;

const nameOf = (n: number): string => `fleet/${String(n).padStart(5, '0')}`;

/** Seeds `count` secrets in four passes, each at its own clock setting, so that versions carry the mix's dates. */
async function seed(sm: SecretsManagerClient, count: number): Promise<void> {
  const value = (n: number): string => JSON.stringify({ engine: 'bench', host: 'db.local', username: `app${String(n)}`, password: randomUUID(), dbname: 'app' });
  /** A rotation as the service and a function leave it: the stub filled, AWSCURRENT moved onto it. */
  const rotate = async (n: number): Promise<void> => {
    const name = nameOf(n);
    const stages = (await sm.send(new DescribeSecretCommand({ SecretId: name }))).VersionIdsToStages ?? {};
    const current = Object.entries(stages).find(([, labels]) => labels.includes('AWSCURRENT'))?.[0];
    const token = (await sm.send(new RotateSecretCommand({ SecretId: name }))).VersionId ?? '';
    await sm.send(new PutSecretValueCommand({ SecretId: name, ClientRequestToken: token, SecretString: value(n), VersionStages: ['AWSPENDING'] }));
    await sm.send(new UpdateSecretVersionStageCommand({ SecretId: name, VersionStage: 'AWSCURRENT', MoveToVersionId: token, RemoveFromVersionId: current }));
  };
  const pass = async (offsetDays: number, step: (n: number, slot: number) => Promise<void>): Promise<void> => {
    clockOffsetMs = -offsetDays * DAY;
    let next = 0;
    await Promise.all(
      Array.from({ length: SEED_CONCURRENCY }, async () => {
        for (let n = next++; n < count; n = next++) await step(n, n % 100);
      }),
    );
  };
  await pass(90, async (n, slot) => {
    await sm.send(new CreateSecretCommand({ Name: nameOf(n), SecretString: value(n) }));
    if (slot >= 95) return; // rotation off
    const RotationRules =
      slot < 70 ? { AutomaticallyAfterDays: 30 } : slot < 90 ? { ScheduleExpression: 'rate(12 hours)', Duration: '2h' } : { ScheduleExpression: 'cron(0 4 ? * SUN *)' };
    await sm.send(new RotateSecretCommand({ SecretId: nameOf(n), RotateImmediately: false, RotationLambdaARN: LAMBDA_ARN, RotationRules }));
  });
  await pass(80, async (n, slot) => {
    if (slot < 5) await rotate(n); // the first of two rotations
  });
  await pass(40, async (n, slot) => {
    if (slot < 60) await rotate(n); // PREVIOUS past the 30-day window
  });
  await pass(5, async (n, slot) => {
    if (slot >= 60 && slot < 80) await rotate(n); // PREVIOUS inside the window
    if (slot >= 80 && slot < 85) await sm.send(new RotateSecretCommand({ SecretId: nameOf(n) })); // under way
    if (slot === 85) await sm.send(new TagResourceCommand({ SecretId: nameOf(n), Tags: [{ Key: LAST_ERROR_TAG, Value: `TARGET_AUTH_FAILED setSecret ${new Date().toISOString()}` }] }));
  });
  clockOffsetMs = 0;
}

interface Run {
  label: string;
  ms: number;
  requests: RecordedRequest[];
  summary: string;
}

async function measure(fake: SecretsManagerFake, label: string, work: () => Promise<string>): Promise<Run> {
  const start = fake.requests.length;
  const started = performance.now();
  const summary = await work();
  return { label, ms: performance.now() - started, requests: fake.requests.slice(start), summary };
}

/** The most calls that arrived within any one second. */
function busiestSecond(times: readonly number[]): number {
  let most = 0;
  for (let first = 0, last = 0; last < times.length; last++) {
    while ((times[last] ?? 0) - (times[first] ?? 0) >= 1000) first++;
    most = Math.max(most, last - first + 1);
  }
  return most;
}

function report(run: Run): boolean {
  const perOperation = new Map<string, number>();
  for (const r of run.requests) perOperation.set(r.operation, (perOperation.get(r.operation) ?? 0) + 1);
  console.log(`\n### ${run.label}: ${(run.ms / 1000).toFixed(1)} s, ${String(run.requests.length)} calls`);
  console.log(run.summary);
  console.log(`calls per operation: ${[...perOperation].sort().map(([op, n]) => `${op} ${String(n)}`).join(', ')}`);
  console.log('| quota group | calls | average / s | busiest second | quota / s | paced at / s | within |');
  console.log('|---|---|---|---|---|---|---|');
  let within = true;
  for (const [group, name, operations] of GROUPS) {
    const times = run.requests.filter((r) => operations.includes(r.operation)).map((r) => r.at);
    if (times.length === 0) continue;
    const peak = busiestSecond(times);
    const ok = peak <= SECRETS_MANAGER_QUOTAS[group];
    within &&= ok;
    const average = times.length / Math.max(run.ms / 1000, 0.001);
    console.log(
      `| ${name} | ${String(times.length)} | ${average.toFixed(1)} | ${String(peak)} | ${String(SECRETS_MANAGER_QUOTAS[group])} | ${String(SECRETS_MANAGER_QUOTAS[group] * DEFAULT_QUOTA_SHARE)} | ${ok ? 'yes' : 'NO'} |`,
    );
  }
  return within;
}

function purgeSummary(out: PurgeReport): string {
  const retired = out.secrets.reduce((n, s) => n + s.actions.filter((a) => a.retired || out.dryRun).length, 0);
  const skipped = out.secrets.filter((s) => s.skipped !== undefined).length;
  return `${String(out.secrets.length)} secrets swept, ${String(retired)} versions ${out.dryRun ? 'would be ' : ''}retired, ${String(skipped)} skipped (rotation under way), ${String(out.failed)} failed`;
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { secrets: { type: 'string', default: '10000' } } });
  const count = Number(values.secrets);
  if (!Number.isInteger(count) || count < 100 || count > 100_000) throw new Error('--secrets must be a whole number from 100 to 100000');
  const fake = await startSecretsManagerFake({ clock: () => new Date(Date.now() + clockOffsetMs) });
  const sm = fake.client();
  const logger = createLogger({ level: 'error', write: () => undefined });
  try {
    const seeding = performance.now();
    await seed(sm, count);
    console.log(`seeded ${String(count)} secrets in ${((performance.now() - seeding) / 1000).toFixed(1)} s (${String(fake.requests.length)} calls, not counted below)`);
    const runs: Run[] = [];
    runs.push(
      await measure(fake, '(a) status: describeAll + scheduleState + planRetention', async () => {
        const now = new Date();
        const infos = await new AwsSecretStore({ client: sm, logger }).describeAll();
        let due = 0;
        let overdue = 0;
        let pending = 0;
        let failed = 0;
        let superseded = 0;
        let waiting = 0;
        for (const info of infos) {
          const state = scheduleState(info, now);
          if (state.due) due++;
          if (state.overdue) overdue++;
          if (info.versions.some((v) => v.stages.includes('PENDING'))) pending++;
          if (info.lastError !== undefined) failed++;
          superseded += info.versions.filter((v) => !v.stages.includes('CURRENT') && !v.stages.includes('PENDING')).length;
          waiting += planRetention(info, DEFAULT_RETENTION, now).filter((v) => v.retire).length;
        }
        return `${String(infos.length)} secrets: ${String(due)} due (${String(overdue)} overdue), ${String(pending)} with PENDING, ${String(failed)} with a last error, ${String(superseded)} superseded versions in the store (${String(waiting)} past the safe window by planRetention: undated versions are never planned)`;
      }),
    );
    for (const dryRun of [true, false]) {
      runs.push(
        await measure(fake, `(b) purge sweep, ${dryRun ? 'dry run' : 'for real'}`, async () => {
          const purger = new Purger({ store: new AwsSecretStore({ client: sm, logger }), rotators: [], logger });
          return purgeSummary(await purger.purge(undefined, { dryRun }));
        }),
      );
    }
    let within = true;
    for (const run of runs) within = report(run) && within;
    console.log(`\nevery run within Secrets Manager's quotas: ${within ? 'yes' : 'NO'}`);
    if (!within) process.exitCode = 1;
  } finally {
    sm.destroy();
    await fake.close();
  }
}

await main();
