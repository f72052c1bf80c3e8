import type { SecretObject } from '../../../shared/secret.js';
import type { Endpoint } from '../endpoints.js';
import type { HttpClient } from '../http-client.js';
import type { ApiKeySecret } from '../secret.js';

/** A key as the provider lists it (never with its value). */
export interface ListedKey {
  id: string;
  name: string;
  /** Epoch ms, when the provider reports it; otherwise the list order stands for age. */
  createdAt?: number;
}

export interface MintedKey {
  id: string;
  key: string;
}

/** What the rotator needs from a provider that mints keys through an admin API. */
export interface AdminApi {
  /** Keys whose names start with `namePrefix` (providers that filter on the server get it as a hint), or
   * undefined when the provider cannot list. */
  list(namePrefix: string): Promise<ListedKey[] | undefined>;
  /** Mints a key named `name`; a refusal throws ProviderHttpError (a 4xx may mean the key-count cap). */
  create(name: string): Promise<MintedKey>;
  /** Deletes a key by id: `absent` when the provider no longer has it. */
  remove(id: string): Promise<'deleted' | 'absent'>;
}

export interface ManagedProvider {
  /** Every URL the secret makes this provider call (admin API and test), checked against the allowed origins
   * before the first request. */
  endpoints(secret: ApiKeySecret): Endpoint[];
  /** The admin API, authenticated with the master secret (never with the rotated key). */
  admin(secret: ApiKeySecret, master: SecretObject, http: HttpClient, addSecret: (value: string) => void): AdminApi;
  /** True when the provider accepts `key`, false when it refuses it (401/403); other answers throw. */
  accepts(secret: ApiKeySecret, key: string, http: HttpClient): Promise<boolean>;
}

/** Joins a base URL and a path without doubling or losing the slash. */
export function joinUrl(base: string, path: string): string {
  return base.replace(/\/+$/, '') + path;
}

/** Maps a probe's status: 2xx accepted, 401/403 refused, anything else is not an answer about the key. */
export function probeResult(status: number): boolean | undefined {
  if (status >= 200 && status <= 299) return true;
  if (status === 401 || status === 403) return false;
  return undefined;
}
