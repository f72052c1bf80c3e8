import { describe, expect, it } from 'vitest';
import { canCreateUsers, ungrantable } from '../../rotators/mysql/grant-authority.js';
import { parseGrantLine } from '../../rotators/mysql/grant-lines.js';
import { describeUnit, grantUnits, type GrantUnit } from '../../rotators/mysql/grant-plan.js';
import type { Account } from '../../rotators/mysql/session.js';

/**
 * Whether a master may grant what a user holds (the alternating-users preflight), on SHOW GRANTS lines as MariaDB
 * and MySQL 8 print them. The MariaDB cases run against the real server in test/integration/preflight.test.ts too;
 * the MySQL 8 ones (dynamic privileges, ROLE_ADMIN) only here, as no MySQL 8 server runs in this environment.
 */
const app: Account = { user: 'app', host: '%' };
const master: Account = { user: 'rotator_master', host: '%' };

function units(grantee: Account, ...lines: string[]): GrantUnit[] {
  return grantUnits(lines.map((l) => parseGrantLine(l, grantee)));
}

/** What the master cannot grant of the user's lines, described. */
function lacking(userLines: string[], masterLines: string[]): string[] {
  return ungrantable(units(app, ...userLines), units(master, ...masterLines)).map(describeUnit);
}

const TO_APP = 'TO `app`@`%`';
const TO_MASTER = 'TO `rotator_master`@`%`';

describe('ungrantable', () => {
  it('needs the privilege and GRANT OPTION on the object or a level above', () => {
    const user = [`GRANT USAGE ON *.* ${TO_APP}`, `GRANT SELECT, INSERT ON \`appdb\`.* ${TO_APP}`, `GRANT UPDATE ON \`appdb\`.\`t\` ${TO_APP}`];
    expect(lacking(user, [`GRANT SELECT, INSERT, UPDATE ON \`appdb\`.* ${TO_MASTER} WITH GRANT OPTION`])).toEqual([]);
    expect(lacking(user, [`GRANT ALL PRIVILEGES ON *.* ${TO_MASTER} WITH GRANT OPTION`])).toEqual([]);
    // The privileges without the grant option: nothing can be granted.
    expect(lacking(user, [`GRANT SELECT, INSERT, UPDATE ON \`appdb\`.* ${TO_MASTER}`])).toEqual(['SELECT ON `appdb`.*', 'INSERT ON `appdb`.*', 'UPDATE ON `appdb`.`t`']);
    // The grant option on another database, or a privilege missing.
    expect(lacking(user, [`GRANT SELECT, INSERT, UPDATE ON \`otherdb\`.* ${TO_MASTER} WITH GRANT OPTION`])).toHaveLength(3);
    expect(lacking(user, [`GRANT SELECT, UPDATE ON \`appdb\`.* ${TO_MASTER} WITH GRANT OPTION`])).toEqual(['INSERT ON `appdb`.*']);
    // A table-level right does not reach the whole database.
    expect(lacking(user, [`GRANT SELECT, INSERT, UPDATE ON \`appdb\`.\`t\` ${TO_MASTER} WITH GRANT OPTION`])).toEqual(['SELECT ON `appdb`.*', 'INSERT ON `appdb`.*']);
  });

  it('a database whose name starts like another is not covered by it', () => {
    expect(lacking([`GRANT SELECT ON \`appdb2\`.\`t\` ${TO_APP}`], [`GRANT SELECT ON \`appdb\`.* ${TO_MASTER} WITH GRANT OPTION`])).toEqual(['SELECT ON `appdb2`.`t`']);
  });

  it('column privileges: the same column, or the privilege on the table or above', () => {
    const user = [`GRANT SELECT (\`a\`), UPDATE (\`b\`) ON \`appdb\`.\`t\` ${TO_APP}`];
    expect(lacking(user, [`GRANT SELECT (\`a\`), UPDATE (\`b\`) ON \`appdb\`.\`t\` ${TO_MASTER} WITH GRANT OPTION`])).toEqual([]);
    expect(lacking(user, [`GRANT SELECT, UPDATE ON \`appdb\`.* ${TO_MASTER} WITH GRANT OPTION`])).toEqual([]);
    expect(lacking(user, [`GRANT SELECT (\`a\`), UPDATE (\`c\`) ON \`appdb\`.\`t\` ${TO_MASTER} WITH GRANT OPTION`])).toEqual(['UPDATE (`b`) ON `appdb`.`t`']);
  });

  it('routines are covered by their database', () => {
    const user = [`GRANT EXECUTE ON PROCEDURE \`appdb\`.\`p\` ${TO_APP}`];
    expect(lacking(user, [`GRANT EXECUTE ON \`appdb\`.* ${TO_MASTER} WITH GRANT OPTION`])).toEqual([]);
    expect(lacking(user, [`GRANT EXECUTE ON \`other\`.* ${TO_MASTER} WITH GRANT OPTION`])).toEqual(['EXECUTE ON PROCEDURE `appdb`.`p`']);
  });

  it('roles need their ADMIN OPTION, or ROLE_ADMIN (MySQL 8)', () => {
    const user = ['GRANT `reader` TO `app`@`%`'];
    expect(lacking(user, ['GRANT `reader` TO `rotator_master`@`%` WITH ADMIN OPTION'])).toEqual([]);
    expect(lacking(user, ['GRANT `reader` TO `rotator_master`@`%`'])).toEqual(['role `reader`']);
    expect(lacking(user, [`GRANT ROLE_ADMIN ON *.* ${TO_MASTER}`])).toEqual([]);
  });

  it('MySQL 8 dynamic privileges need their own grant option', () => {
    const user = [`GRANT BACKUP_ADMIN ON *.* ${TO_APP}`];
    expect(lacking(user, [`GRANT BACKUP_ADMIN ON *.* ${TO_MASTER} WITH GRANT OPTION`])).toEqual([]);
    expect(lacking(user, [`GRANT BACKUP_ADMIN ON *.* ${TO_MASTER}`])).toEqual(['BACKUP_ADMIN ON *.*']);
  });

  it("granting WITH GRANT OPTION needs the master's grant option there", () => {
    const user = [`GRANT SELECT ON \`appdb\`.* ${TO_APP} WITH GRANT OPTION`];
    expect(lacking(user, [`GRANT SELECT ON *.* ${TO_MASTER} WITH GRANT OPTION`])).toEqual([]);
    expect(lacking(user, [`GRANT SELECT ON *.* ${TO_MASTER}`])).toEqual(['SELECT ON `appdb`.*', 'GRANT OPTION ON `appdb`.*']);
  });
});

describe('canCreateUsers', () => {
  it('CREATE USER or ALL PRIVILEGES on *.*, nothing narrower', () => {
    expect(canCreateUsers(units(master, `GRANT CREATE USER ON *.* ${TO_MASTER}`))).toBe(true);
    expect(canCreateUsers(units(master, `GRANT ALL PRIVILEGES ON *.* ${TO_MASTER}`))).toBe(true);
    expect(canCreateUsers(units(master, `GRANT SELECT ON \`mysql\`.* ${TO_MASTER}`))).toBe(false);
    expect(canCreateUsers(units(master, `GRANT ALL PRIVILEGES ON \`appdb\`.* ${TO_MASTER}`))).toBe(false);
  });
});
