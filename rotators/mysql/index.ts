import { RotatorError } from '../../shared/errors.js';
import type { CreatePendingInput, PreflightCheck, PreflightInput, RevokeInput, RevokeOutcome, RotatorContext, SetInput, TestInput } from '../../shared/rotator.js';
import type { SecretObject } from '../../shared/secret.js';
import type { Strategy } from '../../shared/store.js';
import {
  assertAlternate,
  assertSameUser,
  changeAsUser,
  checkStrategy,
  checkedMaster,
  connectionSettings,
  currentNoLongerLogsIn,
  masterHostPort,
  masterSsl,
  rememberPasswords,
  revokeRetired,
  unstoredPassword,
  type ConnectionOptions,
  type DatabaseRotator,
  SET_BEFORE_WORKS,
} from '../database.js';
import { canLogIn, isAuthFailure, warnOtherAccount, where, withSession, type Endpoint } from './connect.js';
import { mysqlNativePasswordHash } from './password-hash.js';
import { mysqlPreflight } from './preflight.js';
import { MYSQL_ENGINES, MAX_USERNAME_CHARACTER_LIMIT, checkedAlternateUsername, engineUsernameLimit, parseMysqlSecret, type MysqlSecret } from './secret.js';
import { describeServer, supportsDualPassword } from './server-info.js';
import type { ServerInfo } from './session.js';
import * as statements from './statements.js';
import {
  changeOwnPassword,
  checkAlternateRights,
  discardRetainedPassword,
  dualPasswordUnsupported,
  mariadbHasNoDualPassword,
  resetAlternatePassword,
  setAlternatePassword,
  setRetainingPassword,
  type StepTarget,
} from './steps.js';

export { MYSQL_ENGINES, parseMysqlSecret, type MysqlSecret } from './secret.js';
export { mysqlNativePasswordHash } from './password-hash.js';
export { parseServerInfo, supportsDualPassword } from './server-info.js';
export type { TlsOptions } from '../database.js';

