import { readFileSync } from 'node:fs';
import { describe, expect, inject, beforeAll, it } from 'vitest';
import { generatePassword } from '../../shared/password.js';
import type { RevokeInput, RevokeOutcome, RotatorContext } from '../../shared/rotator.js';
import type { SecretObject } from '../../shared/secret.js';
import type { Strategy } from '../../shared/store.js';
import { revokeRetired, type Credential, type RevokeActions } from '../../rotators/database.js';
import { createMysqlRotator } from '../../rotators/mysql/index.js';
import { mysqlNativePasswordHash } from '../../rotators/mysql/password-hash.js';
import { createPostgresRotator } from '../../rotators/postgres/index.js';
import { canaryLogger, recordSecrets } from '../support/canary.js';
import { mariadbAdmin } from '../support/mariadb-admin.js';
import { postgresAdmin } from '../support/postgres-admin.js';
import { testTargets, type TestTarget } from '../support/targets.js';
import { rejection } from '../support/unreachable.js';

/**
 * The purger's second half, Rotator.revoke, against the real servers: a retired credential the target still accepts
 * stops working, CURRENT and PENDING are never touched, and the next rotation still succeeds. Logins are checked
 * with the plain drivers (test/support/*-admin.ts), not with the rotator's own connection code. MySQL 8's dual
 * passwords cannot run here: their statements and steps are unit-tested (test/unit/mysql-statements.test.ts,
 * test/unit/mysql-steps.test.ts) and the rules that guard them are run below with scripted actions.
 */
const lines: string[] = [];
const logger = canaryLogger(lines);
const ctx: RotatorContext = { logger };

const passwords: string[] = [];
function remember(password: string): string {
  passwords.push(password);
  recordSecrets(password, mysqlNativePasswordHash(password));
  return password;
}

function expectNoPassword(text: string): void {
  for (const p of passwords) {
    expect(text).not.toContain(p);
    expect(text).not.toContain(mysqlNativePasswordHash(p));
  }
}

const pg = inject('postgres');
const maria = inject('mariadb');
remember(pg.superuserPassword);
remember(maria.rootPassword);
const pgAdmin = postgresAdmin(pg);
const mariaAdmin = mariadbAdmin(maria);

interface Engine {
  target: TestTarget;
  rotator: ReturnType<typeof createPostgresRotator>;
  /** What the server stores as the user's password (pg_authid.rolpassword / mysql.user.authentication_string). */
  stored: (user: string) => Promise<string | undefined>;
  /** The form `stored` must have: the rotator sends only a verifier or a hash. */
  storedForm: RegExp;
}

const options = { connectTimeoutMs: 3_000, statementTimeoutMs: 5_000 };
const engines: Engine[] = testTargets().map((target) =>
  target.engine === 'postgres'
    ? {
        target,
        rotator: createPostgresRotator({ tls: { ca: readFileSync(target.caFile) }, ...options }),
        stored: (user) =>
          pgAdmin.admin(async (c) => (await c.query<{ p: string | null }>('SELECT rolpassword AS p FROM pg_authid WHERE rolname = $1', [user])).rows[0]?.p ?? undefined),
        storedForm: /^SCRAM-SHA-256\$4096:/,
      }
    : {
        target,
        rotator: createMysqlRotator({ tls: { ca: readFileSync(target.caFile) }, ...options }),
        stored: (user) => mariaAdmin.storedHash(user),
        storedForm: /^\*[0-9A-F]{40}$/,
      },
);

async function revoke(rotator: Engine['rotator'], input: RevokeInput): Promise<RevokeOutcome> {
  if (rotator.revoke === undefined) throw new Error('the rotator has no revoke');
  return rotator.revoke(input, ctx);
}

const login = (target: TestTarget, secret: SecretObject): Promise<boolean> => target.logsIn(secret.username as string, secret.password as string);

