import { readFileSync } from 'node:fs';
import type { Config } from '../shared/config.js';
import { RotatorError } from '../shared/errors.js';
import { generatePassword } from '../shared/password.js';
import type { CreatePendingInput, RevokeOutcome, Rotator, RotatorContext } from '../shared/rotator.js';
import type { SecretObject } from '../shared/secret.js';
import { alternateUsername } from '../shared/alternate-user.js';
import type { Strategy } from '../shared/store.js';

/**
 * The rules every database rotator follows, whatever the server: which credentials may be used for what, the
 * order logins are tried in, and the connection bounds. Each rotator keeps only what its server does differently.
 */
/** A database rotator computes the pending value without I/O (a new password, or the alternate user), so it needs
 * neither the token nor the master for it, and callers may use it synchronously. */
export interface DatabaseRotator extends Rotator {
  createPending(input: Pick<CreatePendingInput, 'strategy' | 'current' | 'generatePassword'>): SecretObject;
}

export interface TlsOptions {
  /** CA certificates (PEM) to trust instead of Node's default store, e.g. the RDS bundle (ROTATOR_TLS_CA_FILE). */
  ca?: string | Buffer;
  /**
   * When the secret has no `ssl` key and the server answers that it does not support TLS, connect again in
   * plaintext (with a warning). Never used for a certificate failure, nor when the secret says `"ssl": true`.
   */
  allowPlaintextFallback?: boolean;
}

export interface ConnectionSettings {
  connectTimeoutMs: number;
  statementTimeoutMs: number;
  tls: TlsOptions;
}

export interface ConnectionOptions {
  /** Bound on connect + TLS + login, in ms (default 5000). */
  connectTimeoutMs?: number;
  /** Bound on each statement, in ms (default 15000). */
  statementTimeoutMs?: number;
  tls?: TlsOptions;
}

/** Validated settings with defaults; `factory` names the caller in the error. */
export function connectionSettings(options: ConnectionOptions, factory: string): ConnectionSettings {
  for (const key of ['connectTimeoutMs', 'statementTimeoutMs'] as const) {
    const value = options[key];
    // 0 would mean "no timeout" to the drivers: a hung server would then hold the rotation forever.
    if (value !== undefined && !(Number.isInteger(value) && value > 0)) {
      throw new RotatorError('INVALID_INPUT', `${factory}: ${key} must be a positive whole number of milliseconds`);
    }
  }
  return { connectTimeoutMs: options.connectTimeoutMs ?? 5_000, statementTimeoutMs: options.statementTimeoutMs ?? 15_000, tls: options.tls ?? {} };
}

/** The fields of a parsed database secret these rules look at. */
export interface Credential {
  host: string;
  username: string;
  password: string;
  ssl: boolean | undefined;
}

/** Every password we hold is masked in logs before anything can print it. */
export function rememberPasswords(ctx: RotatorContext, ...secrets: ReadonlyArray<Credential | undefined>): void {
  for (const s of secrets) if (s !== undefined) ctx.logger.redactor.add(s.password);
}

export function checkStrategy(strategy: Strategy, supported: readonly Strategy[], rotator: string): void {
  if (!supported.includes(strategy)) {
    throw new RotatorError('UNSUPPORTED_ENGINE', `the ${rotator} rotator does not support the ${strategy} strategy; use ${supported.join(' or ')}`);
  }
}

/** Single-user and dual-password change only the password: pending must name current's user and host. */
export function assertSameUser(pending: Credential, current: Credential, strategy: Strategy): void {
  if (pending.username !== current.username || pending.host !== current.host) {
    throw new RotatorError(
      'CREDENTIAL_MISMATCH',
      `the pending secret names user "${pending.username}" at ${pending.host}, but the current one names user "${current.username}" at ${current.host}; ${strategy} rotation changes only the password`,
    );
  }
}

/** Alternating users: pending must name the other user of current's `_clone` pair, on the same host. */
export function assertAlternate(pending: Credential, current: Credential): void {
  const expected = alternateUsername(current.username);
  if (pending.username !== expected || pending.host !== current.host) {
    throw new RotatorError(
      'CREDENTIAL_MISMATCH',
      `the pending secret names user "${pending.username}" at ${pending.host}; alternating-users rotation expects user "${expected}" at ${current.host}`,
    );
  }
}

/** Host names compare without regard to case, as DNS does. */
export function sameHost(a: string, b: string): boolean {
  return a.toLowerCase() === b.toLowerCase();
}

