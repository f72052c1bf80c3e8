import type { SecretManagerServiceClient } from '@google-cloud/secret-manager';
import { RotatorError } from '../../shared/errors.js';
import { checkValue, type RotationSettings } from '../../shared/store.js';
import { compareAndSwap } from './compare-and-swap.js';
import { checkLabels, settingLabels, settingsFromLabels, ROTATOR_LABEL_PREFIX, SETTING_LABELS, SM_LABEL } from './labels.js';
import { SECRET_MANAGER_MAX_VALUE_BYTES, SECRET_MANAGER_MIN_ROTATION_PERIOD_SECONDS } from './limits.js';
import { SecretManagerCalls, type Secret } from './secret-manager-calls.js';
import { PENDING_SECRET_SUFFIX, checkSecretManagerSecretId } from './secret-manager-store.js';

/**
 * Creating and attaching secrets: not part of the store port (Rotator rotates secrets, it does not create them), but
 * what a test seeds with, what the README shows and what a CLI can call. Attaching a secret is: its setting labels
 * (labels.ts), its companion `<id>-rotator-pending` (which holds PENDING values), and optionally Secret Manager's own
 * rotation schedule, which publishes SECRET_ROTATE to the topics at `next` and every period after it.
 */
export interface SecretManagerRotationSchedule {
  /** At least an hour (Secret Manager's minimum). */
  periodSeconds: number;
  /** The first SECRET_ROTATE. */
  next: Date;
}

export interface AttachSecretManagerSecretOptions {
  /**
   * Labels for the secret: its own (its tags) and, if the caller writes them itself, `rotator-...` settings, which
   * are checked as the store reads them.
   */
  labels?: Readonly<Record<string, string>>;
  /** Rotation settings, written as `rotator-...` labels over `labels`. Without either, `rotator-enabled=true`. */
  settings?: RotationSettings;
  /** Secret Manager's schedule; it needs `topics`. */
  rotation?: SecretManagerRotationSchedule;
  /** Pub/Sub topics for the secret's notifications: `projects/<project>/topics/<topic>`. */
  topics?: readonly string[];
}

export interface SeedSecretManagerSecretOptions extends AttachSecretManagerSecretOptions {
  /** With it, a destroyed version is only disabled for this long, then destroyed (recoverable meanwhile). */
  versionDestroyTtlSeconds?: number;
}

const TOPIC = /^projects\/[a-z][a-z0-9-]{4,28}[a-z0-9]\/topics\/[A-Za-z][A-Za-z0-9._~%+-]{2,254}$/;

/**
 * Creates `secretId` and its companion (same replication and destroy ttl), adds `value` as its first version and
 * points the alias `current` at it. Returns that version's port id (Secret Manager's number: no token wrote it).
 * SECRET_EXISTS when the secret exists already.
 */
export async function createSeededSecretManagerSecret(
  client: SecretManagerServiceClient,
  projectId: string,
  secretId: string,
  value: string,
  options: SeedSecretManagerSecretOptions = {},
): Promise<string> {
  const calls = new SecretManagerCalls(client, projectId);
  checkSecretManagerSecretId(secretId);
  checkValue(value, secretId, SECRET_MANAGER_MAX_VALUE_BYTES, 'Google Secret Manager');
  const attach = attachment(secretId, {}, options);
  const ttl = options.versionDestroyTtlSeconds;
  if (ttl !== undefined && (!Number.isInteger(ttl) || ttl <= 0)) throw new RotatorError('INVALID_INPUT', 'the version destroy ttl must be a positive whole number of seconds');
  const common: Secret = { replication: { automatic: {} }, ...(ttl === undefined ? {} : { versionDestroyTtl: { seconds: ttl } }) };
  await calls.createSecret(secretId, { ...common, ...attach });
  await createCompanion(calls, secretId, common);
  const n = await calls.addVersion(secretId, value);
  await compareAndSwap(calls, secretId, (next) => ({ ...next, aliases: { ...next.aliases, current: n } }));
  return String(n);
}

/**
 * Turns rotation on for an existing secret: writes the setting labels (replacing any `rotator-...` labels it had,
 * keeping its own), the schedule and topics if given, with the secret's etag; then creates the companion, with the
 * secret's replication and destroy ttl, if it is missing. Its versions stay as they are: the first rotation takes
 * the newest ENABLED one as CURRENT.
 */
