import { Cron } from 'croner';
import { RotatorError } from './errors.js';
import { escapeControl } from './control-chars.js';
import { formatDuration } from './duration.js';
import { versionWithStage, type RotationFailure, type RotationSchedule, type SecretInfo } from './store.js';

/**
 * Rotation schedules, one way for every store: parsing what an operator types, and when a secret is next due.
 * A store keeps the schedule in its native form (see RotationSchedule); this module never asks the store what is
 * due, so `rotate --due`, `status` and the cloud sweeps agree.
 *
 * The forms are AWS's, so a schedule moves between clouds unchanged:
 * - a rate: `30d`, `12h`, `rate(30 days)`, `rate(12 hours)` (from 1 hour to 1000 days);
 * - a cron: `cron(0 16 1,15 * ? *)`, six fields (minutes hours day-of-month month day-of-week year), UTC, with
 *   AWS's `?`, `L`, `W` and `#`, and day-of-week 1-7 from Sunday (SUN-SAT also work).
 * A window (`3h`) is how long after the due time a rotation may start; past it, a secret that has not rotated is
 * overdue. Without one it is AWS's default: an hour for a schedule in hours, the rest of the UTC day for one in days.
 */

const HOUR_MS = 3_600_000;
const DAY_MS = 86_400_000;
export const MIN_RATE_MS = HOUR_MS;
export const MAX_RATE_MS = 1000 * DAY_MS;
const MAX_EXPRESSION_CHARS = 256;
/** The largest value of each AWS cron field: minutes, hours, day of month, month, day of week, year. */
const FIELD_MAX = [59, 23, 31, 12, 7, 2199];

/** `30d`, `12h`, `rate(30 days)`, `rate(1 hour)` or `cron(...)`; `window` a whole number of hours (`3h`, 1 to 24). */
export function parseSchedule(text: string, source: string, window?: string): RotationSchedule {
  const trimmed = text.trim();
  if (trimmed.length > MAX_EXPRESSION_CHARS) throw new RotatorError('INVALID_INPUT', `${source} is longer than ${MAX_EXPRESSION_CHARS} characters`);
  const windowMs = window === undefined ? undefined : parseWindow(window);
  const withWindow = <T extends RotationSchedule>(schedule: T): T => (windowMs === undefined ? schedule : { ...schedule, windowMs });
  const cron = /^cron\((.*)\)$/i.exec(trimmed);
  if (cron !== null) {
    const expression = (cron[1] ?? '').trim().replace(/\s+/g, ' ');
    // Refused before anything is stored: what never fires again (and, in checkSchedule, what does not parse or fires
    // more often than hourly).
    if (cronFor(expression, source).nextRun(new Date()) === null) throw new RotatorError('INVALID_INPUT', `${source}: "cron(${escapeControl(expression)})" never fires again`);
    return checkSchedule(withWindow({ kind: 'cron', expression }), source);
  }
  const rate = /^rate\((\d{1,6}) (hour|hours|day|days)\)$/i.exec(trimmed) ?? /^(\d{1,6})(h|d)$/i.exec(trimmed);
  if (rate !== null) {
    const unit = (rate[2] ?? '').toLowerCase().startsWith('h') ? HOUR_MS : DAY_MS;
    return checkSchedule(withWindow({ kind: 'rate', everyMs: Number(rate[1]) * unit }), source);
  }
  throw new RotatorError(
    'INVALID_INPUT',
    `${source} is "${escapeControl(trimmed)}"; use a rate such as 30d, 12h or rate(30 days), or cron(minutes hours day-of-month month day-of-week year), e.g. cron(0 4 ? * SUN *)`,
  );
}

