import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

export interface TestCertificates {
  /** PEM of the throwaway CA: what a client must trust to verify the server. */
  caFile: string;
  /** PEM of the server certificate (CN localhost; SAN DNS:localhost, IP:127.0.0.1), signed by the CA. */
  certFile: string;
  /** Unencrypted PEM private key of the server certificate. */
  keyFile: string;
}

/**
 * Makes a throwaway CA and a server certificate for `localhost` / 127.0.0.1 in `dir` with the openssl CLI.
 * P-256 keys: generating them takes milliseconds, where RSA would add seconds to every test run.
 */
export async function createTestCertificates(dir: string): Promise<TestCertificates> {
  const caKey = join(dir, 'ca.key');
  const caFile = join(dir, 'ca.crt');
  const keyFile = join(dir, 'server.key');
  const csrFile = join(dir, 'server.csr');
  const certFile = join(dir, 'server.crt');
  const extFile = join(dir, 'server.ext');
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];

  await openssl(['req', '-x509', ...ec, '-keyout', caKey, '-out', caFile, '-days', '2', '-subj', '/CN=Rotator test CA',
    '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign']);
  await openssl(['req', '-new', ...ec, '-keyout', keyFile, '-out', csrFile, '-subj', '/CN=localhost']);
  await writeFile(
    extFile,
    [
      'subjectAltName=DNS:localhost,IP:127.0.0.1',
      'basicConstraints=critical,CA:FALSE',
      'keyUsage=critical,digitalSignature,keyEncipherment',
      'extendedKeyUsage=serverAuth',
      '',
    ].join('\n'),
  );
  await openssl(['x509', '-req', '-in', csrFile, '-CA', caFile, '-CAkey', caKey, '-set_serial', `0x${randomBytes(8).toString('hex')}`,
    '-days', '2', '-sha256', '-extfile', extFile, '-out', certFile]);
  return { caFile, certFile, keyFile };
}

async function openssl(args: string[]): Promise<void> {
  try {
    await run('openssl', args, { timeout: 20_000 });
  } catch (error) {
    const { stderr } = error as { stderr?: string };
    throw new Error(`openssl ${args[0] ?? ''} failed (is the openssl CLI installed?): ${stderr ?? (error as Error).message}`, { cause: error });
  }
}
