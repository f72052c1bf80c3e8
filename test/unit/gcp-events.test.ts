import { describe, expect, it } from 'vitest';
import { PUBSUB_PUBLISHED, SECRET_ROTATE, parseSecretEvent, type GcpScope, type SecretEventDecision } from '../../functions/gcp/events.js';
import { createCloudLogger } from '../../functions/gcp/logger.js';
import { loadGcpSettings } from '../../functions/gcp/settings.js';
import { RotatorError } from '../../shared/errors.js';
import { Redactor } from '../../shared/redact.js';
import { messageOf, secretManagerEvent } from '../support/gcp-events.js';

/**
 * How the onSecretEvent function reads Secret Manager's notification (functions/gcp/events.ts): the CloudEvent
 * Eventarc delivers, the fields a Pub/Sub push body spells in snake_case, and every refusal: another project,
 * companions, names outside the prefix, hostile ids, control characters, malformed bodies. Plus the settings
 * (functions/gcp/settings.ts) and the Cloud Logging line format (functions/gcp/logger.ts).
 */
const PROJECT = 'rotator-test';
const NUMBER = '123456789012';
const scope: GcpScope = { projectId: PROJECT, projectNumber: NUMBER };
const TIME = new Date('2026-07-25T01:08:33.103Z');

function refusal(event: unknown, s: GcpScope = scope, label = 'the event'): RotatorError {
  try {
    parseSecretEvent(event, s);
  } catch (error) {
    if (error instanceof RotatorError) return error;
    throw error;
  }
  throw new Error(`expected ${label} to be refused`);
}

const rotate = (decision: SecretEventDecision): Extract<SecretEventDecision, { action: 'rotate' }> => {
  if (decision.action !== 'rotate') throw new Error(`expected a rotation, got ${decision.reason}`);
  return decision;
};

/** The event with its Pub/Sub message changed (`undefined` members removed). */
function withMessage(event: Record<string, unknown>, changes: Record<string, unknown>): Record<string, unknown> {
  const message = { ...messageOf(event), ...changes };
  for (const [k, v] of Object.entries(changes)) if (v === undefined) Reflect.deleteProperty(message, k);
  return { ...event, data: { ...(event.data as Record<string, unknown>), message } };
}

/** The event with its attributes changed (`undefined` members removed). */
function withAttributes(event: Record<string, unknown>, changes: Record<string, unknown>): Record<string, unknown> {
  const attributes = { ...(messageOf(event).attributes as Record<string, unknown>), ...changes };
  for (const [k, v] of Object.entries(changes)) if (v === undefined) Reflect.deleteProperty(attributes, k);
  return withMessage(event, { attributes });
}

