import { describe, expect, it } from 'vitest';
import { GRANTEE, GrantParseError, granteeRenderings, normaliseGrantLine, parseGrantLine } from '../../rotators/mysql/grant-lines.js';
import {
  diffGrants,
  grantUnits,
  limitsClause,
  planSync,
  requireClause,
  sameTls,
  shortfall,
  unsafeRevocations,
  type GrantUnit,
} from '../../rotators/mysql/grant-plan.js';
import type { Account } from '../../rotators/mysql/session.js';

const app: Account = { user: 'app', host: '%' };
const clone: Account = { user: 'app_clone', host: '%' };
const HASH = '*B69027D44F6E5EDC07F1AEAD1477967B16F28227';

/** Units of SHOW GRANTS output lines for `grantee`. */
function units(grantee: Account, ...lines: string[]): GrantUnit[] {
  return grantUnits(lines.map((l) => parseGrantLine(l, grantee)));
}

function keysOf(list: readonly GrantUnit[]): string[] {
  return list.map((u) => [u.kind, u.on, u.privilege, u.column ?? ''].join(' | '));
}

describe('parseGrantLine: MariaDB 10.11', () => {
  it('drops the password hash and the grantee, keeps REQUIRE and resource limits', () => {
    const line = `GRANT RELOAD, PROCESS ON *.* TO \`app\`@\`%\` IDENTIFIED BY PASSWORD '${HASH}' REQUIRE SSL WITH GRANT OPTION MAX_QUERIES_PER_HOUR 10`;
    const parsed = parseGrantLine(line, app);
    expect(parsed.kind).toBe('grant');
    expect(parsed.on).toBe('*.*');
    expect(parsed.privileges).toEqual([
      { name: 'RELOAD', columns: [] },
      { name: 'PROCESS', columns: [] },
    ]);
    expect(parsed.grantOption).toBe(true);
    expect(parsed.normalised).toBe(`GRANT RELOAD, PROCESS ON *.* TO ${GRANTEE} REQUIRE SSL WITH GRANT OPTION MAX_QUERIES_PER_HOUR 10`);
    expect(parsed.normalised).not.toContain(HASH);
  });

  it('drops IDENTIFIED VIA ... USING ... OR ... up to the end of the line', () => {
    const line = "GRANT USAGE ON *.* TO `app`@`%` IDENTIFIED VIA ed25519 USING 'ZIgUREUg5PVgQ6LskhXmO+eZLS0nC8be6HPjYWR4YJY' OR unix_socket";
    expect(normaliseGrantLine(line, app)).toBe(`GRANT USAGE ON *.* TO ${GRANTEE}`);
  });

  it('reads column privileges, routine objects, roles with ADMIN OPTION and SET DEFAULT ROLE', () => {
    const cols = parseGrantLine('GRANT SELECT, SELECT (`a`, `b`), UPDATE (`b`) ON `db`.`t1` TO `app`@`%`', app);
    expect(cols.privileges).toEqual([
      { name: 'SELECT', columns: [] },
      { name: 'SELECT', columns: ['`a`', '`b`'] },
      { name: 'UPDATE', columns: ['`b`'] },
    ]);
    expect(cols.on).toBe('`db`.`t1`');

    const routine = parseGrantLine('GRANT EXECUTE, ALTER ROUTINE ON PROCEDURE `db`.`p` TO `app`@`%` WITH GRANT OPTION', app);
    expect(routine.on).toBe('PROCEDURE `db`.`p`');
    expect(routine.privileges.map((p) => p.name)).toEqual(['EXECUTE', 'ALTER ROUTINE']);

    const role = parseGrantLine('GRANT `reader` TO `app`@`%` WITH ADMIN OPTION', app);
    expect(role).toMatchObject({ kind: 'role', roles: ['`reader`'], adminOption: true, grantOption: false });

    const defaults = parseGrantLine('SET DEFAULT ROLE `reader` FOR `app`@`%`', app);
    expect(defaults).toMatchObject({ kind: 'default-role', roles: ['`reader`'], normalised: `SET DEFAULT ROLE \`reader\` FOR ${GRANTEE}` });
  });

  it('reads the PROXY line, which MariaDB prints with unescaped single quotes', () => {
    const proxy = parseGrantLine("GRANT PROXY ON 'root'@'localhost' TO 'o'neil'@'%' WITH GRANT OPTION", { user: "o'neil", host: '%' });
    expect(proxy).toMatchObject({ kind: 'proxy', on: "'root'@'localhost'", grantOption: true });
  });

  it('recognises hostile grantees in every quoting the servers use', () => {
    const hostile: Account = { user: "o'q`b\\s; é", host: "h'o`s\\t" };
    // MariaDB / MySQL 8: backticks, doubled inside; nothing else escaped.
    expect(normaliseGrantLine("GRANT USAGE ON *.* TO `o'q``b\\s; é`@`h'o``s\\t` REQUIRE ISSUER 'is''s\\\\x'", hostile)).toBe(
      `GRANT USAGE ON *.* TO ${GRANTEE} REQUIRE ISSUER 'is''s\\\\x'`,
    );
    // Single quotes, doubled or backslash-escaped, and raw (MySQL 5.7).
    for (const rendering of ["'o''q`b\\s; é'@'h''o`s\\t'", "'o\\'q`b\\\\s; é'@'h\\'o`s\\\\t'", "'o'q`b\\s; é'@'h'o`s\\t'"]) {
      expect(normaliseGrantLine(`GRANT SELECT ON \`db\`.* TO ${rendering}`, hostile)).toBe(`GRANT SELECT ON \`db\`.* TO ${GRANTEE}`);
    }
    expect(granteeRenderings(hostile)).toHaveLength(4);
  });

  it('does not take a grantee hidden in an object name or a lookalike account', () => {
    // The object name contains " TO `app`@`%`" (printed with doubled backticks): the real TO comes later.
    const parsed = parseGrantLine('GRANT SELECT ON `db`.`x`` TO ``app``@``%` TO `app`@`%`', app);
    expect(parsed.on).toBe('`db`.`x`` TO ``app``@``%`');
    expect(() => parseGrantLine('GRANT SELECT ON `db`.* TO `app2`@`%`', app)).toThrow(GrantParseError);
    expect(() => parseGrantLine('GRANT SELECT ON `db`.* TO `app`@`%%`', app)).toThrow(/grantee/);
  });

  it('refuses shapes it does not know instead of guessing, without quoting the line', () => {
    const secretLine = `ALTER USER \`app\`@\`%\` IDENTIFIED BY PASSWORD '${HASH}'`;
    expect(() => parseGrantLine(secretLine, app)).toThrow(GrantParseError);
    try {
      parseGrantLine(secretLine, app);
    } catch (error) {
      expect(String(error)).not.toContain(HASH);
    }
    expect(() => parseGrantLine('GRANT SELECT ON `db', app)).toThrow(/not terminated/);
    expect(() => parseGrantLine('GRANT SELECT ON `db`.*', app)).toThrow(/TO/);
  });
});

