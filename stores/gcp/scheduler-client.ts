import { CloudSchedulerClient } from '@google-cloud/scheduler';
import { RotatorError } from '../../shared/errors.js';

/** What the CloudSchedulerClient constructor takes. */
export type CloudSchedulerClientSettings = NonNullable<ConstructorParameters<typeof CloudSchedulerClient>[0]>;

/**
 * Settings that only a test may use, to reach the local Cloud Scheduler fake. They are never read from the environment
 * or from configuration: a deployed function builds its client without them, so nothing in its settings can send the
 * calls (and the credentials they carry) anywhere but cloudscheduler.googleapis.com.
 */
export interface CloudSchedulerTestOnlyOptions {
  /** Port of a plaintext gRPC server on 127.0.0.1. */
  port: number;
  /**
   * `grpc.credentials.createInsecure()` from the @grpc/grpc-js copy google-gax uses. The test passes it in, so that
   * production code never imports a dev dependency.
   */
  sslCreds: CloudSchedulerClientSettings['sslCreds'];
}

export interface CloudSchedulerClientOptions {
  testOnly?: CloudSchedulerTestOnlyOptions;
}

/** The only universe Rotator runs in; set explicitly, never taken from GOOGLE_CLOUD_UNIVERSE_DOMAIN. */
const UNIVERSE_DOMAIN = 'googleapis.com';

/**
 * Builds the Cloud Scheduler client (gRPC). `universeDomain` is always set: without it the client asks its credentials
 * for the universe first, which on a host that looks like Cloud Run but has no metadata server can hang for minutes.
 * Production uses Application Default Credentials (the function's own service account). Building a client makes no
 * network call; build one per process and inject it.
 */
export function createCloudSchedulerClient(options: CloudSchedulerClientOptions = {}): CloudSchedulerClient {
  const testOnly = options.testOnly;
  if (testOnly === undefined) return new CloudSchedulerClient({ universeDomain: UNIVERSE_DOMAIN });
  if (!Number.isInteger(testOnly.port) || testOnly.port < 1 || testOnly.port > 65_535) {
    throw new RotatorError('INVALID_INPUT', 'the test-only Cloud Scheduler port must be an integer from 1 to 65535');
  }
  return new CloudSchedulerClient({
    universeDomain: UNIVERSE_DOMAIN,
    apiEndpoint: '127.0.0.1',
    port: testOnly.port,
    sslCreds: testOnly.sslCreds,
    // With sslCreds given, gax asks the auth object only for its universe; nothing reaches a metadata server.
    auth: { getUniverseDomain: () => Promise.resolve(UNIVERSE_DOMAIN), getClient: () => Promise.resolve({}) } as unknown as CloudSchedulerClientSettings['auth'],
  });
}
