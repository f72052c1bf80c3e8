import mysql from 'mysql2';
import { RotatorError } from '../../shared/errors.js';
import type { Account, ServerInfo } from './session.js';

/**
 * Quoting for statements that cannot take bind parameters (CREATE USER, ALTER USER, GRANT, ...).
 *
 * Account names are written with backticks, whose only escape is doubling and which no sql_mode changes
 * (ANSI_QUOTES affects double quotes, NO_BACKSLASH_ESCAPES affects string literals). String literals follow
 * the session's sql_mode: with NO_BACKSLASH_ESCAPES a backslash is an ordinary character and only the quote
 * is doubled; otherwise mysql2's escaping applies.
 */
export function identifier(name: string): string {
  if (name.includes('\0')) throw new RotatorError('INVALID_SECRET', 'a MySQL name cannot contain a NUL character');
  return mysql.escapeId(name, true);
}

export function account(a: Account): string {
  return `${identifier(a.user)}@${identifier(a.host)}`;
}

export function literal(value: string, server: Pick<ServerInfo, 'noBackslashEscapes'>): string {
  if (value.includes('\0')) throw new RotatorError('INVALID_SECRET', 'a MySQL string cannot contain a NUL character');
  return server.noBackslashEscapes ? `'${value.replaceAll("'", "''")}'` : mysql.escape(value);
}
