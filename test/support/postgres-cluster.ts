import { execFile, execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { appendFile, chmod, chown, mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { createTestCertificates } from './tls.js';

const run = promisify(execFile);

/** The one role pg_hba lets in without a password (trust), and the one asked for a cleartext password. */
export const TRUST_ROLE = 'rotator_trust_role';
export const CLEARTEXT_ROLE = 'rotator_cleartext_role';

/**
 * A throwaway PostgreSQL cluster that enforces passwords (scram-sha-256 for every role but the two above), so
 * rotation tests cannot pass against a server that would let any password in. It listens on 127.0.0.1 only,
 * offers TLS with a certificate from a throwaway CA, and logs every statement to a file the tests read to prove
 * that no plaintext password reached the server.
 */
export interface ScramCluster {
  host: string;
  port: number;
  superuser: string;
  superuserPassword: string;
  /** PEM of the CA that signed the server certificate (CN/SAN localhost, IP SAN 127.0.0.1). */
  caFile: string;
  /** The server log (log_statement=all). */
  logFile: string;
  /** Directory of the server's unix socket. */
  socketDir: string;
  /** Stops the server (immediate shutdown) and removes its directory. Safe to call more than once. */
  stop(): Promise<void>;
}

export interface ScramClusterOptions {
  /** Directory of initdb / pg_ctl; found under /usr/lib/postgresql/<version>/bin or via pg_config otherwise. */
  binDir?: string;
}

const SUPERUSER = 'postgres';
const HOST = '127.0.0.1';

/** The newest PostgreSQL bin directory that has initdb and pg_ctl. */
export function findPostgresBinDir(): string {
  const candidates: string[] = [];
  const root = '/usr/lib/postgresql';
  if (existsSync(root)) {
    const versions = readdirSync(root)
      .filter((v) => /^\d+(\.\d+)?$/.test(v))
      .sort((a, b) => Number(b) - Number(a));
    candidates.push(...versions.map((v) => join(root, v, 'bin')));
  }
  try {
    candidates.push(execFileSync('pg_config', ['--bindir'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim());
  } catch {
    // No pg_config on PATH; the glob above was the only chance.
  }
  const found = candidates.find((dir) => existsSync(join(dir, 'initdb')) && existsSync(join(dir, 'pg_ctl')));
  if (found === undefined) {
    throw new Error(
      'No PostgreSQL server binaries found (looked for initdb and pg_ctl under /usr/lib/postgresql/*/bin and `pg_config --bindir`). ' +
        'Install the server package (e.g. `apt-get install postgresql`) to run the PostgreSQL tests.',
    );
  }
  return found;
}

/** A port nothing listens on right now (the kernel picks it). */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, HOST, () => {
      const address = server.address();
      server.close(() => {
        if (address !== null && typeof address === 'object') resolve(address.port);
        else reject(new Error('could not pick a free port'));
      });
    });
  });
}

/** initdb refuses to run as root; as root, everything runs as the `postgres` OS user and it owns the files. */
function asServerUser(): { wrap: (cmd: string, args: string[]) => [string, string[]]; owner?: { uid: number; gid: number } } {
  if (process.getuid?.() !== 0) return { wrap: (cmd, args) => [cmd, args] };
  let uid: number;
  let gid: number;
  try {
    uid = Number(execFileSync('id', ['-u', SUPERUSER], { encoding: 'utf8' }).trim());
    gid = Number(execFileSync('id', ['-g', SUPERUSER], { encoding: 'utf8' }).trim());
  } catch (error) {
    throw new Error('running as root, but there is no `postgres` OS user to run initdb as; create one or run the tests as a normal user', {
      cause: error,
    });
  }
  return { wrap: (cmd, args) => ['runuser', ['-u', SUPERUSER, '--', cmd, ...args]], owner: { uid, gid } };
}