describe('Secret Manager notifications', () => {
  it('rotates on SECRET_ROTATE: the secret id, the message id and the publish time', () => {
    const event = secretManagerEvent('db-app', { time: TIME, messageId: '11231234567890' });
    expect(parseSecretEvent(event, scope)).toEqual({ action: 'rotate', secretId: 'db-app', messageId: '11231234567890', eventTime: TIME });
    expect(PUBSUB_PUBLISHED).toBe(event.type);
    expect(SECRET_ROTATE).toBe('SECRET_ROTATE');
  });

  it('takes the publish time over the attributes timestamp and the CloudEvent time (the same on every redelivery)', () => {
    const event = withAttributes(secretManagerEvent('db-app', { time: TIME }), { timestamp: '2026-07-25T01:08:30.000Z' });
    const later = { ...event, time: '2026-07-25T01:20:00Z' };
    expect(rotate(parseSecretEvent(later, scope)).eventTime).toEqual(TIME);
    // Without a publish time in the message, the CloudEvent's time (the framework copies it there from a push body).
    expect(rotate(parseSecretEvent(withMessage(later, { publishTime: undefined }), scope)).eventTime).toEqual(new Date('2026-07-25T01:20:00Z'));
  });

  it('accepts this project by id and by number', () => {
    expect(rotate(parseSecretEvent(secretManagerEvent('db-app', { project: NUMBER }), scope)).secretId).toBe('db-app');
    expect(rotate(parseSecretEvent(secretManagerEvent('db-app', { project: PROJECT }), scope)).secretId).toBe('db-app');
    expect(rotate(parseSecretEvent(secretManagerEvent('db-app', { project: PROJECT }), { projectId: PROJECT })).secretId).toBe('db-app');
  });

  it('refuses a secret of another project, by id or by number, and a number when the deployment does not know its own', () => {
    for (const [project, s] of [
      ['other-project', scope],
      ['987654321098', scope],
      [NUMBER, { projectId: PROJECT }],
      [`${PROJECT}x`, scope],
    ] as const) {
      const error = refusal(secretManagerEvent('db-app', { project }), s, project);
      expect(error.code).toBe('INVALID_INPUT');
      expect(error.retryable).toBe(false);
      expect(error.message).toContain('another project');
      expect(error.message).not.toContain(project);
    }
  });

  it('reads the snake_case fields of a Pub/Sub push body (message_id, publish_time)', () => {
    const event = secretManagerEvent('db-app', { time: TIME, messageId: '42' });
    const snake = withMessage({ ...event, id: undefined, time: undefined }, { messageId: undefined, publishTime: undefined, message_id: '43', publish_time: TIME.toISOString() });
    expect(parseSecretEvent(snake, scope)).toEqual({ action: 'rotate', secretId: 'db-app', messageId: '43', eventTime: TIME });
    // Pub/Sub sends both spellings; they agree, and camelCase is read first.
    expect(rotate(parseSecretEvent(withMessage(event, { message_id: '42', publish_time: TIME.toISOString() }), scope)).messageId).toBe('42');
  });

  it('falls back to the CloudEvent id for the message id, and refuses a message with no id or no publish time', () => {
    const event = secretManagerEvent('db-app', { messageId: '77' });
    expect(rotate(parseSecretEvent(withMessage(event, { messageId: undefined }), scope)).messageId).toBe('77');
    expect(refusal(withMessage({ ...event, id: undefined }, { messageId: undefined })).message).toContain('no id');
    expect(refusal(withMessage({ ...event, time: undefined }, { publishTime: undefined })).message).toContain('no publish time');
  });

  it('acknowledges and ignores every other event type, whatever secret it names, quoting the type only when it is plain', () => {
    for (const type of ['SECRET_UPDATE', 'SECRET_VERSION_ADD', 'SECRET_VERSION_ENABLE', 'SECRET_VERSION_DISABLE', 'SECRET_VERSION_DESTROY', 'SECRET_VERSION_DESTROY_SCHEDULED', 'SECRET_DELETE', 'TOPIC_CONFIGURED']) {
      const decision = parseSecretEvent(secretManagerEvent('db-app', { eventType: type, messageId: '5' }), scope);
      expect(decision).toEqual({ action: 'ignore', reason: `${type} is not SECRET_ROTATE`, messageId: '5' });
    }
    // Ignored before the secret is looked at: our own updates of a companion or another project's secret are no concern.
    expect(parseSecretEvent(secretManagerEvent('db-app-rotator-pending', { eventType: 'SECRET_VERSION_ADD' }), scope).action).toBe('ignore');
    expect(parseSecretEvent(secretManagerEvent('db-app', { eventType: 'SECRET_UPDATE', project: 'other-project' }), scope).action).toBe('ignore');
    const odd = parseSecretEvent(secretManagerEvent('db-app', { eventType: 'secret_rotate<script>' }), scope);
    expect(odd).toMatchObject({ action: 'ignore', reason: 'another event type is not SECRET_ROTATE' });
    expect(JSON.stringify(odd)).not.toContain('<script>');
    // A CloudEvent that is not a Pub/Sub message.
    expect(parseSecretEvent({ ...secretManagerEvent('db-app'), type: 'google.cloud.storage.object.v1.finalized' }, scope)).toMatchObject({ action: 'ignore', reason: 'not a Pub/Sub message' });
  });

  it('refuses the companion secrets that hold PENDING values', () => {
    const error = refusal(secretManagerEvent('db-app-rotator-pending'));
    expect(error.code).toBe('INVALID_INPUT');
    expect(error.message).toContain('companion');
  });

  it('refuses secrets outside the deployment prefix (ids are case-sensitive), and accepts those inside', () => {
    expect(rotate(parseSecretEvent(secretManagerEvent('rotated-db'), { ...scope, secretPrefix: 'rotated-' })).secretId).toBe('rotated-db');
    expect(refusal(secretManagerEvent('db-app'), { ...scope, secretPrefix: 'rotated-' }).message).toContain("outside this deployment's name prefix rotated-");
    expect(refusal(secretManagerEvent('Rotated-db'), { ...scope, secretPrefix: 'rotated-' }).code).toBe('INVALID_INPUT');
  });

  it('takes ids up to 239 characters (the companion needs 16 more) and refuses longer ones', () => {
    expect(rotate(parseSecretEvent(secretManagerEvent('a'.repeat(239)), scope)).secretId).toHaveLength(239);
    expect(refusal(secretManagerEvent('a'.repeat(240))).code).toBe('INVALID_INPUT');
  });

  it('refuses hostile ids with INVALID_INPUT and never quotes them', () => {
    const hostile = ['db\napp', 'db\u0000app', '../db-app', 'db/app', 'db.app', 'd\u00e9b', 'x'.repeat(256), '', ' ', 'db-app\r\nforged: line', '<img src=x>', 'db-app\u202e', 'db app'];
    for (const id of hostile) {
      const error = refusal(secretManagerEvent(id), scope, JSON.stringify(id));
      expect(error.code, JSON.stringify(id)).toBe('INVALID_INPUT');
      for (const ch of ['\n', '\r', '\u0000', '\u202e']) expect(error.message).not.toContain(ch);
      if (id.trim().length > 2) expect(error.message).not.toContain(id.trim());
    }
    // A name that is not projects/<p>/secrets/<id> at all: a version, a location, another resource.
    for (const name of ['projects/123456789012/secrets/db-app/versions/1', 'projects/123456789012/locations/europe-west1/secrets/db-app', 'db-app', 'projects//secrets/db-app']) {
      expect(refusal(withAttributes(secretManagerEvent('db-app'), { secretId: name }), scope, name).message).toContain('attributes.secretId must be projects/<project>/secrets/<secret id>');
    }
  });

  it('refuses control characters anywhere the decision or a log line reads, never quoting them', () => {
    const event = secretManagerEvent('db-app');
    for (const ch of ['\u0000', '\r', '\n', '\u001b', '\u007f', '\u0085', '\u2028', '\u200b']) {
      for (const bad of [
        withAttributes(event, { eventType: `SECRET_ROTATE${ch}` }),
        withAttributes(event, { secretId: `projects/${NUMBER}/secrets/db-app${ch}` }),
        withMessage(event, { messageId: `1${ch}2` }),
        withMessage(event, { publishTime: `${TIME.toISOString()}${ch}` }),
        { ...event, type: `${PUBSUB_PUBLISHED}${ch}` },
        { ...event, id: `1${ch}` },
      ]) {
        const error = refusal(bad, scope, JSON.stringify(ch));
        expect(error.code).toBe('INVALID_INPUT');
        expect(error.message).not.toContain(ch);
      }
    }
  });

  it('refuses malformed bodies', () => {
    const event = secretManagerEvent('db-app');
    const malformed: unknown[] = [
      null,
      'text',
      42,
      [event],
      { ...event, type: undefined },
      { ...event, type: 7 },
      { ...event, data: undefined },
      { ...event, data: 'aGVsbG8=' },
      { ...event, data: {} },
      { ...event, data: { message: 'text' } },
      withMessage(event, { attributes: 'SECRET_ROTATE' }),
      withMessage(event, { attributes: ['SECRET_ROTATE'] }),
      withMessage(event, { attributes: undefined }),
      withMessage(event, { publishTime: 'yesterday' }),
      withMessage(event, { messageId: 42 }),
      withMessage(event, { messageId: 'x'.repeat(129) }),
      withAttributes(event, { eventType: undefined }),
      withAttributes(event, { eventType: 1 }),
      withAttributes(event, { secretId: undefined }),
      withAttributes(event, { secretId: { name: 'db-app' } }),
      withAttributes(event, { secretId: `projects/${NUMBER}/secrets/${'a'.repeat(400)}` }),
    ];
    for (const [i, bad] of malformed.entries()) expect(refusal(bad, scope, String(i)).code).toBe('INVALID_INPUT');
  });

  it('keeps a __proto__ key in the attributes or the message from steering the decision or touching any prototype', () => {
    const text = JSON.stringify(secretManagerEvent('db-app')).replace('"attributes":{', `"attributes":{"__proto__":{"secretId":"projects/other-project/secrets/db-other"},`);
    expect(rotate(parseSecretEvent(JSON.parse(text) as unknown, scope)).secretId).toBe('db-app');
    const proto = JSON.stringify(secretManagerEvent('db-app')).replace('"message":{', '"message":{"__proto__":{"publishTime":"yesterday"},');
    expect(rotate(parseSecretEvent(JSON.parse(proto) as unknown, scope)).secretId).toBe('db-app');
    expect(({} as Record<string, unknown>).secretId).toBeUndefined();
    expect(({} as Record<string, unknown>).publishTime).toBeUndefined();
  });

  it('ignores the message data and unknown keys: never decoded, never returned', () => {
    const event = withMessage(secretManagerEvent('db-app'), { data: Buffer.from('{"name":"projects/other-project/secrets/db-other"}').toString('base64'), orderingKey: 'k' });
    const decision = rotate(parseSecretEvent({ ...event, extension: 'x'.repeat(10_000) }, scope));
    expect(Object.keys(decision).sort()).toEqual(['action', 'eventTime', 'messageId', 'secretId']);
    expect(decision.secretId).toBe('db-app');
  });
});

