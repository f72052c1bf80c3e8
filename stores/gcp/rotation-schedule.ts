import { RotatorError } from '../../shared/errors.js';
import { checkSchedule } from '../../shared/schedule.js';
import type { RotationSchedule } from '../../shared/store.js';
import { SECRET_MANAGER_MIN_ROTATION_LEAD_SECONDS } from './limits.js';
import { durationMs, timestampDate, type Secret } from './secret-manager-calls.js';

/**
 * The port's schedule on Secret Manager's own `rotation` field: `rotation_period` (a rate) and `next_rotation_time`
 * (when the service next publishes SECRET_ROTATE to the secret's topics, then moves it on by the period). Secret
 * Manager has no cron and no window, so neither is kept.
 */

export type Rate = RotationSchedule & { kind: 'rate' };

/**
 * The schedule a secret's `rotation` shows: its period as a rate, or undefined without one. A period the port cannot
 * hold (not whole hours, over 1000 days: set by hand, the service allows up to 100 years) is `invalid`: no schedule, and
 * the caller warns. The proto marks `rotation_period` input-only, so a service that does not echo it shows none.
 */
export function scheduleOf(secret: Secret): Rate | 'invalid' | undefined {
  const period = durationMs(secret.rotation?.rotationPeriod);
  if (period === undefined || period === 0) return undefined;
  try {
    return checkSchedule({ kind: 'rate', everyMs: period }, 'rotation.rotation_period');
  } catch {
    return 'invalid';
  }
}

/** When the service next publishes SECRET_ROTATE, as it says; undefined when it keeps no date. */
export function nextRotationOf(secret: Secret): Date | undefined {
  return timestampDate(secret.rotation?.nextRotationTime);
}

/** The schedule as Secret Manager keeps it, or INVALID_INPUT for what it has no native form for (a cron, a window). */
export function secretManagerSchedule(schedule: RotationSchedule): Rate {
  checkSchedule(schedule, 'the rotation schedule');
  if (schedule.kind === 'cron') {
    throw new RotatorError(
      'INVALID_INPUT',
      'Google Secret Manager has no cron schedule (its rotation is a period from a next rotation time): use a rate such as 30d or 12h, or Cloud Scheduler for a calendar',
    );
  }
  if (schedule.windowMs !== undefined) {
    throw new RotatorError('INVALID_INPUT', 'Google Secret Manager keeps no rotation window; leave it out (the default applies: an hour for a rate in hours, the rest of the UTC day for one in days)');
  }
  return schedule;
}

/**
 * The `rotation` to write for `rate`: its period, and a next rotation time that falls when the schedule says the
 * secret is due (CURRENT's last rotation + the rate, as shared/schedule.ts computes it), but never sooner than the
 * service accepts (300 s ahead of its clock; 10 minutes here, for clocks that disagree): a secret already due gets its
 * SECRET_ROTATE within minutes, and the sweep does not wait for it.
 */
export function rotationFor(rate: Rate, lastRotatedAt: Date | undefined, now: Date): NonNullable<Secret['rotation']> {
  const earliest = now.getTime() + 2 * SECRET_MANAGER_MIN_ROTATION_LEAD_SECONDS * 1000;
  const ms = Math.max((lastRotatedAt ?? now).getTime() + rate.everyMs, earliest);
  return { rotationPeriod: { seconds: rate.everyMs / 1000 }, nextRotationTime: { seconds: Math.floor(ms / 1000), nanos: (ms % 1000) * 1e6 } };
}
