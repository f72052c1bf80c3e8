import { execFile, execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, rmSync } from 'node:fs';
import { chmod, chown, mkdtemp, readFile, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import mysql from 'mysql2/promise';
import { freePort } from './postgres-cluster.js';
import { createTestCertificates } from './tls.js';

const run = promisify(execFile);

/**
 * A throwaway MariaDB server for the MySQL/MariaDB rotator tests. It listens on 127.0.0.1 only, offers TLS with a
 * certificate from a throwaway CA, enforces passwords (root has a random one; there are no anonymous accounts),
 * and resolves no host names, so TCP clients are always `user@127.0.0.1` and match `%` or `127.0.0.1` accounts.
 * The general log is on from the start, so the leak canary can search every statement that reached the server
 * (global-setup.ts copies it before stop); a test may read it too.
 */
export interface MariadbServer {
  host: string;
  port: number;
  /** Has ALL PRIVILEGES WITH GRANT OPTION on `root`@`127.0.0.1` (TCP) and `root`@`localhost` (socket). */
  rootUser: string;
  rootPassword: string;
  /** PEM of the CA that signed the server certificate (CN localhost; SAN DNS:localhost, IP:127.0.0.1). */
  caFile: string;
  /** The general log (on for the server's whole life). */
  generalLogFile: string;
  /** The server's unix socket. */
  socket: string;
  /** Kills the server and removes its directory. Safe to call more than once. */
  stop(): Promise<void>;
}

export interface MariadbServerOptions {
  /** The mariadbd binary; found on the usual paths otherwise. */
  serverBinary?: string;
  /** mariadb-install-db; found on PATH otherwise. */
  installDbBinary?: string;
  /** false: the server offers no TLS at all (for the plaintext-fallback tests); `caFile` is then of no use. */
  tls?: boolean;
}

const HOST = '127.0.0.1';
const ROOT = 'root';
const OS_USER = 'mysql';
const START_TIMEOUT_MS = 30_000;

function which(names: readonly string[], extraDirs: readonly string[]): string | undefined {
  for (const name of names) {
    for (const dir of extraDirs) if (existsSync(join(dir, name))) return join(dir, name);
    try {
      const found = execFileSync('which', [name], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
      if (found !== '') return found;
    } catch {
      // Not on PATH under this name.
    }
  }
  return undefined;
}

export function findMariadbBinaries(options: MariadbServerOptions = {}): { server: string; installDb: string } {
  const server = options.serverBinary ?? which(['mariadbd', 'mysqld'], ['/usr/sbin', '/usr/libexec', '/usr/local/sbin']);
  const installDb = options.installDbBinary ?? which(['mariadb-install-db', 'mysql_install_db'], ['/usr/bin', '/usr/local/bin']);
  if (server === undefined || installDb === undefined) {
    throw new Error(
      'No MariaDB server binaries found (looked for mariadbd and mariadb-install-db). Install the server package ' +
        '(e.g. `apt-get install mariadb-server`) to run the MySQL/MariaDB tests.',
    );
  }
  return { server, installDb };
}

/** mariadbd refuses to run as root unless told which user to become; as root it runs as `mysql`, which owns the files. */
function serverUser(): { owner?: { uid: number; gid: number }; args: string[] } {
  if (process.getuid?.() !== 0) return { args: [] };
  try {
    const uid = Number(execFileSync('id', ['-u', OS_USER], { encoding: 'utf8' }).trim());
    const gid = Number(execFileSync('id', ['-g', OS_USER], { encoding: 'utf8' }).trim());
    return { owner: { uid, gid }, args: [`--user=${OS_USER}`] };
  } catch (error) {
    throw new Error('running as root, but there is no `mysql` OS user to run mariadbd as; create one or run the tests as a normal user', { cause: error });
  }
}

/** The mysql_native_password hash, so the root password never travels as plaintext (not even over the socket). */
function nativeHash(password: string): string {
  const once = createHash('sha1').update(password, 'utf8').digest();
  return '*' + createHash('sha1').update(once).digest('hex').toUpperCase();
}

async function exited(child: ChildProcess, ms: number): Promise<boolean> {
  if (child.exitCode !== null || child.signalCode !== null) return true;
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve(false), ms);
    child.once('exit', () => {
      clearTimeout(timer);
      resolve(true);
    });
  });
}