describe('Google Cloud settings', () => {
  const env = {
    ROTATOR_PROJECT: PROJECT,
    ROTATOR_PROJECT_NUMBER: NUMBER,
    ROTATOR_SECRET_PREFIX: '',
    ROTATOR_SCHEDULER_LOCATION: 'europe-west1',
    ROTATOR_ROTATE_URL: 'https://rotate-abc123-ew.a.run.app',
    ROTATOR_SCHEDULER_SERVICE_ACCOUNT: 'rotator-scheduler@rotator-test.iam.gserviceaccount.com',
    ROTATION_STRATEGY: 'alternating-users',
    ROTATOR_SAFE_WINDOW: '7d',
    ROTATOR_KEEP_SUPERSEDED: '2',
    LOG_LEVEL: 'DEBUG',
  };

  function invalid(e: Record<string, string | undefined>): RotatorError {
    try {
      loadGcpSettings(e);
    } catch (error) {
      if (error instanceof RotatorError) return error;
      throw error;
    }
    throw new Error(`accepted ${JSON.stringify(e)}`);
  }

  it('reads every setting; an empty prefix means every labelled secret, empty scheduler settings mean no reconciler', () => {
    const s = loadGcpSettings(env);
    expect(s).toMatchObject({
      projectId: PROJECT,
      projectNumber: NUMBER,
      secretPrefix: undefined,
      scheduler: { location: 'europe-west1', rotateUrl: env.ROTATOR_ROTATE_URL, serviceAccountEmail: env.ROTATOR_SCHEDULER_SERVICE_ACCOUNT },
    });
    expect(s.config.defaultStrategy).toBe('alternating-users');
    expect(s.config.retention).toEqual({ safeWindowMs: 7 * 86_400_000, keepSuperseded: 2 });
    expect(s.config.logLevel).toBe('debug');
    expect(loadGcpSettings({ ...env, ROTATOR_SECRET_PREFIX: 'db-' }).secretPrefix).toBe('db-');
    expect(loadGcpSettings({ ROTATOR_PROJECT: PROJECT })).toMatchObject({ projectNumber: undefined, secretPrefix: undefined, scheduler: undefined });
    for (const name of ['ROTATOR_SCHEDULER_LOCATION', 'ROTATOR_ROTATE_URL', 'ROTATOR_SCHEDULER_SERVICE_ACCOUNT']) {
      expect(loadGcpSettings({ ...env, [name]: '' }).scheduler, name).toBeUndefined();
      expect(loadGcpSettings({ ...env, [name]: undefined }).scheduler, name).toBeUndefined();
    }
  });

  it('refuses each bad variable, naming it and never its value', () => {
    const marker = 'Sup3rS3cretMarker';
    const bad: Array<[string, string | undefined]> = [
      ['ROTATOR_PROJECT', undefined],
      ['ROTATOR_PROJECT', ''],
      ['ROTATOR_PROJECT', `Rotator-${marker}`],
      ['ROTATOR_PROJECT', 'short'],
      ['ROTATOR_PROJECT', 'rotator-test-'],
      ['ROTATOR_PROJECT', '1rotator-test'],
      ['ROTATOR_PROJECT', `rotator-test\n${marker}`],
      ['ROTATOR_PROJECT_NUMBER', `12ab${marker}`],
      ['ROTATOR_PROJECT_NUMBER', '0123'],
      ['ROTATOR_SECRET_PREFIX', `db/${marker}`],
      ['ROTATOR_SECRET_PREFIX', 'p'.repeat(65)],
      ['ROTATOR_SCHEDULER_LOCATION', `Europe-${marker}`],
      ['ROTATOR_SCHEDULER_LOCATION', 'europe-west1/jobs'],
      ['ROTATOR_ROTATE_URL', `https://${marker}.example/${'x'.repeat(2_000)}`],
      ['ROTATOR_SCHEDULER_SERVICE_ACCOUNT', `${marker}${'x'.repeat(254)}@p.iam.gserviceaccount.com`],
      ['ROTATION_STRATEGY', `sometimes-${marker}`],
      ['ROTATOR_KEEP_SUPERSEDED', `lots-${marker}`],
      ['LOG_LEVEL', `loud-${marker}`],
    ];
    for (const [name, value] of bad) {
      const error = invalid({ ...env, [name]: value });
      expect(error.code, `${name}=${String(value)}`).toBe('INVALID_INPUT');
      expect(error.message).toContain(name);
      expect(error.message).not.toContain(marker);
    }
    expect(invalid({ ...env, ROTATOR_SAFE_WINDOW: 'a week' }).message).toContain('ROTATOR_SAFE_WINDOW');
  });

  it('names every bad variable of its own in one message', () => {
    const error = invalid({ ...env, ROTATOR_PROJECT: 'X', ROTATOR_SCHEDULER_LOCATION: 'nowhere', ROTATOR_SECRET_PREFIX: 'a b' });
    for (const name of ['ROTATOR_PROJECT', 'ROTATOR_SCHEDULER_LOCATION', 'ROTATOR_SECRET_PREFIX']) expect(error.message).toContain(name);
  });
});

