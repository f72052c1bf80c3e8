import { randomBytes, randomInt } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { createServer, type Server } from 'node:https';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { SecretClient } from '@azure/keyvault-secrets';
import { createKeyVaultClient, type KeyVaultClientOptions, type KeyVaultCredential } from '../../../stores/azure/client.js';
import {
  KEY_VAULT_MAX_TAG_NAME as MAX_TAG_NAME,
  KEY_VAULT_MAX_TAG_VALUE as MAX_TAG_VALUE,
  KEY_VAULT_MAX_TAGS as MAX_TAGS,
  KEY_VAULT_MAX_VALUE_BYTES as MAX_VALUE_BYTES,
} from '../../../stores/azure/limits.js';
import { createTestCertificates } from '../../support/tls.js';

/**
 * A fake Azure Key Vault (secrets data plane, REST API 2025-07-01) over HTTPS on 127.0.0.1, so the real
 * `SecretClient` of @azure/keyvault-secrets talks to it through its whole pipeline: TLS (a throwaway CA from
 * test/support/tls.ts), the bearer challenge, paging by nextLink, and errors deserialized into RestErrors.
 *
 * It enforces what the Key Vault store relies on, as the service documents and behaves:
 * - the challenge: a request without `Authorization` gets 401 with
 *   `WWW-Authenticate: Bearer authorization="https://login.microsoftonline.com/<tenant>", resource="https://vault.azure.net"`
 *   (the SDK sends the first request of a client without token and body); a token other than the fake's is 401 too;
 * - `api-version` is required and must be one the service knows;
 * - names match `^[0-9a-zA-Z-]{1,127}$` and are case-insensitive; a value is at most 25,600 bytes; a version has at
 *   most 15 tags, names up to 512 and values up to 256 characters; contentType up to 255: otherwise 400 BadParameter;
 * - PUT creates a version with a server-assigned 32-hex id; `created`/`updated` are whole Unix seconds;
 * - "latest" (`GET /secrets/{name}/`) is the newest version by creation even when it is disabled, and then the answer
 *   is 403 Forbidden / SecretDisabled: the service never falls back to an older version. A disabled version read by
 *   id is the same 403. `nbf` and `exp` are informational and hide nothing;
 * - PATCH changes attributes (enabled, nbf, exp), tags and contentType of one version (the latest on the versionless
 *   path); it never changes the value and never creates a version. Tags are per version and never inherited;
 * - version lists come in no guaranteed order (shuffled by default; `seed` makes the order repeatable), a stable
 *   order per version so that paging by absolute `nextLink` (a marker token) neither repeats nor skips; lists never carry values;
 * - soft delete: DELETE moves the secret to the deleted state (reads are 404 SecretNotFound, reusing the name is
 *   409 Conflict / ObjectIsDeletedButRecoverable) until it is recovered or purged;
 * - 404 SecretNotFound for unknown secrets and versions.
 */

export const KEY_VAULT_FAKE_TENANT = '00000000-0000-4000-8000-00000000f4ce';
/** The service's limits, shared with the Key Vault store (stores/azure/limits.ts) so the two never disagree. */
export {
  KEY_VAULT_MAX_VALUE_BYTES as MAX_VALUE_BYTES,
  KEY_VAULT_MAX_TAGS as MAX_TAGS,
  KEY_VAULT_MAX_TAG_NAME as MAX_TAG_NAME,
  KEY_VAULT_MAX_TAG_VALUE as MAX_TAG_VALUE,
} from '../../../stores/azure/limits.js';
const MAX_CONTENT_TYPE = 255;
/** The service's largest (and default) page. */
const MAX_PAGE = 25;
const NAME = /^[0-9a-zA-Z-]{1,127}$/;
const VERSION = /^[0-9a-f]{32}$/;
const API_VERSIONS = new Set(['7.0', '7.1', '7.2', '7.3', '7.4', '7.5', '7.6', '2025-07-01']);
const RECOVERABLE_DAYS = 90;

export type KeyVaultOperation =
  | 'SetSecret'
  | 'GetSecret'
  | 'UpdateSecret'
  | 'GetSecretVersions'
  | 'GetSecrets'
  | 'DeleteSecret'
  | 'GetDeletedSecret'
  | 'GetDeletedSecrets'
  | 'PurgeDeletedSecret'
  | 'RecoverDeletedSecret'
  | 'Unknown';

