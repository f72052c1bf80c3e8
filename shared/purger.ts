import { RotatorError, toRotatorError } from './errors.js';
import type { Logger } from './logger.js';
import { masterFields, storedMaster, type MasterResolver, type RevokeOutcome, type Rotator } from './rotator.js';
import { parseSecretJson, type SecretObject } from './secret.js';
import { chooseStrategy } from './strategy.js';
import { pendingRotation, versionWithStage, type Lease, type SecretInfo, type SecretStore, type Strategy, type VersionInfo } from './store.js';

/**
 * The retention purger. A version is retired once the version that replaced it has been CURRENT for longer than
 * the safe window: consumers that cached the old value have refreshed by then. CURRENT and PENDING are never
 * retired. Before the store forgets a version, its rotator makes the target refuse the credential if it still
 * accepts it (alternating users, dual passwords, API keys); a version whose revocation fails stays in the store, so
 * the next run can try again. A rotation and a purge of the same secret never interleave: each secret is purged
 * under its rotation lock, and a secret whose rotation is under way (PENDING on a version other than CURRENT, whether
 * its lock is free or not: a failed rotation left for a retry, or a store whose lock is service-enforced) is skipped
 * with that reason. One failing secret does not stop the others.
 */
export interface RetentionPolicy {
  safeWindowMs: number;
  /** The newest superseded versions kept whatever their age. */
  keepSuperseded: number;
}

export const DEFAULT_RETENTION: RetentionPolicy = { safeWindowMs: 30 * 86_400_000, keepSuperseded: 0 };

export interface VersionVerdict {
  version: VersionInfo;
  /** When the version stopped being CURRENT (its successor's promotion); unset when nothing replaced it. */
  supersededAt: Date | undefined;
  retire: boolean;
  reason: string;
}

/** The retention policy of one secret: its own settings, else the deployment's defaults. */
export function retentionFor(info: SecretInfo, defaults: RetentionPolicy): RetentionPolicy {
  return {
    safeWindowMs: info.rotation.safeWindowMs ?? defaults.safeWindowMs,
    keepSuperseded: info.rotation.keepSuperseded ?? defaults.keepSuperseded,
  };
}

/** Which versions of a secret are past the window (pure; `now` from the caller's clock). */
export function planRetention(info: SecretInfo, policy: RetentionPolicy, now: Date): VersionVerdict[] {
  // Promotions in order (creation breaks ties): each promoted version is superseded by the next one promoted.
  // A version whose creation date is unknown is never taken as superseded (the safe side): it is kept.
  const time = (date: Date | undefined): number => date?.getTime() ?? 0;
  const promoted = info.versions
    .filter((v) => v.promotedAt !== undefined)
    .sort((a, b) => time(a.promotedAt) - time(b.promotedAt) || time(a.createdAt) - time(b.createdAt));
  const successorOf = (version: VersionInfo): VersionInfo | undefined => {
    const index = promoted.indexOf(version);
    if (index >= 0) return promoted[index + 1];
    const created = version.createdAt;
    return created === undefined ? undefined : promoted.find((w) => time(w.promotedAt) > created.getTime());
  };
  const verdicts = info.versions.map((version): VersionVerdict => {
    if (version.stages.includes('CURRENT')) return { version, supersededAt: undefined, retire: false, reason: 'CURRENT' };
    if (version.stages.includes('PENDING')) return { version, supersededAt: undefined, retire: false, reason: 'PENDING' };
    const supersededAt = successorOf(version)?.promotedAt;
    if (supersededAt === undefined) return { version, supersededAt, retire: false, reason: 'not superseded' };
    const age = now.getTime() - supersededAt.getTime();
    return age >= policy.safeWindowMs
      ? { version, supersededAt, retire: true, reason: 'past the safe window' }
      : { version, supersededAt, retire: false, reason: 'inside the safe window' };
  });
  // The newest superseded versions stay, however old.
  const superseded = verdicts.filter((v) => v.supersededAt !== undefined).sort((a, b) => (b.supersededAt?.getTime() ?? 0) - (a.supersededAt?.getTime() ?? 0));
  for (const kept of superseded.slice(0, policy.keepSuperseded)) {
    if (kept.retire) Object.assign(kept, { retire: false, reason: `one of the ${policy.keepSuperseded} newest superseded versions kept` });
  }
  return verdicts;
}

export type RevocationResult = RevokeOutcome | 'no-revoke' | 'would-revoke' | 'failed';

export interface PurgeAction {
  versionId: string;
  supersededAt: string;
  /** What the target was told: revoked / not-needed; no-revoke when the engine keeps nothing alive or has no rotator. */
  revocation: RevocationResult;
  retired: boolean;
  error?: { code: string; message: string; retryable: boolean };
}

