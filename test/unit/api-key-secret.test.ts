import { describe, expect, it } from 'vitest';
import { createApiKeyRotator } from '../../rotators/api-key/index.js';
import { createHttpClient, ProviderHttpError } from '../../rotators/api-key/http-client.js';
import { fillTemplate } from '../../rotators/api-key/providers/http.js';
import { RotatorError } from '../../shared/errors.js';
import { silentLogger } from '../../shared/logger.js';
import { recordSecrets } from '../support/canary.js';
import { describeUnreachableTargets, rejection } from '../support/unreachable.js';

const KEY = 'sk-unit-test-key-value-0123456789';
recordSecrets(KEY);
const rotator = createApiKeyRotator();

const sendgridSecret = (extra: Record<string, unknown> = {}): Record<string, unknown> => ({
  engine: 'api-key',
  provider: 'sendgrid',
  key: KEY,
  masterarn: 'svc/admin',
  ...extra,
});

function invalid(value: Record<string, unknown>): RotatorError {
  try {
    rotator.validate(value, 'the secret');
  } catch (error) {
    expect(error).toBeInstanceOf(RotatorError);
    expect((error as RotatorError).code).toBe('INVALID_SECRET');
    expect((error as RotatorError).message).not.toContain(KEY);
    return error as RotatorError;
  }
  throw new Error('expected INVALID_SECRET');
}

describe('api-key secret schema', () => {
  it('accepts each provider with what it needs and names what is missing', () => {
    rotator.validate(sendgridSecret(), 'the secret');
    rotator.validate({ engine: 'api-key', provider: 'self-issued', key: KEY }, 'the secret');
    expect(invalid({ engine: 'api-key', provider: 'sendgrid', key: KEY }).message).toMatch(/masterarn: required for provider sendgrid/);
    expect(invalid({ ...sendgridSecret(), provider: 'http' }).message).toMatch(/http: required for provider http/);
    expect(invalid({ ...sendgridSecret(), provider: 'stripe' }).message).toMatch(/provider: must be one of self-issued, http, sendgrid, datadog/);
    expect(invalid({ ...sendgridSecret(), engine: 'postgres' }).message).toMatch(/engine: must be "api-key"/);
    expect(invalid({ ...sendgridSecret(), key: undefined }).message).toMatch(/key: required/);
  });

  it('allows plain http only to loopback, and no credentials in URLs', () => {
    rotator.validate(sendgridSecret({ base_url: 'https://api.sendgrid.example' }), 'the secret');
    rotator.validate(sendgridSecret({ base_url: 'http://127.0.0.1:8080' }), 'the secret');
    rotator.validate(sendgridSecret({ base_url: 'http://localhost:8080' }), 'the secret');
    expect(invalid(sendgridSecret({ base_url: 'http://api.sendgrid.com' })).message).toMatch(/base_url: must be an https URL/);
    expect(invalid(sendgridSecret({ base_url: 'https://user:pw@api.sendgrid.com' })).message).toMatch(/base_url/);
    expect(invalid(sendgridSecret({ base_url: 'not a url' })).message).toMatch(/base_url/);
  });

  it('validates the http block: https URLs, {{id}} in the revoke URL, dotted paths', () => {
    const http = {
      create: { url: 'https://keys.example/v1/keys', body: { name: '{{name}}' }, keyPath: 'data.key', idPath: 'data.id' },
      test: { url: 'https://keys.example/v1/me' },
      revoke: { url: 'https://keys.example/v1/keys/{{id}}' },
    };
    rotator.validate(sendgridSecret({ provider: 'http', http }), 'the secret');
    const message = invalid(
      sendgridSecret({ provider: 'http', http: { ...http, revoke: { url: 'https://keys.example/v1/keys' }, test: { url: 'http://keys.example/me' } } }),
    ).message;
    expect(message).toMatch(/http\.revoke\.url: must contain the \{\{id\}\} placeholder/);
    expect(message).toMatch(/http\.test\.url: must be an https URL/);
    expect(invalid(sendgridSecret({ provider: 'http', http: { ...http, create: { ...http.create, keyPath: 'data..key' } } })).message).toMatch(/keyPath/);
  });

  it('fills {{name}} in every string of a body template', () => {
    expect(fillTemplate({ name: '{{name}}', meta: { label: 'x-{{name}}', n: 1, list: ['{{name}}'] }, other: '{{unknown}}' }, { name: 'rotator-t' })).toEqual({
      name: 'rotator-t',
      meta: { label: 'x-rotator-t', n: 1, list: ['rotator-t'] },
      other: '{{unknown}}',
    });
  });

  it('points self-issued secrets at no master, managed ones at masterarn', () => {
    expect(rotator.masterSecretId(sendgridSecret(), 'single-user')).toBe('svc/admin');
    expect(rotator.masterSecretId({ engine: 'api-key', provider: 'self-issued', key: KEY, masterarn: 'x' }, 'single-user')).toBeUndefined();
  });
});

