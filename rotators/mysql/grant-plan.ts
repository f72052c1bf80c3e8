import { RotatorError } from '../../shared/errors.js';
import type { Account, Flavor, ServerInfo } from './session.js';
import * as sql from './sql.js';
import { type GrantLine } from './grant-lines.js';

/**
 * From two accounts' grants to the statements that make the second equal to the first without ever taking a
 * right it keeps: the units of a grant, their diff, the GRANT-then-REVOKE plan, and the TLS requirements and
 * resource limits that mysql.user holds. Pure functions; grants.ts runs them against the server.
 */
// ---------------------------------------------------------------------------------------------------------------
// Units and the diff
// ---------------------------------------------------------------------------------------------------------------

/**
 * One right, the smallest thing that can be granted or revoked alone:
 * - `privilege`: a privilege on an object (`column` set for a column privilege);
 * - `grant-option`: WITH GRANT OPTION on an object (the server keeps it per object, not per privilege);
 * - `dynamic-grant-option`: MySQL 8 keeps the grant option of a dynamic privilege (BACKUP_ADMIN, ...) per privilege;
 * - `role` / `role-admin`: a granted role / its WITH ADMIN OPTION;
 * - `proxy` / `proxy-grant-option`: GRANT PROXY ON an account / its WITH GRANT OPTION;
 * - `restriction`: a MySQL 8 partial revoke (a right the account is denied);
 * - `default-role`: a role activated at login.
 */
export type UnitKind = 'privilege' | 'grant-option' | 'dynamic-grant-option' | 'role' | 'role-admin' | 'proxy' | 'proxy-grant-option' | 'restriction' | 'default-role';

export interface GrantUnit {
  kind: UnitKind;
  /** The object, role or proxied account, as the server printed it. */
  on: string;
  /** The privilege name for `privilege`, `dynamic-grant-option` and `restriction`; '' otherwise. */
  privilege: string;
  /** The column as printed, for a column privilege. */
  column?: string;
  /** Identity for the diff. */
  key: string;
}

/** Column names are case-insensitive; a column printed as `` `A` `` and `a` is the same column. */
function columnKey(column: string): string {
  const unquoted = column.startsWith('`') ? column.slice(1, -1).replaceAll('``', '`') : column;
  return unquoted.toLowerCase();
}

export function unit(kind: UnitKind, on: string, privilege = '', column?: string): GrantUnit {
  const key = JSON.stringify([kind, on, privilege, column === undefined ? null : columnKey(column)]);
  return column === undefined ? { kind, on, privilege, key } : { kind, on, privilege, column, key };
}

/** MySQL 8 dynamic privileges are single upper-case words with underscores (BACKUP_ADMIN); static ones never are. */
export function isDynamicPrivilege(name: string, on: string): boolean {
  return on === '*.*' && /^[A-Z][A-Z0-9]*(?:_[A-Z0-9]+)+$/.test(name);
}

/** Splits parsed lines into units, without duplicates. USAGE ("no privileges") yields none. */
export function grantUnits(lines: readonly GrantLine[]): GrantUnit[] {
  const units = new Map<string, GrantUnit>();
  const add = (u: GrantUnit): void => {
    if (!units.has(u.key)) units.set(u.key, u);
  };
  for (const line of lines) {
    switch (line.kind) {
      case 'grant': {
        let staticSeen = false;
        for (const p of line.privileges) {
          if (p.name === 'USAGE') {
            staticSeen = true;
            continue;
          }
          const dynamic = isDynamicPrivilege(p.name, line.on);
          if (!dynamic) staticSeen = true;
          if (p.columns.length === 0) add(unit('privilege', line.on, p.name));
          for (const c of p.columns) add(unit('privilege', line.on, p.name, c));
          if (dynamic && line.grantOption) add(unit('dynamic-grant-option', line.on, p.name));
        }
        if (staticSeen && line.grantOption) add(unit('grant-option', line.on));
        break;
      }
      case 'revoke':
        for (const p of line.privileges) add(unit('restriction', line.on, p.name));
        break;
      case 'proxy':
        add(unit('proxy', line.on));
        if (line.grantOption) add(unit('proxy-grant-option', line.on));
        break;
      case 'role':
        for (const r of line.roles) {
          add(unit('role', r));
          if (line.adminOption) add(unit('role-admin', r));
        }
        break;
      case 'default-role':
        for (const r of line.roles) add(unit('default-role', r));
        break;
    }
  }
  return [...units.values()];
}

