import { createServer, type Server, type Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isRotatorError, type RotatorError } from '../../shared/errors.js';
import type { Rotator, RotatorContext } from '../../shared/rotator.js';
import type { SecretObject } from '../../shared/secret.js';
import { freePort } from './postgres-cluster.js';

/** The RotatorError `run` rejects with; fails the test when it resolves or throws something else. */
export async function rejection(run: () => Promise<unknown>): Promise<RotatorError> {
  try {
    await run();
  } catch (error) {
    if (isRotatorError(error)) return error;
    throw error;
  }
  throw new Error('expected a RotatorError');
}

export interface UnreachableCase {
  /** A rotator with the given connect timeout, trusting the test CA. */
  rotator: (connectTimeoutMs?: number) => Rotator;
  /** A secret for some user on 127.0.0.1 at `port`. */
  secretOn: (port: number) => SecretObject;
  ctx: RotatorContext;
}

/**
 * What every database rotator must do when the server is not there: a closed port fails at once, a server that
 * accepts the connection and never answers fails after the connect timeout, and the caller's abort ends the wait.
 * All three are retryable TARGET_UNREACHABLE.
 */
export function describeUnreachableTargets({ rotator, secretOn, ctx }: UnreachableCase): void {
  describe('unreachable targets', () => {
    it('a port nobody listens on gives a retryable TARGET_UNREACHABLE at once', async () => {
      const port = await freePort();
      const started = Date.now();
      const e = await rejection(() => rotator().works(secretOn(port), ctx));
      expect(e.code).toBe('TARGET_UNREACHABLE');
      expect(e.retryable).toBe(true);
      expect(e.message).toContain(`127.0.0.1:${port}`);
      expect(Date.now() - started).toBeLessThan(2_000);
    });

    describe('a server that accepts connections and never answers', () => {
      let silent: Server;
      let port: number;
      const sockets = new Set<Socket>();
      beforeAll(async () => {
        silent = createServer((socket) => {
          sockets.add(socket);
          socket.on('error', () => undefined);
        });
        await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
        port = (silent.address() as { port: number }).port;
      });
      afterAll(async () => {
        for (const s of sockets) s.destroy();
        await new Promise((resolve) => silent.close(resolve));
      });

      it('times out after connectTimeoutMs with a retryable TARGET_UNREACHABLE', async () => {
        const started = Date.now();
        const e = await rejection(() => rotator(300).works(secretOn(port), ctx));
        const elapsed = Date.now() - started;
        expect(e.code).toBe('TARGET_UNREACHABLE');
        expect(e.retryable).toBe(true);
        expect(e.message).toMatch(/within 300 ms/);
        expect(elapsed).toBeGreaterThanOrEqual(250);
        expect(elapsed).toBeLessThan(2_000);
      });

      it('stops at once when the caller aborts', async () => {
        const started = Date.now();
        const signal = AbortSignal.timeout(200);
        const e = await rejection(() => rotator(20_000).test(secretOn(port), { ...ctx, signal }));
        expect(e.code).toBe('TARGET_UNREACHABLE');
        expect(e.message).toMatch(/aborted/);
        expect(Date.now() - started).toBeLessThan(2_000);
      });
    });
  });
}
