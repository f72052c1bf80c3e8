import type { SecretObject } from '../../../shared/secret.js';
import { ProviderHttpError, presentKey, requirePath, stringAt, type HttpClient } from '../http-client.js';
import { masterString, type ApiKeySecret } from '../secret.js';
import { joinUrl, probeResult, type AdminApi, type ListedKey, type ManagedProvider } from './provider.js';

/**
 * SendGrid v3 API keys. The admin credential is an API key with the `api_keys` scope, in the master secret's `key`
 * (or `api_key`). Keys are tested with GET /v3/scopes, which any valid key may call. A `base_url` other than SendGrid's
 * own hosts must be in the master secret's `allowed_origins` (endpoints.ts).
 */
export const SENDGRID_BASE_URL = 'https://api.sendgrid.com';
const NAME = 'sendgrid';

function base(secret: ApiKeySecret): string {
  return secret.base_url ?? SENDGRID_BASE_URL;
}

export const sendgrid: ManagedProvider = {
  endpoints(secret) {
    return [{ field: secret.base_url === undefined ? 'its default API host' : 'base_url', url: base(secret) }];
  },

  admin(secret: ApiKeySecret, master: SecretObject, http: HttpClient, addSecret: (value: string) => void): AdminApi {
    const adminKey = masterString(master, ['key', 'api_key'], 'a SendGrid API key with the api_keys scope');
    addSecret(adminKey);
    const headers = { authorization: presentKey('Bearer', adminKey) };
    const url = (path: string): string => joinUrl(base(secret), path);
    return {
      async list(namePrefix) {
        const operation = 'listing API keys';
        const { json } = await http.ok({ method: 'GET', url: url('/v3/api_keys?limit=500'), headers, operation });
        const result = (json as { result?: unknown } | undefined)?.result;
        if (!Array.isArray(result)) return [];
        return result
          .map((item): ListedKey => ({ id: requirePath(NAME, operation, item, 'api_key_id'), name: stringAt(item, 'name') }))
          .filter((k) => k.name.startsWith(namePrefix));
      },
      async create(name) {
        const operation = 'creating an API key';
        const body = secret.scopes === undefined ? { name } : { name, scopes: secret.scopes };
        const { json } = await http.ok({ method: 'POST', url: url('/v3/api_keys'), headers, body, operation });
        const key = requirePath(NAME, operation, json, 'api_key');
        addSecret(key);
        return { key, id: requirePath(NAME, operation, json, 'api_key_id') };
      },
      async remove(id) {
        const operation = 'deleting an API key';
        const { status } = await http.send({ method: 'DELETE', url: url(`/v3/api_keys/${encodeURIComponent(id)}`), headers, operation });
        if (status === 404) return 'absent';
        if (status < 200 || status > 299) throw new ProviderHttpError(NAME, operation, status);
        return 'deleted';
      },
    };
  },

  async accepts(secret, key, http) {
    const operation = 'testing an API key';
    const { status } = await http.send({
      method: 'GET',
      url: joinUrl(base(secret), '/v3/scopes'),
      headers: { authorization: presentKey('Bearer', key) },
      operation,
    });
    const verdict = probeResult(status);
    if (verdict === undefined) throw new ProviderHttpError(NAME, operation, status);
    return verdict;
  },
};
