import { RotatorError, type ErrorCode } from '../../shared/errors.js';
import type { Account, Flavor, MysqlSession } from './session.js';
import * as sql from './sql.js';
import { GrantParseError, parseGrantLine } from './grant-lines.js';
import {
  describeUnit,
  diffGrants,
  grantUnits,
  limitsClause,
  planSync,
  requireClause,
  sameLimits,
  sameTls,
  shortfall,
  unit,
  type GrantStatement,
  type GrantUnit,
  type ResourceLimits,
  type TlsRequirement,
} from './grant-plan.js';

/**
 * Makes one MySQL/MariaDB user an exact copy of another, host by host: the alternating-users strategy's
 * `app` <-> `app_clone` step. The caller then sets the alternate's password.
 *
 * How the rights are copied, and why:
 * - The truth is the server's own `SHOW GRANTS` text. Each line is parsed only far enough to split it into
 *   units (one privilege on one object, one column privilege, a grant option, a role, a proxy grant, a default
 *   role), keyed by the text the server printed for the object. Both accounts' lines come from the same server,
 *   so the same object always prints the same way, and statements reuse that text: object names keep the
 *   server's quoting.
 * - The alternate account is in use (clients still holding the previous credential log in with it), so it must
 *   never lose a right it keeps, not even for an instant. Missing units are granted first; the grants are read
 *   again; only then are the excess units revoked, one by one, never with `REVOKE ALL`. An excess `ALL
 *   PRIVILEGES` is first narrowed by revoking one privilege the source does not hold on that object, after which
 *   the server lists the rest explicitly and they are revoked individually. Where the server offers no statement
 *   that narrows without a momentary loss (see `unsafeRevocations`), nothing is revoked and the error says what to
 *   do by hand.
 * - After the sync the alternate's grants are read once more and must equal the source's, so a server quirk
 *   shows up as an error naming the difference, not as a silently wrong copy.
 * - TLS requirements and resource limits come from the `mysql.user` columns (`ssl_type`, `ssl_cipher`,
 *   `x509_issuer`, `x509_subject`, `max_*`), which MySQL 5.7, 8.x and MariaDB 10.4+ (a view over
 *   `mysql.global_priv`) all have, and which the master must be able to read anyway to find the accounts. They
 *   hold the raw values, so nothing has to be unescaped; the string literals of `SHOW CREATE USER` and `SHOW
 *   GRANTS` follow each server's own escaping (MariaDB prints backslash escapes even under NO_BACKSLASH_ESCAPES)
 *   and what SHOW GRANTS shows of TLS and limits differs between versions.
 * - What is read, and how often: one SELECT on mysql.user gives the accounts of both users with their TLS
 *   requirements and limits (used by the copy, by the caller's password change through `CopyReport.hosts`, and by
 *   missingRights), then SHOW GRANTS once per account, the only complete view of its grants. When the grants,
 *   TLS and limits already match (every rotation after the first), nothing is executed and nothing read again.
 * - User and host names are bound as parameters (`values`), never spliced into a SELECT; DCL cannot take
 *   parameters, so account names go through sql.account() (backticks, unaffected by sql_mode) and TLS strings
 *   through sql.literal() for the session's sql_mode.
 */

// ---------------------------------------------------------------------------------------------------------------
// Talking to the server
// ---------------------------------------------------------------------------------------------------------------

export interface CopyOptions {
  /**
   * The password clause for an account that has to be created, appended after the account name of
   * `CREATE USER`, e.g. `IDENTIFIED BY PASSWORD '*2470C0C0...'` (MariaDB, MySQL 5.7) or `IDENTIFIED BY '...'`
   * (MySQL 8). It is withheld from every message and error.
   */
  createIdentifiedBy: string;
}

export interface AccountCopy {
  /** The alternate account, e.g. { user: 'app_clone', host: '10.0.%' }. */
  account: Account;
  created: boolean;
  grantsAdded: number;
  grantsRevoked: number;
  tlsChanged: boolean;
  limitsChanged: boolean;
}

