import { RotatorError } from '../../shared/errors.js';
import { NETWORK_ERROR_CODES, mappedAlready, messageOf, scrub, type CallErrorContext, type SpecialMeaning } from '../call-errors.js';

/**
 * Google Cloud errors (google-gax over gRPC) mapped to RotatorErrors by their gRPC status code, never by parsing
 * messages. Messages name the call, the resource, the IAM permission the call needs and what to do next; they never
 * carry a secret value (the service does not echo payloads, and `scrub` removes every value the caller passes, should
 * a proxy or a future error text ever echo one). The Secret Manager store maps through `mapSecretManagerError`; other
 * Google clients (Cloud Scheduler) can use `mapGoogleError` with their own service name and permissions.
 */

/** The gRPC status codes, by number (the same table as @grpc/grpc-js's `status`, which only tests depend on). */
export const GRPC_STATUS = {
  OK: 0,
  CANCELLED: 1,
  UNKNOWN: 2,
  INVALID_ARGUMENT: 3,
  DEADLINE_EXCEEDED: 4,
  NOT_FOUND: 5,
  ALREADY_EXISTS: 6,
  PERMISSION_DENIED: 7,
  RESOURCE_EXHAUSTED: 8,
  FAILED_PRECONDITION: 9,
  ABORTED: 10,
  OUT_OF_RANGE: 11,
  UNIMPLEMENTED: 12,
  INTERNAL: 13,
  UNAVAILABLE: 14,
  DATA_LOSS: 15,
  UNAUTHENTICATED: 16,
} as const;

export type GrpcStatusName = keyof typeof GRPC_STATUS;

const NAMES = new Map<number, GrpcStatusName>(Object.entries(GRPC_STATUS).map(([name, code]) => [code, name as GrpcStatusName]));

/** Codes that end by themselves: waiting and trying again may succeed. */
const PASSING: ReadonlySet<GrpcStatusName> = new Set(['UNAVAILABLE', 'DEADLINE_EXCEEDED', 'RESOURCE_EXHAUSTED', 'ABORTED', 'INTERNAL', 'CANCELLED']);

/** What the mapper reads of an error from a Google client (a GoogleError or a grpc-js ServiceError). */
export interface GoogleErrorFacts {
  /** The gRPC status name, when the error carries a known numeric code. */
  status?: GrpcStatusName;
  /** A Node network code (ECONNREFUSED, ...), when the failure happened below gRPC. */
  networkCode?: string;
  /** The service's text (the gRPC details), as the service sent it; scrub before quoting. */
  details?: string;
  name: string;
}

export function googleErrorFacts(error: unknown): GoogleErrorFacts {
  if (error === null || typeof error !== 'object') return { name: 'Error' };
  const e = error as { name?: unknown; code?: unknown; details?: unknown };
  const status = typeof e.code === 'number' ? NAMES.get(e.code) : undefined;
  const networkCode = typeof e.code === 'string' && NETWORK_ERROR_CODES.has(e.code) ? e.code : undefined;
  return {
    name: typeof e.name === 'string' ? e.name : 'Error',
    ...(status === undefined ? {} : { status }),
    ...(networkCode === undefined ? {} : { networkCode }),
    ...(typeof e.details === 'string' ? { details: e.details } : {}),
  };
}

/** The gRPC status name of an error from a Google client, or undefined when it carries none. */
export function grpcStatusOf(error: unknown): GrpcStatusName | undefined {
  return googleErrorFacts(error).status;
}

/** `special` keys are gRPC status names (e.g. FAILED_PRECONDITION) with a meaning specific to this call. */
export interface GoogleErrorContext extends CallErrorContext {
  /** The service, for messages: "Google Secret Manager", "Cloud Scheduler". */
  service: string;
  /** The RPC, e.g. GetSecret; named in messages. */
  operation: string;
  /** The IAM permission the call needs, e.g. secretmanager.secrets.update. */
  permission?: string;
  /** What the call was about, for messages: "secret db-app". */
  subject?: string;
  /** What NOT_FOUND means for this call (default: STORE_IO naming the subject). */
  notFound?: SpecialMeaning;
}

