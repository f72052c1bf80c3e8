import { PREFLIGHT_CHECKS, runCheck, skipCheck, type PreflightCheck, type PreflightCheckId } from '../shared/rotator.js';

/**
 * The preflight (`rotate --dry-run`) checks every database rotator makes the same way: a login and the TLS state it
 * got, and the checks that cannot run once the login they need has failed. Each rotator supplies the login itself.
 */

/** What a login that worked learnt. */
export interface LoginFacts {
  /** Whether the connection is encrypted (always verified: chain and host name). */
  tls: boolean;
  /** What the login asked for (the secret's `ssl`, or the strictest of two secrets'), to say why it is plaintext. */
  ssl: boolean | undefined;
  /** Said after the pass reason when the login proves less than it seems (trust authentication). */
  note?: string;
  /** The server, for the reason ("PostgreSQL 15.8"), when known. */
  server?: string;
}

/** How a connection's TLS turned out, for people. */
export function tlsState(tls: boolean, ssl: boolean | undefined): string {
  if (tls) return 'verified TLS (certificate chain and host name)';
  return ssl === false ? 'plaintext, as the secret says ("ssl": false)' : 'plaintext: the server offers no TLS and ROTATOR_ALLOW_PLAINTEXT_FALLBACK is set';
}

/**
 * `id` (a login check) and, for CURRENT, `tls` from one login attempt. A TLS failure fails `tls` and leaves the login
 * untried; any other failure fails the login and leaves the TLS state unknown. Returns the facts when it logged in.
 */
export async function loginChecks(
  id: Extract<PreflightCheckId, 'current-login' | 'master-login'>,
  who: { user: string; where: string },
  login: () => Promise<LoginFacts>,
): Promise<{ checks: PreflightCheck[]; facts?: LoginFacts }> {
  let facts: LoginFacts | undefined;
  const loginCheck = await runCheck(id, async () => {
    facts = await login();
    const server = facts.server === undefined ? '' : ` (${facts.server})`;
    return `logged in as user "${who.user}" to ${who.where}${server} over ${tlsState(facts.tls, facts.ssl)}${facts.note === undefined ? '' : `; ${facts.note}`}`;
  });
  if (id === 'master-login') return { checks: [loginCheck], ...(facts === undefined ? {} : { facts }) };
  if (loginCheck.status === 'fail' && loginCheck.code === 'TARGET_TLS') {
    return { checks: [skipCheck(id, 'not tried: the TLS check failed'), { ...loginCheck, id: 'tls', name: PREFLIGHT_CHECKS.tls }] };
  }
  // Plaintext is a skip, not a pass: nothing was verified, however deliberate.
  const tls =
    facts === undefined
      ? skipCheck('tls', 'not known: the login failed')
      : facts.tls
        ? { id: 'tls' as const, name: PREFLIGHT_CHECKS.tls, status: 'pass' as const, reason: tlsState(true, facts.ssl) }
        : skipCheck('tls', tlsState(false, facts.ssl));
  return { checks: [loginCheck, tls], ...(facts === undefined ? {} : { facts }) };
}

/** The checks that need a master login, skipped because there is none (no master secret, or it did not log in). */
export function withoutMaster(ids: readonly PreflightCheckId[], why: string): PreflightCheck[] {
  return ids.map((id) => skipCheck(id, `not tried: ${why}`));
}

/** The checks that only alternating-users (or only a master) makes, skipped for another strategy. */
export function notForStrategy(ids: readonly PreflightCheckId[], strategy: string): PreflightCheck[] {
  return ids.map((id) => skipCheck(id, `the ${strategy} strategy does not need it`));
}
