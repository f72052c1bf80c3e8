import mysql from 'mysql2';
import type { AuthPlugin, ConnectionOptions, RowDataPacket } from 'mysql2';
import { RotatorError, type ErrorCode } from '../../shared/errors.js';
import type { ConnectionSettings } from '../database.js';
import type { RotatorContext } from '../../shared/rotator.js';
import { parseServerInfo } from './server-info.js';
import type { Account, MysqlSession, ServerInfo } from './session.js';
import { detectServer, sessionTimeouts, type Statement } from './statements.js';

/**
 * One short-lived connection per operation (mysql2): every setting that bounds how long it may take is set, TLS
 * follows the secret's `ssl` key exactly as for PostgreSQL, the caller's AbortSignal destroys the connection, and
 * every failure becomes a RotatorError whose message names host, port and user but never a password, a hash, or
 * a statement that held one.
 *
 * What a successful login proves: MySQL and MariaDB check the password of the account the server matched, and an
 * account with an empty password refuses a client that sends one. `unix_socket` (MariaDB) and `auth_socket`
 * (MySQL) let a local OS user in without a password, but only over the unix socket; the rotator always connects
 * over TCP. What remains is a login the server let in as another account (an anonymous ''@host account shadowing
 * the user, or a server started with --skip-grant-tables, which lets anyone in): the session reads CURRENT_USER()
 * and `authenticatedAsUser` is false then, and such a login is never taken as proof that a password works.
 */
/** Where and as whom to log in. */
export interface Endpoint {
  host: string;
  port: number;
  /** The default database; none when undefined. */
  database: string | undefined;
  user: string;
  password: string;
  /** true: verified TLS; false: plaintext; undefined: verified TLS with the optional plaintext fallback. */
  ssl: boolean | undefined;
  /**
   * On a plaintext connection, let caching_sha2_password / sha256_password fetch the server's RSA public key to
   * encrypt the password with. Off by default: the key is not authenticated, so whoever sits in the middle can
   * hand over their own and read the password. Over TLS the key is never needed.
   */
  allowPublicKeyRetrieval: boolean;
}

export interface MysqlConnection extends MysqlSession {
  /** Whether this connection is encrypted. */
  readonly tls: boolean;
  /** The account the server logged us in as (CURRENT_USER()). */
  readonly account: Account;
  /** False when the server let us in as another account than `endpoint.user` (see the module comment). */
  readonly authenticatedAsUser: boolean;
  /** Runs a statement built by statements.ts (its label names it in errors). */
  run<T = Record<string, unknown>>(statement: Statement): Promise<T[]>;
}

// The server's lock_wait_timeout / max_statement_time should fire first (a clean SQL error); the client-side
// timeout only catches a server that stopped answering altogether.
const QUERY_TIMEOUT_MARGIN_MS = 2_000;
// How long a polite close may take before the socket is destroyed.
const CLOSE_TIMEOUT_MS = 1_000;

/** Refused logins: ER_ACCESS_DENIED_ERROR, ER_ACCESS_DENIED_NO_PASSWORD_ERROR, ER_HOST_NOT_PRIVILEGED (no account for this client host). */
const AUTH_ERRNOS = new Set([1045, 1698, 1130]);
const DATABASE_DENIED_ERRNO = 1044;
/** ER_MUST_CHANGE_PASSWORD(_LOGIN): the account's password has expired. */
const EXPIRED_ERRNOS = new Set([1820, 1862]);
/** ER_ACCOUNT_HAS_BEEN_LOCKED (MySQL 3118, MariaDB 4151). */
const LOCKED_ERRNOS = new Set([3118, 4151]);
/** Too many connections (global, per user, per hour), server shutting down, server gone, lost connection. */
const UNAVAILABLE_ERRNOS = new Set([1040, 1203, 1226, 1053, 2006, 2013]);
/** ER_SECURE_TRANSPORT_REQUIRED: the server requires TLS (require_secure_transport) and we came in plaintext. */
const SECURE_TRANSPORT_ERRNO = 3159;
/** ER_HOST_IS_BLOCKED: too many failed connects from this host; only FLUSH HOSTS helps. */
const HOST_BLOCKED_ERRNO = 1129;
/** Lock wait timeout, MariaDB max_statement_time, MySQL max_execution_time. */
const TIMEOUT_ERRNOS = new Set([1205, 1969, 3024]);
/** ER_LOCK_DEADLOCK: retrying is the documented answer. */
const DEADLOCK_ERRNO = 1213;
/** ER_PARSE_ERROR quotes the statement from the point it stopped understanding ("near '...'"). */
const PARSE_ERRNO = 1064;

