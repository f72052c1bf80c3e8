import { planRetention, retentionFor, type RetentionPolicy } from './purger.js';
import { checkFailure, formatSchedule, scheduleState, windowMs, type ScheduleState } from './schedule.js';
import { pendingRotation, type SecretInfo, type Strategy } from './store.js';

/**
 * Where each secret of a fleet stands, from its description alone (pure: no store, no value, the caller's clock), so
 * `rotator status` over any store and the cloud runners show the same facts computed the same way.
 */

export interface StatusDefaults {
  /** ROTATION_STRATEGY, else single-user. */
  strategy: Strategy;
  /** The purger's defaults (ROTATOR_SAFE_WINDOW, ROTATOR_KEEP_SUPERSEDED). */
  retention: RetentionPolicy;
}

export interface SecretStatus {
  secretId: string;
  enabled: boolean;
  /**
   * The strategy the secret's settings name, else the deployment's default (`source`). A secret that names none and
   * whose CURRENT value is shaped like AWS's MultiUser template still alternates (shared/strategy.ts); status reads
   * no value, so it shows the default there.
   */
  strategy: Strategy;
  strategySource: 'secret' | 'default';
  /** The schedule as an operator types it (`rate(30 days)`); unset without one, `invalid` for one that does not parse
   * (a tag or label edited by hand), which is then ignored: the secret is never due by it. */
  schedule?: string;
  lastRotatedAt?: Date;
  nextDueAt?: Date;
  due: boolean;
  overdue: boolean;
  /** When the window after `nextDueAt` closed without a rotation; set when overdue. */
  overdueSince?: Date;
  /** The service's own next rotation date, where it keeps one (AWS, Secret Manager). */
  serviceNextRotationAt?: Date;
  /** A rotation left PENDING: its version and when it was created (unset when the store did not date it). */
  pending?: { versionId: string; since?: Date };
  /** The last failed rotation: code, step and time; never a message. */
  lastError?: { code: string; step?: string; at: Date };
  /**
   * Superseded versions the purger would retire now, those still inside the safe window, and those this description
   * does not date (AWS's ListSecrets carries no version dates: the purger dates them when it runs).
   */
  purge: { retireNow: number; insideWindow: number; undated: number };
}

export interface FleetSummary {
  secrets: number;
  due: number;
  overdue: number;
  pending: number;
  failing: number;
}


export function secretStatus(info: SecretInfo, defaults: StatusDefaults, now: Date): SecretStatus {
  const { rotation } = info;
  const { state, valid } = scheduleOf(info, now);
  const pending = pendingRotation(info);
  // A store's record was checked when it was read; checked again here, since a description may come from anywhere.
  const lastError = info.lastError === undefined ? undefined : checkFailure(info.lastError);
  const verdicts = planRetention(info, retentionFor(info, defaults.retention), now);
  const overdueSince =
    state.overdue && state.nextDueAt !== undefined && rotation.schedule !== undefined && valid
      ? new Date(state.nextDueAt.getTime() + windowMs(rotation.schedule, state.nextDueAt))
      : undefined;
  return {
    secretId: info.secretId,
    enabled: rotation.enabled,
    strategy: rotation.strategy ?? defaults.strategy,
    strategySource: rotation.strategy === undefined ? 'default' : 'secret',
    ...(rotation.schedule === undefined ? {} : { schedule: valid ? formatSchedule(rotation.schedule) : 'invalid' }),
    ...(state.lastRotatedAt === undefined ? {} : { lastRotatedAt: state.lastRotatedAt }),
    ...(state.nextDueAt === undefined ? {} : { nextDueAt: state.nextDueAt }),
    due: state.due,
    overdue: state.overdue,
    ...(overdueSince === undefined ? {} : { overdueSince }),
    ...(info.nextRotationAt === undefined ? {} : { serviceNextRotationAt: info.nextRotationAt }),
    ...(pending === undefined ? {} : { pending: { versionId: pending.versionId, ...(pending.createdAt === undefined ? {} : { since: pending.createdAt }) } }),
    ...(lastError === undefined ? {} : { lastError }),
    purge: {
      retireNow: verdicts.filter((v) => v.retire).length,
      insideWindow: verdicts.filter((v) => v.reason === 'inside the safe window').length,
      undated: verdicts.filter((v) => v.reason === 'not superseded' && v.version.createdAt === undefined && v.version.promotedAt === undefined).length,
    },
  };
}

/** The schedule state; a schedule that does not parse counts as none, so one bad secret cannot stop a fleet's status. */
function scheduleOf(info: SecretInfo, now: Date): { state: ScheduleState; valid: boolean } {
  try {
    return { state: scheduleState(info, now), valid: true };
  } catch {
    const rotation = { ...info.rotation };
    delete rotation.schedule;
    return { state: scheduleState({ ...info, rotation }, now), valid: false };
  }
}

/** Every secret's status, sorted by id, and the counts a summary line or a monitor needs. */
export function fleetStatus(infos: readonly SecretInfo[], defaults: StatusDefaults, now: Date): { secrets: SecretStatus[]; summary: FleetSummary } {
  const secrets = infos.map((info) => secretStatus(info, defaults, now)).sort((a, b) => (a.secretId < b.secretId ? -1 : a.secretId > b.secretId ? 1 : 0));
  return {
    secrets,
    summary: {
      secrets: secrets.length,
      due: secrets.filter((s) => s.due).length,
      overdue: secrets.filter((s) => s.overdue).length,
      pending: secrets.filter((s) => s.pending !== undefined).length,
      failing: secrets.filter((s) => s.lastError !== undefined).length,
    },
  };
}

/** A SecretStatus as JSON: dates as ISO strings. */
export function statusJson(status: SecretStatus): Record<string, unknown> {
  const iso = (date: Date | undefined): string | undefined => date?.toISOString();
  return {
    ...status,
    lastRotatedAt: iso(status.lastRotatedAt),
    nextDueAt: iso(status.nextDueAt),
    overdueSince: iso(status.overdueSince),
    serviceNextRotationAt: iso(status.serviceNextRotationAt),
    ...(status.pending === undefined ? {} : { pending: { versionId: status.pending.versionId, since: iso(status.pending.since) } }),
    ...(status.lastError === undefined ? {} : { lastError: { ...status.lastError, at: status.lastError.at.toISOString() } }),
  };
}
