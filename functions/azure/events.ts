import * as z from 'zod';
import { hasControlCharacter } from '../../shared/control-chars.js';
import { RotatorError } from '../../shared/errors.js';
import { KEY_VAULT_DNS_SUFFIXES } from '../../stores/azure/index.js';

/**
 * Key Vault's SecretNearExpiry event, as Event Grid delivers it to the `secretNearExpiry` function, parsed
 * defensively into one decision: rotate this secret, or acknowledge and ignore the event.
 *
 * What it accepts:
 * - **Both envelopes.** The Event Grid schema (`eventType`, `eventTime`, `topic`, `subject`, `data`) and CloudEvents
 *   1.0 (`specversion: "1.0"`, `type`, `time`, `source`, `subject`, `data`; what infra/azure subscribes with).
 * - **Key Vault's data as it really comes.** Keys are PascalCase (`Id`, `VaultName`, `ObjectType`, `ObjectName`,
 *   `Version`, `NBF`, `EXP`), but camelCase is read too, and Microsoft's own sample has keys with stray spaces
 *   (`"ObjectName "`) and values with them (`" ee05..."`), and NBF/EXP as strings: keys are matched trimmed and case
 *   folded, values are trimmed, NBF/EXP may be a number or a string of digits. Two keys that fold to one name with
 *   different values are refused as ambiguous rather than one of them picked.
 *
 * What it refuses (INVALID_INPUT, nothing rotated; the message names the field and never quotes what was sent,
 * except names already checked against Key Vault's grammar):
 * - anything that is not one event object with a string type and a time;
 * - ObjectType other than "Secret", an ObjectName outside Key Vault's grammar `[0-9a-zA-Z-]{1,127}` (so no control
 *   character, "/" or ".." ever reaches the store, a log line or a lock name);
 * - **an event for another vault.** The vault is named up to three times (data.VaultName, the host of data.Id, the
 *   last segment of the topic/source); every name present must be this app's vault, and at least one must be present.
 *   The same for the secret (data.ObjectName, the path of data.Id, the subject): every name present must agree;
 * - a secret outside this deployment's name prefix (the Event Grid subscription filters on it; an event that got
 *   past the filter is a misconfiguration to look at, not work to do).
 *
 * What it ignores (acknowledged, logged): any other event type, and events about the companion
 * `<name>-rotator-pending` secrets in which the Key Vault store keeps PENDING values (they are Rotator's own
 * bookkeeping, never rotated themselves).
 */

export const NEAR_EXPIRY_EVENT_TYPE = 'Microsoft.KeyVault.SecretNearExpiry';
/** The suffix of the companion secret that holds a secret's PENDING value in Key Vault. */
export const PENDING_COMPANION_SUFFIX = '-rotator-pending';
/** Key Vault secret names (docs/architecture.md). */
export const KEY_VAULT_SECRET_NAME = /^[0-9a-zA-Z-]{1,127}$/;
const SECRET_NAME_RULE = 'a Key Vault secret name (1 to 127 letters, digits and dashes)';
/** Key Vault vault names: 3-24 letters, digits and single dashes, starting with a letter. */
const VAULT_NAME = /^[a-zA-Z](?!.*--)[a-zA-Z0-9-]{1,22}[a-zA-Z0-9]$/;
const MAX_KEYS = 64;
/** How the refusals spell the data keys (they are matched folded). */
const DATA_KEYS: Record<string, string> = { objecttype: 'ObjectType', objectname: 'ObjectName', vaultname: 'VaultName', id: 'Id', version: 'Version', nbf: 'NBF', exp: 'EXP' };

export interface EventScope {
  /** This app's vault (AZURE_KEY_VAULT_URL's name). */
  vaultName: string;
  /** ROTATOR_SECRET_PREFIX, when set. */
  secretPrefix?: string | undefined;
}

export type NearExpiryDecision =
  | {
      action: 'rotate';
      secretId: string;
      /** Event Grid's id of the event (the same on every redelivery). */
      eventId: string;
      /** When Key Vault raised it: a CURRENT renewed at or after this time means the event has been dealt with. */
      eventTime: Date;
      schema: 'eventgrid' | 'cloudevents';
      /** Key Vault's id of the version that nears expiry, and when it expires (for the log line). */
      version?: string;
      expiresAt?: Date;
    }
  | { action: 'ignore'; reason: string; eventId?: string; schema: 'eventgrid' | 'cloudevents' };

const text = (max: number) =>
  z
    .string({ error: 'must be a string' })
    .max(max, `must be at most ${max} characters`)
    .refine((s) => !hasControlCharacter(s), 'must not contain control characters');

