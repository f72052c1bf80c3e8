import { describe, expect, it } from 'vitest';
import { createApiKeyRotator, OFFICIAL_ORIGINS } from '../../rotators/api-key/index.js';
import { createHttpClient } from '../../rotators/api-key/http-client.js';
import { silentLogger } from '../../shared/logger.js';
import type { CreatePendingInput } from '../../shared/rotator.js';
import type { SecretObject } from '../../shared/secret.js';
import { recordSecrets } from '../support/canary.js';
import { rejection } from '../support/unreachable.js';

/**
 * Where the admin credential may go (issue 9, item 4), without a network: an injected fetch records every request
 * and answers like the provider. A refused secret must leave that record empty.
 */
const ADMIN = 'admin-unit-credential-0123456789abcdef';
const APP = 'app-unit-credential-0123456789abcdef';
const KEY = 'sk-unit-current-key-0123456789abcdef';
recordSecrets(ADMIN, APP, KEY);
const ctx = { logger: silentLogger() };

interface Sent {
  url: string;
  init: RequestInit;
}

/** A rotator whose fetch answers as SendGrid, Datadog or the http dialect would, recording every call. */
function recording(): { rotator: ReturnType<typeof createApiKeyRotator>; sent: Sent[] } {
  const sent: Sent[] = [];
  const rotator = createApiKeyRotator({
    timeoutMs: 1_000,
    fetch: (url, init) => {
      sent.push({ url, init });
      const path = new URL(url).pathname;
      const body =
        init.method === 'GET' && /api_keys|\/keys$/.test(path)
          ? { result: [], data: [], items: [] }
          : { api_key: 'sk-minted', api_key_id: 'id-1', data: { id: 'id-1', secret: 'sk-minted', attributes: { key: 'sk-minted' } } };
      return Promise.resolve(new Response(JSON.stringify(body), { status: init.method === 'POST' ? 201 : 200 }));
    },
  });
  return { rotator, sent };
}

function input(current: SecretObject, master: SecretObject): CreatePendingInput {
  return { strategy: 'single-user', current, token: 'tok-1', generatePassword: () => 'unused', readMaster: () => Promise.resolve(master) };
}

const sendgrid = (base_url?: string): SecretObject => ({
  engine: 'api-key',
  provider: 'sendgrid',
  key: KEY,
  key_id: 'id-0',
  masterarn: 'keys/admin',
  ...(base_url === undefined ? {} : { base_url }),
});

/** The generic provider with every route on `base`. */
function httpConfig(base: string): Record<string, unknown> {
  return {
    auth: { header: 'X-Admin-Token', scheme: '' },
    create: { url: `${base}/keys`, body: { label: '{{name}}' }, keyPath: 'data.secret', idPath: 'data.id' },
    test: { url: `${base}/whoami` },
    revoke: { url: `${base}/keys/{{id}}` },
    list: { url: `${base}/keys`, itemsPath: 'items', namePath: 'label', idPath: 'id' },
  };
}
const httpSecret = (http: Record<string, unknown>): SecretObject => ({ engine: 'api-key', provider: 'http', key: KEY, key_id: 'id-0', masterarn: 'keys/admin', http });

