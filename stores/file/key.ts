import { randomBytes } from 'node:crypto';
import { access, open, unlink } from 'node:fs/promises';
import { dirname } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { RotatorError } from '../../shared/errors.js';
import { KEY_BYTES } from './crypto.js';
import { OPEN_NONBLOCKING, ensureDir, errnoCode, fileKind, fsyncDir, ioError } from './io.js';

/**
 * Where the file store's 32-byte key comes from: the ROTATOR_STORE_KEY environment variable (base64) when it
 * is set, so a deployment can keep the key in its own secret manager; otherwise a key file beside the store,
 * created on first use. The key file is to the store what ~/.ssh/id_ed25519 is to ssh: owner-only, and
 * refused when others can read it.
 */
export const KEY_ENV = 'ROTATOR_STORE_KEY';

export interface LoadKeyOptions {
  env: Readonly<Record<string, string | undefined>>;
  /** The key file; defaults to `<storePath>.key`. */
  keyFile?: string;
  storePath?: string;
}

export interface LoadedKey {
  key: Buffer;
  /** Where the key came from, for error messages: "ROTATOR_STORE_KEY" or "the key file <path>". */
  source: string;
  /** True when this call generated the key file. */
  created: boolean;
}

// 32 bytes are 43 base64 characters and one "=" of padding.
const BASE64_KEY = /^[A-Za-z0-9+/]{43}=$/;
const HOW_TO_MAKE = 'e.g. the output of `openssl rand -base64 32`';
// How long a reader waits for a racing creator to finish writing a new key file.
const KEY_FILE_WRITE_GRACE_MS = 2_000;
// A key file holds 45 bytes; anything much larger is not one, and is not read into memory.
const MAX_KEY_FILE_BYTES = 1_024;

export async function loadOrCreateKey(options: LoadKeyOptions): Promise<Buffer> {
  return (await loadKey(options)).key;
}

export async function loadKey(options: LoadKeyOptions): Promise<LoadedKey> {
  const fromEnv = options.env[KEY_ENV];
  if (fromEnv !== undefined) return { key: decodeEnvKey(fromEnv), source: KEY_ENV, created: false };
  const keyFile = options.keyFile ?? (options.storePath === undefined ? undefined : `${options.storePath}.key`);
  if (keyFile === undefined) throw new RotatorError('INVALID_INPUT', `no store key: set ${KEY_ENV} or pass a key file`);
  const source = `the key file ${keyFile}`;
  const existing = await readKeyFile(keyFile);
  if (existing !== undefined) return { key: existing, source, created: false };
  if (options.storePath !== undefined && (await exists(options.storePath))) {
    // A new key could never decrypt the values already in the store.
    throw new RotatorError(
      'STORE_KEY_MISMATCH',
      `the store ${options.storePath} exists but its key file ${keyFile} does not; restore the key file from your backup, or set ${KEY_ENV}`,
    );
  }
  if (await createKeyFile(keyFile)) return { key: await readKeyFileOrFail(keyFile), source, created: true };
  // Another process created it between our read and our create: use its key.
  return { key: await readKeyFileOrFail(keyFile), source, created: false };
}

function decodeEnvKey(raw: string): Buffer {
  const text = raw.trim(); // a trailing newline from `$(cat file)` or a .env editor is not an error
  if (!BASE64_KEY.test(text)) {
    // Never echo the value: it is (meant to be) a key.
    throw new RotatorError(
      'INVALID_INPUT',
      `${KEY_ENV} must be the base64 encoding of exactly ${KEY_BYTES} bytes (44 characters, ${HOW_TO_MAKE}); unset it to use the key file instead`,
    );
  }
  return Buffer.from(text, 'base64');
}

/** The key in the file; undefined when the file does not exist. */
async function readKeyFile(keyFile: string): Promise<Buffer | undefined> {
  const deadline = Date.now() + KEY_FILE_WRITE_GRACE_MS;
  for (;;) {
    let handle;
    try {
      handle = await open(keyFile, OPEN_NONBLOCKING);
    } catch (error) {
      if (errnoCode(error) === 'ENOENT') return undefined;
      throw ioError('read the store key file', keyFile, error);
    }
    let text: string;
    let mtimeMs: number;
    try {
      // fstat on the descriptor we read through: the mode checked is the file's whose bytes we use.
      const stats = await handle.stat();
      if (!stats.isFile()) {
        throw new RotatorError('INVALID_INPUT', `the store key file ${keyFile} is not a regular file (it is ${fileKind(stats)}); point ROTATOR_STORE_KEY_FILE at the key file itself`);
      }
      if (stats.size > MAX_KEY_FILE_BYTES) {
        throw new RotatorError('INVALID_INPUT', `the store key file ${keyFile} is ${stats.size} bytes, too large to hold a base64 ${KEY_BYTES}-byte key; restore it from your backup`);
      }
      if (process.platform !== 'win32' && (stats.mode & 0o077) !== 0) {
        throw new RotatorError(
          'INVALID_INPUT',
          `the store key file ${keyFile} is readable by group or others (mode ${(stats.mode & 0o777).toString(8)}); run \`chmod 600 ${keyFile}\``,
        );
      }
      mtimeMs = stats.mtimeMs;
      const buffer = Buffer.alloc(MAX_KEY_FILE_BYTES);
      const { bytesRead } = await handle.read(buffer, 0, MAX_KEY_FILE_BYTES, 0);
      text = buffer.subarray(0, bytesRead).toString('utf8').trim();
    } catch (error) {
      if (error instanceof RotatorError) throw error;
      throw ioError('read the store key file', keyFile, error);
    } finally {
      await handle.close().catch(() => undefined);
    }
    if (BASE64_KEY.test(text)) return Buffer.from(text, 'base64');
    // An empty file younger than the grace period is another process between its create and its write.
    if (text.length === 0 && Date.now() < deadline && Date.now() - mtimeMs < KEY_FILE_WRITE_GRACE_MS) {
      await sleep(10);
      continue;
    }
    throw new RotatorError(
      'INVALID_INPUT',
      `the store key file ${keyFile} does not hold a base64 ${KEY_BYTES}-byte key; restore it from your backup (a new key cannot decrypt an existing store)`,
    );
  }
}

async function readKeyFileOrFail(keyFile: string): Promise<Buffer> {
  const key = await readKeyFile(keyFile);
  if (key === undefined) throw new RotatorError('STORE_IO', `the store key file ${keyFile} disappeared while it was being read; retry`, { retryable: true });
  return key;
}

/** Creates the key file with O_EXCL and mode 0600; false when another process created it first. */
async function createKeyFile(keyFile: string): Promise<boolean> {
  await ensureDir(dirname(keyFile));
  let handle;
  try {
    handle = await open(keyFile, 'wx', 0o600);
  } catch (error) {
    if (errnoCode(error) === 'EEXIST') return false;
    throw ioError('create the store key file', keyFile, error);
  }
  try {
    await handle.writeFile(randomBytes(KEY_BYTES).toString('base64') + '\n', 'utf8');
    await handle.sync();
  } catch (error) {
    // Leave no empty key file behind: the next run would refuse it instead of creating a key.
    await handle.close().catch(() => undefined);
    await unlink(keyFile).catch(() => undefined);
    throw ioError('write the store key file', keyFile, error);
  }
  await handle.close();
  await fsyncDir(dirname(keyFile));
  return true;
}

async function exists(path: string): Promise<boolean> {
  try {
    await access(path);
    return true;
  } catch (error) {
    if (errnoCode(error) === 'ENOENT') return false;
    throw ioError('check the store file', path, error);
  }
}
