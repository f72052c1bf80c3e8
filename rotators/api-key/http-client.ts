import { RotatorError, type ErrorCode } from '../../shared/errors.js';

/**
 * The one place API-key providers talk HTTP. Every request has a timeout and follows the caller's signal; redirects
 * are refused (a redirect would carry a credential to another host); response bodies never reach an error message
 * (a provider may echo a key back). A client given `allowedOrigins` refuses, before connecting, any URL on another
 * origin, and sends the URL exactly as it checked it (see endpoints.ts).
 */
export type FetchLike = (input: string, init: RequestInit) => Promise<Response>;

export interface HttpClientOptions {
  /** The provider's name, for messages. */
  provider: string;
  timeoutMs: number;
  fetch?: FetchLike;
  signal?: AbortSignal | undefined;
  /** When set, the only origins (`https://host[:port]`) requests may go to; anything else is INVALID_SECRET. */
  allowedOrigins?: ReadonlySet<string> | undefined;
}

export interface HttpRequest {
  method: string;
  url: string;
  headers?: Record<string, string>;
  body?: unknown;
  /** What the request does, for messages: "creating an API key". */
  operation: string;
}

export interface HttpResponse {
  status: number;
  /** The parsed JSON body, or undefined when there was none or it was not JSON. */
  json: unknown;
}

/** An HTTP status the provider answered with, as a RotatorError whose code and retryability follow the status. */
export class ProviderHttpError extends RotatorError {
  readonly status: number;

  constructor(provider: string, operation: string, status: number) {
    const { code, retryable, hint } = classifyStatus(status);
    super(code, `${provider}: ${operation} failed with HTTP ${status}; ${hint}`, { retryable });
    this.status = status;
  }
}

function classifyStatus(status: number): { code: ErrorCode; retryable: boolean; hint: string } {
  if (status === 401 || status === 403) return { code: 'TARGET_AUTH_FAILED', retryable: false, hint: 'the provider refused the credential' };
  if (status === 429) return { code: 'TARGET_UNREACHABLE', retryable: true, hint: 'the provider is rate limiting; retry later' };
  if (status >= 500) return { code: 'TARGET_UNREACHABLE', retryable: true, hint: 'the provider is failing; retry later' };
  return { code: 'TARGET_ERROR', retryable: false, hint: 'the provider rejected the request' };
}

export interface HttpClient {
  /** Sends the request; network failures and timeouts throw TARGET_UNREACHABLE, any HTTP status is returned. */
  send(request: HttpRequest): Promise<HttpResponse>;
  /** Like send, but a status outside 2xx throws a ProviderHttpError. */
  ok(request: HttpRequest): Promise<HttpResponse>;
  readonly provider: string;
}

export function createHttpClient(options: HttpClientOptions): HttpClient {
  const doFetch: FetchLike = options.fetch ?? ((input, init) => fetch(input, init));
  const { provider, timeoutMs } = options;

  /** The URL as fetch will read it, after the origin check. */
  const target = (request: HttpRequest): string => {
    let url: URL;
    try {
      url = new URL(request.url);
    } catch {
      throw new RotatorError('INVALID_SECRET', `${provider}: ${request.operation}: the URL is not valid; check the URLs in the secret`);
    }
    const allowed = options.allowedOrigins;
    if (allowed !== undefined && !allowed.has(url.origin)) {
      throw new RotatorError(
        'INVALID_SECRET',
        `${provider}: refusing to send a request for ${request.operation} to ${url.origin}, an origin the master secret does not allow; ` +
          'add it to "allowed_origins" in the master secret if it is yours',
      );
    }
    return url.href;
  };

  const send = async (request: HttpRequest): Promise<HttpResponse> => {
    const href = target(request);
    const timeout = AbortSignal.timeout(timeoutMs);
    const signal = options.signal === undefined ? timeout : AbortSignal.any([timeout, options.signal]);
    const headers: Record<string, string> = { accept: 'application/json', ...request.headers };
    const init: RequestInit = { method: request.method, headers, redirect: 'error', signal };
    if (request.body !== undefined) {
      headers['content-type'] = 'application/json';
      init.body = JSON.stringify(request.body);
    }
    let response: Response;
    let text: string;
    try {
      response = await doFetch(href, init);
      text = await response.text();
    } catch (error) {
      const why = options.signal?.aborted === true ? 'was aborted by the caller' : timeout.aborted ? `got no answer within ${timeoutMs} ms` : 'could not connect';
      // The host names where; the path is left out (it may carry a key id). fetch errors carry no header values.
      throw new RotatorError('TARGET_UNREACHABLE', `${provider}: ${request.operation} at ${hostOf(request.url)} ${why}; check the base URL and the network, then retry`, {
        retryable: true,
        cause: error,
      });
    }
    let json: unknown;
    if (text.length > 0) {
      try {
        json = JSON.parse(text);
      } catch {
        json = undefined;
      }
    }
    return { status: response.status, json };
  };

  return {
    provider,
    send,
    async ok(request) {
      const response = await send(request);
      if (response.status < 200 || response.status > 299) throw new ProviderHttpError(provider, request.operation, response.status);
      return response;
    },
  };
}

/** Reads `a.b.0.c` from a parsed JSON value. */
export function readPath(value: unknown, path: string): unknown {
  let node = value;
  for (const part of path.split('.')) {
    if (Array.isArray(node) && /^\d+$/.test(part)) node = node[Number(part)];
    else if (node !== null && typeof node === 'object' && !Array.isArray(node)) node = (node as Record<string, unknown>)[part];
    else return undefined;
  }
  return node;
}

/** A string (or a number, for numeric ids) at `path`, or TARGET_ERROR naming the path, never the body. */
export function requirePath(provider: string, operation: string, value: unknown, path: string): string {
  const found = readPath(value, path);
  if (typeof found === 'string' && found.length > 0) return found;
  if (typeof found === 'number' && Number.isFinite(found)) return String(found);
  throw new RotatorError('TARGET_ERROR', `${provider}: ${operation}: the response has no "${path}"; check the provider's API settings in the secret`);
}

/** The auth header value: `Bearer <key>`, or the bare key when the scheme is empty. */
export function presentKey(scheme: string, key: string): string {
  return scheme === '' ? key : `${scheme} ${key}`;
}

/** The string at `path`, or '' (a listed key without a name is simply not one of ours). */
export function stringAt(value: unknown, path: string): string {
  const found = readPath(value, path);
  return typeof found === 'string' ? found : '';
}

function hostOf(url: string): string {
  try {
    return new URL(url).host;
  } catch {
    return 'an invalid URL';
  }
}
