import { describe, expect, it } from 'vitest';
import { checkSchedule, formatFailure, formatSchedule, nextDue, parseFailure, parseSchedule, scheduleState, windowMs } from '../../shared/schedule.js';
import { DEFAULT_RETENTION } from '../../shared/purger.js';
import { secretStatus } from '../../shared/status.js';
import type { RotationSchedule, SecretInfo } from '../../shared/store.js';

const H = 3_600_000;
const D = 86_400_000;
const at = (iso: string): Date => new Date(iso);

describe('parsing a schedule', () => {
  it('takes rates in the short and the AWS form, and crons in AWS six-field form', () => {
    expect(parseSchedule('30d', 'X')).toEqual({ kind: 'rate', everyMs: 30 * D });
    expect(parseSchedule(' 12h ', 'X')).toEqual({ kind: 'rate', everyMs: 12 * H });
    expect(parseSchedule('rate(1 day)', 'X')).toEqual({ kind: 'rate', everyMs: D });
    expect(parseSchedule('rate(4 hours)', 'X', '2h')).toEqual({ kind: 'rate', everyMs: 4 * H, windowMs: 2 * H });
    expect(parseSchedule('cron(0  16 1,15 * ? *)', 'X')).toEqual({ kind: 'cron', expression: '0 16 1,15 * ? *' });
    expect(parseSchedule('cron(0 4 ? * SUN *)', 'X', '3h')).toEqual({ kind: 'cron', expression: '0 4 ? * SUN *', windowMs: 3 * H });
  });

  it('refuses what no store could keep, naming the setting', () => {
    const bad = [
      '0h', '1001d', '90m', 'rate(5 minutes)', '30', 'weekly', '',
      'cron(0 16 1,15 * ?)', // five fields
      'cron(a b c d e f)',
      'cron(0 0 ? * 9 *)', // no ninth weekday
      'cron(0 0 1 * ? 2020)', // never fires again
      'cron(0/30 * * * ? *)', // twice an hour
      'cron(0 0 1\u0000 * ? *)', // a control character is not part of any form
      `cron(${'1,'.repeat(200)}1 0 * * ? *)`, // over 256 characters
    ];
    for (const text of bad) expect(() => parseSchedule(text, '--every'), text).toThrow(/--every/);
    expect(() => parseSchedule('30d', '--every', '25h')).toThrow(/window/);
    expect(() => parseSchedule('2h', '--every', '3h')).toThrow(/must not be longer than the rate/);
  });

  it('never echoes a control character it refuses', () => {
    try {
      parseSchedule('cron(0 0 \u001b[2J * ? *)', '--schedule');
      expect.unreachable();
    } catch (error) {
      expect((error as Error).message).not.toContain('\u001b');
    }
  });

  it('checks a schedule read back from a store as strictly as one typed', () => {
    expect(() => checkSchedule({ kind: 'rate', everyMs: 1.5 * H }, 'the file')).toThrow(/whole number of hours/);
    expect(() => checkSchedule({ kind: 'rate', everyMs: 4 * H, windowMs: 0 }, 'the file')).toThrow(/window/);
    expect(() => checkSchedule({ kind: 'cron', expression: 'rm -rf /' }, 'the file')).toThrow(/six fields/);
    expect(() => checkSchedule({ kind: 'cron', expression: '* * * * ? *' }, 'the file')).toThrow(/more often than once an hour/);
    expect(checkSchedule({ kind: 'cron', expression: '0 0 1 1 ? 2020' }, 'the file')).toEqual({ kind: 'cron', expression: '0 0 1 1 ? 2020' }); // past: never due
  });

  it('formats as AWS writes it', () => {
    expect(formatSchedule({ kind: 'rate', everyMs: 30 * D })).toBe('rate(30 days)');
    expect(formatSchedule({ kind: 'rate', everyMs: H })).toBe('rate(1 hour)');
    expect(formatSchedule({ kind: 'rate', everyMs: 36 * H, windowMs: 2 * H })).toBe('rate(36 hours), window 2h');
    expect(formatSchedule({ kind: 'cron', expression: '0 4 ? * SUN *' })).toBe('cron(0 4 ? * SUN *)');
  });
});