export interface SecretPurge {
  secretId: string;
  policy: RetentionPolicy;
  ok: boolean;
  actions: PurgeAction[];
  /** Versions kept, with why (inside the window, CURRENT, ...). */
  kept: Array<{ versionId: string; reason: string }>;
  /** Why nothing was looked at: a rotation of the secret is under way. Not a failure (`ok` stays true). */
  skipped?: string;
  error?: { code: string; message: string; retryable: boolean };
}

export interface PurgeReport {
  dryRun: boolean;
  at: string;
  secrets: SecretPurge[];
  failed: number;
}

export interface PurgerOptions {
  store: SecretStore;
  rotators: readonly Rotator[];
  logger: Logger;
  defaultPolicy?: RetentionPolicy;
  defaultStrategy?: Strategy;
  clock?: () => Date;
  /** As for the engine: completes master secrets (RDS-managed ones on AWS). */
  resolveMaster?: MasterResolver;
}

/** Why a secret is left alone: the version its rotation made PENDING (not CURRENT), or undefined. */
function rotationUnderWay(info: SecretInfo): string | undefined {
  const pending = pendingRotation(info);
  if (pending === undefined) return undefined;
  const since = pending.createdAt === undefined ? '' : ` since ${pending.createdAt.toISOString()}`;
  return `a rotation is under way (version ${pending.versionId} is PENDING${since}); purged once it finishes or is cancelled`;
}

function errorFields(error: unknown): { code: string; message: string; retryable: boolean } {
  const e = toRotatorError(error);
  return { code: e.code, message: e.message, retryable: e.retryable };
}

export class Purger {
  readonly #store: SecretStore;
  readonly #rotators: readonly Rotator[];
  readonly #logger: Logger;
  readonly #defaultPolicy: RetentionPolicy;
  readonly #defaultStrategy: Strategy;
  readonly #clock: () => Date;
  readonly #resolveMaster: MasterResolver;

  constructor(options: PurgerOptions) {
    this.#store = options.store;
    this.#rotators = options.rotators;
    this.#logger = options.logger;
    this.#defaultPolicy = options.defaultPolicy ?? DEFAULT_RETENTION;
    this.#defaultStrategy = options.defaultStrategy ?? 'single-user';
    this.#clock = options.clock ?? (() => new Date());
    this.#resolveMaster = options.resolveMaster ?? storedMaster;
  }

