import { describe, expect, it } from 'vitest';
import { account, identifier, literal } from '../../rotators/mysql/sql.js';

describe('MySQL quoting', () => {
  it('quotes names with backticks, doubling backticks and keeping dots inside the name', () => {
    expect(identifier('app')).toBe('`app`');
    expect(identifier('a`b.c')).toBe('`a``b.c`');
    expect(account({ user: "o'neil; DROP USER root", host: '10.0.%' })).toBe("`o'neil; DROP USER root`@`10.0.%`");
  });

  it('escapes string literals for the session sql_mode', () => {
    const value = "it's a \\ backslash";
    expect(literal(value, { noBackslashEscapes: false })).toBe("'it\\'s a \\\\ backslash'");
    // With NO_BACKSLASH_ESCAPES a backslash is literal; a backslash-escaped quote would end the string.
    expect(literal(value, { noBackslashEscapes: true })).toBe("'it''s a \\ backslash'");
  });

  it('refuses NUL characters, which no quoting carries safely', () => {
    expect(() => identifier('a\0b')).toThrow(/NUL/);
    expect(() => literal('a\0b', { noBackslashEscapes: true })).toThrow(/NUL/);
  });
});
