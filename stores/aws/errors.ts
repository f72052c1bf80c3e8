import { RotatorError, type ErrorCode } from '../../shared/errors.js';
import { NETWORK_ERROR_CODES, mappedAlready, messageOf, scrub, type CallErrorContext } from '../call-errors.js';

/**
 * Secrets Manager errors mapped to RotatorErrors by the error's *name* (what the SDK sets from the service's
 * `__type`), never by parsing its message. Messages name the secret, the IAM action and what to do; they never
 * carry a secret value (the service does not echo request values, and `scrub` removes any the caller passes).
 */

/** Errors worth retrying later: the SDK's adaptive retry has already spent its attempts on them. */
const TRANSIENT = new Set([
  'ThrottlingException',
  'TooManyRequestsException',
  'RequestLimitExceeded',
  'InternalServiceError',
  'InternalFailure',
  'ServiceUnavailable',
  'ServiceUnavailableException',
  'RequestTimeout',
  'RequestTimeoutException',
  'TimeoutError',
  'AbortError',
]);


export function awsErrorName(error: unknown): string {
  if (error !== null && typeof error === 'object' && 'name' in error && typeof error.name === 'string') return error.name;
  return 'Error';
}

/** The Node network error code of a failed call (ECONNRESET, ...), when it is one. */
export function networkCode(error: unknown): string | undefined {
  const code = error !== null && typeof error === 'object' && 'code' in error ? error.code : undefined;
  return typeof code === 'string' && NETWORK_ERROR_CODES.has(code) ? code : undefined;
}

/** `special` keys are error names with a meaning specific to this call, e.g. ResourceExistsException on PutSecretValue. */
export interface MapContext extends CallErrorContext {
  /** The Secrets Manager operation, e.g. GetSecretValue; the IAM action is `secretsmanager:<operation>`. */
  operation: string;
  secretId?: string;
  /** What ResourceNotFoundException means for this call. */
  notFound?: { code: ErrorCode; message: string };
}

export function mapAwsError(error: unknown, ctx: MapContext): RotatorError {
  const name = awsErrorName(error);
  const early = mappedAlready(error, ctx, [name]);
  if (early !== undefined) return early;
  const on = ctx.secretId === undefined ? '' : ` on secret ${ctx.secretId}`;
  if (name === 'ResourceNotFoundException') {
    const nf = ctx.notFound ?? { code: 'SECRET_NOT_FOUND' as const, message: `secret ${ctx.secretId ?? '(unnamed)'} does not exist in AWS Secrets Manager` };
    return new RotatorError(nf.code, nf.message, { cause: error });
  }
  if (name === 'AccessDeniedException' || name === 'UnrecognizedClientException' || name === 'InvalidSignatureException' || name === 'ExpiredTokenException') {
    return new RotatorError(
      'STORE_IO',
      `AWS Secrets Manager refused ${ctx.operation}${on} (${name}): the function's role needs secretsmanager:${ctx.operation} on this secret ` +
        '(check the IAM policy, any resource policy on the secret, and the credentials in use)',
      { cause: error },
    );
  }
  if (name === 'DecryptionFailure') {
    return new RotatorError(
      'STORE_KEY_MISMATCH',
      `AWS KMS could not decrypt${on} during ${ctx.operation}: the role needs kms:Decrypt on the secret's KMS key, and the key must be enabled`,
      { cause: error },
    );
  }
  if (name === 'EncryptionFailure') {
    return new RotatorError('STORE_IO', `AWS KMS could not encrypt${on} during ${ctx.operation}: the role needs kms:GenerateDataKey on the secret's KMS key`, {
      cause: error,
    });
  }
  if (TRANSIENT.has(name) || networkCode(error) !== undefined) {
    return new RotatorError(
      'STORE_IO',
      `AWS Secrets Manager ${ctx.operation}${on} failed after the SDK's retries (${networkCode(error) ?? name}); retry later`,
      { retryable: true, cause: error },
    );
  }
  if (name === 'InvalidParameterException' || name === 'InvalidRequestException' || name === 'ValidationException') {
    return new RotatorError('INVALID_INPUT', `AWS Secrets Manager rejected ${ctx.operation}${on} (${name}): ${scrub(messageOf(error), ctx.scrub)}`, { cause: error });
  }
  return new RotatorError('INTERNAL', `AWS Secrets Manager ${ctx.operation}${on} failed (${name}): ${scrub(messageOf(error), ctx.scrub)}`, { cause: error });
}