export async function startScramCluster(options: ScramClusterOptions = {}): Promise<ScramCluster> {
  const binDir = options.binDir ?? findPostgresBinDir();
  const user = asServerUser();
  const exec = async (cmd: string, args: string[], timeout = 30_000): Promise<void> => {
    const [file, argv] = user.wrap(join(binDir, cmd), args);
    try {
      await run(file, argv, { timeout });
    } catch (error) {
      const { stderr, stdout } = error as { stderr?: string; stdout?: string };
      throw new Error(`${cmd} failed: ${(stderr ?? '') + (stdout ?? '') || (error as Error).message}`, { cause: error });
    }
  };

  const dir = await mkdtemp(join(tmpdir(), 'rotator-pg-'));
  const dataDir = join(dir, 'data');
  const logFile = join(dir, 'server.log');
  const pwFile = join(dir, 'pwfile');
  let started = false;

  const kill = (): void => {
    // Last resort for a test process that exits without teardown: the postmaster must not outlive the run.
    try {
      const pid = Number(readFileSync(join(dataDir, 'postmaster.pid'), 'utf8').split('\n')[0]);
      if (pid > 0) process.kill(pid, 'SIGQUIT');
    } catch {
      // Not running.
    }
    rmSync(dir, { recursive: true, force: true });
  };

  try {
    const superuserPassword = randomBytes(24).toString('base64url');
    await writeFile(pwFile, superuserPassword + '\n', { mode: 0o600 });
    const certs = await createTestCertificates(dir);
    if (user.owner !== undefined) {
      const { uid, gid } = user.owner;
      for (const name of await readdir(dir)) await chown(join(dir, name), uid, gid);
      await chown(dir, uid, gid);
    }
    await chmod(certs.keyFile, 0o600);

    await exec('initdb', [
      '-D', dataDir,
      '-U', SUPERUSER,
      `--pwfile=${pwFile}`,
      '--auth-local=scram-sha-256',
      '--auth-host=scram-sha-256',
      '--encoding=UTF8',
      '--locale=C',
      '--no-sync',
      '--no-instructions',
    ]);
    await rm(pwFile);

    await writeFile(
      join(dataDir, 'pg_hba.conf'),
      [
        '# TYPE  DATABASE USER ADDRESS       METHOD',
        // Two roles with weaker methods, for the tests that prove the rotator sees through them.
        `host    all      ${TRUST_ROLE}  127.0.0.1/32  trust`,
        `host    all      ${CLEARTEXT_ROLE}  127.0.0.1/32  password`,
        'local   all      all                scram-sha-256',
        'hostssl all      all  127.0.0.1/32  scram-sha-256',
        'host    all      all  127.0.0.1/32  scram-sha-256',
        '',
      ].join('\n'),
    );

    for (let attempt = 1; ; attempt++) {
      const port = await freePort();
      await appendFile(
        join(dataDir, 'postgresql.conf'),
        [
          '',
          `# rotator test cluster, attempt ${attempt}`,
          `listen_addresses = '${HOST}'`,
          `port = ${port}`,
          `unix_socket_directories = '${dir}'`,
          "password_encryption = 'scram-sha-256'",
          'ssl = on',
          `ssl_cert_file = '${certs.certFile}'`,
          `ssl_key_file = '${certs.keyFile}'`,
          `ssl_ca_file = '${certs.caFile}'`,
          "log_statement = 'all'",
          'logging_collector = off',
          'max_connections = 40',
          'shared_buffers = 16MB',
          // A throwaway cluster: durability buys nothing and costs start-up and test time.
          'fsync = off',
          'synchronous_commit = off',
          'full_page_writes = off',
          '',
        ].join('\n'),
      );
      try {
        await exec('pg_ctl', ['-D', dataDir, '-l', logFile, '-w', '-t', '30', 'start'], 40_000);
        started = true;
        process.once('exit', kill);
        let stopped = false;
        return {
          host: HOST,
          port,
          superuser: SUPERUSER,
          superuserPassword,
          caFile: certs.caFile,
          logFile,
          socketDir: dir,
          stop: async () => {
            if (stopped) return;
            stopped = true;
            process.removeListener('exit', kill);
            try {
              await exec('pg_ctl', ['-D', dataDir, '-m', 'immediate', '-w', '-t', '10', 'stop'], 15_000);
            } catch {
              kill();
            }
            await rm(dir, { recursive: true, force: true });
          },
        };
      } catch (error) {
        // Another process may have taken the port between freePort() and the bind: try another one.
        const log = await readFile(logFile, 'utf8').catch(() => '');
        if (attempt < 3 && /could not bind|Address already in use/i.test(log)) continue;
        throw new Error(`${(error as Error).message}\nserver log:\n${log}`, { cause: error });
      }
    }
  } catch (error) {
    if (!started) await rm(dir, { recursive: true, force: true });
    throw error;
  }
}
