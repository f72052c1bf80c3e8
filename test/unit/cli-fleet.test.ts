import { randomBytes, randomInt } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { EXIT } from '../../cli/exit-codes.js';
import type { RotationSettings } from '../../shared/store.js';
import { FileStore } from '../../stores/file/index.js';
import { recordOutput, recordSecretValue, recordSecrets } from '../support/canary.js';
import { runRotator, type CliRun } from '../support/cli.js';

/**
 * The fleet commands of issue 12 over the file store, in-process, without a database: self-issued API keys rotate
 * on their own; an unknown engine fails for good, a PostgreSQL secret on a closed port fails temporarily, and a lock
 * held by this process makes a secret busy. The clock is the test's (`now`), so every date printed is known.
 */
const HOUR = 3_600_000;
const DAY = 24 * HOUR;
const T0 = new Date('2026-01-05T10:00:00.000Z');
const at = (ms: number): Date => new Date(T0.getTime() + ms);
const HOOK = 'https://hooks.slack.com/services/T111/B222/FLEETFLEETFLEETFLEETFLEET';
const BASE62 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';

let dir: string;
let env: NodeJS.ProcessEnv;
let key: Buffer;
let posts: string[];

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'rotator-fleet-'));
  key = randomBytes(32);
  env = { ROTATOR_STORE: join(dir, 'store.json'), ROTATOR_STORE_KEY: key.toString('base64') };
  posts = [];
  recordSecrets(HOOK);
});

afterEach(() => {
  rmSync(dir, { recursive: true, force: true });
});

/** The store as of `time` (versions it writes are dated then). */
function storeAt(time: Date): FileStore {
  return new FileStore({ path: join(dir, 'store.json'), key, clock: () => time });
}

function apiKeyValue(): string {
  let secret = '';
  for (let i = 0; i < 40; i++) secret += BASE62.charAt(randomInt(BASE62.length));
  const value = JSON.stringify({ engine: 'api-key', provider: 'self-issued', key: secret });
  recordSecretValue(value);
  return value;
}

const UNREACHABLE_PASSWORD = `Fleet-${randomBytes(8).toString('hex')}-pw`;
recordSecrets(UNREACHABLE_PASSWORD);
const values = {
  key: apiKeyValue,
  /** No rotator knows the engine: UNSUPPORTED_ENGINE, a failure for good. */
  unknown: () => JSON.stringify({ engine: 'oracle', username: 'u', password: UNREACHABLE_PASSWORD }),
  /** A database nobody listens for: TARGET_UNREACHABLE, temporary. */
  unreachable: () => JSON.stringify({ engine: 'postgres', host: '127.0.0.1', port: 1, username: 'u', password: UNREACHABLE_PASSWORD, ssl: false }),
};

const daily: RotationSettings = { enabled: true, schedule: { kind: 'rate', everyMs: DAY } };

/** A secret created at `created` with `rotation`. */
async function seed(id: string, rotation: RotationSettings, value = values.key(), created = T0): Promise<void> {
  await storeAt(created).createSecret(id, value, { rotation });
}

interface Surroundings {
  now?: Date;
  isTTY?: boolean;
  hook?: boolean;
}

function rotator(args: string[], { now, isTTY, hook }: Surroundings = {}): Promise<CliRun> {
  const post = (_url: string, body: string): Promise<number> => {
    posts.push(body);
    recordOutput(`${body}\n`);
    return Promise.resolve(200);
  };
  return runRotator(hook === true ? { ...env, ROTATOR_ALERT_WEBHOOK: HOOK } : env, args, '', {
    post,
    ...(now === undefined ? {} : { now: () => now }),
    ...(isTTY === undefined ? {} : { isTTY }),
  });
}

const texts = (): string[] => posts.map((body) => (JSON.parse(body) as { text: string }).text);