/** What copyAccount changed: names and counts only, never a password or hash. */
export interface CopyReport {
  /** One entry per host of the source user, in host order. */
  accounts: AccountCopy[];
  created: number;
  grantsAdded: number;
  grantsRevoked: number;
  tlsChanged: number;
  limitsChanged: number;
  /**
   * Hosts the alternate user has an account for but the source user does not. They are left as they are (not
   * dropped: something may use them); the caller should warn, since they keep whatever rights they had.
   */
  extraHosts: string[];
  /**
   * Every host the alternate user has an account on once the copy is done (those of `accounts`, then `extraHosts`),
   * from the same read of mysql.user: the caller sets the password on exactly these without reading it again.
   */
  hosts: string[];
  /** Whether anything was changed; false on a second call. */
  changed: boolean;
}

function show(a: Account): string {
  return `'${a.user}'@'${a.host}'`;
}

function text(value: unknown): string {
  if (typeof value === 'string') return value;
  if (Buffer.isBuffer(value)) return value.toString('utf8');
  if (typeof value === 'number' || typeof value === 'bigint') return value.toString();
  if (value === null || value === undefined) return '';
  throw new RotatorError('TARGET_ERROR', `unexpected ${typeof value} value in a mysql.user row`);
}

const PASSTHROUGH_CODES = new Set<ErrorCode>(['TARGET_UNREACHABLE', 'TARGET_AUTH_FAILED', 'TARGET_TLS']);

/** An account's row of mysql.user: its host, and the columns of its TLS requirement and resource limits (optionsOf). */
interface AccountRow {
  host: string;
  row: Record<string, unknown>;
}

/** The alternate's account for a host of the source: host names compare case-insensitively on MySQL, so the stored spelling wins. */
function matchingAccount(host: string, targetRows: readonly AccountRow[]): AccountRow | undefined {
  return targetRows.find((r) => r.host === host) ?? targetRows.find((r) => r.host.toLowerCase() === host.toLowerCase());
}

class Copier {
  private readonly session: MysqlSession;
  private readonly from: string;
  private readonly to: string;
  /** What the messages say is under way. */
  private readonly doing: string;

  constructor(session: MysqlSession, from: string, to: string, doing = `copying the rights of user '${from}' to '${to}'`) {
    this.session = session;
    this.from = from;
    this.to = to;
    this.doing = doing;
  }

  private get flavor(): Flavor {
    return this.session.server.flavor;
  }

  /**
   * Runs one statement; a failure becomes a RotatorError naming the account and the statement kind. With
   * `secret`, the server's message and the statement are left out entirely (CREATE USER carries a hash).
   */
  async run<T = Record<string, unknown>>(statement: string, what: string, subject: string, options: { values?: unknown[]; secret?: string } = {}): Promise<T[]> {
    try {
      return await this.session.query<T>(statement, {
        ...(options.values === undefined ? {} : { values: options.values }),
        ...(options.secret === undefined ? {} : { sensitive: [options.secret] }),
      });
    } catch (error) {
      const inner = error instanceof RotatorError ? error : undefined;
      const code = inner !== undefined && PASSTHROUGH_CODES.has(inner.code) ? inner.code : 'TARGET_ERROR';
      const retryable = inner?.retryable ?? false;
      const prefix = `${this.doing}: ${what} for ${subject} failed`;
      if (options.secret !== undefined) {
        const driverCode = typeof error === 'object' && error !== null && 'code' in error && typeof error.code === 'string' ? error.code : undefined;
        const serverCode = driverCode === undefined ? '' : ` (${driverCode})`;
        throw new RotatorError(code, `${prefix}${serverCode}; check that the master account may create users and that the account name is valid`, { retryable });
      }
      const detail = error instanceof Error ? error.message : String(error);
      const hint = /^(GRANT|REVOKE|SET DEFAULT ROLE)/.test(what)
        ? 'check that the master account holds every right it copies WITH GRANT OPTION (roles WITH ADMIN OPTION)'
        : what.startsWith('ALTER USER')
          ? 'check that the master account has the CREATE USER privilege'
          : 'check that the master account may read the mysql system schema';
      throw new RotatorError(code, `${prefix}: ${detail}; ${hint}`, {
        retryable,
        cause: error,
      });
    }
  }

  /** The columns of mysql.user that hold an account's TLS requirement and resource limits. */
  private get optionColumns(): string {
    return `ssl_type, ssl_cipher, x509_issuer, x509_subject, max_questions, max_updates, max_connections, max_user_connections${this.flavor === 'mariadb' ? ', max_statement_time' : ''}`;
  }