const NETWORK_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENETUNREACH', 'EHOSTDOWN', 'EPIPE', 'EAI_AGAIN', 'ENOTFOUND', 'PROTOCOL_CONNECTION_LOST']);
/** OpenSSL verification results as Node reports them, besides the ERR_TLS_* / ERR_SSL_* families. */
const TLS_CODES = new Set([
  'HANDSHAKE_SSL_ERROR', // mysql2 puts this on every failure of its TLS upgrade, replacing Node's own code
  'UNABLE_TO_GET_ISSUER_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'CERT_HAS_EXPIRED',
  'CERT_NOT_YET_VALID',
  'HOSTNAME_MISMATCH',
  'EPROTO',
]);
/** mysql2's code when the server's greeting does not offer TLS (the system MariaDB without ssl says so). */
export const NO_TLS_CODE = 'HANDSHAKE_NO_SSL_SUPPORT';
/** mysql2's code when the server asks for mysql_clear_password and no plugin for it was given. */
const CLEARTEXT_CODE = 'MYSQL_CLEAR_PASSWORD_NOT_ENABLED';

/** The request-public-key packets of caching_sha2_password (2) and sha256_password (1). */
const KEY_REQUEST: Readonly<Record<string, number>> = { caching_sha2_password: 2, sha256_password: 1 };

interface DriverError {
  message: string;
  code?: unknown;
  errno?: unknown;
  sqlState?: unknown;
  syscall?: unknown;
}

function asDriverError(error: unknown): DriverError {
  if (error instanceof Error) return error;
  return { message: String(error) };
}

/** The server's error number, when the server (not the network or the driver) produced the error. */
function serverErrno(error: DriverError): number | undefined {
  return typeof error.errno === 'number' && error.errno > 0 && typeof error.sqlState === 'string' ? error.errno : undefined;
}

function errorCode(error: DriverError): string {
  return typeof error.code === 'string' ? error.code : '';
}

function isTlsFailure(error: DriverError): boolean {
  const code = errorCode(error);
  return TLS_CODES.has(code) || code.startsWith('ERR_TLS_') || code.startsWith('ERR_SSL_') || code === NO_TLS_CODE;
}

/** True for a RotatorError that means the server refused the credential (not an outage, not TLS). */
export function isAuthFailure(error: unknown): boolean {
  return error instanceof RotatorError && error.code === 'TARGET_AUTH_FAILED';
}

export function where(endpoint: Pick<Endpoint, 'host' | 'port'>): string {
  return `MySQL/MariaDB at ${endpoint.host}:${endpoint.port}`;
}

function abortedError(endpoint: Endpoint, signal: AbortSignal | undefined): RotatorError {
  return new RotatorError(
    'TARGET_UNREACHABLE',
    `gave up on ${where(endpoint)}: the operation was aborted (the caller's time ran out); the rotation can be run again safely`,
    { retryable: true, cause: signal?.reason },
  );
}

/** What the authentication plugins refused to do during one login. */
export interface AuthGuard {
  refusedKeyRetrieval: string | undefined;
}

/**
 * mysql2 fetches the server's RSA public key whenever caching_sha2_password or sha256_password needs the full
 * password over a plaintext connection, with no option to forbid it. These wrappers run mysql2's own plugins and
 * cut the login short at the moment they would ask for the key, unless retrieval is allowed. Over TLS the plugins
 * send the password inside the tunnel and never ask.
 */
