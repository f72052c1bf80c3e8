import { RotatorError, type ErrorCode } from '../../shared/errors.js';
import type { Account, Flavor, MysqlSession, ServerInfo } from './session.js';
import * as sql from './sql.js';

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
 * - User and host names are bound as parameters (`values`), never spliced into a SELECT; DCL cannot take
 *   parameters, so account names go through sql.account() (backticks, unaffected by sql_mode) and TLS strings
 *   through sql.literal() for the session's sql_mode.
 */

// ---------------------------------------------------------------------------------------------------------------
// Parsing SHOW GRANTS lines
// ---------------------------------------------------------------------------------------------------------------

/** What stands for the grantee in a normalised line. */
export const GRANTEE = '<grantee>';

export type GrantLineKind = 'grant' | 'role' | 'proxy' | 'revoke' | 'default-role';

export interface PrivilegeItem {
  /** Upper case, single-spaced: "SELECT", "CREATE TEMPORARY TABLES", "ALL PRIVILEGES", "BACKUP_ADMIN". */
  name: string;
  /** Column names as the server printed them (`` `a` ``); empty for a table/database/global privilege. */
  columns: string[];
}

export interface GrantLine {
  /**
   * `grant`: GRANT privileges ON object; `role`: GRANT role TO; `proxy`: GRANT PROXY ON account; `revoke`: a
   * MySQL 8 partial revoke (REVOKE privileges ON schema FROM); `default-role`: MariaDB's SET DEFAULT ROLE.
   */
  kind: GrantLineKind;
  /** The object (`` `db`.* ``, `` PROCEDURE `db`.`p` ``) or proxied account exactly as printed; '' otherwise. */
  on: string;
  privileges: PrivilegeItem[];
  /** Roles as printed (`` `r1` `` on MariaDB, `` `r1`@`%` `` on MySQL 8), for `role` and `default-role` lines. */
  roles: string[];
  grantOption: boolean;
  adminOption: boolean;
  /** The line with the grantee replaced by GRANTEE and the IDENTIFIED ... part (password hash) removed. */
  normalised: string;
}

/** A SHOW GRANTS line this module cannot read. The message never quotes the line: it may hold a password hash. */
export class GrantParseError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'GrantParseError';
  }
}

interface Token {
  type: 'word' | 'quoted' | 'punct';
  raw: string;
  start: number;
  end: number;
}

const PUNCT = new Set([',', '(', ')']);
const QUOTES = new Set(['`', "'", '"']);

/**
 * The token at `pos` (after whitespace), or undefined at the end. Backticks escape only by doubling; string
 * literals also by backslash, which is how the servers print them in SHOW GRANTS. `lenient` lets an unterminated
 * quote run to the end of the text instead of failing (for the part after the grantee, which is only searched).
 */
function nextToken(text: string, from: number, lenient: boolean): Token | undefined {
  let pos = from;
  while (pos < text.length && /\s/.test(text.charAt(pos))) pos += 1;
  if (pos >= text.length) return undefined;
  const ch = text.charAt(pos);
  if (PUNCT.has(ch)) return { type: 'punct', raw: ch, start: pos, end: pos + 1 };
  if (QUOTES.has(ch)) {
    let i = pos + 1;
    for (;;) {
      if (i >= text.length) {
        if (lenient) return { type: 'quoted', raw: text.slice(pos), start: pos, end: text.length };
        throw new GrantParseError('a quoted name is not terminated');
      }
      const c = text.charAt(i);
      if (c === '\\' && ch !== '`') {
        i += 2;
      } else if (c === ch) {
        if (text.charAt(i + 1) === ch) i += 2;
        else break;
      } else {
        i += 1;
      }
    }
    return { type: 'quoted', raw: text.slice(pos, i + 1), start: pos, end: i + 1 };
  }
  let end = pos;
  while (end < text.length) {
    const c = text.charAt(end);
    if (/\s/.test(c) || PUNCT.has(c) || QUOTES.has(c)) break;
    end += 1;
  }
  return { type: 'word', raw: text.slice(pos, end), start: pos, end };
}

function isWord(token: Token | undefined, ...words: string[]): boolean {
  return token !== undefined && token.type === 'word' && words.includes(token.raw.toUpperCase());
}

