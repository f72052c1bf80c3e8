import { describe, expect, it } from 'vitest';
import { isRotatorError } from '../../shared/errors.js';
import { createLogger } from '../../shared/logger.js';
import type { CopyOptions, CopyReport } from '../../rotators/mysql/grants.js';
import { mysqlNativePasswordHash } from '../../rotators/mysql/password-hash.js';
import { parseServerInfo } from '../../rotators/mysql/server-info.js';
import type { MysqlSession } from '../../rotators/mysql/session.js';
import type { PasswordMaterial, Statement } from '../../rotators/mysql/statements.js';
import {
  changeOwnPassword,
  checkAlternateRights,
  discardRetainedPassword,
  resetAlternatePassword,
  setAlternatePassword,
  setRetainingPassword,
  type StepSession,
} from '../../rotators/mysql/steps.js';

/**
 * The rotator's per-session steps against a scripted session: the statements MySQL 8 (and 5.7) would get, which
 * the integration tests cannot show since only MariaDB runs here.
 */
interface Recorded {
  sql: string;
  label: string;
  sensitive: readonly string[];
  values?: readonly unknown[];
}

function fakeSession(version: string, hostsByUser: Record<string, string[]>, options: { account?: { user: string; host: string }; authenticatedAsUser?: boolean } = {}) {
  const recorded: Recorded[] = [];
  const session: StepSession = {
    server: parseServerInfo(version, 'STRICT_TRANS_TABLES'),
    account: options.account ?? { user: 'app', host: '%' },
    authenticatedAsUser: options.authenticatedAsUser ?? true,
    run: <T>(statement: Statement): Promise<T[]> => {
      recorded.push({ sql: statement.sql, label: statement.label, sensitive: statement.sensitive ?? [], ...(statement.values ? { values: statement.values } : {}) });
      if (statement.sql.startsWith('SELECT Host')) {
        const user = String(statement.values?.[0]);
        return Promise.resolve((hostsByUser[user] ?? []).map((host) => ({ host })) as T[]);
      }
      return Promise.resolve([]);
    },
    query: <T>(sql: string, o: { values?: readonly unknown[]; sensitive?: readonly string[] } = {}): Promise<T[]> => {
      recorded.push({ sql, label: 'query', sensitive: o.sensitive ?? [] });
      return Promise.resolve([]);
    },
  };
  return { session, recorded };
}

const lines: string[] = [];
const ctx = { logger: createLogger({ level: 'debug', write: (l) => lines.push(l) }) };
const target = { where: 'MySQL/MariaDB at db.example:3306', user: 'admin' };
const password = 'N3w-Passw0rd-For-Test';
const material: PasswordMaterial = { password, hash: mysqlNativePasswordHash(password) };
const unstored = 'Nobody-Stores-This-0ne';
const placeholder: PasswordMaterial = { password: unstored, hash: mysqlNativePasswordHash(unstored) };

function report(hosts: string[], extraHosts: string[] = []): CopyReport {
  return { accounts: [], created: 1, grantsAdded: 2, grantsRevoked: 0, tlsChanged: 0, limitsChanged: 0, extraHosts, hosts, changed: true };
}

describe('dual-password as the master', () => {
  it('MySQL 8.0.14: every account of the user gets the new password, retaining the current one', async () => {
    const { session, recorded } = fakeSession('8.0.14', { app: ['%', '10.0.%'] });
    await setRetainingPassword(session, target, 'app', material, ctx);
    expect(recorded.map((r) => r.sql)).toEqual([
      'SELECT Host AS host FROM mysql.user WHERE User = ? ORDER BY Host',
      `ALTER USER \`app\`@\`%\` IDENTIFIED BY '${password}' RETAIN CURRENT PASSWORD, \`app\`@\`10.0.%\` IDENTIFIED BY '${password}' RETAIN CURRENT PASSWORD`,
    ]);
    expect(recorded[1]?.sensitive).toEqual([password]);
    expect(recorded[1]?.label).not.toContain(password);
  });

  it.each(['8.0.13', '5.7.44', '10.11.19-MariaDB-0+deb12u1'])('%s: refused before any statement, pointing to alternating-users', async (version) => {
    const { session, recorded } = fakeSession(version, { app: ['%'] });
    let error: unknown;
    try {
      await setRetainingPassword(session, target, 'app', material, ctx);
    } catch (e) {
      error = e;
    }
    expect(isRotatorError(error, 'UNSUPPORTED_ENGINE')).toBe(true);
    expect((error as Error).message).toContain(`VERSION() = "${version}"`);
    expect((error as Error).message).toMatch(/use alternating-users, the zero-downtime strategy/);
    expect(recorded).toEqual([]);
  });

  it('a user without accounts is an error naming the user', async () => {
    const { session } = fakeSession('8.4.0', {});
    await expect(setRetainingPassword(session, target, 'ghost', material, ctx)).rejects.toThrow(/no account for user "ghost"/);
  });
});

