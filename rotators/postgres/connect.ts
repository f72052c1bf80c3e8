import type { ConnectionOptions } from 'node:tls';
import type { Client, QueryResult, QueryResultRow } from 'pg';
import { RotatorError, type ErrorCode } from '../../shared/errors.js';
import type { RotatorContext } from '../../shared/rotator.js';
import type { ConnectionSettings } from '../database.js';
import type { Statement } from './sql.js';

/**
 * One short-lived connection per operation: every setting that bounds how long it may take is set, TLS follows
 * the secret's `ssl` key, the caller's AbortSignal ends it, and every failure becomes a RotatorError whose
 * message names host, port and user but never a password, a verifier, or a statement that held one.
 */
/** Where and as whom to log in. */
export interface Endpoint {
  host: string;
  port: number;
  database: string;
  user: string;
  password: string;
  /** true: verified TLS; false: plaintext; undefined: verified TLS with the optional plaintext fallback. */
  ssl: boolean | undefined;
}

export interface Session {
  /** Whether this connection is encrypted. */
  readonly tls: boolean;
  /**
   * Whether the server asked for the password. A server with `trust` authentication logs anyone in without
   * asking, and such a login proves nothing about the password.
   */
  readonly passwordChecked: boolean;
  query<R extends QueryResultRow = QueryResultRow>(statement: Statement): Promise<QueryResult<R>>;
}

export const APPLICATION_NAME = 'rotator';

// The server's statement_timeout should fire first (a clean SQL error); the client-side read timeout only
// catches a server that stopped answering altogether.
const QUERY_TIMEOUT_MARGIN_MS = 2_000;
// How long a polite close may take before the socket is destroyed.
const CLOSE_TIMEOUT_MS = 1_000;

/** SQLSTATEs of a refused login: invalid_password, invalid_authorization_specification (incl. no pg_hba entry). */
const AUTH_SQLSTATES = new Set(['28P01', '28000']);
/** Server-side states worth retrying: too many connections, starting up / shutting down, lost connection. */
const UNAVAILABLE_SQLSTATES = new Set(['53300', '57P01', '57P02', '57P03']);
const NETWORK_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENETUNREACH', 'EHOSTDOWN', 'EPIPE', 'EAI_AGAIN', 'ENOTFOUND']);
/** OpenSSL verification results as Node reports them, besides the ERR_TLS_* / ERR_SSL_* families. */
const TLS_CODES = new Set([
  'UNABLE_TO_GET_ISSUER_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_DECRYPT_CERT_SIGNATURE',
  'UNABLE_TO_DECODE_ISSUER_PUBLIC_KEY',
  'CERT_SIGNATURE_FAILURE',
  'CERT_NOT_YET_VALID',
  'CERT_HAS_EXPIRED',
  'ERROR_IN_CERT_NOT_BEFORE_FIELD',
  'ERROR_IN_CERT_NOT_AFTER_FIELD',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'CERT_CHAIN_TOO_LONG',
  'CERT_REVOKED',
  'INVALID_CA',
  'PATH_LENGTH_EXCEEDED',
  'INVALID_PURPOSE',
  'CERT_UNTRUSTED',
  'CERT_REJECTED',
  'HOSTNAME_MISMATCH',
  'EPROTO',
]);
const NO_TLS_MESSAGE = 'The server does not support SSL connections';

interface DriverError {
  message: string;
  code?: unknown;
  severity?: unknown;
}

function asDriverError(error: unknown): DriverError {
  if (error instanceof Error) return error;
  return { message: String(error) };
}

/** An error the server sent (it has a SQLSTATE and a severity), as opposed to a network or TLS failure. */
function sqlState(error: DriverError): string | undefined {
  return typeof error.code === 'string' && /^[0-9A-Z]{5}$/.test(error.code) && typeof error.severity === 'string' ? error.code : undefined;
}

function isTlsFailure(error: DriverError): boolean {
  const code = typeof error.code === 'string' ? error.code : '';
  return TLS_CODES.has(code) || code.startsWith('ERR_TLS_') || code.startsWith('ERR_SSL_') || error.message === NO_TLS_MESSAGE;
}

/** True for a RotatorError that means the server refused the credential (not an outage, not TLS). */
export function isAuthFailure(error: unknown): boolean {
  return error instanceof RotatorError && error.code === 'TARGET_AUTH_FAILED';
}

