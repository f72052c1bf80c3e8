import { alternateUsername } from '../../shared/alternate-user.js';
import { RotatorError } from '../../shared/errors.js';
import { runCheck, type PreflightCheck, type PreflightInput, type RotatorContext } from '../../shared/rotator.js';
import type { SecretObject } from '../../shared/secret.js';
import { checkedMaster, rememberPasswords, type ConnectionSettings } from '../database.js';
import { loginChecks, notForStrategy, withoutMaster } from '../preflight.js';
import { where, withSession, type Endpoint, type MysqlConnection } from './connect.js';
import { canCreateUsers, ungrantable } from './grant-authority.js';
import { describeUnit, type GrantUnit } from './grant-plan.js';
import { grantsOf } from './grants.js';
import { checkedAlternateUsername, engineUsernameLimit, usernameLength, type MysqlSecret } from './secret.js';
import { describeServer, serverUsernameLimit, supportsDualPassword } from './server-info.js';
import type { ServerInfo } from './session.js';
import * as statements from './statements.js';
import { accountHosts, checkAgainstServer, dualPasswordUnsupported, mariadbHasNoDualPassword } from './steps.js';

/**
 * The MySQL/MariaDB preflight (`rotate --dry-run`): logins, SELECTs and SHOW GRANTS only. What it checks is what
 * setSecret will need (steps.ts): the current credential logs in as its own account; with a master, that the master
 * logs in where setSecret would, has CREATE USER and reads mysql.user, and (alternating users) may grant every right
 * of the user (grant-authority.ts); dual password: the server has RETAIN CURRENT PASSWORD.
 */
export interface MysqlPreflightDeps {
  settings: ConnectionSettings;
  /** USERNAME_CHARACTER_LIMIT, when set. */
  limit: number | undefined;
  parse: (value: SecretObject, what: string) => MysqlSecret;
  endpoint: (secret: MysqlSecret) => Endpoint;
  asMasterOf: (current: MysqlSecret, master: MysqlSecret) => Endpoint;
}

/** What the master's session read for the rights check, or the error that stopped it. */
interface MasterReadings {
  master: MysqlConnection['account'];
  masterUnits: GrantUnit[];
  hosts: string[];
  /** The user's rights on all its hosts (alternating users only). */
  userUnits: GrantUnit[];
  alternateHosts: string[];
}

const MAX_LISTED = 10;