/**
 * The master secret, when the strategy needs one: present, on current's host or on the server that feeds it (current
 * names one of `replicaHosts`: an RDS read replica or reader endpoint of the master's server), and not the user being
 * changed (`changed` is the pending user for `set`, the retired one for `revoke`).
 */
export function checkedMaster<S extends Credential>(
  master: S | undefined,
  current: Credential,
  changed: Credential,
  strategy: Strategy,
  role: 'pending' | 'retired' = 'pending',
  replicaHosts: readonly string[] = [],
): S {
  if (master === undefined) {
    throw new RotatorError('INVALID_INPUT', `the ${strategy} strategy needs the master secret named by "masterarn" of the current secret`);
  }
  if (!sameHost(master.host, current.host) && !replicaHosts.some((host) => sameHost(host, current.host))) {
    // The master's password must not be offered to a host its secret does not name, nor act for a server it does not feed.
    throw new RotatorError(
      'CREDENTIAL_MISMATCH',
      `the master secret names host ${master.host}, but the secret being rotated names ${current.host}, which is neither that host nor a read replica or reader endpoint of its server` +
        (replicaHosts.length === 0 ? ' (the master has none known)' : ` (those are ${replicaHosts.join(', ')})`) +
        '; point "masterarn" at the master secret of the server the secret names',
    );
  }
  if (master.username === changed.username) {
    throw new RotatorError('CREDENTIAL_MISMATCH', `the ${role} user "${changed.username}" is the master user itself; the master secret must name another user`);
  }
  return master;
}

/** A login that uses what two secrets say: plaintext only when both say so, TLS when either asks for it. */
export function strictestSsl(a: Credential, b: Credential): boolean | undefined {
  if (a.ssl === true || b.ssl === true) return true;
  return a.ssl === false && b.ssl === false ? false : undefined;
}

/**
 * Where the master logs in. On current's own host (current names the master's host): current's host and port, as
 * AWS's templates and this rotator always did, so a master secret without `port` keeps working. On a replica
 * (current names a read replica or reader endpoint, which are read-only): the master's host and port, the primary
 * or writer, whose changes reach the replica.
 */
export function masterHostPort(current: { host: string; port: number }, master: { host: string; port: number }): { host: string; port: number } {
  return sameHost(master.host, current.host) ? { host: current.host, port: current.port } : { host: master.host, port: master.port };
}

/** The master logs in to current's server: plaintext only when both secrets say so, TLS when either asks for it. */
export function masterSsl(current: Credential, master: Credential): boolean | undefined {
  return strictestSsl(current, master);
}

/** Like AWS's template, and for the same confused-deputy reason: the master only acts for a credential that works. */
export function currentNoLongerLogsIn(where: string, current: Credential, pending: Credential): RotatorError {
  return new RotatorError(
    'TARGET_AUTH_FAILED',
    `the current secret no longer logs in to ${where} as user "${current.username}"; refusing to set user "${pending.username}" from it. Restore a working current value first`,
  );
}

/**
 * The strategies whose `set` the engine may run before `works` (Rotator.setBeforeWorks): single-user's changeAsUser
 * logs in only with the stored credentials, changes nothing when they are refused, and sets the same password again
 * when one of them still logs in. Not alternating-users (`works` answers false without a login there anyway) nor
 * dual-password (setting it again would push current's password out of the secondary slot).
 */
export const SET_BEFORE_WORKS: readonly Strategy[] = ['single-user'];

/**
 * Single user: changes the password while logged in as the user, with current's password and then previous's
 * (AWS's template order: previous still works when an earlier run changed the password but did not finish).
 * Previous is read only when current's login is refused, and tried only when it names the same user and host.
 * `change` throws TARGET_AUTH_FAILED when a login is refused, which moves on to the next credential.
 */
export async function changeAsUser<S extends Credential>(
  input: { current: S; readPrevious: () => Promise<S | undefined>; where: string },
  ctx: RotatorContext,
  change: (login: S, label: 'current' | 'previous') => Promise<void>,
): Promise<void> {
  const { current, where } = input;
  const attempt = async (login: S, label: 'current' | 'previous'): Promise<boolean> => {
    try {
      await change(login, label);
      return true;
    } catch (error) {
      if (!(error instanceof RotatorError && error.code === 'TARGET_AUTH_FAILED')) throw error;
      ctx.logger.debug(`the ${label} password of the user no longer logs in`, { user: current.username, host: current.host });
      return false;
    }
  };
  if (await attempt(current, 'current')) return;
  const previous = await input.readPrevious();
  if (previous !== undefined) {
    rememberPasswords(ctx, previous);
    if (previous.username !== current.username || previous.host !== current.host) {
      ctx.logger.debug('not trying the previous secret: it names another user or host', { user: previous.username, host: previous.host });
    } else if (await attempt({ ...previous, ssl: current.ssl }, 'previous')) {
      // With current's TLS setting: an older value must not weaken the connection.
      return;
    }
  }
  throw new RotatorError(
    'TARGET_AUTH_FAILED',
    `cannot log in to ${where} as user "${current.username}" with the current${previous === undefined ? '' : ' or the previous'} password, so the new one cannot be set; reset the password by hand and store it as the current secret value`,
  );
}

