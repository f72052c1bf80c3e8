import { describe, expect, it } from 'vitest';
import { isRotatorError, type ErrorCode } from '../../shared/errors.js';
import { silentLogger } from '../../shared/logger.js';
import type { SecretObject } from '../../shared/secret.js';
import { alternateUsername, createPostgresRotator } from '../../rotators/postgres/index.js';

const rotator = createPostgresRotator({ connectTimeoutMs: 200 });
const ctx = { logger: silentLogger() };

const base = {
  engine: 'postgres',
  host: 'db.internal.example',
  port: '6543',
  username: 'app',
  password: 'old-Password-123',
  dbname: 'orders',
  masterarn: 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:master-AbCdEf',
  ssl: 'true',
  proxy: { note: 'kept as is' },
} satisfies SecretObject;

function without(value: SecretObject, ...keys: string[]): SecretObject {
  return Object.fromEntries(Object.entries(value).filter(([k]) => !keys.includes(k)));
}

function errorOf(run: () => unknown): { code?: string; message: string } {
  try {
    run();
  } catch (error) {
    return error as { code?: string; message: string };
  }
  throw new Error('expected an error');
}

async function rejectionOf(run: () => Promise<unknown>): Promise<Error & { code?: ErrorCode }> {
  try {
    await run();
  } catch (error) {
    return error as Error & { code?: ErrorCode };
  }
  throw new Error('expected a rejection');
}

describe('postgres rotator: identity', () => {
  it('serves postgres and aurora-postgresql with the two strategies and AWS exclusions', () => {
    expect([...rotator.engines]).toEqual(['postgres', 'aurora-postgresql']);
    expect([...rotator.strategies]).toEqual(['single-user', 'alternating-users']);
    expect(rotator.defaultExcludeCharacters).toBe(':/@"\'\\');
    expect([...rotator.defaultExcludeCharacters]).toHaveLength(6);
  });
});

describe('createPostgresRotator options', () => {
  it('refuses timeouts the driver would read as "never"', () => {
    for (const bad of [0, -1, 1.5, Number.NaN]) {
      expect(errorOf(() => createPostgresRotator({ connectTimeoutMs: bad })).code).toBe('INVALID_INPUT');
      expect(errorOf(() => createPostgresRotator({ statementTimeoutMs: bad })).message).toMatch(/statementTimeoutMs/);
    }
  });
});

