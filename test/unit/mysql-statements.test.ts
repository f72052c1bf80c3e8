import { describe, expect, it } from 'vitest';
import { isRotatorError } from '../../shared/errors.js';
import { mysqlNativePasswordHash } from '../../rotators/mysql/password-hash.js';
import { parseServerInfo } from '../../rotators/mysql/server-info.js';
import type { ServerInfo } from '../../rotators/mysql/session.js';
import {
  accountHosts,
  alterAccountPassword,
  createIdentifiedBy,
  detectServer,
  discardOldPassword,
  sessionTimeouts,
  setOwnPassword,
  type PasswordMaterial,
  type Statement,
} from '../../rotators/mysql/statements.js';

const password = "n3w'P@ss\\word";
const current = "0ld'P@ss\\word";
const material: PasswordMaterial = { password, hash: mysqlNativePasswordHash(password) };
const hash = material.hash;

const mariadb = parseServerInfo('10.11.19-MariaDB-0+deb12u1', 'STRICT_TRANS_TABLES');
const mariadb101 = parseServerInfo('10.1.48-MariaDB', '');
const mysql56 = parseServerInfo('5.6.51', '');
const mysql57 = parseServerInfo('5.7.44', '');
const mysql8013 = parseServerInfo('8.0.13', '');
const mysql8012 = parseServerInfo('8.0.12', '');
const mysql8014 = parseServerInfo('8.0.14', '');
const mysql84 = parseServerInfo('8.4.0', '');
const noBackslash = (s: ServerInfo): ServerInfo => ({ ...s, noBackslashEscapes: true });

const app = { user: "app'`x", host: '10.0.%' };

function expectSafeLabel(statement: Statement): void {
  for (const secret of [password, current, hash]) expect(statement.label).not.toContain(secret);
  expect(statement.label).not.toMatch(/\*[0-9A-F]{40}/);
}

describe('changing the own password (single-user)', () => {
  it('MariaDB: SET PASSWORD with the hash, never the password', () => {
    const s = setOwnPassword(mariadb, material, current);
    expect(s.sql).toBe(`SET PASSWORD = '${hash}'`);
    expect(s.sensitive).toEqual([hash]);
    expect(s.sql).not.toContain(password);
    expectSafeLabel(s);
  });

  it('MySQL 5.6: SET PASSWORD with the hash', () => {
    expect(setOwnPassword(mysql56, material, current).sql).toBe(`SET PASSWORD = '${hash}'`);
  });

  it('MySQL 5.7: ALTER USER USER() IDENTIFIED BY, the only form open to an unprivileged account', () => {
    const s = setOwnPassword(mysql57, material, current);
    expect(s.sql).toBe("ALTER USER USER() IDENTIFIED BY 'n3w\\'P@ss\\\\word'");
    expect(s.sensitive).toEqual([password]);
    expectSafeLabel(s);
    expect(setOwnPassword(mysql8012, material, current).sql).toBe("ALTER USER USER() IDENTIFIED BY 'n3w\\'P@ss\\\\word'");
  });

  it('MySQL 8.0.13+: proves the current password with REPLACE', () => {
    for (const server of [mysql8013, mysql8014, mysql84]) {
      const s = setOwnPassword(server, material, current);
      expect(s.sql).toBe("ALTER USER USER() IDENTIFIED BY 'n3w\\'P@ss\\\\word' REPLACE '0ld\\'P@ss\\\\word'");
      expect(s.sensitive).toEqual([password, current]);
      expectSafeLabel(s);
    }
  });

  it('quotes for NO_BACKSLASH_ESCAPES: a backslash stays literal and quotes are doubled', () => {
    expect(setOwnPassword(noBackslash(mysql84), material, current).sql).toBe("ALTER USER USER() IDENTIFIED BY 'n3w''P@ss\\word' REPLACE '0ld''P@ss\\word'");
    expect(setOwnPassword(noBackslash(mariadb), material, current).sql).toBe(`SET PASSWORD = '${hash}'`);
  });
});

