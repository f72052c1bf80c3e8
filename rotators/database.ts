import { RotatorError } from '../shared/errors.js';
import type { RotatorContext } from '../shared/rotator.js';
import { alternateUsername } from '../shared/alternate-user.js';
import type { Strategy } from '../shared/store.js';

/**
 * The rules every database rotator follows, whatever the server: which credentials may be used for what, the
 * order logins are tried in, and the connection bounds. Each rotator keeps only what its server does differently.
 */
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

/** The master secret, when the strategy needs one: present, on current's host, and not the user being changed. */
export function checkedMaster<S extends Credential>(master: S | undefined, current: Credential, pending: Credential, strategy: Strategy): S {
  if (master === undefined) {
    throw new RotatorError('INVALID_INPUT', `the ${strategy} strategy needs the master secret named by "masterarn" of the current secret`);
  }
  if (master.host !== current.host) {
    // The master's password must not be offered to a host its secret does not name.
    throw new RotatorError('CREDENTIAL_MISMATCH', `the master secret names host ${master.host}, but the secret being rotated names ${current.host}; both must name the same server`);
  }
  if (master.username === pending.username) {
    throw new RotatorError('CREDENTIAL_MISMATCH', `the pending user "${pending.username}" is the master user itself; the master secret must name another user`);
  }
  return master;
}

/** The master logs in to current's server: plaintext only when both secrets say so, TLS when either asks for it. */
export function masterSsl(current: Credential, master: Credential): boolean | undefined {
  if (current.ssl === true || master.ssl === true) return true;
  return current.ssl === false && master.ssl === false ? false : undefined;
}

/** Like AWS's template, and for the same confused-deputy reason: the master only acts for a credential that works. */
export function currentNoLongerLogsIn(where: string, current: Credential, pending: Credential): RotatorError {
  return new RotatorError(
    'TARGET_AUTH_FAILED',
    `the current secret no longer logs in to ${where} as user "${current.username}"; refusing to set user "${pending.username}" from it. Restore a working current value first`,
  );
}

/**
 * Single user: changes the password while logged in as the user, with current's password and then previous's
 * (AWS's template order: previous still works when an earlier run changed the password but did not finish).
 * Previous is tried only when it names the same user and host. `change` throws TARGET_AUTH_FAILED when a login is
 * refused, which moves on to the next credential.
 */
export async function changeAsUser<S extends Credential>(
  input: { current: S; previous: S | undefined; where: string },
  ctx: RotatorContext,
  change: (login: S, label: 'current' | 'previous') => Promise<void>,
): Promise<void> {
  const { current, previous, where } = input;
  const logins: Array<{ label: 'current' | 'previous'; login: S }> = [{ label: 'current', login: current }];
  if (previous !== undefined) {
    rememberPasswords(ctx, previous);
    if (previous.username === current.username && previous.host === current.host) {
      // With current's TLS setting: an older value must not weaken the connection.
      logins.push({ label: 'previous', login: { ...previous, ssl: current.ssl } });
    } else {
      ctx.logger.info('not trying the previous secret: it names another user or host', { user: previous.username, host: previous.host });
    }
  }
  for (const { label, login } of logins) {
    try {
      await change(login, label);
      return;
    } catch (error) {
      if (!(error instanceof RotatorError && error.code === 'TARGET_AUTH_FAILED')) throw error;
      ctx.logger.info(`the ${label} password of the user no longer logs in`, { user: current.username, host: current.host });
    }
  }
  throw new RotatorError(
    'TARGET_AUTH_FAILED',
    `cannot log in to ${where} as user "${current.username}" with the current${previous === undefined ? '' : ' or the previous'} password, so the new one cannot be set; reset the password by hand and store it as the current secret value`,
  );
}
