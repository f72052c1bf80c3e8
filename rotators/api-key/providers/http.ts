import { RotatorError } from '../../../shared/errors.js';
import type { SecretObject } from '../../../shared/secret.js';
import { ProviderHttpError, presentKey, readPath, requirePath, stringAt, type HttpClient } from '../http-client.js';
import { masterString, type ApiKeySecret, type HttpProviderConfig } from '../secret.js';
import { probeResult, type AdminApi, type ListedKey, type ManagedProvider } from './provider.js';

/**
 * A generic REST key provider described in the secret under `http` (see secret.ts). The admin credential is the
 * master secret's `key`, sent as `http.auth` says; the rotated key is only ever sent to `http.test`. Every URL must be
 * on an origin the master secret lists in `allowed_origins` (endpoints.ts): the http provider has no default host.
 * Placeholders: `{{name}}` in the create body (and the list URL, as a filter), `{{id}}` in the revoke URL.
 */
const NAME = 'http';

function config(secret: ApiKeySecret): HttpProviderConfig {
  if (secret.http === undefined) throw new RotatorError('INVALID_SECRET', 'the secret is invalid: http: required for provider http');
  return secret.http;
}

/** Replaces `{{name}}` in every string of a JSON template (keys stay as written). */
export function fillTemplate(template: unknown, values: Record<string, string>): unknown {
  if (typeof template === 'string') return template.replace(/\{\{(\w+)\}\}/g, (whole, name: string) => values[name] ?? whole);
  if (Array.isArray(template)) return template.map((item) => fillTemplate(item, values));
  if (template !== null && typeof template === 'object') {
    return Object.fromEntries(Object.entries(template).map(([k, v]) => [k, fillTemplate(v, values)]));
  }
  return template;
}

function fillUrl(url: string, values: Record<string, string>): string {
  return url.replace(/\{\{(\w+)\}\}/g, (whole, name: string) => {
    const value = values[name];
    return value === undefined ? whole : encodeURIComponent(value);
  });
}

export const httpProvider: ManagedProvider = {
  endpoints(secret) {
    const c = config(secret);
    return [
      { field: 'http.create.url', url: c.create.url },
      { field: 'http.test.url', url: c.test.url },
      { field: 'http.revoke.url', url: c.revoke.url },
      ...(c.list === undefined ? [] : [{ field: 'http.list.url', url: c.list.url }]),
    ];
  },

  admin(secret: ApiKeySecret, master: SecretObject, http: HttpClient, addSecret: (value: string) => void): AdminApi {
    const c = config(secret);
    const adminKey = masterString(master, ['key'], 'the admin credential of the http provider');
    addSecret(adminKey);
    const headers = { [c.auth.header.toLowerCase()]: presentKey(c.auth.scheme, adminKey) };
    return {
      async list(namePrefix) {
        const list = c.list;
        if (list === undefined) return undefined;
        const operation = 'listing API keys';
        const { json } = await http.ok({ method: list.method, url: fillUrl(list.url, { name: namePrefix }), headers, operation });
        const items = readPath(json, list.itemsPath);
        if (!Array.isArray(items)) {
          throw new RotatorError('TARGET_ERROR', `${NAME}: ${operation}: the response has no list at "${list.itemsPath}"; check http.list.itemsPath`);
        }
        return items
          .map((item, index): ListedKey => {
            const created = list.createdPath === undefined ? undefined : readPath(item, list.createdPath);
            const createdAt = typeof created === 'number' ? created : typeof created === 'string' ? Date.parse(created) : index;
            return {
              id: requirePath(NAME, operation, item, list.idPath),
              name: stringAt(item, list.namePath),
              createdAt: Number.isNaN(createdAt) ? index : createdAt,
            };
          })
          .filter((k) => k.name.startsWith(namePrefix));
      },
      async create(name) {
        const operation = 'creating an API key';
        const body = c.create.body === undefined ? undefined : fillTemplate(c.create.body, { name });
        const { json } = await http.ok({ method: c.create.method, url: fillUrl(c.create.url, { name }), headers, body, operation });
        const key = requirePath(NAME, operation, json, c.create.keyPath);
        addSecret(key);
        return { key, id: requirePath(NAME, operation, json, c.create.idPath) };
      },
      async remove(id) {
        const operation = 'deleting an API key';
        const { status } = await http.send({ method: c.revoke.method, url: fillUrl(c.revoke.url, { id }), headers, operation });
        if (status === 404 || status === 410) return 'absent';
        if (status < 200 || status > 299) throw new ProviderHttpError(NAME, operation, status);
        return 'deleted';
      },
    };
  },

  async accepts(secret, key, http) {
    const { test } = config(secret);
    const operation = 'testing an API key';
    const { status } = await http.send({ method: test.method, url: test.url, headers: { [test.header.toLowerCase()]: presentKey(test.scheme, key) }, operation });
    const verdict = probeResult(status);
    if (verdict === undefined) throw new ProviderHttpError(NAME, operation, status);
    return verdict;
  },
};