export function guardedAuthPlugins(tls: boolean, allowPublicKeyRetrieval: boolean, guard: AuthGuard): Record<string, AuthPlugin> {
  const plugins: Record<string, AuthPlugin> = {};
  const standard = { caching_sha2_password: mysql.authPlugins.caching_sha2_password({}), sha256_password: mysql.authPlugins.sha256_password({}) };
  for (const [name, inner] of Object.entries(standard)) {
    const request = KEY_REQUEST[name];
    plugins[name] = (meta) => {
      const step = inner(meta);
      return (data) => {
        const out = step(data);
        if (!tls && !allowPublicKeyRetrieval && Buffer.isBuffer(out) && out.length === 1 && out[0] === request) {
          guard.refusedKeyRetrieval = name;
          throw new Error(`refusing to fetch the server's RSA public key for ${name} over a plaintext connection`);
        }
        return out;
      };
    };
  }
  // mysql_clear_password sends the password as it is: allowed inside TLS only (mysql2 refuses it otherwise).
  if (tls) plugins.mysql_clear_password = mysql.authPlugins.mysql_clear_password({});
  return plugins;
}

/** Maps a failure to open a connection. Connect-phase errors hold no statement, so the driver's text is safe. */
function connectError(error: unknown, endpoint: Endpoint, tls: boolean, settings: ConnectionSettings, ctx: RotatorContext, guard: AuthGuard): RotatorError {
  if (error instanceof RotatorError) return error;
  if (ctx.signal?.aborted === true) return abortedError(endpoint, ctx.signal);
  const e = asDriverError(error);
  const detail = ctx.logger.redactor.redact(e.message);
  const code = errorCode(e);
  const make = (c: ErrorCode, message: string, retryable = false): RotatorError => new RotatorError(c, message, { retryable, cause: error });
  const user = `user "${endpoint.user}"`;
  if (guard.refusedKeyRetrieval !== undefined) {
    return make(
      'TARGET_TLS',
      `${where(endpoint)} wants the full password of ${user} (${guard.refusedKeyRetrieval}) over an unencrypted connection, which needs the server's RSA public key; fetching it unauthenticated would let anyone in the middle read the password, so the login was stopped. Use TLS (drop "ssl": false), or, only on a trusted network, set "allowPublicKeyRetrieval": true in the secret or ROTATOR_ALLOW_PUBLIC_KEY_RETRIEVAL=true`,
    );
  }
  if (code === CLEARTEXT_CODE) {
    return make(
      'TARGET_TLS',
      `${where(endpoint)} asked for the password of ${user} in cleartext (mysql_clear_password) over an unencrypted connection; refusing to send it. Enable TLS ("ssl": true)`,
    );
  }
  const errno = serverErrno(e);
  if (errno !== undefined) {
    const server = `(${errno}: ${detail})`;
    if (AUTH_ERRNOS.has(errno)) return make('TARGET_AUTH_FAILED', `${where(endpoint)} refused the login of ${user} ${server}`);
    if (errno === DATABASE_DENIED_ERRNO) {
      return make('TARGET_AUTH_FAILED', `${where(endpoint)} refused ${user} access to database "${endpoint.database ?? ''}" ${server}; grant it or remove "dbname" from the secret`);
    }
    if (EXPIRED_ERRNOS.has(errno)) return make('TARGET_AUTH_FAILED', `the password of ${user} on ${where(endpoint)} has expired ${server}; reset it by hand and store it as the current secret value`);
    if (LOCKED_ERRNOS.has(errno)) return make('TARGET_AUTH_FAILED', `the account of ${user} on ${where(endpoint)} is locked ${server}; unlock it (ALTER USER ... ACCOUNT UNLOCK)`);
    if (errno === SECURE_TRANSPORT_ERRNO) return make('TARGET_TLS', `${where(endpoint)} requires TLS ${server}; remove "ssl": false from the secret`);
    if (errno === HOST_BLOCKED_ERRNO) {
      return make('TARGET_UNREACHABLE', `${where(endpoint)} blocks this client host after too many failed connections ${server}; run FLUSH HOSTS on the server, then retry`);
    }
    if (UNAVAILABLE_ERRNOS.has(errno)) return make('TARGET_UNREACHABLE', `${where(endpoint)} is not accepting connections ${server}; try again later`, true);
    return make('TARGET_ERROR', `${where(endpoint)} refused the connection of ${user} ${server}`);
  }
  if (tls && isTlsFailure(e)) {
    if (code === NO_TLS_CODE) {
      return make(
        'TARGET_TLS',
        `${where(endpoint)} does not offer TLS. Enable TLS on the server (ssl_cert / ssl_key); or, only on a trusted network, set "ssl": false in the secret (or ROTATOR_ALLOW_PLAINTEXT_FALLBACK=true when the secret has no "ssl" key)`,
      );
    }
    return make(
      'TARGET_TLS',
      `could not verify the TLS certificate of ${where(endpoint)} (${detail}). Provide the CA that signed the server's certificate with ROTATOR_TLS_CA_FILE (for RDS, the RDS CA bundle) and check that the secret's host matches a name in the certificate; set "ssl": false only on a trusted network`,
    );
  }
  if (code === 'ETIMEDOUT' && e.syscall === 'connect') {
    return make(
      'TARGET_UNREACHABLE',
      `${where(endpoint)} did not complete the login within ${settings.connectTimeoutMs} ms (ROTATOR_CONNECT_TIMEOUT_MS); check the host, port, security groups and firewall`,
      true,
    );
  }
  if (NETWORK_CODES.has(code)) {
    return make('TARGET_UNREACHABLE', `could not connect to ${where(endpoint)} (${detail}); check the host, port, security groups and firewall`, code !== 'ENOTFOUND');
  }
  return make('TARGET_ERROR', `could not log in to ${where(endpoint)} as ${user} (${detail})`);
}

