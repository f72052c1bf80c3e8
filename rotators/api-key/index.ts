import { RotatorError } from '../../shared/errors.js';
import type { RandomInt } from '../../shared/password.js';
import { runCheck, skipCheck, type CreatePendingInput, type PreflightCheck, type PreflightInput, type RevokeInput, type RevokeOutcome, type Rotator, type RotatorContext, type SetInput } from '../../shared/rotator.js';
import type { SecretObject } from '../../shared/secret.js';
import type { Strategy } from '../../shared/store.js';
import { checkEndpoints } from './endpoints.js';
import { createHttpClient, ProviderHttpError, type FetchLike, type HttpClient } from './http-client.js';
import { datadog } from './providers/datadog.js';
import { httpProvider } from './providers/http.js';
import type { AdminApi, ListedKey, ManagedProvider, MintedKey } from './providers/provider.js';
import { drawKey, matchesFormat, selfIssuedFormat } from './providers/self-issued.js';
import { sendgrid } from './providers/sendgrid.js';
import { API_KEY_ENGINE, keyNameFor, keyNamePrefixOf, parseApiKeySecret, type ApiKeySecret, type ProviderName } from './secret.js';

export { ALLOWED_ORIGINS_KEY, OFFICIAL_ORIGINS } from './endpoints.js';
export { API_KEY_ENGINE, PROVIDERS, apiKeySecretSchema, parseApiKeySecret, type ApiKeySecret, type ProviderName } from './secret.js';
export { createApiKeyVerifier, type ApiKeyVerifier, type ApiKeyVerifierOptions } from './verifier.js';

/**
 * API keys, one at a time (`single-user`): each rotation mints a new key and leaves the old one valid until the
 * purger retires its version after the safe window and revoke() deletes it at the provider. That overlap is the
 * zero-downtime scheme: consumers holding the old key keep working until they have re-read the secret.
 *
 * Minting happens in createPending (createSecret), before the value is stored, so a minted key must never be lost:
 * - each key is named after the rotation token (`rotator-<token>`); a createSecret that runs again for the same token
 *   only does so because the earlier attempt stored nothing, so a key with that name is one nobody holds and is
 *   deleted before the new one is minted;
 * - when the store refuses the value, the engine calls discardPending, which deletes the key just minted.
 *
 * Where requests go is the master secret's call, not the rotated secret's (endpoints.ts): every step that holds the
 * master (createSecret, discardPending, setSecret, revoke) refuses a secret naming another origin before its first
 * request, and its HTTP client refuses any other origin again as it sends. works() and test() get no master; they
 * send only the PENDING key to the PENDING value's own URLs, which createSecret checked when it minted that key
 * (a version's value never changes), and never the admin credential.
 */
// Logs name the provider, never a key id: ids sit next to key values in the secret, and the leak canary treats
// every string under a key-like name as secret.
export interface ApiKeyRotatorOptions {
  /** Per-request timeout, ms (default 10 000). */
  timeoutMs?: number;
  /** Injected for tests; global fetch otherwise. */
  fetch?: FetchLike;
  /** Random source for self-issued keys (node:crypto's randomInt by default). */
  random?: RandomInt;
}

export const DEFAULT_TIMEOUT_MS = 10_000;

const MANAGED: Record<Exclude<ProviderName, 'self-issued'>, ManagedProvider> = {
  http: httpProvider,
  sendgrid,
  datadog,
};

/** Create refusals that may mean "at the key-count cap" (401 is an auth failure, 429 a rate limit). */
function isCreationRefusal(error: unknown): error is ProviderHttpError {
  return error instanceof ProviderHttpError && error.status >= 400 && error.status < 500 && error.status !== 401 && error.status !== 429;
}

function capError(provider: string, status: number, detail: string): RotatorError {
  return new RotatorError(
    'TARGET_ERROR',
    `${provider}: the provider refused to create an API key (HTTP ${status}); it is probably at its key-count cap, or the admin credential may not create keys. ${detail}`,
  );
}