describe('Cloud Logging lines', () => {
  function logger(level: 'debug' | 'info' | 'warn' | 'error' = 'debug'): { lines: string[]; redactor: Redactor; log: ReturnType<typeof createCloudLogger> } {
    const lines: string[] = [];
    const redactor = new Redactor();
    return { lines, redactor, log: createCloudLogger((line) => lines.push(line), redactor, level) };
  }
  const parse = (line: string | undefined): Record<string, unknown> => JSON.parse(line ?? '') as Record<string, unknown>;

  it('writes one JSON object a line with the Cloud Logging severity, the message first-class and the fields beside it', () => {
    const { lines, log } = logger();
    log.debug('d');
    log.info('i', { secretId: 'db-app' });
    log.warn('w');
    log.error('rotation failed: TARGET_AUTH_FAILED', { code: 'TARGET_AUTH_FAILED', retryable: false });
    expect(lines.map((l) => parse(l).severity)).toEqual(['DEBUG', 'INFO', 'WARNING', 'ERROR']);
    expect(lines.every((l) => !l.includes('\n'))).toBe(true);
    expect(parse(lines[1])).toEqual({ secretId: 'db-app', severity: 'INFO', message: 'i' });
    // The failed-rotation alert matches jsonPayload.message: our text alone, not the fields.
    expect(parse(lines[3])).toEqual({ code: 'TARGET_AUTH_FAILED', retryable: false, severity: 'ERROR', message: 'rotation failed: TARGET_AUTH_FAILED' });
  });

  it('drops lines below the level, and a child carries its fields on every line', () => {
    const { lines, log } = logger('warn');
    const child = log.child({ secretId: 'db-app', messageId: '42' });
    child.info('dropped');
    child.debug('dropped');
    child.warn('kept', { extra: 1 });
    expect(lines).toHaveLength(1);
    expect(parse(lines[0])).toEqual({ secretId: 'db-app', messageId: '42', extra: 1, severity: 'WARNING', message: 'kept' });
  });

  it('masks registered values in the message and the fields, and sensitive keys whatever their value', () => {
    const { lines, redactor, log } = logger();
    redactor.add('Sup3r-Secret-Value');
    log.child({ note: 'child had Sup3r-Secret-Value' }).error('rotation failed: TARGET_ERROR: the server said Sup3r-Secret-Value', {
      password: 'anything-at-all',
      nested: { token: 'another-thing', list: ['Sup3r-Secret-Value'] },
      error: new Error('it was Sup3r-Secret-Value'),
    });
    expect(lines).toHaveLength(1);
    const line = lines[0] ?? '';
    expect(line).not.toContain('Sup3r-Secret-Value');
    expect(line).not.toContain('anything-at-all');
    expect(line).not.toContain('another-thing');
    expect(parse(line).message).toMatch(/^rotation failed: TARGET_ERROR: the server said /);
  });

  it('never lets a field named severity or message pass itself off as ours, at the call or in a child', () => {
    const { lines, log } = logger();
    log.info('the real message', { severity: 'ERROR', message: 'rotation failed: FORGED' });
    log.child({ severity: 'ERROR', message: 'purge failed: FORGED' }).debug('child message');
    expect(parse(lines[0])).toMatchObject({ severity: 'INFO', message: 'the real message' });
    expect(parse(lines[1])).toMatchObject({ severity: 'DEBUG', message: 'child message' });
    expect(lines.join('\n')).not.toContain('FORGED');
  });

  it('keeps a line one line, and never throws: an unserialisable field, a failing writer', () => {
    const { lines, log } = logger();
    log.warn('id db\napp', { secretId: 'db\r\nforged: line' });
    expect(lines).toHaveLength(1);
    expect(lines[0]).not.toMatch(/[\r\n]/);
    log.error('rotation failed: INTERNAL', { big: 10n });
    expect(parse(lines[1])).toEqual({ severity: 'ERROR', message: 'rotation failed: INTERNAL', fields: 'unserialisable' });
    const broken = createCloudLogger(() => {
      throw new Error('stdout closed');
    }, new Redactor());
    expect(() => broken.error('rotation failed: STORE_IO')).not.toThrow();
  });
});