/** Tokens from `from` up to the first top-level (outside parentheses) word in `stops`, which is returned too. */
function scanUntil(text: string, from: number, stops: readonly string[]): { tokens: Token[]; stop: Token | undefined } {
  const tokens: Token[] = [];
  let depth = 0;
  let pos = from;
  for (;;) {
    const token = nextToken(text, pos, false);
    if (token === undefined) return { tokens, stop: undefined };
    pos = token.end;
    if (depth === 0 && isWord(token, ...stops)) return { tokens, stop: token };
    if (token.raw === '(') depth += 1;
    if (token.raw === ')') depth -= 1;
    if (depth < 0) throw new GrantParseError('unbalanced parentheses');
    tokens.push(token);
  }
}

/** Splits tokens at top-level commas. */
function splitItems(tokens: readonly Token[]): Token[][] {
  const items: Token[][] = [[]];
  let depth = 0;
  for (const token of tokens) {
    if (token.raw === '(') depth += 1;
    if (token.raw === ')') depth -= 1;
    if (depth === 0 && token.raw === ',') items.push([]);
    else items[items.length - 1]?.push(token);
  }
  if (items.some((item) => item.length === 0)) throw new GrantParseError('an empty item in a list');
  return items;
}

function normalisePrivilegeName(words: readonly string[]): string {
  const name = words.join(' ').toUpperCase();
  return name === 'ALL' ? 'ALL PRIVILEGES' : name;
}

function parsePrivileges(tokens: readonly Token[]): PrivilegeItem[] {
  return splitItems(tokens).map((item) => {
    const open = item.findIndex((t) => t.raw === '(');
    const nameTokens = open === -1 ? item : item.slice(0, open);
    if (nameTokens.length === 0 || nameTokens.some((t) => t.type !== 'word')) throw new GrantParseError('a privilege name is not a plain word');
    const name = normalisePrivilegeName(nameTokens.map((t) => t.raw));
    if (open === -1) return { name, columns: [] };
    const close = item[item.length - 1];
    if (close?.raw !== ')') throw new GrantParseError('a column list is not closed');
    const columns = splitItems(item.slice(open + 1, -1)).map((column) => {
      if (column.length !== 1 || column[0] === undefined || column[0].type === 'punct') throw new GrantParseError('a column name is not a single name');
      return column[0].raw;
    });
    return { name, columns };
  });
}

function rawItems(text: string, tokens: readonly Token[]): string[] {
  return splitItems(tokens).map((item) => text.slice(item[0]?.start ?? 0, item[item.length - 1]?.end ?? 0));
}

/**
 * The ways servers print an account after TO/FROM/FOR: backticks with doubled backticks (MariaDB, MySQL 8);
 * single quotes with the quote doubled or backslash-escaped; and single quotes with nothing escaped (MySQL 5.7's
 * SHOW GRANTS, MariaDB's PROXY lines).
 */
export function granteeRenderings(grantee: Account): string[] {
  const forms = [
    (s: string) => `\`${s.replaceAll('`', '``')}\``,
    (s: string) => `'${s.replaceAll("'", "''")}'`,
    (s: string) => `'${s.replace(/[\\']/g, '\\$&')}'`,
    (s: string) => `'${s}'`,
  ];
  return [...new Set(forms.map((quote) => `${quote(grantee.user)}@${quote(grantee.host)}`))];
}

/** Words after which the IDENTIFIED ... clause of a GRANT line has ended. */
const RESOURCE_LIMITS = ['MAX_QUERIES_PER_HOUR', 'MAX_UPDATES_PER_HOUR', 'MAX_CONNECTIONS_PER_HOUR', 'MAX_USER_CONNECTIONS', 'MAX_STATEMENT_TIME'];

/** The part after the grantee: its options, and its text without the IDENTIFIED ... clause. */
function parseTail(tail: string): { grantOption: boolean; adminOption: boolean; text: string } {
  const tokens: Token[] = [];
  for (let t = nextToken(tail, 0, true); t !== undefined; t = nextToken(tail, t.end, true)) tokens.push(t);
  let grantOption = false;
  let adminOption = false;
  tokens.forEach((token, i) => {
    if (isWord(tokens[i + 1], 'OPTION') && isWord(token, 'GRANT')) grantOption = true;
    if (isWord(tokens[i + 1], 'OPTION') && isWord(token, 'ADMIN')) adminOption = true;
  });
  const identified = tokens.findIndex((t) => isWord(t, 'IDENTIFIED'));
  let text = tail;
  if (identified !== -1) {
    let end = tokens.findIndex(
      (t, i) => i > identified + 1 && (isWord(t, 'REQUIRE') || (isWord(t, 'WITH') && isWord(tokens[i + 1], 'GRANT', 'ADMIN', ...RESOURCE_LIMITS))),
    );
    if (end === -1) end = tokens.length;
    const cutFrom = tokens[identified]?.start ?? 0;
    const cutTo = tokens[end]?.start ?? tail.length;
    text = tail.slice(0, cutFrom) + tail.slice(cutTo);
  }
  text = text.trim();
  return { grantOption, adminOption, text };
}

