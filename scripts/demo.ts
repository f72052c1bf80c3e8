/**
 * `npm run demo`: the README's main job, end to end on this machine. It creates throwaway roles in a local
 * PostgreSQL, stores their secrets in a temporary file store, rotates them with the `rotator` CLI (single user,
 * then alternating users), shows the versions, proves CURRENT logs in, and removes everything it created.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { extname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { scramSha256Verifier } from '../rotators/postgres/index.js';
import { connectAdmin, localPostgresFromEnv, throwawayPassword, uniqueSuffix, type LocalPostgres } from './local-postgres.js';

const here = fileURLToPath(import.meta.url);
// Run as compiled JS (npm run demo) or as TypeScript under tsx (the tests): call the CLI of the same kind.
const cliPath = join(here, '..', '..', 'cli', `main${extname(here)}`);

async function main(): Promise<number> {
  const target = localPostgresFromEnv(process.env);
  let admin: pg.Client;
  try {
    admin = await connectAdmin(target);
  } catch (error) {
    process.stderr.write(`demo: ${(error as Error).message}\n`);
    return 1;
  }

  const suffix = uniqueSuffix();
  const app = `rotator_demo_app_${suffix}`;
  const alt = `rotator_demo_alt_${suffix}`;
  const master = `rotator_demo_admin_${suffix}`;
  const dir = mkdtempSync(join(tmpdir(), 'rotator-demo-'));
  const env = { ...process.env, ROTATOR_STORE: join(dir, 'store.json') };
  try {
    say(`creating throwaway roles ${app}, ${alt} and ${master} on ${target.host}:${target.port}`);
    const passwords = { app: throwawayPassword(), alt: throwawayPassword(), master: throwawayPassword() };
    // Like the rotator, the demo sends passwords only as SCRAM verifiers, so none reaches the server's log.
    const verifier = (password: string): string => pg.escapeLiteral(scramSha256Verifier(password));
    await admin.query(`CREATE ROLE ${app} LOGIN PASSWORD ${verifier(passwords.app)}`);
    await admin.query(`CREATE ROLE ${alt} LOGIN PASSWORD ${verifier(passwords.alt)}`);
    await admin.query(`CREATE ROLE ${master} LOGIN CREATEROLE PASSWORD ${verifier(passwords.master)}`);
    // PostgreSQL 16+ lets a CREATEROLE role grant only roles it has ADMIN OPTION on; 15 and older ignore this.
    await admin.query(`GRANT ${alt} TO ${master} WITH ADMIN OPTION`);

    // ssl:false because a laptop's server rarely has a certificate the machine trusts; omit it in production.
    const secret = (username: string, password: string, extra: Record<string, unknown> = {}): string =>
      JSON.stringify({ engine: 'postgres', host: target.host, port: target.port, username, password, dbname: target.database, ssl: false, ...extra });

    say(`a temporary file store: ${env.ROTATOR_STORE}`);
    cli(env, ['secrets', 'put', 'demo/app', '--enable-rotation'], secret(app, passwords.app));
    cli(env, ['rotate', 'demo/app']);
    cli(env, ['rotate', 'demo/app']);
    cli(env, ['secrets', 'describe', 'demo/app']);
    await proveLogin(env, target, 'demo/app');

    say('alternating users: the master secret creates and updates the _clone role');
    cli(env, ['secrets', 'put', 'demo/admin'], secret(master, passwords.master));
    cli(env, ['secrets', 'put', 'demo/app-alternating', '--enable-rotation', '--strategy', 'alternating-users'], secret(alt, passwords.alt, { masterarn: 'demo/admin' }));
    cli(env, ['rotate', 'demo/app-alternating']);
    await proveLogin(env, target, 'demo/app-alternating');
    cli(env, ['rotate', 'demo/app-alternating']);
    cli(env, ['secrets', 'describe', 'demo/app-alternating']);
    await proveLogin(env, target, 'demo/app-alternating');
    say('done: both secrets rotated and CURRENT logs in');
    return 0;
  } catch (error) {
    process.stderr.write(`demo failed: ${(error as Error).message}\n`);
    return 1;
  } finally {
    for (const role of [app, `${alt}_clone`, alt, master]) await admin.query(`DROP ROLE IF EXISTS ${role}`).catch(() => undefined);
    await admin.end();
    rmSync(dir, { recursive: true, force: true });
  }
}

function say(text: string): void {
  process.stdout.write(`\n# ${text}\n`);
}

/** Runs the rotator CLI the way a user would, echoing the command; stops the demo when it fails. */
function cli(env: NodeJS.ProcessEnv, args: string[], stdin?: string): string {
  process.stdout.write(`$ rotator ${args.join(' ')}${stdin === undefined ? '' : ' < secret.json'}\n`);
  const result = spawnSync(process.execPath, [...process.execArgv, cliPath, ...args], { env, input: stdin ?? '', encoding: 'utf8' });
  process.stdout.write(result.stdout);
  process.stderr.write(result.stderr);
  if (result.status !== 0) throw new Error(`rotator ${args[0] ?? ''} ${args[1] ?? ''} exited with ${String(result.status)}`);
  return result.stdout;
}

function readCurrent(env: NodeJS.ProcessEnv, secretId: string): { username: string; password: string } {
  const result = spawnSync(process.execPath, [...process.execArgv, cliPath, 'secrets', 'get', secretId, '--show-value'], { env, encoding: 'utf8' });
  if (result.status !== 0) throw new Error(`cannot read ${secretId}: ${result.stderr}`);
  return JSON.parse(result.stdout) as { username: string; password: string };
}

async function proveLogin(env: NodeJS.ProcessEnv, target: LocalPostgres, secretId: string): Promise<void> {
  const { username, password } = readCurrent(env, secretId);
  const client = new pg.Client({ ...target, user: username, password, connectionTimeoutMillis: 5_000 });
  await client.connect();
  try {
    const { rows } = await client.query<{ user: string }>('SELECT current_user AS user');
    say(`CURRENT of ${secretId} logs in as ${rows[0]?.user ?? '?'}`);
  } finally {
    await client.end();
  }
}

process.exitCode = await main();
