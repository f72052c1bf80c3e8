import { describe, expect, it } from 'vitest';
import { alternateUsername, CLONE_SUFFIX } from '../../shared/alternate-user.js';
import type { ErrorCode } from '../../shared/errors.js';
import { silentLogger } from '../../shared/logger.js';
import type { SecretObject } from '../../shared/secret.js';
import { MYSQL_EXCLUDE_CHARACTERS, createMysqlRotator, parseMysqlSecret } from '../../rotators/mysql/index.js';
import { alternateUsername as postgresAlternate } from '../../rotators/postgres/index.js';

const rotator = createMysqlRotator({ connectTimeoutMs: 200 });
const ctx = { logger: silentLogger() };

const base = {
  engine: 'mysql',
  host: 'db.internal.example',
  port: '3307',
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

describe('mysql rotator: identity', () => {
  it('serves mysql, aurora-mysql and mariadb with three strategies and AWS exclusions', () => {
    expect([...rotator.engines]).toEqual(['mysql', 'aurora-mysql', 'mariadb']);
    expect([...rotator.strategies]).toEqual(['single-user', 'alternating-users', 'dual-password']);
    // AWS's MySQL template default: slash, at, double quote, single quote, backslash.
    expect(rotator.defaultExcludeCharacters).toBe('/@"\'\\');
    expect(MYSQL_EXCLUDE_CHARACTERS).toBe(rotator.defaultExcludeCharacters);
  });
});

describe('createMysqlRotator options', () => {
  it('refuses timeouts the driver would read as "never"', () => {
    for (const bad of [0, -1, 1.5, Number.NaN]) {
      expect(errorOf(() => createMysqlRotator({ connectTimeoutMs: bad })).code).toBe('INVALID_INPUT');
      expect(errorOf(() => createMysqlRotator({ statementTimeoutMs: bad })).message).toMatch(/statementTimeoutMs/);
    }
  });

  it('refuses a user-name limit no server has', () => {
    for (const bad of [0, -5, 129, 16.5]) expect(errorOf(() => createMysqlRotator({ usernameCharacterLimit: bad })).message).toMatch(/USERNAME_CHARACTER_LIMIT/);
    expect(() => createMysqlRotator({ usernameCharacterLimit: 16 })).not.toThrow();
  });
});

describe('the secret', () => {
  it('applies defaults: port 3306, no database, TLS verified unless ssl says otherwise', () => {
    const parsed = parseMysqlSecret(without(base, 'port', 'dbname', 'ssl'), 'the current secret');
    expect(parsed).toMatchObject({ port: 3306, dbname: undefined, ssl: undefined, allowPublicKeyRetrieval: false });
    expect(parseMysqlSecret(base, 'x')).toMatchObject({ port: 3307, dbname: 'orders', ssl: true });
    expect(parseMysqlSecret({ ...base, ssl: false, allowPublicKeyRetrieval: 'true' }, 'x')).toMatchObject({ ssl: false, allowPublicKeyRetrieval: true });
  });

  it('names every bad key and never a value', () => {
    const e = errorOf(() => rotator.validate({ ...base, engine: 'postgres', port: 'http', password: '', host: '/var/run/mysqld.sock' }, 'the current secret'));
    expect(e.code).toBe('INVALID_SECRET');
    expect(e.message).toMatch(/engine: must be one of mysql, aurora-mysql, mariadb/);
    expect(e.message).toMatch(/port/);
    expect(e.message).toMatch(/password/);
    expect(e.message).toMatch(/host: must be a host name or IP address/);
    expect(e.message).not.toContain('old-Password-123');
    expect(errorOf(() => rotator.validate(without(base, 'username'), 'the current secret')).message).toMatch(/username: required/);
  });

  it('refuses NUL characters in the user name and the password', () => {
    expect(errorOf(() => rotator.validate({ ...base, username: 'a\0b' }, 'x')).message).toMatch(/username: must not contain control characters \(NUL/);
    expect(errorOf(() => rotator.validate({ ...base, password: 'a\0bcdefgh' }, 'x')).message).toMatch(/password: must not contain a NUL/);
  });

  it('limits user names by the engine: 32 characters for MySQL and Aurora, 80 for MariaDB', () => {
    expect(() => rotator.validate({ ...base, username: 'u'.repeat(32) }, 'x')).not.toThrow();
    expect(errorOf(() => rotator.validate({ ...base, username: 'u'.repeat(33) }, 'x')).message).toMatch(/at most 32 characters \(the mysql limit\); it has 33/);
    expect(errorOf(() => rotator.validate({ ...base, engine: 'aurora-mysql', username: 'u'.repeat(33) }, 'x')).code).toBe('INVALID_SECRET');
    expect(() => rotator.validate({ ...base, engine: 'mariadb', username: 'é'.repeat(80) }, 'x')).not.toThrow();
    expect(errorOf(() => rotator.validate({ ...base, engine: 'mariadb', username: 'é'.repeat(81) }, 'x')).message).toMatch(/at most 80 characters/);
  });

  it('USERNAME_CHARACTER_LIMIT replaces the engine limit (16 for MySQL 5.6)', () => {
    const old = createMysqlRotator({ usernameCharacterLimit: 16 });
    expect(() => old.validate({ ...base, username: 'u'.repeat(16) }, 'x')).not.toThrow();
    expect(errorOf(() => old.validate({ ...base, username: 'u'.repeat(17) }, 'x')).message).toMatch(/at most 16 characters \(USERNAME_CHARACTER_LIMIT\)/);
    const roomy = createMysqlRotator({ usernameCharacterLimit: 128 });
    expect(() => roomy.validate({ ...base, engine: 'mariadb', username: 'u'.repeat(128) }, 'x')).not.toThrow();
  });
});

describe('createPending', () => {
  const generatePassword = () => 'New-Password-456';

  it('single-user and dual-password replace only the password, keeping every other key as stored', () => {
    for (const strategy of ['single-user', 'dual-password'] as const) {
      expect(rotator.createPending({ strategy, current: base, generatePassword })).toEqual({ ...base, password: 'New-Password-456' });
    }
  });

  it('alternating-users switches to the _clone user and back', () => {
    const clone = rotator.createPending({ strategy: 'alternating-users', current: base, generatePassword });
    expect(clone).toEqual({ ...base, username: 'app_clone', password: 'New-Password-456' });
    expect(rotator.createPending({ strategy: 'alternating-users', current: clone, generatePassword }).username).toBe('app');
  });

  it('refuses an alternate name over the limit, and a password MySQL cannot take', () => {
    expect(errorOf(() => rotator.createPending({ strategy: 'alternating-users', current: { ...base, username: 'u'.repeat(27) }, generatePassword })).message).toMatch(
      /alternate user .* would be 33 characters, over the limit of 32; use a name of at most 26/,
    );
    expect(() => rotator.createPending({ strategy: 'alternating-users', current: { ...base, username: 'u'.repeat(26) }, generatePassword })).not.toThrow();
    expect(errorOf(() => rotator.createPending({ strategy: 'single-user', current: base, generatePassword: () => 'a\0b' })).code).toBe('PASSWORD_POLICY');
  });
});

describe('masterSecretId', () => {
  it('needs masterarn for alternating-users and dual-password, not for single-user', () => {
    expect(rotator.masterSecretId(base, 'single-user')).toBeUndefined();
    expect(rotator.masterSecretId(base, 'alternating-users')).toBe(base.masterarn);
    expect(rotator.masterSecretId(base, 'dual-password')).toBe(base.masterarn);
    for (const strategy of ['alternating-users', 'dual-password'] as const) {
      const e = errorOf(() => rotator.masterSecretId(without(base, 'masterarn'), strategy));
      expect(e.code).toBe('INVALID_SECRET');
      expect(e.message).toMatch(new RegExp(`masterarn: required for the ${strategy} strategy`));
    }
  });
});

describe('set: checks before any connection', () => {
  const pendingFor = (extra: SecretObject) => ({ ...base, password: 'New-Password-456', ...extra });

  it('single-user and dual-password refuse a pending value that names another user or host', async () => {
    for (const strategy of ['single-user', 'dual-password'] as const) {
      for (const pending of [pendingFor({ username: 'other' }), pendingFor({ host: 'elsewhere.example' })]) {
        const e = await rejectionOf(() => rotator.set({ strategy, current: base, pending, master: base }, ctx));
        expect(e.code).toBe('CREDENTIAL_MISMATCH');
      }
    }
  });

  it('alternating-users refuses a pending user that is not the alternate', async () => {
    const e = await rejectionOf(() => rotator.set({ strategy: 'alternating-users', current: base, pending: pendingFor({ username: 'intruder' }), master: base }, ctx));
    expect(e.code).toBe('CREDENTIAL_MISMATCH');
    expect(e.message).toMatch(/expects user "app_clone"/);
  });

  it('the strategies that act as the master need it, on the same host, and not as the pending user', async () => {
    const clone = pendingFor({ username: 'app_clone' });
    expect((await rejectionOf(() => rotator.set({ strategy: 'alternating-users', current: base, pending: clone }, ctx))).code).toBe('INVALID_INPUT');
    expect((await rejectionOf(() => rotator.set({ strategy: 'dual-password', current: base, pending: pendingFor({}) }, ctx))).message).toMatch(/dual-password strategy needs the master secret/);
    const elsewhere = { ...base, username: 'admin', host: 'other.example' };
    expect((await rejectionOf(() => rotator.set({ strategy: 'alternating-users', current: base, pending: clone, master: elsewhere }, ctx))).message).toMatch(
      /master secret names host other.example/,
    );
    const sameUser = { ...base, username: 'app_clone' };
    expect((await rejectionOf(() => rotator.set({ strategy: 'alternating-users', current: base, pending: clone, master: sameUser }, ctx))).message).toMatch(
      /is the master user itself/,
    );
  });
});

describe('the shared _clone scheme', () => {
  it('is one implementation for PostgreSQL and MySQL', () => {
    expect(CLONE_SUFFIX).toBe('_clone');
    expect(postgresAlternate).toBe(alternateUsername);
    expect(alternateUsername('app_clone')).toBe('app');
    expect(alternateUsername('_clone')).toBe('_clone_clone');
  });
});