/** A secret or any 8-character piece of it (a parse error quotes the statement from where it stopped). */
function mentionsSecret(text: string, secrets: readonly string[]): boolean {
  const window = 8;
  for (const secret of secrets) {
    for (const form of new Set([secret, mysql.escape(secret).slice(1, -1), secret.replaceAll("'", "''")])) {
      if (form.length <= window) {
        if (text.includes(form)) return true;
        continue;
      }
      for (let i = 0; i + window <= form.length; i++) if (text.includes(form.slice(i, i + window))) return true;
    }
  }
  return false;
}

/** Maps a failed statement. A sensitive statement's text and the server's echo of it are never copied. */
function statementError(error: unknown, statement: Statement, endpoint: Endpoint, settings: ConnectionSettings, ctx: RotatorContext): RotatorError {
  if (error instanceof RotatorError) return error;
  if (ctx.signal?.aborted === true) return abortedError(endpoint, ctx.signal);
  const e = asDriverError(error);
  const errno = serverErrno(e);
  const sensitive = statement.sensitive ?? [];
  const withhold = sensitive.length > 0 && (errno === PARSE_ERRNO || mentionsSecret(e.message, sensitive));
  const serverText = withhold ? 'the server message is withheld because it quotes the statement' : ctx.logger.redactor.redact(e.message);
  // mysql2's error object keeps the whole statement (`sql`): keep it as the cause only when it holds no secret.
  const sqlState = typeof e.sqlState === 'string' ? e.sqlState : '';
  const cause = sensitive.length === 0 ? error : new Error(errno === undefined ? 'statement failed' : `MySQL error ${errno} (SQLSTATE ${sqlState})`);
  const what = `${statement.label} on ${where(endpoint)} as user "${endpoint.user}"`;
  if ((errno !== undefined && TIMEOUT_ERRNOS.has(errno)) || errorCode(e) === 'PROTOCOL_SEQUENCE_TIMEOUT') {
    return new RotatorError(
      'TARGET_UNREACHABLE',
      `${what} did not finish within ${settings.statementTimeoutMs} ms (ROTATOR_STATEMENT_TIMEOUT_MS); the server may be overloaded or a lock held`,
      { retryable: true, cause },
    );
  }
  if (errno === undefined) {
    // No server error number: the connection broke while the statement ran.
    return new RotatorError('TARGET_UNREACHABLE', `${what} failed: the connection was lost (${serverText})`, { retryable: true, cause });
  }
  const unavailable = UNAVAILABLE_ERRNOS.has(errno);
  return new RotatorError(unavailable ? 'TARGET_UNREACHABLE' : 'TARGET_ERROR', `${what} failed (${errno}: ${serverText})`, {
    retryable: unavailable || errno === DEADLOCK_ERRNO,
    cause,
  });
}

