import { DefaultAzureCredential, ManagedIdentityCredential } from '@azure/identity';
import { SecretClient, type SecretClientOptions } from '@azure/keyvault-secrets';
import { RotatorError } from '../../shared/errors.js';

/** The credential a SecretClient takes: anything with `getToken` (the @azure/identity credentials, a test stub). */
export type KeyVaultCredential = ConstructorParameters<typeof SecretClient>[1];

/**
 * DNS suffixes of the Key Vault data plane in each Azure cloud (public, China, US Government, Germany). A vault URL
 * is `https://<vault-name>.<suffix>`; any other host could be someone else's server collecting our bearer tokens.
 */
export const KEY_VAULT_DNS_SUFFIXES = ['vault.azure.net', 'vault.azure.cn', 'vault.usgovcloudapi.net', 'vault.microsoftazure.de'] as const;

/** The REST API version the client speaks, pinned so an SDK update cannot silently change the wire protocol. */
export const KEY_VAULT_API_VERSION = '2025-07-01';

/** Vault names: 3-24 characters, letters, digits and single hyphens, starting with a letter. */
const VAULT_NAME = /^[a-z](?!.*--)[a-z0-9-]{1,22}[a-z0-9]$/i;
const LOOPBACK_HOSTS = new Set(['127.0.0.1', '[::1]', 'localhost']);

export interface KeyVaultRetryOptions {
  /** Retries after the first attempt for throttling (429), 5xx and network errors (default 3, the SDK's). */
  maxRetries?: number;
  /** Base of the exponential backoff (default 800 ms, the SDK's). */
  retryDelayInMs?: number;
  /** Cap of one backoff step (default 64 s, the SDK's). */
  maxRetryDelayInMs?: number;
}

/**
 * Settings that only a test may use, to reach the local Key Vault fake. They are never read from the environment or
 * from configuration: a deployed function builds its client without them, so a vault URL from config cannot turn
 * them on.
 */
export interface KeyVaultTestOnlyOptions {
  /** Allow https://127.0.0.1, https://[::1] and https://localhost as the vault URL. */
  allowLoopback?: boolean;
  /** PEM of the CA that signed the fake's certificate. */
  ca?: string | Buffer;
  /**
   * Skip the SDK's check that the 401 challenge's resource (vault.azure.net) matches the vault's host. Production
   * keeps it: together with the host allow-list it stops a token from going to a host that is not a vault.
   */
  disableChallengeResourceVerification?: boolean;
}

export interface KeyVaultClientOptions {
  /** `https://<vault-name>.vault.azure.net` (or the suffix of another Azure cloud). */
  vaultUrl: string;
  /** Default: see `defaultKeyVaultCredential`. */
  credential?: KeyVaultCredential;
  /** Where the credential choice reads AZURE_CLIENT_ID and friends (default process.env; DefaultAzureCredential itself always reads process.env). */
  env?: NodeJS.ProcessEnv;
  retry?: KeyVaultRetryOptions;
  testOnly?: KeyVaultTestOnlyOptions;
}

/**
 * Builds the SecretClient for one vault after checking that the URL names a Key Vault: https, a host
 * `<vault-name>.<Azure Key Vault suffix>`, no credentials, path, query or fragment. This is the "redirected endpoint"
 * rule: a vault URL taken from configuration must not send our tokens anywhere else. Building a client makes no
 * network call (the first request gets the 401 challenge); build one per vault and inject it.
 */
export function createKeyVaultClient(options: KeyVaultClientOptions): SecretClient {
  const testOnly = options.testOnly ?? {};
  const vaultUrl = checkVaultUrl(options.vaultUrl, testOnly.allowLoopback === true);
  const credential = options.credential ?? defaultKeyVaultCredential(options.env ?? process.env);
  const clientOptions: SecretClientOptions = {
    serviceVersion: KEY_VAULT_API_VERSION,
    retryOptions: {
      maxRetries: options.retry?.maxRetries ?? 3,
      ...(options.retry?.retryDelayInMs === undefined ? {} : { retryDelayInMs: options.retry.retryDelayInMs }),
      ...(options.retry?.maxRetryDelayInMs === undefined ? {} : { maxRetryDelayInMs: options.retry.maxRetryDelayInMs }),
    },
    ...(testOnly.disableChallengeResourceVerification === true ? { disableChallengeResourceVerification: true } : {}),
    ...(testOnly.ca === undefined ? {} : { tlsOptions: { ca: testOnly.ca } }),
  };
  return new SecretClient(vaultUrl, credential, clientOptions);
}

/**
 * The credential used when none is passed in.
 *
 * AZURE_CLIENT_ID alone (no client secret, certificate or federated token file beside it) names a user-assigned
 * managed identity: we then use ManagedIdentityCredential for exactly that identity, so a missing or misassigned
 * identity fails loudly instead of DefaultAzureCredential trying the rest of its chain (environment, workload
 * identity, then developer tools such as the Azure CLI) and acting as whoever happens to be logged in on the host.
 * Otherwise DefaultAzureCredential: the Function App's system-assigned identity in Azure, a service principal from
 * AZURE_CLIENT_SECRET / certificate, workload identity, or a developer's `az login` locally.
 */
export function defaultKeyVaultCredential(env: NodeJS.ProcessEnv = process.env): KeyVaultCredential {
  const clientId = nonEmpty(env.AZURE_CLIENT_ID);
  const servicePrincipal = [env.AZURE_CLIENT_SECRET, env.AZURE_CLIENT_CERTIFICATE_PATH, env.AZURE_FEDERATED_TOKEN_FILE].some((v) => nonEmpty(v) !== undefined);
  if (clientId !== undefined && !servicePrincipal) return new ManagedIdentityCredential({ clientId });
  return new DefaultAzureCredential();
}

/** The vault URL, normalised to its origin, or INVALID_INPUT naming what is wrong (never echoing userinfo). */
export function checkVaultUrl(raw: string, allowLoopback = false): string {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new RotatorError('INVALID_INPUT', 'the Key Vault URL is not a valid URL: expected https://<vault-name>.vault.azure.net');
  }
  if (url.protocol !== 'https:') {
    throw new RotatorError('INVALID_INPUT', `the Key Vault URL must use https, not ${url.protocol.replace(/:$/, '')}: bearer tokens never travel in plain text`);
  }
  if (url.username !== '' || url.password !== '') throw new RotatorError('INVALID_INPUT', 'the Key Vault URL must not carry a user name or password');
  if ((url.pathname !== '/' && url.pathname !== '') || url.search !== '' || url.hash !== '') {
    throw new RotatorError('INVALID_INPUT', `the Key Vault URL must be the vault's origin only (https://${url.host}), without a path, query or fragment`);
  }
  const host = url.hostname.toLowerCase();
  if (allowLoopback && LOOPBACK_HOSTS.has(host)) return url.origin;
  const suffix = KEY_VAULT_DNS_SUFFIXES.find((s) => host.endsWith(`.${s}`));
  const name = suffix === undefined ? undefined : host.slice(0, -suffix.length - 1);
  if (name === undefined || !VAULT_NAME.test(name) || url.port !== '') {
    throw new RotatorError(
      'INVALID_INPUT',
      `the Key Vault URL's host ${url.host} is not a Key Vault: expected https://<vault-name>.<${KEY_VAULT_DNS_SUFFIXES.join(' | ')}> ` +
        'with the default port, so a token for the vault is never sent to another server',
    );
  }
  return url.origin;
}

function nonEmpty(value: string | undefined): string | undefined {
  return value === undefined || value.trim() === '' ? undefined : value;
}
