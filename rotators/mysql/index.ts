import { alternateUsername } from '../../shared/alternate-user.js';
import { RotatorError } from '../../shared/errors.js';
import type { CreatePendingInput, Rotator, RotatorContext, SetInput } from '../../shared/rotator.js';
import type { SecretObject } from '../../shared/secret.js';
import type { Strategy } from '../../shared/store.js';
import { canLogIn, isAuthFailure, warnOtherAccount, where, withSession, type ConnectionSettings, type Endpoint, type TlsOptions } from './connect.js';
import { mysqlNativePasswordHash } from './password-hash.js';
import { MYSQL_ENGINES, MAX_USERNAME_CHARACTER_LIMIT, checkedAlternateUsername, engineUsernameLimit, parseMysqlSecret, type MysqlSecret } from './secret.js';
import { describeServer, supportsDualPassword } from './server-info.js';
import type { ServerInfo } from './session.js';
import * as statements from './statements.js';
import { changeOwnPassword, dualPasswordUnsupported, setAlternatePassword, setRetainingPassword, type StepTarget } from './steps.js';

export { MYSQL_ENGINES, parseMysqlSecret, type MysqlSecret } from './secret.js';
export { mysqlNativePasswordHash } from './password-hash.js';
export { parseServerInfo, supportsDualPassword } from './server-info.js';
export type { TlsOptions } from './connect.js';

export interface MysqlRotatorOptions {
  /** Bound on connect + TLS + login, in ms (default 5000). */
  connectTimeoutMs?: number;
  /** Per statement, in ms (default 15000): the session's lock_wait_timeout (and MariaDB's max_statement_time); the client gives up 2 s later. */
  statementTimeoutMs?: number;
  tls?: TlsOptions;
  /**
   * Lets MySQL 8's caching_sha2_password (and sha256_password) fetch the server's RSA public key to send a password
   * over a plaintext ("ssl": false) connection, for every secret. A secret can opt in alone with
   * `"allowPublicKeyRetrieval": true`; either one enables it. Off by default: the key is not authenticated.
   */
  allowPublicKeyRetrieval?: boolean;
  /**
   * The longest user name accepted, in characters (USERNAME_CHARACTER_LIMIT, as in AWS's template). Unset: 80 for
   * `"engine": "mariadb"` and 32 otherwise when a pending value is created; once connected, 80 on MariaDB, 32 on
   * MySQL 5.7.8+, 16 before. Set 16 for a MySQL 5.6 replica, or up to 128 for MariaDB 10.6+.
   */
  usernameCharacterLimit?: number;
}

/** AWS's EXCLUDE_CHARACTERS default for MySQL and MariaDB: characters that break connection strings and shell quoting. */
export const MYSQL_EXCLUDE_CHARACTERS = '/@"\'\\';

const STRATEGIES: readonly Strategy[] = ['single-user', 'alternating-users', 'dual-password'];

function endpointOf(secret: MysqlSecret, allowPublicKeyRetrieval: boolean): Endpoint {
  return {
    host: secret.host,
    port: secret.port,
    database: secret.dbname,
    user: secret.username,
    password: secret.password,
    ssl: secret.ssl,
    allowPublicKeyRetrieval: allowPublicKeyRetrieval || secret.allowPublicKeyRetrieval,
  };
}

function targetOf(login: Endpoint): StepTarget {
  return { where: where(login), user: login.user };
}

/**
 * Rotates MySQL, Aurora MySQL and MariaDB passwords with AWS's single-user and alternating-users (`_clone`) schemes,
 * and MySQL 8.0.14+'s dual passwords. On MariaDB and MySQL 5.x the password reaches the server only as the
 * mysql_native_password hash computed here; MySQL 8 needs the password itself (see statements.ts).
 */