export async function attachSecretManagerSecret(client: SecretManagerServiceClient, projectId: string, secretId: string, options: AttachSecretManagerSecretOptions = {}): Promise<void> {
  const calls = new SecretManagerCalls(client, projectId);
  checkSecretManagerSecretId(secretId);
  const secret = await calls.getSecret(secretId);
  const kept = Object.fromEntries(Object.entries(secret.labels ?? {}).filter(([k]) => !k.startsWith(ROTATOR_LABEL_PREFIX)));
  const attach = attachment(secretId, kept, options);
  const paths = ['labels', ...(attach.rotation === undefined ? [] : ['rotation']), ...(attach.topics === undefined ? [] : ['topics'])];
  await calls.updateSecret(secretId, { etag: secret.etag ?? '', ...attach }, paths);
  await createCompanion(calls, secretId, {
    ...(secret.replication === null || secret.replication === undefined ? { replication: { automatic: {} } } : { replication: secret.replication }),
    ...(secret.versionDestroyTtl === null || secret.versionDestroyTtl === undefined ? {} : { versionDestroyTtl: secret.versionDestroyTtl }),
  });
}

/** The labels, schedule and topics an attachment writes, checked before any call. */
function attachment(secretId: string, kept: Readonly<Record<string, string>>, options: AttachSecretManagerSecretOptions): Pick<Secret, 'labels' | 'rotation' | 'topics'> {
  const given = options.labels ?? {};
  const unknown = Object.keys(given).find((k) => k.startsWith(ROTATOR_LABEL_PREFIX) && !SETTING_LABELS.includes(k));
  if (unknown !== undefined) throw new RotatorError('INVALID_INPUT', `label ${unknown} is not one of Rotator's settings (${SETTING_LABELS.join(', ')})`);
  const labels: Record<string, string> = { ...kept, ...given, ...(options.settings === undefined ? {} : settingLabels(options.settings)) };
  if (!Object.hasOwn(labels, SM_LABEL.enabled)) labels[SM_LABEL.enabled] = 'true';
  checkLabels(labels);
  settingsFromLabels(labels, secretId); // the store must be able to read what is written
  const topics = options.topics ?? [];
  for (const topic of topics) if (!TOPIC.test(topic)) throw new RotatorError('INVALID_INPUT', 'a notification topic must be projects/<project>/topics/<topic>');
  const rotation = options.rotation;
  if (rotation !== undefined) {
    if (!Number.isInteger(rotation.periodSeconds) || rotation.periodSeconds < SECRET_MANAGER_MIN_ROTATION_PERIOD_SECONDS) {
      throw new RotatorError('INVALID_INPUT', `the rotation period must be a whole number of seconds, at least ${SECRET_MANAGER_MIN_ROTATION_PERIOD_SECONDS}`);
    }
    if (!(rotation.next instanceof Date) || Number.isNaN(rotation.next.getTime())) throw new RotatorError('INVALID_INPUT', 'the next rotation time must be a valid date');
    if (topics.length === 0) throw new RotatorError('INVALID_INPUT', 'a rotation schedule needs at least one topic: Secret Manager publishes SECRET_ROTATE there');
  }
  const ms = rotation?.next.getTime() ?? 0;
  return {
    labels,
    ...(rotation === undefined
      ? {}
      : { rotation: { rotationPeriod: { seconds: rotation.periodSeconds }, nextRotationTime: { seconds: Math.floor(ms / 1000), nanos: (ms % 1000) * 1e6 } } }),
    ...(options.topics === undefined ? {} : { topics: topics.map((name) => ({ name })) }),
  };
}

/** Creates the companion unless it exists already (another attach, or one made by hand). */
async function createCompanion(calls: SecretManagerCalls, secretId: string, secret: Secret): Promise<void> {
  try {
    await calls.createSecret(`${secretId}${PENDING_SECRET_SUFFIX}`, secret);
  } catch (error) {
    if (error instanceof RotatorError && error.code === 'SECRET_EXISTS') return;
    throw error;
  }
}