describe('parseGrantLine: MySQL 8 and 5.7', () => {
  it('reads MySQL 8 privileges, role lists and partial revokes', () => {
    const line = parseGrantLine('GRANT SELECT, INSERT ON `db`.* TO `app`@`%` WITH GRANT OPTION', app);
    expect(line).toMatchObject({ kind: 'grant', on: '`db`.*', grantOption: true, normalised: `GRANT SELECT, INSERT ON \`db\`.* TO ${GRANTEE} WITH GRANT OPTION` });

    const roles = parseGrantLine('GRANT `r1`@`%`,`r2`@`localhost` TO `app`@`%`', app);
    expect(roles).toMatchObject({ kind: 'role', roles: ['`r1`@`%`', '`r2`@`localhost`'] });

    const dynamic = parseGrantLine('GRANT BACKUP_ADMIN,XA_RECOVER_ADMIN ON *.* TO `app`@`%` WITH GRANT OPTION', app);
    expect(dynamic.privileges.map((p) => p.name)).toEqual(['BACKUP_ADMIN', 'XA_RECOVER_ADMIN']);

    const partial = parseGrantLine('REVOKE INSERT, UPDATE ON `mysql`.* FROM `app`@`%`', app);
    expect(partial).toMatchObject({ kind: 'revoke', on: '`mysql`.*', normalised: `REVOKE INSERT, UPDATE ON \`mysql\`.* FROM ${GRANTEE}` });

    const proxy = parseGrantLine('GRANT PROXY ON ``@`` TO `app`@`%` WITH GRANT OPTION', app);
    expect(proxy).toMatchObject({ kind: 'proxy', on: '``@``', grantOption: true });
  });

  it('reads MySQL 5.7 lines with single-quoted grantees', () => {
    expect(normaliseGrantLine("GRANT USAGE ON *.* TO 'app'@'%' REQUIRE SSL", app)).toBe(`GRANT USAGE ON *.* TO ${GRANTEE} REQUIRE SSL`);
    const old = parseGrantLine(`GRANT ALL PRIVILEGES ON \`db\`.* TO 'app'@'%' IDENTIFIED BY PASSWORD '${HASH}' WITH GRANT OPTION`, app);
    expect(old.normalised).toBe(`GRANT ALL PRIVILEGES ON \`db\`.* TO ${GRANTEE} WITH GRANT OPTION`);
    expect(parseGrantLine("GRANT ALL ON `db`.* TO 'app'@'%'", app).privileges[0]?.name).toBe('ALL PRIVILEGES');
  });
});