interface DueJson {
  ok: boolean;
  due: number;
  concurrency: number;
  rotated: Array<{ secretId: string; versionId: string; resumed: boolean }>;
  failed: Array<{ secretId: string; code: string; retryable: boolean; message: string }>;
  busy: string[];
  skipped: Array<{ secretId: string; reason: string }>;
  totalMs: number;
}

async function due(args: string[] = [], surroundings: Surroundings = {}): Promise<{ run: CliRun; report: DueJson }> {
  const run = await rotator(['rotate', '--due', '--json', ...args], surroundings);
  return { run, report: JSON.parse(run.stdout) as DueJson };
}

describe('secrets rotation: schedules', () => {
  beforeEach(() => seed('db/app', { enabled: true }));

  it('sets a rate with a window, a cron, and removes it; describe shows it', async () => {
    const rate = await rotator(['secrets', 'rotation', 'db/app', '--every', '30d', '--window', '3h']);
    expect(rate).toMatchObject({ code: 0, stdout: 'rotation of db/app: enabled, schedule rate(30 days), window 3h\n' });
    expect((await storeAt(T0).describe('db/app')).rotation.schedule).toEqual({ kind: 'rate', everyMs: 30 * DAY, windowMs: 3 * HOUR });

    const cron = await rotator(['secrets', 'rotation', 'db/app', '--schedule', 'cron(0 4 ? * SUN *)', '--json']);
    expect(JSON.parse(cron.stdout)).toEqual({ ok: true, secretId: 'db/app', rotation: { enabled: true, schedule: { kind: 'cron', expression: '0 4 ? * SUN *' } } });
    // T0 is a Monday: the next Sunday 04:00 UTC.
    const described = await rotator(['secrets', 'describe', 'db/app'], { now: at(HOUR) });
    expect(described.stdout).toContain('  schedule: cron(0 4 ? * SUN *)\n  last rotated: 2026-01-05T10:00:00Z\n  next due: 2026-01-11T04:00:00Z\n');

    expect((await rotator(['secrets', 'rotation', 'db/app', '--no-schedule'])).stdout).toBe('rotation of db/app: enabled\n');
    expect((await storeAt(T0).describe('db/app')).rotation.schedule).toBeUndefined();
    expect((await rotator(['secrets', 'describe', 'db/app'])).stdout).toMatch(/^ {2}schedule: none /m);
  });

  it('says a schedule on a disabled secret waits for --enable', async () => {
    const run = await rotator(['secrets', 'rotation', 'db/app', '--disable', '--every', '12h']);
    expect(run.stdout).toBe('rotation of db/app: disabled, schedule rate(12 hours) (the schedule applies once rotation is enabled: --enable)\n');
  });

  const refused: ReadonlyArray<readonly [string, string[], RegExp]> = [
    ['a zero rate', ['--every', '0h'], /from 1 hour to 1000 days/],
    ['a rate over 1000 days', ['--every', '1001d'], /from 1 hour to 1000 days/],
    ['minutes', ['--every', '90m'], /use a rate such as 30d/],
    ['a control character', ['--every', '30d\u001b[2J'], /use a rate such as 30d/],
    ['a cron given to --every', ['--every', 'cron(0 4 ? * SUN *)'], /--every takes a rate/],
    ['a cron more often than hourly', ['--schedule', 'cron(0/10 * * * ? *)'], /more often than once an hour/],
    ['a cron of five fields', ['--schedule', 'cron(0 4 * * *)'], /needs six fields/],
    ['a window without a schedule', ['--window', '3h'], /--window goes with --every or --schedule/],
    ['a window of 25 hours', ['--every', '30d', '--window', '25h'], /a rotation window is a whole number of hours from 1h to 24h/],
    ['a window in minutes', ['--every', '30d', '--window', '90m'], /--window is "90m"/],
    ['a window longer than the rate', ['--every', '2h', '--window', '3h'], /must not be longer than the rate/],
    ['--every and --schedule', ['--every', '30d', '--schedule', 'cron(0 4 ? * SUN *)'], /not --every and --schedule/],
    ['--schedule and --no-schedule', ['--schedule', 'cron(0 4 ? * SUN *)', '--no-schedule'], /not --schedule and --no-schedule/],
  ];
  it.each(refused)('refuses %s before the store is touched (exit 2)', async (_name, flags, message) => {
    await rotator(['secrets', 'rotation', 'db/app', '--every', '7d']);
    const before = await storeAt(T0).describe('db/app');
    const run = await rotator(['secrets', 'rotation', 'db/app', ...flags]);
    expect(run.code).toBe(EXIT.USAGE);
    expect(run.stderr).toMatch(message);
    // eslint-disable-next-line no-control-regex
    expect(run.stderr).not.toMatch(/[\u0000-\u0009\u000b-\u001f]/);
    expect(await storeAt(T0).describe('db/app')).toEqual(before);
  });

  it('refuses a schedule for a secret that does not exist, creating no store', async () => {
    rmSync(join(dir, 'store.json'));
    const run = await rotator(['secrets', 'rotation', 'db/app', '--every', '30d']);
    expect(run.code).toBe(EXIT.USAGE);
    expect(run.stderr).toMatch(/SECRET_NOT_FOUND/);
  });
});

