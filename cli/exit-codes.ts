import type { ErrorCode } from '../shared/errors.js';
import { RotatorError } from '../shared/errors.js';

/**
 * Exit codes scripts can rely on (after sysexits.h where one fits):
 * 0 done; 1 failed and retrying will not help until something changes (a refused login, a corrupt store);
 * 2 bad arguments or input (fix the command or the secret); 75 temporary failure, retry later (EX_TEMPFAIL);
 * 70 an internal error (a bug: please report it).
 *
 * Fleet commands sum up many secrets in one code, for cron and monitors:
 * - `rotate --due`: 0 every due secret rotated (or none was due); 1 some secret failed for good; 75 none failed for
 *   good, but some failed temporarily or was busy (another run held its rotation lock): the next run picks it up.
 * - `status --check`: 0 healthy; 1 some secret is overdue, its last rotation failed, or it could not be described.
 */
export const EXIT = { OK: 0, FAILED: 1, USAGE: 2, INTERNAL: 70, RETRY: 75 } as const;

/**
 * Thrown by a command that has printed its whole outcome (a fleet report) and only has an exit code left to give:
 * runCli returns `code` and prints nothing more.
 */
export class ExitStatus extends Error {
  constructor(readonly code: number) {
    super(`exit ${code}`);
    this.name = 'ExitStatus';
  }
}

const USAGE_CODES: ReadonlySet<ErrorCode> = new Set<ErrorCode>([
  'INVALID_INPUT',
  'INVALID_SECRET',
  'UNSUPPORTED_ENGINE',
  'SECRET_NOT_FOUND',
  'SECRET_EXISTS',
  'VERSION_NOT_FOUND',
  'NOT_PENDING',
  'STALE_PENDING',
  'ROTATION_DISABLED',
  'PASSWORD_POLICY',
  'CREDENTIAL_MISMATCH',
]);

export function exitCodeFor(error: unknown): number {
  if (!(error instanceof RotatorError)) return EXIT.INTERNAL;
  if (error.retryable) return EXIT.RETRY;
  if (error.code === 'INTERNAL') return EXIT.INTERNAL;
  return USAGE_CODES.has(error.code) ? EXIT.USAGE : EXIT.FAILED;
}
