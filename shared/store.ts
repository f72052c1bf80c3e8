import { RotatorError } from './errors.js';

/**
 * The SecretStore port: what every store adapter (file, AWS Secrets Manager, Azure Key Vault and
 * Google Secret Manager ones) must guarantee to the engine, the purger and the CLI. It speaks in versions with stage
 * labels; each adapter maps its cloud onto that model and keeps the promises below, whatever its cloud does natively.
 * docs/architecture.md has the per-cloud mapping.
 *
 * The promises:
 * - **Version ids.** The rotation token is the port's version id of every version Rotator wrote: `startRotation`,
 *   `putPending`, `promote`, `retire`, `describe` and `getValue` all name such a version by its token, for its whole
 *   life (PENDING, CURRENT, PREVIOUS, superseded). A cloud that assigns its own ids (Key Vault: 32 hex; Secret
 *   Manager: 1, 2, 3...) records the token on the version (a tag, an annotation) and maps both ways. A version
 *   written by someone else (the first value, a value put by hand) is named by the cloud's own id.
 * - **Stages.** CURRENT, PENDING and PREVIOUS are each on at most one version. CURRENT is what consumers read.
 * - **PENDING is never where consumers read.** Where it lives is the adapter's business (AWS: the AWSPENDING label on
 *   its own version; Key Vault and Secret Manager: a companion secret no consumer reads), but no consumer reading the
 *   secret the way its cloud intends (AWSCURRENT, Key Vault's latest version, Secret Manager's `latest`) ever gets a
 *   PENDING value. Only a value promoted after testSecret is.
 * - **A rotation starts with a marker.** `startRotation` records the token as the rotation under way; the version is
 *   then described as PENDING with `hasValue: false` until `putPending` stores its value. The marker holds nothing
 *   and no consumer sees it (AWS: the value-less AWSPENDING version the service creates; Key Vault: a tag on the
 *   latest version, patched without making a version; Secret Manager: an annotation). It is what lets a rotation
 *   that dies before storing its value be found, resumed or cancelled.
 * - **Writes are idempotent and resumable.** `putPending` again with the same token and value is a no-op; another
 *   value is VERSION_CONFLICT. `promote` again after it succeeded is a no-op, and a promotion that died half way
 *   (a cloud where promotion is a write followed by bookkeeping) is recognised as its own on the next call and
 *   finished without writing the value a second time.
 * - **Values are immutable**: a value read by version id may be cached for the life of the process.
 * - **Limits belong to the store** (`maxValueBytes`): a larger value is refused with INVALID_INPUT before anything is
 *   stored, and the engine refuses a new value larger than the store's limit before it changes the target.
 * - **Locks** are the store's, declared by `rotationLock` (see RotationLockKind).
 * - **Metadata is in the description** (`SecretInfo.tags`), so nothing reaches around the port to read it.
 * - Cloud-only options (AWS's RotationToken for PutSecretValue) stay inside that cloud's adapter.
 * - Errors are RotatorErrors: SECRET_NOT_FOUND, VERSION_NOT_FOUND, VERSION_CONFLICT, NOT_PENDING, INVALID_INPUT,
 *   ROTATION_IN_PROGRESS (retryable), STORE_IO for the service's own failures.
 *
 * The store contract suite (test/support/store-contract.ts) checks each of these on every adapter, with ids valid on
 * every cloud.
 */
export const STAGES = ['CURRENT', 'PENDING', 'PREVIOUS'] as const;
export type Stage = (typeof STAGES)[number];

export const STRATEGIES = ['single-user', 'alternating-users', 'dual-password'] as const;
export type Strategy = (typeof STRATEGIES)[number];

export interface VersionInfo {
  /** The rotation token for a version Rotator wrote; the cloud's own id for any other (see the promises above). */
  versionId: string;
  stages: Stage[];
  /**
   * When the version was created (for a version Rotator wrote: when its rotation started or its value was stored).
   * Always set by a full description. Unset only in a description asked for with `dates: false` (see DescribeOptions),
   * for a version the store has not dated yet.
   */
  createdAt?: Date;
  /** False only for the marker of a rotation whose value is not stored yet (see `startRotation`). */
  hasValue: boolean;
  /** When the version last became CURRENT; unset for versions that never were. The purger's clock starts when
   * the next version is promoted. */
  promotedAt?: Date;
}

