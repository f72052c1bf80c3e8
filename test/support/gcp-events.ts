import { randomInt } from 'node:crypto';
import type { GcpHandlers } from '../../functions/gcp/handlers.js';
import { recordOutput } from './canary.js';

/**
 * A Secret Manager notification as Eventarc delivers it to `onSecretEvent`: a CloudEvent of type
 * `google.cloud.pubsub.topic.v1.messagePublished` whose data is the Pub/Sub push body. Secret Manager names the
 * secret by project number in `attributes.secretId`, puts the event type in `attributes.eventType`, and sends the
 * whole Secret (as its JSON API would) base64-encoded in the message's data. The message id is random (Pub/Sub's are
 * decimal), so two events of a test are two messages unless the test redelivers one.
 */
export const PUBSUB_TYPE = 'google.cloud.pubsub.topic.v1.messagePublished';

export interface SecretEventOptions {
  /** The project as Secret Manager names it in `secretId` (a number in real notifications). */
  project?: string;
  eventType?: string;
  /** When Pub/Sub published the message (the same on every redelivery). */
  time?: Date;
  messageId?: string;
  /** Extra members of the Secret JSON in the message's data. */
  secret?: Record<string, unknown>;
}

export function secretManagerEvent(secretId: string, options: SecretEventOptions = {}): Record<string, unknown> {
  const project = options.project ?? '123456789012';
  const time = options.time ?? new Date();
  const messageId = options.messageId ?? String(randomInt(1e12, 2e12));
  const name = `projects/${project}/secrets/${secretId}`;
  const secret = {
    name,
    createTime: '2026-01-05T10:00:00.000000Z',
    labels: { 'rotator-enabled': 'true' },
    topics: [{ name: `projects/${project}/topics/rotator` }],
    etag: '"16254c1e2e6b6f"',
    rotation: { nextRotationTime: new Date(time.getTime() + 30 * 86_400_000).toISOString(), rotationPeriod: '2592000s' },
    ...options.secret,
  };
  return {
    specversion: '1.0',
    id: messageId,
    type: PUBSUB_TYPE,
    source: `//pubsub.googleapis.com/projects/${project}/topics/rotator`,
    time: time.toISOString(),
    datacontenttype: 'application/json',
    data: {
      subscription: `projects/${project}/subscriptions/eventarc-europe-west1-on-secret-event-sub-001`,
      message: {
        attributes: { eventType: options.eventType ?? 'SECRET_ROTATE', secretId: name, dataFormat: 'JSON_API_V1', timestamp: time.toISOString() },
        data: Buffer.from(JSON.stringify(secret)).toString('base64'),
        messageId,
        publishTime: time.toISOString(),
      },
    },
  };
}

/** The Pub/Sub message of an event built above (what a push subscription posts, and Eventarc wraps). */
export function messageOf(event: Record<string, unknown>): Record<string, unknown> {
  return (event.data as { message: Record<string, unknown> }).message;
}

/**
 * The four handlers, with everything they return (HTTP answers, outcomes, reports) handed to the leak canary: an
 * answer is an output channel like a log line.
 */
export function recordingGcpHandlers(handlers: GcpHandlers): GcpHandlers {
  const record = <R>(result: R): R => {
    recordOutput(`${JSON.stringify(result)}\n`);
    return result;
  };
  return {
    onSecretEvent: async (event) => record(await handlers.onSecretEvent(event)),
    rotate: async (call) => record(await handlers.rotate(call)),
    purge: async (call) => record(await handlers.purge(call)),
    reconcileJobs: async (call) => record(await handlers.reconcileJobs(call)),
  };
}
