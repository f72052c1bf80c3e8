import { afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { recordSecrets } from '../support/canary.js';
import { createTestStore, type TestStore } from '../support/stores.js';
import { testTargets, type TestTarget } from '../support/targets.js';
import { CONTROL_CHARACTERS, cli, cliError, expectNoRawControl, snapshot } from './harness.js';

/**
 * Hostile secret values, through the real `rotator rotate` on a real, password-enforcing server. A value reaches
 * the store from anyone allowed to write the secret (a console, another tool), so each case plants it directly and
 * rotates: the rotation must end in a typed error that names the bad key without echoing it, the store must be as
 * it was (no PENDING left behind), and the database user must still log in with its old password.
 */
const SECRET = 'hostile-app';
const MASTER = 'hostile-master';

let t: TestStore;
let env: NodeJS.ProcessEnv;
let counter = 0;

beforeEach(() => {
  t = createTestStore();
});

afterEach(async () => {
  await t.dispose();
});

function password(): string {
  counter += 1;
  const p = `Hostile-${counter}-${Math.random().toString(36).slice(2)}-pw`;
  recordSecrets(p);
  return p;
}

/** A rotation that must be refused before anything changes. */
async function expectRefused(
  target: TestTarget,
  who: { user: string; password: string },
  raw: string,
  expected: { codes: readonly string[]; field: string },
  rotation: { strategy?: 'alternating-users' } = {},
): Promise<void> {
  await t.store.createSecret(SECRET, raw, { rotation: { enabled: true, ...rotation } });
  const before = await snapshot(t.store);
  const run = await cli(env, ['rotate', SECRET]);
  expect(run.code).toBe(2);
  const error = cliError(run);
  expect(expected.codes).toContain(error.code);
  expect(error.message).toContain(expected.field);
  expectNoRawControl(run.stderr + run.stdout);
  expect(await snapshot(t.store)).toEqual(before);
  expect(await target.logsIn(who.user, who.password)).toBe(true);
}

for (const target of testTargets()) {
  describe(`${target.engine}: hostile values of the rotated secret`, () => {
    const who = { user: `hostile_${target.engine}`, password: '' };
    let valid: Record<string, unknown>;

    beforeAll(async () => {
      who.password = password();
      await target.createUser(who.user, who.password);
    });

    beforeEach(() => {
      env = { ROTATOR_STORE: t.path, ROTATOR_STORE_KEY: t.key.toString('base64'), ROTATOR_TLS_CA_FILE: target.caFile };
      valid = target.secret(who.user, who.password, { dbname: target.engine === 'postgres' ? 'postgres' : 'test', masterarn: MASTER });
    });

    // Every connection field, with each control character appended: 6 fields x 7 characters.
    const fields = ['engine', 'host', 'port', 'username', 'dbname', 'masterarn'] as const;
    const controlCases = fields.flatMap((field) => CONTROL_CHARACTERS.map(([name, ch]) => ({ field, name, ch })));
    it.each(controlCases)('refuses $name in $field', async ({ field, ch }) => {
      const value = { ...valid, [field]: `${String(valid[field])}${ch}` };
      await expectRefused(target, who, JSON.stringify(value), { codes: ['INVALID_SECRET', 'UNSUPPORTED_ENGINE'], field });
    });

    // A wrong type for every key.
    const wrongTypes: ReadonlyArray<readonly [string, unknown]> = [
      ['engine', 5],
      ['engine', null],
      ['host', 1234],
      ['host', ['127.0.0.1']],
      ['port', {}],
      ['port', -1],
      ['port', 70_000],
      ['port', 1.5],
      ['port', '54x'],
      ['username', []],
      ['username', 42],
      ['username', ''],
      ['password', 42],
      ['password', null],
      ['password', ''],
      ['dbname', false],
      ['dbname', 7],
      ['masterarn', {}],
      ['masterarn', 3],
      ['ssl', 'maybe'],
      ['ssl', 2],
    ];
    it.each(wrongTypes)('refuses %s = %j', async (field, bad) => {
      await expectRefused(target, who, JSON.stringify({ ...valid, [field]: bad }), { codes: ['INVALID_SECRET', 'UNSUPPORTED_ENGINE'], field });
    });

    it.each(['engine', 'host', 'username', 'password'])('refuses a value without %s', async (field) => {
      const rest = Object.fromEntries(Object.entries(valid).filter(([key]) => key !== field));
      await expectRefused(target, who, JSON.stringify(rest), { codes: ['INVALID_SECRET'], field });
    });

    // Keys that reach an object's prototype when copied naively: refused by name, and nothing global polluted.
    const pollution: ReadonlyArray<readonly [string, string]> = [
      ['__proto__', '"__proto__":{"ssl":false}'],
      ['__proto__', '"__proto__":{"host":"203.0.113.9","polluted":true}'],
      ['constructor', '"constructor":{"prototype":{"polluted":true}}'],
      ['__proto__', '"nested":{"__proto__":{"polluted":true}}'],
    ];
    it.each(pollution)('refuses the prototype key %s (%s)', async (field, extra) => {
      const rest = { ...valid };
      delete rest.ssl;
      const raw = JSON.stringify(rest).replace(/}$/, `,${extra}}`);
      await expectRefused(target, who, raw, { codes: ['INVALID_SECRET'], field });
      expect(({} as Record<string, unknown>).polluted).toBeUndefined();
      expect(({} as Record<string, unknown>).ssl).toBeUndefined();
    });

    // Unicode that looks harmless on screen but names something else.
    const unicode: ReadonlyArray<readonly [string, string, string]> = [
      ['a zero-width space in the user name', 'username', `${who.user}\u200b`],
      ['a right-to-left override in the database name', 'dbname', `\u202epostgres`],
      ['a byte-order mark before the engine', 'engine', `\ufeff${target.engine}`],
      ['full-width digits in the host', 'host', '\uff11\uff12\uff17.0.0.1'],
      ['a Cyrillic letter in the host', 'host', 'l\u043ecalhost'],
    ];
    it.each(unicode)('refuses %s', async (_name, field, bad) => {
      await expectRefused(target, who, JSON.stringify({ ...valid, [field]: bad }), { codes: ['INVALID_SECRET', 'UNSUPPORTED_ENGINE'], field });
    });
  });
}