function where(endpoint: Endpoint): string {
  return `PostgreSQL at ${endpoint.host}:${endpoint.port}`;
}

function abortedError(endpoint: Endpoint, signal: AbortSignal | undefined): RotatorError {
  return new RotatorError(
    'TARGET_UNREACHABLE',
    `gave up on ${where(endpoint)}: the operation was aborted (the caller's time ran out); the rotation can be run again safely`,
    { retryable: true, cause: signal?.reason },
  );
}

/** Maps a failure to open a connection. Connect-phase errors hold no statement, so the driver's text is safe. */
function connectError(error: unknown, endpoint: Endpoint, tls: boolean, settings: ConnectionSettings, ctx: RotatorContext): RotatorError {
  if (error instanceof RotatorError) return error;
  if (ctx.signal?.aborted === true) return abortedError(endpoint, ctx.signal);
  const e = asDriverError(error);
  const detail = ctx.logger.redactor.redact(e.message);
  const state = sqlState(e);
  const make = (code: ErrorCode, message: string, retryable = false): RotatorError => new RotatorError(code, message, { retryable, cause: error });
  if (state !== undefined) {
    if (AUTH_SQLSTATES.has(state)) {
      return make('TARGET_AUTH_FAILED', `${where(endpoint)} refused the login of user "${endpoint.user}" to database "${endpoint.database}" (${state}: ${detail})`);
    }
    if (UNAVAILABLE_SQLSTATES.has(state) || state.startsWith('08')) {
      return make('TARGET_UNREACHABLE', `${where(endpoint)} is not accepting connections (${state}: ${detail}); try again later`, true);
    }
    return make('TARGET_ERROR', `${where(endpoint)} refused the connection of user "${endpoint.user}" to database "${endpoint.database}" (${state}: ${detail})`);
  }
  if (tls && isTlsFailure(e)) {
    if (e.message === NO_TLS_MESSAGE) {
      return make(
        'TARGET_TLS',
        `${where(endpoint)} does not offer TLS. Enable ssl on the server; or, only on a trusted network, set "ssl": false in the secret (or ROTATOR_ALLOW_PLAINTEXT_FALLBACK=true when the secret has no "ssl" key)`,
      );
    }
    const code = typeof e.code === 'string' ? `${e.code}: ` : '';
    return make(
      'TARGET_TLS',
      `could not verify the TLS certificate of ${where(endpoint)} (${code}${detail}). Provide the CA that signed the server's certificate with ROTATOR_TLS_CA_FILE (for RDS, the RDS CA bundle) and check that the secret's host matches a name in the certificate; set "ssl": false only on a trusted network`,
    );
  }
  if (e.message === 'timeout expired') {
    return make('TARGET_UNREACHABLE', `${where(endpoint)} did not complete the login within ${settings.connectTimeoutMs} ms (ROTATOR_CONNECT_TIMEOUT_MS); check the host, port, security groups and firewall`, true);
  }
  const code = typeof e.code === 'string' ? e.code : undefined;
  if ((code !== undefined && NETWORK_CODES.has(code)) || /^Connection terminated/.test(e.message)) {
    return make(
      'TARGET_UNREACHABLE',
      `could not connect to ${where(endpoint)} (${detail}); check the host, port, security groups and firewall`,
      code !== 'ENOTFOUND',
    );
  }
  return make('TARGET_ERROR', `could not log in to ${where(endpoint)} as user "${endpoint.user}" (${detail})`);
}

