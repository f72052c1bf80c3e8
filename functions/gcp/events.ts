import * as z from 'zod';
import { hasControlCharacter } from '../../shared/control-chars.js';
import { RotatorError } from '../../shared/errors.js';

/**
 * Secret Manager's notifications, as Eventarc delivers them to `onSecretEvent`: a CloudEvent of type
 * `google.cloud.pubsub.topic.v1.messagePublished` whose data is the Pub/Sub message. Secret Manager puts what matters
 * in the message's attributes (`eventType`, `secretId` = `projects/<project>/secrets/<id>`, `dataFormat`,
 * `timestamp`); the message's data is the whole Secret as JSON, which this function never needs and never parses.
 *
 * One decision comes out: rotate this secret, or acknowledge and ignore the message.
 * - **Only SECRET_ROTATE rotates.** The topic also carries SECRET_UPDATE, SECRET_VERSION_ADD, ... for every change,
 *   including the ones a rotation itself makes; they are acknowledged and ignored, so a rotation never triggers another.
 * - **Only this deployment's secrets.** The project in `secretId` must be this project (by id or by number: Secret
 *   Manager writes the number), the id Secret Manager's grammar, inside the name prefix, and not a
 *   `-rotator-pending` companion. Anything else is refused (INVALID_INPUT; nothing rotated; the message names the
 *   field, quoting only what already passed the grammar).
 * - **The event time** is when Pub/Sub published the message (the same on every redelivery): a CURRENT renewed at or
 *   after it means the event has been dealt with.
 * - Pub/Sub push bodies without CloudEvent headers are turned into the same shape by the Functions Framework.
 */
export const PUBSUB_PUBLISHED = 'google.cloud.pubsub.topic.v1.messagePublished';
export const SECRET_ROTATE = 'SECRET_ROTATE';
export const PENDING_COMPANION_SUFFIX = '-rotator-pending';
/** Secret Manager secret ids; a main secret leaves room for its companion's suffix. */
export const SECRET_MANAGER_ID = /^[A-Za-z0-9_-]{1,255}$/;
const MAIN_ID_MAX = 255 - PENDING_COMPANION_SUFFIX.length;
const SECRET_NAME = /^projects\/([^/]{1,64})\/secrets\/([^/]{1,300})$/;

export interface GcpScope {
  projectId: string;
  projectNumber?: string | undefined;
  secretPrefix?: string | undefined;
}

export type SecretEventDecision =
  | { action: 'rotate'; secretId: string; messageId: string; eventTime: Date }
  | { action: 'ignore'; reason: string; messageId?: string };

const text = (max: number) =>
  z
    .string({ error: 'must be a string' })
    .max(max, `must be at most ${max} characters`)
    .refine((s) => !hasControlCharacter(s), 'must not contain control characters');

const time = text(64).transform((s, ctx) => {
  const ms = Date.parse(s);
  if (Number.isNaN(ms)) {
    ctx.addIssue({ code: 'custom', message: 'must be an RFC 3339 time' });
    return z.NEVER;
  }
  return new Date(ms);
});

// Unknown keys are dropped (z.object strips them), so nothing else in the event reaches the decision or a log line.
const eventSchema = z.object({
  type: text(256),
  id: text(256).optional(),
  time: time.optional(),
  data: z.object({
    message: z.object({
      attributes: z.record(z.string(), z.unknown(), { error: 'must be an object' }).optional(),
      messageId: text(128).optional(),
      message_id: text(128).optional(),
      publishTime: time.optional(),
      publish_time: time.optional(),
    }),
  }),
});

const attributesSchema = z.object({
  eventType: text(64),
  secretId: text(400).optional(),
});

export function checkScopedSecretId(secretId: string, scope: GcpScope, where: string): string {
  if (!SECRET_MANAGER_ID.test(secretId) || secretId.length > MAIN_ID_MAX) {
    throw new RotatorError('INVALID_INPUT', `${where} must be a Secret Manager secret id (1 to ${MAIN_ID_MAX} letters, digits, _ and -)`);
  }
  if (secretId.endsWith(PENDING_COMPANION_SUFFIX)) {
    throw new RotatorError('INVALID_INPUT', `${secretId} is a companion secret that holds a PENDING value; rotate the secret it belongs to`);
  }
  const prefix = scope.secretPrefix;
  if (prefix !== undefined && !secretId.startsWith(prefix)) throw new RotatorError('INVALID_INPUT', `secret ${secretId} is outside this deployment's name prefix ${prefix}`);
  return secretId;
}

/** Reads one delivery; INVALID_INPUT for anything that is not a notification this deployment may act on. */
export function parseSecretEvent(event: unknown, scope: GcpScope): SecretEventDecision {
  const parsed = eventSchema.safeParse(event);
  if (!parsed.success) {
    const where = parsed.error.issues.map((i) => `${i.path.join('.') || 'the event'}: ${i.message}`).join('; ');
    throw new RotatorError('INVALID_INPUT', `the event is not a Pub/Sub message from Eventarc (${where})`);
  }
  const { type, data } = parsed.data;
  const message = data.message;
  const messageId = message.messageId ?? message.message_id ?? parsed.data.id;
  const ids = messageId === undefined ? {} : { messageId };
  if (type !== PUBSUB_PUBLISHED) return { action: 'ignore', reason: 'not a Pub/Sub message', ...ids };
  const attributes = attributesSchema.safeParse(message.attributes ?? {});
  if (!attributes.success) {
    const where = attributes.error.issues.map((i) => `attributes.${i.path.join('.')}: ${i.message}`).join('; ');
    throw new RotatorError('INVALID_INPUT', `the message's attributes are not Secret Manager's (${where})`);
  }
  if (attributes.data.eventType !== SECRET_ROTATE) {
    const known = /^[A-Z_]{1,64}$/.test(attributes.data.eventType) ? attributes.data.eventType : 'another event type';
    return { action: 'ignore', reason: `${known} is not SECRET_ROTATE`, ...ids };
  }
  const name = attributes.data.secretId;
  const match = name === undefined ? null : SECRET_NAME.exec(name);
  if (match === null) throw new RotatorError('INVALID_INPUT', 'attributes.secretId must be projects/<project>/secrets/<secret id>');
  const [, project = '', secretId = ''] = match;
  if (project !== scope.projectId && project !== scope.projectNumber) {
    throw new RotatorError('INVALID_INPUT', "the message is about a secret of another project; this deployment rotates only its own project's secrets: refused");
  }
  checkScopedSecretId(secretId, scope, 'attributes.secretId');
  const eventTime = message.publishTime ?? message.publish_time ?? parsed.data.time;
  if (eventTime === undefined) throw new RotatorError('INVALID_INPUT', 'the message has no publish time');
  if (messageId === undefined) throw new RotatorError('INVALID_INPUT', 'the message has no id');
  return { action: 'rotate', secretId, messageId, eventTime };
}
