import { RotatorError } from '../../shared/errors.js';
import type { CreatePendingInput, Rotator, RotatorContext, SetInput } from '../../shared/rotator.js';
import type { SecretObject } from '../../shared/secret.js';
import type { Strategy } from '../../shared/store.js';
import { canLogIn, warnTrust, withSession, type ConnectionSettings, type Endpoint, type TlsOptions } from './connect.js';
import { assertScramSafePassword, scramSha256Verifier } from './scram.js';
import { POSTGRES_ENGINES, alternateUsername, checkedAlternateUsername, parsePostgresSecret, type PostgresSecret } from './secret.js';
import * as sql from './sql.js';

export { POSTGRES_ENGINES, alternateUsername, parsePostgresSecret, type PostgresSecret } from './secret.js';
export { scramSha256Verifier } from './scram.js';
export type { TlsOptions } from './connect.js';

export interface PostgresRotatorOptions {
  /** Bound on connect + TLS + login, in ms (default 5000). */
  connectTimeoutMs?: number;
  /** statement_timeout of every session, in ms (default 15000); the client gives up 2 s later. */
  statementTimeoutMs?: number;
  tls?: TlsOptions;
}

/** AWS's EXCLUDE_CHARACTERS default for PostgreSQL: characters that break connection strings and shell quoting. */
export const POSTGRES_EXCLUDE_CHARACTERS = ':/@"\'\\';

const STRATEGIES: readonly Strategy[] = ['single-user', 'alternating-users'];

function endpointOf(secret: PostgresSecret): Endpoint {
  return { host: secret.host, port: secret.port, database: secret.dbname, user: secret.username, password: secret.password, ssl: secret.ssl };
}

/**
 * Rotates PostgreSQL (and Aurora PostgreSQL) login passwords, with AWS's single-user and alternating-users
 * (`_clone`) schemes. Passwords reach the server only as SCRAM-SHA-256 verifiers computed here.
 */