describe('grantUnits and diffGrants', () => {
  it('splits lines into one unit per privilege, column privilege and grant option; USAGE is nothing', () => {
    const list = units(
      app,
      'GRANT USAGE ON *.* TO `app`@`%`',
      'GRANT SELECT, INSERT ON `db`.* TO `app`@`%` WITH GRANT OPTION',
      'GRANT SELECT (`a`, `B`), UPDATE (`b`) ON `db`.`t` TO `app`@`%`',
    );
    expect(keysOf(list)).toEqual([
      'privilege | `db`.* | SELECT | ',
      'privilege | `db`.* | INSERT | ',
      'grant-option | `db`.* |  | ',
      'privilege | `db`.`t` | SELECT | `a`',
      'privilege | `db`.`t` | SELECT | `B`',
      'privilege | `db`.`t` | UPDATE | `b`',
    ]);
  });

  it('keeps the grant option of MySQL 8 dynamic privileges per privilege', () => {
    const list = units(app, 'GRANT SELECT ON *.* TO `app`@`%`', 'GRANT BACKUP_ADMIN ON *.* TO `app`@`%` WITH GRANT OPTION', 'GRANT XA_RECOVER_ADMIN ON *.* TO `app`@`%`');
    expect(keysOf(list)).toEqual([
      'privilege | *.* | SELECT | ',
      'privilege | *.* | BACKUP_ADMIN | ',
      'dynamic-grant-option | *.* | BACKUP_ADMIN | ',
      'privilege | *.* | XA_RECOVER_ADMIN | ',
    ]);
  });

  it('diffs column privileges column by column, case-insensitively, whatever the grantee', () => {
    const source = units(app, 'GRANT SELECT (`a`, `b`), UPDATE (`b`) ON `db`.`t` TO `app`@`%`', 'GRANT `r` TO `app`@`%` WITH ADMIN OPTION');
    const target = units(clone, 'GRANT SELECT (`A`, `c`) ON `db`.`t` TO `app_clone`@`%`', 'GRANT `r` TO `app_clone`@`%`');
    const diff = diffGrants(source, target);
    expect(keysOf(diff.missing)).toEqual(['privilege | `db`.`t` | SELECT | `b`', 'privilege | `db`.`t` | UPDATE | `b`', 'role-admin | `r` |  | ']);
    expect(keysOf(diff.excess)).toEqual(['privilege | `db`.`t` | SELECT | `c`']);
    expect(diffGrants(source, source)).toEqual({ missing: [], excess: [] });
  });
});