/** The statements for one account: exactly one. */
function only(statements: readonly Statement[]): Statement {
  expect(statements).toHaveLength(1);
  return statements[0] as Statement;
}

describe('setting another account password (alternating users, as the master)', () => {
  it('names every account of the user in one ALTER USER, so none is left behind; SET PASSWORD servers get one each', () => {
    const other = { user: app.user, host: 'localhost' };
    expect(only(alterAccountPassword(mariadb, [app, other], material)).sql).toBe(
      `ALTER USER \`app'\`\`x\`@\`10.0.%\` IDENTIFIED BY PASSWORD '${hash}', \`app'\`\`x\`@\`localhost\` IDENTIFIED BY PASSWORD '${hash}'`,
    );
    expect(only(alterAccountPassword(mysql84, [app, other], material, { retainCurrent: true })).sql).toMatch(
      /^ALTER USER `app'``x`@`10\.0\.%` IDENTIFIED BY '.*' RETAIN CURRENT PASSWORD, `app'``x`@`localhost` IDENTIFIED BY '.*' RETAIN CURRENT PASSWORD$/,
    );
    expect(alterAccountPassword(mysql56, [app, other], material).map((s) => s.sql)).toEqual([
      `SET PASSWORD FOR \`app'\`\`x\`@\`10.0.%\` = '${hash}'`,
      `SET PASSWORD FOR \`app'\`\`x\`@\`localhost\` = '${hash}'`,
    ]);
  });

  it('MariaDB 10.2+: ALTER USER ... IDENTIFIED BY PASSWORD with the hash', () => {
    const s = only(alterAccountPassword(mariadb, [app], material));
    expect(s.sql).toBe(`ALTER USER \`app'\`\`x\`@\`10.0.%\` IDENTIFIED BY PASSWORD '${hash}'`);
    expect(s.sensitive).toEqual([hash]);
    expectSafeLabel(s);
    expect(s.label).toContain('ALTER USER `app');
  });

  it('MariaDB 10.1 and MySQL 5.6: SET PASSWORD FOR with the hash', () => {
    expect(only(alterAccountPassword(mariadb101, [app], material)).sql).toBe(`SET PASSWORD FOR \`app'\`\`x\`@\`10.0.%\` = '${hash}'`);
    expect(only(alterAccountPassword(mysql56, [app], material)).sql).toBe(`SET PASSWORD FOR \`app'\`\`x\`@\`10.0.%\` = '${hash}'`);
  });

  it('MySQL 5.7: IDENTIFIED WITH mysql_native_password AS the hash', () => {
    const s = only(alterAccountPassword(mysql57, [app], material));
    expect(s.sql).toBe(`ALTER USER \`app'\`\`x\`@\`10.0.%\` IDENTIFIED WITH mysql_native_password AS '${hash}'`);
    expect(s.sensitive).toEqual([hash]);
    expectSafeLabel(s);
  });

  it('MySQL 8: IDENTIFIED BY the password (the account keeps its plugin)', () => {
    const s = only(alterAccountPassword(mysql84, [app], material));
    expect(s.sql).toBe("ALTER USER `app'``x`@`10.0.%` IDENTIFIED BY 'n3w\\'P@ss\\\\word'");
    expect(s.sensitive).toEqual([password]);
    expectSafeLabel(s);
  });
});

