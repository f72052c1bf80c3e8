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
}

export function versionWithStage(info: SecretInfo, stage: Stage): VersionInfo | undefined {
  return info.versions.find((v) => v.stages.includes(stage));
}
