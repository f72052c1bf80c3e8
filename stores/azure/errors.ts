import { RotatorError } from '../../shared/errors.js';
import { AZURE_NETWORK_ERROR_CODES, mappedAlready, messageOf, scrub, type CallErrorContext } from '../call-errors.js';

/**
 * Key Vault errors mapped to RotatorErrors by HTTP status and the service's error code (`RestError.code`, and the
 * inner code in `details.error.innerError`), never by parsing messages. Messages name the secret, the data action
 * the identity needs and what to do next; they never carry a secret value (the service does not echo request
 * values, and `scrub` removes any the caller passes, should a proxy ever echo one).
 */

/** 409s that end by themselves: a delete or recover of the same name still under way. */
const PASSING_CONFLICTS = new Set(['ObjectIsBeingDeleted', 'ObjectIsBeingRecovered']);

/** What the mapper reads of an error from @azure/keyvault-secrets (a RestError) or @azure/identity. */
export interface KeyVaultErrorFacts {
  name: string;
  statusCode?: number;
  /** The service's error code (SecretNotFound, Forbidden, BadParameter, Throttled, ...) or a Node network code. */
  code?: string;
  /** The service's inner error code (SecretDisabled, ObjectIsDeletedButRecoverable, ForbiddenByRbac, ...). */
  innerCode?: string;
}

export function keyVaultErrorFacts(error: unknown): KeyVaultErrorFacts {
  if (error === null || typeof error !== 'object') return { name: 'Error' };
  const e = error as { name?: unknown; statusCode?: unknown; code?: unknown; details?: unknown };
  const details = e.details as { error?: { innerError?: { code?: unknown }; innererror?: { code?: unknown } } } | undefined;
  const inner = details?.error?.innerError?.code ?? details?.error?.innererror?.code;
  return {
    name: typeof e.name === 'string' ? e.name : 'Error',
    ...(typeof e.statusCode === 'number' ? { statusCode: e.statusCode } : {}),
    ...(typeof e.code === 'string' ? { code: e.code } : {}),
    ...(typeof inner === 'string' ? { innerCode: inner } : {}),
  };
}

/** True when Key Vault refused to read a version because it is disabled (403 Forbidden / SecretDisabled). */
export function isSecretDisabled(error: unknown): boolean {
  const f = keyVaultErrorFacts(error);
  return f.statusCode === 403 && f.innerCode === 'SecretDisabled';
}

/** `special` keys are service or inner codes with a meaning specific to this call. */
export interface KeyVaultMapContext extends CallErrorContext {
  /** The SecretClient call, e.g. getSecret; named in messages. */
  operation: string;
  /** The data action the call needs, e.g. `secrets/getSecret/action` (Microsoft.KeyVault/vaults/ is implied). */
  dataAction?: string;
  secretName?: string;
  /** The version asked for: a 404 then means VERSION_NOT_FOUND rather than SECRET_NOT_FOUND. */
  version?: string;
}

