import { RotatorError } from '../../shared/errors.js';
import type { Rotator } from '../../shared/rotator.js';
import type { SecretObject } from '../../shared/secret.js';
import type { Strategy } from '../../shared/store.js';

/**
 * A Rotator over an in-memory credential table, for the engine's unit tests: it lets a test see exactly what
 * the engine asked the target to do, and make any call fail. Real targets are tested against real servers.
 */
export class MemoryTarget implements Rotator {
  readonly engines = ['memory'];
  readonly strategies: readonly Strategy[] = ['single-user', 'alternating-users'];
  readonly defaultExcludeCharacters = ':/@"\'\\';
  /** user -> password the target accepts */
  readonly logins = new Map<string, string>();
  readonly calls: string[] = [];
  failNext: Partial<Record<'set' | 'test' | 'works' | 'revoke', Error>> = {};

  validate(value: SecretObject, what: string): void {
    if (value.engine !== 'memory' || typeof value.username !== 'string' || typeof value.password !== 'string') {
      throw new RotatorError('INVALID_SECRET', `${what} is invalid: engine, username and password are required`);
    }
  }

  masterSecretId(current: SecretObject, strategy: Strategy): string | undefined {
    return strategy === 'alternating-users' ? (current.masterarn as string) : undefined;
  }

  createPending({ current, strategy, generatePassword }: Parameters<Rotator['createPending']>[0]): SecretObject {
    const username = current.username as string;
    const next = strategy === 'alternating-users' ? (username.endsWith('_clone') ? username.slice(0, -6) : `${username}_clone`) : username;
    return { ...current, username: next, password: generatePassword() };
  }

  works(pending: SecretObject): Promise<boolean> {
    this.calls.push('works');
    return this.#maybeFail('works', () => this.logins.get(pending.username as string) === pending.password);
  }

  async set(input: Parameters<Rotator['set']>[0]): Promise<void> {
    const previous = await input.readPrevious?.();
    this.calls.push(`set:${input.strategy}:${previous === undefined ? 'no-previous' : 'previous'}:${input.master === undefined ? 'no-master' : 'master'}`);
    return this.#maybeFail('set', () => {
      this.logins.set(input.pending.username as string, input.pending.password as string);
    });
  }

  test(pending: SecretObject): Promise<void> {
    this.calls.push('test');
    return this.#maybeFail('test', () => {
      if (this.logins.get(pending.username as string) !== pending.password) {
        throw new RotatorError('TARGET_AUTH_FAILED', `login as ${String(pending.username)} refused`);
      }
    });
  }

  revoke({ retired, current }: Parameters<NonNullable<Rotator['revoke']>>[0]): Promise<'revoked' | 'not-needed'> {
    this.calls.push(`revoke:${String(retired.username)}`);
    return this.#maybeFail('revoke', () => {
      const user = retired.username as string;
      if (user === current.username || this.logins.get(user) !== retired.password) return 'not-needed';
      this.logins.set(user, 'revoked-unknown-password');
      return 'revoked';
    });
  }

  async #maybeFail<T>(call: 'set' | 'test' | 'works' | 'revoke', run: () => T): Promise<T> {
    await Promise.resolve();
    const error = this.failNext[call];
    if (error !== undefined) {
      this.failNext = { ...this.failNext, [call]: undefined };
      throw error;
    }
    return run();
  }
}
