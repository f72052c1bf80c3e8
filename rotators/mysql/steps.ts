import { RotatorError } from '../../shared/errors.js';
import type { RotatorContext } from '../../shared/rotator.js';
import type { MysqlConnection } from './connect.js';
import { copyAccount, missingRights, type CopyOptions, type CopyReport } from './grants.js';
import { checkUsernameLength } from './secret.js';
import { describeServer, serverUsernameLimit, supportsDualPassword } from './server-info.js';
import type { MysqlSession, ServerInfo } from './session.js';
import * as statements from './statements.js';

/**
 * What the rotator does inside one logged-in session, apart from how it logged in (index.ts picks the login):
 * these take any session with a ServerInfo, so the statements each server gets are testable without that server.
 */
export type StepSession = Pick<MysqlConnection, 'server' | 'account' | 'authenticatedAsUser' | 'run' | 'query'>;

export type CopyAccount = (session: MysqlSession, from: string, to: string, options: CopyOptions) => Promise<CopyReport>;

/** Where the step runs, for messages: `MySQL/MariaDB at host:port`, and as which user. */
export interface StepTarget {
  where: string;
  user: string;
}

/** The name must fit the server now that it is known; an explicit USERNAME_CHARACTER_LIMIT wins. */
export function checkAgainstServer(username: string, server: ServerInfo, limit: number | undefined, what: string): void {
  checkUsernameLength(username, limit ?? serverUsernameLimit(server), what, limit === undefined ? `the ${describeServer(server)} limit` : 'USERNAME_CHARACTER_LIMIT');
}

export function dualPasswordUnsupported(server: ServerInfo): RotatorError {
  return new RotatorError(
    'UNSUPPORTED_ENGINE',
    `the dual-password strategy needs MySQL 8.0.14 or later (ALTER USER ... RETAIN CURRENT PASSWORD), but the server is ${describeServer(server)} (VERSION() = ${JSON.stringify(server.versionText)}); use alternating-users, the zero-downtime strategy on this server`,
  );
}

/** Refused before a PENDING value is stored (createPending) and by the preflight: no MariaDB has RETAIN CURRENT PASSWORD. */
export function mariadbHasNoDualPassword(): RotatorError {
  return new RotatorError(
    'UNSUPPORTED_ENGINE',
    'the dual-password strategy needs MySQL 8.0.14 or later (ALTER USER ... RETAIN CURRENT PASSWORD), and the secret names a MariaDB server ("engine": "mariadb"); use alternating-users, the zero-downtime strategy on MariaDB',
  );
}

/**
 * A session whose every statement also withholds `secrets`: grants.ts builds CREATE USER from the clause we hand
 * it, so the password or hash inside stays out of its errors whatever it lists itself.
 */
export function withSecrets(session: MysqlSession, secrets: readonly string[]): MysqlSession {
  return {
    server: session.server,
    query: (sql, options = {}) => session.query(sql, { ...options, sensitive: [...(options.sensitive ?? []), ...secrets] }),
  };
}

/** Every host the user has an account on; TARGET_ERROR when there is none. */
export async function accountHosts(session: StepSession, user: string, target: StepTarget): Promise<string[]> {
  const rows = await session.run<{ host: unknown }>(statements.accountHosts(user));
  return someHosts(
    rows.map((r) => (Buffer.isBuffer(r.host) ? r.host.toString('utf8') : String(r.host))),
    user,
    target,
  );
}

function someHosts(hosts: string[], user: string, target: StepTarget): string[] {
  if (hosts.length === 0) {
    throw new RotatorError('TARGET_ERROR', `${target.where} has no account for user "${user}" (looked up in mysql.user as user "${target.user}")`);
  }
  return hosts;
}

/**
 * Single user: the session is logged in as the user itself (with `loginPassword`), which changes the password of
 * the account the server matched, the only one an unprivileged user may change.
 */
export async function changeOwnPassword(
  session: StepSession,
  target: StepTarget,
  loginPassword: string,
  pendingUser: string,
  material: statements.PasswordMaterial,
  limit: number | undefined,
): Promise<void> {
  if (!session.authenticatedAsUser) {
    // SET PASSWORD would change the password of the account we landed in, not the user's.
    throw new RotatorError(
      'TARGET_ERROR',
      `${target.where} logged user "${target.user}" in as account '${session.account.user}'@'${session.account.host}'; refusing to change that account's password. Drop anonymous accounts, and do not run the server with --skip-grant-tables`,
    );
  }
  checkAgainstServer(pendingUser, session.server, limit, 'the pending secret');
  await session.run(statements.setOwnPassword(session.server, material, loginPassword));
}

/**
 * Alternating users, as the master: makes `to` a copy of `from` on every host (grants.ts), then sets the new
 * password on every account of `to` the copy found or made. Accounts it has to create get `placeholder`, a password nobody stores, so
 * the pending password logs in only once every account of `to` holds every right of `from`: a run that dies
 * between CREATE USER and the last GRANT (or a GRANT the master may not give) leaves an account nobody can use,
 * never a pending credential that works with fewer rights (invariant 8).
 */
