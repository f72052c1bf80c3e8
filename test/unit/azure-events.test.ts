import { describe, expect, it } from 'vitest';
import { NEAR_EXPIRY_EVENT_TYPE, parseNearExpiryEvent, type NearExpiryDecision } from '../../functions/azure/events.js';
import { createContextLogger } from '../../functions/azure/logger.js';
import { checkLockContainerUrl, loadAzureSettings } from '../../functions/azure/settings.js';
import { RotatorError } from '../../shared/errors.js';
import { Redactor } from '../../shared/redact.js';

/**
 * How the secretNearExpiry function reads Key Vault's event (functions/azure/events.ts): both envelopes, the data
 * as Key Vault really sends it (Microsoft's own sample has keys with stray spaces and numbers as strings), and every
 * refusal: another vault, hostile names, malformed bodies. Plus the app settings and the log line format.
 */
const scope = { vaultName: 'sample-kv' };
const TOPIC = '/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/rg/providers/Microsoft.KeyVault/vaults/sample-kv';
const TIME = '2026-07-25T01:08:33.1036736Z';
const DATA = {
  Id: 'https://sample-kv.vault.azure.net/secrets/db-app/ee059b2bb5bc48398a53b168c6cdcb10',
  VaultName: 'sample-kv',
  ObjectType: 'Secret',
  ObjectName: 'db-app',
  Version: 'ee059b2bb5bc48398a53b168c6cdcb10',
  NBF: 1559081980,
  EXP: 1559082102,
};

function eventGrid(data: Record<string, unknown> = DATA, overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return { id: '00eccf70-95a7-4e7c-8299-2eb17ee9ad64', topic: TOPIC, subject: 'db-app', eventType: NEAR_EXPIRY_EVENT_TYPE, eventTime: TIME, data, dataVersion: '1', metadataVersion: '1', ...overrides };
}

function cloudEvent(data: Record<string, unknown> = DATA, overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return { id: '1807f5d4-7c4c-4a29-8d2c-3d7a0b5e1f11', source: TOPIC, subject: 'db-app', type: NEAR_EXPIRY_EVENT_TYPE, time: TIME, specversion: '1.0', data, ...overrides };
}

function refusal(event: unknown, s: Parameters<typeof parseNearExpiryEvent>[1] = scope, label = 'the event'): RotatorError {
  try {
    parseNearExpiryEvent(event, s);
  } catch (error) {
    if (error instanceof RotatorError) return error;
    throw error;
  }
  throw new Error(`expected ${label} to be refused`);
}

const rotate = (decision: NearExpiryDecision): Extract<NearExpiryDecision, { action: 'rotate' }> => {
  if (decision.action !== 'rotate') throw new Error(`expected a rotation, got ${decision.reason}`);
  return decision;
};