  /**
   * Every account of both users, with its TLS requirement and resource limits, in one read of mysql.user. The server
   * says which user a row belongs to with the same comparison as its WHERE (`User = ?`), so nothing about how it
   * compares names is assumed here.
   */
  async readAccounts(): Promise<{ source: AccountRow[]; target: AccountRow[] }> {
    const rows = await this.run(
      `SELECT User = ? AS of_source, User = ? AS of_target, Host AS host, ${this.optionColumns} FROM mysql.user WHERE User IN (?, ?) ORDER BY Host`,
      'reading mysql.user',
      `users '${this.from}' and '${this.to}'`,
      { values: [this.from, this.to, this.from, this.to] },
    );
    const source: AccountRow[] = [];
    const target: AccountRow[] = [];
    for (const row of rows) {
      const host = text(row.host);
      if (Number(text(row.of_source)) === 1) source.push({ host, row });
      if (Number(text(row.of_target)) === 1) target.push({ host, row });
    }
    return { source, target };
  }

  async readUnits(account: Account): Promise<GrantUnit[]> {
    const rows = await this.run(`SHOW GRANTS FOR ${sql.account(account)}`, 'SHOW GRANTS', show(account));
    const lines = rows.map((row, i) => {
      try {
        return parseGrantLine(text(Object.values(row)[0]), account);
      } catch (error) {
        if (!(error instanceof GrantParseError)) throw error;
        throw new RotatorError(
          'TARGET_ERROR',
          `${this.doing}: cannot read line ${i + 1} of SHOW GRANTS FOR ${show(account)} (${error.message}); copy this account's rights by hand`,
        );
      }
    });
    const units = grantUnits(lines);
    const { server } = this.session;
    if (server.flavor === 'mysql' && server.version[0] >= 8) {
      // MySQL 8 keeps default roles out of SHOW GRANTS.
      const roles = await this.run<{ user: unknown; host: unknown }>(
        'SELECT DEFAULT_ROLE_USER AS user, DEFAULT_ROLE_HOST AS host FROM mysql.default_roles WHERE USER = ? AND HOST = ? ORDER BY DEFAULT_ROLE_USER, DEFAULT_ROLE_HOST',
        'reading mysql.default_roles',
        show(account),
        { values: [account.user, account.host] },
      );
      for (const r of roles) units.push(unit('default-role', sql.account({ user: text(r.user), host: text(r.host) })));
    }
    return units;
  }

  /** One account's TLS requirement and resource limits (an account just created: the server's defaults). */
  async readOptions(account: Account): Promise<{ tls: TlsRequirement; limits: ResourceLimits }> {
    const rows = await this.run(`SELECT ${this.optionColumns} FROM mysql.user WHERE User = ? AND Host = ?`, 'reading the TLS requirement in mysql.user', show(account), {
      values: [account.user, account.host],
    });
    const row = rows[0];
    if (row === undefined) throw new RotatorError('TARGET_ERROR', `${this.doing}: ${show(account)} disappeared from mysql.user while it was being copied; run the rotation again`, { retryable: true });
    return this.optionsOf(row, account);
  }

  /** Parsed only for the accounts compared, so an account left alone (an extra host) is never refused. */
  optionsOf(row: Record<string, unknown>, account: Account): { tls: TlsRequirement; limits: ResourceLimits } {
    const type = text(row.ssl_type).toUpperCase();
    if (type !== '' && type !== 'ANY' && type !== 'X509' && type !== 'SPECIFIED') throw new RotatorError('TARGET_ERROR', `${show(account)} has an unknown ssl_type in mysql.user`);
    const limits: ResourceLimits = {
      maxQueriesPerHour: text(row.max_questions),
      maxUpdatesPerHour: text(row.max_updates),
      maxConnectionsPerHour: text(row.max_connections),
      maxUserConnections: text(row.max_user_connections),
    };
    if (this.flavor === 'mariadb') limits.maxStatementTime = text(row.max_statement_time);
    return { tls: { type, cipher: text(row.ssl_cipher), issuer: text(row.x509_issuer), subject: text(row.x509_subject) }, limits };
  }

  async execute(statements: readonly GrantStatement[], account: Account): Promise<number> {
    let units = 0;
    for (const s of statements) {
      await this.run(s.text, s.kind, show(account));
      units += s.units;
    }
    return units;
  }