/** What to call a statement handed to `query` (grants.ts): its text, cut before the first secret it carries. */
export function labelOf(sql: string, sensitive: readonly string[]): string {
  let cut = sql.length;
  for (const secret of sensitive) {
    for (const form of [secret, mysql.escape(secret).slice(1, -1), secret.replaceAll("'", "''")]) {
      const at = sql.indexOf(form);
      if (at >= 0) cut = Math.min(cut, at);
    }
  }
  let label = sql.slice(0, cut).trimEnd();
  if (cut < sql.length) label = label.replace(/'$/, '').trimEnd() + ' ...';
  else if (sensitive.length > 0) label = (sql.split(/\s+/).slice(0, 2).join(' ') + ' ... (statement withheld)');
  return label.length > 200 ? `${label.slice(0, 200)}...` : label;
}

function connectionOptions(endpoint: Endpoint, settings: ConnectionSettings, tls: boolean, guard: AuthGuard): ConnectionOptions {
  return {
    host: endpoint.host,
    port: endpoint.port,
    user: endpoint.user,
    password: endpoint.password,
    ...(endpoint.database === undefined ? {} : { database: endpoint.database }),
    // A fresh object per connection: mysql2 caches TLS sessions per ssl object, and a resumed session skips the
    // certificate check. Chain and host name are both verified (mysql2 checks the name only with verifyIdentity).
    ...(tls ? { ssl: { rejectUnauthorized: true, verifyIdentity: true, ...(settings.tls.ca === undefined ? {} : { ca: settings.tls.ca }) } } : {}),
    connectTimeout: settings.connectTimeoutMs,
    authPlugins: guardedAuthPlugins(tls, endpoint.allowPublicKeyRetrieval, guard),
    charset: 'UTF8MB4_UNICODE_CI',
    // A server must not be able to ask for a local file (LOAD DATA LOCAL INFILE).
    flags: ['-LOCAL_FILES'],
    multipleStatements: false,
    enableKeepAlive: true,
    connectAttributes: { program_name: 'rotator' },
  };
}

async function openConnection(endpoint: Endpoint, settings: ConnectionSettings, ctx: RotatorContext, tls: boolean): Promise<mysql.Connection> {
  if (ctx.signal?.aborted === true) throw abortedError(endpoint, ctx.signal);
  const guard: AuthGuard = { refusedKeyRetrieval: undefined };
  const connection = mysql.createConnection(connectionOptions(endpoint, settings, tls, guard));
  let connected = false;
  // A connection error after login arrives as an event; without a listener it would crash the process. Errors
  // before that are the login's own, reported by connect() below.
  connection.on('error', (error: Error) => {
    if (connected) ctx.logger.debug('mysql connection error', { host: endpoint.host, port: endpoint.port, error });
  });
  let onAbort: (() => void) | undefined;
  try {
    await new Promise<void>((resolve, reject) => {
      onAbort = () => {
        connection.destroy();
        reject(abortedError(endpoint, ctx.signal));
      };
      ctx.signal?.addEventListener('abort', onAbort, { once: true });
      connection.connect((error) => (error === null ? resolve() : reject(error)));
    });
    connected = true;
    return connection;
  } catch (error) {
    connection.destroy();
    throw connectError(error, endpoint, tls, settings, ctx, guard);
  } finally {
    if (onAbort !== undefined) ctx.signal?.removeEventListener('abort', onAbort);
  }
}

async function closeConnection(connection: mysql.Connection): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  try {
    await Promise.race([
      // Closing a broken connection fails; the socket is destroyed below either way.
      new Promise<void>((resolve) => connection.end(() => resolve())),
      new Promise<void>((resolve) => (timer = setTimeout(resolve, CLOSE_TIMEOUT_MS))),
    ]);
  } catch {
    // end() on a connection that is already closed may throw at once.
  } finally {
    clearTimeout(timer);
    connection.destroy();
  }
}

/** Connects following the secret's `ssl` key (see TlsOptions), falling back to plaintext only where allowed. */
async function connect(endpoint: Endpoint, settings: ConnectionSettings, ctx: RotatorContext): Promise<{ connection: mysql.Connection; tls: boolean }> {
  if (endpoint.ssl === false) return { connection: await openConnection(endpoint, settings, ctx, false), tls: false };
  try {
    return { connection: await openConnection(endpoint, settings, ctx, true), tls: true };
  } catch (error) {
    const noTls = error instanceof RotatorError && error.code === 'TARGET_TLS' && errorCode(asDriverError(error.cause)) === NO_TLS_CODE;
    if (endpoint.ssl === undefined && settings.tls.allowPlaintextFallback === true && noTls) {
      ctx.logger.warn(
        'the server does not offer TLS; connecting in plaintext because ROTATOR_ALLOW_PLAINTEXT_FALLBACK is set. Enable TLS on the server, or set "ssl": false in the secret to make this explicit',
        { host: endpoint.host, port: endpoint.port, user: endpoint.user },
      );
      return { connection: await openConnection(endpoint, settings, ctx, false), tls: false };
    }
    throw error;
  }
}