const envelopeSchema = z.object({
  type: text(256).pipe(z.string().min(1, 'must not be empty')),
  id: text(128).pipe(z.string().min(1, 'must not be empty')),
  time: text(64).transform((s, ctx) => {
    const ms = Date.parse(s.trim());
    if (Number.isNaN(ms)) {
      ctx.addIssue({ code: 'custom', message: 'must be an ISO 8601 time' });
      return z.NEVER;
    }
    return new Date(ms);
  }),
  source: text(1024).optional(),
  subject: text(1024).optional(),
});

/** NBF and EXP: seconds since the epoch, as a number or a string of digits (Microsoft's sample sends strings). */
const epochSeconds = z.union([z.number(), z.string()], { error: 'must be seconds since the epoch' }).transform((v, ctx) => {
  const s = typeof v === 'number' ? String(v) : v.trim();
  if (!/^\d{1,12}$/.test(s)) {
    ctx.addIssue({ code: 'custom', message: 'must be seconds since the epoch' });
    return z.NEVER;
  }
  return new Date(Number(s) * 1000);
});

const trimmed = (max: number) => text(max).transform((s) => s.trim());

const dataSchema = z.object({
  objecttype: trimmed(64).pipe(z.literal('Secret', { error: 'must be "Secret"' })),
  objectname: trimmed(256).pipe(z.string().regex(KEY_VAULT_SECRET_NAME, `must be ${SECRET_NAME_RULE}`)).optional(),
  vaultname: trimmed(64).pipe(z.string().regex(VAULT_NAME, 'must be a Key Vault name (3 to 24 letters, digits and dashes)')).optional(),
  id: trimmed(2048).optional(),
  version: trimmed(64).pipe(z.string().regex(/^[0-9a-zA-Z]{1,64}$/, 'must be a Key Vault version id')).optional(),
  nbf: epochSeconds.optional(),
  exp: epochSeconds.optional(),
});

/** The decision for one delivered event; INVALID_INPUT when it is malformed or must not be acted on. */
export function parseNearExpiryEvent(event: unknown, scope: EventScope): NearExpiryDecision {
  const top = foldKeys(event, 'the event');
  const cloudEvents = top.has('specversion');
  const schema = cloudEvents ? 'cloudevents' : 'eventgrid';
  if (cloudEvents && top.get('specversion') !== '1.0') invalid('specversion: must be "1.0" (CloudEvents 1.0)');
  const pick = (ce: string, eg: string): unknown => top.get(cloudEvents ? ce : eg);
  const envelope = envelopeSchema.safeParse({
    type: pick('type', 'eventtype'),
    id: top.get('id'),
    time: pick('time', 'eventtime'),
    source: pick('source', 'topic'),
    subject: top.get('subject'),
  });
  if (!envelope.success) invalid(problems(envelope.error, cloudEvents ? { type: 'type', time: 'time', source: 'source' } : { type: 'eventType', time: 'eventTime', source: 'topic' }));
  const { type, id: eventId, time: eventTime, source, subject } = envelope.data;
  if (type !== NEAR_EXPIRY_EVENT_TYPE) {
    const shown = /^[A-Za-z0-9.]{1,128}$/.test(type) ? type : 'an unrecognised type';
    return { action: 'ignore', reason: `event type ${shown} is not ${NEAR_EXPIRY_EVENT_TYPE}`, eventId, schema };
  }

  const parsed = dataSchema.safeParse(Object.fromEntries(foldKeys(top.get('data'), 'data')));
  if (!parsed.success) invalid(problems(parsed.error, DATA_KEYS, 'data.'));
  const data = parsed.data;

  // The vault, wherever the event names it: every name present must be ours.
  const fromId = data.id === undefined ? undefined : parseObjectId(data.id);
  const vaults = [data.vaultname, fromId?.vault, source === undefined ? undefined : vaultOfResource(source)].filter((v): v is string => v !== undefined);
  if (vaults.length === 0) invalid('the event names no vault (data.VaultName, data.Id or the topic/source)');
  const other = vaults.find((v) => v.toLowerCase() !== scope.vaultName.toLowerCase());
  if (other !== undefined) {
    invalid(`the event is for vault ${VAULT_NAME.test(other) ? other : '(an invalid name)'}, not this app's vault ${scope.vaultName}: refused`);
  }

  // The secret, wherever the event names it: every name present must agree.
  const subjectName = subject?.trim();
  if (subjectName !== undefined && subjectName !== '' && !KEY_VAULT_SECRET_NAME.test(subjectName)) invalid(`subject: must be ${SECRET_NAME_RULE}`);
  const names = [data.objectname, fromId?.name, subjectName === '' ? undefined : subjectName].filter((n): n is string => n !== undefined);
  const secretId = names[0];
  if (secretId === undefined) invalid('the event names no secret (data.ObjectName, data.Id or the subject)');
  if (names.some((n) => n.toLowerCase() !== secretId.toLowerCase())) invalid('data.ObjectName, data.Id and the subject name different secrets: refused');

  if (secretId.toLowerCase().endsWith(PENDING_COMPANION_SUFFIX)) {
    return { action: 'ignore', reason: `${secretId} is the companion secret that holds a PENDING value, not a secret to rotate`, eventId, schema };
  }
  const prefix = scope.secretPrefix;
  if (prefix !== undefined && !secretId.toLowerCase().startsWith(prefix.toLowerCase())) {
    invalid(`secret ${secretId} is outside this deployment's name prefix ${prefix}: refused`);
  }
  const version = data.version ?? fromId?.version;
  return {
    action: 'rotate',
    secretId,
    eventId,
    eventTime,
    schema,
    ...(version === undefined ? {} : { version }),
    ...(data.exp === undefined ? {} : { expiresAt: data.exp }),
  };
}