  /** Grants first, read back, then revokes; never a moment without a right both accounts share. */
  async syncGrants(source: Account, target: Account): Promise<{ added: number; revoked: number }> {
    const sourceUnits = await this.readUnits(source);
    let plan = planSync(sourceUnits, await this.readUnits(target), target, this.flavor);
    const refuse = (reasons: readonly string[]): RotatorError =>
      new RotatorError(
        'TARGET_ERROR',
        `copying the rights of ${show(source)} to ${show(target)}: the alternate account holds rights the source does not, and removing them would briefly take away rights it must keep: ${reasons.join('; ')}. Remove them by hand while the alternate account is not in use, then run the rotation again`,
      );
    // Checked before anything changes, so a refused copy leaves the alternate account as it was.
    if (plan.unsafe.length > 0) throw refuse(plan.unsafe);
    let added = 0;
    let revoked = 0;
    if (plan.grants.length > 0) {
      added = await this.execute(plan.grants, target);
      plan = planSync(sourceUnits, await this.readUnits(target), target, this.flavor);
    }
    // Narrowing an ALL PRIVILEGES takes one round per ALL; a handful of rounds is plenty.
    for (let round = 0; round < 4 && plan.grants.length === 0 && plan.revokes.length > 0; round += 1) {
      if (plan.unsafe.length > 0) throw refuse(plan.unsafe);
      revoked += await this.execute(plan.revokes, target);
      plan = planSync(sourceUnits, await this.readUnits(target), target, this.flavor);
    }
    if (plan.grants.length > 0 || plan.revokes.length > 0) {
      const diff = diffGrants(sourceUnits, await this.readUnits(target));
      const differences = [...diff.missing.map((u) => `missing ${describeUnit(u)}`), ...diff.excess.map((u) => `extra ${describeUnit(u)}`)];
      throw new RotatorError(
        'TARGET_ERROR',
        `copying the rights of ${show(source)} to ${show(target)}: after the copy the accounts still differ (${differences.slice(0, 10).join('; ')}); compare SHOW GRANTS of both accounts and align them by hand`,
      );
    }
    return { added, revoked };
  }

  /**
   * Makes the alternate's account on the source's host a copy of it. The TLS requirement and limits of both come from
   * copyAccount's one read of mysql.user (a created account's are read after CREATE USER); an ALTER runs only where
   * they differ, and SHOW GRANTS of both accounts is all syncGrants reads when the grants already match.
   */
  async copyHost(source: AccountRow, targetRows: readonly AccountRow[], options: CopyOptions): Promise<AccountCopy> {
    const sourceAccount: Account = { user: this.from, host: source.host };
    const existing = matchingAccount(source.host, targetRows);
    const target: Account = { user: this.to, host: existing?.host ?? source.host };
    const created = existing === undefined;
    if (created) {
      await this.run(`CREATE USER ${sql.account(target)} ${options.createIdentifiedBy}`, 'CREATE USER', show(target), { secret: options.createIdentifiedBy });
    }
    const { added, revoked } = await this.syncGrants(sourceAccount, target);

    const from = this.optionsOf(source.row, sourceAccount);
    const to = existing === undefined ? await this.readOptions(target) : this.optionsOf(existing.row, target);
    const tlsChanged = !sameTls(from.tls, to.tls);
    if (tlsChanged) await this.run(`ALTER USER ${sql.account(target)} REQUIRE ${requireClause(from.tls, this.session.server)}`, 'ALTER USER ... REQUIRE', show(target));
    const limitsChanged = !sameLimits(from.limits, to.limits);
    if (limitsChanged) await this.run(`ALTER USER ${sql.account(target)} WITH ${limitsClause(from.limits)}`, 'ALTER USER ... WITH (resource limits)', show(target));
    return { account: target, created, grantsAdded: added, grantsRevoked: revoked, tlsChanged, limitsChanged };
  }
}

/**
 * Makes every account of user `to` an exact copy of the account of user `from` on the same host: creates
 * missing ones (with `options.createIdentifiedBy`), syncs grants (adding before revoking), TLS requirements and
 * resource limits. Idempotent: a second call changes nothing and reports zeros. Runs on the session as is (a
 * master account that may create users and grant what `from` holds).
 */
