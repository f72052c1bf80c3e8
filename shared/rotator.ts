import { isRotatorError, type ErrorCode } from './errors.js';
import type { Logger } from './logger.js';
import type { SecretObject } from './secret.js';
import type { Strategy } from './store.js';

/**
 * The contract each target kind implements (rotators/<kind>). A rotator knows nothing about stores: the engine
 * hands it secret values (parsed JSON objects in the RDS secret format) and it talks to the target.
 */
export interface RotatorContext {
  logger: Logger;
  /** Aborted when the caller's time is up (Lambda's remaining time); pending I/O should stop promptly. */
  signal?: AbortSignal;
}

export interface CreatePendingInput {
  strategy: Strategy;
  current: SecretObject;
  /** The rotation token (version id) the pending value is stored under; providers name minted keys after it, so a
   * retry finds what an interrupted attempt left behind. */
  token: string;
  /** Draws a password with the deployment's policy (PASSWORD_LENGTH, EXCLUDE_CHARACTERS, ...). */
  generatePassword: () => string;
  /** Reads the CURRENT value of the secret named by `masterSecretId` (API-key providers' admin credential). */
  readMaster: () => Promise<SecretObject>;
}

export interface SetInput {
  strategy: Strategy;
  current: SecretObject;
  pending: SecretObject;
  /** Reads the PREVIOUS version (undefined when the store has none that parses). A fallback login only, so it is read
   * only when current no longer logs in, which saves a store read in almost every rotation. */
  readPrevious?: () => Promise<SecretObject | undefined>;
  /** The CURRENT value of the secret named by `masterSecretId`, for strategies that need it. */
  master?: SecretObject;
  /** Hosts other than the master's own that its server feeds (RDS read replicas, reader endpoints): the rotated
   * secret may name one of them, and the master then changes the user on its own host. */
  masterReplicaHosts?: readonly string[];
}

export interface RevokeInput {
  strategy: Strategy;
  /** The superseded version being retired. */
  retired: SecretObject;
  current: SecretObject;
  /** The PENDING value, when a rotation is under way: its credential must keep working. */
  pending?: SecretObject;
  /** The CURRENT value of the secret named by `masterSecretId`, for strategies that need it. */
  master?: SecretObject;
  /** As for SetInput. */
  masterReplicaHosts?: readonly string[];
}

/** What revoke did: `revoked` the target no longer accepts the retired credential because of this call;
 * `not-needed` it already did not (a changed password), or the credential is one the target must keep. */
export type RevokeOutcome = 'revoked' | 'not-needed';

/**
 * What testSecret knows besides the pending value: a login alone proves nothing about an alternate user's rights, so
 * alternating-users compares them with current's (through the master, read only when a rotator asks for it).
 */
export interface TestInput {
  strategy: Strategy;
  current: SecretObject;
  /** The resolved master named by `masterSecretId(current, strategy)`; INVALID_SECRET when there is none. */
  readMaster: () => Promise<MasterCredential>;
  /**
   * True when this process's setSecret for the same secret and token set the pending credential moments ago (under a
   * minute; not a setSecret that found it already working) with the same pending value, CURRENT version and strategy. A rotator whose setSecret already proved, in its own
   * session, what its test would check again through another login (the alternate's rights, as the master) may
   * trust that proof instead of logging in again. The pending credential itself must still log in: set proves
   * nothing about it.
   */
  setMomentsAgo?: boolean;
}

/** A master secret as the rotators receive it. */
export interface MasterCredential {
  value: SecretObject;
  /** Hosts other than `value.host` served by the master's server (read replicas, reader endpoints). */
  replicaHosts: readonly string[];
}

/**
 * Completes a master secret before a rotator sees it. The default keeps the value as stored; on AWS, a secret that
 * RDS manages holds only username and password, and the RDS resolver adds host, port and engine from the instance
 * or cluster it is tagged with, and the replicas and reader endpoints of that server.
 */
export type MasterResolver = (secretId: string, value: SecretObject, ctx: RotatorContext) => Promise<MasterCredential>;

export const storedMaster: MasterResolver = (_secretId, value) => Promise.resolve({ value, replicaHosts: [] });

/** The SetInput / RevokeInput fields for a resolved master (none without one). */
export function masterFields(master: MasterCredential | undefined): Pick<SetInput, 'master' | 'masterReplicaHosts'> {
  return master === undefined ? {} : { master: master.value, masterReplicaHosts: master.replicaHosts };
}

/**
 * The checks of `rotator rotate --dry-run` (the preflight), each by a stable id for scripts and a name for people.
 * Each says pass, fail or skip and why, in words that never hold a value (names, hosts, versions, error codes).
 */
export const PREFLIGHT_CHECKS = {
  'rotation-enabled': 'rotation enabled',
  lock: 'rotation lock free',
  'current-value': 'CURRENT value valid',
  pending: 'no rotation PENDING',
  'master-secret': 'master secret readable',
  'current-login': 'CURRENT logs in',
  tls: 'TLS',
  'master-login': 'master logs in',
  'master-rights': 'master holds the rights',
  'dual-password': 'RETAIN CURRENT PASSWORD',
  'alternate-name': 'alternate name fits',
  'alternate-exists': 'alternate user',
  'provider-accepts': 'provider accepts CURRENT',
  endpoints: 'endpoints allowed',
  target: 'target checks',
} as const;
export type PreflightCheckId = keyof typeof PREFLIGHT_CHECKS;