export async function setAlternatePassword(
  session: StepSession,
  target: StepTarget,
  from: string,
  to: string,
  material: statements.PasswordMaterial,
  placeholder: statements.PasswordMaterial,
  limit: number | undefined,
  ctx: RotatorContext,
  copy: CopyAccount = copyAccount,
): Promise<void> {
  checkAgainstServer(to, session.server, limit, 'the pending secret');
  const createIdentifiedBy = statements.createIdentifiedBy(session.server, placeholder);
  const secrets = [material.password, material.hash, placeholder.password, placeholder.hash];
  const report = await copy(withSecrets(session, secrets), from, to, { createIdentifiedBy });
  if (report.extraHosts.length > 0) {
    ctx.logger.warn('the alternate user has accounts on hosts the current user has none on; they keep their own rights and get the new password too', {
      user: to,
      extraHosts: report.extraHosts,
    });
  }
  // The accounts the copy just read (or created), not a second read of mysql.user: an account of `to` that appeared
  // since holds rights nobody copied, and keeps its password.
  const hosts = someHosts(report.hosts, to, target);
  const accounts = hosts.map((host) => ({ user: to, host }));
  for (const statement of statements.alterAccountPassword(session.server, accounts, material)) await session.run(statement);
  ctx.logger.debug(report.created > 0 ? 'created the alternate user with the rights of the current one' : 'set the new password of the alternate user', {
    user: to,
    accounts: hosts.length,
    created: report.created,
    grantsAdded: report.grantsAdded,
    grantsRevoked: report.grantsRevoked,
    server: describeServer(session.server),
  });
}

/**
 * Alternating users' testSecret, as the master: `to` (the pending user) must hold every right of `from` (current's
 * user) on every host, TLS requirement and resource limits included (grants.ts's missingRights). TARGET_ERROR naming
 * what is missing otherwise, so an alternate that lacks rights is never promoted, whatever an earlier run left.
 */
export async function checkAlternateRights(session: StepSession, target: StepTarget, from: string, to: string, compare = missingRights): Promise<void> {
  const missing = await compare(session, from, to);
  if (missing.length === 0) return;
  const shown = missing.slice(0, 10).join('; ') + (missing.length > 10 ? `; and ${missing.length - 10} more` : '');
  throw new RotatorError(
    'TARGET_ERROR',
    `the alternate user "${to}" at ${target.where} lacks rights that user "${from}" holds: ${shown}. It is not promoted until it does: run the rotation again, whose setSecret step copies them (the master must hold each WITH GRANT OPTION)`,
  );
}

/**
 * Dual password (MySQL 8.0.14+), as the master: every account of the user gets the new password while its current
 * one stays valid as the secondary password, so CURRENT keeps working until the secret is promoted. The next
 * rotation's RETAIN replaces that secondary password; the purger may end it sooner with DISCARD OLD PASSWORD
 * (discardRetainedPassword).
 * All accounts change in one statement, so no account is left behind the others.
 */
export async function setRetainingPassword(session: StepSession, target: StepTarget, user: string, material: statements.PasswordMaterial, ctx: RotatorContext): Promise<void> {
  if (!supportsDualPassword(session.server)) throw dualPasswordUnsupported(session.server);
  const hosts = await accountHosts(session, user, target);
  const accounts = hosts.map((host) => ({ user, host }));
  for (const statement of statements.alterAccountPassword(session.server, accounts, material, { retainCurrent: true })) await session.run(statement);
  ctx.logger.debug('set the new password, keeping the current one as the secondary password', { user, accounts: hosts.length, server: describeServer(session.server) });
}

/**
 * The purger's revoke for alternating users, as the master: every account of the retired alternate user gets a
 * password nobody stores (see rotators/database.ts's revokeRetired for why not a lock), in one ALTER USER where the
 * server has it, like setAlternatePassword. Nothing is copied: the next rotation brings the rights up to date.
 */
export async function resetAlternatePassword(session: StepSession, target: StepTarget, user: string, material: statements.PasswordMaterial, ctx: RotatorContext): Promise<void> {
  const hosts = await accountHosts(session, user, target);
  const accounts = hosts.map((host) => ({ user, host }));
  for (const statement of statements.alterAccountPassword(session.server, accounts, material)) await session.run(statement);
  ctx.logger.debug('set a random password nobody stores on the retired alternate user', { user, accounts: hosts.length, server: describeServer(session.server) });
}

/**
 * The purger's revoke for dual passwords (MySQL 8.0.14+), as the master: ends the secondary password that RETAIN
 * CURRENT PASSWORD kept, on every account of the user in one statement. Refused before any statement on a server
 * without dual passwords, as setRetainingPassword is.
 */
export async function discardRetainedPassword(session: StepSession, target: StepTarget, user: string, ctx: RotatorContext): Promise<void> {
  if (!supportsDualPassword(session.server)) throw dualPasswordUnsupported(session.server);
  const hosts = await accountHosts(session, user, target);
  await session.run(statements.discardOldPassword(session.server, hosts.map((host) => ({ user, host }))));
  ctx.logger.debug('discarded the secondary password of the user', { user, accounts: hosts.length, server: describeServer(session.server) });
}
