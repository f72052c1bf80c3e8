import { RotatorError } from '../../shared/errors.js';

/**
 * Whether a master role may do what alternating-users' setSecret does (rotators/postgres/index.ts), judged from the
 * catalog alone, for the preflight:
 * - the alternate does not exist: CREATE ROLE (CREATEROLE), then GRANT current TO alternate;
 * - it exists: ALTER ROLE alternate PASSWORD, and when the alternate is the clone, GRANT current TO it if its
 *   membership was lost.
 * Before PostgreSQL 16, CREATEROLE is enough for all of it on roles that are not superusers. From 16, granting a role
 * or altering another role needs ADMIN OPTION on it (a role the master created has it by default). A superuser may
 * do everything.
 */
export interface MasterFacts {
  master: string;
  /** server_version_num, e.g. 150008. */
  versionNum: number;
  /** server_version, for messages. */
  version: string;
  superuser: boolean;
  createRole: boolean;
  /** For each of current's and the alternate's roles that exists: whether the master holds ADMIN OPTION on it. */
  adminOption: ReadonlyMap<string, boolean>;
}

const ADMIN_OPTION_SINCE = 160_000;

/** The pass reason; throws TARGET_ERROR naming what is missing and the statement that grants it. */
export function judgeMasterRights(facts: MasterFacts, current: string, alternate: string, alternateIsClone: boolean): string {
  const { master } = facts;
  if (facts.superuser) return `"${master}" is a superuser`;
  if (!facts.createRole) {
    throw new RotatorError(
      'TARGET_ERROR',
      `the master "${master}" lacks CREATEROLE, which creating the alternate user "${alternate}" and granting it the rights of "${current}" need; an administrator runs ALTER ROLE ${master} CREATEROLE`,
    );
  }
  if (facts.versionNum < ADMIN_OPTION_SINCE) return `"${master}" has CREATEROLE, which on PostgreSQL ${facts.version} grants and alters roles that are not superusers`;
  const exists = facts.adminOption.has(alternate);
  // The roles setSecret will grant or alter (see the module comment).
  const needed = exists ? [alternate, ...(alternateIsClone ? [current] : [])] : [current];
  const missing = needed.filter((role) => facts.adminOption.get(role) !== true);
  if (missing.length > 0) {
    throw new RotatorError(
      'TARGET_ERROR',
      `on PostgreSQL ${facts.version} CREATEROLE is not enough: the master "${master}" needs ADMIN OPTION on ${missing.map((r) => `"${r}"`).join(' and ')}; an administrator runs ` +
        missing.map((r) => `GRANT ${r} TO ${master} WITH ADMIN OPTION`).join('; '),
    );
  }
  return `"${master}" has CREATEROLE and ADMIN OPTION on ${needed.map((r) => `"${r}"`).join(' and ')}`;
}
