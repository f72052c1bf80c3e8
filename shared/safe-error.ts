import { RotatorError } from './errors.js';
import { describeError, type Redactor } from './redact.js';

/**
 * What may leave an entry point (a Lambda function, an Azure function): the code, a redacted message and stack, no
 * cause. The runtimes print an error's message and stack, and a driver error kept as a cause may quote what it was
 * sent. Never throws.
 */
export function safeError(error: unknown, redactor: Redactor): RotatorError {
  const described = describeError(error, redactor);
  const message = typeof described.message === 'string' ? described.message : 'unknown error';
  const safe =
    error instanceof RotatorError
      ? new RotatorError(error.code, message, { retryable: error.retryable })
      : new RotatorError('INTERNAL', `unexpected error (${String(described.name)}): ${message}`);
  // The stack was captured from the redacted message; mask it again all the same, it is what gets printed.
  if (typeof safe.stack === 'string') safe.stack = redactor.redact(safe.stack);
  return safe;
}