/**
 * An object's own keys, trimmed and case folded, into a Map (so no key, `__proto__` included, touches a prototype).
 * Two keys that fold to one with different values are ambiguous and refused.
 */
function foldKeys(node: unknown, what: string): Map<string, unknown> {
  if (node === null || typeof node !== 'object' || Array.isArray(node)) invalid(`${what}: must be one JSON object`);
  const entries = Object.entries(node);
  if (entries.length > MAX_KEYS) invalid(`${what}: has more than ${MAX_KEYS} keys`);
  const folded = new Map<string, unknown>();
  for (const [key, value] of entries) {
    const name = key.trim().toLowerCase();
    if (!folded.has(name)) {
      folded.set(name, value);
      continue;
    }
    const seen = folded.get(name);
    const same = typeof seen === 'string' && typeof value === 'string' ? seen.trim() === value.trim() : Object.is(seen, value);
    // Only names we read can be quoted safely; any other is summarised.
    if (!same) invalid(`${what}: two keys spell ${/^[a-z]{1,32}$/.test(name) ? name : 'one name'} with different values`);
  }
  return folded;
}

/** `https://<vault>.<suffix>/secrets/<name>[/<version>]`; INVALID_INPUT otherwise. */
function parseObjectId(raw: string): { vault: string; name: string; version?: string } {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    return invalid('data.Id: must be the secret URL https://<vault>.vault.azure.net/secrets/<name>/<version>');
  }
  const host = url.hostname.toLowerCase();
  const suffix = KEY_VAULT_DNS_SUFFIXES.find((s) => host.endsWith(`.${s}`));
  const vault = suffix === undefined ? undefined : host.slice(0, -suffix.length - 1);
  const match = /^\/secrets\/([0-9a-zA-Z-]{1,127})(?:\/([0-9a-zA-Z]{1,64}))?\/?$/.exec(url.pathname);
  if (url.protocol !== 'https:' || vault === undefined || !VAULT_NAME.test(vault) || match?.[1] === undefined || url.search !== '' || url.username !== '') {
    return invalid('data.Id: must be the secret URL https://<vault>.vault.azure.net/secrets/<name>/<version>');
  }
  return { vault, name: match[1], ...(match[2] === undefined ? {} : { version: match[2] }) };
}

/** The vault of `/subscriptions/.../providers/Microsoft.KeyVault/vaults/<name>`; undefined for any other source. */
function vaultOfResource(source: string): string | undefined {
  const match = /\/providers\/Microsoft\.KeyVault\/vaults\/([^/]+)\/?$/i.exec(source.trim());
  if (match?.[1] === undefined) return undefined;
  if (!VAULT_NAME.test(match[1])) invalid('the topic/source names an invalid vault');
  return match[1];
}

function problems(error: z.ZodError, names: Record<string, string>, prefix = ''): string {
  return error.issues.map((issue) => `${prefix}${issue.path.map((p) => names[String(p)] ?? String(p)).join('.') || 'event'}: ${issue.message}`).join('; ');
}

function invalid(problem: string): never {
  throw new RotatorError('INVALID_INPUT', `the SecretNearExpiry event is invalid: ${problem}`);
}
