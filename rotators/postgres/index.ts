import { RotatorError } from '../../shared/errors.js';
import { CLONE_SUFFIX } from '../../shared/alternate-user.js';
import { runCheck, type CreatePendingInput, type PreflightCheck, type PreflightInput, type RevokeInput, type RevokeOutcome, type RotatorContext, type SetInput, type TestInput } from '../../shared/rotator.js';
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
  type ConnectionOptions,
  type DatabaseRotator,
  SET_BEFORE_WORKS,
} from '../database.js';
import { loginChecks, notForStrategy, withoutMaster, type LoginFacts } from '../preflight.js';
import { canLogIn, warnTrust, withSession, type Endpoint, type Session } from './connect.js';
import { judgeMasterRights } from './master-rights.js';
import { assertScramSafePassword, scramSha256Verifier } from './scram.js';
import { MAX_IDENTIFIER_BYTES, POSTGRES_ENGINES, checkedAlternateUsername, identifierBytes, parsePostgresSecret, type PostgresSecret } from './secret.js';
import * as sql from './sql.js';

export { POSTGRES_ENGINES, alternateUsername, parsePostgresSecret, type PostgresSecret } from './secret.js';
export { scramSha256Verifier } from './scram.js';
export type { TlsOptions } from '../database.js';

/** statementTimeoutMs is each session's statement_timeout; the client gives up 2 s later. */
export type PostgresRotatorOptions = ConnectionOptions;

/** AWS's EXCLUDE_CHARACTERS default for PostgreSQL: characters that break connection strings and shell quoting. */
export const POSTGRES_EXCLUDE_CHARACTERS = ':/@"\'\\';

const STRATEGIES: readonly Strategy[] = ['single-user', 'alternating-users'];

/**
 * Alternating users: the clone is a member of the original role (AWS's template: GRANT original TO clone), which is
 * how it holds the original's rights, whichever of the two is pending.
 */
function pairOf(current: PostgresSecret, pending: PostgresSecret): { clone: string; original: string } {
  return pending.username === `${current.username}${CLONE_SUFFIX}`
    ? { clone: pending.username, original: current.username }
    : { clone: current.username, original: pending.username };
}

function endpointOf(secret: PostgresSecret): Endpoint {
  return { host: secret.host, port: secret.port, database: secret.dbname, user: secret.username, password: secret.password, ssl: secret.ssl };
}

/**
 * Rotates PostgreSQL (and Aurora PostgreSQL) login passwords, with AWS's single-user and alternating-users
 * (`_clone`) schemes. Passwords reach the server only as SCRAM-SHA-256 verifiers computed here.
 */