/**
 * Parses one SHOW GRANTS line of `grantee` (MariaDB 10.x, MySQL 5.7 and 8.x formats). Throws GrantParseError
 * for a shape it does not know, rather than guess and copy the wrong rights.
 */
export function parseGrantLine(line: string, grantee: Account): GrantLine {
  const text = line.trim();
  const first = nextToken(text, 0, false);
  let kind: GrantLineKind;
  let on = '';
  let privileges: PrivilegeItem[] = [];
  let roles: string[] = [];
  let separator: Token | undefined;

  if (isWord(first, 'GRANT', 'REVOKE') && first !== undefined) {
    const isRevoke = isWord(first, 'REVOKE');
    const to = isRevoke ? 'FROM' : 'TO';
    const head = scanUntil(text, first.end, ['ON', to]);
    if (head.stop === undefined) throw new GrantParseError(`no ${to} clause`);
    if (isWord(head.stop, 'ON')) {
      const object = scanUntil(text, head.stop.end, [to]);
      if (object.stop === undefined || object.tokens.length === 0) throw new GrantParseError(`no object or no ${to} clause`);
      on = text.slice(head.stop.end, object.stop.start).trim();
      privileges = parsePrivileges(head.tokens);
      separator = object.stop;
      const isProxy = privileges.length === 1 && privileges[0]?.name === 'PROXY';
      kind = isRevoke ? 'revoke' : isProxy ? 'proxy' : 'grant';
    } else {
      if (isRevoke) throw new GrantParseError('a REVOKE line without ON');
      if (head.tokens.length === 0) throw new GrantParseError('a role grant without roles');
      roles = rawItems(text, head.tokens);
      separator = head.stop;
      kind = 'role';
    }
  } else if (isWord(first, 'SET') && first !== undefined) {
    const defaultWord = nextToken(text, first.end, false);
    const roleWord = defaultWord === undefined ? undefined : nextToken(text, defaultWord.end, false);
    if (!isWord(defaultWord, 'DEFAULT') || !isWord(roleWord, 'ROLE') || roleWord === undefined) throw new GrantParseError('a SET line that is not SET DEFAULT ROLE');
    const head = scanUntil(text, roleWord.end, ['FOR', 'TO']);
    if (head.stop === undefined || head.tokens.length === 0) throw new GrantParseError('SET DEFAULT ROLE without roles or account');
    roles = rawItems(text, head.tokens);
    separator = head.stop;
    kind = 'default-role';
  } else {
    throw new GrantParseError('the line starts with neither GRANT, REVOKE nor SET DEFAULT ROLE');
  }

  let granteeStart = separator.end;
  while (/\s/.test(text.charAt(granteeStart))) granteeStart += 1;
  const rest = text.slice(granteeStart);
  const rendering = granteeRenderings(grantee).find((r) => rest.startsWith(r) && (rest.length === r.length || /\s/.test(rest.charAt(r.length))));
  if (rendering === undefined) throw new GrantParseError('the grantee is not the account whose grants were asked for');
  const tail = parseTail(rest.slice(rendering.length));
  return {
    kind,
    on,
    privileges,
    roles,
    grantOption: tail.grantOption,
    adminOption: tail.adminOption,
    normalised: `${text.slice(0, granteeStart)}${GRANTEE}${tail.text === '' ? '' : ` ${tail.text}`}`,
  };
}

/** The line with the grantee replaced and the password part dropped; what two accounts' grants are compared by. */
export function normaliseGrantLine(line: string, grantee: Account): string {
  return parseGrantLine(line, grantee).normalised;
}

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

