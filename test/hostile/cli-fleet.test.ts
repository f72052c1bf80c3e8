import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { describeFleet, selectDue } from '../../shared/fleet.js';
import { DEFAULT_RETENTION } from '../../shared/purger.js';
import { fleetStatus, secretStatus } from '../../shared/status.js';
import { RotatorError } from '../../shared/errors.js';
import type { RotationFailure, RotationSchedule, SecretInfo, SecretStore } from '../../shared/store.js';
import { FileStore } from '../../stores/file/index.js';
import { secretFilePath } from '../../stores/file/layout.js';
import { recordOutput, recordSecrets } from '../support/canary.js';
import { cli, cliError, expectNoRawControl } from './harness.js';

/**
 * Hostile stores under the fleet commands: a store file edited by hand, and descriptions from any store (a tag, a label
 * or an annotation anyone may edit) carrying a bogus schedule or last error. Nothing bogus is believed, echoed, alerted
 * or allowed to stop the rest of the fleet.
 */
const HOOK = 'https://hooks.slack.com/services/T999/B999/HOSTILEHOSTILEHOSTILE';
const PASSWORD = `Hostile-${randomBytes(9).toString('base64url')}-pw`;
const VALUE = JSON.stringify({ engine: 'postgres', host: '127.0.0.1', port: 1, username: 'app', password: PASSWORD, ssl: false });
recordSecrets(PASSWORD, HOOK);

let dir: string;
let storePath: string;
let env: NodeJS.ProcessEnv;
let posts: string[];
const post = (_url: string, body: string): Promise<number> => {
  posts.push(body);
  recordOutput(`${body}\n`);
  return Promise.resolve(200);
};

beforeEach(async () => {
  dir = mkdtempSync(join(tmpdir(), 'rotator-hostile-fleet-'));
  storePath = join(dir, 'store.json');
  const key = randomBytes(32);
  env = { ROTATOR_STORE: storePath, ROTATOR_STORE_KEY: key.toString('base64'), ROTATOR_ALERT_WEBHOOK: HOOK };
  posts = [];
  const store = new FileStore({ path: storePath, key, clock: () => new Date(Date.now() - 3 * 86_400_000) });
  await store.createSecret('db/app', VALUE, { rotation: { enabled: true, schedule: { kind: 'rate', everyMs: 86_400_000 } } });
});

afterEach(() => {
  rmSync(dir, { recursive: true, force: true });
});

/**
 * Edits the stored record of the (only) secret as a person with write access to the store file could: the metadata is
 * plaintext JSON. (Written for the single-file layout: this is the one place that knows it.)
 */
/** Edits db/app's file by hand (the secret's fields are at the top of its file). */
function editStoredSecret(edit: (secret: Record<string, unknown>) => void): void {
  const file = secretFilePath(storePath, 'db/app');
  const secret = JSON.parse(readFileSync(file, 'utf8')) as Record<string, unknown>;
  edit(secret);
  writeFileSync(file, JSON.stringify(secret));
}

const BOGUS = '<!channel> \u001b[2J\nrotation failed: FAKE';

describe('a store file edited to carry a bogus record', () => {
  const edits: ReadonlyArray<readonly [string, (secret: Record<string, unknown>) => void]> = [
    ['lastError with a mention and control characters', (s) => (s.lastError = `TARGET_ERROR setSecret 2026-01-01T00:00:00Z ${BOGUS}`)],
    ['lastError with a lowercase code', (s) => (s.lastError = 'oops - 2026-01-01T00:00:00Z')],
    ['lastError of 10,000 characters', (s) => (s.lastError = `TARGET_ERROR ${'A'.repeat(10_000)} 2026-01-01T00:00:00Z`)],
    ['a zero rate', (s) => (s.rotation = { enabled: true, schedule: { kind: 'rate', everyMs: 0 } })],
    ['a rate over 1000 days', (s) => (s.rotation = { enabled: true, schedule: { kind: 'rate', everyMs: 1001 * 86_400_000 } })],
    ['a cron with control characters', (s) => (s.rotation = { enabled: true, schedule: { kind: 'cron', expression: `0 4 ? * SUN *${BOGUS}` } })],
    ['a schedule of another kind', (s) => (s.rotation = { enabled: true, schedule: { kind: 'every', everyMs: 3_600_000 } })],
  ];
  it.each(edits)('%s: status, rotate --due and describe refuse the store (STORE_CORRUPT), echo nothing, alert nothing', async (_name, edit) => {
    editStoredSecret(edit);
    const before = readFileSync(secretFilePath(storePath, 'db/app'));
    for (const args of [['status'], ['status', '--alert'], ['rotate', '--due'], ['secrets', 'describe', 'db/app']]) {
      const run = await cli(env, args, '', { post });
      expect(run.code).toBe(1);
      expect(cliError(run).code).toBe('STORE_CORRUPT');
      expect(run.stdout + run.stderr).not.toContain('<!channel>');
      expect(run.stdout + run.stderr).not.toContain('FAKE');
      expectNoRawControl(run.stdout + run.stderr);
    }
    expect(posts).toEqual([]);
    expect(readFileSync(secretFilePath(storePath, 'db/app')).equals(before)).toBe(true);
  });
});

