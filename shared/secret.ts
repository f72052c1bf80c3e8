import * as z from 'zod';
import { RotatorError } from './errors.js';

/**
 * Secret values use the AWS RDS secret JSON format, so secrets written for AWS's rotation templates work
 * unchanged. Keys we do not know are kept through rotation: a new version is the current one with only the
 * rotated fields replaced.
 */
export type SecretObject = Record<string, unknown>;

/** Largest value any store accepts (AWS Secrets Manager's limit). */
export const MAX_SECRET_BYTES = 65_536;

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

export const databaseSecretSchema = z.looseObject({
  engine: z.string().min(1),
  // A host with "/" would make a driver use a unix socket, where TLS and the host checks mean nothing.
  host: z
    .string()
    .min(1)
    .max(253)
    .refine((s) => !s.includes('/') && !s.includes('\0'), 'must be a host name or IP address'),
  port: port.optional(),
  username: z.string().min(1),
  password: z.string().min(1).max(4096),
  dbname: z.string().min(1).optional(),
  masterarn: z.string().min(1).optional(),
  ssl: booleanish.optional(),
});

export type DatabaseSecret = z.infer<typeof databaseSecretSchema>;

/** Parses a stored value as a JSON object, naming what is wrong without echoing the value. */
export function parseSecretJson(raw: string, what: string): SecretObject {
  if (Buffer.byteLength(raw, 'utf8') > MAX_SECRET_BYTES) {
    throw new RotatorError('INVALID_SECRET', `${what} is larger than ${MAX_SECRET_BYTES} bytes`);
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
  return parsed as SecretObject;
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