/**
 * When a secret is rotated, as AWS's RotationRules say it: a rate (every N hours or days) or a cron expression in
 * AWS's six-field form (`cron(0 16 1,15 * ? *)`, UTC), each with an optional window. Each store keeps it natively:
 * the file store stores it; AWS: RotationRules (ScheduleExpression, AutomaticallyAfterDays, Duration); Key Vault: the
 * `rotator-interval` tag (each version then expires, `exp`, an interval plus 30 days after it is written); Secret
 * Manager: `rotation.rotationPeriod`. A store that has no native form for one (a cron on Key Vault or Secret Manager)
 * refuses it with INVALID_INPUT. When a secret is next due is computed one way for all (shared/schedule.ts).
 */
export type RotationSchedule =
  | { kind: 'rate'; everyMs: number; windowMs?: number }
  | { kind: 'cron'; expression: string; windowMs?: number };

/**
 * The last rotation that failed, as the store records it (never a value, a message or an id beyond the secret's own):
 * the RotatorError code, when, and the step it failed in (or `lock`, `load` before any step). Recorded by every runner
 * (CLI, Lambda, Azure, Google) through the store, so `rotator status` shows the same everywhere; cleared by the next
 * rotation that succeeds.
 */
export interface RotationFailure {
  code: string;
  at: Date;
  step?: string;
}

export interface RotationSettings {
  enabled: boolean;
  /** Unset: no schedule (rotated only when asked, or by a scheduler outside the store). */
  schedule?: RotationSchedule;
  /** Unset means the deployment's default (ROTATION_STRATEGY, else single-user). */
  strategy?: Strategy;
  /** How long a superseded version stays before the purger retires it, in ms; unset: the deployment's default. */
  safeWindowMs?: number;
  /** How many of the newest superseded versions the purger keeps whatever their age; unset: the default. */
  keepSuperseded?: number;
}

export interface SecretInfo {
  secretId: string;
  rotation: RotationSettings;
  /**
   * The secret's own metadata as its store keeps it (AWS: the secret's tags; Key Vault: the tags of the CURRENT
   * version; Secret Manager: labels; file store: the tags set with `setTags`), keys as stored. An adapter's own
   * bookkeeping (tokens, PENDING markers, leases) is not shown here. Empty when there is none.
   */
  tags: Readonly<Record<string, string>>;
  /** The versions with a stage, and superseded ones the store has not retired yet, oldest first. */
  versions: VersionInfo[];
  /** The last failed rotation, until one succeeds (see RotationFailure); unset when none is recorded. */
  lastError?: RotationFailure;
  /**
   * The service's own next rotation date where it keeps one (AWS: NextRotationDate; Secret Manager:
   * nextRotationTime). Shown as the service's plan; when a secret is due is still computed by shared/schedule.ts.
   */
  nextRotationAt?: Date;
}

export type VersionSelector = { stage: Stage } | { versionId: string; stage?: Stage };

export interface Lease {
  release(): Promise<void>;
  /**
   * Aborted once the lease is lost while held (a cloud lease that could not be renewed in time and may now be someone
   * else's), with the reason as a RotatorError. The holder must then stop before its next store or target call:
   * the engine combines it with its caller's signal. Absent where a lease cannot be lost (a lock file, AWS).
   */
  readonly signal?: AbortSignal;
}

/**
 * How a store keeps two rotations of one secret from mutating its target at once. Each store declares its kind
 * (`rotationLock`), and the contract suite checks the matching behaviour:
 * - `exclusive`: `lockRotation` itself excludes. While a lease is held a second call is refused with
 *   ROTATION_IN_PROGRESS (retryable); a released lease can be taken again; a lease whose holder died without
 *   releasing it is freed within a bounded time (the file store: a lock file naming a process that is gone is taken
 *   over; a cloud lease expires unless renewed).
 * - `service-enforced`: `lockRotation` is a lease that excludes nothing, and the store says so. What excludes is the
 *   service: AWS Secrets Manager refuses RotateSecret while AWSPENDING is on a version other than AWSCURRENT, and
 *   invokes one rotation's steps one at a time. That is all it guarantees: a self-driven run (`engine.rotate` on an
 *   AWS store, resuming a rotation the service left PENDING) is not excluded from the service's own invocations of the same rotation; both
 *   run the same idempotent steps for the same token, so they converge, but they may overlap. Anything that must
 *   stay out of a rotation (the purger) therefore looks for a PENDING version itself instead of taking the lease.
 */
export type RotationLockKind = 'exclusive' | 'service-enforced';