describe.each(engines)('$target.engine', ({ target, rotator, stored, storedForm }) => {
  const strategy: Strategy = 'alternating-users';
  const newPassword = (): string => remember(generatePassword({ excludeCharacters: rotator.defaultExcludeCharacters }));
  let counter = 0;
  const uniqueName = (prefix: string): string => `${prefix}_${target.engine}_${String((counter += 1))}`;
  let master: SecretObject;

  beforeAll(async () => {
    master = target.secret(uniqueName('rvk_master'), newPassword());
    await target.createUser(master.username as string, master.password as string, { master: true });
  });

  /** One alternating-users rotation, driven as the engine drives it (works, set, test). */
  async function rotate(current: SecretObject): Promise<SecretObject> {
    const pending = rotator.createPending({ strategy, current, generatePassword: newPassword });
    expect(await rotator.works(pending, ctx)).toBe(false);
    await rotator.set({ strategy, current, pending, master }, ctx);
    await rotator.test(pending, ctx);
    return pending;
  }

  /** app/p0 -> app_clone/p1 -> app/p2: the alternate user (app_clone) still holds the old password p1. */
  async function rotatedTwice(): Promise<{ v0: SecretObject; v1: SecretObject; v2: SecretObject }> {
    const name = uniqueName('rvk');
    const v0 = target.secret(name, newPassword(), { masterarn: 'arn:master' });
    await target.createUser(name, v0.password as string);
    const v1 = await rotate(v0);
    const v2 = await rotate(v1);
    expect(v1.username).toBe(`${name}_clone`);
    expect(v2.username).toBe(name);
    return { v0, v1, v2 };
  }

  it('revokes the old password of the alternate user; CURRENT keeps working and the next rotation sets the alternate again', async () => {
    const { v1, v2 } = await rotatedTwice();
    const clone = v1.username as string;
    expect(await login(target, v1)).toBe(true);
    const before = await stored(clone);
    const mark = lines.length;

    expect(await revoke(rotator, { strategy, retired: v1, current: v2, master })).toBe('revoked');

    expect(await login(target, v1)).toBe(false);
    expect(await login(target, v2)).toBe(true);
    // A new password nobody holds, sent as a verifier or hash like every password the rotator sets.
    const after = await stored(clone);
    expect(after).not.toBe(before);
    expect(after).toMatch(storedForm);
    expect(lines.slice(mark).some((l) => l.includes('revoked the retired password'))).toBe(true);

    // Revoking again changes nothing: the target already refuses it.
    expect(await revoke(rotator, { strategy, retired: v1, current: v2, master })).toBe('not-needed');
    expect(await stored(clone)).toBe(after);

    // The next rotation sets the alternate user's password through the master as usual.
    const v3 = await rotate(v2);
    expect(v3.username).toBe(clone);
    expect(await login(target, v3)).toBe(true);
    expect(await login(target, v2)).toBe(true);
    expect(await login(target, v1)).toBe(false);
  });

  it("a retired value naming CURRENT's user is not-needed, and CURRENT keeps working", async () => {
    const { v0, v2 } = await rotatedTwice();
    const before = await stored(v2.username as string);
    expect(await revoke(rotator, { strategy, retired: v0, current: v2, master })).toBe('not-needed');
    // Even CURRENT's own value, which logs in, is never touched.
    expect(await revoke(rotator, { strategy, retired: v2, current: v2, master })).toBe('not-needed');
    expect(await login(target, v2)).toBe(true);
    expect(await stored(v2.username as string)).toBe(before);
  });

  it('when PENDING for the same user already logs in: not-needed, and PENDING keeps working', async () => {
    const { v1, v2 } = await rotatedTwice();
    const pending = rotator.createPending({ strategy, current: v2, generatePassword: newPassword });
    await rotator.set({ strategy, current: v2, pending, master }, ctx);
    expect(await login(target, pending)).toBe(true);
    const mark = lines.length;

    expect(await revoke(rotator, { strategy, retired: v1, current: v2, pending, master })).toBe('not-needed');
    expect(lines.slice(mark).some((l) => l.includes('the pending password of this user already logs in'))).toBe(true);
    // A retired value that holds PENDING's credential logs in, and is still never revoked.
    expect(await revoke(rotator, { strategy, retired: { ...pending }, current: v2, pending, master })).toBe('not-needed');

    expect(await login(target, pending)).toBe(true);
    expect(await login(target, v2)).toBe(true);
  });

  it('when PENDING for the same user is not set yet: the retired password is revoked, and the rotation then sets PENDING', async () => {
    const { v1, v2 } = await rotatedTwice();
    const pending = rotator.createPending({ strategy, current: v2, generatePassword: newPassword });
    expect(await revoke(rotator, { strategy, retired: v1, current: v2, pending, master })).toBe('revoked');
    expect(await login(target, v1)).toBe(false);
    await rotator.set({ strategy, current: v2, pending, master }, ctx);
    await rotator.test(pending, ctx);
    expect(await login(target, pending)).toBe(true);
    expect(await login(target, v2)).toBe(true);
  });

  it('single-user keeps nothing alive: not-needed without touching the user, after validating the input', async () => {
    const name = uniqueName('rvk_single');
    const old = target.secret(name, newPassword());
    await target.createUser(name, old.password as string);
    const current = target.secret(name, newPassword());
    const before = await stored(name);
    // A retired value that (oddly) still logs in: single-user never acts on it.
    expect(await revoke(rotator, { strategy: 'single-user', retired: old, current })).toBe('not-needed');
    expect(await login(target, old)).toBe(true);
    expect(await stored(name)).toBe(before);

    const noHost = Object.fromEntries(Object.entries(old).filter(([k]) => k !== 'host'));
    const e = await rejection(() => revoke(rotator, { strategy: 'single-user', retired: noHost, current }));
    expect(e.code).toBe('INVALID_SECRET');
    expect(e.message).toMatch(/the retired secret is invalid: host/);
    expectNoPassword(e.message);
  });

  it('a retired credential the target already refuses: not-needed, nothing changed', async () => {
    const { v1, v2 } = await rotatedTwice();
    const before = await stored(v1.username as string);
    const refused = { ...v1, password: newPassword() };
    expect(await revoke(rotator, { strategy, retired: refused, current: v2, master })).toBe('not-needed');
    expect(await login(target, v1)).toBe(true);
    expect(await stored(v1.username as string)).toBe(before);
  });

  it('without the master secret: INVALID_INPUT, nothing changed', async () => {
    const { v1, v2 } = await rotatedTwice();
    const before = await stored(v1.username as string);
    const e = await rejection(() => revoke(rotator, { strategy, retired: v1, current: v2 }));
    expect(e.code).toBe('INVALID_INPUT');
    expect(e.message).toMatch(/needs the master secret named by "masterarn"/);
    expectNoPassword(e.message);
    expect(await login(target, v1)).toBe(true);
    expect(await login(target, v2)).toBe(true);
    expect(await stored(v1.username as string)).toBe(before);
  });

  it('refuses with TARGET_AUTH_FAILED when CURRENT no longer logs in, and changes nothing', async () => {
    const { v1, v2 } = await rotatedTwice();
    const e = await rejection(() => revoke(rotator, { strategy, retired: v1, current: { ...v2, password: newPassword() }, master }));
    expect(e.code).toBe('TARGET_AUTH_FAILED');
    expect(e.message).toMatch(/current secret no longer logs in .*refusing to revoke/);
    expectNoPassword(e.message);
    expect(await login(target, v1)).toBe(true);
  });

  it('a retired value naming a user this secret does not rotate: CREDENTIAL_MISMATCH while it logs in, not-needed once refused', async () => {
    const { v2 } = await rotatedTwice();
    const otherName = uniqueName('rvk_other');
    const other = target.secret(otherName, newPassword());
    await target.createUser(otherName, other.password as string);
    const e = await rejection(() => revoke(rotator, { strategy, retired: other, current: v2, master }));
    expect(e.code).toBe('CREDENTIAL_MISMATCH');
    expect(e.message).toContain(`"${otherName}"`);
    expectNoPassword(e.message);
    expect(await login(target, other)).toBe(true);
    expect(await revoke(rotator, { strategy, retired: { ...other, password: newPassword() }, current: v2, master })).toBe('not-needed');
  });

  it('refuses a master that is the retired user itself, before anything changes', async () => {
    const { v1, v2 } = await rotatedTwice();
    const e = await rejection(() => revoke(rotator, { strategy, retired: v1, current: v2, master: v1 }));
    expect(e.code).toBe('CREDENTIAL_MISMATCH');
    expect(e.message).toMatch(/the retired user ".*" is the master user itself/);
    expect(await login(target, v1)).toBe(true);
  });

  if (target.engine === 'mariadb') {
    it('dual-password: refused with UNSUPPORTED_ENGINE (MariaDB has no dual passwords), nothing changed', async () => {
      const name = uniqueName('rvk_dual');
      const current = target.secret(name, newPassword());
      await target.createUser(name, current.password as string);
      const before = await stored(name);
      const e = await rejection(() =>
        revoke(rotator, { strategy: 'dual-password', retired: { ...current, password: newPassword() }, current, master }),
      );
      expect(e.code).toBe('UNSUPPORTED_ENGINE');
      expect(e.message).toMatch(/needs MySQL 8\.0\.14 or later .* MariaDB .*use alternating-users/);
      expect(await login(target, current)).toBe(true);
      expect(await stored(name)).toBe(before);
    });
  } else {
    it('dual-password: refused with UNSUPPORTED_ENGINE (a MySQL strategy)', async () => {
      const name = uniqueName('rvk_dual');
      const current = target.secret(name, newPassword());
      const e = await rejection(() => revoke(rotator, { strategy: 'dual-password', retired: { ...current, password: newPassword() }, current, master }));
      expect(e.code).toBe('UNSUPPORTED_ENGINE');
      expect(e.message).toMatch(/does not support the dual-password strategy/);
    });
  }
});