describe('secrets describe: where the secret stands', () => {
  it('shows overdue since the window closed, and the last error without a message', async () => {
    await seed('db/app', { enabled: true, schedule: { kind: 'rate', everyMs: DAY, windowMs: 2 * HOUR } });
    await storeAt(T0).recordRotationError('db/app', { code: 'TARGET_AUTH_FAILED', step: 'setSecret', at: at(DAY + HOUR) });
    const run = await rotator(['secrets', 'describe', 'db/app'], { now: at(2 * DAY) });
    expect(run.stdout).toContain(
      '  last rotated: 2026-01-05T10:00:00Z\n  next due: OVERDUE since 2026-01-06T12:00:00Z (due 2026-01-06T10:00:00Z)\n  last error: TARGET_AUTH_FAILED in setSecret at 2026-01-06T11:00:00Z\n',
    );
    const json = JSON.parse((await rotator(['secrets', 'describe', 'db/app', '--json'], { now: at(2 * DAY) })).stdout) as { status: Record<string, unknown> };
    expect(json.status).toMatchObject({
      due: true,
      overdue: true,
      nextDueAt: '2026-01-06T10:00:00.000Z',
      overdueSince: '2026-01-06T12:00:00.000Z',
      lastError: { code: 'TARGET_AUTH_FAILED', step: 'setSecret', at: '2026-01-06T11:00:00.000Z' },
    });
  });
});