describe('SendGrid base_url: URL tricks never move the admin key off an allowed origin', () => {
  const refused: Array<[string, string]> = [
    ['userinfo that looks like the host', 'https://api.sendgrid.com@evil.example'],
    ['a longer host that starts with the right one', 'https://api.sendgrid.com.evil.example'],
    ['a trailing dot (another origin to the parser)', 'https://api.sendgrid.com.'],
    ['a percent-encoded dot in the host', 'https://api.sendgrid.com%2eevil.example'],
    ['the right host in the path', 'https://evil.example/https://api.sendgrid.com'],
    ['dot segments in the path', 'https://evil.example/../api.sendgrid.com/..'],
    ['a backslash before @', 'https://api.sendgrid.com\\@evil.example'],
    ['a backslash after the host', 'https://evil.example\\api.sendgrid.com'],
    ['a Cyrillic homograph (punycode)', 'https://\u0430pi.sendgrid.com'],
    ['its punycode form', 'https://xn--pi-6kc.sendgrid.com'],
    ['another port', 'https://api.sendgrid.com:8443'],
    ['plain http to the right host', 'http://api.sendgrid.com'],
    ['a look-alike domain', 'https://api.sendgrid.co'],
    ["another provider's official host", 'https://api.datadoghq.com'],
    ['https to loopback', 'https://127.0.0.1'],
    ['a CR/LF in the host', 'https://api.sendgrid.com\r\n.evil.example'],
    ['a tab the parser would drop', 'https://api.send\tgrid.com.evil.example'],
  ];

  it.each(refused)('refuses %s with INVALID_SECRET and sends nothing', async (_name, baseUrl) => {
    const { rotator, sent } = recording();
    const error = await rejection(async () => rotator.createPending(input(sendgrid(baseUrl), { key: ADMIN }), ctx));
    expect(error.code).toBe('INVALID_SECRET');
    expect(error.message).not.toContain(ADMIN);
    expect(sent).toHaveLength(0);
  });

  const same: Array<[string, string]> = [
    ['no base_url', ''],
    ['upper case', 'https://API.SendGrid.COM'],
    ['the default port written out', 'https://api.sendgrid.com:443'],
    ['dot segments that stay on the host', 'https://api.sendgrid.com/v9/..'],
    ['full-width letters (IDNA maps them to the same host)', 'https://\uff41pi.sendgrid.com'],
    ['the EU host', 'https://api.eu.sendgrid.com'],
  ];

  it.each(same)('accepts %s: every request goes to an official origin', async (_name, baseUrl) => {
    const { rotator, sent } = recording();
    await rotator.createPending(input(sendgrid(baseUrl === '' ? undefined : baseUrl), { key: ADMIN }), ctx);
    expect(sent.length).toBeGreaterThan(0);
    for (const s of sent) expect(OFFICIAL_ORIGINS.sendgrid).toContain(new URL(s.url).origin);
  });

  it('an origin the master secret lists is allowed, and the message for one it does not says what to set', async () => {
    const { rotator, sent } = recording();
    await rotator.createPending(input(sendgrid('https://sendgrid-proxy.example/prefix'), { key: ADMIN, allowed_origins: 'https://other.example, https://sendgrid-proxy.example' }), ctx);
    expect(sent.every((s) => s.url.startsWith('https://sendgrid-proxy.example/prefix/v3/'))).toBe(true);
    const error = await rejection(async () => rotator.createPending(input(sendgrid('https://sendgrid-proxy.example.evil'), { key: ADMIN, allowed_origins: ['https://sendgrid-proxy.example'] }), ctx));
    expect(error.message).toContain('add "https://sendgrid-proxy.example.evil" to "allowed_origins" in the master secret (keys/admin)');
    expect(error.message).toContain('https://api.sendgrid.com');
  });
});

describe('Datadog: every documented site host is allowed without the master naming it', () => {
  it.each(OFFICIAL_ORIGINS.datadog)('%s', async (origin) => {
    const { rotator, sent } = recording();
    const secret = { engine: 'api-key', provider: 'datadog', key: KEY, masterarn: 'keys/dd', base_url: origin };
    await rotator.createPending(input(secret, { api_key: ADMIN, application_key: APP }), ctx);
    expect(sent.length).toBeGreaterThan(0);
    expect(sent.every((s) => new URL(s.url).origin === origin)).toBe(true);
  });

  it('refuses another host, and the admin key never leaves', async () => {
    const { rotator, sent } = recording();
    const secret = { engine: 'api-key', provider: 'datadog', key: KEY, masterarn: 'keys/dd', base_url: 'https://api.datadoghq.eu.evil.example' };
    const error = await rejection(async () => rotator.createPending(input(secret, { api_key: ADMIN, application_key: APP }), ctx));
    expect(error.code).toBe('INVALID_SECRET');
    expect(sent).toHaveLength(0);
  });
});

describe('http provider: every route must be on an origin the master secret lists', () => {
  const master = { key: ADMIN, allowed_origins: ['https://keys.example'] };

  it('rotates and revokes when it does', async () => {
    const { rotator, sent } = recording();
    const next = await rotator.createPending(input(httpSecret(httpConfig('https://keys.example')), master), ctx);
    expect(next.key).toBe('sk-minted');
    expect(await rotator.revoke?.({ strategy: 'single-user', retired: httpSecret(httpConfig('https://keys.example')), current: next, master }, ctx)).toBe('revoked');
    expect(sent.every((s) => new URL(s.url).origin === 'https://keys.example')).toBe(true);
  });

  it('has no default host: without allowed_origins nothing is sent', async () => {
    const { rotator, sent } = recording();
    const error = await rejection(async () => rotator.createPending(input(httpSecret(httpConfig('https://keys.example')), { key: ADMIN }), ctx));
    expect(error.message).toMatch(/http has no default hosts/);
    expect(sent).toHaveLength(0);
  });

  it.each(['create', 'test', 'revoke', 'list'])('one route (%s) elsewhere refuses createSecret, setSecret and revoke before any request', async (route) => {
    const { rotator, sent } = recording();
    const http = { ...httpConfig('https://keys.example'), [route]: httpConfig('https://keys.example.evil.example')[route] };
    const secret = httpSecret(http);
    expect((await rejection(async () => rotator.createPending(input(secret, master), ctx))).message).toContain(`http.${route}.url`);
    expect((await rejection(() => rotator.set({ strategy: 'single-user', current: secret, pending: secret, master }, ctx))).code).toBe('INVALID_SECRET');
    const revoke = rotator.revoke?.({ strategy: 'single-user', retired: secret, current: { ...secret, key: 'sk-other', key_id: 'id-9' }, master }, ctx);
    expect((await rejection(() => revoke ?? Promise.resolve())).code).toBe('INVALID_SECRET');
    expect(sent).toHaveLength(0);
  });

  it('refuses a placeholder in the host (the key id would pick the server)', async () => {
    const { rotator, sent } = recording();
    const http = { ...httpConfig('https://keys.example'), revoke: { url: 'https://keys.example{{id}}/keys' } };
    const error = await rejection(async () => rotator.createPending(input(httpSecret(http), master), ctx));
    expect(error.message).toMatch(/http\.revoke\.url: placeholders may appear only in the path or query/);
    expect(sent).toHaveLength(0);
  });

  it('refuses a key_id that is a dot segment', () => {
    expect(() => rotator().validate({ ...httpSecret(httpConfig('https://keys.example')), key_id: '..' }, 'the secret')).toThrow(/key_id: must not be "\." or "\.\."/);
  });
});