export interface KeyVaultRequest {
  operation: KeyVaultOperation;
  method: string;
  /** The URL path (secret names and version ids; never a value). */
  path: string;
  apiVersion: string | null;
  /** Whether the request carried no token, the fake's token, or another one. */
  auth: 'none' | 'valid' | 'invalid';
  /** Whether it had a body: the SDK's challenge request goes without one. */
  hadBody: boolean;
  status?: number;
}

export interface KeyVaultFailure {
  operation: KeyVaultOperation;
  /** HTTP status of the injected error (e.g. 429, 500, 503, 403). */
  status: number;
  /** The error code (default by status: Throttled, InternalServerError, ServiceUnavailable, Forbidden, ...). */
  code?: string;
  innerCode?: string;
  /** How many matching requests fail (default 1). */
  times?: number;
}

export interface KeyVaultFakeOptions {
  /** The bearer token the fake accepts (default: a random one). */
  token?: string;
  tenantId?: string;
  /** The clock for created/updated/deletedDate (default: the real one). */
  clock?: () => Date;
  /** Items per page when the request has no `maxresults` (default 25, the service's maximum). */
  pageSize?: number;
  /** `shuffled` (default): version lists in no order the client may rely on; `created`: oldest first. */
  versionOrder?: 'shuffled' | 'created';
  /** Makes the shuffled order repeatable. */
  seed?: number;
}

/** A version as the fake holds it. `value` stays inside: tests read it through the client. */
interface Version {
  id: string;
  value: string;
  contentType?: string;
  tags?: Record<string, string>;
  enabled: boolean;
  nbf?: number;
  exp?: number;
  created: number;
  updated: number;
  /** Creation order, the tie-break within one second. */
  seq: number;
  /** The position in version lists: random unless versionOrder is `created`. */
  listKey: number;
}

interface Secret {
  name: string;
  versions: Version[];
  deletedDate?: number;
}

/** What a test may inspect of a secret: everything but values. */
export interface KeyVaultVersionView {
  id: string;
  enabled: boolean;
  created: number;
  updated: number;
  tags: Record<string, string>;
  nbf?: number;
  exp?: number;
}

export interface KeyVaultFake {
  /** `https://127.0.0.1:<port>` */
  readonly vaultUrl: string;
  /** PEM of the CA that signed the fake's certificate: the client's `testOnly.ca`. */
  readonly ca: string;
  /** The token the fake accepts. */
  readonly token: string;
  /** Every request received, in order (challenges and retries included). */
  readonly requests: KeyVaultRequest[];
  /** Every `getToken` call of credentials made by `credential()`. */
  readonly tokenRequests: { scopes: string[]; tenantId?: string }[];
  /** A credential handing out `token` (default: the fake's own). */
  credential(token?: string): KeyVaultCredential;
  /** The real SecretClient through createKeyVaultClient, with the test-only options the fake needs. */
  client(options?: Partial<KeyVaultClientOptions>): SecretClient;
  /** Authenticated requests for `operation` (or all) since the last reset; 401 challenges are not counted. */
  count(operation?: KeyVaultOperation): number;
  counts(): Partial<Record<KeyVaultOperation, number>>;
  resetCounts(): void;
  /** Makes the next matching authenticated request(s) fail. */
  fail(failure: KeyVaultFailure): void;
  /** The versions of a secret in creation order, without values (undefined when unknown or deleted). */
  versions(name: string): KeyVaultVersionView[] | undefined;
  close(): Promise<void>;
}

class KvError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly innerCode?: string,
  ) {
    super(message);
  }
}

const badParameter = (message: string) => new KvError(400, 'BadParameter', message);
const notFound = (what: string) =>
  new KvError(404, 'SecretNotFound', `A secret with (name/id) ${what} was not found in this key vault. If you recently deleted this secret you may be able to recover it using the correct recovery command.`);

const DEFAULT_CODES: Record<number, string> = { 400: 'BadParameter', 401: 'Unauthorized', 403: 'Forbidden', 404: 'NotFound', 409: 'Conflict', 429: 'Throttled', 500: 'InternalServerError', 503: 'ServiceUnavailable' };