describe('rotate --due', () => {
  it('nothing due: exit 0, says so, changes nothing', async () => {
    await seed('k/fresh', daily);
    await seed('k/manual', { enabled: true });
    await seed('k/off', { enabled: false, schedule: { kind: 'rate', everyMs: HOUR } }, values.key(), at(-30 * DAY));
    const { run, report } = await due([], { now: at(HOUR) });
    expect(run.code).toBe(EXIT.OK);
    expect(report).toMatchObject({ ok: true, due: 0, concurrency: 4, rotated: [], failed: [], busy: [] });
    expect(report.skipped).toEqual([
      { secretId: 'k/fresh', reason: 'not due' },
      { secretId: 'k/manual', reason: 'no schedule' },
      { secretId: 'k/off', reason: 'rotation disabled' },
    ]);
    const text = await rotator(['rotate', '--due'], { now: at(HOUR) });
    expect(text.stdout).toMatch(/^rotate --due at 2026-01-05T11:00:00.000Z: 0 of 3 secret\(s\) due, 4 at a time\nnothing is due; 0 rotated, 0 failed, 0 busy, 3 not due or disabled; \d+ ms\n$/);
    expect(text.stderr).toBe('');
  });

  it('rotates every due secret (and a rotation left PENDING), leaves the rest, and the next run finds nothing due', async () => {
    const past = new Date(Date.now() - 3 * DAY);
    for (const id of ['k/a', 'k/b', 'k/c']) await seed(id, daily, values.key(), past);
    await seed('k/later', { enabled: true, schedule: { kind: 'rate', everyMs: 10 * DAY } }, values.key(), past);
    await seed('k/pending', { enabled: true }, values.key(), past);
    await storeAt(past).startRotation('k/pending', 'left-by-a-crash');

    const { run, report } = await due(['--concurrency', '2']);
    expect(run.code).toBe(EXIT.OK);
    expect(report.rotated.map((r) => r.secretId)).toEqual(['k/a', 'k/b', 'k/c', 'k/pending']);
    expect(report.rotated.find((r) => r.secretId === 'k/pending')).toMatchObject({ versionId: 'left-by-a-crash', resumed: true });
    expect(report).toMatchObject({ ok: true, due: 4, concurrency: 2, failed: [], busy: [], skipped: [{ secretId: 'k/later', reason: 'not due' }] });
    for (const r of report.rotated) {
      const info = await storeAt(past).describe(r.secretId);
      expect(info.versions.find((v) => v.stages.includes('CURRENT'))?.versionId).toBe(r.versionId);
    }
    const again = await due();
    expect(again.report).toMatchObject({ ok: true, due: 0, rotated: [] });
  });

  it('keeps going past failures: exit 1 for one that fails for good, the others rotated, one alert for the run', async () => {
    const past = new Date(Date.now() - 3 * DAY);
    await seed('k/a', daily, values.key(), past);
    await seed('k/broken', daily, values.unknown(), past);
    await seed('k/down', daily, values.unreachable(), past);
    await seed('k/z', daily, values.key(), past);
    const { run, report } = await due(['--concurrency', '1'], { hook: true });
    expect(run.code).toBe(EXIT.FAILED);
    expect(report.ok).toBe(false);
    expect(report.rotated.map((r) => r.secretId)).toEqual(['k/a', 'k/z']);
    expect(report.failed.map(({ secretId, code, retryable }) => ({ secretId, code, retryable }))).toEqual([
      { secretId: 'k/broken', code: 'UNSUPPORTED_ENGINE', retryable: false },
      { secretId: 'k/down', code: 'TARGET_UNREACHABLE', retryable: true },
    ]);
    expect(texts()).toEqual(['Rotator on cli: rotation failed: 2 secret(s) in rotate --due: k/broken UNSUPPORTED_ENGINE, k/down TARGET_UNREACHABLE']);
    for (const out of [run.stdout, run.stderr, ...posts]) expect(out).not.toContain(UNREACHABLE_PASSWORD);
    // The failures are recorded on the secrets, for status.
    const status = JSON.parse((await rotator(['status', '--json'])).stdout) as { secrets: Array<{ secretId: string; lastError?: { code: string } }> };
    expect(status.secrets.filter((s) => s.lastError !== undefined).map((s) => [s.secretId, s.lastError?.code])).toEqual([
      ['k/broken', 'UNSUPPORTED_ENGINE'],
      ['k/down', 'TARGET_UNREACHABLE'],
    ]);
  });

  it('exit 75 when the only failures are temporary, or a secret is busy; one aligned line per secret', async () => {
    const past = new Date(Date.now() - 3 * DAY);
    await seed('k/a', daily, values.key(), past);
    await seed('k/busy-one', daily, values.key(), past);
    await seed('k/down', daily, values.unreachable(), past);
    const lease = await storeAt(past).lockRotation('k/busy-one');
    try {
      const run = await rotator(['rotate', '--due'], { hook: true });
      expect(run.code).toBe(EXIT.RETRY);
      const lines = run.stdout.split('\n');
      expect(lines[0]).toMatch(/^rotate --due at \S+: 3 of 3 secret\(s\) due, 4 at a time$/);
      const rows = lines.slice(1, 4).sort();
      expect(rows).toEqual([
        expect.stringMatching(/^ {2}RETRY {4}k\/down {6}\s*\d+ ms {2}TARGET_UNREACHABLE: /),
        expect.stringMatching(/^ {2}busy {5}k\/busy-one\s+\d+ ms {2}another run holds its rotation lock; the next run takes it$/),
        expect.stringMatching(/^ {2}rotated {2}k\/a {8}\s*\d+ ms {2}CURRENT is now version \S+$/),
      ]);
      // The columns line up: every id is padded to the widest.
      expect(new Set(rows.map((r) => r.indexOf(' ms ')))).toHaveLength(1);
      expect(lines[4]).toMatch(/^1 rotated, 1 failed, 1 busy, 0 not due or disabled; \d+ ms$/);
      // Busy is not a failure: only the unreachable one is in the alert.
      expect(texts()).toEqual(['Rotator on cli: rotation failed: 1 secret(s) in rotate --due: k/down TARGET_UNREACHABLE']);
    } finally {
      await lease.release();
    }
    posts = [];
    const { run, report } = await due();
    expect(run.code).toBe(EXIT.RETRY);
    expect(report.rotated.map((r) => r.secretId)).toEqual(['k/busy-one']);
    expect(report.failed.map((f) => f.secretId)).toEqual(['k/down']);
    expect(posts).toEqual([]);
  });

  const badConcurrency = ['0', '65', '-1', '4x', '', '1e1', ' 4 5'];
  it.each(badConcurrency)('refuses --concurrency %j before the store or the webhook is touched', async (n) => {
    await seed('k/a', daily, values.key(), new Date(Date.now() - 3 * DAY));
    const before = await storeAt(T0).describe('k/a');
    const run = await rotator(['rotate', '--due', `--concurrency=${n}`], { hook: true });
    expect(run.code).toBe(EXIT.USAGE);
    expect(run.stderr).toMatch(/^rotator: INVALID_INPUT: --concurrency must be a whole number from 1 to 64\n$/);
    expect(await storeAt(T0).describe('k/a')).toEqual(before);
    expect(posts).toEqual([]);
  });

  it('refuses an id with --due, --concurrency without --due, and neither', async () => {
    await seed('k/a', daily);
    expect((await rotator(['rotate', 'k/a', '--due'])).stderr).toMatch(/INVALID_INPUT: give either a secret id or --due, not both/);
    expect((await rotator(['rotate', 'k/a', '--concurrency', '2'])).stderr).toMatch(/INVALID_INPUT: --concurrency applies to --due only/);
    const neither = await rotator(['rotate', '--json']);
    expect(neither.code).toBe(EXIT.USAGE);
    expect(JSON.parse(neither.stdout)).toMatchObject({ ok: false, error: { code: 'INVALID_INPUT' } });
  });

  it('refuses a store that does not exist, creating nothing', async () => {
    const run = await rotator(['rotate', '--due']);
    expect(run.code).toBe(EXIT.USAGE);
    expect(run.stderr).toMatch(/there is no store at/);
  });
});