describe('dual passwords', () => {
  it('MySQL 8.0.14+: RETAIN CURRENT PASSWORD', () => {
    for (const server of [mysql8014, mysql84]) {
      const s = only(alterAccountPassword(server, [app], material, { retainCurrent: true }));
      expect(s.sql).toBe("ALTER USER `app'``x`@`10.0.%` IDENTIFIED BY 'n3w\\'P@ss\\\\word' RETAIN CURRENT PASSWORD");
      expect(s.sensitive).toEqual([password]);
      expectSafeLabel(s);
    }
    expect(only(alterAccountPassword(noBackslash(mysql84), [app], material, { retainCurrent: true })).sql).toBe(
      "ALTER USER `app'``x`@`10.0.%` IDENTIFIED BY 'n3w''P@ss\\word' RETAIN CURRENT PASSWORD",
    );
  });

  it.each([mysql8013, mysql57, mariadb])('refused with UNSUPPORTED_ENGINE on %j', (server) => {
    let error: unknown;
    try {
      alterAccountPassword(server, [app], material, { retainCurrent: true });
    } catch (e) {
      error = e;
    }
    expect(isRotatorError(error, 'UNSUPPORTED_ENGINE')).toBe(true);
    expect((error as Error).message).toMatch(/RETAIN CURRENT PASSWORD needs MySQL 8\.0\.14/);
  });

  it('DISCARD OLD PASSWORD for the purger', () => {
    expect(discardOldPassword(mysql84, [app])).toEqual({ label: "ALTER USER `app'``x`@`10.0.%` DISCARD OLD PASSWORD", sql: "ALTER USER `app'``x`@`10.0.%` DISCARD OLD PASSWORD" });
    expect(() => discardOldPassword(mariadb, [app])).toThrow(/no old password to discard/);
  });

  it('DISCARD OLD PASSWORD names every account of the user in one statement, so none keeps its old password', () => {
    const s = discardOldPassword(mysql8014, [app, { user: app.user, host: '%' }]);
    expect(s.sql).toBe("ALTER USER `app'``x`@`10.0.%` DISCARD OLD PASSWORD, `app'``x`@`%` DISCARD OLD PASSWORD");
    expect(s.label).toBe(s.sql);
    expect(s.sensitive).toBeUndefined();
  });

  it.each([mysql8013, mysql57, mariadb, mariadb101])('DISCARD OLD PASSWORD is refused with UNSUPPORTED_ENGINE on %j', (server) => {
    let error: unknown;
    try {
      discardOldPassword(server, [app]);
    } catch (e) {
      error = e;
    }
    expect(isRotatorError(error, 'UNSUPPORTED_ENGINE')).toBe(true);
  });

  it('DISCARD OLD PASSWORD without an account is an internal error, never a bare ALTER USER', () => {
    expect(() => discardOldPassword(mysql84, [])).toThrow(/at least one account/);
  });
});

describe('creating the alternate account (the clause handed to copyAccount)', () => {
  it('carries the hash where the server takes one, the password on MySQL 8', () => {
    expect(createIdentifiedBy(mariadb, material)).toBe(`IDENTIFIED BY PASSWORD '${hash}'`);
    expect(createIdentifiedBy(mysql56, material)).toBe(`IDENTIFIED BY PASSWORD '${hash}'`);
    expect(createIdentifiedBy(mysql57, material)).toBe(`IDENTIFIED WITH mysql_native_password AS '${hash}'`);
    expect(createIdentifiedBy(mysql84, material)).toBe("IDENTIFIED BY 'n3w\\'P@ss\\\\word'");
    expect(createIdentifiedBy(noBackslash(mysql84), material)).toBe("IDENTIFIED BY 'n3w''P@ss\\word'");
  });
});

describe('session statements', () => {
  it('bounds statements on the server', () => {
    expect(sessionTimeouts(mariadb, 15_000).sql).toBe('SET SESSION lock_wait_timeout = 15, SESSION max_statement_time = 15.000');
    expect(sessionTimeouts(mariadb, 400).sql).toBe('SET SESSION lock_wait_timeout = 1, SESSION max_statement_time = 0.400');
    expect(sessionTimeouts(mysql84, 1_500).sql).toBe('SET SESSION lock_wait_timeout = 2');
  });

  it('looks accounts up with a bound parameter, never by quoting the name', () => {
    const s = accountHosts("o'neil\\");
    expect(s.sql).toBe('SELECT Host AS host FROM mysql.user WHERE User = ? ORDER BY Host');
    expect(s.values).toEqual(["o'neil\\"]);
    expect(detectServer.sql).toMatch(/VERSION\(\).*@@SESSION\.sql_mode.*CURRENT_USER\(\)/);
  });
});