/** Maps a failed statement. A sensitive statement's text and the server's details about it are never copied. */
function statementError(error: unknown, statement: Statement, endpoint: Endpoint, settings: ConnectionSettings, ctx: RotatorContext): RotatorError {
  if (ctx.signal?.aborted === true) return abortedError(endpoint, ctx.signal);
  const e = asDriverError(error);
  const state = sqlState(e);
  const sensitive = statement.sensitive ?? [];
  // Server messages may quote a token of the statement (syntax errors do); drop any that mentions the secret.
  const mentionsSecret = sensitive.some((s) => secretFragments(s).some((f) => e.message.includes(f))) || e.message.includes('SCRAM-SHA-256');
  const serverText = mentionsSecret ? 'the server message is withheld because it quotes the statement' : ctx.logger.redactor.redact(e.message);
  // The driver's error object holds the server's detail, hint and internal query: keep it only when harmless.
  const cause = sensitive.length === 0 ? error : new Error(state === undefined ? 'statement failed' : `SQLSTATE ${state}`);
  const what = `${statement.label} on ${where(endpoint)} as user "${endpoint.user}"`;
  if (state === '57014' || e.message === 'Query read timeout') {
    return new RotatorError('TARGET_UNREACHABLE', `${what} did not finish within ${settings.statementTimeoutMs} ms (ROTATOR_STATEMENT_TIMEOUT_MS); the server may be overloaded or a lock held`, {
      retryable: true,
      cause,
    });
  }
  if (state === undefined) {
    // No SQLSTATE: the connection broke while the statement ran.
    return new RotatorError('TARGET_UNREACHABLE', `${what} failed: the connection was lost (${serverText})`, { retryable: true, cause });
  }
  const retryable = UNAVAILABLE_SQLSTATES.has(state) || state.startsWith('08') || state === '40001' || state === '40P01' || state === '55P03';
  const code: ErrorCode = UNAVAILABLE_SQLSTATES.has(state) || state.startsWith('08') ? 'TARGET_UNREACHABLE' : 'TARGET_ERROR';
  return new RotatorError(code, `${what} failed (${state}: ${serverText})`, { retryable, cause });
}

/** The verifier and each of its parts (salt, keys), any of which a server message might quote. */
function secretFragments(secret: string): string[] {
  return [secret, ...secret.split(/[$:]/).filter((part) => part.length >= 8)];
}

function clientConfig(endpoint: Endpoint, settings: ConnectionSettings, tls: boolean): ConstructorParameters<typeof Client>[0] {
  const ssl: ConnectionOptions | false = tls
    ? {
        // Certificate chain and host name are both verified: the driver hands the host to tls.connect, whose
        // default checkServerIdentity matches it against the certificate's names (IP SANs for IP addresses).
        rejectUnauthorized: true,
        ...(settings.tls.ca === undefined ? {} : { ca: settings.tls.ca }),
      }
    : false;
  return {
    host: endpoint.host,
    port: endpoint.port,
    database: endpoint.database,
    user: endpoint.user,
    password: endpoint.password,
    ssl,
    application_name: APPLICATION_NAME,
    connectionTimeoutMillis: settings.connectTimeoutMs,
    statement_timeout: settings.statementTimeoutMs,
    // A crash between BEGIN and COMMIT must not leave locks on pg_authid behind.
    idle_in_transaction_session_timeout: settings.statementTimeoutMs,
    query_timeout: settings.statementTimeoutMs + QUERY_TIMEOUT_MARGIN_MS,
    keepAlive: true,
  };
}

/** How the server authenticated the login, learnt from the messages it sent before AuthenticationOk. */
interface Authentication {
  passwordChecked: boolean;
  /** Set when we cut the login short because the server wanted the password in cleartext over plaintext. */
  refusedCleartext: boolean;
}

async function openClient(endpoint: Endpoint, settings: ConnectionSettings, ctx: RotatorContext, tls: boolean): Promise<{ client: Client; auth: Authentication }> {
  if (ctx.signal?.aborted === true) throw abortedError(endpoint, ctx.signal);
  // The driver is loaded on the first connection, not at import: a purge that meets no PostgreSQL secret needing a
  // revocation, or a createSecret/finishSecret step, never evaluates it.
  const { default: pg } = await import('pg');
  const client = new pg.Client(clientConfig(endpoint, settings, tls));
  // A connection error after login arrives as an event; without a listener it would crash the process.
  client.on('error', (error) => ctx.logger.debug('postgres connection error', { host: endpoint.host, port: endpoint.port, error }));
  const auth: Authentication = { passwordChecked: false, refusedCleartext: false };
  // Registered before connect(), so these run before the driver's own handlers answer the server.
  for (const request of ['authenticationMD5Password', 'authenticationSASL'] as const) {
    client.connection.on(request, () => (auth.passwordChecked = true));
  }
  client.connection.on('authenticationCleartextPassword', () => {
    auth.passwordChecked = true;
    // libpq's require_auth has no counterpart in the driver: cut the socket before the password is written.
    if (!tls) {
      auth.refusedCleartext = true;
      client.connection.stream.destroy();
    }
  });
  const onAbort = (): void => {
    client.connection.stream.destroy();
  };
  ctx.signal?.addEventListener('abort', onAbort, { once: true });
  try {
    await client.connect();
    return { client, auth };
  } catch (error) {
    client.connection.stream.destroy();
    if (auth.refusedCleartext) {
      throw new RotatorError(
        'TARGET_TLS',
        `${where(endpoint)} asked for the password of user "${endpoint.user}" in cleartext over an unencrypted connection; refusing to send it. Enable TLS ("ssl": true) or scram-sha-256 authentication on the server`,
      );
    }
    throw connectError(error, endpoint, tls, settings, ctx);
  } finally {
    ctx.signal?.removeEventListener('abort', onAbort);
  }
}