describe('progress: a spinner on a terminal only', () => {
  const CLEAR = '\r\u001b[K';

  it('rotate --due and rotate <id> draw on stderr when it is a TTY, and clear the line at the end', async () => {
    const past = new Date(Date.now() - 3 * DAY);
    await seed('k/a', daily, values.key(), past);
    const fleet = await rotator(['rotate', '--due'], { isTTY: true });
    expect(fleet.code).toBe(0);
    expect(fleet.stderr).toContain(`${CLEAR}| 0 of 1 done (0s)`);
    expect(fleet.stderr.endsWith(CLEAR)).toBe(true);
    expect(fleet.stdout).not.toContain('\u001b');
    const single = await rotator(['rotate', 'k/a'], { isTTY: true });
    expect(single.code).toBe(0);
    expect(single.stderr).toMatch(/\| k\/a: createSecret \(0s\)/);
    expect(single.stderr.endsWith(CLEAR)).toBe(true);
  });

  it('draws nothing when stderr is not a terminal, or with --json', async () => {
    const past = new Date(Date.now() - 3 * DAY);
    await seed('k/a', daily, values.key(), past);
    await seed('k/b', daily, values.key(), past);
    expect((await rotator(['rotate', '--due'], { isTTY: false })).stderr).toBe('');
    expect((await rotator(['rotate', 'k/a'])).stderr).toBe('');
    const json = await rotator(['rotate', 'k/b', '--json'], { isTTY: true });
    expect(json.stderr).toBe('');
    expect(JSON.parse(json.stdout)).toMatchObject({ ok: true, secretId: 'k/b' });
  });
});

