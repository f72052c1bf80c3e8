// pg's own escaping functions, from their module rather than the package index, which would load the whole driver.
import pgUtils from 'pg/lib/utils.js';

const { escapeIdentifier, escapeLiteral } = pgUtils;

/**
 * The statements the rotator runs. DDL cannot take bind parameters, so role names are quoted with the driver's
 * escapeIdentifier and verifiers with escapeLiteral; catalog look-ups use bind parameters. A statement that
 * carries a verifier is marked `sensitive`: its text and the server's error details never reach our messages.
 */
export interface Statement {
  /** What the statement does, for error messages and logs (never holds a secret). */
  label: string;
  text: string;
  values?: unknown[];
  /** The statement holds a verifier: nothing of the statement or the server's echo of it may be reported. */
  sensitive?: string[];
}

export const probe: Statement = { label: 'SELECT 1', text: 'SELECT 1' };

export const probeNow: Statement = { label: 'SELECT now()', text: 'SELECT now()' };

export function roleExists(role: string): Statement {
  return { label: 'look up the role in pg_roles', text: 'SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = $1', values: [role] };
}

export function alterRolePassword(role: string, verifier: string): Statement {
  return {
    label: `ALTER ROLE ${escapeIdentifier(role)} PASSWORD`,
    text: `ALTER ROLE ${escapeIdentifier(role)} PASSWORD ${escapeLiteral(verifier)}`,
    sensitive: [verifier],
  };
}

export function createLoginRole(role: string, verifier: string): Statement {
  return {
    label: `CREATE ROLE ${escapeIdentifier(role)} WITH LOGIN PASSWORD`,
    text: `CREATE ROLE ${escapeIdentifier(role)} WITH LOGIN PASSWORD ${escapeLiteral(verifier)}`,
    sensitive: [verifier],
  };
}

/** Makes `member` a member of `role`, so it has the same rights (AWS's template: GRANT current TO clone). */
export function grantRole(role: string, member: string): Statement {
  const text = `GRANT ${escapeIdentifier(role)} TO ${escapeIdentifier(member)}`;
  return { label: text, text };
}

/**
 * Whether `member` holds the rights of `role` (a member that inherits them: pg_has_role's USAGE). Callable by any
 * role, so testSecret asks it through the pending login.
 */
export function holdsRightsOf(member: string, role: string): Statement {
  return { label: 'pg_has_role(member, role, USAGE)', text: "SELECT pg_catalog.pg_has_role($1, $2, 'USAGE') AS holds", values: [member, role] };
}

export const begin: Statement = { label: 'BEGIN', text: 'BEGIN' };
export const commit: Statement = { label: 'COMMIT', text: 'COMMIT' };
export const rollback: Statement = { label: 'ROLLBACK', text: 'ROLLBACK' };

/** The preflight's facts about the master: the server version, and whether it is a superuser or has CREATEROLE. */
export const masterAttributes: Statement = {
  label: 'read the master role from pg_roles',
  text:
    "SELECT pg_catalog.current_setting('server_version_num')::int AS version_num, pg_catalog.current_setting('server_version') AS version, " +
    'rolsuper AS superuser, rolcreaterole AS createrole FROM pg_catalog.pg_roles WHERE rolname = current_user',
};

/** Which of `roles` exist, and whether the session's role holds ADMIN OPTION on each (grant it, alter it on 16+). */
export function adminOptionOn(roles: readonly string[]): Statement {
  return {
    label: "pg_has_role(current_user, role, 'MEMBER WITH ADMIN OPTION')",
    text: "SELECT rolname, pg_catalog.pg_has_role(current_user, oid, 'MEMBER WITH ADMIN OPTION') AS admin FROM pg_catalog.pg_roles WHERE rolname = ANY($1)",
    values: [[...roles]],
  };
}

export interface MasterAttributesRow {
  version_num: number;
  version: string;
  superuser: boolean;
  createrole: boolean;
}

export const serverVersion: Statement = { label: 'SHOW server_version', text: "SELECT pg_catalog.current_setting('server_version') AS version" };