/** What every call may carry: the caller's deadline, so a stuck call fails before the caller is killed. */
export interface CallOptions {
  signal?: AbortSignal;
}

export interface DescribeOptions extends CallOptions {
  /**
   * Whether the caller needs `createdAt` on every version (default true). The rotation steps' guards need only ids,
   * stages and `hasValue`, and say `false`. A store whose listing carries dates (file, Key Vault, Secret Manager)
   * sets them anyway; one whose service dates versions only through another request (AWS Secrets Manager) may skip
   * that request and leave `createdAt` unset on versions it has not dated before. It is a read mask, not a
   * different answer: ids, stages, `hasValue`, `promotedAt` where known, rotation settings and tags are the same.
   */
  dates?: boolean;
  /**
   * Whether the caller needs `hasValue` of a PENDING version (default true). createSecret says false when it runs
   * (the engine writes the value under its token and takes VERSION_CONFLICT for "already written"). A store that
   * learns it only through another request (AWS Secrets Manager: a GetSecretValue of the version) may then skip that
   * request, and its `hasValue: false` on a PENDING version means "not known to hold a value", not "a stub".
   */
  pendingValue?: boolean;
}

/** What an operator runs on this store, for messages that say how to fix something (never a value). */
export interface StoreHints {
  /** How to abandon the rotation left PENDING as `versionId`, so the next one starts over. */
  cancelRotation(secretId: string, versionId: string): string;
  /** How to turn rotation on for the secret. */
  enableRotation(secretId: string): string;
}

