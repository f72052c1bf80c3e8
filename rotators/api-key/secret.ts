import * as z from 'zod';
import { CONTROL_CHARACTER_RULE, escapeControl, hasControlCharacter } from '../../shared/control-chars.js';
import { RotatorError } from '../../shared/errors.js';
import { booleanish, validateSecret, type SecretObject } from '../../shared/secret.js';

/**
 * The API-key secret: `{ engine: "api-key", provider, key, key_id?, masterarn?, ... }`. Every key this schema does
 * not know is kept through rotation (the new value is the current one with `key` and `key_id` replaced).
 */
export const API_KEY_ENGINE = 'api-key';
export const PROVIDERS = ['self-issued', 'http', 'sendgrid', 'datadog'] as const;
export type ProviderName = (typeof PROVIDERS)[number];

export const BASE62 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';
export const DEFAULT_KEY_LENGTH = 40;
/** Keys a guesser could enumerate are refused: length * log2(alphabet size) must reach this. */
export const MIN_KEY_BITS = 128;
export const DEFAULT_KEY_NAME_PREFIX = 'rotator-';

const LOOPBACK_HOSTS = new Set(['127.0.0.1', 'localhost', '[::1]']);

export function isLoopbackHost(hostname: string): boolean {
  return LOOPBACK_HOSTS.has(hostname);
}

// Fields that reach a URL, a header or a log refuse control characters: a CR/LF forges log lines or splits
// headers, and the URL parser silently drops tabs and newlines, so what was checked would not be what was written.
const NO_CONTROL = CONTROL_CHARACTER_RULE;
/** A string that refuses control characters. */
const text = (): z.ZodString => z.string().refine((s) => !hasControlCharacter(s), NO_CONTROL);

/** A strict object whose "unknown key" message shows the keys with control characters escaped. */
function strict<T extends z.core.$ZodLooseShape>(shape: T): z.ZodObject<T, z.core.$strict> {
  return z.strictObject(shape, {
    error: (issue) => (issue.code === 'unrecognized_keys' ? `unknown key(s): ${issue.keys.map((k) => `"${escapeControl(k)}"`).join(', ')}` : undefined),
  });
}

