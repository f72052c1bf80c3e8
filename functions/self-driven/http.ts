import type { ErrorCode, RotatorError } from '../../shared/errors.js';

/**
 * What the "rotate now" HTTP functions (Azure's `rotate`, Google's `rotate`) answer, so a caller sees the same
 * statuses on every cloud. The status says what to do next: 400 INVALID_INPUT (fix the request), 404
 * SECRET_NOT_FOUND, 409 ROTATION_IN_PROGRESS with Retry-After (try again), 409 for a state a person must resolve
 * (rotation disabled, a PENDING that no longer fits, a version conflict), 413 for a body over the limit, 502 when
 * the database, the API provider or the store failed, 500 otherwise. The body is `{"error": {"code", "message"}}`: a
 * redacted message that names ids already checked, never the request's text; JSON, so nothing in it is markup.
 */
export const MAX_BODY_BYTES = 4_096;

const CONFLICTS = new Set<ErrorCode>(['ROTATION_IN_PROGRESS', 'ROTATION_DISABLED', 'STALE_PENDING', 'NOT_PENDING', 'VERSION_CONFLICT']);
const UPSTREAM = new Set<ErrorCode>(['TARGET_AUTH_FAILED', 'TARGET_UNREACHABLE', 'TARGET_TLS', 'TARGET_ERROR', 'STORE_IO', 'STORE_LOCKED']);

export function statusOf(error: RotatorError): number {
  if (error.code === 'INVALID_INPUT') return 400;
  if (error.code === 'SECRET_NOT_FOUND') return 404;
  if (CONFLICTS.has(error.code)) return 409;
  if (UPSTREAM.has(error.code)) return 502;
  return 500;
}

export const JSON_HEADERS = { 'Content-Type': 'application/json; charset=utf-8', 'X-Content-Type-Options': 'nosniff', 'Cache-Control': 'no-store' } as const;

export interface Problem {
  status: number;
  body: { error: { code: ErrorCode; message: string } };
  headers: Record<string, string>;
}

export function problem(status: number, code: ErrorCode, message: string, headers: Record<string, string> = {}): Problem {
  return { status, body: { error: { code, message } }, headers: { ...JSON_HEADERS, ...headers } };
}