/**
 * The purger's revoke (Rotator.revoke), the same on every database server. The rotator parses the secrets and
 * supplies the server-specific actions; these rules decide whether anything may be done at all.
 */
export interface RevokeRequest<S extends Credential> {
  strategy: Strategy;
  retired: S;
  current: S;
  pending: S | undefined;
  master: S | undefined;
  /** Hosts the master's server feeds (RevokeInput.masterReplicaHosts): current may name one of them. */
  masterReplicaHosts?: readonly string[];
}

export interface RevokeActions<S extends Credential> {
  /** Where current's server is, for messages ("PostgreSQL at host:port"). */
  where: string;
  /**
   * True only when the server asked for this secret's password and let it in (`works`, passwordMustBeChecked);
   * false when it refuses; throws on anything else (outage, TLS), which must not be taken for "refused".
   */
  passwordWorks(secret: S): Promise<boolean>;
  /**
   * True when current's credential can be used (what `set` demands before the master acts for a secret); may throw
   * when current's server cannot do what the strategy needs (MySQL dual passwords).
   */
  currentWorks(current: S): Promise<boolean>;
  /** alternating-users: as `master` on its host (masterHostPort), sets `password` on every account of `user` (a password nobody stores). */
  replacePassword(user: string, master: S, password: string): Promise<void>;
  /** dual-password: as `master` on its host (masterHostPort), ends the secondary password of every account of `user`. */
  discardOldPassword?(user: string, master: S): Promise<void>;
}

/**
 * A password nobody stores, for the retired alternate user: 40 characters from node:crypto (shared/password.ts),
 * printable ASCII (SCRAM-safe), with every character class (MySQL's validate_password accepts it) and none of the
 * characters AWS's templates exclude. Registered with the redactor before it goes anywhere.
 */
export function unstoredPassword(ctx: RotatorContext): string {
  const password = generatePassword({ length: 40, excludeCharacters: ':/@"\'\\`' });
  ctx.logger.redactor.add(password);
  return password;
}

function sameAccount(a: Credential, b: { username: string; host: string }): boolean {
  return a.username === b.username && a.host === b.host;
}

/**
 * Makes current's server refuse a retired credential it still accepts, without ever touching the credential of
 * CURRENT or PENDING. In order:
 *
 * 1. single-user: the password was replaced, nothing older stays valid: `not-needed` without connecting.
 * 2. The retired value is CURRENT's credential (alternating users: CURRENT's user, whose password has been
 *    replaced since; dual password: CURRENT's password) or PENDING's: `not-needed`.
 * 3. It names a user (or host) this secret does not rotate: `not-needed` when that login is refused, else
 *    CREDENTIAL_MISMATCH (the master acts only on current's server, for the users of this secret).
 * 4. The master is checked as for `set` (present, same host, not the retired user) before anything connects.
 * 5. CURRENT must log in, as `set` demands, so a secret edited to name another user cannot make the master act for
 *    it (confused deputy), and so the retired credential is never taken away while it may be the last one working.
 * 6. PENDING names the retired user and already logs in: the retired password has been replaced: `not-needed`.
 * 7. The retired credential is refused (passwordMustBeChecked): `not-needed`.
 * 8. Otherwise, as the master:
 *    - alternating-users: the retired user (the alternate of CURRENT's) gets a random password nobody stores.
 *      Not a lock (NOLOGIN / ACCOUNT LOCK): the next rotation sets this user's password through the master anyway,
 *      so a random password needs no undo, while a lock would have to be lifted by the next rotation, and a
 *      rotation that knows nothing of it would set a password on an account that still cannot log in.
 *    - dual-password: DISCARD OLD PASSWORD ends the secondary password RETAIN CURRENT PASSWORD kept.
 *    `revoked`.
 *
 * The pending and retired checks run last, right before the change, to keep the window in which a rotation could
 * set a password between check and change small; the purger runs under the secret's rotation lock besides.
 * Sessions already open with the retired credential are not ended: the server only checks passwords at login.
 */
