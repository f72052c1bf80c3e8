import type { SecretManagerServiceClient } from '@google-cloud/secret-manager';
import { RotatorError } from '../../shared/errors.js';
import type { Logger } from '../../shared/logger.js';
import { formatFailure, scheduleState } from '../../shared/schedule.js';
import { checkSecretId, type SecretIdGrammar } from '../../shared/secret-id.js';
import {
  checkStage,
  checkValue,
  type CallOptions,
  type DescribeOptions,
  type RotationFailure,
  type RotationSchedule,
  type SecretInfo,
  type SecretStore,
  type Stage,
  type StoreHints,
  type VersionInfo,
  type VersionSelector,
} from '../../shared/store.js';
import { DEFAULT_LOCK_TTL_MS, checkLockTtl, takeAnnotationLock, type AnnotationLease } from './annotation-lock.js';
import {
  ANNOTATION,
  TOKEN,
  VERSION_NUMBER,
  cancelledKey,
  cancelledVersions,
  fitsAnnotations,
  formatCancelled,
  formatPending,
  formatPromoted,
  lastFailure,
  pendingMarker,
  promotedKey,
  promotedVersions,
  rotationBytes,
  type Annotations,
} from './annotations.js';
import { bookkeepingOf, compareAndSwap, type BookkeepingChange } from './compare-and-swap.js';
import { causeStatus } from './errors.js';
import { ENABLED_FILTER, SM_LABEL, settingsFromLabels, userLabels } from './labels.js';
import { nextRotationOf, rotationFor, scheduleOf, secretManagerSchedule } from './rotation-schedule.js';
import { SECRET_MANAGER_ID_CHARS, SECRET_MANAGER_MAX_ALIASES, SECRET_MANAGER_MAX_ID, SECRET_MANAGER_MAX_VALUE_BYTES } from './limits.js';
import { SecretManagerCalls, durationMs, timestampDate, type Secret, type VersionFacts } from './secret-manager-calls.js';

/** The companion secret of `<id>` that holds PENDING values: `<id>-rotator-pending`. No consumer reads it. */
export const PENDING_SECRET_SUFFIX = '-rotator-pending';

/** Main ids leave room for the companion's suffix within Secret Manager's 255 characters. */
const MAX_MAIN_ID = SECRET_MANAGER_MAX_ID - PENDING_SECRET_SUFFIX.length;
const SECRET_MANAGER_SECRET_ID: SecretIdGrammar = {
  maxLength: MAX_MAIN_ID,
  chars: SECRET_MANAGER_ID_CHARS,
  rule: `a Secret Manager secret id: 1 to ${MAX_MAIN_ID} characters of A-Z a-z 0-9 _ and - (the rest of Secret Manager's ${SECRET_MANAGER_MAX_ID} is the companion's "${PENDING_SECRET_SUFFIX}")`,
};

/** How many ListSecretVersions describeAll runs at once. */
const DESCRIBE_ALL_CONCURRENCY = 8;

/** The aliases the store moves; every other alias is the user's. */
const ALIAS = { current: 'current', previous: 'previous' } as const;

export interface SecretManagerStoreOptions {
  /** Built with createSecretManagerClient. */
  client: SecretManagerServiceClient;
  /** The project whose secrets this store rotates. */
  projectId: string;
  /** Only secrets whose id starts with this (case-sensitive, as Secret Manager ids are) are listed and swept. */
  namePrefix?: string;
  clock?: () => Date;
  /** Where best-effort cleanup failures and lock renewals are reported (warn); silent by default. */
  logger?: Logger;
  /** How long a rotation lock lasts without renewal (default 60 s): also the longest a dead holder keeps it. */
  lockTtlMs?: number;
}

/** A rotation-enabled secret's schedule as Secret Manager keeps it (its `rotation` field), for the job reconciler. */
export interface SecretRotationSchedule {
  secretId: string;
  /** Only when the service shows it: the proto documents `rotation_period` as input-only. */
  rotationPeriodMs?: number;
  /** When the service next publishes SECRET_ROTATE; unset for a secret without a schedule. */
  nextRotationTime?: Date;
}

/** Where a port version's value is: a version of the main secret or of its companion. */
interface Location {
  companion: boolean;
  n: number;
  /** The version's etag as listed (main versions only). */
  etag?: string;
}

interface Mapped {
  info: SecretInfo;
  secret: Secret;
  /** Port version id -> where its value is, for every version `info` lists with a value. */
  where: Map<string, Location>;
  /** Port ids of versions that are retired (not ENABLED), with the annotation that still names a token's, if any. */
  retired: Map<string, string | undefined>;
}