describe('alternating users as the master', () => {
  async function run(version: string) {
    const { session, recorded } = fakeSession(version, {});
    const calls: Array<{ from: string; to: string; options: CopyOptions; sensitiveSeen: readonly string[] }> = [];
    const copy = async (s: MysqlSession, from: string, to: string, options: CopyOptions): Promise<CopyReport> => {
      // What grants.ts would do: run CREATE USER with the clause, without listing it as sensitive.
      await s.query(`CREATE USER \`${to}\`@\`%\` ${options.createIdentifiedBy}`);
      calls.push({ from, to, options, sensitiveSeen: recorded.at(-1)?.sensitive ?? [] });
      return report(['%', '10.0.%'], ['10.0.%']);
    };
    await setAlternatePassword(session, target, 'app', 'app_clone', material, placeholder, undefined, ctx, copy);
    return { recorded, calls };
  }

  it('MySQL 8: accounts are created with the placeholder, the ALTERs after the copy carry the password; every statement withholds both', async () => {
    const { recorded, calls } = await run('8.0.36');
    expect(calls).toHaveLength(1);
    // The pending password must not log in before the rights are copied (invariant 8): CREATE USER never carries it.
    expect(calls[0]?.options.createIdentifiedBy).toBe(`IDENTIFIED BY '${unstored}'`);
    expect(calls[0]?.options.createIdentifiedBy).not.toContain(password);
    // The wrapper adds our secrets to whatever the copier lists.
    expect(calls[0]?.sensitiveSeen).toEqual(expect.arrayContaining([password, material.hash, unstored, placeholder.hash]));
    // The password goes to the accounts the copy reported, without reading mysql.user again.
    expect(recorded.slice(1).map((r) => r.sql)).toEqual([
      `ALTER USER \`app_clone\`@\`%\` IDENTIFIED BY '${password}', \`app_clone\`@\`10.0.%\` IDENTIFIED BY '${password}'`,
    ]);
    expect(lines.some((l) => l.includes('"extraHosts":["10.0.%"]'))).toBe(true);
  });

  it('MySQL 5.7: only the hash', async () => {
    const { recorded, calls } = await run('5.7.44');
    expect(calls[0]?.options.createIdentifiedBy).toBe(`IDENTIFIED WITH mysql_native_password AS '${placeholder.hash}'`);
    expect(recorded.slice(1).map((r) => r.sql)).toEqual([
      `ALTER USER \`app_clone\`@\`%\` IDENTIFIED WITH mysql_native_password AS '${material.hash}', \`app_clone\`@\`10.0.%\` IDENTIFIED WITH mysql_native_password AS '${material.hash}'`,
    ]);
    expect(recorded.map((r) => r.sql).join('\n')).not.toContain(password);
  });

  it('refuses a clone name over the server limit before copying anything', async () => {
    const { session, recorded } = fakeSession('5.7.7', {});
    const copy = () => Promise.reject(new Error('must not be called'));
    await expect(setAlternatePassword(session, target, 'a'.repeat(11), `${'a'.repeat(11)}_clone`, material, placeholder, undefined, ctx, copy)).rejects.toThrow(
      /at most 16 characters \(the MySQL 5\.7\.7 limit\)/,
    );
    expect(recorded).toEqual([]);
  });
});

describe('alternating users: testSecret as the master', () => {
  it('passes when nothing is missing, and names what is missing (at most ten) with a typed error otherwise', async () => {
    const { session } = fakeSession('10.11.19-MariaDB', {});
    await checkAlternateRights(session, target, 'app', 'app_clone', () => Promise.resolve([]));
    const missing = Array.from({ length: 12 }, (_, i) => `SELECT ON \`db${i}\`.* for 'app_clone'@'%'`);
    const error = await checkAlternateRights(session, target, 'app', 'app_clone', () => Promise.resolve(missing)).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(isRotatorError(error, 'TARGET_ERROR')).toBe(true);
    const message = (error as Error).message;
    expect(message).toContain(`the alternate user "app_clone" at ${target.where} lacks rights that user "app" holds: SELECT ON \`db0\`.* for 'app_clone'@'%'`);
    expect(message).toContain('and 2 more');
    expect(message).not.toContain('db10');
    expect(message).toMatch(/WITH GRANT OPTION/);
  });
});