function unit(kind: UnitKind, on: string, privilege = '', column?: string): GrantUnit {
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
  const missing = diff.missing.filter((u) => !(u.kind === 'privilege' && u.column === undefined && has(target, 'privilege', u.on, 'ALL PRIVILEGES')));
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

class Copier {
  private readonly session: MysqlSession;
  private readonly from: string;
  private readonly to: string;

  constructor(session: MysqlSession, from: string, to: string) {
    this.session = session;
    this.from = from;
    this.to = to;
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
      const prefix = `copying the rights of user '${this.from}' to '${this.to}': ${what} for ${subject} failed`;
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

  async hostsOf(user: string): Promise<string[]> {
    const rows = await this.run<{ host: unknown }>('SELECT Host AS host FROM mysql.user WHERE User = ? ORDER BY Host', 'reading mysql.user', `user '${user}'`, {
      values: [user],
    });
    return rows.map((r) => text(r.host));
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
          `copying the rights of user '${this.from}' to '${this.to}': cannot read line ${i + 1} of SHOW GRANTS FOR ${show(account)} (${error.message}); copy this account's rights by hand`,
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

  async readOptions(account: Account): Promise<{ tls: TlsRequirement; limits: ResourceLimits }> {
    const mariadb = this.flavor === 'mariadb';
    const rows = await this.run(
      'SELECT ssl_type, ssl_cipher, x509_issuer, x509_subject, max_questions, max_updates, max_connections, max_user_connections' +
        `${mariadb ? ', max_statement_time' : ''} FROM mysql.user WHERE User = ? AND Host = ?`,
      'reading the TLS requirement in mysql.user',
      show(account),
      { values: [account.user, account.host] },
    );
    const row = rows[0];
    if (row === undefined) throw new RotatorError('TARGET_ERROR', `copying the rights of user '${this.from}' to '${this.to}': ${show(account)} disappeared from mysql.user while it was being copied; run the rotation again`, { retryable: true });
    const type = text(row.ssl_type).toUpperCase();
    if (type !== '' && type !== 'ANY' && type !== 'X509' && type !== 'SPECIFIED') throw new RotatorError('TARGET_ERROR', `${show(account)} has an unknown ssl_type in mysql.user`);
    const limits: ResourceLimits = {
      maxQueriesPerHour: text(row.max_questions),
      maxUpdatesPerHour: text(row.max_updates),
      maxConnectionsPerHour: text(row.max_connections),
      maxUserConnections: text(row.max_user_connections),
    };
    if (mariadb) limits.maxStatementTime = text(row.max_statement_time);
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

  async copyHost(host: string, targetHosts: readonly string[], options: CopyOptions): Promise<AccountCopy> {
    const source: Account = { user: this.from, host };
    // Host names compare case-insensitively on MySQL; use the alternate's stored spelling when it exists.
    const existingHost = targetHosts.find((h) => h === host) ?? targetHosts.find((h) => h.toLowerCase() === host.toLowerCase());
    const target: Account = { user: this.to, host: existingHost ?? host };
    const created = existingHost === undefined;
    if (created) {
      await this.run(`CREATE USER ${sql.account(target)} ${options.createIdentifiedBy}`, 'CREATE USER', show(target), { secret: options.createIdentifiedBy });
    }
    const { added, revoked } = await this.syncGrants(source, target);

    const from = await this.readOptions(source);
    const to = await this.readOptions(target);
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
  const hosts = await copier.hostsOf(from);
  if (hosts.length === 0) {
    throw new RotatorError(
      'TARGET_ERROR',
      `cannot copy the rights of user '${from}': mysql.user has no account of that user on this server; check the secret's username and that the master account may read mysql.user`,
    );
  }
  const targetHosts = await copier.hostsOf(to);
  const accounts: AccountCopy[] = [];
  for (const host of hosts) accounts.push(await copier.copyHost(host, targetHosts, options));
  const used = new Set(accounts.map((a) => a.account.host));
  const sum = (f: (a: AccountCopy) => number): number => accounts.reduce((n, a) => n + f(a), 0);
  const report: CopyReport = {
    accounts,
    created: sum((a) => (a.created ? 1 : 0)),
    grantsAdded: sum((a) => a.grantsAdded),
    grantsRevoked: sum((a) => a.grantsRevoked),
    tlsChanged: sum((a) => (a.tlsChanged ? 1 : 0)),
    limitsChanged: sum((a) => (a.limitsChanged ? 1 : 0)),
    extraHosts: targetHosts.filter((h) => !used.has(h)),
    changed: false,
  };
  report.changed = report.created + report.grantsAdded + report.grantsRevoked + report.tlsChanged + report.limitsChanged > 0;
  return report;
}
