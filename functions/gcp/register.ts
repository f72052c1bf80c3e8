import type { HttpFunction, CloudEventFunction } from '@google-cloud/functions-framework';
import { Redactor } from '../../shared/redact.js';
import { safeError } from '../../shared/safe-error.js';
import type { RotatorError } from '../../shared/errors.js';
import { problem } from '../self-driven/http.js';
import type { GcpHandlers, HttpAnswer, HttpCall } from './handlers.js';
import { createCloudLogger, stdoutLines, type LineWriter } from './logger.js';

/**
 * The four functions and how they are registered with the Functions Framework. The names are the entry points
 * infra/gcp deploys (`entry_point`), one Cloud Run function each, all from the same source.
 */
export const FUNCTIONS = {
  onSecretEvent: 'onSecretEvent',
  rotate: 'rotate',
  purge: 'purge',
  reconcileJobs: 'reconcileJobs',
} as const;

/** The part of @google-cloud/functions-framework used here (a test passes a recorder). */
export interface FunctionsFramework {
  http(name: string, handler: HttpFunction): void;
  cloudEvent(name: string, handler: CloudEventFunction): void;
}

/**
 * Registers the four functions. `build` (settings, clients, store, rotators) runs at the first invocation and is
 * kept once it succeeds. Registration needs none of it, so a function with a bad setting still starts: each
 * invocation then fails with an ERROR line "rotation failed: <code>: the function could not start: ..." (or
 * "purge failed", "reconcile failed") naming the setting, which the alert counts, and the HTTP functions answer 500
 * with the code. A CloudEvent invocation that cannot start throws, so Pub/Sub redelivers once the setting is fixed.
 */
export function registerGcpFunctions(framework: FunctionsFramework, build: () => GcpHandlers, write: LineWriter = stdoutLines): void {
  let built: GcpHandlers | undefined;
  const handlers = (failure: string): GcpHandlers => {
    try {
      built ??= build();
      return built;
    } catch (error) {
      throw startFailed(write, failure, error);
    }
  };
  framework.cloudEvent(FUNCTIONS.onSecretEvent, async (event) => {
    await handlers('rotation').onSecretEvent(event);
  });
  const http = (name: string, failure: string, pick: (h: GcpHandlers) => (call: HttpCall) => Promise<HttpAnswer>): void => {
    framework.http(name, async (req, res) => {
      let result: HttpAnswer;
      try {
        const handler = pick(handlers(failure));
        // The framework has parsed the body already (JSON, text, form or raw); only the bytes it kept are read here.
        const rawBody = (req as { rawBody?: unknown }).rawBody;
        result = await handler({ method: req.method, rawBody: Buffer.isBuffer(rawBody) ? rawBody : undefined });
      } catch (error) {
        const safe = error as RotatorError;
        const p = problem(500, safe.code, 'the function could not start; its logs name the setting or client at fault');
        result = { status: p.status, body: p.body, headers: p.headers };
      }
      res.status(result.status).set(result.headers).send(JSON.stringify(result.body));
    });
  };
  http(FUNCTIONS.rotate, 'rotation', (h) => h.rotate);
  http(FUNCTIONS.purge, 'purge', (h) => h.purge);
  http(FUNCTIONS.reconcileJobs, 'reconcile', (h) => h.reconcileJobs);
}

function startFailed(write: LineWriter, failure: string, error: unknown): RotatorError {
  const redactor = new Redactor();
  const safe = safeError(error, redactor);
  createCloudLogger(write, redactor).error(`${failure} failed: ${safe.code}: the function could not start: ${safe.message}`, { code: safe.code });
  return safe;
}
