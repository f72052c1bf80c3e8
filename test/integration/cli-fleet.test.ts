import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, inject, it } from 'vitest';
import { EXIT } from '../../cli/exit-codes.js';
import { FileStore } from '../../stores/file/index.js';
import { recordSecrets } from '../support/canary.js';
import { runRotator, type CliRun } from '../support/cli.js';
import { postgresAdmin } from '../support/postgres-admin.js';
import { harvestSecrets } from '../support/stores.js';

/**
 * `rotate --due` and `status` against the test's own PostgreSQL, which enforces scram-sha-256: a fleet of due secrets
 * rotated N at a time, one whose password the server refuses, and every CURRENT logging in afterwards.
 */
const pg = inject('postgres');
const { createRole, logsIn } = postgresAdmin(pg);
const DAY = 86_400_000;

let dir: string;
let env: NodeJS.ProcessEnv;
let store: FileStore;
let counter = 0;

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'rotator-cli-fleet-'));
  const key = randomBytes(32);
  env = { ROTATOR_STORE: join(dir, 'store.json'), ROTATOR_STORE_KEY: key.toString('base64'), ROTATOR_TLS_CA_FILE: pg.caFile };
  // Secrets written three days ago, so a daily schedule is due now.
  store = new FileStore({ path: join(dir, 'store.json'), key, clock: () => new Date(Date.now() - 3 * DAY) });
});

afterEach(async () => {
  await harvestSecrets(store);
  rmSync(dir, { recursive: true, force: true });
});

/** A role on the server and a due secret for it; `password` overrides what the secret holds (a wrong one). */
async function dueSecret(secretId: string, password?: string): Promise<{ user: string; password: string }> {
  counter += 1;
  const user = `fleet_user_${counter}_${randomBytes(3).toString('hex')}`;
  const real = `Fleet-${randomBytes(12).toString('base64url')}-pw`;
  recordSecrets(real);
  await createRole(user, real);
  const value = JSON.stringify({ engine: 'postgres', host: pg.host, port: pg.port, username: user, password: password ?? real, dbname: 'postgres', ssl: true });
  await store.createSecret(secretId, value, { rotation: { enabled: true, schedule: { kind: 'rate', everyMs: DAY } } });
  return { user, password: real };
}

async function currentPassword(secretId: string): Promise<string> {
  return (JSON.parse(await store.getValue(secretId, { stage: 'CURRENT' })) as { password: string }).password;
}

function rotator(args: string[]): Promise<CliRun> {
  return runRotator(env, args);
}

describe('rotate --due over a scram PostgreSQL', () => {
  it('rotates every due secret N at a time; a refused one fails (exit 1) without stopping the others; status shows it', async () => {
    const users = new Map<string, { user: string; password: string }>();
    for (let i = 1; i <= 6; i++) users.set(`db/app-${i}`, await dueSecret(`db/app-${i}`));
    const wrong = `Wrong-${randomBytes(8).toString('hex')}-pw`;
    recordSecrets(wrong);
    await dueSecret('db/refused', wrong);

    const run = await rotator(['rotate', '--due', '--concurrency', '3', '--json']);
    expect(run.code).toBe(EXIT.FAILED);
    const report = JSON.parse(run.stdout) as { due: number; rotated: Array<{ secretId: string }>; failed: Array<{ secretId: string; code: string }>; busy: string[] };
    expect(report.due).toBe(7);
    expect(report.rotated.map((r) => r.secretId).sort()).toEqual([...users.keys()].sort());
    expect(report.failed.map(({ secretId, code }) => ({ secretId, code }))).toEqual([{ secretId: 'db/refused', code: 'TARGET_AUTH_FAILED' }]);
    expect(report.busy).toEqual([]);
    for (const [secretId, { user, password }] of users) {
      const current = await currentPassword(secretId);
      expect(current).not.toBe(password);
      expect(await logsIn(user, current)).toBe(true);
      expect(run.stdout + run.stderr).not.toContain(current);
    }

    const status = await rotator(['status', '--json']);
    const json = JSON.parse(status.stdout) as { summary: { due: number; failing: number }; secrets: Array<{ secretId: string; due: boolean; lastError?: { code: string; step?: string } }> };
    expect(json.summary).toMatchObject({ due: 1, failing: 1 });
    expect(json.secrets.find((s) => s.secretId === 'db/refused')).toMatchObject({ due: true, lastError: { code: 'TARGET_AUTH_FAILED' } });
    expect(status.stdout).not.toContain(wrong);
    expect((await rotator(['status', '--check'])).code).toBe(EXIT.FAILED);

    // A secret that failed stays due: the next run tries it again, and only it.
    const refused = await store.describe('db/refused');
    expect(refused.lastError?.code).toBe('TARGET_AUTH_FAILED');
    const again = await rotator(['rotate', '--due', '--json']);
    expect(again.code).toBe(EXIT.FAILED);
    expect(JSON.parse(again.stdout)).toMatchObject({ due: 1, rotated: [] });
  });

  it('human output: a header, one line per secret as it finishes, and a summary; exit 0', async () => {
    const { user } = await dueSecret('db/one');
    const run = await rotator(['rotate', '--due']);
    expect(run.code).toBe(EXIT.OK);
    expect(run.stdout).toMatch(/^rotate --due at \S+: 1 of 1 secret\(s\) due, 4 at a time\n {2}rotated {2}db\/one +\d+ ms {2}CURRENT is now version \S+\n1 rotated, 0 failed, 0 busy, 0 not due or disabled; \d+ ms\n$/);
    expect(await logsIn(user, await currentPassword('db/one'))).toBe(true);
    const status = await rotator(['status']);
    // The version it replaced waits for the purger's 30-day window.
    expect(status.stdout).toMatch(/^db\/one {2}single-user \(default\) {2}rate\(1 day\) {2}\S+Z {2}\S+Z {2}- +- +0 now, 1 waiting$/m);
  });
});