export interface SecretStore {
  /**
   * The largest value, in UTF-8 bytes, this store keeps (AWS Secrets Manager and the file store: 65,536; Key Vault:
   * 25 KB; Secret Manager: 64 KiB). `putPending` refuses a larger value with INVALID_INPUT and stores nothing; input
   * is read and refused against it before it is parsed or logged; the engine checks a new value with it before the
   * value reaches the store or the target.
   */
  readonly maxValueBytes: number;
  /** The ids of the secrets the purger sweeps: every secret of the file store; on a cloud store, the ones this
   * deployment rotates (AWS: rotation on, narrowed by the adapter's sweep filter). */
  listSecretIds(): Promise<string[]>;
  /** SECRET_NOT_FOUND when the secret does not exist. */
  describe(secretId: string, options?: DescribeOptions): Promise<SecretInfo>;
  /**
   * The value of a version, by stage or by id (and, with both, only if the version carries that stage).
   * VERSION_NOT_FOUND when there is no such version or it has no value yet.
   */
  getValue(secretId: string, selector: VersionSelector, options?: CallOptions): Promise<string>;
  /**
   * A stamp of the version consumers read now, from one metadata call that reads no value: it changes whenever CURRENT
   * moves, so a consumer holding a cached value can tell whether it is still CURRENT (the reader's version check).
   * Opaque: compare it only with another answer of this method for the same secret. AWS: the AWSCURRENT version id from
   * DescribeSecret; Secret Manager: the number behind the alias `current` (or `latest`) from GetSecretVersion. Absent
   * where no call is cheaper than reading the value (Key Vault answers for the latest version only with its value; the
   * file store reads one file either way), and `describe` is no substitute: it reads values and lists versions.
   */
  currentVersionStamp?(secretId: string, options?: CallOptions): Promise<string>;
  /**
   * Records `token` as the rotation under way: from now on it is described as a version with stages ['PENDING'] and
   * `hasValue: false`, and reading it is VERSION_NOT_FOUND, until `putPending` stores its value. A marker only: it
   * stores no value, makes no version consumers can see, and changes nothing they read. A no-op when the token is
   * already PENDING; VERSION_CONFLICT when the token names a version that is not PENDING.
   *
   * Self-driven rotations (file store, Key Vault, Secret Manager, the CLI) call it before createSecret. A store whose
   * service starts rotations itself (AWS: RotateSecret creates the value-less AWSPENDING version, then invokes the
   * function) only confirms a token the service already made PENDING, and refuses any other with INVALID_INPUT naming
   * how to start a rotation there.
   */
  startRotation(secretId: string, token: string): Promise<void>;
  /**
   * Stores `value` as the PENDING version `token`, where no consumer reads it. Idempotent: the same token with the
   * same value is a no-op; the same token with another value is VERSION_CONFLICT. A value over `maxValueBytes` is
   * INVALID_INPUT. The token is the rotation `startRotation` recorded (or the service started); a store may refuse
   * any other with NOT_PENDING.
   */
  putPending(secretId: string, token: string, value: string, options?: CallOptions): Promise<void>;
  /**
   * Makes the PENDING value `token` CURRENT, where consumers read it: the old CURRENT becomes PREVIOUS, PENDING
   * leaves the token. VERSION_NOT_FOUND when the token has no value. A no-op when `token` is already CURRENT, also
   * when an earlier call died after the write that made it what consumers read: that call's bookkeeping is finished
   * and the value is not written again.
   */
  promote(secretId: string, token: string, options?: CallOptions): Promise<void>;
  /**
   * Retires a superseded version (the purger's action): it keeps no stage, `describe` no longer lists it, and it
   * cannot be read by stage (file store: deleted; AWS: its labels removed, and the service deletes unlabelled
   * versions; Key Vault: disabled, as it cannot delete one version). Refuses CURRENT and PENDING with INVALID_INPUT.
   */
  retire(secretId: string, versionId: string): Promise<void>;
  /**
   * Takes the lock that keeps a second rotation of the secret from mutating its target at the same time.
   * ROTATION_IN_PROGRESS (retryable) when another holder has it. What it guarantees is `rotationLock`.
   */
  lockRotation(secretId: string): Promise<Lease>;
  /** What `lockRotation` guarantees (see RotationLockKind); the store contract checks the matching behaviour. */
  readonly rotationLock: RotationLockKind;
  /**
   * Abandons the rotation under way: PENDING leaves its version. A marker with no value is dropped; a version with a
   * value stays, unlabelled (until the purger retires it), because the target may already accept its credential.
   * With `versionId`, only when that version is the PENDING one (a rotation that has since been replaced is left
   * alone). Returns the abandoned version id, or undefined when nothing (or another version) was PENDING.
   */
  cancelRotation(secretId: string, versionId?: string): Promise<string | undefined>;
  /** The commands messages name for this store; without them they name the file store's and AWS's. */
  readonly hints?: StoreHints;
  /**
   * Records the last failed rotation (`failure`), or clears it (`undefined`), where `describe` shows it as
   * `lastError`: the file store in the secret's record; AWS: the tag `rotator:last-error`; Key Vault: a tag on the
   * latest version (patched, no new version); Secret Manager: the annotation `rotator-last-error`. Metadata only: it
   * changes nothing consumers read and never a stage. Best effort for callers: a failure to record is logged, never
   * raised over the rotation's own outcome.
   */
  recordRotationError?(secretId: string, failure: RotationFailure | undefined, options?: CallOptions): Promise<void>;
  /**
   * The descriptions of `listSecretIds`' secrets in as few calls as the service allows (AWS: ListSecrets pages, which
   * carry stages, rotation rules and tags), for `status` over a fleet. Versions may lack `createdAt` as with
   * `dates: false`, except the PENDING one. Absent: callers describe each id.
   */
  describeAll?(options?: CallOptions): Promise<SecretInfo[]>;
}

/** The PENDING version of a rotation under way: PENDING on a version that is not also CURRENT. */
export function pendingRotation(info: SecretInfo): VersionInfo | undefined {
  return info.versions.find((v) => v.stages.includes('PENDING') && !v.stages.includes('CURRENT'));
}

export function versionWithStage(info: SecretInfo, stage: Stage): VersionInfo | undefined {
  return info.versions.find((v) => v.stages.includes(stage));
}

/** An adapter's check of a selector's stage: one the port knows, or none. INVALID_INPUT otherwise. */
export function checkStage(stage: unknown): Stage | undefined {
  if (stage === undefined) return undefined;
  if (typeof stage === 'string' && (STAGES as readonly string[]).includes(stage)) return stage as Stage;
  throw new RotatorError('INVALID_INPUT', `the stage must be one of ${STAGES.join(', ')}`);
}

/** An adapter's check of a value to store: a string within its limit (`where` names the store in the message). */
export function checkValue(value: unknown, secretId: string, maxBytes: number, where: string): asserts value is string {
  if (typeof value !== 'string') throw new RotatorError('INVALID_INPUT', `the value for ${secretId} must be a string`);
  const bytes = Buffer.byteLength(value, 'utf8');
  if (bytes > maxBytes) throw new RotatorError('INVALID_INPUT', `the value for ${secretId} is ${bytes} bytes; ${where}'s limit is ${maxBytes} bytes`);
}