export function mapKeyVaultError(error: unknown, ctx: KeyVaultMapContext): RotatorError {
  const f = keyVaultErrorFacts(error);
  const early = mappedAlready(error, ctx, [f.innerCode, f.code]);
  if (early !== undefined) return early;
  const secret = ctx.secretName ?? '(unnamed)';
  const on = ctx.secretName === undefined ? '' : ` on secret ${ctx.secretName}`;
  const needs = `Microsoft.KeyVault/vaults/${ctx.dataAction ?? 'secrets/*'}`;

  if (f.statusCode === 404) {
    if (ctx.version !== undefined) {
      return new RotatorError('VERSION_NOT_FOUND', `secret ${secret} has no version ${ctx.version} in Azure Key Vault (or the secret does not exist)`, { cause: error });
    }
    return new RotatorError('SECRET_NOT_FOUND', `secret ${secret} does not exist in Azure Key Vault (a deleted secret is gone until it is recovered)`, { cause: error });
  }
  if (f.statusCode === 403 && f.innerCode === 'SecretDisabled') {
    // Key Vault does not fall back to an older version: a disabled latest version breaks every versionless reader.
    const which = ctx.version === undefined ? 'its latest version' : `version ${ctx.version}`;
    return new RotatorError('VERSION_NOT_FOUND', `secret ${secret}: ${which} is disabled (SecretDisabled), so Key Vault refuses to return its value`, { cause: error });
  }
  if (f.statusCode === 409 && f.innerCode === 'ObjectIsDeletedButRecoverable') {
    return new RotatorError(
      'SECRET_EXISTS',
      `secret ${secret} is deleted but recoverable (soft delete), so its name cannot be reused: recover it ` +
        `(az keyvault secret recover --name ${secret}) or, if it must go, purge it`,
      { cause: error },
    );
  }
  if (f.statusCode === 401 || f.statusCode === 403) {
    const why = f.innerCode ?? f.code ?? String(f.statusCode);
    const fix =
      f.statusCode === 401
        ? "the vault refused the identity's token: check that the credential belongs to the vault's tenant"
        : why === 'ForbiddenByConnection' || why === 'ForbiddenByFirewall'
          ? "the vault's firewall refused the connection: allow the function's network (or use a private endpoint)"
          : `the identity needs ${needs} on this vault (a role assignment, or an access policy on vaults that use them)`;
    return new RotatorError('STORE_IO', `Azure Key Vault refused ${ctx.operation}${on} (${why}): ${fix}`, { cause: error });
  }
  if (f.name === 'CredentialUnavailableError' || f.name === 'AuthenticationError' || f.name === 'AggregateAuthenticationError') {
    // Their text describes each credential tried; it carries no secret but is long and host-specific: name only.
    return new RotatorError(
      'STORE_IO',
      `no Azure credential could get a token for ${ctx.operation}${on} (${f.name}): give the function a managed identity, ` +
        'or set AZURE_CLIENT_ID for a user-assigned one',
      { cause: error },
    );
  }
  if (isChallengeMismatch(error)) {
    return new RotatorError(
      'STORE_IO',
      `Azure Key Vault ${ctx.operation}${on}: the server's authentication challenge named another resource than the vault, so no token was sent; check the vault URL`,
      { cause: error },
    );
  }
  if (f.statusCode === 429 || (f.statusCode !== undefined && f.statusCode >= 500) || (f.statusCode === 409 && f.innerCode !== undefined && PASSING_CONFLICTS.has(f.innerCode)) || isNetwork(f)) {
    return new RotatorError(
      'STORE_IO',
      `Azure Key Vault ${ctx.operation}${on} failed after the SDK's retries (${f.code ?? f.statusCode ?? f.name}); retry later`,
      { retryable: true, cause: error },
    );
  }
  if (f.statusCode === 400) {
    return new RotatorError('INVALID_INPUT', `Azure Key Vault rejected ${ctx.operation}${on} (${f.innerCode ?? f.code ?? 'BadParameter'}): ${scrub(messageOf(error), ctx.scrub)}`, {
      cause: error,
    });
  }
  const what = f.statusCode === undefined ? f.name : `${f.statusCode} ${f.code ?? ''}`.trim();
  return new RotatorError('INTERNAL', `Azure Key Vault ${ctx.operation}${on} failed (${what}): ${scrub(messageOf(error), ctx.scrub)}`, { cause: error });
}

function isNetwork(f: KeyVaultErrorFacts): boolean {
  return f.statusCode === undefined && f.code !== undefined && AZURE_NETWORK_ERROR_CODES.has(f.code);
}

/** The SDK's own error when a 401 challenge names a resource the vault's host does not belong to. */
function isChallengeMismatch(error: unknown): boolean {
  return error instanceof Error && /challenge resource .* does not match the requested domain/.test(error.message);
}