describe('status', () => {
  /** A fleet at T0 whose secrets stand in every way status shows. */
  async function fleet(): Promise<void> {
    await seed('db/fresh', { enabled: true, schedule: { kind: 'rate', everyMs: 30 * DAY }, strategy: 'alternating-users' });
    await seed('db/late', { enabled: true, schedule: { kind: 'rate', everyMs: DAY } });
    await seed('db/off', { enabled: false, schedule: { kind: 'rate', everyMs: DAY } });
    await seed('db/stuck', { enabled: true, safeWindowMs: 2 * DAY }, values.unreachable(), at(-10 * DAY));
    // Two superseded versions: one past its two-day safe window, one inside it (until T0 + 47h); then a rotation left
    // PENDING.
    await storeAt(at(-5 * DAY)).putValue('db/stuck', values.unreachable());
    await storeAt(at(-HOUR)).putValue('db/stuck', values.unreachable());
    await storeAt(at(-HOUR)).startRotation('db/stuck', 'stuck-token');
    await storeAt(T0).recordRotationError('db/stuck', { code: 'TARGET_UNREACHABLE', step: 'setSecret', at: at(-30 * 60_000) });
  }

  it('prints an aligned table with every column, and a summary', async () => {
    await fleet();
    const run = await rotator(['status'], { now: at(DAY + 2 * HOUR) });
    expect(run.code).toBe(0);
    expect(run.stdout).toBe(
      [
        'SECRET    STRATEGY               SCHEDULE       LAST ROTATED          NEXT DUE                        PENDING SINCE         LAST ERROR                                         PURGE',
        'db/fresh  alternating-users      rate(30 days)  2026-01-05T10:00:00Z  2026-02-04T10:00:00Z            -                     -                                                  0 now, 0 waiting',
        'db/late   single-user (default)  rate(1 day)    2026-01-05T10:00:00Z  due since 2026-01-06T10:00:00Z  -                     -                                                  0 now, 0 waiting',
        'db/off    single-user (default)  rate(1 day)    2026-01-05T10:00:00Z  rotation disabled               -                     -                                                  0 now, 0 waiting',
        'db/stuck  single-user (default)  -              2026-01-05T09:00:00Z  -                               2026-01-05T09:00:00Z  TARGET_UNREACHABLE setSecret 2026-01-05T09:30:00Z  1 now, 1 waiting',
        '4 secret(s) at 2026-01-06T12:00:00Z: 1 due, 0 overdue, 1 pending, 1 failing',
        '',
      ].join('\n'),
    );
  });

  it('--json: one object with an array, dates as ISO; never a value', async () => {
    await fleet();
    const run = await rotator(['status', '--json'], { now: at(3 * DAY) });
    const json = JSON.parse(run.stdout) as { ok: boolean; at: string; summary: unknown; secrets: Array<Record<string, unknown>>; unreadable: unknown[] };
    expect(json).toMatchObject({ ok: true, at: '2026-01-08T10:00:00.000Z', summary: { secrets: 4, due: 1, overdue: 1, pending: 1, failing: 1, unreadable: 0 }, unreadable: [] });
    expect(json.secrets.map((s) => s.secretId)).toEqual(['db/fresh', 'db/late', 'db/off', 'db/stuck']);
    expect(json.secrets[1]).toEqual({
      secretId: 'db/late',
      enabled: true,
      strategy: 'single-user',
      strategySource: 'default',
      schedule: 'rate(1 day)',
      lastRotatedAt: '2026-01-05T10:00:00.000Z',
      nextDueAt: '2026-01-06T10:00:00.000Z',
      overdueSince: '2026-01-07T00:00:00.000Z',
      due: true,
      overdue: true,
      purge: { retireNow: 0, insideWindow: 0, undated: 0 },
    });
    expect(json.secrets[3]).toMatchObject({ pending: { versionId: 'stuck-token', since: '2026-01-05T09:00:00.000Z' }, purge: { retireNow: 2, insideWindow: 0 } });
    expect(run.stdout).not.toContain(UNREACHABLE_PASSWORD);
    expect(run.stdout).not.toContain('"password"');
  });

  it('--check exits 1 when a secret is overdue or failing, 0 when healthy', async () => {
    await seed('db/fresh', { enabled: true, schedule: { kind: 'rate', everyMs: 30 * DAY } });
    expect((await rotator(['status', '--check'], { now: at(DAY) })).code).toBe(EXIT.OK);
    expect((await rotator(['status'], { now: at(40 * DAY) })).code).toBe(EXIT.OK);
    const overdue = await rotator(['status', '--check', '--json'], { now: at(40 * DAY) });
    expect(overdue.code).toBe(EXIT.FAILED);
    expect(JSON.parse(overdue.stdout)).toMatchObject({ ok: false, summary: { overdue: 1 } });
    // One JSON object, not a report followed by an error.
    expect(overdue.stdout.trim().split('\n')).toHaveLength(1);
    await storeAt(T0).recordRotationError('db/fresh', { code: 'TARGET_AUTH_FAILED', at: at(HOUR) });
    expect((await rotator(['status', '--check'], { now: at(DAY) })).code).toBe(EXIT.FAILED);
  });

  it('--alert posts one message listing the overdue secrets, and nothing when none is', async () => {
    await fleet();
    expect((await rotator(['status', '--alert'], { now: at(HOUR), hook: true })).code).toBe(0);
    expect(posts).toEqual([]);
    expect((await rotator(['status', '--alert'], { now: at(3 * DAY), hook: true })).code).toBe(0);
    expect(texts()).toEqual(['Rotator on cli: rotation overdue: 1 secret(s) past their rotation window: db/late (since 2026-01-07T00:00:00Z)']);
  });

  it('--alert without ROTATOR_ALERT_WEBHOOK, or with a bad one, is refused before the store is read', async () => {
    const missing = await rotator(['status', '--alert']);
    expect(missing.code).toBe(EXIT.USAGE);
    expect(missing.stderr).toMatch(/INVALID_INPUT: --alert needs ROTATOR_ALERT_WEBHOOK/);
    env.ROTATOR_ALERT_WEBHOOK = 'http://hooks.example.com/token-in-path';
    const bad = await rotator(['status', '--alert']);
    expect(bad.stderr).toMatch(/INVALID_INPUT: ROTATOR_ALERT_WEBHOOK must be an https URL/);
    expect(bad.stderr).not.toContain('token-in-path');
  });

  it('an empty store: a summary line only; a missing one: refused, nothing created', async () => {
    await seed('db/x', { enabled: true });
    await storeAt(T0).deleteSecret('db/x');
    expect((await rotator(['status'], { now: T0 })).stdout).toBe('0 secret(s) at 2026-01-05T10:00:00Z: 0 due, 0 overdue, 0 pending, 0 failing\n');
    rmSync(join(dir, 'store.json'));
    const missing = await rotator(['status']);
    expect(missing.code).toBe(EXIT.USAGE);
    expect(missing.stderr).toMatch(/there is no store at/);
  });

  it('refuses a bad --concurrency', async () => {
    expect((await rotator(['status', '--concurrency', '0'])).stderr).toMatch(/--concurrency must be a whole number from 1 to 64/);
  });
});