describe('single user, logged in as the user', () => {
  it('MySQL 8.0.13+: ALTER USER USER() with REPLACE and the login password', async () => {
    const { session, recorded } = fakeSession('8.4.0', {});
    await changeOwnPassword(session, target, 'Old-Login-Password', 'app', material, undefined);
    expect(recorded.map((r) => r.sql)).toEqual([`ALTER USER USER() IDENTIFIED BY '${password}' REPLACE 'Old-Login-Password'`]);
    expect(recorded[0]?.sensitive).toEqual([password, 'Old-Login-Password']);
  });

  it('MariaDB: SET PASSWORD with the hash', async () => {
    const { session, recorded } = fakeSession('10.11.19-MariaDB', {});
    await changeOwnPassword(session, target, 'Old-Login-Password', 'app', material, undefined);
    expect(recorded.map((r) => r.sql)).toEqual([`SET PASSWORD = '${material.hash}'`]);
  });

  it('never changes the password of an account it landed in by accident', async () => {
    const { session, recorded } = fakeSession('8.4.0', {}, { account: { user: '', host: '%' }, authenticatedAsUser: false });
    await expect(changeOwnPassword(session, target, 'x', 'app', material, undefined)).rejects.toThrow(/refusing to change that account's password/);
    expect(recorded).toEqual([]);
  });
});

describe('revoking a retired password, as the master (the purger)', () => {
  it('dual password, MySQL 8.0.14+: DISCARD OLD PASSWORD on every account of the user in one statement', async () => {
    const { session, recorded } = fakeSession('8.0.14', { app: ['%', '10.0.%'] });
    await discardRetainedPassword(session, target, 'app', ctx);
    expect(recorded.map((r) => r.sql)).toEqual([
      'SELECT Host AS host FROM mysql.user WHERE User = ? ORDER BY Host',
      'ALTER USER `app`@`%` DISCARD OLD PASSWORD, `app`@`10.0.%` DISCARD OLD PASSWORD',
    ]);
    expect(recorded[0]?.values).toEqual(['app']);
  });

  it.each(['8.0.13', '5.7.44', '10.11.19-MariaDB-0+deb12u1'])('dual password, %s: refused before any statement, pointing to alternating-users', async (version) => {
    const { session, recorded } = fakeSession(version, { app: ['%'] });
    let error: unknown;
    try {
      await discardRetainedPassword(session, target, 'app', ctx);
    } catch (e) {
      error = e;
    }
    expect(isRotatorError(error, 'UNSUPPORTED_ENGINE')).toBe(true);
    expect((error as Error).message).toMatch(/use alternating-users/);
    expect(recorded).toEqual([]);
  });

  it('dual password: a user without accounts is an error naming the user, and nothing is discarded', async () => {
    const { session, recorded } = fakeSession('8.4.0', {});
    await expect(discardRetainedPassword(session, target, 'ghost', ctx)).rejects.toThrow(/no account for user "ghost"/);
    expect(recorded.map((r) => r.sql).join('\n')).not.toContain('DISCARD');
  });

  it('alternating users, MySQL 8: the random password on every account in one ALTER USER, withheld from errors', async () => {
    const { session, recorded } = fakeSession('8.0.36', { app_clone: ['%', '10.0.%'] });
    await resetAlternatePassword(session, target, 'app_clone', material, ctx);
    expect(recorded.map((r) => r.sql)).toEqual([
      'SELECT Host AS host FROM mysql.user WHERE User = ? ORDER BY Host',
      `ALTER USER \`app_clone\`@\`%\` IDENTIFIED BY '${password}', \`app_clone\`@\`10.0.%\` IDENTIFIED BY '${password}'`,
    ]);
    expect(recorded[1]?.sensitive).toEqual([password]);
    expect(recorded[1]?.label).not.toContain(password);
    // No account is created or copied: only the password of the existing accounts changes.
    expect(recorded.map((r) => r.sql).join('\n')).not.toMatch(/CREATE USER|GRANT/);
  });

  it('alternating users, MariaDB and MySQL 5.7: only the hash', async () => {
    for (const [version, clause] of [
      ['10.11.19-MariaDB', `IDENTIFIED BY PASSWORD '${material.hash}'`],
      ['5.7.44', `IDENTIFIED WITH mysql_native_password AS '${material.hash}'`],
    ] as const) {
      const { session, recorded } = fakeSession(version, { app_clone: ['%'] });
      await resetAlternatePassword(session, target, 'app_clone', material, ctx);
      expect(recorded.at(-1)?.sql).toBe(`ALTER USER \`app_clone\`@\`%\` ${clause}`);
      expect(recorded.map((r) => r.sql).join('\n')).not.toContain(password);
    }
  });
});