export function createMysqlRotator(options: MysqlRotatorOptions = {}): Rotator {
  for (const key of ['connectTimeoutMs', 'statementTimeoutMs'] as const) {
    const value = options[key];
    // 0 would mean "no timeout" to the driver: a hung server would then hold the rotation forever.
    if (value !== undefined && !(Number.isInteger(value) && value > 0)) {
      throw new RotatorError('INVALID_INPUT', `createMysqlRotator: ${key} must be a positive whole number of milliseconds`);
    }
  }
  const limit = options.usernameCharacterLimit;
  if (limit !== undefined && !(Number.isInteger(limit) && limit >= 1 && limit <= MAX_USERNAME_CHARACTER_LIMIT)) {
    throw new RotatorError('INVALID_INPUT', `createMysqlRotator: usernameCharacterLimit (USERNAME_CHARACTER_LIMIT) must be a whole number from 1 to ${MAX_USERNAME_CHARACTER_LIMIT}`);
  }
  const settings: ConnectionSettings = {
    connectTimeoutMs: options.connectTimeoutMs ?? 5_000,
    statementTimeoutMs: options.statementTimeoutMs ?? 15_000,
    tls: options.tls ?? {},
  };
  const allowKeyRetrieval = options.allowPublicKeyRetrieval === true;
  const parse = (value: SecretObject, what: string): MysqlSecret => parseMysqlSecret(value, what, limit);
  const endpoint = (secret: MysqlSecret): Endpoint => endpointOf(secret, allowKeyRetrieval);

  const checkStrategy = (strategy: Strategy): void => {
    if (!STRATEGIES.includes(strategy)) {
      throw new RotatorError('UNSUPPORTED_ENGINE', `the MySQL rotator does not support the ${strategy} strategy; use ${STRATEGIES.join(', ')}`);
    }
  };

  /** Every password we hold is masked in logs before anything can print it. */
  const remember = (ctx: RotatorContext, ...secrets: Array<MysqlSecret | undefined>): void => {
    for (const s of secrets) if (s !== undefined) ctx.logger.redactor.add(s.password);
  };

  /** The pending password and its hash, the hash registered with the redactor before it is used. */
  const materialFor = (pending: MysqlSecret, ctx: RotatorContext): statements.PasswordMaterial => {
    const hash = mysqlNativePasswordHash(pending.password);
    ctx.logger.redactor.add(hash);
    return { password: pending.password, hash };
  };

  /** Like AWS's template, and for the same confused-deputy reason: the master only acts for a credential that works. */
  const requireCurrentLogsIn = async (current: MysqlSecret, pending: MysqlSecret, ctx: RotatorContext): Promise<void> => {
    if (!(await canLogIn(endpoint(current), settings, ctx, statements.probe))) {
      throw new RotatorError(
        'TARGET_AUTH_FAILED',
        `the current secret no longer logs in to ${where(current)} as user "${current.username}"; refusing to set user "${pending.username}" from it. Restore a working current value first`,
      );
    }
  };

  /** The master's credentials against the current secret's server; TLS is required when either secret asks for it. */
  const masterEndpoint = (input: SetInput, current: MysqlSecret, pending: MysqlSecret, ctx: RotatorContext): Endpoint => {
    if (input.master === undefined) {
      throw new RotatorError('INVALID_INPUT', `the ${input.strategy} strategy needs the master secret named by "masterarn" of the current secret`);
    }
    const master = parse(input.master, 'the master secret');
    remember(ctx, master);
    if (master.host !== current.host) {
      // The master's password must not be offered to a host its secret does not name.
      throw new RotatorError('CREDENTIAL_MISMATCH', `the master secret names host ${master.host}, but the secret being rotated names ${current.host}; both must name the same server`);
    }
    if (master.username === pending.username) {
      throw new RotatorError('CREDENTIAL_MISMATCH', `the pending user "${pending.username}" is the master user itself; the master secret must name another user`);
    }
    const ssl = current.ssl === true || master.ssl === true ? true : current.ssl === false && master.ssl === false ? false : undefined;
    return { ...endpoint(current), user: master.username, password: master.password, ssl, allowPublicKeyRetrieval: allowKeyRetrieval || master.allowPublicKeyRetrieval };
  };

  const setSingleUser = async (input: SetInput, current: MysqlSecret, pending: MysqlSecret, ctx: RotatorContext): Promise<void> => {
    if (pending.username !== current.username || pending.host !== current.host) {
      throw new RotatorError(
        'CREDENTIAL_MISMATCH',
        `the pending secret names user "${pending.username}" at ${pending.host}, but the current one names user "${current.username}" at ${current.host}; single-user rotation changes only the password`,
      );
    }
    const material = materialFor(pending, ctx);
    // AWS's template order: the current password, then the previous one (with the current secret's TLS setting),
    // which still works when an earlier run changed the password but did not finish.
    const logins: Array<{ label: string; endpoint: Endpoint }> = [{ label: 'current', endpoint: endpoint(current) }];
    if (input.previous !== undefined) {
      const previous = parse(input.previous, 'the previous secret');
      remember(ctx, previous);
      if (previous.username === pending.username && previous.host === pending.host) {
        logins.push({ label: 'previous', endpoint: { ...endpoint(previous), ssl: current.ssl, allowPublicKeyRetrieval: endpoint(current).allowPublicKeyRetrieval } });
      } else {
        ctx.logger.info('not trying the previous secret: it names another user or host', { user: previous.username, host: previous.host });
      }
    }
    for (const { label, endpoint: login } of logins) {
      try {
        await withSession(login, settings, ctx, async (session) => {
          await changeOwnPassword(session, targetOf(login), login.password, pending.username, material, limit);
          ctx.logger.info('set the new password', {
            user: pending.username,
            host: pending.host,
            account: `${session.account.user}@${session.account.host}`,
            loggedInWith: label,
            server: describeServer(session.server),
          });
        });
        return;
      } catch (error) {
        if (!isAuthFailure(error)) throw error;
        ctx.logger.info(`the ${label} password of the user no longer logs in`, { user: current.username, host: current.host });
      }
    }
    throw new RotatorError(
      'TARGET_AUTH_FAILED',
      `cannot log in to ${where(current)} as user "${current.username}" with the current${input.previous === undefined ? '' : ' or the previous'} password, so the new one cannot be set; reset the password by hand and store it as the current secret value`,
    );
  };

  const setAlternating = async (input: SetInput, current: MysqlSecret, pending: MysqlSecret, ctx: RotatorContext): Promise<void> => {
    if (pending.username !== alternateUsername(current.username) || pending.host !== current.host) {
      throw new RotatorError(
        'CREDENTIAL_MISMATCH',
        `the pending secret names user "${pending.username}" at ${pending.host}; alternating-users rotation expects user "${alternateUsername(current.username)}" at ${current.host}`,
      );
    }
    const asMaster = masterEndpoint(input, current, pending, ctx);
    await requireCurrentLogsIn(current, pending, ctx);
    const material = materialFor(pending, ctx);
    await withSession(asMaster, settings, ctx, (session) =>
      setAlternatePassword(session, targetOf(asMaster), current.username, pending.username, material, limit, ctx),
    );
  };

  const setDualPassword = async (input: SetInput, current: MysqlSecret, pending: MysqlSecret, ctx: RotatorContext): Promise<void> => {
    if (pending.username !== current.username || pending.host !== current.host) {
      throw new RotatorError(
        'CREDENTIAL_MISMATCH',
        `the pending secret names user "${pending.username}" at ${pending.host}, but the current one names user "${current.username}" at ${current.host}; dual-password rotation changes only the password`,
      );
    }
    const asMaster = masterEndpoint(input, current, pending, ctx);
    // The current credential logs in (confused deputy, as for alternating users), and tells us the server.
    let server: ServerInfo | undefined;
    try {
      server = await withSession(endpoint(current), settings, ctx, async (session) => {
        await session.run(statements.probe);
        if (!session.authenticatedAsUser) warnOtherAccount(endpoint(current), session.account, ctx);
        return session.authenticatedAsUser ? session.server : undefined;
      });
    } catch (error) {
      if (!isAuthFailure(error)) throw error;
    }
    if (server === undefined) {
      throw new RotatorError(
        'TARGET_AUTH_FAILED',
        `the current secret no longer logs in to ${where(current)} as user "${current.username}"; refusing to set a new password for it. Restore a working current value first`,
      );
    }
    if (!supportsDualPassword(server)) throw dualPasswordUnsupported(server);
    const material = materialFor(pending, ctx);
    await withSession(asMaster, settings, ctx, (session) => setRetainingPassword(session, targetOf(asMaster), current.username, material, ctx));
  };

  return {
    engines: MYSQL_ENGINES,
    strategies: STRATEGIES,
    defaultExcludeCharacters: MYSQL_EXCLUDE_CHARACTERS,

    validate(value: SecretObject, what: string): void {
      parse(value, what);
    },

    masterSecretId(current: SecretObject, strategy: Strategy): string | undefined {
      if (strategy === 'single-user') return undefined;
      const { masterarn } = parse(current, 'the current secret');
      if (masterarn === undefined) {
        throw new RotatorError(
          'INVALID_SECRET',
          `the current secret is invalid: masterarn: required for the ${strategy} strategy (the id of the secret holding the master credentials)`,
        );
      }
      return masterarn;
    },

    createPending({ strategy, current, generatePassword }: CreatePendingInput): SecretObject {
      checkStrategy(strategy);
      const parsed = parse(current, 'the current secret');
      const password = generatePassword();
      if (password.length === 0 || password.includes('\0')) {
        throw new RotatorError('PASSWORD_POLICY', 'the generated password is empty or contains a NUL character, which MySQL cannot take');
      }
      // Every other key is kept exactly as stored (a string port stays a string).
      if (strategy === 'alternating-users') {
        return { ...current, username: checkedAlternateUsername(parsed.username, limit ?? engineUsernameLimit(parsed.engine), 'the current secret'), password };
      }
      return { ...current, password };
    },

    async works(pending: SecretObject, ctx: RotatorContext): Promise<boolean> {
      const secret = parse(pending, 'the pending secret');
      remember(ctx, secret);
      return canLogIn(endpoint(secret), settings, ctx, statements.probe);
    },

    async set(input: SetInput, ctx: RotatorContext): Promise<void> {
      checkStrategy(input.strategy);
      const current = parse(input.current, 'the current secret');
      const pending = parse(input.pending, 'the pending secret');
      remember(ctx, current, pending);
      if (input.strategy === 'alternating-users') await setAlternating(input, current, pending, ctx);
      else if (input.strategy === 'dual-password') await setDualPassword(input, current, pending, ctx);
      else await setSingleUser(input, current, pending, ctx);
    },

    async test(pending: SecretObject, ctx: RotatorContext): Promise<void> {
      const secret = parse(pending, 'the pending secret');
      remember(ctx, secret);
      const target = endpoint(secret);
      await withSession(target, settings, ctx, async (session) => {
        await session.run(statements.probe);
        if (!session.authenticatedAsUser) warnOtherAccount(target, session.account, ctx);
      });
    },
  };
}