describe('provider HTTP errors', () => {
  it.each([
    [401, 'TARGET_AUTH_FAILED', false],
    [403, 'TARGET_AUTH_FAILED', false],
    [429, 'TARGET_UNREACHABLE', true],
    [503, 'TARGET_UNREACHABLE', true],
    [404, 'TARGET_ERROR', false],
    [400, 'TARGET_ERROR', false],
  ] as const)('HTTP %i is %s (retryable: %s)', (status, code, retryable) => {
    const error = new ProviderHttpError('sendgrid', 'creating an API key', status);
    expect(error.code).toBe(code);
    expect(error.retryable).toBe(retryable);
    expect(error.message).toContain(`HTTP ${status}`);
  });

  it('never puts a response body in an error, and refuses redirects', async () => {
    const calls: RequestInit[] = [];
    const client = createHttpClient({
      provider: 'sendgrid',
      timeoutMs: 1_000,
      fetch: (_url, init) => {
        calls.push(init);
        return Promise.resolve(new Response(JSON.stringify({ echoed: KEY }), { status: 500 }));
      },
    });
    const error = await rejection(() => client.ok({ method: 'GET', url: 'https://api.sendgrid.com/v3/scopes', operation: 'testing an API key' }));
    expect(error.message).not.toContain(KEY);
    expect(error.code).toBe('TARGET_UNREACHABLE');
    expect(calls[0]?.redirect).toBe('error');
    expect(calls[0]?.signal).toBeInstanceOf(AbortSignal);
  });
});

describeUnreachableTargets({
  rotator: (timeoutMs) => createApiKeyRotator(timeoutMs === undefined ? {} : { timeoutMs }),
  secretOn: (port) => sendgridSecret({ base_url: `http://127.0.0.1:${port}` }),
  ctx: { logger: silentLogger() },
});

describe('control characters (issue 9: NUL, CR, LF and other C0/C1 controls)', () => {
  const CONTROLS: Array<[string, string]> = [
    ['NUL', '\u0000'],
    ['CR', '\r'],
    ['LF', '\n'],
    ['tab', '\t'],
    ['ESC', '\u001b'],
    ['DEL', '\u007f'],
    ['NEL (C1)', '\u0085'],
    ['C1 APC', '\u009f'],
  ];
  const base = 'https://keys.example';
  const httpBlock = (): Record<string, Record<string, unknown>> => ({
    auth: { header: 'X-Admin-Token', scheme: 'Token' },
    create: { url: `${base}/keys`, keyPath: 'data.key', idPath: 'data.id' },
    test: { url: `${base}/me`, header: 'Authorization', scheme: 'Bearer' },
    revoke: { url: `${base}/keys/{{id}}` },
    list: { url: `${base}/keys`, itemsPath: 'items', namePath: 'name', idPath: 'id' },
  });
  /** Each field that reaches a URL, a header or a message, and a value for it with `c` inside. */
  const FIELDS: Array<[string, (c: string) => Record<string, unknown>]> = [
    ['key', (c) => sendgridSecret({ key: `sk-MARKER${c}x` })],
    ['key_id', (c) => sendgridSecret({ key_id: `id-MARKER${c}x` })],
    ['masterarn', (c) => sendgridSecret({ masterarn: `svc/MARKER${c}x` })],
    ['base_url', (c) => sendgridSecret({ base_url: `https://api.MARKER${c}.example` })],
    ['scopes.0', (c) => sendgridSecret({ scopes: [`mail.MARKER${c}send`] })],
    ['key_name_prefix', (c) => sendgridSecret({ key_name_prefix: `rot-MARKER${c}` })],
    ['key_prefix', (c) => ({ engine: 'api-key', provider: 'self-issued', key: KEY, key_prefix: `pk_MARKER${c}` })],
    ['key_alphabet', (c) => ({ engine: 'api-key', provider: 'self-issued', key: KEY, key_length: 200, key_alphabet: `ab${c}` })],
    ...(['create', 'test', 'revoke', 'list'] as const).map((route): [string, (c: string) => Record<string, unknown>] => [
      `http.${route}.url`,
      (c) => {
        const http = httpBlock();
        http[route] = { ...http[route], url: `https://keys.MARKER${c}.example/keys/{{id}}` };
        return sendgridSecret({ provider: 'http', http });
      },
    ]),
    ['http.auth.header', (c) => sendgridSecret({ provider: 'http', http: { ...httpBlock(), auth: { header: `X-MARKER${c}`, scheme: '' } } })],
    ['http.auth.scheme', (c) => sendgridSecret({ provider: 'http', http: { ...httpBlock(), auth: { header: 'X-Admin', scheme: `MARKER${c}` } } })],
    ['http.test.header', (c) => sendgridSecret({ provider: 'http', http: { ...httpBlock(), test: { url: `${base}/me`, header: `X-MARKER${c}` } } })],
    ['http.create.keyPath', (c) => sendgridSecret({ provider: 'http', http: { ...httpBlock(), create: { ...httpBlock().create, keyPath: `data.MARKER${c}` } } })],
  ];
  const cases = FIELDS.flatMap(([field, make]) => CONTROLS.map(([name, c]): [string, string, Record<string, unknown>, string] => [field, name, make(c), c]));

  it.each(cases)('%s refuses %s with INVALID_SECRET naming the field, never the value', (field, _name, value, c) => {
    const message = invalid(value).message;
    expect(message).toContain(`${field}:`);
    expect(message).not.toContain('MARKER');
    expect(message).not.toContain(c);
  });

  it('an unknown key in the http block is named with its control characters escaped', () => {
    const message = invalid(sendgridSecret({ provider: 'http', http: { ...httpBlock(), 'x\r\nforged: line': 1 } })).message;
    expect(message).toContain('unknown key(s): "x\\r\\nforged: line"');
    expect(message).not.toMatch(/[\r\n]/);
  });

  it('the same fields without control characters still validate', () => {
    rotator.validate(sendgridSecret({ provider: 'http', http: httpBlock(), key_id: 'id-1', scopes: ['mail.send'], key_name_prefix: 'rot-' }), 'the secret');
  });
});