async function closeClient(client: Client): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  try {
    await Promise.race([client.end(), new Promise((resolve) => (timer = setTimeout(resolve, CLOSE_TIMEOUT_MS)))]);
  } catch {
    // Closing a broken connection may fail; the socket is destroyed below either way.
  } finally {
    clearTimeout(timer);
    client.connection.stream.destroy();
  }
}

/** Connects following the secret's `ssl` key (see TlsOptions), falling back to plaintext only where allowed. */
async function connect(endpoint: Endpoint, settings: ConnectionSettings, ctx: RotatorContext): Promise<{ client: Client; auth: Authentication; tls: boolean }> {
  if (endpoint.ssl === false) return { ...(await openClient(endpoint, settings, ctx, false)), tls: false };
  try {
    return { ...(await openClient(endpoint, settings, ctx, true)), tls: true };
  } catch (error) {
    const noTls = error instanceof RotatorError && error.code === 'TARGET_TLS' && error.cause instanceof Error && error.cause.message === NO_TLS_MESSAGE;
    if (endpoint.ssl === undefined && settings.tls.allowPlaintextFallback === true && noTls) {
      ctx.logger.warn(
        'the server does not offer TLS; connecting in plaintext because ROTATOR_ALLOW_PLAINTEXT_FALLBACK is set. Enable TLS on the server, or set "ssl": false in the secret to make this explicit',
        { host: endpoint.host, port: endpoint.port, user: endpoint.user },
      );
      return { ...(await openClient(endpoint, settings, ctx, false)), tls: false };
    }
    throw error;
  }
}

/**
 * Opens a connection as `endpoint.user`, runs `use`, and closes the connection whatever happens. An abort of
 * `ctx.signal` destroys the connection, so a pending connect or statement fails at once.
 */
export async function withSession<T>(endpoint: Endpoint, settings: ConnectionSettings, ctx: RotatorContext, use: (session: Session) => Promise<T>): Promise<T> {
  const { client, auth, tls } = await connect(endpoint, settings, ctx);
  const onAbort = (): void => {
    client.connection.stream.destroy();
  };
  ctx.signal?.addEventListener('abort', onAbort, { once: true });
  try {
    const session: Session = {
      tls,
      passwordChecked: auth.passwordChecked,
      query: async <R extends QueryResultRow>(statement: Statement) => {
        if (ctx.signal?.aborted === true) throw abortedError(endpoint, ctx.signal);
        try {
          return await client.query<R>(statement.text, statement.values);
        } catch (error) {
          throw statementError(error, statement, endpoint, settings, ctx);
        }
      },
    };
    return await use(session);
  } finally {
    ctx.signal?.removeEventListener('abort', onAbort);
    await closeClient(client);
  }
}

/**
 * Logs in and runs `statement`; false when the server refuses the credential, and throws on anything else
 * (outage, TLS), which must not be mistaken for "does not work". A server that lets the user in without asking
 * for a password (trust authentication) proves nothing about the password: with `passwordMustBeChecked` that
 * counts as false ("is this the password?"); without it, as true ("can this credential be used?").
 */
export async function canLogIn(
  endpoint: Endpoint,
  settings: ConnectionSettings,
  ctx: RotatorContext,
  statement: Statement,
  { passwordMustBeChecked }: { passwordMustBeChecked: boolean },
): Promise<boolean> {
  try {
    const checked = await withSession(endpoint, settings, ctx, async (session) => {
      await session.query(statement);
      return session.passwordChecked;
    });
    if (!checked) warnTrust(endpoint, ctx);
    return checked || !passwordMustBeChecked;
  } catch (error) {
    if (isAuthFailure(error)) return false;
    throw error;
  }
}

export function warnTrust(endpoint: Endpoint, ctx: RotatorContext): void {
  ctx.logger.warn(
    'the server let the user in without asking for a password (trust authentication), so the login proves nothing about the password; require scram-sha-256 in pg_hba.conf',
    { host: endpoint.host, port: endpoint.port, user: endpoint.user },
  );
}
