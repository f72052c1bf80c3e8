import { fileURLToPath } from 'node:url';
import { expect, inject, it } from 'vitest';
import { spawnChildSync } from '../support/child.js';
import type { RowDataPacket } from 'mysql2/promise';
import { mariadbAdmin } from '../support/mariadb-admin.js';
import { postgresAdmin } from '../support/postgres-admin.js';

/** `npm run demo`, the README's main job, against the test servers (PostgreSQL enforcing scram, MariaDB with TLS). */
const pg = inject('postgres');
const maria = inject('mariadb');
const demo = fileURLToPath(new URL('../../scripts/demo.ts', import.meta.url));

function runDemo(env: NodeJS.ProcessEnv): { status: number | null; output: string } {
  const result = spawnChildSync(process.execPath, ['--import', 'tsx', demo], { env: { ...process.env, ...env }, timeout: 90_000 });
  const output = result.stdout + result.stderr;
  return { status: result.status, output };
}

const servers = {
  PGHOST: pg.host,
  PGPORT: String(pg.port),
  PGUSER: pg.superuser,
  PGPASSWORD: pg.superuserPassword,
  PGDATABASE: 'postgres',
  MYSQL_HOST: maria.host,
  MYSQL_TCP_PORT: String(maria.port),
  MYSQL_USER: maria.rootUser,
  MYSQL_PWD: maria.rootPassword,
};

it('rotates throwaway users single-user and alternating on PostgreSQL and MariaDB, and cleans up', async () => {
  const { status, output } = runDemo(servers);
  expect(output).toMatch(/\$ rotator rotate demo\/postgres\/app\n/);
  expect(output).toMatch(/\$ rotator rotate demo\/mariadb\/app\n/);
  expect(status).toBe(0);
  expect(output).toMatch(/CURRENT of demo\/postgres\/app logs in as rotator_demo_app_\w+/);
  expect(output).toMatch(/CURRENT of demo\/postgres\/app-alternating logs in as rotator_demo_alt_\w+_clone\n/);
  expect(output).toMatch(/CURRENT of demo\/postgres\/app-alternating logs in as rotator_demo_alt_\w+\n/);
  // The clone reads what the original could: the grants were copied.
  expect(output).toMatch(/CURRENT of demo\/mariadb\/app-alternating logs in as rotator_demo_alt_\w+_clone@% \(reads "hello from the demo schema"\)/);
  expect(output).toMatch(/CURRENT of demo\/mariadb\/app-alternating logs in as rotator_demo_alt_\w+@% \(reads/);
  expect(output).toMatch(/PREVIOUS/);
  expect(output).not.toMatch(/"password"/);
  const { admin } = postgresAdmin(pg);
  const left = await admin(async (c) => (await c.query<{ rolname: string }>("SELECT rolname FROM pg_roles WHERE rolname LIKE 'rotator_demo_%'")).rows);
  expect(left).toEqual([]);
  const mysqlLeft = await mariadbAdmin(maria).admin(async (c) => {
    const [users] = await c.query<RowDataPacket[]>("SELECT User FROM mysql.user WHERE User LIKE 'rotator\\_demo\\_%'");
    const [schemas] = await c.query<RowDataPacket[]>("SHOW DATABASES LIKE 'rotator\\_demo\\_%'");
    return [...users, ...schemas];
  });
  expect(mysqlLeft).toEqual([]);
}, 90_000); // a child process that runs every rotation of the demo; it takes about 25 s on a loaded 2-core machine

it('explains what to do when a server is not reachable', () => {
  const { status, output } = runDemo({ DEMO_ENGINES: 'postgres', PGHOST: '127.0.0.1', PGPORT: '1', PGUSER: 'nobody' });
  expect(status).toBe(1);
  expect(output).toMatch(/cannot reach PostgreSQL as nobody at 127\.0\.0\.1:1 \(ECONNREFUSED\)/);
  expect(output).toMatch(/PGHOST, PGPORT, PGUSER, PGPASSWORD/);
});

it('refuses an unknown engine in DEMO_ENGINES', () => {
  const { status, output } = runDemo({ DEMO_ENGINES: 'oracle' });
  expect(status).not.toBe(0);
  expect(output).toMatch(/DEMO_ENGINES names "oracle"; use a comma-separated list of postgres, mariadb/);
});
