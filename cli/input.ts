import { open } from 'node:fs/promises';
import { RotatorError } from '../shared/errors.js';
import { OPEN_NONBLOCKING, errnoCode, fileKind } from '../stores/file/io.js';

/**
 * Reading a secret value with the store's bound (SecretStore.maxValueBytes), so that a huge input is refused, not
 * loaded: at most `maxBytes + SLACK_BYTES + 1` bytes are ever read. The slack lets a value of exactly the limit
 * arrive with the whitespace an editor or `echo` adds (it is trimmed); the caller checks the trimmed value again.
 */
export const SLACK_BYTES = 1_024;

export function tooLarge(what: string, maxBytes: number): RotatorError {
  return new RotatorError('INVALID_INPUT', `${what} is larger than ${maxBytes} bytes, the store's limit for a value`);
}

/** Reads `stream` up to the bound; stops (and destroys the stream when it can) as soon as the bound is passed. */
export async function readStreamBounded(stream: AsyncIterable<unknown> & { destroy?: () => void }, maxBytes: number, what = 'standard input'): Promise<string> {
  const limit = maxBytes + SLACK_BYTES;
  const chunks: Buffer[] = [];
  let total = 0;
  for await (const chunk of stream) {
    const buffer = typeof chunk === 'string' ? Buffer.from(chunk, 'utf8') : (chunk as Buffer);
    total += buffer.length;
    if (total > limit) {
      stream.destroy?.();
      throw tooLarge(what, maxBytes);
    }
    chunks.push(buffer);
  }
  return Buffer.concat(chunks).toString('utf8');
}

/**
 * A value file for `--from-file`: a regular file (a symlink to one is fine), opened without blocking so a FIFO
 * cannot hang the command, refused by its size before a byte is read, and read with the same bound in case it grows.
 * A FIFO, device or directory is refused: a pipe belongs on standard input ("-").
 */
export async function readFileBounded(path: string, maxBytes: number): Promise<string> {
  let handle;
  try {
    handle = await open(path, OPEN_NONBLOCKING);
  } catch (error) {
    throw new RotatorError('INVALID_INPUT', `--from-file: cannot read ${path}: ${errnoCode(error) ?? 'error'}`);
  }
  try {
    const stats = await handle.stat();
    if (!stats.isFile()) {
      throw new RotatorError('INVALID_INPUT', `--from-file: ${path} is ${fileKind(stats)}, not a regular file; pipe other input on standard input instead`);
    }
    const limit = maxBytes + SLACK_BYTES;
    if (stats.size > limit) throw tooLarge(`--from-file ${path}`, maxBytes);
    const buffer = Buffer.alloc(limit + 1);
    let length = 0;
    for (;;) {
      const { bytesRead } = await handle.read(buffer, length, buffer.length - length, length);
      if (bytesRead === 0) break;
      length += bytesRead;
      if (length > limit) throw tooLarge(`--from-file ${path}`, maxBytes);
    }
    return buffer.subarray(0, length).toString('utf8');
  } catch (error) {
    if (error instanceof RotatorError) throw error;
    throw new RotatorError('INVALID_INPUT', `--from-file: cannot read ${path}: ${errnoCode(error) ?? 'error'}`);
  } finally {
    await handle.close().catch(() => undefined);
  }
}
