import type { RotationRulesType } from '@aws-sdk/client-secrets-manager';
import { RotatorError } from '../../shared/errors.js';
import { checkSchedule, formatSchedule, nextDue, parseSchedule } from '../../shared/schedule.js';
import type { RotationSchedule } from '../../shared/store.js';

/**
 * The port's RotationSchedule and Secrets Manager's RotationRules, both ways. AWS's rules, from the API reference
 * (RotationRulesType) and the user guide ("Rotation schedules"):
 * - ScheduleExpression `rate(N hours|days)` or `cron(...)` (six fields, UTC), or AutomaticallyAfterDays (1-1000),
 *   not both; DescribeSecret may report AutomaticallyAfterDays beside a rate in days (the service computes it);
 * - a secret rotates at most every four hours; a rate runs to 999 days;
 * - Duration (`3h`) is the rotation window, 1h at least; it must not reach into the next window, nor, for a schedule
 *   in days, into the next UTC day.
 */

const HOUR_MS = 3_600_000;
const DAY_MS = 86_400_000;
const MIN_INTERVAL_MS = 4 * HOUR_MS;
const MAX_RATE_DAYS = 999;
/** How many firings of a cron are looked at for its shortest interval (a week of four-hourly firings and more). */
const CRON_SAMPLE = 64;

/** The schedule the rules describe; undefined without rules. INVALID_INPUT for anything that does not parse. */
export function scheduleFromRules(rules: RotationRulesType | undefined, source: string): RotationSchedule | undefined {
  // Typed by the SDK, but what the service sent: anything may be in it.
  const raw: unknown = rules;
  if (raw === undefined || raw === null) return undefined;
  if (typeof raw !== 'object' || Array.isArray(raw)) throw new RotatorError('INVALID_INPUT', `${source} is not an object`);
  const { ScheduleExpression: expression, AutomaticallyAfterDays: days, Duration: duration } = raw as Record<string, unknown>;
  if (duration !== undefined && typeof duration !== 'string') throw new RotatorError('INVALID_INPUT', `${source}: Duration is not a string`);
  if (expression !== undefined) {
    if (typeof expression !== 'string') throw new RotatorError('INVALID_INPUT', `${source}: ScheduleExpression is not a string`);
    return parseSchedule(expression, source, duration);
  }
  if (days === undefined) return undefined;
  if (typeof days !== 'number' || !Number.isInteger(days) || days < 1 || days > 1000) {
    throw new RotatorError('INVALID_INPUT', `${source}: AutomaticallyAfterDays is not a whole number of days from 1 to 1000`);
  }
  return parseSchedule(`rate(${days} days)`, source, duration);
}

/** The RotationRules for a schedule, refusing with INVALID_INPUT what Secrets Manager refuses. */
export function rulesFromSchedule(schedule: RotationSchedule, source: string): RotationRulesType {
  const { windowMs, ...base } = checkSchedule(schedule, source);
  const duration = windowMs === undefined ? {} : { Duration: `${windowMs / HOUR_MS}h` };
  if (base.kind === 'rate') {
    if (base.everyMs < MIN_INTERVAL_MS) throw new RotatorError('INVALID_INPUT', `${source}: AWS Secrets Manager rotates a secret at most every four hours`);
    if (base.everyMs >= DAY_MS && base.everyMs % DAY_MS !== 0) {
      throw new RotatorError('INVALID_INPUT', `${source}: on AWS Secrets Manager a rate of a day or more is a whole number of days (rate(N days)); in hours it is 4 to 23`);
    }
    if (base.everyMs > MAX_RATE_DAYS * DAY_MS) throw new RotatorError('INVALID_INPUT', `${source}: AWS Secrets Manager rotates at least every ${MAX_RATE_DAYS} days`);
    return { ScheduleExpression: formatSchedule(base), ...duration };
  }
  checkCron(base.expression, windowMs, source);
  return { ScheduleExpression: formatSchedule(base), ...duration };
}

/** A cron fires at most every four hours, and its window ends before its next firing and, in days, by midnight. */
function checkCron(expression: string, windowMs: number | undefined, source: string): void {
  const schedule: RotationSchedule = { kind: 'cron', expression };
  let shortest = Number.POSITIVE_INFINITY;
  let run = nextDue(schedule, new Date());
  for (let i = 0; i < CRON_SAMPLE && run !== undefined; i++) {
    const next = nextDue(schedule, run);
    if (next !== undefined) shortest = Math.min(shortest, next.getTime() - run.getTime());
    run = next;
  }
  if (shortest < MIN_INTERVAL_MS) throw new RotatorError('INVALID_INPUT', `${source}: AWS Secrets Manager rotates a secret at most every four hours, and this cron fires more often`);
  if (windowMs === undefined) return;
  if (windowMs > shortest) throw new RotatorError('INVALID_INPUT', `${source}: the rotation window must end before the next rotation starts`);
  const hours = expression.split(' ')[1] ?? '';
  if (/^\d+$/.test(hours) && Number(hours) * HOUR_MS + windowMs > DAY_MS) {
    throw new RotatorError('INVALID_INPUT', `${source}: a daily rotation window must end by midnight UTC (start hour plus window at most 24h)`);
  }
}