/** What a store reads back (a file, a tag, a label) is checked as hostile as what an operator types. */
export function checkSchedule<T extends RotationSchedule>(schedule: T, source: string): T {
  if (schedule.windowMs !== undefined && !(Number.isInteger(schedule.windowMs) && schedule.windowMs >= HOUR_MS && schedule.windowMs <= DAY_MS && schedule.windowMs % HOUR_MS === 0)) {
    throw new RotatorError('INVALID_INPUT', `${source}: a rotation window is a whole number of hours from 1h to 24h`);
  }
  if (schedule.kind === 'rate') {
    if (!Number.isInteger(schedule.everyMs) || schedule.everyMs < MIN_RATE_MS || schedule.everyMs > MAX_RATE_MS || schedule.everyMs % HOUR_MS !== 0) {
      throw new RotatorError('INVALID_INPUT', `${source}: a rotation rate is a whole number of hours or days, from 1 hour to 1000 days`);
    }
    if (schedule.windowMs !== undefined && schedule.windowMs > schedule.everyMs) {
      throw new RotatorError('INVALID_INPUT', `${source}: the rotation window (${formatDuration(schedule.windowMs)}) must not be longer than the rate (${formatDuration(schedule.everyMs)})`);
    }
    return schedule;
  }
  if (typeof schedule.expression !== 'string' || schedule.expression.length > MAX_EXPRESSION_CHARS) {
    throw new RotatorError('INVALID_INPUT', `${source}: a cron expression is a string of at most ${MAX_EXPRESSION_CHARS} characters`);
  }
  // No store rotates more often than hourly (AWS's floor is four hours, Secret Manager's one): a cron that does, typed
  // or edited into a file, is refused.
  const runs = cronFor(schedule.expression, source).nextRuns(4, new Date());
  if (runs.some((run, i) => i > 0 && run.getTime() - (runs[i - 1]?.getTime() ?? 0) < HOUR_MS)) {
    throw new RotatorError('INVALID_INPUT', `${source}: "cron(${escapeControl(schedule.expression)})" fires more often than once an hour; rotate at most hourly`);
  }
  return schedule;
}

function parseWindow(text: string): number {
  const match = /^(\d{1,2})h$/.exec(text.trim());
  if (match === null) throw new RotatorError('INVALID_INPUT', `--window is "${escapeControl(text)}"; use a whole number of hours from 1h to 24h, e.g. 3h`);
  return Number(match[1]) * HOUR_MS;
}

/** The schedule as an operator types it: `rate(30 days)`, `cron(0 4 ? * SUN *)`, with `, window 3h` if one is set. */
export function formatSchedule(schedule: RotationSchedule): string {
  const base =
    schedule.kind === 'cron'
      ? `cron(${schedule.expression})`
      : schedule.everyMs % DAY_MS === 0
        ? `rate(${schedule.everyMs / DAY_MS} ${schedule.everyMs === DAY_MS ? 'day' : 'days'})`
        : `rate(${schedule.everyMs / HOUR_MS} ${schedule.everyMs === HOUR_MS ? 'hour' : 'hours'})`;
  return schedule.windowMs === undefined ? base : `${base}, window ${formatDuration(schedule.windowMs)}`;
}