export async function mysqlPreflight(input: PreflightInput, ctx: RotatorContext, deps: MysqlPreflightDeps): Promise<PreflightCheck[]> {
  const { settings, limit, parse } = deps;
  const current = parse(input.current, 'the current secret');
  rememberPasswords(ctx, current);
  const { strategy } = input;
  let server: ServerInfo | undefined;
  const login = await loginChecks('current-login', { user: current.username, where: where(current) }, () =>
    withSession(deps.endpoint(current), settings, ctx, async (session) => {
      await session.run(statements.probe);
      if (!session.authenticatedAsUser) {
        throw new RotatorError(
          'TARGET_AUTH_FAILED',
          `${where(current)} logged user "${current.username}" in as account '${session.account.user}'@'${session.account.host}', which proves nothing about the password; drop anonymous accounts`,
        );
      }
      server = session.server;
      return { tls: session.tls, ssl: current.ssl, server: describeServer(session.server) };
    }),
  );
  const checks = [...login.checks];
  if (strategy === 'single-user') return [...checks, ...notForStrategy(['dual-password', 'alternate-name', 'master-login', 'master-rights', 'alternate-exists'], strategy)];

  let alternate: string | undefined;
  if (strategy === 'alternating-users') {
    checks.push(
      ...notForStrategy(['dual-password'], strategy),
      await runCheck('alternate-name', () => {
        const name = checkedAlternateUsername(current.username, limit ?? engineUsernameLimit(current.engine), 'the current secret');
        if (server !== undefined) checkAgainstServer(name, server, limit, 'the alternate user');
        alternate = name;
        const max = limit ?? (server === undefined ? engineUsernameLimit(current.engine) : serverUsernameLimit(server));
        return `"${name}" is ${usernameLength(name)} characters (the limit is ${max}${limit === undefined ? '' : ', USERNAME_CHARACTER_LIMIT'})`;
      }),
    );
  } else {
    checks.push(
      await runCheck('dual-password', () => {
        if (current.engine === 'mariadb') throw mariadbHasNoDualPassword();
        if (server === undefined) return { status: 'skip', reason: 'not known: CURRENT did not log in' };
        if (!supportsDualPassword(server)) throw dualPasswordUnsupported(server);
        return `${describeServer(server)} has it`;
      }),
      ...notForStrategy(['alternate-name', 'alternate-exists'], strategy),
    );
  }

  const masterDependent = strategy === 'alternating-users' ? (['master-login', 'master-rights', 'alternate-exists'] as const) : (['master-login', 'master-rights'] as const);
  if (input.master === undefined) return [...checks, ...withoutMaster(masterDependent, 'no master secret (see that check)')];
  const raw = input.master;
  // Read with the name the alternate would have even when it does not fit, so the rights are still judged.
  const changed = strategy === 'alternating-users' ? alternateUsername(current.username) : current.username;
  let readings: MasterReadings | undefined;
  let readError: RotatorError | undefined;
  const masterLogin = await loginChecks('master-login', { user: typeof raw.value.username === 'string' ? raw.value.username : '(none)', where: where(current) }, async () => {
    const master = checkedMaster(parse(raw.value, 'the master secret'), current, { ...current, username: changed }, strategy, 'pending', raw.replicaHosts);
    rememberPasswords(ctx, master);
    const asMaster = deps.asMasterOf(current, master);
    return withSession(asMaster, settings, ctx, async (session) => {
      try {
        readings = await readRights(session, where(current), current.username, strategy === 'alternating-users' ? changed : undefined);
      } catch (error) {
        if (!(error instanceof RotatorError)) throw error;
        readError = error;
      }
      return { tls: session.tls, ssl: asMaster.ssl, server: describeServer(session.server) };
    });
  });
  checks.push(...masterLogin.checks);
  if (masterLogin.facts === undefined) return [...checks, ...withoutMaster(masterDependent.slice(1), 'the master did not log in')];
  checks.push(
    await runCheck('master-rights', () => {
      if (readError !== undefined) throw readError;
      if (readings === undefined) throw new RotatorError('INTERNAL', 'the master logged in but read nothing');
      return judgeRights(readings, current.username, where(current));
    }),
  );
  if (strategy === 'alternating-users') {
    checks.push(
      await runCheck('alternate-exists', () => {
        if (alternate === undefined) return { status: 'skip', reason: 'not looked up: the alternate name does not fit' };
        if (readings === undefined) return { status: 'skip', reason: 'not known: the master could not read mysql.user' };
        const n = readings.alternateHosts.length;
        return n > 0
          ? `"${alternate}" exists on ${n} host(s); setSecret brings its rights up to date and gives it the new password`
          : `"${alternate}" does not exist yet; setSecret creates it on ${readings.hosts.length} host(s) with the rights of "${current.username}"`;
      }),
    );
  }
  return checks;
}

/** As the master: its own grants, the user's accounts and (alternating users) their grants and the alternate's accounts. */
async function readRights(session: MysqlConnection, at: string, user: string, alternate: string | undefined): Promise<MasterReadings> {
  const target = { where: at, user: session.account.user };
  const masterUnits = await grantsOf(session, session.account);
  const hosts = await accountHosts(session, user, target);
  const userUnits: GrantUnit[] = [];
  if (alternate !== undefined) for (const host of hosts) userUnits.push(...(await grantsOf(session, { user, host })));
  const alternateHosts = alternate === undefined ? [] : (await session.run<{ host: unknown }>(statements.accountHosts(alternate))).map((r) => String(r.host));
  return { master: session.account, masterUnits, hosts, userUnits, alternateHosts };
}

function judgeRights(r: MasterReadings, user: string, at: string): string {
  const master = `'${r.master.user}'@'${r.master.host}'`;
  if (!canCreateUsers(r.masterUnits)) {
    throw new RotatorError('TARGET_ERROR', `the master ${master} at ${at} lacks CREATE USER, which setSecret needs to alter another account; an administrator runs GRANT CREATE USER ON *.* TO ${master}`);
  }
  const missing = ungrantable(r.userUnits, r.masterUnits);
  if (missing.length > 0) {
    const listed = [...new Set(missing.map(describeUnit))];
    const shown = listed.slice(0, MAX_LISTED).join('; ') + (listed.length > MAX_LISTED ? `; and ${listed.length - MAX_LISTED} more` : '');
    throw new RotatorError(
      'TARGET_ERROR',
      `the master ${master} at ${at} cannot grant rights that user "${user}" holds: ${shown}. It needs each WITH GRANT OPTION (roles WITH ADMIN OPTION), held directly, not through a role`,
    );
  }
  const rights = r.userUnits.length === 0 ? '' : `, and may grant each of the ${r.userUnits.length} right(s) of "${user}"`;
  return `${master} has CREATE USER, reads the ${r.hosts.length} account(s) of "${user}" in mysql.user${rights}`;
}