export async function copyAccount(session: MysqlSession, from: string, to: string, options: CopyOptions): Promise<CopyReport> {
  if (from === '' || to === '') throw new RotatorError('INVALID_INPUT', 'copyAccount: both user names must be non-empty');
  if (from === to) throw new RotatorError('INVALID_INPUT', `copyAccount: the source and the alternate user are both '${from}'`);
  // Only the clause's shape is checked: its content (a hash or a password) must not appear in the message.
  if (!/^\s*IDENTIFIED\s/i.test(options.createIdentifiedBy)) {
    throw new RotatorError('INVALID_INPUT', 'copyAccount: createIdentifiedBy must be an IDENTIFIED ... clause, e.g. IDENTIFIED BY PASSWORD followed by the quoted hash');
  }
  sql.identifier(from);
  sql.identifier(to);
  const copier = new Copier(session, from, to);
  const { source, target } = await copier.readAccounts();
  if (source.length === 0) {
    throw new RotatorError(
      'TARGET_ERROR',
      `cannot copy the rights of user '${from}': mysql.user has no account of that user on this server; check the secret's username and that the master account may read mysql.user`,
    );
  }
  const accounts: AccountCopy[] = [];
  for (const row of source) accounts.push(await copier.copyHost(row, target, options));
  const used = new Set(accounts.map((a) => a.account.host));
  const extraHosts = target.map((r) => r.host).filter((h) => !used.has(h));
  const sum = (f: (a: AccountCopy) => number): number => accounts.reduce((n, a) => n + f(a), 0);
  const report: CopyReport = {
    accounts,
    created: sum((a) => (a.created ? 1 : 0)),
    grantsAdded: sum((a) => a.grantsAdded),
    grantsRevoked: sum((a) => a.grantsRevoked),
    tlsChanged: sum((a) => (a.tlsChanged ? 1 : 0)),
    limitsChanged: sum((a) => (a.limitsChanged ? 1 : 0)),
    extraHosts,
    hosts: [...used, ...extraHosts],
    changed: false,
  };
  report.changed = report.created + report.grantsAdded + report.grantsRevoked + report.tlsChanged + report.limitsChanged > 0;
  return report;
}

/**
 * What user `to` lacks of user `from`'s rights, host by host: a missing account, a right of the source it does not
 * hold (grant-plan.ts's shortfall), a TLS requirement or resource limits that differ. Empty when `to` holds them
 * all; rights `to` holds beyond the source's are not a shortfall. Reads only (SHOW GRANTS and mysql.user, what
 * copyAccount reads): the alternating-users testSecret runs it as the master. Names only, never a password.
 */
export async function missingRights(session: MysqlSession, from: string, to: string): Promise<string[]> {
  const copier = new Copier(session, from, to, `comparing the rights of user '${to}' with those of '${from}'`);
  const { source, target } = await copier.readAccounts();
  if (source.length === 0) {
    throw new RotatorError('TARGET_ERROR', `cannot compare the rights of user '${to}' with those of '${from}': mysql.user has no account of '${from}' on this server`);
  }
  const missing: string[] = [];
  for (const s of source) {
    const t = matchingAccount(s.host, target);
    const sourceAccount: Account = { user: from, host: s.host };
    if (t === undefined) {
      missing.push(`the account ${show({ user: to, host: s.host })}`);
      continue;
    }
    const targetAccount: Account = { user: to, host: t.host };
    for (const u of shortfall(await copier.readUnits(sourceAccount), await copier.readUnits(targetAccount))) {
      missing.push(`${u.kind === 'restriction' ? `${u.privilege} ON ${u.on} (denied by a partial revoke)` : describeUnit(u)} for ${show(targetAccount)}`);
    }
    const a = copier.optionsOf(s.row, sourceAccount);
    const b = copier.optionsOf(t.row, targetAccount);
    if (!sameTls(a.tls, b.tls)) missing.push(`the TLS requirement of ${show(sourceAccount)} for ${show(targetAccount)}`);
    if (!sameLimits(a.limits, b.limits)) missing.push(`the resource limits of ${show(sourceAccount)} for ${show(targetAccount)}`);
  }
  return missing;
}

/**
 * The rights of one account as units (SHOW GRANTS, and MySQL 8's default roles), read as copyAccount reads them: the
 * preflight compares the master's own with the user's (grant-authority.ts). Reads only.
 */
export async function grantsOf(session: MysqlSession, account: Account): Promise<GrantUnit[]> {
  return new Copier(session, account.user, account.user, `reading the rights of ${show(account)}`).readUnits(account);
}