describe('SecretNearExpiry events', () => {
  it('reads the Event Grid schema', () => {
    const d = rotate(parseNearExpiryEvent(eventGrid(), scope));
    expect(d).toEqual({
      action: 'rotate',
      secretId: 'db-app',
      eventId: '00eccf70-95a7-4e7c-8299-2eb17ee9ad64',
      eventTime: new Date(TIME),
      schema: 'eventgrid',
      version: 'ee059b2bb5bc48398a53b168c6cdcb10',
      expiresAt: new Date(1559082102 * 1000),
    });
  });

  it('reads the CloudEvents 1.0 schema (what infra/azure subscribes with)', () => {
    const d = rotate(parseNearExpiryEvent(cloudEvent(), scope));
    expect(d).toMatchObject({ secretId: 'db-app', schema: 'cloudevents', eventTime: new Date(TIME), eventId: '1807f5d4-7c4c-4a29-8d2c-3d7a0b5e1f11' });
  });

  it("reads Microsoft's sample: keys with stray spaces, a version with a leading space, NBF and EXP as strings", () => {
    const sample = { Id: DATA.Id, VaultName: 'sample-kv', ObjectType: 'Secret', 'ObjectName ': 'db-app', Version: ' ee059b2bb5bc48398a53b168c6cdcb10', NBF: '1559081980', EXP: '1559082102' };
    for (const event of [eventGrid(sample), cloudEvent(sample)]) {
      const d = rotate(parseNearExpiryEvent(event, scope));
      expect(d.secretId).toBe('db-app');
      expect(d.version).toBe('ee059b2bb5bc48398a53b168c6cdcb10');
      expect(d.expiresAt).toEqual(new Date(1559082102 * 1000));
    }
  });

  it('reads camelCase keys, and needs only one place that names the vault and the secret', () => {
    const camel = { vaultName: 'SAMPLE-KV', objectType: 'Secret', objectName: 'db-app', nbf: 1559081980, exp: '1559082102' };
    expect(rotate(parseNearExpiryEvent(eventGrid(camel, { topic: 'unrelated', subject: undefined }), scope)).secretId).toBe('db-app');
    // Only the Id names both.
    expect(rotate(parseNearExpiryEvent(cloudEvent({ ObjectType: 'Secret', Id: DATA.Id }, { source: 'x', subject: undefined }), scope)).secretId).toBe('db-app');
  });

  it('acknowledges and ignores other event types, naming the type only when it is a plain dotted name', () => {
    const d = parseNearExpiryEvent(eventGrid(DATA, { eventType: 'Microsoft.KeyVault.SecretNewVersionCreated' }), scope);
    expect(d).toMatchObject({ action: 'ignore', reason: expect.stringContaining('Microsoft.KeyVault.SecretNewVersionCreated') as unknown });
    const odd = parseNearExpiryEvent(cloudEvent(DATA, { type: 'x<script>' }), scope);
    expect(odd.action).toBe('ignore');
    expect(JSON.stringify(odd)).not.toContain('<script>');
  });

  it('ignores the companion secrets that hold PENDING values', () => {
    const data = { ...DATA, ObjectName: 'db-app-rotator-pending', Id: 'https://sample-kv.vault.azure.net/secrets/db-app-rotator-pending/ee059b2bb5bc48398a53b168c6cdcb10' };
    expect(parseNearExpiryEvent(eventGrid(data, { subject: 'db-app-rotator-pending' }), scope)).toMatchObject({ action: 'ignore' });
    expect(parseNearExpiryEvent(cloudEvent({ ...data, ObjectName: 'DB-APP-Rotator-Pending' }, { subject: undefined }), scope)).toMatchObject({ action: 'ignore' });
  });

  it('refuses an event for another vault, wherever the event names it', () => {
    const cases = [
      eventGrid({ ...DATA, VaultName: 'other-kv' }),
      eventGrid({ ...DATA, Id: 'https://other-kv.vault.azure.net/secrets/db-app/ee059b2bb5bc48398a53b168c6cdcb10' }),
      cloudEvent(DATA, { source: TOPIC.replace('sample-kv', 'other-kv') }),
      eventGrid({ ObjectType: 'Secret', ObjectName: 'db-app' }, { topic: 'not-a-vault' }), // names no vault at all
    ];
    for (const event of cases) {
      const error = refusal(event);
      expect(error.code).toBe('INVALID_INPUT');
      expect(error.retryable).toBe(false);
    }
    expect(refusal(cases[0]).message).toContain('for vault other-kv, not this app\'s vault sample-kv');
    // An Id on a host that is not a Key Vault is refused, not trusted.
    expect(refusal(eventGrid({ ...DATA, Id: 'https://sample-kv.evil.example/secrets/db-app' })).code).toBe('INVALID_INPUT');
  });

  it('refuses names that disagree, ObjectType other than Secret, and secrets outside the deployment prefix', () => {
    expect(refusal(eventGrid(DATA, { subject: 'db-other' })).message).toContain('name different secrets');
    expect(refusal(eventGrid({ ...DATA, ObjectType: 'Key' })).message).toContain('data.ObjectType: must be "Secret"');
    expect(refusal(eventGrid(), { vaultName: 'sample-kv', secretPrefix: 'rotated-' }).message).toContain("outside this deployment's name prefix");
    expect(rotate(parseNearExpiryEvent(eventGrid(), { vaultName: 'sample-kv', secretPrefix: 'DB-' })).secretId).toBe('db-app');
  });

  it('refuses hostile names with INVALID_INPUT and never quotes them', () => {
    const hostile = ['db\napp', 'db\u0000app', '../db-app', 'db/app', 'db.app', 'd\u00e9b', 'x'.repeat(128), '', ' ', 'db-app\r\nforged: line', '<img src=x>'];
    for (const name of hostile) {
      const error = refusal(eventGrid({ ...DATA, ObjectName: name, Id: undefined }, { subject: undefined }));
      expect(error.code, JSON.stringify(name)).toBe('INVALID_INPUT');
      expect(error.message).not.toMatch(/[\n\r]/);
      expect(error.message).not.toContain('\u0000');
      if (name.trim().length > 2) expect(error.message).not.toContain(name.trim());
    }
    // The same through the subject and through the Id.
    expect(refusal(eventGrid({ ...DATA, ObjectName: undefined, Id: undefined }, { subject: 'db\napp' })).code).toBe('INVALID_INPUT');
    expect(refusal(eventGrid({ ...DATA, Id: 'https://sample-kv.vault.azure.net/secrets/..%2Fetc/1' })).code).toBe('INVALID_INPUT');
  });

  it('refuses malformed bodies', () => {
    const malformed: unknown[] = [
      null,
      'text',
      42,
      [eventGrid()],
      eventGrid(DATA, { eventType: undefined }),
      eventGrid(DATA, { eventTime: 'yesterday' }),
      eventGrid(DATA, { id: undefined }),
      eventGrid(DATA, { id: 'evt\n1' }),
      cloudEvent(DATA, { specversion: '0.3' }),
      cloudEvent(DATA, { time: undefined }),
      { ...eventGrid(), data: undefined },
      eventGrid([] as unknown as Record<string, unknown>),
      eventGrid({ ...DATA, NBF: 'soon' }),
      eventGrid({ ...DATA, EXP: -1 }),
      eventGrid({ ...DATA, EXP: { $gt: 0 } }),
      eventGrid({ ...DATA, ObjectName: 'db-app', 'ObjectName ': 'db-other' }), // two spellings, two values: ambiguous
      eventGrid({ ...DATA, VaultName: 42 }),
      eventGrid(Object.fromEntries(Array.from({ length: 65 }, (_, i) => [`k${i}`, i]))),
    ];
    for (const [i, event] of malformed.entries()) expect(refusal(event, scope, String(i)).code).toBe('INVALID_INPUT');
    expect(refusal(eventGrid({ ...DATA, ObjectName: 'db-app', 'ObjectName ': 'db-other' })).message).toContain('two keys spell objectname');
  });

  it('keeps a __proto__ key in the data from touching any prototype', () => {
    const data = JSON.parse(`{"__proto__":{"polluted":true},"ObjectType":"Secret","ObjectName":"db-app","VaultName":"sample-kv"}`) as Record<string, unknown>;
    expect(rotate(parseNearExpiryEvent(eventGrid(data), scope)).secretId).toBe('db-app');
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });
});