/** The scheme://host:port part of a URL as written (up to the first /, ? or #). */
function authorityOf(s: string): string {
  return /^[A-Za-z][A-Za-z0-9+.-]*:\/\/([^/?#]*)/.exec(s)?.[1] ?? s;
}

/**
 * https everywhere; plain http only to loopback (tests, a local sidecar), where nothing crosses a network. Which
 * origins may receive a credential is for the master secret to say (endpoints.ts); this only checks the form.
 */
export const providerUrl = text()
  .refine((s) => !s.includes('\\'), 'must not contain a backslash')
  .refine((s) => !/[{}]/.test(authorityOf(s)), 'placeholders may appear only in the path or query, never in the host')
  .refine((s) => {
    let url: URL;
    try {
      url = new URL(s);
    } catch {
      return false;
    }
    if (url.username !== '' || url.password !== '') return false;
    return url.protocol === 'https:' || (url.protocol === 'http:' && isLoopbackHost(url.hostname));
  }, 'must be an https URL without credentials (http only to 127.0.0.1 or localhost)');

const method = z.enum(['GET', 'POST', 'PUT', 'PATCH', 'DELETE']);
/** A dotted path into a JSON response: `data.key`, `items.0.id`. */
const jsonPath = z.string().regex(/^[A-Za-z0-9_$-]+(\.[A-Za-z0-9_$-]+)*$/, 'must be a dotted path such as data.key');
const headerName = z.string().regex(/^[A-Za-z0-9!#$%&'*+.^_`|~-]{1,64}$/, 'must be an HTTP header name');
const scheme = z.string().regex(/^[A-Za-z0-9._~+/-]{0,32}$/, 'must be an auth scheme such as Bearer, or empty');

/** How a key is presented to the provider: `<header>: <scheme> <key>` (no scheme: the bare key). */
const presentation = strict({
  header: headerName.default('Authorization'),
  scheme: scheme.default('Bearer'),
});

const bodyTemplate = z.record(z.string(), z.unknown());

/** The generic REST provider, described in the secret under `http`. `{{name}}` and `{{id}}` are the placeholders. */
export const httpProviderSchema = strict({
  /** How the admin credential (the master secret's `key`) is sent to create, list and revoke. */
  auth: presentation.default({ header: 'Authorization', scheme: 'Bearer' }),
  create: strict({
    method: method.default('POST'),
    url: providerUrl,
    body: bodyTemplate.optional(),
    keyPath: jsonPath,
    idPath: jsonPath,
  }),
  test: strict({
    method: method.default('GET'),
    url: providerUrl,
    header: headerName.default('Authorization'),
    scheme: scheme.default('Bearer'),
  }),
  revoke: strict({
    method: method.default('DELETE'),
    url: providerUrl.refine((s) => s.includes('{{id}}'), 'must contain the {{id}} placeholder'),
  }),
  /** Without `list`, a createSecret interrupted after the provider minted a key cannot find that key again. */
  list: strict({
    method: method.default('GET'),
    url: providerUrl,
    itemsPath: jsonPath,
    namePath: jsonPath,
    idPath: jsonPath,
    /** Sorts keys by age for revoke_oldest_on_cap; without it the provider's list order is taken as oldest first. */
    createdPath: jsonPath.optional(),
  }).optional(),
});
export type HttpProviderConfig = z.infer<typeof httpProviderSchema>;

const keyNamePrefix = z.string().regex(/^[A-Za-z0-9._-]{1,64}$/, 'must be 1-64 letters, digits, dots, dashes or underscores');
const keyPrefix = z.string().regex(/^[A-Za-z0-9._-]{0,32}$/, 'must be up to 32 letters, digits, dots, dashes or underscores');
const alphabet = z
  .string()
  .min(2)
  .max(256)
  .refine((s) => /^[\x21-\x7e]+$/.test(s), 'must be printable ASCII without spaces')
  .refine((s) => new Set(s).size === s.length, 'must not repeat a character');
const intish = z.union([z.number().int(), z.string().regex(/^\d{1,4}$/, 'must be a whole number').transform(Number)]);

export const apiKeySecretSchema = z
  .looseObject({
    engine: z.literal(API_KEY_ENGINE, { error: () => `must be "${API_KEY_ENGINE}"` }),
    provider: z.enum(PROVIDERS, { error: () => `must be one of ${PROVIDERS.join(', ')}` }),
    // The key is sent in a header; key_id goes into URL paths (a dot segment would move up the path) and masterarn
    // into messages.
    key: text().min(1).max(4096),
    key_id: text()
      .min(1)
      .max(256)
      .refine((s) => s !== '.' && s !== '..', 'must not be "." or ".."')
      .optional(),
    masterarn: text().min(1).optional(),
    base_url: providerUrl.optional(),
    key_name_prefix: keyNamePrefix.optional(),
    revoke_oldest_on_cap: booleanish.optional(),
    /** SendGrid: the scopes of the minted key (the provider's default, full access, when absent). */
    scopes: z.array(text().min(1).max(128)).max(512).optional(),
    key_length: intish.pipe(z.number().int().min(8).max(512)).optional(),
    key_prefix: keyPrefix.optional(),
    key_alphabet: alphabet.optional(),
    http: httpProviderSchema.optional(),
  })
  .superRefine((s, ctx) => {
    if (s.provider !== 'self-issued' && s.masterarn === undefined) {
      ctx.addIssue({ code: 'custom', path: ['masterarn'], message: `required for provider ${s.provider} (the secret holding the admin credential)` });
    }
    if (s.provider === 'http' && s.http === undefined) {
      ctx.addIssue({ code: 'custom', path: ['http'], message: 'required for provider http (create, test and revoke requests)' });
    }
    if (s.provider === 'self-issued') {
      const length = s.key_length ?? DEFAULT_KEY_LENGTH;
      const size = (s.key_alphabet ?? BASE62).length;
      if (length * Math.log2(size) < MIN_KEY_BITS) {
        ctx.addIssue({
          code: 'custom',
          path: ['key_length'],
          message: `with a ${size}-character key_alphabet, key_length must be at least ${Math.ceil(MIN_KEY_BITS / Math.log2(size))} (${MIN_KEY_BITS} bits of randomness)`,
        });
      }
    }
  });

export type ApiKeySecret = z.infer<typeof apiKeySecretSchema>;

export function parseApiKeySecret(value: SecretObject, what: string): ApiKeySecret {
  return validateSecret(apiKeySecretSchema, value, what);
}

export function keyNamePrefixOf(secret: ApiKeySecret): string {
  return secret.key_name_prefix ?? DEFAULT_KEY_NAME_PREFIX;
}

/** The name a minted key carries at the provider: derived from the rotation token, so a retry finds it. */
export function keyNameFor(secret: ApiKeySecret, token: string): string {
  return `${keyNamePrefixOf(secret)}${token}`;
}

/** Reads a string field of the master secret, naming it (never its value) when absent. */
export function masterString(master: SecretObject, keys: readonly string[], what: string): string {
  for (const k of keys) {
    const v = master[k];
    if (typeof v !== 'string' || v.length === 0) continue;
    // It goes into a request header: a CR/LF would split it.
    if (hasControlCharacter(v)) throw new RotatorError('INVALID_SECRET', `the master secret is invalid: ${k}: ${NO_CONTROL}`);
    return v;
  }
  throw new RotatorError('INVALID_SECRET', `the master secret is invalid: ${keys.join(' or ')}: required (${what})`);
}