type Reply = { status: number; body?: unknown; headers?: Record<string, string> };

export async function startKeyVaultFake(options: KeyVaultFakeOptions = {}): Promise<KeyVaultFake> {
  const dir = await mkdtemp(join(tmpdir(), 'rotator-kv-fake-'));
  const certs = await createTestCertificates(dir);
  const [ca, cert, key] = await Promise.all([readFile(certs.caFile, 'utf8'), readFile(certs.certFile), readFile(certs.keyFile)]);
  const token = options.token ?? `kv-fake-token-${randomBytes(12).toString('hex')}`;
  const tenantId = options.tenantId ?? KEY_VAULT_FAKE_TENANT;
  const requests: KeyVaultRequest[] = [];
  const tokenRequests: { scopes: string[]; tenantId?: string }[] = [];
  let failures: KeyVaultFailure[] = [];
  let since = 0;

  const server: Server = createServer({ cert, key }, (req, res) => {
    void handle(req, res);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const vaultUrl = `https://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const vault = new FakeVault(vaultUrl, options);

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const raw = Buffer.concat(chunks).toString('utf8');
    const url = new URL(req.url ?? '/', vaultUrl);
    const method = req.method ?? 'GET';
    const header = req.headers.authorization;
    const entry: KeyVaultRequest = {
      operation: operationOf(method, url.pathname),
      method,
      path: url.pathname,
      apiVersion: url.searchParams.get('api-version'),
      auth: header === undefined ? 'none' : header === `Bearer ${token}` ? 'valid' : 'invalid',
      hadBody: raw.length > 0,
    };
    requests.push(entry);
    let reply: Reply;
    try {
      reply = dispatch(entry, method, url, raw);
    } catch (error) {
      reply =
        error instanceof KvError
          ? { status: error.status, body: { error: { code: error.code, message: error.message, ...(error.innerCode === undefined ? {} : { innererror: { code: error.innerCode } }) } } }
          : { status: 500, body: { error: { code: 'InternalServerError', message: `the fake failed: ${error instanceof Error ? error.message : String(error)}` } } };
    }
    entry.status = reply.status;
    const text = reply.body === undefined ? '' : JSON.stringify(reply.body);
    res.writeHead(reply.status, {
      ...(text === '' ? {} : { 'content-type': 'application/json; charset=utf-8' }),
      'content-length': String(Buffer.byteLength(text)),
      'x-ms-request-id': randomBytes(16).toString('hex'),
      'x-ms-keyvault-service-version': '1.9.0.0',
      ...reply.headers,
    });
    res.end(text);
  }

  function dispatch(entry: KeyVaultRequest, method: string, url: URL, raw: string): Reply {
    if (entry.auth !== 'valid') {
      // As the service does: every 401 carries the challenge, so a client can (re)authenticate.
      const message = entry.auth === 'none' ? 'AKV10000: Request is missing a Bearer or PoP token.' : 'AKV10032: Invalid issuer or token. The token is not valid for this vault.';
      return {
        status: 401,
        body: { error: { code: 'Unauthorized', message } },
        headers: { 'www-authenticate': `Bearer authorization="https://login.microsoftonline.com/${tenantId}", resource="https://vault.azure.net"` },
      };
    }
    if (entry.apiVersion === null) throw badParameter('The api-version query parameter is required.');
    if (!API_VERSIONS.has(entry.apiVersion)) throw badParameter(`The specified api-version ${entry.apiVersion} is not valid.`);
    const failure = failures.find((f) => f.operation === entry.operation);
    if (failure !== undefined) {
      failure.times = (failure.times ?? 1) - 1;
      failures = failures.filter((f) => (f.times ?? 1) > 0);
      throw new KvError(failure.status, failure.code ?? DEFAULT_CODES[failure.status] ?? 'Error', `injected ${String(failure.status)} for ${entry.operation}`, failure.innerCode);
    }
    let body: Record<string, unknown> = {};
    if (raw.length > 0) {
      let parsed: unknown;
      try {
        parsed = JSON.parse(raw);
      } catch {
        throw badParameter('The request body is not valid JSON.');
      }
      if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) throw badParameter('The request body must be a JSON object.');
      body = parsed as Record<string, unknown>;
    }
    return vault.dispatch(entry, url, body);
  }

  const authenticated = () => requests.slice(since).filter((r) => r.auth === 'valid');
  const credential = (handed = token): KeyVaultCredential => ({
    getToken: (scopes: string | string[], opts?: { tenantId?: string }) => {
      tokenRequests.push({ scopes: [scopes].flat(), ...(opts?.tenantId === undefined ? {} : { tenantId: opts.tenantId }) });
      return Promise.resolve({ token: handed, expiresOnTimestamp: Date.now() + 3_600_000 });
    },
  });

  return {
    vaultUrl,
    ca,
    token,
    requests,
    tokenRequests,
    credential,
    client: (overrides = {}) =>
      createKeyVaultClient({
        vaultUrl,
        credential: credential(),
        retry: { maxRetries: 0 },
        ...overrides,
        testOnly: { allowLoopback: true, ca, disableChallengeResourceVerification: true, ...overrides.testOnly },
      }),
    count: (operation) => authenticated().filter((r) => operation === undefined || r.operation === operation).length,
    counts: () => {
      const out: Partial<Record<KeyVaultOperation, number>> = {};
      for (const r of authenticated()) out[r.operation] = (out[r.operation] ?? 0) + 1;
      return out;
    },
    resetCounts: () => {
      since = requests.length;
    },
    fail: (failure) => {
      failures.push({ ...failure });
    },
    versions: (name) => vault.view(name),
    close: async () => {
      server.closeAllConnections();
      await new Promise<void>((resolve, reject) => server.close((error) => (error === undefined ? resolve() : reject(error))));
      await rm(dir, { recursive: true, force: true });
    },
  };
}

function operationOf(method: string, path: string): KeyVaultOperation {
  const parts = path.split('/').slice(1);
  const [collection, name, rest] = parts;
  if (collection === 'secrets') {
    if (name === undefined || name === '') return method === 'GET' ? 'GetSecrets' : 'Unknown';
    if (parts.length === 2) return method === 'PUT' ? 'SetSecret' : method === 'DELETE' ? 'DeleteSecret' : method === 'GET' ? 'GetSecret' : method === 'PATCH' ? 'UpdateSecret' : 'Unknown';
    if (parts.length === 3 && rest === 'versions') return method === 'GET' ? 'GetSecretVersions' : 'Unknown';
    if (parts.length === 3) return method === 'GET' ? 'GetSecret' : method === 'PATCH' ? 'UpdateSecret' : 'Unknown';
  }
  if (collection === 'deletedsecrets') {
    if (name === undefined || name === '') return method === 'GET' ? 'GetDeletedSecrets' : 'Unknown';
    if (parts.length === 2) return method === 'GET' ? 'GetDeletedSecret' : method === 'DELETE' ? 'PurgeDeletedSecret' : 'Unknown';
    if (parts.length === 3 && rest === 'recover' && method === 'POST') return 'RecoverDeletedSecret';
  }
  return 'Unknown';
}

/** A small seeded PRNG (mulberry32): enough to make a shuffled order repeatable. */
function seeded(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
}

class FakeVault {
  /** By lower-cased name: Key Vault names are case-insensitive. */
  readonly #secrets = new Map<string, Secret>();
  readonly #clock: () => Date;
  readonly #pageSize: number;
  readonly #random: () => number;
  readonly #shuffled: boolean;
  #seq = 0;

  constructor(
    readonly vaultUrl: string,
    options: KeyVaultFakeOptions,
  ) {
    this.#clock = options.clock ?? (() => new Date());
    this.#pageSize = Math.min(options.pageSize ?? MAX_PAGE, MAX_PAGE);
    this.#random = seeded(options.seed ?? randomInt(2 ** 31));
    this.#shuffled = (options.versionOrder ?? 'shuffled') === 'shuffled';
  }

  /** Whole Unix seconds, as the service stores them. */
  #now(): number {
    return Math.floor(this.#clock().getTime() / 1000);
  }

  dispatch(entry: KeyVaultRequest, url: URL, body: Record<string, unknown>): Reply {
    const parts = url.pathname.split('/').slice(1).map((p) => decodeURIComponent(p));
    const name = parts[1] ?? '';
    if (name !== '' && !NAME.test(name)) throw badParameter(`The request URI contains an invalid name: ${name}. Names may contain only 0-9, a-z, A-Z and -, 1 to 127 characters.`);
    switch (entry.operation) {
      case 'SetSecret':
        return this.#set(name, body);
      case 'GetSecret':
        return this.#get(name, parts[2] ?? '');
      case 'UpdateSecret':
        return this.#update(name, parts[2] ?? '', body);
      case 'GetSecretVersions':
        return this.#listVersions(name, url);
      case 'GetSecrets':
        return this.#page(url, this.#live().map((s) => ({ key: s.name.toLowerCase(), item: this.#item(s, this.#latest(s), true) })));
      case 'DeleteSecret':
        return this.#delete(name);
      case 'GetDeletedSecret':
        return { status: 200, body: this.#deletedBundle(this.#deleted(name)) };
      case 'GetDeletedSecrets':
        return this.#page(url, [...this.#secrets.values()].filter((s) => s.deletedDate !== undefined).map((s) => ({ key: s.name.toLowerCase(), item: this.#deletedBundle(s) })));
      case 'PurgeDeletedSecret':
        this.#secrets.delete(this.#deleted(name).name.toLowerCase());
        return { status: 204 };
      case 'RecoverDeletedSecret': {
        const s = this.#deleted(name);
        delete s.deletedDate;
        return { status: 200, body: this.#bundle(s, this.#latest(s), false) };
      }
      default:
        throw badParameter(`The fake does not implement ${entry.method} ${url.pathname}.`);
    }
  }

  view(name: string): KeyVaultVersionView[] | undefined {
    const s = this.#secrets.get(name.toLowerCase());
    if (s === undefined || s.deletedDate !== undefined) return undefined;
    return s.versions.map((v) => ({
      id: v.id,
      enabled: v.enabled,
      created: v.created,
      updated: v.updated,
      tags: { ...v.tags },
      ...(v.nbf === undefined ? {} : { nbf: v.nbf }),
      ...(v.exp === undefined ? {} : { exp: v.exp }),
    }));
  }

  #live(): Secret[] {
    return [...this.#secrets.values()].filter((s) => s.deletedDate === undefined).sort((a, b) => (a.name.toLowerCase() < b.name.toLowerCase() ? -1 : 1));
  }

  #find(name: string): Secret {
    const s = this.#secrets.get(name.toLowerCase());
    if (s === undefined || s.deletedDate !== undefined) throw notFound(name);
    return s;
  }

  #deleted(name: string): Secret {
    const s = this.#secrets.get(name.toLowerCase());
    if (s?.deletedDate === undefined) throw new KvError(404, 'SecretNotFound', `Deleted Secret not found: ${name}`);
    return s;
  }

  /** The newest version by creation: what a versionless read returns, whatever its state. */
  #latest(s: Secret): Version {
    const latest = s.versions.reduce((a, b) => (b.created > a.created || (b.created === a.created && b.seq > a.seq) ? b : a));
    return latest;
  }

  #version(s: Secret, version: string): Version {
    if (version === '') return this.#latest(s);
    const v = VERSION.test(version) ? s.versions.find((x) => x.id === version) : undefined;
    if (v === undefined) throw notFound(`${s.name}/${version}`);
    return v;
  }

  #set(name: string, body: Record<string, unknown>): Reply {
    const existing = this.#secrets.get(name.toLowerCase());
    if (existing?.deletedDate !== undefined) {
      throw new KvError(
        409,
        'Conflict',
        `Secret ${name} is currently in a deleted but recoverable state, and its name cannot be reused; in this state, the secret can only be recovered or purged.`,
        'ObjectIsDeletedButRecoverable',
      );
    }
    const value = body.value;
    if (typeof value !== 'string') throw badParameter('The secret value is required and must be a string.');
    // As the service does, the message names the limit and never echoes the value.
    if (Buffer.byteLength(value, 'utf8') > MAX_VALUE_BYTES) throw badParameter(`The secret value exceeds the maximum allowed size of ${MAX_VALUE_BYTES} bytes.`);
    const tags = checkTags(body.tags);
    const contentType = checkContentType(body.contentType);
    const attributes = checkAttributes(body.attributes);
    const now = this.#now();
    const version: Version = {
      id: randomBytes(16).toString('hex'),
      value,
      enabled: attributes.enabled ?? true,
      created: now,
      updated: now,
      seq: ++this.#seq,
      listKey: this.#shuffled ? this.#random() : this.#seq,
      ...(tags === undefined ? {} : { tags }),
      ...(contentType === undefined ? {} : { contentType }),
      ...(attributes.nbf === undefined ? {} : { nbf: attributes.nbf }),
      ...(attributes.exp === undefined ? {} : { exp: attributes.exp }),
    };
    const secret = existing ?? { name, versions: [] };
    secret.versions.push(version);
    this.#secrets.set(name.toLowerCase(), secret);
    return { status: 200, body: this.#bundle(secret, version, true) };
  }

  #get(name: string, version: string): Reply {
    const s = this.#find(name);
    const v = this.#version(s, version);
    if (!v.enabled) throw new KvError(403, 'Forbidden', 'Operation get is not allowed on a disabled secret.', 'SecretDisabled');
    return { status: 200, body: this.#bundle(s, v, true) };
  }

  #update(name: string, version: string, body: Record<string, unknown>): Reply {
    const s = this.#find(name);
    const v = this.#version(s, version);
    // Check everything before changing anything: a refused PATCH changes nothing. A `value` in the body is not part
    // of SecretUpdateParameters and is ignored, as the service ignores unknown members.
    const tags = checkTags(body.tags);
    const contentType = checkContentType(body.contentType);
    const attributes = checkAttributes(body.attributes);
    if (attributes.enabled !== undefined) v.enabled = attributes.enabled;
    if (attributes.nbf !== undefined) v.nbf = attributes.nbf;
    if (attributes.exp !== undefined) v.exp = attributes.exp;
    if (tags !== undefined) v.tags = tags;
    if (contentType !== undefined) v.contentType = contentType;
    v.updated = this.#now();
    return { status: 200, body: this.#bundle(s, v, false) };
  }

  #listVersions(name: string, url: URL): Reply {
    const s = this.#find(name);
    return this.#page(url, s.versions.map((v) => ({ key: v.listKey, item: this.#item(s, v, false) })));
  }

  #delete(name: string): Reply {
    const s = this.#find(name);
    s.deletedDate = this.#now();
    return { status: 200, body: this.#deletedBundle(s) };
  }

  /**
   * One page of `entries` (each with its fixed place in the list, `key`), and an absolute nextLink carrying an opaque
   * skip token while more remain. The token is a marker (the last key returned), as the service's is, so versions
   * created or secrets deleted between two pages make the listing neither repeat nor skip what was already there.
   */
  #page(url: URL, entries: { key: number | string; item: unknown }[]): Reply {
    const max = url.searchParams.get('maxresults');
    const size = max === null ? this.#pageSize : Number(max);
    if (!Number.isInteger(size) || size < 1 || size > MAX_PAGE) throw badParameter(`maxresults must be an integer between 1 and ${MAX_PAGE}.`);
    const sorted = [...entries].sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
    const token = url.searchParams.get('$skiptoken');
    let rest = sorted;
    if (token !== null) {
      let after: unknown;
      try {
        after = (JSON.parse(Buffer.from(token, 'base64url').toString('utf8')) as { after?: unknown }).after;
      } catch {
        throw badParameter('The $skiptoken is not valid.');
      }
      if (typeof after !== 'number' && typeof after !== 'string') throw badParameter('The $skiptoken is not valid.');
      rest = sorted.filter((e) => e.key > after);
    }
    const page = rest.slice(0, size);
    let nextLink: string | null = null;
    const last = page.at(-1);
    if (rest.length > size && last !== undefined) {
      const next = new URL(url.pathname, this.vaultUrl);
      next.searchParams.set('api-version', url.searchParams.get('api-version') ?? '');
      next.searchParams.set('$skiptoken', Buffer.from(JSON.stringify({ after: last.key })).toString('base64url'));
      if (max !== null) next.searchParams.set('maxresults', max);
      nextLink = next.toString();
    }
    return { status: 200, body: { value: page.map((e) => e.item), nextLink } };
  }

  #attributes(v: Version): Record<string, unknown> {
    return {
      enabled: v.enabled,
      ...(v.nbf === undefined ? {} : { nbf: v.nbf }),
      ...(v.exp === undefined ? {} : { exp: v.exp }),
      created: v.created,
      updated: v.updated,
      recoveryLevel: 'Recoverable+Purgeable',
      recoverableDays: RECOVERABLE_DAYS,
    };
  }

  /** A SecretBundle: the version's id, attributes, tags and contentType, and its value only where the API returns one. */
  #bundle(s: Secret, v: Version, withValue: boolean): Record<string, unknown> {
    return {
      ...(withValue ? { value: v.value } : {}),
      id: `${this.vaultUrl}/secrets/${s.name}/${v.id}`,
      attributes: this.#attributes(v),
      ...(v.tags === undefined ? {} : { tags: { ...v.tags } }),
      ...(v.contentType === undefined ? {} : { contentType: v.contentType }),
    };
  }

  /** A SecretItem: never a value; in the list of secrets the id is the base identifier (no version). */
  #item(s: Secret, v: Version, base: boolean): Record<string, unknown> {
    return {
      id: base ? `${this.vaultUrl}/secrets/${s.name}` : `${this.vaultUrl}/secrets/${s.name}/${v.id}`,
      attributes: this.#attributes(v),
      ...(v.tags === undefined ? {} : { tags: { ...v.tags } }),
      ...(v.contentType === undefined ? {} : { contentType: v.contentType }),
    };
  }

  #deletedBundle(s: Secret): Record<string, unknown> {
    const deletedDate = s.deletedDate ?? this.#now();
    return {
      ...this.#bundle(s, this.#latest(s), false),
      recoveryId: `${this.vaultUrl}/deletedsecrets/${s.name}`,
      deletedDate,
      scheduledPurgeDate: deletedDate + RECOVERABLE_DAYS * 86_400,
    };
  }
}

function checkTags(raw: unknown): Record<string, string> | undefined {
  if (raw === undefined || raw === null) return undefined;
  if (typeof raw !== 'object' || Array.isArray(raw)) throw badParameter('tags must be an object of string values.');
  const entries = Object.entries(raw as Record<string, unknown>);
  if (entries.length > MAX_TAGS) throw badParameter(`A secret version can have at most ${MAX_TAGS} tags; the request has ${entries.length}.`);
  const tags: Record<string, string> = {};
  for (const [k, v] of entries) {
    if (typeof v !== 'string') throw badParameter(`The value of tag ${k.slice(0, 64)} must be a string.`);
    if (k.length === 0 || k.length > MAX_TAG_NAME) throw badParameter(`A tag name must be 1 to ${MAX_TAG_NAME} characters long.`);
    if (v.length > MAX_TAG_VALUE) throw badParameter(`The value of tag ${k.slice(0, 64)} is longer than ${MAX_TAG_VALUE} characters.`);
    Object.defineProperty(tags, k, { value: v, enumerable: true, writable: true, configurable: true });
  }
  return tags;
}

function checkContentType(raw: unknown): string | undefined {
  if (raw === undefined || raw === null) return undefined;
  if (typeof raw !== 'string' || raw.length > MAX_CONTENT_TYPE) throw badParameter(`contentType must be a string of at most ${MAX_CONTENT_TYPE} characters.`);
  return raw;
}

function checkAttributes(raw: unknown): { enabled?: boolean; nbf?: number; exp?: number } {
  if (raw === undefined || raw === null) return {};
  if (typeof raw !== 'object' || Array.isArray(raw)) throw badParameter('attributes must be an object.');
  const a = raw as Record<string, unknown>;
  const out: { enabled?: boolean; nbf?: number; exp?: number } = {};
  if (a.enabled !== undefined && a.enabled !== null) {
    if (typeof a.enabled !== 'boolean') throw badParameter('attributes.enabled must be a boolean.');
    out.enabled = a.enabled;
  }
  for (const k of ['nbf', 'exp'] as const) {
    const v = a[k];
    if (v === undefined || v === null) continue;
    if (typeof v !== 'number' || !Number.isInteger(v)) throw badParameter(`attributes.${k} must be a Unix time in whole seconds.`);
    out[k] = v;
  }
  return out;
}