/**
 * The shared rules (rotators/database.ts's revokeRetired) with scripted actions: the dual-password path, which needs
 * MySQL 8.0.14+, and the guarantees about what is never done.
 */
describe('revokeRetired with scripted actions', () => {
  const cred = (username: string, password: string): Credential => ({ host: 'db.example', username, password, ssl: true });
  const masterCred = cred('admin', 'Master-Password-0001');
  const current = cred('app', 'Current-Password-0002');
  const retired = cred('app', 'Retired-Password-0003');
  const pending = cred('app', 'Pending-Password-0004');
  remember(masterCred.password);
  remember(current.password);
  remember(retired.password);
  remember(pending.password);

  function scripted(working: ReadonlySet<string>, options: { currentWorks?: () => Promise<boolean> } = {}) {
    const calls: string[] = [];
    const actions: RevokeActions<Credential> = {
      where: 'MySQL/MariaDB at db.example:3306',
      passwordWorks: (s) => {
        calls.push(`login:${s.username}`);
        expect(s.ssl).toBe(true);
        return Promise.resolve(working.has(`${s.username}/${s.password}`));
      },
      currentWorks: options.currentWorks ?? (() => Promise.resolve(true)),
      replacePassword: (user, m, password) => {
        calls.push(`replace:${user}:as:${m.username}`);
        expect(password.length).toBeGreaterThanOrEqual(32);
        // Registered with the redactor before it is handed over.
        expect(ctx.logger.redactor.redact(`x ${password} x`)).not.toContain(password);
        return Promise.resolve();
      },
      discardOldPassword: (user, m) => {
        calls.push(`discard:${user}:as:${m.username}`);
        return Promise.resolve();
      },
    };
    return { actions, calls };
  }
  const key = (c: Credential): string => `${c.username}/${c.password}`;

  it('dual-password: discards the secondary password as the master when the retired one still logs in', async () => {
    const { actions, calls } = scripted(new Set([key(current), key(retired)]));
    expect(await revokeRetired({ strategy: 'dual-password', retired, current, pending: undefined, master: masterCred }, ctx, actions)).toBe('revoked');
    expect(calls).toEqual(['login:app', 'discard:app:as:admin']);
  });

  it('dual-password: never discards once PENDING is set (the secondary password is then CURRENT)', async () => {
    // After RETAIN: PENDING is the primary password, CURRENT the secondary one.
    const { actions, calls } = scripted(new Set([key(pending), key(current), key(retired)]));
    expect(await revokeRetired({ strategy: 'dual-password', retired, current, pending, master: masterCred }, ctx, actions)).toBe('not-needed');
    expect(calls.filter((c) => c.startsWith('discard'))).toEqual([]);
  });

  it("dual-password: CURRENT's own password is never revoked, and nothing connects", async () => {
    const { actions, calls } = scripted(new Set([key(current)]));
    expect(await revokeRetired({ strategy: 'dual-password', retired: { ...current }, current, pending: undefined, master: masterCred }, ctx, actions)).toBe('not-needed');
    expect(calls).toEqual([]);
  });

  it('dual-password: a retired password already refused is not-needed', async () => {
    const { actions, calls } = scripted(new Set([key(current)]));
    expect(await revokeRetired({ strategy: 'dual-password', retired, current, pending: undefined, master: masterCred }, ctx, actions)).toBe('not-needed');
    expect(calls).toEqual(['login:app']);
  });

  it('dual-password: a server without dual passwords is refused before any change', async () => {
    const { actions, calls } = scripted(new Set([key(current), key(retired)]), {
      currentWorks: () => Promise.reject(new Error('UNSUPPORTED_ENGINE stand-in')),
    });
    await expect(revokeRetired({ strategy: 'dual-password', retired, current, pending: undefined, master: masterCred }, ctx, actions)).rejects.toThrow(/stand-in/);
    expect(calls).toEqual([]);
  });

  it('alternating users: a missing master is INVALID_INPUT before anything connects', async () => {
    const { actions, calls } = scripted(new Set([key(current)]));
    const clone = cred('app_clone', 'Clone-Password-0005');
    remember(clone.password);
    const e = await rejection(() => revokeRetired({ strategy: 'alternating-users', retired: clone, current, pending: undefined, master: undefined }, ctx, actions));
    expect(e.code).toBe('INVALID_INPUT');
    expect(calls).toEqual([]);
  });

  it('alternating users: the random password goes to the alternate user, as the master, with TLS kept from current', async () => {
    const clone = { ...cred('app_clone', 'Clone-Password-0006'), ssl: false };
    remember(clone.password);
    const { actions, calls } = scripted(new Set([key(current), key(clone)]));
    expect(await revokeRetired({ strategy: 'alternating-users', retired: clone, current, pending: undefined, master: masterCred }, ctx, actions)).toBe('revoked');
    expect(calls).toEqual(['login:app_clone', 'replace:app_clone:as:admin']);
  });
});

// Runs last (tests in a file run in order): searches what the whole file logged.
describe('no secret in what the rotators logged', () => {
  it('holds no password, no verifier and no hash', () => {
    expect(lines.length).toBeGreaterThan(20);
    const all = lines.join('\n');
    expectNoPassword(all);
    expect(all).not.toContain('SCRAM-SHA-256$');
    expect(all).not.toMatch(/\*[0-9A-F]{40}/);
  });
});
