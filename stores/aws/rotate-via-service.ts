import { randomUUID } from 'node:crypto';
import { RotateSecretCommand, type SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { formatDuration } from '../../shared/duration.js';
import { RotatorError } from '../../shared/errors.js';
import { checkSecretId } from '../../shared/secret-id.js';
import { pendingRotation, versionWithStage, type SecretInfo, type SecretStore } from '../../shared/store.js';
import { mapAwsError } from './errors.js';

/**
 * `rotator rotate <id>` on AWS: the service runs rotations, so the CLI asks it to (RotateSecret, "rotate
 * immediately") and follows what it can see until AWSCURRENT moves to the new version or the rotation fails.
 *
 * What is observable from outside: RotateSecret answers at once with the new version's id (its ClientRequestToken,
 * ours), the version is AWSPENDING without a value until the function's createSecret stores one, and AWSCURRENT moves
 * onto it when finishSecret ends. setSecret and testSecret change nothing in Secrets Manager, so they cannot be seen
 * one by one: the progress says so instead of inventing steps. A failure shows as the `lastError` the function
 * records through the store (AWS: the `rotator:last-error` tag), dated after this rotation started; without one the
 * follower stops at its deadline and says the rotation may still be running.
 */

/** What the follower saw, in order; `ms` counts from the RotateSecret call. */
export type ServiceRotationPhase =
  /** RotateSecret accepted: the version is AWSPENDING, the service invokes the rotation function. */
  | 'requested'
  /** createSecret stored the new value (AWSPENDING has a value); setSecret, testSecret and finishSecret follow. */
  | 'value-stored'
  /** finishSecret moved AWSCURRENT onto the new version. */
  | 'current-moved';

export interface ServiceRotationProgress {
  phase: ServiceRotationPhase;
  /** The new version (the ClientRequestToken sent with RotateSecret). */
  versionId: string;
  ms: number;
  /** One line for a person: what the phase means, and what cannot be seen. */
  note: string;
}

export interface ServiceRotationReport {
  secretId: string;
  /** The version that is AWSCURRENT now. */
  versionId: string;
  /** The version that was AWSCURRENT before (AWSPREVIOUS now). */
  previousVersionId: string | undefined;
  phases: ServiceRotationProgress[];
  totalMs: number;
}

export interface RotateViaServiceOptions {
  /** RotateSecret is sent with it: a cloud-only call, so it stays in this adapter's directory. */
  client: SecretsManagerClient;
  /** The AWS store on the same client: every look at the secret goes through the port (stages, lastError). */
  store: SecretStore;
  secretId: string;
  signal?: AbortSignal;
  onProgress?: (progress: ServiceRotationProgress) => void;
  /** How long to follow before saying "still running" (default 5 minutes, above a Lambda's 4 steps at their usual pace). */
  timeoutMs?: number;
  /** The first wait between looks, doubled up to `maxPollMs` (defaults 1 s and 10 s: DescribeSecret is cheap but rate-limited). */
  pollMs?: number;
  maxPollMs?: number;
  /** Defaults: a random UUID (32-64 characters, as ClientRequestToken needs); Date.now. */
  newToken?: () => string;
  clock?: () => number;
}

const DEFAULT_TIMEOUT_MS = 5 * 60_000;
const DEFAULT_POLL_MS = 1_000;
const DEFAULT_MAX_POLL_MS = 10_000;
const MAX_TIMEOUT_MS = 60 * 60_000;

export async function rotateViaService(options: RotateViaServiceOptions): Promise<ServiceRotationReport> {
  const { client, store, signal } = options;
  const secretId = checkSecretId(options.secretId);
  const timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  if (!Number.isInteger(timeoutMs) || timeoutMs < 1 || timeoutMs > MAX_TIMEOUT_MS) {
    throw new RotatorError('INVALID_INPUT', `the time to follow a rotation must be 1 ms to ${formatDuration(MAX_TIMEOUT_MS)}`);
  }
  const clock = options.clock ?? Date.now;
  const look = (): Promise<SecretInfo> => store.describe(secretId, { dates: false, ...(signal === undefined ? {} : { signal }) });
  const before = await look();
  refuseUnstartable(before, store);
  const previousVersionId = versionWithStage(before, 'CURRENT')?.versionId;

  const token = (options.newToken ?? randomUUID)();
  const started = clock();
  // Whatever the function records from now on is this rotation's (a recorded time has 1-second resolution at worst).
  const since = Math.floor(started / 1000) * 1000;
  try {
    await client.send(new RotateSecretCommand({ SecretId: secretId, ClientRequestToken: token, RotateImmediately: true }), { abortSignal: signal });
  } catch (error) {
    throw mapAwsError(error, { operation: 'RotateSecret', secretId, signal });
  }
  const phases: ServiceRotationProgress[] = [];
  const seen = (phase: ServiceRotationPhase, note: string): void => {
    if (phases.some((p) => p.phase === phase)) return;
    const progress = { phase, versionId: token, ms: clock() - started, note };
    phases.push(progress);
    options.onProgress?.(progress);
  };
  seen('requested', `AWSPENDING is on version ${token}; the service invokes the rotation function for each step`);

  let wait = options.pollMs ?? DEFAULT_POLL_MS;
  const maxWait = Math.max(wait, options.maxPollMs ?? DEFAULT_MAX_POLL_MS);
  for (;;) {
    const left = started + timeoutMs - clock();
    if (left <= 0) throw stillRunning(secretId, token, timeoutMs);
    await sleep(Math.min(wait, left), signal);
    wait = Math.min(maxWait, wait * 2);
    const info = await look();
    if (versionWithStage(info, 'CURRENT')?.versionId === token) {
      if (!phases.some((p) => p.phase === 'value-stored')) seen('value-stored', 'createSecret stored the new value');
      seen('current-moved', 'setSecret and testSecret ran (not visible one by one on AWS); finishSecret moved AWSCURRENT');
      return { secretId, versionId: token, previousVersionId, phases, totalMs: clock() - started };
    }
    const failure = info.lastError;
    if (failure !== undefined && failure.at.getTime() >= since) {
      throw new RotatorError(
        'TARGET_ERROR',
        `the rotation of ${secretId} failed: the rotation function recorded ${failure.code}${failure.step === undefined ? '' : ` in ${failure.step}`} at ` +
          `${failure.at.toISOString()}; AWSCURRENT did not move. See the rotation function's CloudWatch logs; the service retries the rotation ` +
          `while version ${token} stays AWSPENDING (to abandon it: ${store.hints?.cancelRotation(secretId, token) ?? 'remove AWSPENDING from it'})`,
      );
    }
    const pending = pendingRotation(info);
    if (pending?.versionId !== token) {
      throw new RotatorError(
        'ROTATION_IN_PROGRESS',
        `the rotation of ${secretId} started as version ${token} is no longer AWSPENDING and did not become AWSCURRENT: someone cancelled or replaced it; ` +
          '`rotator secrets describe` shows the secret as it is now',
        { retryable: true },
      );
    }
    if (pending.hasValue) seen('value-stored', 'createSecret stored the new value; setSecret, testSecret and finishSecret run next (not visible one by one on AWS)');
  }
}

/** Refusals before RotateSecret, each naming what to do; RotateSecret itself would turn a disabled rotation back on. */
function refuseUnstartable(info: SecretInfo, store: SecretStore): void {
  const { secretId } = info;
  if (!info.rotation.enabled) {
    throw new RotatorError(
      'ROTATION_DISABLED',
      `rotation of ${secretId} is off in AWS Secrets Manager; turn it on first (${store.hints?.enableRotation(secretId) ?? 'aws secretsmanager rotate-secret'})`,
    );
  }
  const pending = pendingRotation(info);
  if (pending !== undefined) {
    throw new RotatorError(
      'ROTATION_IN_PROGRESS',
      `a rotation of ${secretId} is already under way (version ${pending.versionId} is AWSPENDING): the service retries it; wait for it, or abandon it ` +
        `(${store.hints?.cancelRotation(secretId, pending.versionId) ?? 'remove AWSPENDING from it'}) and run rotate again`,
      { retryable: true },
    );
  }
}

function stillRunning(secretId: string, token: string, timeoutMs: number): RotatorError {
  return new RotatorError(
    'ROTATION_IN_PROGRESS',
    `the rotation of ${secretId} (version ${token}) is still running after ${formatDuration(timeoutMs)}: AWSCURRENT has not moved and no failure is ` +
      'recorded yet; check the rotation function\'s CloudWatch logs, and `rotator secrets describe` later',
    { retryable: true },
  );
}

/** Waits `ms`, or rejects with the signal's reason as soon as it aborts. */
function sleep(ms: number, signal: AbortSignal | undefined): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted === true) {
      reject(abortReason(signal));
      return;
    }
    const onAbort = (): void => {
      clearTimeout(timer);
      reject(abortReason(signal));
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

function abortReason(signal: AbortSignal | undefined): RotatorError {
  const reason: unknown = signal?.reason;
  return reason instanceof RotatorError ? reason : new RotatorError('ROTATION_IN_PROGRESS', 'following the rotation was interrupted; it goes on in the service', { retryable: true, cause: reason });
}