describe('allowed_origins in the master secret', () => {
  const bad: Array<[string, unknown]> = [
    ['a path', 'https://with-path.invalid/v1'],
    ['plain http to a real host', 'http://plain-http.invalid'],
    ['credentials', 'https://user:pw@with-credentials.invalid'],
    ['a query', 'https://with-query.invalid/?x=1'],
    ['no scheme', 'no-scheme.invalid'],
    ['a control character', 'https://with-control.invalid\n'],
    ['a number', 42],
  ];

  it.each(bad)('refuses an entry with %s, naming its position, never its value', async (_name, entry) => {
    const { rotator, sent } = recording();
    const master = { key: ADMIN, allowed_origins: ['https://fine.example', entry] };
    const error = await rejection(async () => rotator.createPending(input(httpSecret(httpConfig('https://fine.example')), master), ctx));
    expect(error.code).toBe('INVALID_SECRET');
    expect(error.message).toMatch(/the master secret is invalid: allowed_origins\[1\]: must be an origin/);
    if (typeof entry === 'string') expect(error.message).not.toContain(entry);
    expect(sent).toHaveLength(0);
  });

  it('allows http to loopback only when the master names it', async () => {
    const { rotator, sent } = recording();
    const secret = httpSecret(httpConfig('http://127.0.0.1:8080'));
    expect((await rejection(async () => rotator.createPending(input(secret, { key: ADMIN, allowed_origins: ['http://127.0.0.1:8081'] }), ctx))).code).toBe('INVALID_SECRET');
    expect(sent).toHaveLength(0);
    await rotator.createPending(input(secret, { key: ADMIN, allowed_origins: ['http://127.0.0.1:8080/'] }), ctx);
    expect(sent.length).toBeGreaterThan(0);
  });

  it('refuses an admin credential holding CR/LF (it goes into a header) before any request', async () => {
    const { rotator, sent } = recording();
    const error = await rejection(async () => rotator.createPending(input(sendgrid(), { key: `${ADMIN}\r\nX-Injected: 1` }), ctx));
    expect(error.message).toMatch(/the master secret is invalid: key: must not contain control characters/);
    expect(error.message).not.toContain(ADMIN);
    expect(sent).toHaveLength(0);
  });
});

describe('the HTTP client', () => {
  it('refuses a request to an origin outside allowedOrigins without calling fetch, and fetches the URL it checked', async () => {
    const urls: string[] = [];
    const client = createHttpClient({
      provider: 'sendgrid',
      timeoutMs: 1_000,
      allowedOrigins: new Set(['https://api.sendgrid.com']),
      fetch: (url) => {
        urls.push(url);
        return Promise.resolve(new Response('{}', { status: 200 }));
      },
    });
    const error = await rejection(() => client.send({ method: 'GET', url: 'https://api.sendgrid.com@evil.example/v3/scopes', headers: { authorization: ADMIN }, operation: 'testing' }));
    expect(error.code).toBe('INVALID_SECRET');
    expect(error.message).toContain('https://evil.example');
    expect(urls).toHaveLength(0);
    await client.send({ method: 'GET', url: 'HTTPS://API.SENDGRID.COM:443/v3/a/../scopes', operation: 'testing' });
    expect(urls).toEqual(['https://api.sendgrid.com/v3/scopes']);
  });

  it('never follows a redirect', async () => {
    const inits: RequestInit[] = [];
    const client = createHttpClient({ provider: 'http', timeoutMs: 1_000, fetch: (_u, init) => (inits.push(init), Promise.resolve(new Response(null, { status: 204 }))) });
    await client.send({ method: 'DELETE', url: 'https://keys.example/keys/1', operation: 'deleting' });
    expect(inits[0]?.redirect).toBe('error');
  });
});

function rotator(): ReturnType<typeof createApiKeyRotator> {
  return createApiKeyRotator();
}