export interface GrantDiff {
  /** In the source, not in the target. */
  missing: GrantUnit[];
  /** In the target, not in the source. */
  excess: GrantUnit[];
}

export function diffGrants(source: readonly GrantUnit[], target: readonly GrantUnit[]): GrantDiff {
  const sourceKeys = new Set(source.map((u) => u.key));
  const targetKeys = new Set(target.map((u) => u.key));
  return { missing: source.filter((u) => !targetKeys.has(u.key)), excess: target.filter((u) => !sourceKeys.has(u.key)) };
}

/** A table-wide privilege the target holds through ALL PRIVILEGES on the same object is not missing. */
function heldThroughAll(u: GrantUnit, target: readonly GrantUnit[]): boolean {
  const all = unit('privilege', u.on, 'ALL PRIVILEGES').key;
  return u.kind === 'privilege' && u.column === undefined && target.some((t) => t.key === all);
}

/**
 * The rights of `source` that `target` lacks: its missing units (a privilege held through ALL PRIVILEGES counts as
 * held; a partial revoke only the source has takes nothing away from the target) and the partial revokes only the
 * target has, each of which denies it a right the source holds. testSecret's proof for alternating users.
 */
export function shortfall(source: readonly GrantUnit[], target: readonly GrantUnit[]): GrantUnit[] {
  const diff = diffGrants(source, target);
  return [...diff.missing.filter((u) => u.kind !== 'restriction' && !heldThroughAll(u, target)), ...diff.excess.filter((u) => u.kind === 'restriction')];
}