  /** Purges the given secrets, or every secret in the store; never throws for one secret's failure. */
  async purge(secretIds: readonly string[] | undefined, options: { dryRun?: boolean } = {}): Promise<PurgeReport> {
    const dryRun = options.dryRun === true;
    const now = this.#clock();
    const ids = secretIds ?? (await this.#store.listSecretIds());
    const secrets: SecretPurge[] = [];
    for (const secretId of ids) secrets.push(await this.#purgeOne(secretId, now, dryRun));
    return { dryRun, at: now.toISOString(), secrets, failed: secrets.filter((s) => !s.ok).length };
  }

  async #purgeOne(secretId: string, now: Date, dryRun: boolean): Promise<SecretPurge> {
    const logger = this.#logger.child({ secretId });
    let policy = this.#defaultPolicy;
    try {
      const lease = await this.#store.lockRotation(secretId);
      let result: SecretPurge;
      try {
        const info = await this.#store.describe(secretId);
        policy = retentionFor(info, this.#defaultPolicy);
        result = await this.#purgeLocked(info, policy, now, dryRun, logger, lease.signal);
      } catch (error) {
        await this.#release(lease, logger);
        throw error;
      }
      await this.#release(lease, logger);
      return result;
    } catch (error) {
      logger.warn('purge failed', { error });
      return { secretId, policy, ok: false, actions: [], kept: [], error: errorFields(error) };
    }
  }

  async #purgeLocked(info: SecretInfo, policy: RetentionPolicy, now: Date, dryRun: boolean, logger: Logger, lost: AbortSignal | undefined): Promise<SecretPurge> {
    const { secretId } = info;
    const underWay = rotationUnderWay(info);
    if (underWay !== undefined) {
      logger.info('skipping the secret: a rotation is under way', { reason: underWay });
      return { secretId, policy, ok: true, actions: [], kept: [], skipped: underWay };
    }
    const verdicts = planRetention(info, policy, now);
    const kept = verdicts.filter((v) => !v.retire).map((v) => ({ versionId: v.version.versionId, reason: v.reason }));
    const actions: PurgeAction[] = [];
    const retiring = verdicts.filter((v) => v.retire);
    let skipped: string | undefined;
    let lockLost: SecretPurge['error'];
    for (const [index, verdict] of retiring.entries()) {
      if (lost?.aborted === true) {
        // The lock may be another process's now (a rotation): revoke and retire nothing more.
        lockLost = errorFields(lost.reason instanceof RotatorError ? lost.reason : new RotatorError('ROTATION_IN_PROGRESS', `the rotation lock of secret ${secretId} was lost`, { retryable: true }));
        logger.warn('stopping: the rotation lock was lost', { error: lockLost });
        kept.push(...retiring.slice(index).map((v) => ({ versionId: v.version.versionId, reason: 'the rotation lock was lost during the purge' })));
        break;
      }
      if (this.#store.rotationLock === 'service-enforced') {
        // The lease excludes nothing here: the service may have started a rotation since the description. Look again
        // before each revocation, so a rotation that started is left alone from then on.
        skipped = rotationUnderWay(await this.#store.describe(secretId, { dates: false }));
        if (skipped !== undefined) {
          logger.info('stopping: a rotation started during the purge', { reason: skipped });
          kept.push(...retiring.slice(index).map((v) => ({ versionId: v.version.versionId, reason: 'a rotation started during the purge' })));
          break;
        }
      }
      actions.push(await this.#retire(info, verdict, dryRun, logger));
    }
    const failure = lockLost ?? actions.find((a) => a.error !== undefined)?.error;
    return { secretId, policy, ok: failure === undefined, actions, kept, ...(skipped === undefined ? {} : { skipped }), ...(failure === undefined ? {} : { error: failure }) };
  }

  /** The purge has its outcome; a lock that will not go away is a warning (the next run takes it over). */
  async #release(lease: Lease, logger: Logger): Promise<void> {
    try {
      await lease.release();
    } catch (error) {
      logger.warn('could not release the rotation lock; the next run takes it over once this process has ended', { error });
    }
  }

  async #retire(info: SecretInfo, verdict: VersionVerdict, dryRun: boolean, logger: Logger): Promise<PurgeAction> {
    const { versionId } = verdict.version;
    const base = { versionId, supersededAt: (verdict.supersededAt ?? new Date(0)).toISOString() };
    let revocation: RevocationResult = 'no-revoke';
    try {
      const target = verdict.version.hasValue ? await this.#revocationTarget(info, versionId) : undefined;
      if (target !== undefined) {
        revocation = dryRun ? 'would-revoke' : await target.revoke();
      }
      if (!dryRun) await this.#store.retire(info.secretId, versionId);
      logger.info(dryRun ? 'would retire the version' : 'retired the version', { versionId, revocation });
      return { ...base, revocation, retired: !dryRun };
    } catch (error) {
      // The version stays in the store: without it the next run could not revoke the credential.
      logger.warn('could not retire the version', { versionId, error });
      return { ...base, revocation: 'failed', retired: false, error: errorFields(error) };
    }
  }

  /** How to revoke the retired version's credential, or undefined when its engine keeps nothing alive. */
  async #revocationTarget(info: SecretInfo, versionId: string): Promise<{ revoke: () => Promise<RevokeOutcome> } | undefined> {
    const read = async (selector: { versionId: string } | { stage: 'CURRENT' | 'PENDING' }, what: string, secretId = info.secretId): Promise<SecretObject> => {
      const raw = await this.#store.getValue(secretId, selector);
      this.#logger.redactor.addSecretValue(raw);
      return parseSecretJson(raw, what);
    };
    const retired = await read({ versionId }, `version ${versionId} of secret ${info.secretId}`).catch((error: unknown) => {
      // A value that is not a JSON secret (a plain config value) has no target to revoke at.
      if (error instanceof RotatorError && error.code === 'INVALID_SECRET') return undefined;
      throw error;
    });
    const engine = retired?.engine;
    const rotator = typeof engine === 'string' ? this.#rotators.find((r) => r.engines.includes(engine)) : undefined;
    if (retired === undefined || rotator?.revoke === undefined) return undefined;
    const revoke = rotator.revoke.bind(rotator);
    const current = await read({ stage: 'CURRENT' }, `the CURRENT value of secret ${info.secretId}`);
    // The strategy the engine rotates with (a MultiUser-template value counts, as there).
    const { strategy } = chooseStrategy(info.rotation, current, rotator, this.#defaultStrategy);
    const pendingVersion = versionWithStage(info, 'PENDING');
    const pending = pendingVersion?.hasValue === true ? await read({ stage: 'PENDING' }, `the PENDING value of secret ${info.secretId}`) : undefined;
    const masterId = rotator.masterSecretId(current, strategy);
    const ctx = { logger: this.#logger.child({ secretId: info.secretId, versionId }) };
    const master = masterId === undefined ? undefined : await this.#resolveMaster(masterId, await read({ stage: 'CURRENT' }, `master secret ${masterId}`, masterId), ctx);
    return {
      revoke: () =>
        revoke(
          {
            strategy,
            retired,
            current,
            ...(pending === undefined ? {} : { pending }),
            ...masterFields(master),
          },
          ctx,
        ),
    };
  }
}