export type PreflightStatus = 'pass' | 'fail' | 'skip';

export interface PreflightCheck {
  id: PreflightCheckId;
  /** PREFLIGHT_CHECKS[id]. */
  name: string;
  status: PreflightStatus;
  /** Why, never with a value. */
  reason: string;
  /** The error code of a failed check. */
  code?: ErrorCode;
  /** A failed check that may pass later without a change (an unreachable target, a lock held). */
  retryable?: boolean;
}

export interface PreflightInput {
  strategy: Strategy;
  current: SecretObject;
  /** The strategy's master, resolved; undefined when it needs none or it could not be read (the engine's own
   * `master-secret` check says which). */
  master?: MasterCredential;
}

/** A check's outcome as its code sees it: a reason to pass, or a skip or failure with its reason. */
export type CheckOutcome = string | { status: 'skip' | 'fail'; reason: string };

export function skipCheck(id: PreflightCheckId, reason: string): PreflightCheck {
  return { id, name: PREFLIGHT_CHECKS[id], status: 'skip', reason };
}

/**
 * Runs one check: what `run` returns, or a failure carrying the code of the RotatorError it threw (the rotators'
 * errors already say what to fix and never hold a value). Anything else is a bug and is thrown on.
 */
export async function runCheck(id: PreflightCheckId, run: () => CheckOutcome | Promise<CheckOutcome>): Promise<PreflightCheck> {
  const name = PREFLIGHT_CHECKS[id];
  try {
    const outcome = await run();
    return typeof outcome === 'string' ? { id, name, status: 'pass', reason: outcome } : { id, name, ...outcome };
  } catch (error) {
    if (!isRotatorError(error)) throw error;
    return { id, name, status: 'fail', reason: error.message, code: error.code, ...(error.retryable ? { retryable: true } : {}) };
  }
}

export interface Rotator {
  /** Values of the secret's `engine` key this rotator serves. */
  readonly engines: readonly string[];
  readonly strategies: readonly Strategy[];
  /** The EXCLUDE_CHARACTERS default of AWS's template for these engines. */
  readonly defaultExcludeCharacters: string;
  /** Throws INVALID_SECRET naming each bad key (never a value). */
  validate(value: SecretObject, what: string): void;
  /** The id of the secret whose credentials `set` needs (alternating users: `masterarn`). */
  masterSecretId(current: SecretObject, strategy: Strategy): string | undefined;
  /**
   * The next value: the current one with the rotated fields replaced and every other key kept. Database rotators
   * only compute it; API-key providers mint the key here, which is why it may be asynchronous.
   */
  createPending(input: CreatePendingInput, ctx: RotatorContext): SecretObject | Promise<SecretObject>;
  /**
   * Undoes what createPending did outside the store when the pending value could not be stored (a minted key
   * nobody would ever hold). Absent when createPending touches nothing outside: the engine then lets createSecret
   * compute a value and write it to find out whether the token already holds one (a refused write costs nothing),
   * while a rotator with discardPending has the token's value looked up first, so a retry mints nothing.
   */
  discardPending?(pending: SecretObject, input: CreatePendingInput, ctx: RotatorContext): Promise<void>;
  /**
   * True when the pending credential already logs in and that proves setSecret has nothing to do. Not so for
   * alternating-users on a database: the alternate may log in before (or without) holding current's rights, so
   * those rotators answer false for that strategy and `set` runs again (it is idempotent). The engine always passes
   * the strategy; without it a rotator answers for the login alone.
   */
  works(pending: SecretObject, ctx: RotatorContext, strategy?: Strategy): Promise<boolean>;
  /**
   * Strategies whose `set` the engine runs before asking `works`, to save the login a fresh rotation's pending
   * credential cannot pass. Only for a `set` that logs in with the stored credentials (current, then previous), throws
   * TARGET_AUTH_FAILED without changing anything when none logs in, and changes nothing that matters when run again
   * after the pending credential already works (it sets the same password once more). The engine asks `works` only
   * after that TARGET_AUTH_FAILED. Not dual-password: setting the password again would push current's out.
   */
  readonly setBeforeWorks?: readonly Strategy[];
  /** Makes the target accept the pending credential. */
  set(input: SetInput, ctx: RotatorContext): Promise<void>;
  /**
   * Logs in with the pending credential and runs a probe; throws when it does not work. With alternating-users the
   * database rotators also prove that the pending user holds the rights of current's (invariant 8). The engine always
   * passes `input`; without it only the login is tested.
   */
  test(pending: SecretObject, ctx: RotatorContext, input?: TestInput): Promise<void>;
  /**
   * Makes the target refuse a retired credential it still accepts (the purger's second half). Absent when the
   * target keeps nothing alive (single-user database passwords are replaced, not added). Never touches the
   * credential of CURRENT or PENDING.
   */
  revoke?(input: RevokeInput, ctx: RotatorContext): Promise<RevokeOutcome>;
  /**
   * `rotate --dry-run`: checks that a rotation would succeed, changing nothing (reads and logins only: no statement
   * that alters anything, no key minted). One check per concern (PREFLIGHT_CHECKS), a failure as a `fail` check rather
   * than an error. Absent: the engine says the target has no checks.
   */
  preflight?(input: PreflightInput, ctx: RotatorContext): Promise<PreflightCheck[]>;
}