/** A description as any store might hand it back. */
function info(secretId: string, rotation: SecretInfo['rotation'], lastError?: RotationFailure): SecretInfo {
  const created = new Date(Date.now() - 3 * 86_400_000);
  return {
    secretId,
    rotation,
    tags: {},
    versions: [{ versionId: `${secretId}-v1`, stages: ['CURRENT'], createdAt: created, promotedAt: created, hasValue: true }],
    ...(lastError === undefined ? {} : { lastError }),
  };
}

const DEFAULTS = { strategy: 'single-user' as const, retention: DEFAULT_RETENTION };

describe('descriptions with a bogus schedule or last error (any store: tags and labels are editable)', () => {
  const badSchedules: ReadonlyArray<readonly [string, RotationSchedule]> = [
    ['a cron that does not parse', { kind: 'cron', expression: 'not a cron at all' }],
    ['a cron with a control character', { kind: 'cron', expression: `0 4 ? * SUN *\n` }],
    ['a cron of 10,000 characters', { kind: 'cron', expression: '0 '.repeat(5_000) }],
  ];
  it.each(badSchedules)('%s: status shows "invalid" and the rest of the fleet; rotate --due reports it as a failure', (_name, schedule) => {
    const fleet = [info('db/bad', { enabled: true, schedule }), info('db/good', { enabled: true, schedule: { kind: 'rate', everyMs: 86_400_000 } })];
    const { secrets } = fleetStatus(fleet, DEFAULTS, new Date());
    expect(secrets.map((s) => [s.secretId, s.schedule, s.due])).toEqual([
      ['db/bad', 'invalid', false],
      ['db/good', 'rate(1 day)', true],
    ]);
    const selection = selectDue(fleet, new Date());
    expect(selection.due).toEqual([{ secretId: 'db/good', why: 'due' }]);
    expect(selection.invalid).toEqual([{ secretId: 'db/bad', code: 'INVALID_INPUT', retryable: false }]);
  });

  const badFailures: ReadonlyArray<readonly [string, RotationFailure]> = [
    ['a lowercase code', { code: 'oops', at: new Date() }],
    ['a code with a mention', { code: '<!channel>', at: new Date() }],
    ['a step with control characters', { code: 'TARGET_ERROR', step: 'set\nSecret', at: new Date() }],
    ['an invalid date', { code: 'TARGET_ERROR', at: new Date(Number.NaN) }],
    ['a date that is not a Date', { code: 'TARGET_ERROR', at: '2026-01-01' as unknown as Date }],
  ];
  it.each(badFailures)('%s: the last error is not believed', (_name, failure) => {
    expect(secretStatus(info('db/x', { enabled: true }, failure), DEFAULTS, new Date()).lastError).toBeUndefined();
  });

  it('a store that fails to describe one secret: the others are described; one that vanished is left out', async () => {
    const infos = new Map([['db/a', info('db/a', { enabled: true })]]);
    const store = {
      listSecretIds: () => Promise.resolve(['db/a', 'db/denied', 'db/gone']),
      describe: (id: string) => {
        const found = infos.get(id);
        if (found !== undefined) return Promise.resolve(found);
        if (id === 'db/gone') return Promise.reject(new RotatorError('SECRET_NOT_FOUND', `secret ${id} does not exist`));
        return Promise.reject(new RotatorError('STORE_IO', `access denied to ${PASSWORD}`, { retryable: true }));
      },
    } as unknown as SecretStore;
    const fleet = await describeFleet(store, 2);
    expect(fleet.secrets.map((s) => s.secretId)).toEqual(['db/a']);
    // By code only: a store's message is not repeated.
    expect(fleet.failed).toEqual([{ secretId: 'db/denied', code: 'STORE_IO', retryable: true }]);
  });
});

describe('alerts for a large fleet', () => {
  it('one message for 30 failing secrets, naming 20 and counting the rest', async () => {
    const key = Buffer.from(env.ROTATOR_STORE_KEY ?? '', 'base64');
    const store = new FileStore({ path: storePath, key, clock: () => new Date(Date.now() - 3 * 86_400_000) });
    for (let i = 10; i < 39; i++) await store.createSecret(`db/app-${i}`, VALUE, { rotation: { enabled: true, schedule: { kind: 'rate', everyMs: 86_400_000 } } });
    const run = await cli(env, ['rotate', '--due', '--concurrency', '64'], '', { post });
    expect(run.code).toBe(75); // every failure is TARGET_UNREACHABLE, temporary
    expect(posts).toHaveLength(1);
    const text = (JSON.parse(posts[0] ?? '{}') as { text: string }).text;
    expect(text).toMatch(/^Rotator on cli: rotation failed: 30 secret\(s\) in rotate --due: db\/app TARGET_UNREACHABLE, db\/app-10 TARGET_UNREACHABLE, .* and 10 more$/);
    expect(text.split('TARGET_UNREACHABLE')).toHaveLength(21);
    expect(posts[0]).not.toContain(PASSWORD);
  });
});