describe('Azure app settings', () => {
  const env = {
    AZURE_KEY_VAULT_URL: 'https://Sample-KV.vault.azure.net/',
    ROTATOR_LOCK_CONTAINER_URL: 'https://rotatorst1234.blob.core.windows.net/rotator-locks',
    ROTATOR_SECRET_PREFIX: '',
    ROTATION_STRATEGY: 'alternating-users',
    ROTATOR_SAFE_WINDOW: '7d',
    ROTATOR_KEEP_SUPERSEDED: '2',
  };

  it('reads what infra/azure/main.tf sets; an empty prefix means every secret', () => {
    const s = loadAzureSettings(env);
    expect(s).toMatchObject({ vaultUrl: 'https://sample-kv.vault.azure.net', vaultName: 'sample-kv', lockContainerUrl: env.ROTATOR_LOCK_CONTAINER_URL, secretPrefix: undefined });
    expect(s.config.defaultStrategy).toBe('alternating-users');
    expect(s.config.retention).toEqual({ safeWindowMs: 7 * 86_400_000, keepSuperseded: 2 });
    expect(loadAzureSettings({ ...env, ROTATOR_SECRET_PREFIX: 'db-' }).secretPrefix).toBe('db-');
  });

  it('refuses a missing vault, a vault URL that is not a Key Vault, a bad prefix, and a lock URL that is not a blob container or carries a SAS', () => {
    const bad: Array<Record<string, string | undefined>> = [
      { ...env, AZURE_KEY_VAULT_URL: undefined },
      { ...env, AZURE_KEY_VAULT_URL: 'https://sample-kv.evil.example' },
      { ...env, ROTATOR_LOCK_CONTAINER_URL: undefined },
      { ...env, ROTATOR_SECRET_PREFIX: 'db/' },
      { ...env, ROTATION_STRATEGY: 'sometimes' },
    ];
    for (const e of bad) expect(() => loadAzureSettings(e)).toThrow(RotatorError);
    for (const url of [
      'http://rotatorst1234.blob.core.windows.net/rotator-locks',
      'https://rotatorst1234.blob.core.windows.net/rotator-locks?sv=2024&sig=c2VjcmV0c2lnbmF0dXJl',
      'https://rotatorst1234.evil.example/rotator-locks',
      'https://rotatorst1234.blob.core.windows.net/a/b',
      'https://user:pw@rotatorst1234.blob.core.windows.net/rotator-locks',
    ]) {
      const error = (() => {
        try {
          checkLockContainerUrl(url);
        } catch (e) {
          return e as RotatorError;
        }
        throw new Error(`accepted ${url}`);
      })();
      expect(error.code).toBe('INVALID_INPUT');
      expect(error.message).not.toContain('c2VjcmV0c2lnbmF0dXJl');
    }
  });
});

describe('Azure log lines', () => {
  it('start with the message (what the failed-rotation alert matches), carry the fields as JSON, and mask secrets', () => {
    const lines: Array<[string, string]> = [];
    const sink = {
      debug: (line: unknown) => lines.push(['debug', String(line)]),
      info: (line: unknown) => lines.push(['info', String(line)]),
      warn: (line: unknown) => lines.push(['warn', String(line)]),
      error: (line: unknown) => lines.push(['error', String(line)]),
    };
    const redactor = new Redactor();
    redactor.add('Sup3r-Secret-Value');
    const logger = createContextLogger(sink, redactor, 'info').child({ secretId: 'db-app' });
    logger.debug('dropped');
    logger.error('rotation failed: TARGET_AUTH_FAILED', { code: 'TARGET_AUTH_FAILED', password: 'anything', note: 'was Sup3r-Secret-Value' });
    expect(lines).toHaveLength(1);
    const [level, line] = lines[0] ?? ['', ''];
    expect(level).toBe('error');
    expect(line.startsWith('rotation failed: TARGET_AUTH_FAILED {')).toBe(true);
    expect(JSON.parse(line.slice(line.indexOf('{')))).toMatchObject({ secretId: 'db-app', code: 'TARGET_AUTH_FAILED' });
    expect(line).not.toContain('Sup3r-Secret-Value');
    expect(line).not.toContain('anything');
  });
});
