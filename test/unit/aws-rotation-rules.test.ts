import { describe, expect, it } from 'vitest';
import { RotatorError } from '../../shared/errors.js';
import { rulesFromSchedule, scheduleFromRules } from '../../stores/aws/rotation-rules.js';

/** RotationRules and the port's schedule, without the SDK in between (it normalises some shapes on the wire). */

const HOUR = 3_600_000;
const DAY = 86_400_000;

describe('scheduleFromRules', () => {
  it('prefers ScheduleExpression over the AutomaticallyAfterDays the service adds beside it', () => {
    expect(scheduleFromRules({ ScheduleExpression: 'rate(10 days)', AutomaticallyAfterDays: 10, Duration: '3h' }, 'rules')).toEqual({ kind: 'rate', everyMs: 10 * DAY, windowMs: 3 * HOUR });
    expect(scheduleFromRules({ AutomaticallyAfterDays: 1000 }, 'rules')).toEqual({ kind: 'rate', everyMs: 1000 * DAY });
    expect(scheduleFromRules(undefined, 'rules')).toBeUndefined();
    expect(scheduleFromRules({}, 'rules')).toBeUndefined();
  });

  it.each([[['rate(1 day)']], ['rate(1 day)'], [42], [{ AutomaticallyAfterDays: 1001 }], [{ AutomaticallyAfterDays: 0 }], [{ ScheduleExpression: 'rate(1 day)', Duration: 3 }]])(
    'refuses %j with INVALID_INPUT',
    (rules) => {
      expect(() => scheduleFromRules(rules as never, 'rules')).toThrow(RotatorError);
    },
  );
});

describe('rulesFromSchedule', () => {
  it('writes rates as AWS spells them: hours below a day, whole days from one day', () => {
    expect(rulesFromSchedule({ kind: 'rate', everyMs: 23 * HOUR }, 's')).toEqual({ ScheduleExpression: 'rate(23 hours)' });
    expect(rulesFromSchedule({ kind: 'rate', everyMs: 24 * HOUR }, 's')).toEqual({ ScheduleExpression: 'rate(1 day)' });
    expect(rulesFromSchedule({ kind: 'rate', everyMs: 999 * DAY, windowMs: 24 * HOUR }, 's')).toEqual({ ScheduleExpression: 'rate(999 days)', Duration: '24h' });
    expect(rulesFromSchedule({ kind: 'cron', expression: '0 20 L * ? *', windowMs: 4 * HOUR }, 's')).toEqual({ ScheduleExpression: 'cron(0 20 L * ? *)', Duration: '4h' });
  });

  it('round-trips every schedule it writes', () => {
    for (const schedule of [
      { kind: 'rate', everyMs: 4 * HOUR },
      { kind: 'rate', everyMs: 7 * DAY, windowMs: 5 * HOUR },
      { kind: 'cron', expression: '0 4/8 * * ? *', windowMs: HOUR },
    ] as const) {
      expect(scheduleFromRules(rulesFromSchedule(schedule, 's'), 'rules')).toEqual(schedule);
    }
  });
});