export async function revokeRetired<S extends Credential>(request: RevokeRequest<S>, ctx: RotatorContext, actions: RevokeActions<S>): Promise<RevokeOutcome> {
  const { strategy, retired, current, pending } = request;
  rememberPasswords(ctx, retired, current, pending, request.master);
  const about = { user: retired.username, host: retired.host, strategy };
  const notNeeded = (reason: string): RevokeOutcome => {
    ctx.logger.info(`nothing to revoke: ${reason}`, about);
    return 'not-needed';
  };

  if (strategy === 'single-user') return notNeeded('single-user rotation replaces the password, so no older one stays valid');
  if (sameAccount(retired, current) && (strategy === 'alternating-users' || retired.password === current.password)) {
    return notNeeded(strategy === 'alternating-users' ? "the retired value names the current user, whose password has since been replaced" : 'the retired value holds the current password');
  }
  if (pending !== undefined && sameAccount(retired, pending) && retired.password === pending.password) {
    return notNeeded('the retired value holds the pending credential');
  }

  // With TLS when either secret asks for it: an older value must not weaken the connection.
  const retiredLogin: S = { ...retired, ssl: strictestSsl(current, retired) };
  const expected = strategy === 'alternating-users' ? { username: alternateUsername(current.username), host: current.host } : current;
  if (!sameAccount(retired, expected)) {
    if (!(await actions.passwordWorks(retiredLogin))) return notNeeded('the retired value names a user or host this secret no longer rotates, and its login is refused');
    throw new RotatorError(
      'CREDENTIAL_MISMATCH',
      `the retired secret names user "${retired.username}" at ${retired.host}, which is not ${
        strategy === 'alternating-users' ? `the alternate user "${expected.username}"` : `the user "${current.username}"`
      } of the current secret at ${current.host}, and it still logs in; revoke it by hand (change its password or drop the user), then purge again`,
    );
  }

  const master = checkedMaster(request.master, current, retired, strategy, 'retired', request.masterReplicaHosts);
  if (!(await actions.currentWorks(current))) {
    throw new RotatorError(
      'TARGET_AUTH_FAILED',
      `the current secret no longer logs in to ${actions.where} as user "${current.username}"; refusing to revoke the retired password of user "${retired.username}", which may be the last one that works. Restore a working current value first`,
    );
  }
  if (pending !== undefined && sameAccount(retired, pending) && (await actions.passwordWorks(pending))) {
    return notNeeded('the pending password of this user already logs in, so the retired one has been replaced');
  }
  // Same server, port and database as current: that is where the retired user must no longer get in.
  if (!(await actions.passwordWorks({ ...current, username: retired.username, password: retired.password, ssl: retiredLogin.ssl }))) {
    return notNeeded('the target already refuses the retired password');
  }

  if (strategy === 'alternating-users') {
    await actions.replacePassword(retired.username, master, unstoredPassword(ctx));
    ctx.logger.info('revoked the retired password: the alternate user now has a random password nobody stores; the next rotation sets its new one', about);
    return 'revoked';
  }
  if (actions.discardOldPassword === undefined) {
    throw new RotatorError('UNSUPPORTED_ENGINE', `${actions.where} has no ${strategy} strategy to revoke a password of`);
  }
  await actions.discardOldPassword(retired.username, master);
  ctx.logger.info('revoked the retired password: discarded the secondary password kept by RETAIN CURRENT PASSWORD', about);
  return 'revoked';
}

/** Connection settings for the database rotators from the shared config (reads the CA bundle once). */
export function databaseRotatorOptions(config: Pick<Config, 'connectTimeoutMs' | 'statementTimeoutMs' | 'tlsCaFile' | 'allowPlaintextFallback'>): ConnectionOptions {
  const tls = {
    allowPlaintextFallback: config.allowPlaintextFallback,
    ...(config.tlsCaFile === undefined ? {} : { ca: readCa(config.tlsCaFile) }),
  };
  return { connectTimeoutMs: config.connectTimeoutMs, statementTimeoutMs: config.statementTimeoutMs, tls };
}

function readCa(path: string): Buffer {
  try {
    return readFileSync(path);
  } catch (error) {
    throw new RotatorError('INVALID_INPUT', `ROTATOR_TLS_CA_FILE names ${path}, which cannot be read: ${(error as Error).message}`);
  }
}
