import { RotatorError } from '../../shared/errors.js';
import type { SecretObject } from '../../shared/secret.js';
import { escapeControl, hasControlCharacter } from '../../shared/control-chars.js';
import { isLoopbackHost, type ApiKeySecret, type ProviderName } from './secret.js';

/**
 * Where a credential may be sent. The admin credential lives in the master secret, the URLs in the rotated secret,
 * which more people may be able to write. So the rotated secret never decides alone: every URL it names must be on
 * an origin (scheme, host, port) the master secret allows in `allowed_origins`, or one of the provider's own API
 * hosts below. The check runs on URLs as the WHATWG parser (the one fetch uses) reads them and compares origins, not
 * strings, so userinfo, case, punycode, default ports, backslashes and dot segments cannot smuggle a host through.
 *
 * It guards the minted key too: a test URL that points elsewhere would hand each new key to whoever wrote it.
 */
export const ALLOWED_ORIGINS_KEY = 'allowed_origins';

/** The API hosts each provider documents; a base_url on one of them needs nothing in the master secret. */
export const OFFICIAL_ORIGINS: Readonly<Record<Exclude<ProviderName, 'self-issued'>, readonly string[]>> = {
  // Global, and EU regional subusers.
  sendgrid: ['https://api.sendgrid.com', 'https://api.eu.sendgrid.com'],
  // One API host per Datadog site: US1, US3, US5, EU1, AP1, AP2, UK1, US1-FED, US2-FED.
  datadog: [
    'https://api.datadoghq.com',
    'https://api.us3.datadoghq.com',
    'https://api.us5.datadoghq.com',
    'https://api.datadoghq.eu',
    'https://api.ap1.datadoghq.com',
    'https://api.ap2.datadoghq.com',
    'https://api.uk1.datadoghq.com',
    'https://api.ddog-gov.com',
    'https://api.us2.ddog-gov.com',
  ],
  http: [],
};

/** A URL the rotator will call, and the secret field it came from (for messages). */
export interface Endpoint {
  field: string;
  url: string;
}

/** The origin fetch would connect to for `url`, or undefined when it is not an http(s) URL. */
export function originOf(url: string): string | undefined {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return undefined;
  }
  return parsed.protocol === 'https:' || parsed.protocol === 'http:' ? parsed.origin : undefined;
}

/** The origins the master secret allows, parsed. Entries are named by position, never echoed (it is a secret). */
export function masterOrigins(master: SecretObject): string[] {
  const raw = master[ALLOWED_ORIGINS_KEY];
  if (raw === undefined) return [];
  // A string (what the AWS console's key/value editor writes) holds origins separated by commas or spaces.
  const entries = typeof raw === 'string' ? raw.split(/[\s,]+/).filter((s) => s.length > 0) : raw;
  if (!Array.isArray(entries)) {
    throw new RotatorError('INVALID_SECRET', `the master secret is invalid: ${ALLOWED_ORIGINS_KEY}: must be a list of origins, or one string of them separated by commas`);
  }
  return entries.map((entry: unknown, index) => {
    const origin = typeof entry === 'string' ? masterOrigin(entry) : undefined;
    if (origin === undefined) {
      throw new RotatorError(
        'INVALID_SECRET',
        `the master secret is invalid: ${ALLOWED_ORIGINS_KEY}[${index}]: must be an origin such as https://keys.example.com or https://keys.example.com:8443 ` +
          '(https, or http to 127.0.0.1, localhost or [::1]; no path, query or credentials)',
      );
    }
    return origin;
  });
}

function masterOrigin(entry: string): string | undefined {
  if (hasControlCharacter(entry) || entry.includes('\\')) return undefined;
  let url: URL;
  try {
    url = new URL(entry);
  } catch {
    return undefined;
  }
  if (url.username !== '' || url.password !== '' || url.pathname !== '/' || url.search !== '' || url.hash !== '') return undefined;
  // Plain http is only ever for a test server or sidecar on this machine, and only when the master names it.
  if (url.protocol === 'https:' || (url.protocol === 'http:' && isLoopbackHost(url.hostname))) return url.origin;
  return undefined;
}

/** The origins a secret's requests may go to: the provider's own hosts and whatever the master secret adds. */
export function allowedOrigins(provider: ProviderName, master: SecretObject): ReadonlySet<string> {
  const official = provider === 'self-issued' ? [] : OFFICIAL_ORIGINS[provider];
  return new Set([...official, ...masterOrigins(master)]);
}

/**
 * Refuses, before any request, a secret that names a URL outside the allowed origins; returns the allowed set for
 * the HTTP client, which checks every request again as it sends it.
 */
export function checkEndpoints(secret: ApiKeySecret, endpoints: readonly Endpoint[], master: SecretObject, what: string): ReadonlySet<string> {
  const allowed = allowedOrigins(secret.provider, master);
  for (const { field, url } of endpoints) {
    const origin = originOf(url);
    if (origin !== undefined && allowed.has(origin)) continue;
    const shown = origin === undefined ? 'a URL that is not http(s)' : escapeControl(origin);
    const official = secret.provider === 'self-issued' ? [] : OFFICIAL_ORIGINS[secret.provider];
    const defaults = official.length === 0 ? `${secret.provider} has no default hosts` : `${secret.provider}'s own hosts need no entry: ${official.join(', ')}`;
    throw new RotatorError(
      'INVALID_SECRET',
      `${secret.provider}: ${what} sends credentials to ${field} (${shown}), an origin the master secret does not allow; nothing was sent. ` +
        `If that endpoint is yours, add "${origin ?? 'https://host[:port]'}" to "${ALLOWED_ORIGINS_KEY}" in the master secret` +
        `${secret.masterarn === undefined ? '' : ` (${escapeControl(secret.masterarn)})`}; ${defaults}`,
    );
  }
  return allowed;
}
