import { SecretManagerServiceClient } from '@google-cloud/secret-manager';
import { RotatorError } from '../../shared/errors.js';

/** What the SecretManagerServiceClient constructor takes (google-gax's ClientOptions). */
export type SecretManagerClientConstructorOptions = NonNullable<ConstructorParameters<typeof SecretManagerServiceClient>[0]>;

/**
 * The universe every client is pinned to. Without it the client asks its auth library for the universe, which on a
 * host that looks like Cloud Run but has no metadata server can wait for minutes before the first call; with it the
 * endpoint is always `secretmanager.googleapis.com`.
 */
export const GOOGLE_UNIVERSE_DOMAIN = 'googleapis.com';

/** Project ids: 6-30 characters of lower-case letters, digits and hyphens, starting with a letter, not ending with a hyphen. */
const PROJECT_ID = /^[a-z][a-z0-9-]{4,28}[a-z0-9]$/;
const LOOPBACK_HOSTS = new Set(['127.0.0.1', '::1', '[::1]', 'localhost']);

/**
 * Settings that only a test may use, to reach the local Secret Manager fake: a loopback endpoint in plain text and an
 * auth object that never asks a metadata server. They are never read from the environment or from configuration: a
 * deployed function builds its client without them, so no setting can send our credentials to another server.
 */
export interface SecretManagerTestOnlyOptions {
  /** 127.0.0.1, ::1 or localhost; anything else is refused. */
  apiEndpoint: string;
  port: number;
  /** Plain-text channel credentials (`grpc.credentials.createInsecure()` from the @grpc/grpc-js copy google-gax uses). */
  sslCreds: SecretManagerClientConstructorOptions['sslCreds'];
  /** An auth object that answers `getUniverseDomain` and `getClient` without a metadata server. */
  auth: SecretManagerClientConstructorOptions['auth'];
}

export interface SecretManagerClientOptions {
  /** The project whose secrets the client reads (checked against Google's grammar of project ids). */
  projectId: string;
  testOnly?: SecretManagerTestOnlyOptions;
}

/**
 * Builds the SecretManagerServiceClient for one project: gRPC to Google's public endpoint (`fallback: false`: the
 * REST fallback reports HTTP codes instead of gRPC codes, which the error mapping reads), the universe pinned, and
 * credentials from the environment's default (the function's service account on Cloud Run). Building a client makes
 * no network call; build one per project and inject it.
 */
export function createSecretManagerClient(options: SecretManagerClientOptions): SecretManagerServiceClient {
  const projectId = checkProjectId(options.projectId);
  const base: SecretManagerClientConstructorOptions = { projectId, universeDomain: GOOGLE_UNIVERSE_DOMAIN, fallback: false };
  const testOnly = options.testOnly;
  if (testOnly === undefined) return new SecretManagerServiceClient(base);
  if (!LOOPBACK_HOSTS.has(testOnly.apiEndpoint)) {
    throw new RotatorError('INVALID_INPUT', 'the test-only Secret Manager endpoint must be on loopback (127.0.0.1, ::1 or localhost)');
  }
  if (!Number.isInteger(testOnly.port) || testOnly.port <= 0 || testOnly.port > 65_535) {
    throw new RotatorError('INVALID_INPUT', 'the test-only Secret Manager port must be a TCP port number');
  }
  return new SecretManagerServiceClient({ ...base, apiEndpoint: testOnly.apiEndpoint, port: testOnly.port, sslCreds: testOnly.sslCreds, auth: testOnly.auth });
}

/** The project id, or INVALID_INPUT naming Google's rule (never echoing what was given). */
export function checkProjectId(projectId: unknown): string {
  if (typeof projectId !== 'string' || !PROJECT_ID.test(projectId)) {
    throw new RotatorError(
      'INVALID_INPUT',
      'the Google Cloud project id is invalid: use 6 to 30 characters of lower-case letters, digits and hyphens, starting with a letter and not ending with a hyphen',
    );
  }
  return projectId;
}
