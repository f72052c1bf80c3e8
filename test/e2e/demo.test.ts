import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { expect, inject, it } from 'vitest';
import { recordOutput } from '../support/canary.js';
import { postgresAdmin } from '../support/postgres-admin.js';

/** `npm run demo`, the README's main job, against the password-enforcing test cluster. */
const pg = inject('postgres');
const demo = fileURLToPath(new URL('../../scripts/demo.ts', import.meta.url));

function runDemo(env: NodeJS.ProcessEnv): { status: number | null; output: string } {
  const result = spawnSync(process.execPath, ['--import', 'tsx', demo], { encoding: 'utf8', env: { ...process.env, ...env }, timeout: 60_000 });
  const output = result.stdout + result.stderr;
  recordOutput(output);
  return { status: result.status, output };
}

it('rotates throwaway roles single-user and alternating, shows the versions, and cleans up', async () => {
  const { status, output } = runDemo({ PGHOST: pg.host, PGPORT: String(pg.port), PGUSER: pg.superuser, PGPASSWORD: pg.superuserPassword, PGDATABASE: 'postgres' });
  expect(output).toMatch(/\$ rotator rotate demo\/app\n/);
  expect(status).toBe(0);
  expect(output).toMatch(/CURRENT of demo\/app logs in as rotator_demo_app_\w+/);
  expect(output).toMatch(/CURRENT of demo\/app-alternating logs in as rotator_demo_alt_\w+_clone/);
  expect(output).toMatch(/CURRENT of demo\/app-alternating logs in as rotator_demo_alt_\w+\n/);
  expect(output).toMatch(/PREVIOUS/);
  expect(output).not.toMatch(/"password"/);
  const { admin } = postgresAdmin(pg);
  const left = await admin(async (c) => (await c.query<{ rolname: string }>("SELECT rolname FROM pg_roles WHERE rolname LIKE 'rotator_demo_%'")).rows);
  expect(left).toEqual([]);
});

it('explains what to do when no PostgreSQL is reachable', () => {
  const { status, output } = runDemo({ PGHOST: '127.0.0.1', PGPORT: '1', PGUSER: 'nobody' });
  expect(status).toBe(1);
  expect(output).toMatch(/cannot reach PostgreSQL as nobody at 127\.0\.0\.1:1 \(ECONNREFUSED\)/);
  expect(output).toMatch(/PGHOST, PGPORT, PGUSER, PGPASSWORD/);
});
