import { mkdtempSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { createServer, connect, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { BlobServiceClient, StorageSharedKeyCredential, type ContainerClient, type StoragePipelineOptions } from '@azure/storage-blob';
import { spawnChild, type CapturedChild } from './child.js';

/**
 * Azurite's blob service (the `azurite` npm package, Microsoft's storage emulator) for the tests of the Azure
 * rotation lock: a child process on a free loopback port, in-memory, its access log off, telemetry off. Started per
 * test file (beforeAll), never in the global setup, so the unit project stays server-free.
 *
 * The child runs Azurite under a two-line boot that exits when its stdin closes, so a test worker that dies without
 * calling stop() does not leave an emulator behind.
 */

/** Azurite's well-known development account (published in Microsoft's Azurite documentation): not a secret. */
export const AZURITE_ACCOUNT = 'devstoreaccount1';
export const AZURITE_ACCOUNT_KEY = 'Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==';

/** Tests want a dead endpoint to fail in a second or two, not after the SDK's default minutes of retries. */
export const FAST_RETRY: StoragePipelineOptions['retryOptions'] = { maxTries: 2, tryTimeoutInMs: 2_000, retryDelayInMs: 100, maxRetryDelayInMs: 200 };

export interface Azurite {
  /** `http://127.0.0.1:<port>/devstoreaccount1` */
  blobEndpoint: string;
  port: number;
  /** A client for container `name` (not created), with the dev account's shared key and FAST_RETRY. */
  containerClient(name: string, options?: StoragePipelineOptions): ContainerClient;
  stop(): Promise<void>;
}

/** A container client on an Azurite (or on a proxy in front of it) at `blobEndpoint`. */
export function azuriteContainerClient(blobEndpoint: string, name: string, options: StoragePipelineOptions = {}): ContainerClient {
  const credential = new StorageSharedKeyCredential(AZURITE_ACCOUNT, AZURITE_ACCOUNT_KEY);
  return new BlobServiceClient(blobEndpoint, credential, { retryOptions: FAST_RETRY, ...options }).getContainerClient(name);
}

export async function startAzurite(): Promise<Azurite> {
  const main = createRequire(import.meta.url).resolve('azurite/dist/src/blob/main.js');
  const boot = `process.stdin.on('end', () => process.exit(0)); process.stdin.resume(); process.argv.splice(1, 0, 'azurite-blob'); await import(${JSON.stringify(pathToFileURL(main).href)});`;
  // In-memory persistence writes nothing, but Azurite resolves paths against its working directory: give it an empty one.
  const cwd = mkdtempSync(join(tmpdir(), 'rotator-azurite-'));
  const args = ['--inMemoryPersistence', '--extentMemoryLimit', '64', '--blobHost', '127.0.0.1', '--blobPort', '0', '--silent', '--disableTelemetry'];
  // The SDK speaks a newer storage API version than this Azurite knows; the lease operations are the same.
  args.push('--skipApiVersionCheck');
  const child = spawnChild(process.execPath, ['--input-type=module', '-e', boot, '--', ...args], { cwd, stdio: 'pipe' });
  let port: number;
  try {
    port = await listeningPort(child);
  } catch (error) {
    child.kill('SIGKILL');
    rmSync(cwd, { recursive: true, force: true });
    throw error;
  }
  const blobEndpoint = `http://127.0.0.1:${port}/${AZURITE_ACCOUNT}`;
  const exited = new Promise<void>((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) resolve();
    else child.once('exit', () => resolve());
  });
  return {
    blobEndpoint,
    port,
    containerClient: (name, options) => azuriteContainerClient(blobEndpoint, name, options),
    async stop() {
      child.stdin?.end();
      const killer = setTimeout(() => child.kill('SIGKILL'), 5_000);
      await exited;
      clearTimeout(killer);
      rmSync(cwd, { recursive: true, force: true });
    },
  };
}

function listeningPort(child: CapturedChild): Promise<number> {
  return new Promise((resolve, reject) => {
    let out = '';
    let err = '';
    const timer = setTimeout(() => reject(new Error(`Azurite did not start within 20 s: ${out}${err}`)), 20_000);
    child.stderr.on('data', (chunk: Buffer) => (err += chunk.toString()));
    child.stdout.on('data', (chunk: Buffer) => {
      out += chunk.toString();
      const match = /successfully listens on http:\/\/127\.0\.0\.1:(\d+)/.exec(out);
      if (match?.[1] !== undefined) {
        clearTimeout(timer);
        resolve(Number(match[1]));
      }
    });
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      reject(new Error(`Azurite exited (${String(code ?? signal)}) before listening: ${out}${err}`));
    });
  });
}

export type ProxyMode = 'forward' | 'reset' | 'blackhole';

/**
 * A loopback TCP proxy in front of a port, whose behaviour a test switches: `forward` passes bytes both ways,
 * `reset` destroys every connection (open ones too) as a storage outage would, `blackhole` accepts connections and
 * never answers (a hung service). Lets a test break one client's path to Azurite while others still reach it.
 */
export interface FaultyProxy {
  port: number;
  setMode(mode: ProxyMode): void;
  close(): Promise<void>;
}

export async function startFaultyProxy(targetPort: number): Promise<FaultyProxy> {
  let mode: ProxyMode = 'forward';
  const open = new Set<Socket>();
  const track = (socket: Socket): void => {
    open.add(socket);
    socket.on('error', () => undefined);
    socket.on('close', () => open.delete(socket));
  };
  const server: Server = createServer((client) => {
    track(client);
    if (mode === 'reset') return void client.resetAndDestroy();
    if (mode === 'blackhole') return;
    const upstream = connect(targetPort, '127.0.0.1');
    track(upstream);
    client.pipe(upstream).pipe(client);
    client.on('close', () => upstream.destroy());
    upstream.on('close', () => client.destroy());
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as { port: number }).port,
    setMode(next) {
      mode = next;
      if (next !== 'forward') for (const socket of open) socket.destroy(); // kept-alive connections break too
    },
    async close() {
      for (const socket of open) socket.destroy();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}
