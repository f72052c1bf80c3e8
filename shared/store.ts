/**
 * The SecretStore port: the model AWS Secrets Manager has natively, which every adapter maps its cloud onto
 * (see DESIGN.md). Each version has an id (the rotation token), a value, a creation time and stage labels;
 * each stage is on at most one version. Version values are immutable.
 */
export const STAGES = ['CURRENT', 'PENDING', 'PREVIOUS'] as const;
export type Stage = (typeof STAGES)[number];

export const STRATEGIES = ['single-user', 'alternating-users', 'dual-password'] as const;
export type Strategy = (typeof STRATEGIES)[number];

export interface VersionInfo {
  versionId: string;
  stages: Stage[];
  /** Unset only when `describe` was told not to fetch dates (`dates: false`) and the store did not know it. */
  createdAt?: Date;
  /** False for the PENDING stub a rotation starts with, before createSecret stores a value. */
  hasValue: boolean;
  /** When the version last became CURRENT; unset for versions that never were. The purger's clock starts when
   * the next version is promoted. */
  promotedAt?: Date;
}

export interface RotationSettings {
  enabled: boolean;
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
  versions: VersionInfo[];
}

export type VersionSelector = { stage: Stage } | { versionId: string; stage?: Stage };

export interface Lease {
  release(): Promise<void>;
}

/**
 * How a store keeps two rotations of one secret from mutating its target at once:
 * - `exclusive`: `lockRotation` itself excludes: a second call is refused (ROTATION_IN_PROGRESS) while a lease is
 *   held (the file store's lock files).
 * - `service-enforced`: `lockRotation` is a no-op lease, because the service refuses to start a second rotation
 *   while a PENDING version other than CURRENT exists (AWS: RotateSecret while AWSPENDING is on another version), and
 *   runs one rotation's steps one at a time. Anything that must stay out of a rotation (the purger) therefore looks
 *   for a PENDING version itself instead of relying on the lease.
 */
export type RotationLockKind = 'exclusive' | 'service-enforced';

/** What every call may carry: the caller's deadline, so a stuck call fails before the caller is killed. */
export interface CallOptions {
  signal?: AbortSignal;
}

export interface DescribeOptions extends CallOptions {
  /** Whether versions need their creation dates (default true). The rotation steps do not, and on AWS dates cost a
   * ListSecretVersionIds call. */
  dates?: boolean;
}

export interface PutPendingOptions extends CallOptions {
  /** AWS: the RotationToken the service gives each rotation step, which PutSecretValue takes as proof that the call
   * belongs to that rotation (needed when the function works through an assumed role). Sensitive. */
  rotationToken?: string;
}

export interface SecretStore {
  /**
   * The largest value, in UTF-8 bytes, this store keeps (AWS Secrets Manager: 65,536, its SecretString limit).
   * Input is read and refused against it before it is parsed or logged, and the engine checks a new value with it.
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
   * Marks `token` PENDING with no value, as AWS's RotateSecret does before it calls the function; a no-op when
   * the token is already PENDING. Self-driven rotations call it; on AWS the service does it.
   */
  startRotation(secretId: string, token: string): Promise<void>;
  /**
   * Stores `value` as the PENDING version `token`. Idempotent: the same token with the same value is a no-op;
   * the same token with another value is VERSION_CONFLICT.
   */
  putPending(secretId: string, token: string, value: string, options?: PutPendingOptions): Promise<void>;
  /** Moves CURRENT to `token` (the old CURRENT becomes PREVIOUS; PENDING leaves the token). */
  promote(secretId: string, token: string, options?: CallOptions): Promise<void>;
  /** Retires a superseded version (the purger's action); refuses CURRENT and PENDING. */
  retire(secretId: string, versionId: string): Promise<void>;
  /**
   * Takes the lock that keeps a second rotation of the secret from mutating its target at the same time.
   * ROTATION_IN_PROGRESS (retryable) when another holder has it.
   */
  lockRotation(secretId: string): Promise<Lease>;
  /** What `lockRotation` guarantees (see RotationLockKind); the store contract checks the matching behaviour. */
  readonly rotationLock: RotationLockKind;
  /**
   * Abandons the rotation under way: PENDING leaves its version. A value-less stub is dropped; a version with a
   * value stays, unlabelled (until the purger retires it), because the target may already accept its credential.
   * With `versionId`, only when that version is the PENDING one (a rotation that has since been replaced is left
   * alone). Returns the abandoned version id, or undefined when nothing (or another version) was PENDING.
   */
  cancelRotation(secretId: string, versionId?: string): Promise<string | undefined>;
}

/** The PENDING version of a rotation under way: PENDING on a version that is not also CURRENT. */
export function pendingRotation(info: SecretInfo): VersionInfo | undefined {
  return info.versions.find((v) => v.stages.includes('PENDING') && !v.stages.includes('CURRENT'));
}

export function versionWithStage(info: SecretInfo, stage: Stage): VersionInfo | undefined {
  return info.versions.find((v) => v.stages.includes(stage));
}