describe('planSync', () => {
  it('grants what is missing and revokes only what is in excess, never REVOKE ALL', () => {
    const source = units(
      app,
      'GRANT SELECT, INSERT ON `db`.* TO `app`@`%` WITH GRANT OPTION',
      'GRANT SELECT (`a`, `b`) ON `db`.`t` TO `app`@`%`',
      'GRANT `reader` TO `app`@`%`',
      'SET DEFAULT ROLE `reader` FOR `app`@`%`',
    );
    const target = units(
      clone,
      'GRANT SELECT, DELETE ON `db`.* TO `app_clone`@`%`',
      'GRANT SELECT (`a`, `c`) ON `db`.`t` TO `app_clone`@`%`',
      'GRANT `writer` TO `app_clone`@`%` WITH ADMIN OPTION',
    );
    const plan = planSync(source, target, clone, 'mariadb');
    expect(plan.unsafe).toEqual([]);
    expect(plan.narrowing).toBe(false);
    expect(plan.grants.map((s) => s.text)).toEqual([
      'GRANT INSERT ON `db`.* TO `app_clone`@`%` WITH GRANT OPTION',
      'GRANT SELECT (`b`) ON `db`.`t` TO `app_clone`@`%`',
      'GRANT `reader` TO `app_clone`@`%`',
      'SET DEFAULT ROLE `reader` FOR `app_clone`@`%`',
    ]);
    expect(plan.revokes.map((s) => s.text)).toEqual([
      'REVOKE DELETE ON `db`.* FROM `app_clone`@`%`',
      'REVOKE SELECT (`c`) ON `db`.`t` FROM `app_clone`@`%`',
      'REVOKE `writer` FROM `app_clone`@`%`',
    ]);
    expect(plan.grants.reduce((n, s) => n + s.units, 0)).toBe(5);
    expect(plan.revokes.reduce((n, s) => n + s.units, 0)).toBe(4);
  });

  it('plans nothing when the grants already match', () => {
    const lines = ['GRANT SELECT ON `db`.* TO `app`@`%` WITH GRANT OPTION', 'GRANT `r` TO `app`@`%`'];
    const plan = planSync(units(app, ...lines), units(clone, ...lines.map((l) => l.replace('`app`@', '`app_clone`@'))), clone, 'mariadb');
    expect(plan).toEqual({ grants: [], revokes: [], narrowing: false, unsafe: [] });
  });

  it('adds a grant option alone with USAGE, and removes one alone with REVOKE GRANT OPTION', () => {
    const add = planSync(units(app, 'GRANT SELECT ON `db`.* TO `app`@`%` WITH GRANT OPTION'), units(clone, 'GRANT SELECT ON `db`.* TO `app_clone`@`%`'), clone, 'mariadb');
    expect(add.grants.map((s) => s.text)).toEqual(['GRANT USAGE ON `db`.* TO `app_clone`@`%` WITH GRANT OPTION']);
    const remove = planSync(units(app, 'GRANT SELECT ON `db`.* TO `app`@`%`'), units(clone, 'GRANT SELECT ON `db`.* TO `app_clone`@`%` WITH GRANT OPTION'), clone, 'mariadb');
    expect(remove.revokes.map((s) => s.text)).toEqual(['REVOKE GRANT OPTION ON `db`.* FROM `app_clone`@`%`']);
  });

  it('narrows an excess ALL PRIVILEGES by one privilege the source does not hold, instead of revoking ALL', () => {
    const source = units(app, 'GRANT SELECT, DROP ON `db`.* TO `app`@`%`');
    const target = units(clone, 'GRANT ALL PRIVILEGES ON `db`.* TO `app_clone`@`%`');
    const plan = planSync(source, target, clone, 'mariadb');
    expect(plan.narrowing).toBe(true);
    // SELECT and DROP are held through ALL: nothing to grant.
    expect(plan.grants).toEqual([]);
    expect(plan.revokes.map((s) => s.text)).toEqual(['REVOKE EVENT ON `db`.* FROM `app_clone`@`%`']);
    const table = planSync(units(app, 'GRANT DROP, ALTER ON `db`.`t` TO `app`@`%`'), units(clone, 'GRANT ALL PRIVILEGES ON `db`.`t` TO `app_clone`@`%`'), clone, 'mysql');
    expect(table.revokes.map((s) => s.text)).toEqual(['REVOKE INDEX ON `db`.`t` FROM `app_clone`@`%`']);
  });

  it('refuses excess rights that cannot be removed without a momentary loss', () => {
    // REVOKE SELECT ON t would also drop SELECT (a) on t, which the source holds.
    const columns = units(app, 'GRANT SELECT (`a`) ON `db`.`t` TO `app`@`%`');
    const tableWide = units(clone, 'GRANT SELECT, SELECT (`a`) ON `db`.`t` TO `app_clone`@`%`');
    expect(planSync(columns, tableWide, clone, 'mariadb').unsafe).toEqual([expect.stringMatching(/^SELECT ON `db`.`t`: revoking it also revokes/)]);
    const all = units(clone, 'GRANT ALL PRIVILEGES ON `db`.`t` TO `app_clone`@`%`');
    expect(planSync(columns, all, clone, 'mariadb').unsafe).toEqual([expect.stringMatching(/ALL PRIVILEGES ON `db`.`t`: narrowing it revokes .*SELECT/)]);

    // ADMIN OPTION alone: MariaDB has REVOKE ADMIN OPTION FOR, MySQL does not.
    const role = units(app, 'GRANT `r`@`%` TO `app`@`%`');
    const roleAdmin = units(clone, 'GRANT `r`@`%` TO `app_clone`@`%` WITH ADMIN OPTION');
    expect(planSync(role, roleAdmin, clone, 'mariadb').revokes.map((s) => s.text)).toEqual(['REVOKE ADMIN OPTION FOR `r`@`%` FROM `app_clone`@`%`']);
    expect(unsafeRevocations(diffGrants(role, roleAdmin), role, 'mysql')).toEqual([expect.stringContaining('ADMIN OPTION of role `r`@`%`')]);

    // Revoking the whole role, or an excess table privilege with no column counterpart, is fine.
    expect(unsafeRevocations(diffGrants([], roleAdmin), [], 'mysql')).toEqual([]);
    expect(planSync(units(app, 'GRANT SELECT (`a`) ON `db`.`t` TO `app`@`%`'), units(clone, 'GRANT INSERT, SELECT (`a`) ON `db`.`t` TO `app_clone`@`%`'), clone, 'mysql').unsafe).toEqual([]);
  });

  it('handles MySQL 8 dynamic privileges, partial revokes and default roles', () => {
    const source = [
      ...units(app, 'GRANT BACKUP_ADMIN ON *.* TO `app`@`%` WITH GRANT OPTION', 'GRANT SELECT ON *.* TO `app`@`%`', 'REVOKE INSERT ON `mysql`.* FROM `app`@`%`'),
    ];
    const target = units(clone, 'GRANT SELECT ON *.* TO `app_clone`@`%`', 'GRANT XA_RECOVER_ADMIN ON *.* TO `app_clone`@`%`', 'REVOKE DELETE ON `mysql`.* FROM `app_clone`@`%`');
    const plan = planSync(source, target, clone, 'mysql');
    expect(plan.grants.map((s) => s.text)).toEqual(['GRANT BACKUP_ADMIN ON *.* TO `app_clone`@`%` WITH GRANT OPTION', 'GRANT DELETE ON `mysql`.* TO `app_clone`@`%`']);
    expect(plan.revokes.map((s) => s.text)).toEqual(['REVOKE XA_RECOVER_ADMIN ON *.* FROM `app_clone`@`%`', 'REVOKE INSERT ON `mysql`.* FROM `app_clone`@`%`']);

    const withDefault: GrantUnit[] = [{ kind: 'default-role', on: '`r`@`%`', privilege: '', key: JSON.stringify(['default-role', '`r`@`%`', '', null]) }];
    const defaults = planSync([], withDefault, clone, 'mysql');
    expect(defaults.revokes.map((s) => s.text)).toEqual(['SET DEFAULT ROLE NONE TO `app_clone`@`%`']);
  });
});

