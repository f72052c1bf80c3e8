import type { Account } from './session.js';

/**
 * Reading `SHOW GRANTS` lines: the server's own text, parsed only far enough to know what is granted on what,
 * with the grantee replaced by a placeholder so that two accounts' lines compare. See grants.ts for why.
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

