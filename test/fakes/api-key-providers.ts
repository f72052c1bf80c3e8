import { randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { recordSecrets } from '../support/canary.js';

/**
 * A fake API-key provider on 127.0.0.1 speaking one of three dialects: SendGrid v3, Datadog v2, or the generic REST
 * shape the tests describe to the `http` provider. It enforces what the real services do: create, list and delete
 * need the admin credential; a minted key works at once on the test endpoint; a deleted key is refused; creation
 * fails at a key-count cap. It can be told to fail the next N requests of a kind, or to mint a key and then lose
 * the response (the case that would leave an orphan key behind).
 *
 * Keys are kept in memory; `keys` is what a test counts. Every key it mints goes to the leak canary.
 *
 * It also keeps every request as it arrived (method, URL, headers, body) in `received`, so a test can prove that a
 * server a secret should never reach got nothing, and that no request anywhere carried a given credential. Set
 * `redirectTo` and every request is answered with a 307 to that base URL (a provider that hands the caller on).
 */
export type Dialect = 'sendgrid' | 'datadog' | 'http';
export type RequestKind = 'create' | 'list' | 'delete' | 'test';

export interface FakeKey {
  id: string;
  name: string;
  key: string;
  createdAt: number;
}

export interface FakeProviderOptions {
  dialect: Dialect;
  /** The most keys the account may hold; create refuses beyond it (default 100). */
  cap?: number;
  /** The status of a refusal at the cap (default 400). */
  capStatus?: number;
}

/** The generic dialect's routes, as a secret's `http` block would describe them. */
export function httpDialectConfig(baseUrl: string): Record<string, unknown> {
  return {
    auth: { header: 'X-Admin-Token', scheme: '' },
    create: { method: 'POST', url: `${baseUrl}/keys`, body: { label: '{{name}}', meta: { by: 'rotator' } }, keyPath: 'data.secret', idPath: 'data.id' },
    test: { method: 'GET', url: `${baseUrl}/whoami`, header: 'Authorization', scheme: 'Token' },
    revoke: { method: 'DELETE', url: `${baseUrl}/keys/{{id}}` },
    list: { method: 'GET', url: `${baseUrl}/keys`, itemsPath: 'items', namePath: 'label', idPath: 'id', createdPath: 'created' },
  };
}

const T0 = Date.parse('2026-01-01T00:00:00Z');

export class FakeKeyProvider {
  readonly dialect: Dialect;
  readonly adminKey = `admin-${randomBytes(18).toString('base64url')}`;
  /** Datadog's second admin header. */
  readonly appKey = `app-${randomBytes(18).toString('base64url')}`;
  readonly keys = new Map<string, FakeKey>();
  /** Kind and status of every request, for assertions (never a header or a key). */
  readonly requests: Array<{ kind: RequestKind | 'other'; status: number }> = [];
  /** Every request as it arrived, raw; test-only (it holds credentials), never printed. */
  readonly received: Array<{ method: string; url: string; headers: string; body: string }> = [];
  /** When set, every request gets a 307 to this base URL plus the request's path. */
  redirectTo: string | undefined;
  cap: number;
  capStatus: number;
  #failures = new Map<RequestKind, { count: number; status: number }>();
  #loseCreateResponses = 0;
  #seq = 0;
  #server: Server | undefined;
  url = '';

  constructor(options: FakeProviderOptions) {
    this.dialect = options.dialect;
    this.cap = options.cap ?? 100;
    this.capStatus = options.capStatus ?? 400;
    recordSecrets(this.adminKey, this.appKey);
  }

  async start(): Promise<this> {
    const server = createServer((req, res) => {
      void this.#handle(req, res).catch(() => {
        res.statusCode = 500;
        res.end();
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    this.#server = server;
    this.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    return this;
  }

  async close(): Promise<void> {
    const server = this.#server;
    if (server === undefined) return;
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  /** Adds a key directly (the key a secret starts with). */
  addKey(name: string): FakeKey {
    this.#seq += 1;
    const key: FakeKey = { id: `key-${this.#seq}-${randomBytes(4).toString('hex')}`, name, key: `sk-${randomBytes(24).toString('base64url')}`, createdAt: T0 + this.#seq * 1000 };
    recordSecrets(key.key);
    this.keys.set(key.id, key);
    return key;
  }

  /** The next `count` requests of `kind` answer `status` without doing anything. */
  failNext(kind: RequestKind, count = 1, status = 503): void {
    this.#failures.set(kind, { count, status });
  }

  /** The next `count` creations mint the key, then answer 502 as if the response were lost on the way back. */
  loseNextCreateResponses(count = 1): void {
    this.#loseCreateResponses = count;
  }

  accepts(key: string): boolean {
    return [...this.keys.values()].some((k) => k.key === key);
  }

  count(kind: RequestKind): number {
    return this.requests.filter((r) => r.kind === kind).length;
  }

  /** How many received requests carry `value` anywhere: URL, a header name or value, or the body (raw or decoded). */
  requestsCarrying(value: string): number {
    const forms = [value, encodeURIComponent(value), JSON.stringify(value).slice(1, -1), Buffer.from(value).toString('base64')];
    return this.received.filter((r) => forms.some((f) => [r.url, r.headers, r.body].some((part) => part.includes(f)))).length;
  }

  async #handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const raw = await readRaw(req);
    this.received.push({ method: req.method ?? '', url: req.url ?? '', headers: JSON.stringify(req.rawHeaders), body: raw });
    if (this.redirectTo !== undefined) {
      this.requests.push({ kind: 'other', status: 307 });
      res.statusCode = 307;
      res.setHeader('location', `${this.redirectTo}${req.url ?? '/'}`);
      res.end();
      return;
    }
    const body = parseJson(raw);
    const url = new URL(req.url ?? '/', 'http://fake');
    const route = this.#route(req.method ?? 'GET', url.pathname);
    const reply = (status: number, json?: unknown): void => {
      this.requests.push({ kind: route?.kind ?? 'other', status });
      res.statusCode = status;
      if (json === undefined) {
        res.end();
        return;
      }
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify(json));
    };
    if (route === undefined) {
      reply(404, { errors: ['no such route'] });
      return;
    }
    const failure = this.#failures.get(route.kind);
    if (failure !== undefined && failure.count > 0) {
      failure.count -= 1;
      reply(failure.status, { errors: ['injected failure'] });
      return;
    }
    if (route.kind === 'test') {
      const presented = this.#presentedKey(req);
      const ok = presented !== undefined && (this.accepts(presented) || presented === this.adminKey);
      if (ok) reply(200, this.dialect === 'datadog' ? { valid: true } : { ok: true });
      else reply(this.dialect === 'datadog' ? 403 : 401, { errors: ['invalid key'] });
      return;
    }
    if (!this.#isAdmin(req)) {
      reply(this.dialect === 'datadog' ? 403 : 401, { errors: ['admin credential required'] });
      return;
    }
    switch (route.kind) {
      case 'create': {
        const name = this.#nameFrom(body);
        if (name === undefined) {
          reply(400, { errors: ['name required'] });
          return;
        }
        if (this.keys.size >= this.cap) {
          reply(this.capStatus, { errors: [`key limit of ${this.cap} reached`] });
          return;
        }
        const minted = this.addKey(name);
        if (this.#loseCreateResponses > 0) {
          this.#loseCreateResponses -= 1;
          reply(502);
          return;
        }
        reply(201, this.#created(minted));
        return;
      }
      case 'list': {
        const filter = url.searchParams.get('filter') ?? '';
        const listed = [...this.keys.values()].filter((k) => this.dialect !== 'datadog' || k.name.includes(filter));
        reply(200, this.#listed(listed));
        return;
      }
      case 'delete': {
        const id = decodeURIComponent(route.id ?? '');
        if (!this.keys.delete(id)) {
          reply(404, { errors: ['no such key'] });
          return;
        }
        reply(204);
        return;
      }
    }
  }

  #route(method: string, path: string): { kind: RequestKind; id?: string } | undefined {
    const prefix = { sendgrid: '/v3/api_keys', datadog: '/api/v2/api_keys', http: '/keys' }[this.dialect];
    const testPath = { sendgrid: '/v3/scopes', datadog: '/api/v1/validate', http: '/whoami' }[this.dialect];
    if (method === 'GET' && path === testPath) return { kind: 'test' };
    if (method === 'POST' && path === prefix) return { kind: 'create' };
    if (method === 'GET' && path === prefix) return { kind: 'list' };
    if (method === 'DELETE' && path.startsWith(`${prefix}/`)) return { kind: 'delete', id: path.slice(prefix.length + 1) };
    return undefined;
  }

  #presentedKey(req: IncomingMessage): string | undefined {
    switch (this.dialect) {
      case 'sendgrid':
        return /^Bearer (.+)$/.exec(req.headers.authorization ?? '')?.[1];
      case 'datadog':
        return header(req, 'dd-api-key');
      case 'http':
        return /^Token (.+)$/.exec(req.headers.authorization ?? '')?.[1];
    }
  }

  #isAdmin(req: IncomingMessage): boolean {
    switch (this.dialect) {
      case 'sendgrid':
        return req.headers.authorization === `Bearer ${this.adminKey}`;
      case 'datadog':
        return header(req, 'dd-api-key') === this.adminKey && header(req, 'dd-application-key') === this.appKey;
      case 'http':
        return header(req, 'x-admin-token') === this.adminKey;
    }
  }

  #nameFrom(body: unknown): string | undefined {
    const b = body as { name?: unknown; label?: unknown; data?: { type?: unknown; attributes?: { name?: unknown } } } | undefined;
    const name = { sendgrid: b?.name, datadog: b?.data?.type === 'api_keys' ? b.data.attributes?.name : undefined, http: b?.label }[this.dialect];
    return typeof name === 'string' && name.length > 0 ? name : undefined;
  }

  #created(k: FakeKey): unknown {
    switch (this.dialect) {
      case 'sendgrid':
        return { api_key: k.key, api_key_id: k.id, name: k.name, scopes: ['mail.send'] };
      case 'datadog':
        return { data: { type: 'api_keys', id: k.id, attributes: { name: k.name, key: k.key, created_at: new Date(k.createdAt).toISOString() } } };
      case 'http':
        return { data: { id: k.id, secret: k.key } };
    }
  }

  /** Lists never carry key values, as the real services do not. */
  #listed(keys: FakeKey[]): unknown {
    switch (this.dialect) {
      case 'sendgrid':
        return { result: keys.map((k) => ({ name: k.name, api_key_id: k.id })) };
      case 'datadog':
        return { data: keys.map((k) => ({ type: 'api_keys', id: k.id, attributes: { name: k.name, last4: k.key.slice(-4), created_at: new Date(k.createdAt).toISOString() } })) };
      case 'http':
        return { items: keys.map((k) => ({ id: k.id, label: k.name, created: k.createdAt })) };
    }
  }
}

function header(req: IncomingMessage, name: string): string | undefined {
  const value = req.headers[name];
  return typeof value === 'string' ? value : undefined;
}

async function readRaw(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

function parseJson(raw: string): unknown {
  if (raw.length === 0) return undefined;
  try {
    return JSON.parse(raw) as unknown;
  } catch {
    return undefined;
  }
}