export async function startMariadbServer(options: MariadbServerOptions = {}): Promise<MariadbServer> {
  const binaries = findMariadbBinaries(options);
  const user = serverUser();
  const dir = await mkdtemp(join(tmpdir(), 'rotator-mariadb-'));
  const dataDir = join(dir, 'data');
  const socket = join(dir, 'mariadb.sock');
  const errorLog = join(dir, 'error.log');
  const generalLogFile = join(dir, 'general.log');
  let child: ChildProcess | undefined;
  let port = 0;

  // Last resort for a test process that exits without teardown: the server must not outlive the run.
  const kill = (): void => {
    if (child?.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  };

  try {
    const certs = await createTestCertificates(dir);
    await chmod(certs.keyFile, 0o600);
    if (user.owner !== undefined) {
      const { uid, gid } = user.owner;
      for (const name of await readdir(dir)) await chown(join(dir, name), uid, gid);
      await chown(dir, uid, gid);
    }
    // Small buffers and no durability: a throwaway server should start in about a second.
    const tuning = ['--innodb-buffer-pool-size=16M', '--innodb-log-file-size=8M', '--innodb-flush-log-at-trx-commit=0', '--skip-log-bin'];
    try {
      await run(
        binaries.installDb,
        ['--no-defaults', '--auth-root-authentication-method=normal', `--datadir=${dataDir}`, '--skip-test-db', '--skip-name-resolve', ...user.args, ...tuning],
        { timeout: 60_000 },
      );
    } catch (error) {
      const { stderr, stdout } = error as { stderr?: string; stdout?: string };
      throw new Error(`mariadb-install-db failed: ${(stderr ?? '') + (stdout ?? '') || (error as Error).message}`, { cause: error });
    }

    for (let attempt = 1; ; attempt++) {
      port = await freePort();
      const server = spawn(
        binaries.server,
        [
          '--no-defaults',
          `--datadir=${dataDir}`,
          `--socket=${socket}`,
          `--port=${port}`,
          `--bind-address=${HOST}`,
          `--pid-file=${join(dir, 'mariadbd.pid')}`,
          `--log-error=${errorLog}`,
          ...(options.tls === false ? [] : [`--ssl-ca=${certs.caFile}`, `--ssl-cert=${certs.certFile}`, `--ssl-key=${certs.keyFile}`]),
          '--skip-name-resolve',
          '--general-log=1',
          `--general-log-file=${generalLogFile}`,
          '--max-connections=60',
          ...tuning,
          ...user.args,
        ],
        { stdio: 'ignore' },
      );
      child = server;
      process.once('exit', kill);
      const failure = await waitUntilReady(server, socket, errorLog);
      if (failure === undefined) break;
      process.removeListener('exit', kill);
      if (server.exitCode === null && server.signalCode === null) server.kill('SIGKILL');
      await exited(server, 5_000);
      // Another process may have taken the port between freePort() and the bind: try another one.
      if (attempt < 3 && /Can't start server: Bind on TCP\/IP port|Address already in use/i.test(failure)) continue;
      throw new Error(`mariadbd did not start: ${failure}`);
    }

    const rootPassword = randomBytes(24).toString('base64url');
    const admin = await mysql.createConnection({ socketPath: socket, user: ROOT });
    try {
      // Only root, over the socket and over TCP from 127.0.0.1, both with the random password; no anonymous
      // accounts, no root@<hostname> or root@::1 that could let a test in without one.
      const accounts = await admin.query<mysql.RowDataPacket[]>('SELECT User AS user, Host AS host FROM mysql.user');
      for (const { user: name, host } of accounts[0] as Array<{ user: string; host: string }>) {
        if ((name === ROOT && host === 'localhost') || name === 'mariadb.sys') continue;
        await admin.query(`DROP USER ${mysql.escape(name)}@${mysql.escape(host)}`);
      }
      const hash = nativeHash(rootPassword);
      await admin.query(`CREATE USER 'root'@'127.0.0.1' IDENTIFIED BY PASSWORD '${hash}'`);
      await admin.query(`GRANT ALL PRIVILEGES ON *.* TO 'root'@'127.0.0.1' WITH GRANT OPTION`);
      await admin.query(`ALTER USER 'root'@'localhost' IDENTIFIED BY PASSWORD '${hash}'`);
    } finally {
      await admin.end();
    }

    let stopped = false;
    const server = child;
    return {
      host: HOST,
      port,
      rootUser: ROOT,
      rootPassword,
      caFile: certs.caFile,
      generalLogFile,
      socket,
      stop: async () => {
        if (stopped) return;
        stopped = true;
        process.removeListener('exit', kill);
        // Nothing in it is worth a clean shutdown.
        if (server.exitCode === null && server.signalCode === null) server.kill('SIGKILL');
        if (!(await exited(server, 10_000))) throw new Error(`mariadbd (pid ${String(server.pid)}) did not exit after SIGKILL`);
        await rm(dir, { recursive: true, force: true });
      },
    };
  } catch (error) {
    kill();
    if (child !== undefined) await exited(child, 5_000);
    process.removeListener('exit', kill);
    throw error;
  }
}

/** Polls the socket until the server answers; the error log's tail when the server exits or never answers. */
async function waitUntilReady(server: ChildProcess, socket: string, errorLog: string): Promise<string | undefined> {
  const deadline = Date.now() + START_TIMEOUT_MS;
  const log = async (): Promise<string> => (await readFile(errorLog, 'utf8').catch(() => '')).split('\n').slice(-15).join('\n');
  while (Date.now() < deadline) {
    if (server.exitCode !== null || server.signalCode !== null) return `it exited (${String(server.exitCode ?? server.signalCode)}); error log:\n${await log()}`;
    if (existsSync(socket)) {
      try {
        const probe = await mysql.createConnection({ socketPath: socket, user: ROOT, connectTimeout: 2_000 });
        await probe.end();
        return undefined;
      } catch {
        // Not accepting logins yet.
      }
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  return `it did not accept connections within ${START_TIMEOUT_MS} ms; error log:\n${await log()}`;
}
