import { randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import type { Context } from 'aws-lambda';
import { describe, expect, it } from 'vitest';
import { createObservability } from '../../functions/aws/lambda.js';
import { RotatorError } from '../../shared/errors.js';
import { REDACTED, Redactor } from '../../shared/redact.js';
import { spawnChildSync } from '../support/child.js';
import { lambdaContext } from '../support/lambda.js';

/** Uncaught errors, unhandled rejections and errors leaving a Lambda handler carry no registered value. */
const fixture = fileURLToPath(new URL('../fixtures/crash-with-secret.ts', import.meta.url));

function crash(mode: string, kind: string): { status: number | null; stderr: string; secret: string } {
  const secret = `crash-${randomBytes(12).toString('base64url')}`;
  const result = spawnChildSync(process.execPath, ['--import', 'tsx', fixture, mode, kind, secret], { timeout: 20_000 });
  return { status: result.status, stderr: result.stderr, secret };
}

describe('crash redaction', () => {
  for (const kind of ['throw', 'reject', 'reject-string']) {
    it(`the CLI's exit mode prints a redacted line and exits 70 (${kind})`, () => {
      const { status, stderr, secret } = crash('exit', kind);
      expect(status).toBe(70);
      expect(stderr).toMatch(/^crashed: /);
      expect(stderr).toContain(REDACTED);
      expect(stderr).not.toContain(secret);
    });

    it(`the Lambda runtime's own handlers get a scrubbed error (${kind})`, () => {
      const { status, stderr, secret } = crash('runtime-with-handler', kind);
      expect(status).toBe(129);
      expect(stderr).toContain('Runtime.Unhandled');
      expect(stderr).toContain(REDACTED);
      expect(stderr).not.toContain(secret);
    });
  }

  it("Node's own printer, where nobody handles the error, prints it scrubbed (message, stack, properties, cause)", () => {
    const { status, stderr, secret } = crash('runtime', 'throw');
    expect(status).toBe(1);
    expect(stderr).toContain('could not log in with [REDACTED]');
    expect(stderr).toContain('driver said [REDACTED]');
    expect(stderr).not.toContain(secret);
  });
});

describe('errors leaving a Lambda handler', () => {
  const context: Context = lambdaContext(60_000);

  it('have a redacted message and stack, whether the handler or a middleware threw', async () => {
    const secret = `handler-${randomBytes(12).toString('base64url')}`;
    const redactor = new Redactor();
    redactor.add(secret);
    const kit = createObservability({ redactor, redactCrashes: false });
    const fromRun = kit.handler(() => Promise.reject(new Error(`driver echoed ${secret}`)));
    const fromMiddleware = kit.handler(() => Promise.resolve('ok'), [{ before: () => { throw new RotatorError('INVALID_INPUT', `bad event ${secret}`); } }]);
    for (const handler of [fromRun, fromMiddleware]) {
      const error = await handler({}, context).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(error).toBeInstanceOf(RotatorError);
      const { message, stack, cause } = error as RotatorError;
      expect(message).toContain(REDACTED);
      expect(`${message}\n${stack ?? ''}`).not.toContain(secret);
      expect(cause).toBeUndefined();
    }
  });
});