/** An AWS six-field cron as croner's seven-field Quartz form (a leading 0 for seconds; weekdays 1-7 from Sunday). */
function cronFor(expression: string, source: string): Cron {
  const fields = expression.split(' ');
  if (fields.length !== 6 || !/^[0-9A-Za-z*?,/#\- ]+$/.test(expression)) {
    throw new RotatorError(
      'INVALID_INPUT',
      `${source}: "cron(${escapeControl(expression)})" needs six fields (minutes hours day-of-month month day-of-week year), e.g. cron(0 4 ? * SUN *)`,
    );
  }
  // AWS's `5/15` (from 5, every 15) is croner's `5-59/15`.
  const pattern = fields.map((field, i) => field.replace(/^(\d+)\/(\d+)$/, `$1-${FIELD_MAX[i] ?? 0}/$2`)).join(' ');
  try {
    return new Cron(`0 ${pattern}`, { mode: '7-part', alternativeWeekdays: true, domAndDow: true, timezone: 'UTC', paused: true });
  } catch (error) {
    const why = error instanceof Error ? error.message : String(error);
    throw new RotatorError('INVALID_INPUT', `${source}: "cron(${escapeControl(expression)})" is not a valid cron expression (${escapeControl(why)})`);
  }
}

/**
 * When the rotation after `lastRotatedAt` is due: a rate counts from the last rotation; a cron is its first time after
 * it. Undefined for a cron that never fires again (a year in the past).
 */
export function nextDue(schedule: RotationSchedule, lastRotatedAt: Date): Date | undefined {
  if (schedule.kind === 'rate') return new Date(lastRotatedAt.getTime() + schedule.everyMs);
  return cronFor(schedule.expression, 'the rotation schedule').nextRun(lastRotatedAt) ?? undefined;
}

/** How long after its due time a rotation may still start (see the module comment). */
export function windowMs(schedule: RotationSchedule, due: Date): number {
  if (schedule.windowMs !== undefined) return schedule.windowMs;
  const inHours = schedule.kind === 'rate' ? schedule.everyMs < DAY_MS : !/^\d+$/.test(schedule.expression.split(' ')[1] ?? '');
  if (inHours) return HOUR_MS;
  const endOfDay = Date.UTC(due.getUTCFullYear(), due.getUTCMonth(), due.getUTCDate() + 1);
  return endOfDay - due.getTime();
}

export interface ScheduleState {
  /** When CURRENT became CURRENT (promoted, else created); unset when the secret has no dated CURRENT. */
  lastRotatedAt?: Date;
  /** When the next rotation is due; unset without a schedule (or a cron that never fires again). */
  nextDueAt?: Date;
  /** Due now: rotation enabled, a schedule, and its due time has come. */
  due: boolean;
  /** Due, and its window closed without a rotation. */
  overdue: boolean;
}

/** Where a secret stands against its schedule at `now`. A secret with rotation disabled is never due. */
export function scheduleState(info: SecretInfo, now: Date): ScheduleState {
  const current = versionWithStage(info, 'CURRENT');
  const lastRotatedAt = current?.promotedAt ?? current?.createdAt;
  const schedule = info.rotation.schedule;
  if (schedule === undefined || lastRotatedAt === undefined) return { ...(lastRotatedAt === undefined ? {} : { lastRotatedAt }), due: false, overdue: false };
  const nextDueAt = nextDue(schedule, lastRotatedAt);
  if (nextDueAt === undefined) return { lastRotatedAt, due: false, overdue: false };
  const due = info.rotation.enabled && nextDueAt.getTime() <= now.getTime();
  const overdue = due && nextDueAt.getTime() + windowMs(schedule, nextDueAt) < now.getTime();
  return { lastRotatedAt, nextDueAt, due, overdue };
}

// ---- the last failure, as one short string a tag, label annotation or file field can hold ----

const FAILURE_CODE = /^[A-Z][A-Z0-9_]{0,63}$/;
const FAILURE_STEP = /^[A-Za-z]{1,32}$/;

/** `CODE step 2026-11-29T15:00:00.000Z` (`-` for no step): letters, digits, `_`, `-`, `:`, `.` and spaces only, which
 * AWS tag values, Key Vault tags and Secret Manager annotations all accept. */
export function formatFailure(failure: RotationFailure): string {
  const checked = checkFailure(failure);
  if (checked === undefined) throw new RotatorError('INVALID_INPUT', 'a recorded failure needs an error code, a step name and a valid time');
  return `${checked.code} ${checked.step ?? '-'} ${checked.at.toISOString()}`;
}

/** The failure a store recorded, or undefined for anything else (an edited tag is not believed, and never echoed). */
export function parseFailure(text: string | undefined): RotationFailure | undefined {
  if (text === undefined || text.length > 128) return undefined;
  const [code, step, at, extra] = text.split(' ');
  if (code === undefined || step === undefined || at === undefined || extra !== undefined) return undefined;
  if (!/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{3})?Z$/.test(at)) return undefined;
  return checkFailure({ code, at: new Date(at), ...(step === '-' ? {} : { step }) });
}

/** A failure with a code, a step and a time that can be shown; undefined otherwise. */
export function checkFailure(failure: RotationFailure): RotationFailure | undefined {
  const { code, at, step } = failure;
  if (typeof code !== 'string' || !FAILURE_CODE.test(code)) return undefined;
  if (step !== undefined && (typeof step !== 'string' || !FAILURE_STEP.test(step))) return undefined;
  if (!(at instanceof Date) || Number.isNaN(at.getTime())) return undefined;
  return { code, at, ...(step === undefined ? {} : { step }) };
}