/**
 * The SecretStore port on Google Secret Manager. Consumers read the main secret's `latest` version or its alias
 * `current`, so only a value that passed testSecret is ever added there; everything else is arranged around that
 * (docs/architecture.md has the mapping table, annotations.ts and labels.ts the formats):
 *
 * - **PENDING** values live in a companion secret, `<id>-rotator-pending`, one version per stored value. The rotation
 *   marker and the companion version holding its value are the `rotator-pending` annotation of the main secret.
 * - **CURRENT / PREVIOUS** are the aliases `current` and `previous`. A secret Rotator never rotated has no `current`:
 *   its newest ENABLED version is CURRENT, and the first startRotation pins the alias on it (so a promotion that dies
 *   after its write can never be mistaken for CURRENT).
 * - **Version ids**: the token for a version Rotator promoted (its `rotator-v<n>` annotation), Secret Manager's number
 *   for a version someone else wrote. Tokens are never all digits, so the two never collide.
 * - **promote** reads the pending value, adds it to the main secret (or adopts the newest version if it is an
 *   unrecorded copy of it: a promote that died after its add), then moves both aliases, records `rotator-v<n>` and
 *   drops the marker in one compare-and-swap. Then, best effort, the companion's copies that nothing names are
 *   destroyed; promote again (after a crash anywhere) finishes that and writes nothing twice.
 * - **retire** moves the alias away and drops the annotation (compare-and-swap), then destroys the version with its
 *   etag; with the secret's `version_destroy_ttl` the service only disables it until then (recoverable). Disabled and
 *   destroyed versions are not described.
 * - **Lock**: a lease in the `rotator-lock` annotation (annotation-lock.ts), whose `signal` aborts when it is lost.
 * - **Settings and tags** are labels (labels.ts); the sweep lists `rotator-enabled=true` secrets only.
 * - **Schedule**: the secret's own `rotation`: its `rotation_period` as a rate, its `next_rotation_time` as
 *   `nextRotationAt` (rotation-schedule.ts); updateSchedule writes both.
 * - **Last failure**: the `rotator-last-error` annotation, written and cleared by compare-and-swap.
 * - Every bookkeeping write is a compare-and-swap on the secret's etag (compare-and-swap.ts); every call carries the
 *   caller's signal where the port gives one; every failure is a RotatorError; no message carries a value.
 */
export class SecretManagerStore implements SecretStore {
  readonly maxValueBytes = SECRET_MANAGER_MAX_VALUE_BYTES;
  readonly rotationLock = 'exclusive';
  readonly hints: StoreHints = {
    cancelRotation: (secretId) =>
      `Secret Manager: gcloud secrets update ${secretId} --remove-annotations=${ANNOTATION.pending} (a value the rotation stored stays in ${secretId}${PENDING_SECRET_SUFFIX})`,
    enableRotation: (secretId) =>
      `Secret Manager: gcloud secrets update ${secretId} --update-labels=${SM_LABEL.enabled}=true, and once create its companion ` +
      `${secretId}${PENDING_SECRET_SUFFIX} with the same replication (gcloud secrets create ${secretId}${PENDING_SECRET_SUFFIX})`,
  };
  readonly #calls: SecretManagerCalls;
  readonly #prefix: string | undefined;
  readonly #clock: () => Date;
  readonly #logger: Logger | undefined;
  readonly #lockTtlMs: number;

  constructor(options: SecretManagerStoreOptions) {
    this.#calls = new SecretManagerCalls(options.client, options.projectId);
    this.#prefix = options.namePrefix;
    this.#clock = options.clock ?? (() => new Date());
    this.#logger = options.logger;
    this.#lockTtlMs = checkLockTtl(options.lockTtlMs ?? DEFAULT_LOCK_TTL_MS);
  }