export function createApiKeyRotator(options: ApiKeyRotatorOptions = {}): Rotator {
  const timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;

  const client = (provider: string, ctx: RotatorContext, allowedOrigins?: ReadonlySet<string>): HttpClient =>
    createHttpClient({ provider, timeoutMs, signal: ctx.signal, allowedOrigins, ...(options.fetch === undefined ? {} : { fetch: options.fetch }) });

  const managed = (secret: ApiKeySecret): ManagedProvider | undefined => (secret.provider === 'self-issued' ? undefined : MANAGED[secret.provider]);

  /** The origins `secret` may send to under `master`; throws INVALID_SECRET, before any request, for any other. */
  const allowedFor = (secret: ApiKeySecret, master: SecretObject, what: string): ReadonlySet<string> => {
    const provider = managed(secret);
    if (provider === undefined) throw new RotatorError('INTERNAL', 'self-issued keys have no endpoints');
    return checkEndpoints(secret, provider.endpoints(secret), master, what);
  };

  const adminApi = (secret: ApiKeySecret, master: SecretObject, ctx: RotatorContext, allowed: ReadonlySet<string>): AdminApi => {
    const provider = managed(secret);
    if (provider === undefined) throw new RotatorError('INTERNAL', 'self-issued keys have no admin API');
    return provider.admin(secret, master, client(secret.provider, ctx, allowed), (value) => ctx.logger.redactor.add(value));
  };

  /** Asks the provider whether it takes the secret's key; `allowed` limits the origins when a master is at hand. */
  const accepts = async (secret: ApiKeySecret, ctx: RotatorContext, allowed?: ReadonlySet<string>): Promise<boolean> => {
    const provider = managed(secret);
    if (provider === undefined) return matchesFormat(secret.key, selfIssuedFormat(secret));
    ctx.logger.redactor.add(secret.key);
    return provider.accepts(secret, secret.key, client(secret.provider, ctx, allowed));
  };

  /** Mints `name`; on a cap refusal with revoke_oldest_on_cap, deletes the oldest rotator key that is not CURRENT's and retries once. */
  const mint = async (secret: ApiKeySecret, api: AdminApi, name: string, ctx: RotatorContext): Promise<MintedKey> => {
    try {
      return await api.create(name);
    } catch (error) {
      if (!isCreationRefusal(error)) throw error;
      if (secret.revoke_oldest_on_cap !== true) {
        throw capError(secret.provider, error.status, 'Delete unused keys at the provider, or set "revoke_oldest_on_cap": true in the secret.');
      }
      const prefix = keyNamePrefixOf(secret);
      const listed = await api.list(prefix);
      if (listed === undefined) throw capError(secret.provider, error.status, 'revoke_oldest_on_cap needs http.list to find the oldest key.');
      const victim = oldest(listed.filter((k) => k.id !== secret.key_id && k.name !== name));
      if (victim === undefined) {
        throw capError(secret.provider, error.status, `No key named "${prefix}..." other than the current one can be deleted to make room.`);
      }
      await api.remove(victim.id);
      ctx.logger.warn('deleted the oldest rotator key to make room under the key-count cap (revoke_oldest_on_cap)', { provider: secret.provider });
      try {
        return await api.create(name);
      } catch (retry) {
        if (isCreationRefusal(retry)) throw capError(secret.provider, retry.status, 'It refused again after the oldest rotator key was deleted.');
        throw retry;
      }
    }
  };

  /**
   * The preflight (`rotate --dry-run`): nothing is minted or deleted. With a managed provider: the secret's URLs are
   * checked against the master's allowed origins first (nothing is sent before), the admin credential lists keys
   * (where the provider can list), and the CURRENT key gets the provider's test call. A self-issued key is only
   * checked against its format.
   */
  const preflight = async (input: PreflightInput, ctx: RotatorContext): Promise<PreflightCheck[]> => {
    const secret = parseApiKeySecret(input.current, 'the CURRENT value');
    if (managed(secret) === undefined) {
      return [
        skipCheck('endpoints', 'self-issued keys call no provider'),
        skipCheck('master-login', 'self-issued keys have no admin credential'),
        await runCheck('provider-accepts', () => {
          if (!matchesFormat(secret.key, selfIssuedFormat(secret))) throw new RotatorError('INVALID_SECRET', 'the CURRENT key does not match key_prefix, key_length and key_alphabet');
          return 'the CURRENT key has the format of its self-issued keys (there is no provider to ask)';
        }),
      ];
    }
    const { master } = input;
    if (master === undefined) {
      return (['endpoints', 'master-login', 'provider-accepts'] as const).map((id) =>
        skipCheck(id, "not tried: without the master secret the secret's URLs cannot be checked (see that check)"),
      );
    }
    let allowed: ReadonlySet<string> | undefined;
    const endpoints = await runCheck('endpoints', () => {
      allowed = allowedFor(secret, master.value, 'the preflight');
      return "every URL the secret names is at an origin the master secret allows";
    });
    if (allowed === undefined) return [endpoints, ...(['master-login', 'provider-accepts'] as const).map((id) => skipCheck(id, 'not tried: the endpoints check failed'))];
    const origins = allowed;
    return [
      endpoints,
      await runCheck('master-login', async () => {
        const listed = await adminApi(secret, master.value, ctx, origins).list(keyNamePrefixOf(secret));
        if (listed === undefined) return { status: 'skip', reason: `${secret.provider}: the provider cannot list keys, so the admin credential is first used by createSecret` };
        return `${secret.provider} accepts the admin credential (it listed ${listed.length} key(s) named by the rotator)`;
      }),
      await runCheck('provider-accepts', async () => {
        if (!(await accepts(secret, ctx, origins))) throw new RotatorError('TARGET_AUTH_FAILED', `${secret.provider}: the provider refuses the CURRENT key`);
        return `${secret.provider} accepts the CURRENT key (its test call)`;
      }),
    ];
  };

  const rotator: Rotator = {
    engines: [API_KEY_ENGINE],
    strategies: ['single-user'] satisfies Strategy[],
    defaultExcludeCharacters: '',

    validate(value, what) {
      parseApiKeySecret(value, what);
    },

    masterSecretId(current) {
      return current.provider !== 'self-issued' && typeof current.masterarn === 'string' ? current.masterarn : undefined;
    },

    async createPending(input: CreatePendingInput, ctx: RotatorContext): Promise<SecretObject> {
      const secret = parseApiKeySecret(input.current, 'the CURRENT value');
      const next: SecretObject = { ...input.current };
      if (managed(secret) === undefined) {
        const key = drawKey(selfIssuedFormat(secret), options.random);
        ctx.logger.redactor.add(key);
        next.key = key;
        return next;
      }
      const master = await input.readMaster();
      const api = adminApi(secret, master, ctx, allowedFor(secret, master, 'createSecret'));
      const name = keyNameFor(secret, input.token);
      // A key already named for this token was minted by an attempt whose value never reached the store: nobody holds it.
      const leftovers = (await api.list(name))?.filter((k) => k.name === name) ?? [];
      for (const leftover of leftovers) {
        await api.remove(leftover.id);
        ctx.logger.warn('deleted a key an interrupted createSecret had minted and never stored', { provider: secret.provider });
      }
      const minted = await mint(secret, api, name, ctx);
      ctx.logger.redactor.add(minted.key);
      ctx.logger.debug('minted a new API key', { provider: secret.provider });
      next.key = minted.key;
      next.key_id = minted.id;
      return next;
    },

    async discardPending(pending: SecretObject, input: CreatePendingInput, ctx: RotatorContext): Promise<void> {
      const secret = parseApiKeySecret(pending, 'the unstored pending value');
      if (managed(secret) === undefined || secret.key_id === undefined || secret.key_id === input.current.key_id) return;
      const master = await input.readMaster();
      const outcome = await adminApi(secret, master, ctx, allowedFor(secret, master, 'discarding an unstored key')).remove(secret.key_id);
      ctx.logger.debug('deleted the key minted for a value the store did not take', { provider: secret.provider, outcome });
    },

    async works(pending, ctx) {
      return accepts(parseApiKeySecret(pending, 'the PENDING value'), ctx);
    },

    async set(input: SetInput, ctx: RotatorContext): Promise<void> {
      // createSecret minted the key; set only runs when the provider does not accept it, and a key cannot be re-minted
      // with the value already stored.
      const secret = parseApiKeySecret(input.pending, 'the PENDING value');
      const allowed = managed(secret) === undefined || input.master === undefined ? undefined : allowedFor(secret, input.master, 'setSecret');
      if (await accepts(secret, ctx, allowed)) return;
      if (managed(secret) === undefined) {
        throw new RotatorError('INVALID_SECRET', 'the PENDING key does not match key_prefix, key_length and key_alphabet; cancel this rotation (rotator secrets cancel-rotation) and start a new one');
      }
      throw new RotatorError(
        'TARGET_AUTH_FAILED',
        `${secret.provider}: the provider refuses the key minted for this rotation (deleted at the provider?); it cannot be minted again with the stored value: cancel the rotation (rotator secrets cancel-rotation) and rotate again`,
      );
    },

    async test(pending, ctx) {
      const secret = parseApiKeySecret(pending, 'the PENDING value');
      if (await accepts(secret, ctx)) return;
      if (managed(secret) === undefined) {
        throw new RotatorError('INVALID_SECRET', 'the PENDING key does not match key_prefix, key_length and key_alphabet');
      }
      throw new RotatorError('TARGET_AUTH_FAILED', `${secret.provider}: the provider refuses the PENDING key`);
    },

    async revoke(input: RevokeInput, ctx: RotatorContext): Promise<RevokeOutcome> {
      const retired = parseApiKeySecret(input.retired, 'the retired value');
      // The verifier stops accepting a self-issued key once its version leaves the store; nothing to tell anyone.
      if (managed(retired) === undefined) return 'not-needed';
      const keep = [input.current, input.pending].filter((v): v is SecretObject => v !== undefined);
      if (keep.some((v) => v.key === retired.key || (retired.key_id !== undefined && v.key_id === retired.key_id))) return 'not-needed';
      ctx.logger.redactor.add(retired.key);
      if (input.master === undefined) throw new RotatorError('INVALID_SECRET', 'the secret names no master secret ("masterarn") to revoke keys with');
      // The retired version's URLs are checked like any others: an old version may be one somebody else wrote.
      const allowed = allowedFor(retired, input.master, 'revoking a retired key');
      if (retired.key_id === undefined) {
        // A hand-made first key carries no id: revoke only has a problem when the provider still accepts it.
        if (!(await accepts(retired, ctx, allowed))) return 'not-needed';
        throw new RotatorError(
          'TARGET_ERROR',
          `${retired.provider}: the retired key is still accepted and its version has no key_id to delete it by; delete it at the provider by hand, then purge again`,
        );
      }
      const outcome = await adminApi(retired, input.master, ctx, allowed).remove(retired.key_id);
      ctx.logger.info('revoked a retired API key', { provider: retired.provider, outcome });
      return outcome === 'deleted' ? 'revoked' : 'not-needed';
    },

    preflight,
  };
  return rotator;
}

/** The oldest key: by creation time when every key has one, else the provider's list order. */
function oldest(keys: readonly ListedKey[]): ListedKey | undefined {
  if (keys.every((k) => k.createdAt !== undefined)) {
    return [...keys].sort((a, b) => (a.createdAt ?? 0) - (b.createdAt ?? 0))[0];
  }
  return keys[0];
}