export function createPostgresRotator(options: PostgresRotatorOptions = {}): DatabaseRotator {
  const settings = connectionSettings(options, 'createPostgresRotator');
  const where = (secret: PostgresSecret): string => `PostgreSQL at ${secret.host}:${secret.port}`;

  /** A fresh verifier for a password we set, registered with the redactor before it is used. */
  const verifierFor = (password: string, what: string, ctx: RotatorContext): string => {
    assertScramSafePassword(password, what);
    const verifier = scramSha256Verifier(password);
    ctx.logger.redactor.add(verifier);
    return verifier;
  };

  /**
   * The master's username and password against the current secret's database, on current's host and port, or on the
   * master's when current names a read replica (masterHostPort: replicas are read-only).
   */
  const masterEndpoint = (current: PostgresSecret, master: PostgresSecret): Endpoint => ({
    ...endpointOf(current),
    ...masterHostPort(current, master),
    user: master.username,
    password: master.password,
    ssl: masterSsl(current, master),
  });

  const setSingleUser = async (input: SetInput, current: PostgresSecret, pending: PostgresSecret, ctx: RotatorContext): Promise<void> => {
    assertSameUser(pending, current, input.strategy);
    const verifier = verifierFor(pending.password, 'the pending secret', ctx);
    const readPrevious = async (): Promise<PostgresSecret | undefined> => {
      const previous = await input.readPrevious?.();
      return previous === undefined ? undefined : parsePostgresSecret(previous, 'the previous secret');
    };
    await changeAsUser({ current, readPrevious, where: where(current) }, ctx, async (login, label) => {
      await withSession(endpointOf(login), settings, ctx, (session) => session.query(sql.alterRolePassword(pending.username, verifier)));
      ctx.logger.debug('set the new password', { user: pending.username, host: pending.host, loggedInWith: label });
    });
  };

  const setAlternating = async (input: SetInput, current: PostgresSecret, pending: PostgresSecret, ctx: RotatorContext): Promise<void> => {
    assertAlternate(pending, current);
    const master = checkedMaster(
      input.master === undefined ? undefined : parsePostgresSecret(input.master, 'the master secret'),
      current,
      pending,
      input.strategy,
      'pending',
      input.masterReplicaHosts,
    );
    rememberPasswords(ctx, master);
    // The current credential must work before a clone of its rights is made from it, so a secret edited to name
    // another role cannot borrow that role's rights (confused deputy).
    if (!(await canLogIn(endpointOf(current), settings, ctx, sql.probe, { passwordMustBeChecked: false }))) {
      throw currentNoLongerLogsIn(where(current), current, pending);
    }
    const verifier = verifierFor(pending.password, 'the pending secret', ctx);
    const asMaster = masterEndpoint(current, master);
    await withSession(asMaster, settings, ctx, async (session) => {
      await session.query(sql.begin);
      try {
        const existing = await session.query(sql.roleExists(pending.username));
        const { clone, original } = pairOf(current, pending);
        if (existing.rows.length === 0) {
          await session.query(sql.createLoginRole(pending.username, verifier));
          await session.query(sql.grantRole(current.username, pending.username));
        } else {
          // A clone that exists without the original's rights (made by hand, or its membership revoked) gets them
          // back in the same transaction as its new password, so the password never works without them.
          if (clone === pending.username && (await session.query<{ holds: boolean }>(sql.holdsRightsOf(clone, original))).rows[0]?.holds !== true) {
            await session.query(sql.grantRole(original, clone));
          }
          await session.query(sql.alterRolePassword(pending.username, verifier));
        }
        await session.query(sql.commit);
        ctx.logger.debug(existing.rows.length === 0 ? 'created the alternate user with the rights of the current one' : 'set the new password of the alternate user', {
          user: pending.username,
          host: pending.host,
        });
      } catch (error) {
        await session.query(sql.rollback).catch(() => undefined);
        throw error;
      }
    });
  };

  /** The purger's revoke: the rules are rotators/database.ts's revokeRetired; these are PostgreSQL's actions. */
  const revoke = async (input: RevokeInput, ctx: RotatorContext): Promise<RevokeOutcome> => {
    checkStrategy(input.strategy, STRATEGIES, 'PostgreSQL');
    const retired = parsePostgresSecret(input.retired, 'the retired secret');
    const current = parsePostgresSecret(input.current, 'the current secret');
    const pending = input.pending === undefined ? undefined : parsePostgresSecret(input.pending, 'the pending secret');
    const master = input.master === undefined ? undefined : parsePostgresSecret(input.master, 'the master secret');
    return revokeRetired({ strategy: input.strategy, retired, current, pending, master, masterReplicaHosts: input.masterReplicaHosts }, ctx, {
      where: where(current),
      passwordWorks: (secret) => canLogIn(endpointOf(secret), settings, ctx, sql.probe, { passwordMustBeChecked: true }),
      // As in setAlternating: a trust login counts as "can be used".
      currentWorks: (secret) => canLogIn(endpointOf(secret), settings, ctx, sql.probe, { passwordMustBeChecked: false }),
      replacePassword: async (user, asMaster, password) => {
        // Only the verifier reaches the server, as for every password we set.
        const verifier = verifierFor(password, 'the random password', ctx);
        await withSession(masterEndpoint(current, asMaster), settings, ctx, (session) => session.query(sql.alterRolePassword(user, verifier)));
      },
    });
  };

  /** What a preflight login learnt; a trust login proves nothing about the password, and the reason says so. */
  const loginFacts = async (session: Session, ssl: boolean | undefined): Promise<LoginFacts> => {
    const rows = (await session.query<{ version: string }>(sql.serverVersion)).rows;
    return {
      tls: session.tls,
      ssl,
      server: `PostgreSQL ${rows[0]?.version ?? '?'}`,
      ...(session.passwordChecked ? {} : { note: 'the server did not ask for the password (trust authentication), so this proves nothing about it' }),
    };
  };

  /**
   * The preflight (`rotate --dry-run`): logins and catalog reads only. Alternating users: the master logs in where
   * setSecret would, and its rights are judged from pg_roles (master-rights.ts); the alternate is looked up.
   */
  const preflight = async (input: PreflightInput, ctx: RotatorContext): Promise<PreflightCheck[]> => {
    const current = parsePostgresSecret(input.current, 'the current secret');
    rememberPasswords(ctx, current);
    const login = await loginChecks('current-login', { user: current.username, where: where(current) }, () =>
      withSession(endpointOf(current), settings, ctx, (session) => loginFacts(session, current.ssl)),
    );
    const checks = [...login.checks];
    const masterChecks = ['master-login', 'master-rights', 'alternate-exists'] as const;
    if (input.strategy !== 'alternating-users') return [...checks, ...notForStrategy(['alternate-name', ...masterChecks], input.strategy)];
    let alternate: string | undefined;
    checks.push(
      await runCheck('alternate-name', () => {
        alternate = checkedAlternateUsername(current.username, 'the current secret');
        return `"${alternate}" is ${identifierBytes(alternate)} bytes (PostgreSQL keeps ${MAX_IDENTIFIER_BYTES})`;
      }),
    );
    if (input.master === undefined) return [...checks, ...withoutMaster(masterChecks, 'no master secret (see that check)')];
    const { master: raw } = input;
    let facts: { attributes: sql.MasterAttributesRow | undefined; roles: Map<string, boolean> } | undefined;
    const name = alternate ?? `${current.username}${CLONE_SUFFIX}`;
    const masterName = typeof raw.value.username === 'string' ? raw.value.username : '(none)';
    const masterLogin = await loginChecks('master-login', { user: masterName, where: where(current) }, async () => {
      const master = checkedMaster(parsePostgresSecret(raw.value, 'the master secret'), current, { ...current, username: name }, input.strategy, 'pending', raw.replicaHosts);
      rememberPasswords(ctx, master);
      const asMaster = masterEndpoint(current, master);
      return withSession(asMaster, settings, ctx, async (session) => {
        const attributes = (await session.query<sql.MasterAttributesRow>(sql.masterAttributes)).rows[0];
        const rows = (await session.query<{ rolname: string; admin: boolean }>(sql.adminOptionOn([current.username, name]))).rows;
        facts = { attributes, roles: new Map(rows.map((r) => [r.rolname, r.admin])) };
        return loginFacts(session, asMaster.ssl);
      });
    });
    checks.push(...masterLogin.checks);
    if (facts === undefined) return [...checks, ...withoutMaster(['master-rights', 'alternate-exists'], 'the master did not log in')];
    const { attributes, roles } = facts;
    checks.push(
      await runCheck('master-rights', () => {
        if (attributes === undefined) throw new RotatorError('TARGET_ERROR', `${where(current)}: the master's own role is not in pg_roles`);
        return judgeMasterRights(
          {
            master: masterName,
            versionNum: attributes.version_num,
            version: attributes.version,
            superuser: attributes.superuser,
            createRole: attributes.createrole,
            adminOption: roles,
          },
          current.username,
          name,
          name === `${current.username}${CLONE_SUFFIX}`,
        );
      }),
      await runCheck('alternate-exists', () => {
        if (alternate === undefined) return { status: 'skip', reason: 'not looked up: the alternate name does not fit' };
        return roles.has(alternate) ? `"${alternate}" exists; setSecret gives it the new password` : `"${alternate}" does not exist yet; setSecret creates it with the rights of "${current.username}"`;
      }),
    );
    return checks;
  };

  return {
    engines: POSTGRES_ENGINES,
    strategies: STRATEGIES,
    defaultExcludeCharacters: POSTGRES_EXCLUDE_CHARACTERS,
    setBeforeWorks: SET_BEFORE_WORKS,

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

    createPending({ strategy, current, generatePassword }: Pick<CreatePendingInput, 'strategy' | 'current' | 'generatePassword'>): SecretObject {
      checkStrategy(strategy, STRATEGIES, 'PostgreSQL');
      const parsed = parsePostgresSecret(current, 'the current secret');
      const password = generatePassword();
      assertScramSafePassword(password, 'the generated password');
      // Every other key is kept exactly as stored (a string port stays a string).
      if (strategy === 'alternating-users') return { ...current, username: checkedAlternateUsername(parsed.username, 'the current secret'), password };
      return { ...current, password };
    },

    async works(pending: SecretObject, ctx: RotatorContext, strategy?: Strategy): Promise<boolean> {
      const secret = parsePostgresSecret(pending, 'the pending secret');
      rememberPasswords(ctx, secret);
      // As on MySQL: a clone that logs in may still lack the original's rights; `set` makes sure, idempotently.
      if (strategy === 'alternating-users') return false;
      return canLogIn(endpointOf(secret), settings, ctx, sql.probe, { passwordMustBeChecked: true });
    },

    async set(input: SetInput, ctx: RotatorContext): Promise<void> {
      checkStrategy(input.strategy, STRATEGIES, 'PostgreSQL');
      const current = parsePostgresSecret(input.current, 'the current secret');
      const pending = parsePostgresSecret(input.pending, 'the pending secret');
      rememberPasswords(ctx, current, pending);
      if (input.strategy === 'alternating-users') await setAlternating(input, current, pending, ctx);
      else await setSingleUser(input, current, pending, ctx);
    },

    async test(pending: SecretObject, ctx: RotatorContext, input?: TestInput): Promise<void> {
      const secret = parsePostgresSecret(pending, 'the pending secret');
      rememberPasswords(ctx, secret);
      const endpoint = endpointOf(secret);
      const current = input?.strategy === 'alternating-users' ? parsePostgresSecret(input.current, 'the current secret') : undefined;
      if (current !== undefined) assertAlternate(secret, current);
      const { checked, holds } = await withSession(endpoint, settings, ctx, async (session) => {
        await session.query(sql.probeNow);
        if (current === undefined) return { checked: session.passwordChecked, holds: true };
        const { clone, original } = pairOf(current, secret);
        const rows = (await session.query<{ holds: boolean }>(sql.holdsRightsOf(clone, original))).rows;
        return { checked: session.passwordChecked, holds: rows[0]?.holds === true };
      });
      if (!checked) warnTrust(endpoint, ctx);
      if (current !== undefined && !holds) {
        const { clone, original } = pairOf(current, secret);
        throw new RotatorError(
          'TARGET_ERROR',
          `${where(secret)}: the alternate role "${clone}" does not hold the rights of "${original}" (it is not a member of that role with INHERIT); the pending user must hold the rights of the current one. It is not promoted until it does: run the rotation again, whose setSecret step grants the membership (the master needs CREATEROLE)`,
        );
      }
    },

    revoke,
    preflight,
  };
}