describe('when a secret is next due', () => {
  const last = at('2026-11-29T15:00:00Z'); // a Sunday
  const cron = (expression: string): RotationSchedule => ({ kind: 'cron', expression });

  it('counts a rate from the last rotation', () => {
    expect(nextDue({ kind: 'rate', everyMs: 30 * D }, last)).toEqual(at('2026-12-29T15:00:00Z'));
  });

  it('takes a cron\'s first time after the last rotation, in UTC, with AWS\'s day-of-week numbering and ?, L, #', () => {
    expect(nextDue(cron('0 16 1,15 * ? *'), last)).toEqual(at('2026-12-01T16:00:00Z'));
    expect(nextDue(cron('0 4 ? * SUN *'), last)).toEqual(at('2026-12-06T04:00:00Z'));
    expect(nextDue(cron('0 4 ? * 1 *'), last)).toEqual(at('2026-12-06T04:00:00Z')); // 1 is Sunday, as on AWS
    expect(nextDue(cron('0 8 ? * 6L *'), last)).toEqual(at('2026-12-25T08:00:00Z')); // the last Friday
    expect(nextDue(cron('0 8 ? * MON#2 *'), last)).toEqual(at('2026-12-14T08:00:00Z'));
    expect(nextDue(cron('0 0 L * ? *'), last)).toEqual(at('2026-11-30T00:00:00Z'));
    expect(nextDue(cron('0 2/12 * * ? *'), last)).toEqual(at('2026-11-30T02:00:00Z')); // AWS's start/step
    expect(nextDue(cron('0 0 1 1 ? 2026'), last)).toBeUndefined();
  });

  it('has AWS\'s default windows: an hour for schedules in hours, the rest of the UTC day for days', () => {
    expect(windowMs({ kind: 'rate', everyMs: 12 * H }, last)).toBe(H);
    expect(windowMs({ kind: 'rate', everyMs: 7 * D }, at('2026-12-06T15:00:00Z'))).toBe(9 * H);
    expect(windowMs(cron('0 4 ? * SUN *'), at('2026-12-06T04:00:00Z'))).toBe(20 * H);
    expect(windowMs(cron('0 */6 * * ? *'), at('2026-12-06T06:00:00Z'))).toBe(H);
    expect(windowMs({ kind: 'rate', everyMs: 7 * D, windowMs: 3 * H }, last)).toBe(3 * H);
  });

  const info = (rotation: SecretInfo['rotation'], promotedAt?: Date): SecretInfo => ({
    secretId: 'db/app',
    rotation,
    tags: {},
    versions: [{ versionId: 'v1', stages: ['CURRENT'], createdAt: at('2026-01-01T00:00:00Z'), hasValue: true, ...(promotedAt === undefined ? {} : { promotedAt }) }],
  });

  it('is due from the due time, and overdue once the window has closed', () => {
    const rotation = { enabled: true, schedule: { kind: 'rate', everyMs: 12 * H } as RotationSchedule };
    const promoted = at('2026-11-29T00:00:00Z');
    expect(scheduleState(info(rotation, promoted), at('2026-11-29T11:59:59Z'))).toEqual({ lastRotatedAt: promoted, nextDueAt: at('2026-11-29T12:00:00Z'), due: false, overdue: false });
    expect(scheduleState(info(rotation, promoted), at('2026-11-29T12:00:00Z'))).toMatchObject({ due: true, overdue: false });
    expect(scheduleState(info(rotation, promoted), at('2026-11-29T13:00:00Z'))).toMatchObject({ due: true, overdue: false });
    expect(scheduleState(info(rotation, promoted), at('2026-11-29T13:00:01Z'))).toMatchObject({ due: true, overdue: true });
  });

  it('counts from CURRENT\'s creation when it was never promoted, and is never due when disabled or unscheduled', () => {
    const schedule: RotationSchedule = { kind: 'rate', everyMs: 30 * D };
    expect(scheduleState(info({ enabled: true, schedule }), at('2026-06-01T00:00:00Z'))).toMatchObject({ lastRotatedAt: at('2026-01-01T00:00:00Z'), due: true, overdue: true });
    expect(scheduleState(info({ enabled: false, schedule }), at('2026-06-01T00:00:00Z'))).toMatchObject({ due: false, overdue: false });
    expect(scheduleState(info({ enabled: true }), at('2026-06-01T00:00:00Z'))).toEqual({ lastRotatedAt: at('2026-01-01T00:00:00Z'), due: false, overdue: false });
  });
});

describe('the recorded failure', () => {
  const t = at('2026-11-29T15:00:00.000Z');

  it('round-trips through one short string', () => {
    expect(formatFailure({ code: 'TARGET_AUTH_FAILED', at: t, step: 'setSecret' })).toBe('TARGET_AUTH_FAILED setSecret 2026-11-29T15:00:00.000Z');
    expect(parseFailure('TARGET_AUTH_FAILED setSecret 2026-11-29T15:00:00.000Z')).toEqual({ code: 'TARGET_AUTH_FAILED', at: t, step: 'setSecret' });
    expect(parseFailure(formatFailure({ code: 'STORE_IO', at: t }))).toEqual({ code: 'STORE_IO', at: t });
  });

  it('believes nothing else a tag or a file may carry', () => {
    for (const text of [
      undefined, '', 'STORE_IO', 'store_io - 2026-11-29T15:00:00.000Z', 'STORE_IO - yesterday', 'STORE_IO - 2026-11-29T15:00:00.000Z extra',
      'STORE_IO set-Secret 2026-11-29T15:00:00.000Z', 'STORE_IO\u0007 - 2026-11-29T15:00:00.000Z', 'password=hunter2 - 2026-11-29T15:00:00.000Z',
      `${'A'.repeat(65)} - 2026-11-29T15:00:00.000Z`, 'STORE_IO - 2026-13-45T99:00:00.000Z', 'X'.repeat(129),
    ]) expect(parseFailure(text), String(text)).toBeUndefined();
    expect(() => formatFailure({ code: 'not a code', at: t })).toThrow(/error code/);
    expect(() => formatFailure({ code: 'STORE_IO', at: new Date(Number.NaN) })).toThrow();
  });
});

describe('what status counts for the purger', () => {
  it('counts superseded versions a listing does not date (AWS ListSecrets) as waiting, never as retirable', () => {
    const promoted = at('2026-11-01T00:00:00Z');
    const info: SecretInfo = {
      secretId: 'db/app',
      rotation: { enabled: true },
      tags: {},
      versions: [
        { versionId: 'old', stages: ['PREVIOUS'], hasValue: true },
        { versionId: 'older', stages: [], hasValue: true },
        { versionId: 'now', stages: ['CURRENT'], hasValue: true, promotedAt: promoted },
      ],
    };
    const status = secretStatus(info, { strategy: 'single-user', retention: DEFAULT_RETENTION }, at('2026-11-29T00:00:00Z'));
    expect(status.purge).toEqual({ retireNow: 0, insideWindow: 0, undated: 2 });
  });
});