  /** The secrets this deployment rotates: label `rotator-enabled=true`, ids under the prefix, companions left out. */
  async listSecretIds(): Promise<string[]> {
    return (await this.#attached()).map((a) => a.secretId);
  }

  /**
   * The rotation-enabled secrets the sweep should rotate at `now`:
   * - a rotation left PENDING (a run that died, and whose redeliveries Pub/Sub gave up on): the sweep finishes it;
   * - Secret Manager's own trigger: `rotation.nextRotationTime` at or before `now` (the notification has not gone out
   *   yet);
   * - or due by the schedule, as shared/schedule.ts scheduleState computes it for every store (what `status` shows):
   *   CURRENT renewed a whole `rotationPeriod` or more ago (its promotion, or the creation of a value Rotator never
   *   promoted). Secret Manager moves nextRotationTime on as soon as it publishes SECRET_ROTATE, so a notification
   *   that was lost or failed for good leaves a future nextRotationTime behind; the age of CURRENT is what shows it.
   *   Its versions are listed only for secrets with a period that are not due otherwise (one call each).
   */
  async dueSecretIds(now: Date): Promise<string[]> {
    const due: string[] = [];
    for (const { secretId, secret } of await this.#attached()) {
      const next = nextRotationOf(secret);
      if (pendingMarker(secret.annotations ?? {}) !== undefined || (next !== undefined && next.getTime() <= now.getTime())) {
        due.push(secretId);
        continue;
      }
      if (typeof scheduleOf(secret) !== 'object') continue;
      const { info } = mapSecret(secretId, secret, await this.#calls.listVersions(secretId));
      if (scheduleState(info, now).due) due.push(secretId);
    }
    return due;
  }

  /**
   * Every rotation-enabled secret's description (what `status` shows over a fleet), from one ListSecrets (which carries
   * labels, annotations, aliases and rotation) and one ListSecretVersions per secret: N + 1 calls where describing each
   * costs 2N. At most DESCRIBE_ALL_CONCURRENCY listings at a time, within Secret Manager's per-minute read quota for
   * any fleet this runs against in one go.
   */
  async describeAll(options: CallOptions = {}): Promise<SecretInfo[]> {
    const { signal } = options;
    const attached = await this.#attached(signal);
    const out: (SecretInfo | undefined)[] = new Array<SecretInfo | undefined>(attached.length);
    let next = 0;
    const worker = async (): Promise<void> => {
      for (let i = next++; i < attached.length; i = next++) {
        const entry = attached[i];
        if (entry === undefined) continue;
        try {
          out[i] = this.#info(mapSecret(entry.secretId, entry.secret, await this.#calls.listVersions(entry.secretId, signal)));
        } catch (error) {
          // Deleted since it was listed: no longer one of the secrets, as a later listing would say.
          if (!(error instanceof RotatorError && error.code === 'SECRET_NOT_FOUND')) throw error;
        }
      }
    };
    await Promise.all(Array.from({ length: Math.min(DESCRIBE_ALL_CONCURRENCY, attached.length) }, worker));
    return out.filter((info): info is SecretInfo => info !== undefined);
  }


  /** For each rotation-enabled secret, its schedule (the job reconciler's input). */
  async rotationSchedules(): Promise<SecretRotationSchedule[]> {
    return (await this.#attached()).map(({ secretId, secret }) => {
      const rotationPeriodMs = durationMs(secret.rotation?.rotationPeriod);
      const nextRotationTime = timestampDate(secret.rotation?.nextRotationTime);
      return {
        secretId,
        ...(rotationPeriodMs === undefined || rotationPeriodMs === 0 ? {} : { rotationPeriodMs }),
        ...(nextRotationTime === undefined ? {} : { nextRotationTime }),
      };
    });
  }

  async describe(secretId: string, options: DescribeOptions = {}): Promise<SecretInfo> {
    checkSecretManagerSecretId(secretId);
    return this.#info(await this.#mapped(secretId, options.signal));
  }

  async getValue(secretId: string, selector: VersionSelector, options: CallOptions = {}): Promise<string> {
    checkSecretManagerSecretId(secretId);
    const { signal } = options;
    const stage = checkStage(selector.stage);
    const versionId = 'versionId' in selector ? checkVersionId(selector.versionId) : undefined;
    if (stage === undefined && versionId === undefined) throw new RotatorError('INVALID_INPUT', 'a version selector needs a stage or a versionId');
    // What consumers read, read as they read it, in one call.
    if (versionId === undefined && stage === 'CURRENT') return this.#readCurrent(secretId, signal);
    const { info, where } = await this.#mapped(secretId, signal);
    const version = info.versions.find((v) => (versionId === undefined ? v.stages.includes(stage as Stage) : v.versionId === versionId));
    const location = version === undefined ? undefined : where.get(version.versionId);
    if (version === undefined || (stage !== undefined && !version.stages.includes(stage)) || location === undefined) {
      const what = versionId === undefined ? `no version labelled ${stage ?? ''}` : `no readable version ${versionId}${stage === undefined ? '' : ` labelled ${stage}`}`;
      throw new RotatorError('VERSION_NOT_FOUND', `secret ${secretId} has ${what} (no such version, a retired one, or a rotation that stored no value yet)`);
    }
    return (await this.#calls.access(location.companion ? companionId(secretId) : secretId, location.n, signal)).value;
  }

  async startRotation(secretId: string, token: string): Promise<void> {
    checkSecretManagerSecretId(secretId);
    checkToken(token);
    // A secret never rotated has no alias `current`: pin it now on the newest ENABLED version, so that CURRENT stays
    // put however this rotation ends (a promotion that dies after adding its version must not look like CURRENT).
    const read = await this.#calls.getSecret(secretId);
    const pin = bookkeepingOf(read).aliases[ALIAS.current] === undefined ? newestEnabled(await this.#calls.listVersions(secretId)) : undefined;
    const change: BookkeepingChange = (next) => {
      const pending = pendingMarker(next.annotations);
      if (pending?.token === token) return undefined;
      if (knownTokens(next.annotations).has(token)) {
        throw new RotatorError('VERSION_CONFLICT', `version ${token} of secret ${secretId} already exists and is not PENDING; start a rotation with a new token`);
      }
      if (pending !== undefined) {
        throw new RotatorError(
          'ROTATION_IN_PROGRESS',
          `a rotation of secret ${secretId} is already under way (version ${pending.token} is PENDING); resume it, or cancel it before starting another`,
          { retryable: true },
        );
      }
      // Checked before anything changes: a promotion that could not be written would strand a tested credential.
      if (!fitsAnnotations(next.annotations, rotationBytes(token, next.annotations))) {
        throw new RotatorError(
          'INVALID_INPUT',
          `secret ${secretId} has no room left in its annotations (Secret Manager allows 16 KiB) for a rotation's bookkeeping: ` +
            'retire old versions (run the purger) or remove annotations of your own',
        );
      }
      const userAliases = Object.keys(next.aliases).filter((a) => a !== ALIAS.current && a !== ALIAS.previous).length;
      if (userAliases + 2 > SECRET_MANAGER_MAX_ALIASES) {
        throw new RotatorError('INVALID_INPUT', `secret ${secretId} has ${userAliases} version aliases of its own; Rotator needs 2 of Secret Manager's ${SECRET_MANAGER_MAX_ALIASES}`);
      }
      if (next.aliases[ALIAS.current] === undefined && pin !== undefined) next.aliases[ALIAS.current] = pin.n;
      next.annotations[ANNOTATION.pending] = formatPending({ token, startedAt: this.#clock() });
      return next;
    };
    await compareAndSwap(this.#calls, secretId, change, { read });
  }

  async putPending(secretId: string, token: string, value: string, options: CallOptions = {}): Promise<void> {
    checkSecretManagerSecretId(secretId);
    checkToken(token);
    checkValue(value, secretId, SECRET_MANAGER_MAX_VALUE_BYTES, 'Google Secret Manager');
    const { signal } = options;
    const secret = await this.#calls.getSecret(secretId, signal);
    const { annotations } = bookkeepingOf(secret);
    const stored = storedValueOf(annotations, token);
    if (stored !== undefined) {
      await this.#expectSame(secretId, stored, token, value, signal);
      return;
    }
    const pending = pendingMarker(annotations);
    if (pending?.token !== token) {
      throw new RotatorError('NOT_PENDING', `version ${token} of secret ${secretId} is not the rotation under way; start a rotation before storing its value`);
    }
    const m = await this.#addToCompanion(secretId, value, signal);
    const seen: { raced?: Location } = {};
    try {
      await compareAndSwap(
        this.#calls,
        secretId,
        (next) => {
          const now = pendingMarker(next.annotations);
          seen.raced = storedValueOf(next.annotations, token);
          if (seen.raced !== undefined) return undefined; // another call stored this token's value first
          if (now?.token !== token) throw new RotatorError('NOT_PENDING', `version ${token} of secret ${secretId} stopped being PENDING while its value was stored`);
          next.annotations[ANNOTATION.pending] = formatPending({ ...now, companionVersion: m });
          return next;
        },
        { signal, read: secret },
      );
    } catch (error) {
      await this.#destroyQuietly(companionId(secretId), m, secretId);
      throw error;
    }
    if (seen.raced !== undefined) {
      await this.#destroyQuietly(companionId(secretId), m, secretId);
      await this.#expectSame(secretId, seen.raced, token, value, signal);
    }
  }

  async promote(secretId: string, token: string, options: CallOptions = {}): Promise<void> {
    checkSecretManagerSecretId(secretId);
    checkToken(token);
    const { signal } = options;
    const secret = await this.#calls.getSecret(secretId, signal);
    const { annotations, aliases } = bookkeepingOf(secret);
    const promoted = promotedNumber(annotations, token);
    if (promoted !== undefined) {
      if (aliases[ALIAS.current] !== promoted) {
        throw new RotatorError('NOT_PENDING', `version ${token} of secret ${secretId} was promoted before and is no longer CURRENT; only the rotation under way can be promoted`);
      }
      await this.#tidy(secretId, secret, signal); // done before, perhaps by a call that died before its cleanup
      return;
    }
    const pending = pendingMarker(annotations);
    if (pending?.token !== token) {
      if (storedValueOf(annotations, token) !== undefined) {
        throw new RotatorError('NOT_PENDING', `version ${token} of secret ${secretId} is not PENDING (its rotation was cancelled); only the rotation under way can be promoted`);
      }
      throw new RotatorError('VERSION_NOT_FOUND', `secret ${secretId} has no version ${token}, so it cannot become CURRENT`);
    }
    if (pending.companionVersion === undefined) {
      throw new RotatorError('VERSION_NOT_FOUND', `version ${token} of secret ${secretId} has no value yet, so it cannot become CURRENT`);
    }
    const { value } = await this.#calls.access(companionId(secretId), pending.companionVersion, signal);
    const n = (await this.#unrecordedCopy(secretId, secret, value, signal)) ?? (await this.#calls.addVersion(secretId, value, signal));
    // The one write that makes the promotion true for the port: both aliases, the token's record, no marker.
    const { secret: written } = await compareAndSwap(
      this.#calls,
      secretId,
      (next) => {
        if (promotedNumber(next.annotations, token) === n && next.aliases[ALIAS.current] === n) return undefined; // a racing call finished it
        if (pendingMarker(next.annotations)?.token !== token) {
          throw new RotatorError('NOT_PENDING', `version ${token} of secret ${secretId} stopped being PENDING while it was promoted`);
        }
        const old = next.aliases[ALIAS.current];
        next.aliases[ALIAS.current] = n;
        if (old !== undefined && old !== n) next.aliases[ALIAS.previous] = old;
        next.annotations[promotedKey(n)] = formatPromoted({ token, promotedAt: this.#clock() });
        Reflect.deleteProperty(next.annotations, ANNOTATION.pending);
        return next;
      },
      { signal, read: secret },
    );
    await this.#tidy(secretId, written, signal);
  }

  async retire(secretId: string, versionId: string): Promise<void> {
    checkSecretManagerSecretId(secretId);
    checkVersionId(versionId);
    const { info, where, retired } = await this.#mapped(secretId, undefined);
    const version = info.versions.find((v) => v.versionId === versionId);
    if (version === undefined) {
      if (!retired.has(versionId)) throw new RotatorError('VERSION_NOT_FOUND', `secret ${secretId} has no version ${versionId}`);
      // Retired already (destroyed or disabled, perhaps by hand): drop a record that still names it.
      const stale = retired.get(versionId);
      if (stale !== undefined) await this.#dropAnnotation(secretId, stale);
      return;
    }
    const live = version.stages.filter((s) => s === 'CURRENT' || s === 'PENDING');
    if (live.length > 0) throw new RotatorError('INVALID_INPUT', `version ${versionId} of secret ${secretId} is ${live.join(' and ')}; only superseded versions can be retired`);
    const location = where.get(versionId);
    if (location === undefined) throw new RotatorError('VERSION_NOT_FOUND', `secret ${secretId} has no stored value for version ${versionId}`);
    const { n } = location;
    if (location.companion) {
      await this.#dropAnnotation(secretId, cancelledKey(n));
      await this.#destroy(companionId(secretId), n, undefined, secretId);
      return;
    }
    // The alias moves away and the record goes first: Secret Manager keeps a version an alias names.
    await compareAndSwap(this.#calls, secretId, (next) => {
      if (next.aliases[ALIAS.current] === n) throw new RotatorError('INVALID_INPUT', `version ${versionId} of secret ${secretId} is CURRENT; only superseded versions can be retired`);
      const theirs = Object.entries(next.aliases).find(([alias, m]) => m === n && alias !== ALIAS.previous);
      if (theirs !== undefined) {
        throw new RotatorError('INVALID_INPUT', `version ${versionId} of secret ${secretId} is named by the alias ${theirs[0]}, which is not Rotator's: move or remove that alias first`);
      }
      if (next.aliases[ALIAS.previous] === n) Reflect.deleteProperty(next.aliases, ALIAS.previous);
      Reflect.deleteProperty(next.annotations, promotedKey(n));
      return next;
    });
    await this.#destroy(secretId, n, location.etag, secretId);
  }

  /** The annotation lease (annotation-lock.ts): `signal` aborts when it is lost, `renew()` renews it now. */
  async lockRotation(secretId: string): Promise<AnnotationLease> {
    checkSecretManagerSecretId(secretId);
    return takeAnnotationLock(secretId, { calls: this.#calls, ttlMs: this.#lockTtlMs, clock: this.#clock, logger: this.#logger });
  }

  async cancelRotation(secretId: string, versionId?: string): Promise<string | undefined> {
    checkSecretManagerSecretId(secretId);
    if (versionId !== undefined) checkVersionId(versionId);
    const outcome: { cancelled?: string } = {};
    await compareAndSwap(this.#calls, secretId, (next) => {
      delete outcome.cancelled;
      const pending = pendingMarker(next.annotations);
      if (pending === undefined || (versionId !== undefined && pending.token !== versionId)) return undefined;
      // The marker goes; a stored value stays in the companion, unlabelled, until the purger retires it (the target
      // may already accept its credential).
      Reflect.deleteProperty(next.annotations, ANNOTATION.pending);
      if (pending.companionVersion !== undefined) {
        next.annotations[cancelledKey(pending.companionVersion)] = formatCancelled({ token: pending.token, startedAt: pending.startedAt });
      }
      outcome.cancelled = pending.token;
      return next;
    });
    return outcome.cancelled;
  }

  /**
   * Records the last failed rotation as the `rotator-last-error` annotation, or removes it, by compare-and-swap on
   * the secret's etag (so it neither loses nor undoes a racing promotion's or lock's write). Room for it is kept by
   * startRotation; a secret whose annotations are full of other things gets INVALID_INPUT, and the engine a warning.
   */
  async recordRotationError(secretId: string, failure: RotationFailure | undefined, options: CallOptions = {}): Promise<void> {
    checkSecretManagerSecretId(secretId);
    const value = failure === undefined ? undefined : formatFailure(failure);
    await compareAndSwap(
      this.#calls,
      secretId,
      (next) => {
        if (value === undefined) {
          if (!Object.hasOwn(next.annotations, ANNOTATION.lastError)) return undefined;
          Reflect.deleteProperty(next.annotations, ANNOTATION.lastError);
          return next;
        }
        Reflect.deleteProperty(next.annotations, ANNOTATION.lastError);
        if (!fitsAnnotations(next.annotations, ANNOTATION.lastError.length + value.length)) {
          throw new RotatorError('INVALID_INPUT', `secret ${secretId} has no room left in its annotations (Secret Manager allows 16 KiB) for ${ANNOTATION.lastError}`);
        }
        next.annotations[ANNOTATION.lastError] = value;
        return next;
      },
      { signal: options.signal },
    );
  }

  /**
   * Sets the schedule (a rate) as the secret's own `rotation`, or removes it: one UpdateSecret of `rotation` with the
   * secret's etag (read again and retried if another writer got there first). Secret Manager has no cron or window
   * (INVALID_INPUT), publishes SECRET_ROTATE only to the secret's topics (so a rate needs one: INVALID_INPUT naming the
   * gcloud command), and accepts periods from an hour. The next rotation time is when the schedule says the secret is
   * due (rotation-schedule.ts rotationFor), so the service's trigger and `status` agree.
   */
  async updateSchedule(secretId: string, schedule: RotationSchedule | undefined, options: CallOptions = {}): Promise<void> {
    checkSecretManagerSecretId(secretId);
    const rate = schedule === undefined ? undefined : secretManagerSchedule(schedule);
    const { signal } = options;
    for (let attempt = 1; ; attempt++) {
      const [secret, versions] = await Promise.all([this.#calls.getSecret(secretId, signal), rate === undefined ? [] : this.#calls.listVersions(secretId, signal)]);
      if (rate !== undefined && (secret.topics ?? []).length === 0) {
        throw new RotatorError(
          'INVALID_INPUT',
          `secret ${secretId} has no Pub/Sub topic, and Secret Manager publishes its SECRET_ROTATE there: add one first (gcloud secrets update ${secretId} --add-topics=projects/<project>/topics/<topic>)`,
        );
      }
      const rotation = rate === undefined ? {} : rotationFor(rate, scheduleState(mapSecret(secretId, secret, versions).info, this.#clock()).lastRotatedAt, this.#clock());
      try {
        await this.#calls.updateSecret(secretId, { etag: secret.etag ?? '', rotation }, ['rotation'], signal);
        return;
      } catch (error) {
        if (causeStatus(error) !== 'FAILED_PRECONDITION' || attempt >= 3) throw error;
      }
    }
  }

  // ---- reading ----

  async #mapped(secretId: string, signal: AbortSignal | undefined): Promise<Mapped> {
    const [secret, versions] = await Promise.all([this.#calls.getSecret(secretId, signal), this.#calls.listVersions(secretId, signal)]);
    return mapSecret(secretId, secret, versions);
  }

  /** The description of a mapped secret, with a period the port cannot show reported as a warning. */
  #info(mapped: Mapped): SecretInfo {
    if (scheduleOf(mapped.secret) === 'invalid') {
      this.#logger?.warn('the secret\'s rotation period is not a whole number of hours from 1 hour to 1000 days, so it is shown without a schedule', { secretId: mapped.info.secretId });
    }
    return mapped.info;
  }

  /** CURRENT as consumers read it: the alias `current`, or `latest` on a secret that has no alias yet. */
  async #readCurrent(secretId: string, signal: AbortSignal | undefined): Promise<string> {
    try {
      return (await this.#calls.access(secretId, ALIAS.current, signal)).value;
    } catch (error) {
      if (causeStatus(error) !== 'NOT_FOUND') throw error;
    }
    // No alias, or no secret: tell them apart, and read what a secret without the alias serves.
    const aliases = bookkeepingOf(await this.#calls.getSecret(secretId, signal)).aliases;
    return (await this.#calls.access(secretId, aliases[ALIAS.current] ?? 'latest', signal)).value;
  }

  /** GetSecretVersion on what `#readCurrent` reads (metadata only): the version number is the stamp. */
  async currentVersionStamp(secretId: string, options: CallOptions = {}): Promise<string> {
    checkSecretManagerSecretId(secretId);
    const { signal } = options;
    try {
      return String((await this.#calls.getVersion(secretId, ALIAS.current, signal)).n);
    } catch (error) {
      if (causeStatus(error) !== 'NOT_FOUND') throw error;
    }
    const aliases = bookkeepingOf(await this.#calls.getSecret(secretId, signal)).aliases;
    return String((await this.#calls.getVersion(secretId, aliases[ALIAS.current] ?? 'latest', signal)).n);
  }

  /** The value of a version the store stored for `token`, compared with `value`: VERSION_CONFLICT when it differs. */
  async #expectSame(secretId: string, location: Location, token: string, value: string, signal: AbortSignal | undefined): Promise<void> {
    const stored = await this.#calls.access(location.companion ? companionId(secretId) : secretId, location.n, signal);
    if (stored.value !== value) {
      throw new RotatorError(
        'VERSION_CONFLICT',
        `version ${token} of secret ${secretId} already holds a different value; a version's value never changes, so a new value needs a new token`,
      );
    }
  }

  /**
   * The newest version of the main secret if it is a copy of `value` that nothing records: the add of a promotion
   * that died before its compare-and-swap. Adopting it, rather than adding the value again, keeps one version per value.
   */
  async #unrecordedCopy(secretId: string, secret: Secret, value: string, signal: AbortSignal | undefined): Promise<number | undefined> {
    let latest: { n: number; value: string };
    try {
      latest = await this.#calls.access(secretId, 'latest', signal);
    } catch (error) {
      if (error instanceof RotatorError && error.code === 'VERSION_NOT_FOUND') return undefined; // none, or not ENABLED
      throw error;
    }
    const { annotations, aliases } = bookkeepingOf(secret);
    const named = promotedVersions(annotations).has(latest.n) || Object.values(aliases).includes(latest.n);
    return !named && latest.value === value ? latest.n : undefined;
  }

  /** Every rotation-enabled secret of the project under the prefix, companions left out. */
  async #attached(signal?: AbortSignal): Promise<{ secretId: string; secret: Secret }[]> {
    const out: { secretId: string; secret: Secret }[] = [];
    for (const secret of await this.#calls.listSecrets(ENABLED_FILTER, signal)) {
      const secretId = this.#calls.secretIdOf(secret.name);
      // The filter is the service's; what it returns is checked again here.
      if (secretId === undefined || secret.labels?.[SM_LABEL.enabled] !== 'true' || secretId.endsWith(PENDING_SECRET_SUFFIX)) continue;
      if (secretId.length > MAX_MAIN_ID || (this.#prefix !== undefined && !secretId.startsWith(this.#prefix))) continue;
      out.push({ secretId, secret });
    }
    return out;
  }

  // ---- writing ----

  async #dropAnnotation(secretId: string, key: string): Promise<void> {
    await compareAndSwap(this.#calls, secretId, (next) => {
      if (!Object.hasOwn(next.annotations, key)) return undefined;
      Reflect.deleteProperty(next.annotations, key);
      return next;
    });
  }

  async #addToCompanion(secretId: string, value: string, signal: AbortSignal | undefined): Promise<number> {
    try {
      return await this.#calls.addVersion(companionId(secretId), value, signal);
    } catch (error) {
      if (error instanceof RotatorError && error.code === 'SECRET_NOT_FOUND') {
        throw new RotatorError(
          'SECRET_NOT_FOUND',
          `secret ${secretId} has no companion ${companionId(secretId)} to hold its PENDING values: attach the secret again (it creates the companion), ` +
            `or create it with the same replication (gcloud secrets create ${companionId(secretId)})`,
          { cause: error },
        );
      }
      throw error;
    }
  }

  /**
   * Destroys version n with its etag. A version already gone from ENABLED (destroyed, or disabled until its
   * version_destroy_ttl ends) is left as it is; an etag that changed under us is read again once.
   */
  async #destroy(resourceId: string, n: number, etag: string | undefined, secretId: string): Promise<void> {
    let tag = etag;
    for (let attempt = 0; attempt < 2; attempt++) {
      if (tag === undefined) {
        const version = await this.#calls.getVersion(resourceId, n);
        if (version.state !== 'ENABLED') return;
        tag = version.etag;
      }
      try {
        await this.#calls.destroyVersion(resourceId, n, tag);
        return;
      } catch (error) {
        if (causeStatus(error) !== 'FAILED_PRECONDITION') throw error;
        tag = undefined;
      }
    }
    throw new RotatorError('STORE_IO', `version ${n} of secret ${secretId} kept changing while Rotator destroyed it; retry later`, { retryable: true });
  }

  async #destroyQuietly(resourceId: string, n: number, secretId: string): Promise<void> {
    try {
      await this.#destroy(resourceId, n, undefined, secretId);
    } catch (error) {
      this.#logger?.warn('could not destroy a copy of a PENDING value that nothing names; the next promotion does', { secretId, error });
    }
  }

  /**
   * The cleanup after a promotion, best effort and idempotent: every ENABLED version of the companion that no
   * annotation names (the promoted value's copy, a copy a crashed putPending left) is destroyed. What fails is
   * logged and done by the next promotion.
   */
  async #tidy(secretId: string, secret: Secret, signal: AbortSignal | undefined): Promise<void> {
    const { annotations } = bookkeepingOf(secret);
    const named = new Set<number>(cancelledVersions(annotations).keys());
    const pending = pendingMarker(annotations)?.companionVersion;
    if (pending !== undefined) named.add(pending);
    try {
      for (const version of await this.#calls.listVersions(companionId(secretId), signal)) {
        if (version.state === 'ENABLED' && !named.has(version.n)) await this.#calls.destroyVersion(companionId(secretId), version.n, version.etag, signal);
      }
    } catch (error) {
      this.#logger?.warn('could not clean up the companion after a promotion; the next one does', { secretId, error });
    }
  }
}

// ---- the mapping, pure ----

function companionId(secretId: string): string {
  return `${secretId}${PENDING_SECRET_SUFFIX}`;
}

function newestEnabled(versions: readonly VersionFacts[]): VersionFacts | undefined {
  return versions.filter((v) => v.state === 'ENABLED').reduce<VersionFacts | undefined>((a, v) => (a === undefined || v.n > a.n ? v : a), undefined);
}

/** Every token the bookkeeping knows (promoted, cancelled, pending). */
function knownTokens(annotations: Annotations): Set<string> {
  const tokens = new Set<string>();
  for (const p of promotedVersions(annotations).values()) tokens.add(p.token);
  for (const c of cancelledVersions(annotations).values()) tokens.add(c.token);
  const pending = pendingMarker(annotations);
  if (pending !== undefined) tokens.add(pending.token);
  return tokens;
}

function promotedNumber(annotations: Annotations, token: string): number | undefined {
  for (const [n, p] of promotedVersions(annotations)) if (p.token === token) return n;
  return undefined;
}

/** Where the value stored for `token` is: the main secret once promoted, the companion before (PENDING or cancelled). */
function storedValueOf(annotations: Annotations, token: string): Location | undefined {
  const n = promotedNumber(annotations, token);
  if (n !== undefined) return { companion: false, n };
  for (const [m, c] of cancelledVersions(annotations)) if (c.token === token) return { companion: true, n: m };
  const pending = pendingMarker(annotations);
  if (pending?.token === token && pending.companionVersion !== undefined) return { companion: true, n: pending.companionVersion };
  return undefined;
}

/** The port's view of a secret and its versions: stages, ids, dates, oldest first, and where each value is. */
function mapSecret(secretId: string, secret: Secret, versions: readonly VersionFacts[]): Mapped {
  const { annotations, aliases } = bookkeepingOf(secret);
  const labels = secret.labels ?? {};
  const promoted = promotedVersions(annotations);
  const enabled = versions.filter((v) => v.state === 'ENABLED').sort((a, b) => a.n - b.n);
  const current = aliases[ALIAS.current] ?? enabled.at(-1)?.n;
  const previous = aliases[ALIAS.previous];
  const where = new Map<string, Location>();
  const retired = new Map<string, string | undefined>();
  for (const v of versions) {
    if (v.state === 'ENABLED') continue;
    const record = promoted.get(v.n);
    if (record === undefined) retired.set(String(v.n), undefined);
    else retired.set(record.token, promotedKey(v.n));
  }

  const list: VersionInfo[] = [];
  const add = (version: VersionInfo, location: Location): void => {
    if (where.has(version.versionId)) return; // a token recorded twice (annotations edited by hand): the first wins
    where.set(version.versionId, location);
    list.push(version);
  };
  // Oldest first: main versions in number order, and a cancelled rotation's value before the first main version
  // created after it started.
  const cancelled = [...cancelledVersions(annotations)].sort(([, a], [, b]) => a.startedAt.getTime() - b.startedAt.getTime());
  const addCancelledBefore = (time: number): void => {
    while (cancelled.length > 0 && (cancelled[0]?.[1].startedAt.getTime() ?? Infinity) < time) {
      const next = cancelled.shift();
      if (next !== undefined) add({ versionId: next[1].token, stages: [], createdAt: next[1].startedAt, hasValue: true }, { companion: true, n: next[0] });
    }
  };
  for (const v of enabled) {
    addCancelledBefore(v.createdAt.getTime());
    const record = promoted.get(v.n);
    const stages: Stage[] = v.n === current ? ['CURRENT'] : v.n === previous ? ['PREVIOUS'] : [];
    const promotedAt = record?.promotedAt ?? (v.n === current ? v.createdAt : undefined);
    add({ versionId: record?.token ?? String(v.n), stages, createdAt: v.createdAt, hasValue: true, ...(promotedAt === undefined ? {} : { promotedAt }) }, { companion: false, n: v.n, etag: v.etag });
  }
  addCancelledBefore(Infinity);
  const pending = pendingMarker(annotations);
  if (pending !== undefined && !where.has(pending.token)) {
    const stored = pending.companionVersion;
    list.push({ versionId: pending.token, stages: ['PENDING'], createdAt: pending.startedAt, hasValue: stored !== undefined });
    if (stored !== undefined) where.set(pending.token, { companion: true, n: stored });
  }
  const schedule = scheduleOf(secret);
  const lastError = lastFailure(annotations);
  const nextRotationAt = nextRotationOf(secret);
  return {
    info: {
      secretId,
      rotation: { ...settingsFromLabels(labels, secretId), ...(typeof schedule === 'object' ? { schedule } : {}) },
      tags: userLabels(labels),
      versions: list,
      ...(lastError === undefined ? {} : { lastError }),
      ...(nextRotationAt === undefined ? {} : { nextRotationAt }),
    },
    secret,
    where,
    retired,
  };
}

// ---- checks ----

/** A main secret id this store can rotate (room for the companion's suffix; not a companion), or INVALID_INPUT. */
export function checkSecretManagerSecretId(secretId: unknown): asserts secretId is string {
  checkSecretId(secretId, 'the secret id', SECRET_MANAGER_SECRET_ID);
  if ((secretId as string).endsWith(PENDING_SECRET_SUFFIX)) {
    throw new RotatorError('INVALID_INPUT', `the secret id is invalid: ids ending in "${PENDING_SECRET_SUFFIX}" are the companions that hold PENDING values`);
  }
}

function checkToken(token: unknown): asserts token is string {
  if (typeof token !== 'string' || !TOKEN.test(token)) {
    throw new RotatorError('INVALID_INPUT', 'a rotation token on Secret Manager must be 1-128 characters of A-Z a-z 0-9 _ and -, not all digits (a UUID fits)');
  }
}

function checkVersionId(versionId: unknown): string {
  if (typeof versionId !== 'string' || !(TOKEN.test(versionId) || VERSION_NUMBER.test(versionId))) {
    throw new RotatorError('INVALID_INPUT', 'a version id on Secret Manager is a rotation token or a Secret Manager version number');
  }
  return versionId;
}
