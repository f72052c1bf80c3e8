/**
 * `npm run demo`: the README's main job, end to end on this machine. For each local database server
 * (PostgreSQL and MariaDB by default; DEMO_ENGINES=postgres for one), it creates throwaway users, stores their
 * secrets in a temporary file store, rotates them with the `rotator` CLI (single user, then alternating users),
 * shows the versions, proves CURRENT logs in, and removes everything it created.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { extname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { LOCAL_ENGINES, connectLocal, throwawayPassword, uniqueSuffix, type LocalDatabase, type LocalEngine } from './local-databases.js';

const here = fileURLToPath(import.meta.url);
// Run as compiled JS (npm run demo) or as TypeScript under tsx (the tests): call the CLI of the same kind.
const cliPath = join(here, '..', '..', 'cli', `main${extname(here)}`);

function requestedEngines(value: string | undefined): LocalEngine[] {
  const names = (value ?? LOCAL_ENGINES.join(',')).split(',').map((s) => s.trim()).filter((s) => s.length > 0);
  for (const name of names) {
    if (!(LOCAL_ENGINES as readonly string[]).includes(name)) throw new Error(`DEMO_ENGINES names "${name}"; use a comma-separated list of ${LOCAL_ENGINES.join(', ')}`);
  }
  return names as LocalEngine[];
}

async function main(): Promise<number> {
  let failed = 0;
  for (const engine of requestedEngines(process.env.DEMO_ENGINES)) {
    let db: LocalDatabase;
    try {
      db = await connectLocal(engine, process.env);
    } catch (error) {
      process.stderr.write(`demo: ${(error as Error).message}\n`);
      failed += 1;
      continue;
    }
    try {
      await demonstrate(db);
    } catch (error) {
      process.stderr.write(`demo failed on ${engine}: ${(error as Error).message}\n`);
      failed += 1;
    } finally {
      await db.close();
    }
  }
  say(failed === 0 ? 'done: every secret rotated and CURRENT logs in' : `${failed} engine(s) failed; see above`);
  return failed === 0 ? 0 : 1;
}

async function demonstrate(db: LocalDatabase): Promise<void> {
  const suffix = uniqueSuffix();
  const app = `rotator_demo_app_${suffix}`;
  const alt = `rotator_demo_alt_${suffix}`;
  const master = `rotator_demo_admin_${suffix}`;
  const dir = mkdtempSync(join(tmpdir(), 'rotator-demo-'));
  const env = { ...process.env, ROTATOR_STORE: join(dir, 'store.json') };
  const id = (name: string): string => `demo/${db.engine}/${name}`;
  try {
    say(`${db.engine} at ${db.where}: creating throwaway users ${app}, ${alt} and ${master}`);
    const passwords = { app: throwawayPassword(), alt: throwawayPassword(), master: throwawayPassword() };
    await db.createUser(app, passwords.app);
    await db.createUser(alt, passwords.alt);
    await db.createUser(master, passwords.master, { masterOf: alt });

    say(`a temporary file store: ${env.ROTATOR_STORE}`);
    cli(env, ['secrets', 'put', id('app'), '--enable-rotation'], JSON.stringify(db.secret(app, passwords.app)));
    cli(env, ['rotate', id('app')]);
    cli(env, ['rotate', id('app')]);
    cli(env, ['secrets', 'describe', id('app')]);
    await proveLogin(env, db, id('app'));

    say('alternating users: the master secret creates the _clone user with the same rights, then the two take turns');
    cli(env, ['secrets', 'put', id('admin')], JSON.stringify(db.secret(master, passwords.master)));
    const alternating = db.secret(alt, passwords.alt, { masterarn: id('admin') });
    cli(env, ['secrets', 'put', id('app-alternating'), '--enable-rotation', '--strategy', 'alternating-users'], JSON.stringify(alternating));
    cli(env, ['rotate', id('app-alternating')]);
    await proveLogin(env, db, id('app-alternating'));
    cli(env, ['rotate', id('app-alternating')]);
    cli(env, ['secrets', 'describe', id('app-alternating')]);
    await proveLogin(env, db, id('app-alternating'));
  } finally {
    await db.dropUsers([app, `${alt}_clone`, alt, master]);
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
  if (result.status !== 0) throw new Error(`rotator ${args.slice(0, 2).join(' ')} exited with ${String(result.status)}`);
  return result.stdout;
}

async function proveLogin(env: NodeJS.ProcessEnv, db: LocalDatabase, secretId: string): Promise<void> {
  const result = spawnSync(process.execPath, [...process.execArgv, cliPath, 'secrets', 'get', secretId, '--show-value'], { env, encoding: 'utf8' });
  if (result.status !== 0) throw new Error(`cannot read ${secretId}: ${result.stderr}`);
  const { username, password } = JSON.parse(result.stdout) as { username: string; password: string };
  say(`CURRENT of ${secretId} logs in as ${await db.whoAmI(username, password)}`);
}

process.exitCode = await main();