export function createPostgresRotator(options: PostgresRotatorOptions = {}): Rotator {
  for (const key of ['connectTimeoutMs', 'statementTimeoutMs'] as const) {
    const value = options[key];
    // 0 would mean "no timeout" to the driver: a hung server would then hold the rotation forever.
    if (value !== undefined && !(Number.isInteger(value) && value > 0)) {
      throw new RotatorError('INVALID_INPUT', `createPostgresRotator: ${key} must be a positive whole number of milliseconds`);
    }
  }
  const settings: ConnectionSettings = {
    connectTimeoutMs: options.connectTimeoutMs ?? 5_000,
    statementTimeoutMs: options.statementTimeoutMs ?? 15_000,
    tls: options.tls ?? {},
  };

  const checkStrategy = (strategy: Strategy): void => {
    if (!STRATEGIES.includes(strategy)) {
      throw new RotatorError('UNSUPPORTED_ENGINE', `the PostgreSQL rotator does not support the ${strategy} strategy; use ${STRATEGIES.join(' or ')}`);
    }
  };

  /** Every password we hold is masked in logs before anything can print it. */
  const remember = (ctx: RotatorContext, ...secrets: Array<PostgresSecret | undefined>): void => {
    for (const s of secrets) if (s !== undefined) ctx.logger.redactor.add(s.password);
  };

  /** A fresh verifier for the pending password, registered with the redactor before it is used. */
  const verifierFor = (pending: PostgresSecret, ctx: RotatorContext): string => {
    assertScramSafePassword(pending.password, 'the pending secret');
    const verifier = scramSha256Verifier(pending.password);
    ctx.logger.redactor.add(verifier);
    return verifier;
  };

  const setSingleUser = async (input: SetInput, current: PostgresSecret, pending: PostgresSecret, ctx: RotatorContext): Promise<void> => {
    if (pending.username !== current.username || pending.host !== current.host) {
      throw new RotatorError(
        'CREDENTIAL_MISMATCH',
        `the pending secret names user "${pending.username}" at ${pending.host}, but the current one names user "${current.username}" at ${current.host}; single-user rotation changes only the password`,
      );
    }
    const verifier = verifierFor(pending, ctx);
    // AWS's template order: the current password, then the previous one (with the current secret's TLS setting),
    // which still works when an earlier run changed the password but did not finish.
    const logins: Array<{ label: string; endpoint: Endpoint }> = [{ label: 'current', endpoint: endpointOf(current) }];
    if (input.previous !== undefined) {
      const previous = parsePostgresSecret(input.previous, 'the previous secret');
      remember(ctx, previous);
      if (previous.username === pending.username && previous.host === pending.host) {
        logins.push({ label: 'previous', endpoint: { ...endpointOf(previous), ssl: current.ssl } });
      } else {
        ctx.logger.info('not trying the previous secret: it names another user or host', { user: previous.username, host: previous.host });
      }
    }
    for (const { label, endpoint } of logins) {
      try {
        await withSession(endpoint, settings, ctx, async (session) => {
          await session.query(sql.alterRolePassword(pending.username, verifier));
        });
        ctx.logger.info('set the new password', { user: pending.username, host: pending.host, loggedInWith: label });
        return;
      } catch (error) {
        if (!(error instanceof RotatorError && error.code === 'TARGET_AUTH_FAILED')) throw error;
        ctx.logger.info(`the ${label} password of the user no longer logs in`, { user: current.username, host: current.host });
      }
    }
    throw new RotatorError(
      'TARGET_AUTH_FAILED',
      `cannot log in to PostgreSQL at ${current.host}:${current.port} as user "${current.username}" with the current${input.previous === undefined ? '' : ' or the previous'} password, so the new one cannot be set; reset the password by hand and store it as the current secret value`,
    );
  };

  const setAlternating = async (input: SetInput, current: PostgresSecret, pending: PostgresSecret, ctx: RotatorContext): Promise<void> => {
    if (pending.username !== alternateUsername(current.username) || pending.host !== current.host) {
      throw new RotatorError(
        'CREDENTIAL_MISMATCH',
        `the pending secret names user "${pending.username}" at ${pending.host}; alternating-users rotation expects user "${alternateUsername(current.username)}" at ${current.host}`,
      );
    }
    if (input.master === undefined) {
      throw new RotatorError('INVALID_INPUT', `alternating-users rotation needs the master secret named by "masterarn" of the current secret`);
    }
    const master = parsePostgresSecret(input.master, 'the master secret');
    remember(ctx, master);
    if (master.host !== current.host) {
      // The master's password must not be offered to a host its secret does not name.
      throw new RotatorError('CREDENTIAL_MISMATCH', `the master secret names host ${master.host}, but the secret being rotated names ${current.host}; both must name the same server`);
    }
    if (master.username === pending.username) {
      throw new RotatorError('CREDENTIAL_MISMATCH', `the pending user "${pending.username}" is the master user itself; the master secret must name another role`);
    }
    // Like AWS's template: the current credential must work before a clone of its rights is made from it, so a
    // secret edited to name another role cannot borrow that role's rights (confused deputy).
    if (!(await canLogIn(endpointOf(current), settings, ctx, sql.probe, { passwordMustBeChecked: false }))) {
      throw new RotatorError(
        'TARGET_AUTH_FAILED',
        `the current secret no longer logs in to PostgreSQL at ${current.host}:${current.port} as user "${current.username}"; refusing to set user "${pending.username}" from it. Restore a working current value first`,
      );
    }
    const verifier = verifierFor(pending, ctx);
    // AWS's template: the master's username and password against the current secret's host, port and database.
    // Plaintext only when both secrets say so; TLS is required when either does.
    const ssl = current.ssl === true || master.ssl === true ? true : current.ssl === false && master.ssl === false ? false : undefined;
    const asMaster: Endpoint = { ...endpointOf(current), user: master.username, password: master.password, ssl };
    await withSession(asMaster, settings, ctx, async (session) => {
      await session.query(sql.begin);
      try {
        const existing = await session.query(sql.roleExists(pending.username));
        if (existing.rows.length === 0) {
          await session.query(sql.createLoginRole(pending.username, verifier));
          await session.query(sql.grantRole(current.username, pending.username));
        } else {
          await session.query(sql.alterRolePassword(pending.username, verifier));
        }
        await session.query(sql.commit);
        ctx.logger.info(existing.rows.length === 0 ? 'created the alternate user with the rights of the current one' : 'set the new password of the alternate user', {
          user: pending.username,
          host: pending.host,
        });
      } catch (error) {
        await session.query(sql.rollback).catch(() => undefined);
        throw error;
      }
    });
  };

  return {
    engines: POSTGRES_ENGINES,
    strategies: STRATEGIES,
    defaultExcludeCharacters: POSTGRES_EXCLUDE_CHARACTERS,

    validate(value: SecretObject, what: string): void {
      parsePostgresSecret(value, what);
    },

    masterSecretId(current: SecretObject, strategy: Strategy): string | undefined {
      if (strategy !== 'alternating-users') return undefined;
      const { masterarn } = parsePostgresSecret(current, 'the current secret');
      if (masterarn === undefined) {
        throw new RotatorError('INVALID_SECRET', 'the current secret is invalid: masterarn: required for the alternating-users strategy (the id of the secret holding the master credentials)');
      }
      return masterarn;
    },

    createPending({ strategy, current, generatePassword }: CreatePendingInput): SecretObject {
      checkStrategy(strategy);
      const parsed = parsePostgresSecret(current, 'the current secret');
      const password = generatePassword();
      assertScramSafePassword(password, 'the generated password');
      // Every other key is kept exactly as stored (a string port stays a string).
      if (strategy === 'alternating-users') return { ...current, username: checkedAlternateUsername(parsed.username, 'the current secret'), password };
      return { ...current, password };
    },

    async works(pending: SecretObject, ctx: RotatorContext): Promise<boolean> {
      const secret = parsePostgresSecret(pending, 'the pending secret');
      remember(ctx, secret);
      return canLogIn(endpointOf(secret), settings, ctx, sql.probe, { passwordMustBeChecked: true });
    },

    async set(input: SetInput, ctx: RotatorContext): Promise<void> {
      checkStrategy(input.strategy);
      const current = parsePostgresSecret(input.current, 'the current secret');
      const pending = parsePostgresSecret(input.pending, 'the pending secret');
      remember(ctx, current, pending);
      if (input.strategy === 'alternating-users') await setAlternating(input, current, pending, ctx);
      else await setSingleUser(input, current, pending, ctx);
    },

    async test(pending: SecretObject, ctx: RotatorContext): Promise<void> {
      const secret = parsePostgresSecret(pending, 'the pending secret');
      remember(ctx, secret);
      const endpoint = endpointOf(secret);
      const checked = await withSession(endpoint, settings, ctx, async (session) => {
        await session.query(sql.probeNow);
        return session.passwordChecked;
      });
      if (!checked) warnTrust(endpoint, ctx);
    },
  };
}