for (const target of testTargets()) {
  describe(`${target.engine}: a rotated secret that points the master elsewhere`, () => {
    const who = { user: `hostile_alt_${target.engine}`, password: '' };
    const master = { user: `hostile_master_${target.engine}`, password: '' };

    beforeAll(async () => {
      who.password = password();
      master.password = password();
      await target.createUser(who.user, who.password);
      await target.createUser(master.user, master.password, { master: true });
    });

    beforeEach(() => {
      env = { ROTATOR_STORE: t.path, ROTATOR_STORE_KEY: t.key.toString('base64'), ROTATOR_TLS_CA_FILE: target.caFile };
    });

    // The master secret names the real server; the rotated secret names another host or port. The master's password
    // must never be sent there, and nothing may be promoted.
    const redirects: ReadonlyArray<readonly [string, Record<string, unknown>]> = [
      ['another host name', { host: 'localhost' }],
      ['another port', { port: 1 }],
      ['an IPv6 literal of the same machine', { host: '::1' }],
    ];
    it.each(redirects)('refuses %s', async (_name, redirect) => {
      await t.store.createSecret(MASTER, JSON.stringify(target.secret(master.user, master.password)));
      const value = { ...target.secret(who.user, who.password), masterarn: MASTER, ...redirect };
      await t.store.createSecret(SECRET, JSON.stringify(value), { rotation: { enabled: true, strategy: 'alternating-users' } });
      const currentBefore = (await t.store.describe(SECRET)).versions.find((v) => v.stages.includes('CURRENT'))?.versionId;
      const run = await cli(env, ['rotate', SECRET]);
      expect(run.code).not.toBe(0);
      expect(['CREDENTIAL_MISMATCH', 'TARGET_UNREACHABLE', 'TARGET_TLS']).toContain(cliError(run).code);
      const after = await t.store.describe(SECRET);
      expect(after.versions.find((v) => v.stages.includes('CURRENT'))?.versionId).toBe(currentBefore);
      expect(await target.logsIn(who.user, who.password)).toBe(true);
      expect(await target.logsIn(master.user, master.password)).toBe(true);
    });
  });
}