describe('shortfall: what testSecret demands of an alternate', () => {
  const of = (grantee: Account, ...lines: string[]) => units(grantee, ...lines);

  it('names each right of the source the target lacks, grant options and roles included', () => {
    const source = of(app, 'GRANT SELECT, INSERT ON `db`.* TO `app`@`%` WITH GRANT OPTION', 'GRANT `r` TO `app`@`%`', 'GRANT SELECT (`a`) ON `db`.`t` TO `app`@`%`');
    const target = of(clone, 'GRANT SELECT ON `db`.* TO `app_clone`@`%`');
    expect(keysOf(shortfall(source, target))).toEqual([
      'privilege | `db`.* | INSERT | ',
      'grant-option | `db`.* |  | ',
      'role | `r` |  | ',
      'privilege | `db`.`t` | SELECT | `a`',
    ]);
    // A bare USAGE account (what a run killed before its grants left) lacks everything.
    expect(shortfall(source, of(clone, 'GRANT USAGE ON *.* TO `app_clone`@`%`'))).toHaveLength(source.length);
  });

  it('counts rights held through ALL PRIVILEGES, and extra rights are no shortfall', () => {
    const source = of(app, 'GRANT SELECT, UPDATE ON `db`.* TO `app`@`%`');
    expect(shortfall(source, of(clone, 'GRANT ALL PRIVILEGES ON `db`.* TO `app_clone`@`%`'))).toEqual([]);
    expect(shortfall(source, of(clone, 'GRANT SELECT, UPDATE, DELETE ON `db`.* TO `app_clone`@`%`', 'GRANT PROCESS ON *.* TO `app_clone`@`%`'))).toEqual([]);
  });

  it('MySQL 8 partial revokes: one only the target has is a shortfall, one only the source has is not', () => {
    const grant = (a: Account) => `GRANT SELECT ON *.* TO \`${a.user}\`@\`%\``;
    const revoke = (a: Account) => `REVOKE SELECT ON \`mysql\`.* FROM \`${a.user}\`@\`%\``;
    expect(keysOf(shortfall(of(app, grant(app)), of(clone, grant(clone), revoke(clone))))).toEqual(['restriction | `mysql`.* | SELECT | ']);
    expect(shortfall(of(app, grant(app), revoke(app)), of(clone, grant(clone)))).toEqual([]);
  });
});

