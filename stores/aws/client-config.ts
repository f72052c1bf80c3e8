import type { SecretsManagerClientConfig } from '@aws-sdk/client-secrets-manager';

/** How Rotator's AWS SDK clients are built; each client names the environment variable of its own endpoint. */
export interface AwsClientOptions {
  /** Defaults to the client's endpoint variable when set (SECRETS_MANAGER_ENDPOINT, RDS_ENDPOINT), else the SDK's. */
  endpoint?: string;
  /** Defaults to AWS_REGION / AWS_DEFAULT_REGION, else the SDK's own resolution. */
  region?: string;
  /** Total attempts per call including the first (default 3, the SDK's default). */
  maxAttempts?: number;
  credentials?: SecretsManagerClientConfig['credentials'];
  env?: NodeJS.ProcessEnv;
}

/**
 * The SDK's **adaptive** retry mode: it retries throttling and transient errors with backoff and also rate-limits
 * the client on the token bucket it learns from throttling responses, so a purger sweeping many secrets slows down
 * instead of failing. Building a client makes no network call; build it once per container and inject it.
 */
// Annotated so the emitted declaration names only this package's own dependency, not the SDK's internal @smithy types.
export function awsClientConfig(options: AwsClientOptions, endpointEnv: string): Pick<SecretsManagerClientConfig, 'retryMode' | 'maxAttempts' | 'endpoint' | 'region' | 'credentials'> {
  const env = options.env ?? process.env;
  const endpoint = options.endpoint ?? nonEmpty(env[endpointEnv]);
  const region = options.region ?? nonEmpty(env.AWS_REGION) ?? nonEmpty(env.AWS_DEFAULT_REGION);
  return {
    retryMode: 'adaptive',
    maxAttempts: options.maxAttempts ?? 3,
    ...(endpoint === undefined ? {} : { endpoint }),
    ...(region === undefined ? {} : { region }),
    ...(options.credentials === undefined ? {} : { credentials: options.credentials }),
  };
}

function nonEmpty(value: string | undefined): string | undefined {
  return value === undefined || value.length === 0 ? undefined : value;
}
