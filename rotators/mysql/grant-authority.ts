import { isDynamicPrivilege, objectLevel, unit, type GrantUnit } from './grant-plan.js';

/**
 * Whether an account may grant what another holds, judged from both accounts' SHOW GRANTS units (grant-plan.ts),
 * for the preflight of alternating users: the master copies every right of the user to its alternate. MySQL and
 * MariaDB let an account grant a privilege on an object when it holds that privilege and GRANT OPTION there or at a
 * level above (`db`.* covers the database's tables and routines, *.* covers everything); a role needs its ADMIN OPTION
 * (or, on MySQL 8, ROLE_ADMIN); a MySQL 8 dynamic privilege needs that privilege with its own grant option; a proxy
 * grant needs the same proxy grant with GRANT OPTION. Rights the master holds only through a role are not seen (the
 * rotator's session does not activate roles), so they do not count.
 */

/** The database part of an object as the server printed it ("`db`" of "`db`.`t`" or "PROCEDURE `db`.`p`"); '*' for *.*. */
function databaseOf(on: string): string | undefined {
  const object = on.replace(/^(?:PROCEDURE|FUNCTION|PACKAGE BODY|PACKAGE)\s+/i, '');
  return /^(`(?:[^`]|``)*`|[^.`]+)\./.exec(object)?.[1];
}

/** Whether rights on `outer` reach `inner`: the same object, the whole server, or the database `inner` is in. */
function covers(outer: string, inner: string): boolean {
  if (outer === inner || outer === '*.*') return true;
  const level = objectLevel(outer);
  return level === 'database' && objectLevel(inner) !== 'global' && databaseOf(outer) === databaseOf(inner);
}

/** The server's own "any account" proxy grant, which root holds and lets it grant any proxy. */
const ANY_PROXY = new Set(["''@'%'", '``@`%`']);

export function canGrant(needed: GrantUnit, holder: readonly GrantUnit[]): boolean {
  const has = (kind: GrantUnit['kind'], on: string, privilege = ''): boolean => holder.some((u) => u.key === unit(kind, on, privilege).key);
  const grantOptionOn = (on: string): boolean => holder.some((u) => u.kind === 'grant-option' && covers(u.on, on));
  const privilegeOn = (privilege: string, on: string, column?: string): boolean =>
    holder.some(
      (u) =>
        u.kind === 'privilege' &&
        (u.privilege === privilege || u.privilege === 'ALL PRIVILEGES') &&
        (u.column === undefined ? covers(u.on, on) : u.on === on && column !== undefined && u.key === unit('privilege', on, privilege, column).key),
    );
  switch (needed.kind) {
    case 'privilege':
    case 'restriction':
    case 'dynamic-grant-option':
      if (isDynamicPrivilege(needed.privilege, needed.on)) return has('privilege', '*.*', needed.privilege) && has('dynamic-grant-option', '*.*', needed.privilege);
      return privilegeOn(needed.privilege, needed.on, needed.column) && grantOptionOn(needed.on);
    case 'grant-option':
      return grantOptionOn(needed.on);
    case 'role':
    case 'role-admin':
      return has('role-admin', needed.on) || has('privilege', '*.*', 'ROLE_ADMIN');
    case 'proxy':
    case 'proxy-grant-option':
      return has('proxy-grant-option', needed.on) || holder.some((u) => u.kind === 'proxy-grant-option' && ANY_PROXY.has(u.on));
    case 'default-role':
      // SET DEFAULT ROLE for another account needs CREATE USER, which the master's other check demands.
      return true;
  }
}

/** What of `needed` the holder cannot grant (empty: it can grant everything). */
export function ungrantable(needed: readonly GrantUnit[], holder: readonly GrantUnit[]): GrantUnit[] {
  return needed.filter((u) => !canGrant(u, holder));
}

/** Whether the holder has CREATE USER (directly, or through ALL PRIVILEGES on *.*). */
export function canCreateUsers(holder: readonly GrantUnit[]): boolean {
  return holder.some((u) => u.kind === 'privilege' && u.on === '*.*' && (u.privilege === 'CREATE USER' || u.privilege === 'ALL PRIVILEGES'));
}