describe('TLS requirements and resource limits', () => {
  it('builds REQUIRE clauses with literals for the session sql_mode', () => {
    const none = { type: '', cipher: '', issuer: '', subject: '' } as const;
    expect(requireClause(none, { noBackslashEscapes: false })).toBe('NONE');
    expect(requireClause({ ...none, type: 'ANY' }, { noBackslashEscapes: false })).toBe('SSL');
    expect(requireClause({ ...none, type: 'X509' }, { noBackslashEscapes: false })).toBe('X509');
    const specified = { type: 'SPECIFIED', cipher: 'EDH-RSA-DES-CBC3-SHA', issuer: "/O=it's", subject: '/CN=a\\b' } as const;
    expect(requireClause(specified, { noBackslashEscapes: false })).toBe("CIPHER 'EDH-RSA-DES-CBC3-SHA' AND ISSUER '/O=it\\'s' AND SUBJECT '/CN=a\\\\b'");
    expect(requireClause(specified, { noBackslashEscapes: true })).toBe("CIPHER 'EDH-RSA-DES-CBC3-SHA' AND ISSUER '/O=it''s' AND SUBJECT '/CN=a\\b'");
    expect(requireClause({ ...none, type: 'SPECIFIED', subject: '/CN=x' }, { noBackslashEscapes: true })).toBe("SUBJECT '/CN=x'");
  });

  it('compares requirements by what they demand', () => {
    const none = { type: '', cipher: '', issuer: '', subject: '' } as const;
    expect(sameTls({ ...none, type: 'ANY' }, { ...none, type: 'SPECIFIED' })).toBe(true);
    expect(sameTls({ ...none, type: 'SPECIFIED', issuer: 'a' }, { ...none, type: 'SPECIFIED', issuer: 'b' })).toBe(false);
    expect(sameTls(none, { ...none, type: 'X509' })).toBe(false);
  });

  it('writes resource limits and refuses anything that is not a number', () => {
    const limits = { maxQueriesPerHour: '10', maxUpdatesPerHour: '0', maxConnectionsPerHour: '0', maxUserConnections: '3', maxStatementTime: '1.500000' };
    expect(limitsClause(limits)).toBe('MAX_QUERIES_PER_HOUR 10 MAX_UPDATES_PER_HOUR 0 MAX_CONNECTIONS_PER_HOUR 0 MAX_USER_CONNECTIONS 3 MAX_STATEMENT_TIME 1.500000');
    expect(() => limitsClause({ ...limits, maxQueriesPerHour: '1; DROP USER x' })).toThrow(/non-numeric/);
  });
});
