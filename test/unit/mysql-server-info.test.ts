import { describe, expect, it } from 'vitest';
import {
  atLeast,
  describeServer,
  parseServerInfo,
  passwordTransport,
  serverUsernameLimit,
  supportsDualPassword,
  supportsReplaceClause,
} from '../../rotators/mysql/server-info.js';

describe('server detection from SELECT VERSION(), @@SESSION.sql_mode', () => {
  it.each([
    ['5.6.51-log', 'mysql', [5, 6, 51]],
    ['5.7.44', 'mysql', [5, 7, 44]],
    ['5.7.44-log', 'mysql', [5, 7, 44]],
    ['8.0.13', 'mysql', [8, 0, 13]],
    ['8.0.14', 'mysql', [8, 0, 14]],
    ['8.0.36-0ubuntu0.22.04.1', 'mysql', [8, 0, 36]],
    ['8.4.0', 'mysql', [8, 4, 0]],
    ['9.1.0-commercial', 'mysql', [9, 1, 0]],
    ['10.11.19-MariaDB-0+deb12u1', 'mariadb', [10, 11, 19]],
    ['10.6.18-MariaDB-log', 'mariadb', [10, 6, 18]],
    ['11.4.2-MariaDB', 'mariadb', [11, 4, 2]],
    // MariaDB's handshake prefix, when a proxy passes it through as the version.
    ['5.5.5-10.3.39-MariaDB', 'mariadb', [10, 3, 39]],
    // Aurora MySQL 3 is MySQL 8.0.23+ compatible, Aurora MySQL 2 is 5.7.12 compatible.
    ['8.0.mysql_aurora.3.05.2', 'mysql', [8, 0, 23]],
    ['5.7.mysql_aurora.2.11.2', 'mysql', [5, 7, 12]],
  ] as const)('%s is %s %j', (text, flavor, version) => {
    const info = parseServerInfo(text, '');
    expect(info.flavor).toBe(flavor);
    expect(info.version).toEqual(version);
    expect(info.versionText).toBe(text);
  });

  it('reads NO_BACKSLASH_ESCAPES from the sql_mode list, in any case', () => {
    expect(parseServerInfo('8.0.36', 'STRICT_TRANS_TABLES,NO_BACKSLASH_ESCAPES').noBackslashEscapes).toBe(true);
    expect(parseServerInfo('8.0.36', 'no_backslash_escapes').noBackslashEscapes).toBe(true);
    expect(parseServerInfo('8.0.36', 'STRICT_TRANS_TABLES,ANSI_QUOTES').noBackslashEscapes).toBe(false);
    expect(parseServerInfo('8.0.36', '').noBackslashEscapes).toBe(false);
  });

  it('refuses a version it cannot read, without echoing more than a short excerpt', () => {
    expect(() => parseServerInfo('PostgreSQL 16.2', '')).toThrow(/cannot read the server version/);
    let message = '';
    try {
      parseServerInfo('x'.repeat(500), '');
    } catch (error) {
      message = (error as Error).message;
    }
    expect(message).toMatch(/cannot read the server version/);
    expect(message.length).toBeLessThan(200);
  });
});

describe('what each server supports', () => {
  const server = (text: string) => parseServerInfo(text, '');

  it('dual passwords only on MySQL 8.0.14 and later', () => {
    expect(supportsDualPassword(server('5.7.44'))).toBe(false);
    expect(supportsDualPassword(server('8.0.13'))).toBe(false);
    expect(supportsDualPassword(server('8.0.14'))).toBe(true);
    expect(supportsDualPassword(server('8.4.0'))).toBe(true);
    expect(supportsDualPassword(server('8.0.mysql_aurora.3.05.2'))).toBe(true);
    expect(supportsDualPassword(server('10.11.19-MariaDB-0+deb12u1'))).toBe(false);
    expect(supportsDualPassword(server('11.4.2-MariaDB'))).toBe(false);
  });

  it('REPLACE from MySQL 8.0.13', () => {
    expect(supportsReplaceClause(server('8.0.12'))).toBe(false);
    expect(supportsReplaceClause(server('8.0.13'))).toBe(true);
    expect(supportsReplaceClause(server('10.11.19-MariaDB'))).toBe(false);
  });

  it('sends only hashes to MariaDB and MySQL before 8.0', () => {
    expect(passwordTransport(server('10.11.19-MariaDB'))).toBe('native-hash');
    expect(passwordTransport(server('5.7.44'))).toBe('native-hash');
    expect(passwordTransport(server('8.0.36'))).toBe('plaintext');
    expect(passwordTransport(server('8.4.0'))).toBe('plaintext');
  });

  it('knows each server user-name limit', () => {
    expect(serverUsernameLimit(server('5.6.51'))).toBe(16);
    expect(serverUsernameLimit(server('5.7.7'))).toBe(16);
    expect(serverUsernameLimit(server('5.7.8'))).toBe(32);
    expect(serverUsernameLimit(server('8.0.36'))).toBe(32);
    expect(serverUsernameLimit(server('10.11.19-MariaDB'))).toBe(80);
  });

  it('compares versions component by component', () => {
    expect(atLeast([8, 0, 14], 8, 0, 14)).toBe(true);
    expect(atLeast([8, 0, 9], 8, 0, 14)).toBe(false);
    expect(atLeast([8, 1, 0], 8, 0, 14)).toBe(true);
    expect(atLeast([5, 7, 44], 8, 0, 0)).toBe(false);
    expect(atLeast([10, 2, 0], 10, 2, 0)).toBe(true);
    expect(describeServer(server('10.11.19-MariaDB'))).toBe('MariaDB 10.11.19');
    expect(describeServer(server('8.0.36'))).toBe('MySQL 8.0.36');
  });
});