/** statementTimeoutMs bounds each statement: the session's lock_wait_timeout (and MariaDB's max_statement_time); the client gives up 2 s later. */
export interface MysqlRotatorOptions extends ConnectionOptions {
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
export function createMysqlRotator(options: MysqlRotatorOptions = {}): DatabaseRotator {
  const limit = options.usernameCharacterLimit;
  if (limit !== undefined && !(Number.isInteger(limit) && limit >= 1 && limit <= MAX_USERNAME_CHARACTER_LIMIT)) {
    throw new RotatorError('INVALID_INPUT', `createMysqlRotator: usernameCharacterLimit (USERNAME_CHARACTER_LIMIT) must be a whole number from 1 to ${MAX_USERNAME_CHARACTER_LIMIT}`);
  }
  const settings = connectionSettings(options, 'createMysqlRotator');
  const allowKeyRetrieval = options.allowPublicKeyRetrieval === true;
  const parse = (value: SecretObject, what: string): MysqlSecret => parseMysqlSecret(value, what, limit);
  const endpoint = (secret: MysqlSecret): Endpoint => endpointOf(secret, allowKeyRetrieval);

  /** A password we set and its hash, the hash registered with the redactor before it is used. */
  const materialFor = (password: string, ctx: RotatorContext): statements.PasswordMaterial => {
    const hash = mysqlNativePasswordHash(password);
    ctx.logger.redactor.add(hash);
    return { password, hash };
  };

  /** Like AWS's template, and for the same confused-deputy reason: the master only acts for a credential that works. */
  const requireCurrentLogsIn = async (current: MysqlSecret, pending: MysqlSecret, ctx: RotatorContext): Promise<void> => {
    if (!(await canLogIn(endpoint(current), settings, ctx, statements.probe))) throw currentNoLongerLogsIn(where(current), current, pending);
  };

  /**
   * The master's credentials against the current secret's server (its host and port, or the master's when current
   * names a read replica: masterHostPort) and database; TLS is required when either secret asks for it.
   */
  const asMasterOf = (current: MysqlSecret, master: MysqlSecret): Endpoint => ({
    ...endpoint(current),
    ...masterHostPort(current, master),
    user: master.username,
    password: master.password,
    ssl: masterSsl(current, master),
    allowPublicKeyRetrieval: allowKeyRetrieval || master.allowPublicKeyRetrieval,
  });

  /** The checked master of a `set` or `test` (present, same host or current on a replica of its server, not the pending user), as an endpoint. */
  const masterEndpoint = (
    input: Pick<SetInput, 'strategy' | 'master' | 'masterReplicaHosts'>,
    current: MysqlSecret,
    pending: MysqlSecret,
    ctx: RotatorContext,
  ): Endpoint => {
    const master = checkedMaster(
      input.master === undefined ? undefined : parse(input.master, 'the master secret'),
      current,
      pending,
      input.strategy,
      'pending',
      input.masterReplicaHosts,
    );
    rememberPasswords(ctx, master);
    return asMasterOf(current, master);
  };

  /**
   * The server, learnt by logging in with the current credential; undefined when the login is refused or lands in
   * another account (which proves nothing about the password).
   */
  const currentServer = async (current: MysqlSecret, ctx: RotatorContext): Promise<ServerInfo | undefined> => {
    try {
      return await withSession(endpoint(current), settings, ctx, async (session) => {
        await session.run(statements.probe);
        if (!session.authenticatedAsUser) warnOtherAccount(endpoint(current), session.account, ctx);
        return session.authenticatedAsUser ? session.server : undefined;
      });
    } catch (error) {
      if (!isAuthFailure(error)) throw error;
      return undefined;
    }
  };

  const setSingleUser = async (input: SetInput, current: MysqlSecret, pending: MysqlSecret, ctx: RotatorContext): Promise<void> => {
    assertSameUser(pending, current, input.strategy);
    const material = materialFor(pending.password, ctx);
    // An older value must not widen what the login may do: it keeps current's public-key setting (and TLS).
    const readPrevious = async (): Promise<MysqlSecret | undefined> => {
      const previous = await input.readPrevious?.();
      return previous === undefined ? undefined : { ...parse(previous, 'the previous secret'), allowPublicKeyRetrieval: current.allowPublicKeyRetrieval };
    };
    await changeAsUser({ current, readPrevious, where: where(current) }, ctx, async (login, label) => {
      const loginEndpoint = endpoint(login);
      await withSession(loginEndpoint, settings, ctx, async (session) => {
        await changeOwnPassword(session, targetOf(loginEndpoint), login.password, pending.username, material, limit);
        ctx.logger.debug('set the new password', {
          user: pending.username,
          host: pending.host,
          account: `${session.account.user}@${session.account.host}`,
          loggedInWith: label,
          server: describeServer(session.server),
        });
      });
    });
  };

  const setAlternating = async (input: SetInput, current: MysqlSecret, pending: MysqlSecret, ctx: RotatorContext): Promise<void> => {
    assertAlternate(pending, current);
    const asMaster = masterEndpoint(input, current, pending, ctx);
    await requireCurrentLogsIn(current, pending, ctx);
    const material = materialFor(pending.password, ctx);
    // Accounts that have to be created get a password nobody stores until their rights are copied (steps.ts).
    const placeholder = materialFor(unstoredPassword(ctx), ctx);
    await withSession(asMaster, settings, ctx, (session) =>
      setAlternatePassword(session, targetOf(asMaster), current.username, pending.username, material, placeholder, limit, ctx),
    );
  };

  /**
   * Alternating users' testSecret: as the master, the pending user must hold every right of current's. Skipped when
   * this process's setSecret for the same value, CURRENT and strategy returned under a minute ago (`setMomentsAgo`),
   * because every return of setAlternating proves exactly what missingRights would check:
   * - set returns only after copyAccount returned and the ALTER USER of every account it reported succeeded; any
   *   failure (a GRANT refused, an ALTER that failed, an account that vanished) throws, and a set that throws is
   *   never "set moments ago".
   * - copyAccount returns only when, for every account of current's user in its read of mysql.user, the alternate
   *   has one on the same host (matched as missingRights matches), syncGrants' last plan over SHOW GRANTS of both is
   *   empty (planSync grants everything shortfall counts as missing, excess partial revokes included, or it throws
   *   that the accounts still differ), and the TLS requirement and limits were equal or ALTERed to be.
   * - extraHosts (accounts of the alternate on hosts current's user has none on) are outside missingRights too.
   * - The engine's 'already-done' path cannot stand in for set here: works() answers false for alternating users
   *   and SET_BEFORE_WORKS leaves them out, so the engine always runs set, and a set that did nothing never counts.
   * What the trust gives up is a change someone else makes within that minute (a right revoked from the alternate,
   * or granted to current's user), as finishSecret's trust in testSecret does; a cold container, a step run by hand
   * or any other input compares again.
   */
  const testAlternateRights = async (input: TestInput, pending: MysqlSecret, ctx: RotatorContext): Promise<void> => {
    const current = parse(input.current, 'the current secret');
    assertAlternate(pending, current);
    if (input.setMomentsAgo === true) {
      ctx.logger.debug('setSecret copied these rights to the alternate user moments ago in this process; not comparing them again as the master', {
        user: pending.username,
        from: current.username,
      });
      return;
    }
    const master = await input.readMaster();
    const asMaster = masterEndpoint({ strategy: input.strategy, master: master.value, masterReplicaHosts: master.replicaHosts }, current, pending, ctx);
    await withSession(asMaster, settings, ctx, (session) => checkAlternateRights(session, targetOf(asMaster), current.username, pending.username));
  };

  const setDualPassword = async (input: SetInput, current: MysqlSecret, pending: MysqlSecret, ctx: RotatorContext): Promise<void> => {
    assertSameUser(pending, current, input.strategy);
    const asMaster = masterEndpoint(input, current, pending, ctx);
    // The current credential logs in (confused deputy, as for alternating users), and tells us the server.
    const server = await currentServer(current, ctx);
    if (server === undefined) {
      throw new RotatorError(
        'TARGET_AUTH_FAILED',
        `the current secret no longer logs in to ${where(current)} as user "${current.username}"; refusing to set a new password for it. Restore a working current value first`,
      );
    }
    if (!supportsDualPassword(server)) throw dualPasswordUnsupported(server);
    const material = materialFor(pending.password, ctx);
    await withSession(asMaster, settings, ctx, (session) => setRetainingPassword(session, targetOf(asMaster), current.username, material, ctx));
  };

  /** The purger's revoke: the rules are rotators/database.ts's revokeRetired; these are MySQL's and MariaDB's actions. */
  const revoke = async (input: RevokeInput, ctx: RotatorContext): Promise<RevokeOutcome> => {
    checkStrategy(input.strategy, STRATEGIES, 'MySQL');
    const current = parse(input.current, 'the current secret');
    // An older value must not widen what the login may do: it keeps current's public-key setting (and TLS).
    const retired = { ...parse(input.retired, 'the retired secret'), allowPublicKeyRetrieval: current.allowPublicKeyRetrieval };
    const pending = input.pending === undefined ? undefined : parse(input.pending, 'the pending secret');
    const master = input.master === undefined ? undefined : parse(input.master, 'the master secret');
    return revokeRetired({ strategy: input.strategy, retired, current, pending, master, masterReplicaHosts: input.masterReplicaHosts }, ctx, {
      where: where(current),
      passwordWorks: (secret) => canLogIn(endpoint(secret), settings, ctx, statements.probe),
      currentWorks: async (secret) => {
        if (input.strategy !== 'dual-password') return canLogIn(endpoint(secret), settings, ctx, statements.probe);
        // As setDualPassword: the server must have dual passwords, or there is no secondary password to end.
        const server = await currentServer(secret, ctx);
        if (server !== undefined && !supportsDualPassword(server)) throw dualPasswordUnsupported(server);
        return server !== undefined;
      },
      replacePassword: async (user, asMaster, password) => {
        const material = materialFor(password, ctx);
        const login = asMasterOf(current, asMaster);
        await withSession(login, settings, ctx, (session) => resetAlternatePassword(session, targetOf(login), user, material, ctx));
      },
      discardOldPassword: async (user, asMaster) => {
        const login = asMasterOf(current, asMaster);
        await withSession(login, settings, ctx, (session) => discardRetainedPassword(session, targetOf(login), user, ctx));
      },
    });
  };

  return {
    engines: MYSQL_ENGINES,
    strategies: STRATEGIES,
    defaultExcludeCharacters: MYSQL_EXCLUDE_CHARACTERS,
    setBeforeWorks: SET_BEFORE_WORKS,

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

    createPending({ strategy, current, generatePassword }: Pick<CreatePendingInput, 'strategy' | 'current' | 'generatePassword'>): SecretObject {
      checkStrategy(strategy, STRATEGIES, 'MySQL');
      const parsed = parse(current, 'the current secret');
      if (strategy === 'dual-password' && parsed.engine === 'mariadb') {
        // Refused before a PENDING value is stored: no MariaDB has RETAIN CURRENT PASSWORD (setSecret would refuse
        // anyway, but a stored value would then block a switch to alternating-users until removed by hand).
        throw mariadbHasNoDualPassword();
      }
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

    async works(pending: SecretObject, ctx: RotatorContext, strategy?: Strategy): Promise<boolean> {
      const secret = parse(pending, 'the pending secret');
      rememberPasswords(ctx, secret);
      // An alternate that logs in may still lack rights (an earlier run died before its grants, or a GRANT failed):
      // `set` copies them again, which changes nothing once they are there.
      if (strategy === 'alternating-users') return false;
      return canLogIn(endpoint(secret), settings, ctx, statements.probe);
    },

    async set(input: SetInput, ctx: RotatorContext): Promise<void> {
      checkStrategy(input.strategy, STRATEGIES, 'MySQL');
      const current = parse(input.current, 'the current secret');
      const pending = parse(input.pending, 'the pending secret');
      rememberPasswords(ctx, current, pending);
      if (input.strategy === 'alternating-users') await setAlternating(input, current, pending, ctx);
      else if (input.strategy === 'dual-password') await setDualPassword(input, current, pending, ctx);
      else await setSingleUser(input, current, pending, ctx);
    },

    async test(pending: SecretObject, ctx: RotatorContext, input?: TestInput): Promise<void> {
      const secret = parse(pending, 'the pending secret');
      rememberPasswords(ctx, secret);
      const target = endpoint(secret);
      await withSession(target, settings, ctx, async (session) => {
        await session.run(statements.probe);
        if (!session.authenticatedAsUser) warnOtherAccount(target, session.account, ctx);
      });
      if (input?.strategy === 'alternating-users') await testAlternateRights(input, secret, ctx);
    },

    revoke,

    preflight(input: PreflightInput, ctx: RotatorContext): Promise<PreflightCheck[]> {
      return mysqlPreflight(input, ctx, { settings, limit, parse, endpoint, asMasterOf });
    },
  };
}
