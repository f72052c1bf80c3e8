import * as z from 'zod';
import { CONTROL_CHARACTER_RULE, hasControlCharacter } from './control-chars.js';
import { RotatorError } from './errors.js';
import { secretIdSchema } from './secret-id.js';

/**
 * Secret values use the AWS RDS secret JSON format, so secrets written for AWS's rotation templates work
 * unchanged. Keys we do not know are kept through rotation: a new version is the current one with only the
 * rotated fields replaced.
 */
export type SecretObject = Record<string, unknown>;

/** Largest value any store accepts (AWS Secrets Manager's limit); each store declares its own (maxValueBytes). */
export const MAX_SECRET_BYTES = 65_536;

/**
 * The refinement every string that reaches a server or a log from a secret or event goes through: no NUL (which
 * ends a string in the PostgreSQL startup packet, so `dbname` could smuggle in a `user` parameter), no CR/LF (log
 * forging), no other control, separator or bidi character (see control-chars.ts). The message names the rule only;
 * validateSecret prefixes the key, and zod never quotes the input.
 */
export function noControlCharacters<T extends z.ZodType<string>>(schema: T): T {
  return schema.refine((s) => !hasControlCharacter(s), CONTROL_CHARACTER_RULE);
}

/** A NUL would end the password early in the drivers' wire formats; other characters are the password's own. */
export const NO_NUL_RULE = 'must not contain a NUL character';
const password = z.string().min(1).max(4096).refine((s) => !s.includes('\0'), NO_NUL_RULE);

/** `ssl` arrives as a boolean or, in hand-written secrets, as "true"/"false". */
export const booleanish = z.union([
  z.boolean(),
  z
    .string()
    .regex(/^(true|false)$/i, 'must be true or false')
    .transform((s) => s.toLowerCase() === 'true'),
]);

/** Ports are numbers in RDS-made secrets and strings in many hand-written ones. */
const port = z.union([
  z.number().int().min(1).max(65_535),
  z
    .string()
    .regex(/^\d{1,5}$/, 'must be a port number')
    .transform(Number)
    .pipe(z.number().int().min(1).max(65_535)),
]);

/**
 * Hosts are ASCII names or IP literals. A "/" would make a driver use a unix socket, where TLS and the host checks
 * mean nothing; non-ASCII look-alikes (full-width digits, Cyrillic letters) are mapped by IDNA to some other host
 * than the one a reviewer reads, so international names must be written in punycode.
 */
const HOST = /^[A-Za-z0-9_.:%[\]-]+$/;
const HOST_RULE = 'must be a host name or IP address in ASCII (write international names in punycode, xn--...)';

/** Bounds on the connection fields: generous for real names, small enough that nothing downstream balloons. */
export const MAX_USERNAME_LENGTH = 256;
export const MAX_DBNAME_LENGTH = 256;

export const databaseSecretSchema = z.looseObject({
  engine: noControlCharacters(z.string().min(1).max(64)),
  host: noControlCharacters(z.string().min(1).max(253)).refine((s) => HOST.test(s), HOST_RULE),
  port: port.optional(),
  username: noControlCharacters(z.string().min(1).max(MAX_USERNAME_LENGTH)),
  password,
  dbname: noControlCharacters(z.string().min(1).max(MAX_DBNAME_LENGTH)).optional(),
  masterarn: secretIdSchema.optional(),
  ssl: booleanish.optional(),
});

export type DatabaseSecret = z.infer<typeof databaseSecretSchema>;

/**
 * Parses a stored value as a JSON object, naming what is wrong without echoing the value. `maxBytes` is the
 * store's limit (SecretStore.maxValueBytes); the size is checked before anything parses the text.
 */
export function parseSecretJson(raw: string, what: string, maxBytes: number = MAX_SECRET_BYTES): SecretObject {
  if (Buffer.byteLength(raw, 'utf8') > maxBytes) {
    throw new RotatorError('INVALID_SECRET', `${what} is larger than ${maxBytes} bytes, the store's limit`);
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(raw);
  } catch {
    throw new RotatorError('INVALID_SECRET', `${what} is not valid JSON; store it in the RDS secret JSON format`);
  }
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) {
    throw new RotatorError('INVALID_SECRET', `${what} must be a JSON object in the RDS secret JSON format`);
  }
  const polluting = prototypeKey(parsed);
  if (polluting !== undefined) {
    throw new RotatorError('INVALID_SECRET', `${what} is invalid: it has a key named "${polluting}", which could change the prototype of objects copied from it; remove that key`);
  }
  return parsed as SecretObject;
}

/**
 * JSON.parse makes "__proto__" an ordinary own key, but any spread, merge or schema that copies the object by
 * assignment turns it into the copy's prototype: `{"__proto__": {"ssl": false}}` would then read as `ssl: false`.
 * No secret format uses these names, so a value that has one at any depth is refused.
 */
const PROTOTYPE_KEYS: ReadonlySet<string> = new Set(['__proto__', 'constructor', 'prototype']);

function prototypeKey(root: unknown): string | undefined {
  // Iterative: a 64 KiB value can nest tens of thousands of levels deep.
  const pending: unknown[] = [root];
  for (let node = pending.pop(); node !== undefined; node = pending.pop()) {
    if (node === null || typeof node !== 'object') continue;
    for (const [key, child] of Object.entries(node)) {
      if (PROTOTYPE_KEYS.has(key)) return key;
      pending.push(child);
    }
  }
  return undefined;
}

/** Validates with a zod schema and turns issues into one message listing each bad key (never its value). */
export function validateSecret<T extends z.ZodType>(schema: T, value: SecretObject, what: string): z.infer<T> {
  const result = schema.safeParse(value);
  if (result.success) return result.data;
  const problems = result.error.issues.map((issue) => {
    const key = issue.path.length > 0 ? issue.path.join('.') : '(value)';
    return issue.code === 'invalid_type' && issue.input === undefined ? `${key}: required` : `${key}: ${issue.message}`;
  });
  throw new RotatorError('INVALID_SECRET', `${what} is invalid: ${problems.join('; ')}`);
}
