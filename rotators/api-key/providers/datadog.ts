import type { SecretObject } from '../../../shared/secret.js';
import { ProviderHttpError, readPath, requirePath, stringAt, type HttpClient } from '../http-client.js';
import { masterString, type ApiKeySecret } from '../secret.js';
import { joinUrl, probeResult, type AdminApi, type ListedKey, type ManagedProvider } from './provider.js';

/**
 * Datadog API keys (v2). The admin credential is an API key plus an application key allowed to manage API keys, in
 * the master secret's `api_key` (or `key`) and `application_key` (or `app_key`). Keys are tested with
 * GET /api/v1/validate. Sites other than US1 set `base_url` (https://api.datadoghq.eu, ...); any other host must be in
 * the master secret's `allowed_origins` (endpoints.ts).
 */
export const DATADOG_BASE_URL = 'https://api.datadoghq.com';
const NAME = 'datadog';
/** The largest page Datadog serves; a prefix filter keeps the list to this rotator's keys. */
const PAGE_SIZE = 100;

function base(secret: ApiKeySecret): string {
  return secret.base_url ?? DATADOG_BASE_URL;
}

export const datadog: ManagedProvider = {
  endpoints(secret) {
    return [{ field: secret.base_url === undefined ? 'its default API host' : 'base_url', url: base(secret) }];
  },

  admin(secret: ApiKeySecret, master: SecretObject, http: HttpClient, addSecret: (value: string) => void): AdminApi {
    const apiKey = masterString(master, ['api_key', 'key'], 'a Datadog API key');
    const appKey = masterString(master, ['application_key', 'app_key'], 'a Datadog application key with api_keys_write');
    addSecret(apiKey);
    addSecret(appKey);
    const headers = { 'dd-api-key': apiKey, 'dd-application-key': appKey };
    const url = (path: string): string => joinUrl(base(secret), path);
    return {
      async list(namePrefix) {
        const operation = 'listing API keys';
        const query = new URLSearchParams({ filter: namePrefix, sort: 'created_at', 'page[size]': String(PAGE_SIZE) });
        const { json } = await http.ok({ method: 'GET', url: url(`/api/v2/api_keys?${query.toString()}`), headers, operation });
        const data = (json as { data?: unknown } | undefined)?.data;
        if (!Array.isArray(data)) return [];
        return data
          .map((item): ListedKey => {
            const created = readPath(item, 'attributes.created_at');
            const createdAt = typeof created === 'string' ? Date.parse(created) : NaN;
            return {
              id: requirePath(NAME, operation, item, 'id'),
              name: stringAt(item, 'attributes.name'),
              ...(Number.isNaN(createdAt) ? {} : { createdAt }),
            };
          })
          .filter((k) => k.name.startsWith(namePrefix));
      },
      async create(name) {
        const operation = 'creating an API key';
        const body = { data: { type: 'api_keys', attributes: { name } } };
        const { json } = await http.ok({ method: 'POST', url: url('/api/v2/api_keys'), headers, body, operation });
        const key = requirePath(NAME, operation, json, 'data.attributes.key');
        addSecret(key);
        return { key, id: requirePath(NAME, operation, json, 'data.id') };
      },
      async remove(id) {
        const operation = 'deleting an API key';
        const { status } = await http.send({ method: 'DELETE', url: url(`/api/v2/api_keys/${encodeURIComponent(id)}`), headers, operation });
        if (status === 404) return 'absent';
        if (status < 200 || status > 299) throw new ProviderHttpError(NAME, operation, status);
        return 'deleted';
      },
    };
  },

  async accepts(secret, key, http) {
    const operation = 'validating an API key';
    const { status } = await http.send({ method: 'GET', url: joinUrl(base(secret), '/api/v1/validate'), headers: { 'dd-api-key': key }, operation });
    const verdict = probeResult(status);
    if (verdict === undefined) throw new ProviderHttpError(NAME, operation, status);
    return verdict;
  },
};