describe('postgres rotator: validate', () => {
  it('accepts an RDS secret, a string port, and the Aurora engine', () => {
    expect(() => rotator.validate(base, 'secret db/app')).not.toThrow();
    expect(() => rotator.validate({ ...base, engine: 'aurora-postgresql', port: 5432 }, 'secret db/app')).not.toThrow();
    const noDefaults = without(base, 'port', 'dbname');
    expect(() => rotator.validate(noDefaults, 'secret db/app')).not.toThrow();
  });

  it('names every missing key, and never the password', () => {
    const e = errorOf(() => rotator.validate({ password: 'a-secret-value-99' }, 'secret db/app'));
    expect(e.code).toBe('INVALID_SECRET');
    expect(e.message).toContain('secret db/app');
    for (const key of ['engine', 'host', 'username']) expect(e.message).toContain(key);
    expect(e.message).not.toContain('a-secret-value-99');
  });

  it('refuses another engine, a bad port, a bad ssl flag and a socket path, naming each key', () => {
    const e = errorOf(() => rotator.validate({ ...base, engine: 'mysql', port: 'eighty', ssl: 'maybe', host: '/var/run/postgresql' }, 'secret db/app'));
    expect(e.code).toBe('INVALID_SECRET');
    expect(e.message).toMatch(/engine: must be one of postgres, aurora-postgresql/);
    expect(e.message).toMatch(/port:/);
    expect(e.message).toMatch(/ssl:/);
    expect(e.message).toMatch(/host: must be a host name or IP address/);
    expect(e.message).not.toContain(base.password);
  });

  it('limits usernames to 63 bytes of UTF-8 and refuses NUL', () => {
    expect(() => rotator.validate({ ...base, username: 'a'.repeat(63) }, 's')).not.toThrow();
    expect(() => rotator.validate({ ...base, username: 'é'.repeat(31) + 'a' }, 's')).not.toThrow(); // 63 bytes
    for (const username of ['a'.repeat(64), 'é'.repeat(32), 'ü'.repeat(40), 'bad\0name']) {
      const e = errorOf(() => rotator.validate({ ...base, username }, 's'));
      expect(e.code).toBe('INVALID_SECRET');
      expect(e.message).toMatch(/username: must (be at most 63 bytes|not contain control characters \(NUL)/);
    }
  });
});

describe('postgres rotator: createPending', () => {
  const fixed = (): string => 'new-Password-456';

  it('single-user: replaces only the password and keeps every other key as stored', () => {
    const current = structuredClone(base);
    const pending = rotator.createPending({ strategy: 'single-user', current, generatePassword: fixed });
    expect(pending).toEqual({ ...base, password: 'new-Password-456' });
    expect(pending.port).toBe('6543'); // not re-serialised as a number
    expect(pending.ssl).toBe('true');
    expect(current).toEqual(base); // the input is not mutated
  });

  it('alternating-users: app <-> app_clone, with a new password and the other keys kept', () => {
    const toClone = rotator.createPending({ strategy: 'alternating-users', current: base, generatePassword: fixed });
    expect(toClone).toEqual({ ...base, username: 'app_clone', password: 'new-Password-456' });
    const back = rotator.createPending({ strategy: 'alternating-users', current: toClone, generatePassword: () => 'third-Password-789' });
    expect(back).toEqual({ ...base, username: 'app', password: 'third-Password-789' });
    expect(alternateUsername('rôle_ü')).toBe('rôle_ü_clone');
    expect(alternateUsername('_clone')).toBe('_clone_clone');
  });

  it('alternating-users: refuses a name whose alternate would pass 63 bytes (multibyte aware)', () => {
    const fits = 'é'.repeat(28) + 'a'; // 57 bytes + "_clone" = 63
    expect(rotator.createPending({ strategy: 'alternating-users', current: { ...base, username: fits }, generatePassword: fixed }).username).toBe(`${fits}_clone`);
    const tooLong = 'é'.repeat(29); // 58 bytes + "_clone" = 64, though only 35 characters
    const e = errorOf(() => rotator.createPending({ strategy: 'alternating-users', current: { ...base, username: tooLong }, generatePassword: fixed }));
    expect(e.code).toBe('INVALID_SECRET');
    expect(e.message).toMatch(/64 bytes.*63-byte limit/);
    // Single-user has no suffix, so the same name rotates.
    expect(rotator.createPending({ strategy: 'single-user', current: { ...base, username: tooLong }, generatePassword: fixed }).username).toBe(tooLong);
  });

  it('refuses an invalid current secret, an unsupported strategy and a non-ASCII generated password', () => {
    expect(errorOf(() => rotator.createPending({ strategy: 'single-user', current: { ...base, engine: 'mysql' }, generatePassword: fixed })).code).toBe('INVALID_SECRET');
    expect(errorOf(() => rotator.createPending({ strategy: 'dual-password', current: base, generatePassword: fixed })).code).toBe('UNSUPPORTED_ENGINE');
    const e = errorOf(() => rotator.createPending({ strategy: 'single-user', current: base, generatePassword: () => 'naïve-password-1' }));
    expect(e.code).toBe('INVALID_SECRET');
    expect(e.message).not.toContain('naïve-password-1');
  });
});

describe('postgres rotator: masterSecretId', () => {
  it('is masterarn for alternating users, required there, and unused for single-user', () => {
    expect(rotator.masterSecretId(base, 'alternating-users')).toBe(base.masterarn);
    const noMaster = without(base, 'masterarn');
    const e = errorOf(() => rotator.masterSecretId(noMaster, 'alternating-users'));
    expect(e.code).toBe('INVALID_SECRET');
    expect(e.message).toContain('masterarn');
    expect(rotator.masterSecretId(noMaster, 'single-user')).toBeUndefined();
  });
});

describe('postgres rotator: set refuses mismatched credentials before connecting', () => {
  // db.internal.example does not resolve: reaching the network would give TARGET_UNREACHABLE, not these codes.
  const pending = { ...base, password: 'new-Password-456' };

  it('single-user: another user or host', async () => {
    for (const other of [{ username: 'someone_else' }, { host: 'other.example' }]) {
      const e = await rejectionOf(() => rotator.set({ strategy: 'single-user', current: base, pending: { ...pending, ...other } }, ctx));
      expect(e.code).toBe('CREDENTIAL_MISMATCH');
      expect(e.message).not.toContain('new-Password-456');
    }
  });

  it('alternating-users: not the alternate, another host, a master on another host, or no master', async () => {
    const master = { engine: 'postgres', host: base.host, username: 'master', password: 'master-Password-1' };
    const clone = { ...pending, username: 'app_clone' };
    const cases: Array<[Parameters<typeof rotator.set>[0], ErrorCode]> = [
      [{ strategy: 'alternating-users', current: base, pending, master }, 'CREDENTIAL_MISMATCH'],
      [{ strategy: 'alternating-users', current: base, pending: { ...clone, host: 'other.example' }, master }, 'CREDENTIAL_MISMATCH'],
      [{ strategy: 'alternating-users', current: base, pending: clone, master: { ...master, host: 'evil.example' } }, 'CREDENTIAL_MISMATCH'],
      [{ strategy: 'alternating-users', current: base, pending: clone, master: { ...master, username: 'app_clone' } }, 'CREDENTIAL_MISMATCH'],
      [{ strategy: 'alternating-users', current: base, pending: clone, master: { ...master, engine: 'mysql' } }, 'INVALID_SECRET'],
      [{ strategy: 'alternating-users', current: base, pending: clone }, 'INVALID_INPUT'],
    ];
    for (const [input, code] of cases) {
      const e = await rejectionOf(() => rotator.set(input, ctx));
      expect(e.code).toBe(code);
      expect(e.message).not.toMatch(/new-Password-456|master-Password-1/);
    }
  });

  it('validates the pending secret', async () => {
    const e = await rejectionOf(() => rotator.set({ strategy: 'single-user', current: base, pending: { ...pending, username: 'x'.repeat(64) } }, ctx));
    expect(isRotatorError(e, 'INVALID_SECRET')).toBe(true);
    expect(e.message).toContain('the pending secret');
  });
});