/** "user@host" from CURRENT_USER(); the host part never holds an "@", the user part may. */
export function parseAccount(text: string): Account {
  const at = text.lastIndexOf('@');
  return at < 0 ? { user: text, host: '' } : { user: text.slice(0, at), host: text.slice(at + 1) };
}

/**
 * Opens a connection as `endpoint.user`, learns the server (ServerInfo), bounds its statements, runs `use`, and
 * closes the connection whatever happens. An abort of `ctx.signal` destroys the connection, so a pending connect
 * or statement fails at once.
 */
export async function withSession<T>(endpoint: Endpoint, settings: ConnectionSettings, ctx: RotatorContext, use: (session: MysqlConnection) => Promise<T>): Promise<T> {
  const { connection, tls } = await connect(endpoint, settings, ctx);
  const onAbort = (): void => {
    connection.destroy();
  };
  ctx.signal?.addEventListener('abort', onAbort, { once: true });
  try {
    const promise = connection.promise();
    const timeout = settings.statementTimeoutMs + QUERY_TIMEOUT_MARGIN_MS;
    const run = async <R>(statement: Statement): Promise<R[]> => {
      if (ctx.signal?.aborted === true) throw abortedError(endpoint, ctx.signal);
      try {
        // Bound values go to the server as a prepared statement's parameters: mysql2's client-side interpolation
        // escapes with backslashes, which NO_BACKSLASH_ESCAPES would turn into an injection.
        const [rows] =
          statement.values === undefined || statement.values.length === 0
            ? await promise.query({ sql: statement.sql, timeout })
            : await promise.execute({ sql: statement.sql, values: [...statement.values] as never[], timeout });
        return Array.isArray(rows) ? (rows as R[]) : [];
      } catch (error) {
        throw statementError(error, statement, endpoint, settings, ctx);
      }
    };
    const [row] = await run<RowDataPacket>(detectServer);
    const server: ServerInfo = parseServerInfo(String(row?.version ?? ''), String(row?.sql_mode ?? ''));
    const account = parseAccount(String(row?.account ?? ''));
    await run(sessionTimeouts(server, settings.statementTimeoutMs));
    const session: MysqlConnection = {
      server,
      tls,
      account,
      authenticatedAsUser: account.user === endpoint.user,
      run,
      query: <R>(sql: string, options: { values?: readonly unknown[]; sensitive?: readonly string[] } = {}) => {
        const sensitive = options.sensitive ?? [];
        return run<R>({ label: labelOf(sql, sensitive), sql, ...(options.values === undefined ? {} : { values: options.values }), sensitive });
      },
    };
    return await use(session);
  } finally {
    ctx.signal?.removeEventListener('abort', onAbort);
    await closeConnection(connection);
  }
}

/**
 * Logs in and runs `probe`. False when the server refuses the credential, and also when it let us in as another
 * account (see the module comment), since that says nothing about the password; throws on anything else (outage,
 * TLS), which must not be mistaken for "does not work".
 */
export async function canLogIn(endpoint: Endpoint, settings: ConnectionSettings, ctx: RotatorContext, probe: Statement): Promise<boolean> {
  try {
    const session = await withSession(endpoint, settings, ctx, async (s) => {
      await s.run(probe);
      return { as: s.authenticatedAsUser, account: s.account };
    });
    if (!session.as) warnOtherAccount(endpoint, session.account, ctx);
    return session.as;
  } catch (error) {
    if (isAuthFailure(error)) return false;
    throw error;
  }
}

export function warnOtherAccount(endpoint: Endpoint, account: Account, ctx: RotatorContext): void {
  ctx.logger.warn(
    'the server logged the user in as another account (an anonymous account, or a server running with --skip-grant-tables), so the login proves nothing about the password; drop anonymous accounts',
    { host: endpoint.host, port: endpoint.port, user: endpoint.user, loggedInAs: `${account.user}@${account.host}` },
  );
}