export function mapGoogleError(error: unknown, ctx: GoogleErrorContext): RotatorError {
  const f = googleErrorFacts(error);
  const early = mappedAlready(error, ctx, [f.status]);
  if (early !== undefined) return early;
  const on = ctx.subject === undefined ? '' : ` on ${ctx.subject}`;
  const call = `${ctx.service} ${ctx.operation}${on}`;
  if (f.name === 'AbortError' || f.name === 'TimeoutError') {
    return new RotatorError('STORE_IO', `${call} did not finish before the caller's deadline; retry later`, { retryable: true, cause: error });
  }
  switch (f.status) {
    case 'NOT_FOUND': {
      const meaning = ctx.notFound ?? { code: 'STORE_IO', message: `${call} failed: not found` };
      return new RotatorError(meaning.code, meaning.message, { retryable: meaning.retryable ?? false, cause: error });
    }
    case 'PERMISSION_DENIED':
      return new RotatorError(
        'STORE_IO',
        `${ctx.service} refused ${ctx.operation}${on} (PERMISSION_DENIED): the service account needs ${ctx.permission ?? 'the permission this call requires'} on it (grant a custom role with it; ` +
          'the predefined roles below Admin lack some of the permissions Rotator uses)',
        { cause: error },
      );
    case 'UNAUTHENTICATED':
      return new RotatorError(
        'STORE_IO',
        `${ctx.service} refused the credentials for ${ctx.operation}${on} (UNAUTHENTICATED): check the service account the function runs as ` +
          '(or the application default credentials where it runs locally)',
        { cause: error },
      );
    case 'INVALID_ARGUMENT':
    case 'OUT_OF_RANGE':
      return new RotatorError('INVALID_INPUT', `${ctx.service} rejected ${ctx.operation}${on} (${f.status}): ${scrub(f.details ?? messageOf(error), ctx.scrub)}`, { cause: error });
    case 'ALREADY_EXISTS':
      return new RotatorError('SECRET_EXISTS', `${call} failed: it already exists`, { cause: error });
    case 'FAILED_PRECONDITION':
      return new RotatorError('STORE_IO', `${call} failed (FAILED_PRECONDITION): ${scrub(f.details ?? messageOf(error), ctx.scrub)}`, { cause: error });
    case undefined:
      break;
    default:
      if (PASSING.has(f.status)) {
        return new RotatorError('STORE_IO', `${call} failed after the client's retries (${f.status}); retry later`, { retryable: true, cause: error });
      }
  }
  if (f.networkCode !== undefined) {
    return new RotatorError('STORE_IO', `${call} could not reach the service (${f.networkCode}); retry later`, { retryable: true, cause: error });
  }
  const what = f.status ?? f.name;
  return new RotatorError('INTERNAL', `${call} failed (${what}): ${scrub(f.details ?? messageOf(error), ctx.scrub)}`, { cause: error });
}

/** The IAM permission each Secret Manager call needs. */
export const SECRET_MANAGER_PERMISSIONS = {
  CreateSecret: 'secretmanager.secrets.create',
  GetSecret: 'secretmanager.secrets.get',
  UpdateSecret: 'secretmanager.secrets.update',
  ListSecrets: 'secretmanager.secrets.list',
  AddSecretVersion: 'secretmanager.versions.add',
  GetSecretVersion: 'secretmanager.versions.get',
  AccessSecretVersion: 'secretmanager.versions.access',
  ListSecretVersions: 'secretmanager.versions.list',
  DestroySecretVersion: 'secretmanager.versions.destroy',
} as const;

export type SecretManagerOperation = keyof typeof SECRET_MANAGER_PERMISSIONS;

export interface SecretManagerMapContext extends CallErrorContext {
  operation: SecretManagerOperation;
  secretId?: string;
  /** The version asked for: NOT_FOUND then means VERSION_NOT_FOUND rather than SECRET_NOT_FOUND. */
  version?: string;
}

/** A Secret Manager failure as a RotatorError: NOT_FOUND is SECRET_NOT_FOUND, or VERSION_NOT_FOUND for a version. */
export function mapSecretManagerError(error: unknown, ctx: SecretManagerMapContext): RotatorError {
  const secret = ctx.secretId ?? '(unnamed)';
  const notFound: SpecialMeaning =
    ctx.version === undefined
      ? { code: 'SECRET_NOT_FOUND', message: `secret ${secret} does not exist in Google Secret Manager` }
      : { code: 'VERSION_NOT_FOUND', message: `secret ${secret} has no version ${ctx.version} in Google Secret Manager (or the secret does not exist)` };
  return mapGoogleError(error, {
    ...ctx,
    service: 'Google Secret Manager',
    permission: SECRET_MANAGER_PERMISSIONS[ctx.operation],
    ...(ctx.secretId === undefined ? {} : { subject: `secret ${ctx.secretId}${ctx.version === undefined ? '' : ` version ${ctx.version}`}` }),
    notFound,
  });
}

/** The gRPC status behind an error: its own, or that of the error a RotatorError was mapped from. */
export function causeStatus(error: unknown): GrpcStatusName | undefined {
  return grpcStatusOf(error instanceof RotatorError ? error.cause : error);
}