/** "SELECT (`a`) ON `db`.`t`", "role `r1`", ... for messages (names only). */
export function describeUnit(u: GrantUnit): string {
  switch (u.kind) {
    case 'privilege':
      return `${u.privilege}${u.column === undefined ? '' : ` (${u.column})`} ON ${u.on}`;
    case 'grant-option':
      return `GRANT OPTION ON ${u.on}`;
    case 'dynamic-grant-option':
      return `${u.privilege} WITH GRANT OPTION`;
    case 'role':
      return `role ${u.on}`;
    case 'role-admin':
      return `ADMIN OPTION of role ${u.on}`;
    case 'proxy':
      return `PROXY ON ${u.on}`;
    case 'proxy-grant-option':
      return `GRANT OPTION of PROXY ON ${u.on}`;
    case 'restriction':
      return `partial revoke of ${u.privilege} ON ${u.on}`;
    case 'default-role':
      return `default role ${u.on}`;
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Planning statements
// ---------------------------------------------------------------------------------------------------------------

export interface GrantStatement {
  kind: 'GRANT' | 'REVOKE' | 'SET DEFAULT ROLE';
  text: string;
  /** How many units it adds or removes, for the report. */
  units: number;
}

export interface SyncPlan {
  /** Run first: they only add rights (or lift a partial revoke, or set the default roles the source has). */
  grants: GrantStatement[];
  /**
   * Run after the grants were applied and read back. When `narrowing` is set these are single-privilege revokes
   * that turn an excess ALL PRIVILEGES into an explicit list; read the grants again and plan anew.
   */
  revokes: GrantStatement[];
  narrowing: boolean;
  /** Excess rights that no statement removes without a momentary loss of a right the target keeps. */
  unsafe: string[];
}

/** Column privileges are revoked together with the table privilege of the same name. */
const COLUMN_PRIVILEGES = new Set(['SELECT', 'INSERT', 'UPDATE', 'REFERENCES']);

/** Privileges to narrow an ALL PRIVILEGES with, per level; column-capable ones last. */
const TABLE_NARROWING = ['DROP', 'ALTER', 'INDEX', 'CREATE', 'TRIGGER', 'DELETE', 'CREATE VIEW', 'SHOW VIEW', 'INSERT', 'UPDATE', 'REFERENCES', 'SELECT'];
const DATABASE_NARROWING = ['EVENT', 'LOCK TABLES', 'CREATE TEMPORARY TABLES', 'CREATE ROUTINE', 'ALTER ROUTINE', 'EXECUTE', ...TABLE_NARROWING];
const GLOBAL_NARROWING = ['SHUTDOWN', 'FILE', 'RELOAD', 'PROCESS', 'SUPER', 'SHOW DATABASES', 'CREATE USER', 'REPLICATION CLIENT', 'REPLICATION SLAVE', ...DATABASE_NARROWING];
const ROUTINE_NARROWING = ['ALTER ROUTINE', 'EXECUTE'];

export function objectLevel(on: string): 'global' | 'database' | 'routine' | 'table' {
  if (on === '*.*') return 'global';
  if (/^(?:PROCEDURE|FUNCTION|PACKAGE)\s/i.test(on)) return 'routine';
  if (on.endsWith('.*')) return 'database';
  return 'table';
}

function narrowingPrivilege(on: string, source: readonly GrantUnit[]): string | undefined {
  const held = new Set(source.filter((u) => u.kind === 'privilege' && u.on === on).map((u) => u.privilege));
  const level = objectLevel(on);
  const candidates = level === 'global' ? GLOBAL_NARROWING : level === 'database' ? DATABASE_NARROWING : level === 'routine' ? ROUTINE_NARROWING : TABLE_NARROWING;
  return candidates.find((p) => !held.has(p));
}

function groupBy<T>(items: readonly T[], keyOf: (item: T) => string): Map<string, T[]> {
  const groups = new Map<string, T[]>();
  for (const item of items) {
    const key = keyOf(item);
    const group = groups.get(key);
    if (group === undefined) groups.set(key, [item]);
    else group.push(item);
  }
  return groups;
}

/** "SELECT, UPDATE (`a`, `b`)" from privilege units of one object. */
function privilegeList(units: readonly GrantUnit[]): string[] {
  const parts: string[] = [];
  for (const [name, group] of groupBy(units, (u) => u.privilege)) {
    const columns = group.filter((u) => u.column !== undefined).map((u) => u.column ?? '');
    if (group.some((u) => u.column === undefined)) parts.push(name);
    if (columns.length > 0) parts.push(`${name} (${columns.join(', ')})`);
  }
  return parts;
}

/**
 * Excess rights whose removal would take away, for an instant, a right the target must keep:
 * - a table privilege when the source holds the same privilege on columns of that table: REVOKE SELECT ON t also
 *   drops SELECT (a) on t (MySQL and MariaDB);
 * - on MySQL, a role's ADMIN OPTION alone (MariaDB has REVOKE ADMIN OPTION FOR; MySQL only revokes the role);
 * - the GRANT OPTION of a proxy grant alone, and of a MySQL 8 dynamic privilege alone.
 */
export function unsafeRevocations(diff: GrantDiff, source: readonly GrantUnit[], flavor: Flavor): string[] {
  const excessKeys = new Set(diff.excess.map((u) => u.key));
  const reasons: string[] = [];
  for (const u of diff.excess) {
    if (u.kind === 'privilege' && u.column === undefined && objectLevel(u.on) === 'table' && COLUMN_PRIVILEGES.has(u.privilege)) {
      if (source.some((s) => s.kind === 'privilege' && s.on === u.on && s.privilege === u.privilege && s.column !== undefined)) {
        reasons.push(`${describeUnit(u)}: revoking it also revokes the ${u.privilege} column privileges on ${u.on} that the source holds`);
      }
    }
    if (u.kind === 'privilege' && u.privilege === 'ALL PRIVILEGES' && objectLevel(u.on) === 'table') {
      // ALL holds the table-level SELECT/INSERT/UPDATE/REFERENCES; once narrowed, each would have to go.
      const lost = source.filter(
        (s) => s.kind === 'privilege' && s.on === u.on && s.column !== undefined && !source.some((t) => t.kind === 'privilege' && t.on === u.on && t.column === undefined && t.privilege === s.privilege),
      );
      if (lost.length > 0) reasons.push(`${describeUnit(u)}: narrowing it revokes table privileges whose column privileges the source holds (${[...new Set(lost.map((s) => s.privilege))].join(', ')})`);
    }
    if (u.kind === 'role-admin' && flavor === 'mysql' && !excessKeys.has(unit('role', u.on).key)) {
      reasons.push(`${describeUnit(u)}: MySQL can only remove it by revoking the role itself`);
    }
    if (u.kind === 'proxy-grant-option' && !excessKeys.has(unit('proxy', u.on).key)) {
      reasons.push(`${describeUnit(u)}: it can only be removed by revoking the proxy grant itself`);
    }
    if (u.kind === 'dynamic-grant-option' && !excessKeys.has(unit('privilege', u.on, u.privilege).key)) {
      reasons.push(`${describeUnit(u)}: it can only be removed by revoking the privilege itself`);
    }
  }
  return reasons;
}

/**
 * The statements that make `target` (the grants of account `to`) equal to `source`. Pure: the caller runs the
 * grants, reads back, plans again, and runs the revokes.
 */
export function planSync(source: readonly GrantUnit[], target: readonly GrantUnit[], to: Account, flavor: Flavor): SyncPlan {
  const diff = diffGrants(source, target);
  const acct = sql.account(to);
  const grants: GrantStatement[] = [];
  const revokes: GrantStatement[] = [];
  const ofKind = (units: readonly GrantUnit[], ...kinds: UnitKind[]): GrantUnit[] => units.filter((u) => kinds.includes(u.kind));
  const has = (units: readonly GrantUnit[], kind: UnitKind, on: string, privilege = ''): boolean => units.some((u) => u.key === unit(kind, on, privilege).key);

  // --- additions ---
  // A privilege the target holds through ALL PRIVILEGES on the same object is not missing (granting it again
  // changes nothing; the server keeps printing ALL until that is narrowed below).
  const missing = diff.missing.filter((u) => !heldThroughAll(u, target));
  const missingStatic = missing.filter((u) => (u.kind === 'privilege' && !isDynamicPrivilege(u.privilege, u.on)) || u.kind === 'grant-option');
  for (const [on, units] of groupBy(missingStatic, (u) => u.on)) {
    const privileges = privilegeList(ofKind(units, 'privilege'));
    const withGrant = units.some((u) => u.kind === 'grant-option');
    const list = privileges.length > 0 ? privileges.join(', ') : 'USAGE';
    grants.push({ kind: 'GRANT', text: `GRANT ${list} ON ${on} TO ${acct}${withGrant ? ' WITH GRANT OPTION' : ''}`, units: units.length });
  }
  // MySQL 8 dynamic privileges: their grant option is per privilege, so those with and without it go separately.
  const missingDynamic = missing.filter((u) => (u.kind === 'privilege' && isDynamicPrivilege(u.privilege, u.on)) || u.kind === 'dynamic-grant-option');
  for (const [on, units] of groupBy(missingDynamic, (u) => u.on)) {
    const names = [...new Set(units.map((u) => u.privilege))];
    const withGo = names.filter((n) => has(source, 'dynamic-grant-option', on, n));
    const withoutGo = names.filter((n) => !withGo.includes(n));
    if (withoutGo.length > 0) grants.push({ kind: 'GRANT', text: `GRANT ${withoutGo.join(', ')} ON ${on} TO ${acct}`, units: units.filter((u) => withoutGo.includes(u.privilege)).length });
    if (withGo.length > 0) grants.push({ kind: 'GRANT', text: `GRANT ${withGo.join(', ')} ON ${on} TO ${acct} WITH GRANT OPTION`, units: units.filter((u) => withGo.includes(u.privilege)).length });
  }
  for (const [on, units] of groupBy(ofKind(missing, 'proxy', 'proxy-grant-option'), (u) => u.on)) {
    const withGrant = has(source, 'proxy-grant-option', on);
    grants.push({ kind: 'GRANT', text: `GRANT PROXY ON ${on} TO ${acct}${withGrant ? ' WITH GRANT OPTION' : ''}`, units: units.length });
  }
  for (const [role, units] of groupBy(ofKind(missing, 'role', 'role-admin'), (u) => u.on)) {
    const withAdmin = has(source, 'role-admin', role);
    grants.push({ kind: 'GRANT', text: `GRANT ${role} TO ${acct}${withAdmin ? ' WITH ADMIN OPTION' : ''}`, units: units.length });
  }
  // An excess partial revoke denies the target a right the source has: granting it lifts the restriction.
  for (const [on, units] of groupBy(ofKind(diff.excess, 'restriction'), (u) => u.on)) {
    grants.push({ kind: 'GRANT', text: `GRANT ${units.map((u) => u.privilege).join(', ')} ON ${on} TO ${acct}`, units: units.length });
  }
  const defaultRoleChanges = ofKind([...diff.missing, ...diff.excess], 'default-role').length;
  const sourceDefaults = ofKind(source, 'default-role').map((u) => u.on);
  const defaultFor = flavor === 'mariadb' ? 'FOR' : 'TO';
  if (defaultRoleChanges > 0 && sourceDefaults.length > 0) {
    // After the role grants above: a default role must be granted first.
    grants.push({ kind: 'SET DEFAULT ROLE', text: `SET DEFAULT ROLE ${sourceDefaults.join(', ')} ${defaultFor} ${acct}`, units: defaultRoleChanges });
  }

  // --- removals ---
  const unsafe = unsafeRevocations(diff, source, flavor);
  const excessStatic = diff.excess.filter((u) => (u.kind === 'privilege' && !isDynamicPrivilege(u.privilege, u.on)) || u.kind === 'grant-option');
  const narrowing: GrantStatement[] = [];
  for (const u of excessStatic) {
    if (u.kind !== 'privilege' || u.privilege !== 'ALL PRIVILEGES') continue;
    const p = narrowingPrivilege(u.on, source);
    if (p === undefined) unsafe.push(`${describeUnit(u)}: no privilege to narrow it with`);
    else narrowing.push({ kind: 'REVOKE', text: `REVOKE ${p} ON ${u.on} FROM ${acct}`, units: 1 });
  }
  if (narrowing.length > 0) return { grants, revokes: narrowing, narrowing: true, unsafe };

  if (defaultRoleChanges > 0 && sourceDefaults.length === 0) {
    // Before revoking roles: a default role that is no longer granted would be left dangling.
    revokes.push({ kind: 'SET DEFAULT ROLE', text: `SET DEFAULT ROLE NONE ${defaultFor} ${acct}`, units: defaultRoleChanges });
  }
  for (const [on, units] of groupBy(excessStatic, (u) => u.on)) {
    const list = [...privilegeList(ofKind(units, 'privilege')), ...(units.some((u) => u.kind === 'grant-option') ? ['GRANT OPTION'] : [])];
    revokes.push({ kind: 'REVOKE', text: `REVOKE ${list.join(', ')} ON ${on} FROM ${acct}`, units: units.length });
  }
  const excessDynamic = ofKind(diff.excess, 'privilege').filter((u) => isDynamicPrivilege(u.privilege, u.on));
  for (const [on, units] of groupBy(excessDynamic, (u) => u.on)) {
    const covered = ofKind(diff.excess, 'dynamic-grant-option').filter((g) => g.on === on && units.some((u) => u.privilege === g.privilege)).length;
    revokes.push({ kind: 'REVOKE', text: `REVOKE ${units.map((u) => u.privilege).join(', ')} ON ${on} FROM ${acct}`, units: units.length + covered });
  }
  for (const u of ofKind(diff.excess, 'proxy')) {
    revokes.push({ kind: 'REVOKE', text: `REVOKE PROXY ON ${u.on} FROM ${acct}`, units: has(diff.excess, 'proxy-grant-option', u.on) ? 2 : 1 });
  }
  for (const u of ofKind(diff.excess, 'role')) {
    revokes.push({ kind: 'REVOKE', text: `REVOKE ${u.on} FROM ${acct}`, units: has(diff.excess, 'role-admin', u.on) ? 2 : 1 });
  }
  if (flavor === 'mariadb') {
    for (const u of ofKind(diff.excess, 'role-admin')) {
      if (!has(diff.excess, 'role', u.on)) revokes.push({ kind: 'REVOKE', text: `REVOKE ADMIN OPTION FOR ${u.on} FROM ${acct}`, units: 1 });
    }
  }
  // A partial revoke the target lacks: it holds a right the source is denied.
  for (const [on, units] of groupBy(ofKind(diff.missing, 'restriction'), (u) => u.on)) {
    revokes.push({ kind: 'REVOKE', text: `REVOKE ${units.map((u) => u.privilege).join(', ')} ON ${on} FROM ${acct}`, units: units.length });
  }
  return { grants, revokes, narrowing: false, unsafe };
}

// ---------------------------------------------------------------------------------------------------------------
// TLS requirements and resource limits
// ---------------------------------------------------------------------------------------------------------------

/** `mysql.user.ssl_type`: '' none, ANY = REQUIRE SSL, X509, SPECIFIED = CIPHER/ISSUER/SUBJECT. */
export interface TlsRequirement {
  type: '' | 'ANY' | 'X509' | 'SPECIFIED';
  cipher: string;
  issuer: string;
  subject: string;
}

/** The REQUIRE clause's argument: NONE, SSL, X509 or "CIPHER '...' AND ISSUER '...' AND SUBJECT '...'". */
export function requireClause(tls: TlsRequirement, server: Pick<ServerInfo, 'noBackslashEscapes'>): string {
  const t = canonicalTls(tls);
  if (t.type === '') return 'NONE';
  if (t.type === 'ANY') return 'SSL';
  if (t.type === 'X509') return 'X509';
  const parts: string[] = [];
  if (t.cipher !== '') parts.push(`CIPHER ${sql.literal(t.cipher, server)}`);
  if (t.issuer !== '') parts.push(`ISSUER ${sql.literal(t.issuer, server)}`);
  if (t.subject !== '') parts.push(`SUBJECT ${sql.literal(t.subject, server)}`);
  return parts.join(' AND ');
}

/** SPECIFIED with no cipher, issuer or subject demands only TLS, as REQUIRE SSL does; only the type matters otherwise. */
function canonicalTls(tls: TlsRequirement): TlsRequirement {
  if (tls.type === 'SPECIFIED' && tls.cipher === '' && tls.issuer === '' && tls.subject === '') return { type: 'ANY', cipher: '', issuer: '', subject: '' };
  if (tls.type !== 'SPECIFIED') return { type: tls.type, cipher: '', issuer: '', subject: '' };
  return tls;
}

export function sameTls(a: TlsRequirement, b: TlsRequirement): boolean {
  const x = canonicalTls(a);
  const y = canonicalTls(b);
  return x.type === y.type && x.cipher === y.cipher && x.issuer === y.issuer && x.subject === y.subject;
}

/** The `max_*` columns of mysql.user as decimal text; `maxStatementTime` on MariaDB only. */
export interface ResourceLimits {
  maxQueriesPerHour: string;
  maxUpdatesPerHour: string;
  maxConnectionsPerHour: string;
  maxUserConnections: string;
  maxStatementTime?: string;
}

const LIMIT_OPTIONS: ReadonlyArray<[keyof ResourceLimits, string]> = [
  ['maxQueriesPerHour', 'MAX_QUERIES_PER_HOUR'],
  ['maxUpdatesPerHour', 'MAX_UPDATES_PER_HOUR'],
  ['maxConnectionsPerHour', 'MAX_CONNECTIONS_PER_HOUR'],
  ['maxUserConnections', 'MAX_USER_CONNECTIONS'],
  ['maxStatementTime', 'MAX_STATEMENT_TIME'],
];

export function sameLimits(a: ResourceLimits, b: ResourceLimits): boolean {
  return LIMIT_OPTIONS.every(([key]) => a[key] === b[key]);
}

/** "MAX_QUERIES_PER_HOUR 0 MAX_UPDATES_PER_HOUR 0 ...", the argument of ALTER USER ... WITH. */
export function limitsClause(limits: ResourceLimits): string {
  const parts: string[] = [];
  for (const [key, option] of LIMIT_OPTIONS) {
    const value = limits[key];
    if (value === undefined) continue;
    // The values come from the server's own numeric columns; anything else must not reach a statement.
    if (!/^-?\d+(?:\.\d+)?$/.test(value)) throw new RotatorError('TARGET_ERROR', `mysql.user holds a non-numeric ${option} value; cannot copy the resource limits`);
    parts.push(`${option} ${value}`);
  }
  return parts.join(' ');
}

