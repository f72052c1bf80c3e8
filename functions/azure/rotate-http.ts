import type { ReadableStream } from 'node:stream/web';
import type { HttpRequest, HttpResponseInit } from '@azure/functions';
import * as z from 'zod';
import { RotatorError, type ErrorCode } from '../../shared/errors.js';
import { safeError } from '../../shared/safe-error.js';
import { KEY_VAULT_SECRET_NAME, PENDING_COMPANION_SUFFIX } from './events.js';
import { JSON_HEADERS, MAX_BODY_BYTES, problem as problemOf, statusOf } from '../self-driven/http.js';
import { azureInvocation, type AzureFunctionDeps } from './deps.js';
import type { LogSink } from './logger.js';

/**
 * The `rotate` function: "rotate now" over HTTP (function key), from the portal's Test/Run or with curl:
 *
 *   curl -X POST "https://<app>.azurewebsites.net/api/rotate/<secret-name>?code=<function key>"
 *   curl -X POST "https://<app>.azurewebsites.net/api/rotate?code=<key>" -H 'content-type: application/json' -d '{"secretId":"<secret-name>"}'
 *
 * It always rotates (a person asked; no due check) and answers with the rotation report, which has no secret in it.
 *
 * Decisions:
 * - **Strict input.** The secret comes from the route or from a JSON body that is exactly `{"secretId": "..."}`
 *   (both: they must agree); the name must be a Key Vault secret name under this deployment's prefix, and not a
 *   `-rotator-pending` companion. The body is read only up to MAX_BODY_BYTES.
 * - **Status codes and body** are the same on every cloud (functions/self-driven/http.ts).
 * - Refusals of the request (4xx) are logged at warn; a rotation that failed (5xx) at error, starting "rotation
 *   failed", so the alert counts it.
 */
export { MAX_BODY_BYTES };

const SECRET_NAME_RULE = 'a Key Vault secret name (1 to 127 letters, digits and dashes)';

const bodySchema = z.strictObject(
  { secretId: z.string({ error: `must be ${SECRET_NAME_RULE}` }).regex(KEY_VAULT_SECRET_NAME, `must be ${SECRET_NAME_RULE}`) },
  // Never quote what was sent: a misspelt key is named by the rule, not echoed.
  { error: (issue) => (issue.code === 'unrecognized_keys' ? 'the body may hold only "secretId"' : 'the body must be a JSON object {"secretId": "<secret name>"}') },
);

export type RotateHttpHandler = (request: HttpRequest, context: LogSink) => Promise<HttpResponseInit>;

export function createRotateHttpHandler(deps: AzureFunctionDeps): RotateHttpHandler {
  const retryAfter = String(deps.retryAfterSeconds ?? 60);
  return async (request, context) => {
    const kit = azureInvocation(deps, context);
    const { logger, redactor } = kit;
    let secretId: string | undefined;
    try {
      if (request.method.toUpperCase() !== 'POST') return problem(405, 'INVALID_INPUT', 'use POST', { Allow: 'POST' });
      secretId = await requestedSecret(request, deps);
      const report = await kit.engine().rotate(secretId);
      logger.info('rotation succeeded', { secretId, outcome: report.resumed ? 'resumed' : 'rotated', ms: report.totalMs, report });
      return { status: 200, jsonBody: { report }, headers: JSON_HEADERS };
    } catch (error) {
      const safe = safeError(error, redactor);
      const status = error instanceof BodyTooLarge ? 413 : statusOf(safe);
      const fields = { ...(secretId === undefined ? {} : { secretId }), status, code: safe.code, retryable: safe.retryable, error: safe };
      if (status >= 500) logger.error(`rotation failed: ${safe.code}`, fields);
      else logger.warn(`rotate request refused: ${safe.code}`, fields);
      return problem(status, safe.code, safe.message, safe.code === 'ROTATION_IN_PROGRESS' ? { 'Retry-After': retryAfter } : {});
    }
  };
}

/** The secret the request names (route or body), checked; INVALID_INPUT naming the rule otherwise. */
async function requestedSecret(request: HttpRequest, deps: AzureFunctionDeps): Promise<string> {
  const fromRoute = request.params.secretId;
  if (fromRoute !== undefined && fromRoute !== '' && !KEY_VAULT_SECRET_NAME.test(fromRoute)) {
    throw new RotatorError('INVALID_INPUT', `the secret in the path must be ${SECRET_NAME_RULE}`);
  }
  const fromBody = await bodySecret(request);
  const secretId = fromRoute === undefined || fromRoute === '' ? fromBody : fromRoute;
  if (secretId === undefined) throw new RotatorError('INVALID_INPUT', 'name the secret: POST /api/rotate/<secret-name>, or a JSON body {"secretId": "<secret-name>"}');
  if (fromBody !== undefined && fromBody !== secretId) throw new RotatorError('INVALID_INPUT', 'the path and the body name different secrets');
  if (secretId.toLowerCase().endsWith(PENDING_COMPANION_SUFFIX)) {
    throw new RotatorError('INVALID_INPUT', `${secretId} is a companion secret that holds a PENDING value; rotate the secret it belongs to`);
  }
  const prefix = deps.scope.secretPrefix;
  if (prefix !== undefined && !secretId.toLowerCase().startsWith(prefix.toLowerCase())) {
    throw new RotatorError('INVALID_INPUT', `secret ${secretId} is outside this deployment's name prefix ${prefix}`);
  }
  return secretId;
}

/** The body, read only up to MAX_BODY_BYTES: a chunked body without a length is cut off, not loaded whole. */
async function readBounded(request: HttpRequest): Promise<Buffer> {
  if (request.body === null) return Buffer.alloc(0);
  // The library types the stream's chunks loosely; a request body is bytes.
  const reader = (request.body as ReadableStream<Uint8Array>).getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.byteLength;
    if (size > MAX_BODY_BYTES) {
      await reader.cancel();
      throw tooLarge();
    }
    chunks.push(value);
  }
  return Buffer.concat(chunks);
}

async function bodySecret(request: HttpRequest): Promise<string | undefined> {
  const declared = request.headers.get('content-length');
  if (declared !== null && Number(declared) > MAX_BODY_BYTES) throw tooLarge();
  const text = (await readBounded(request)).toString('utf8');
  if (text.trim() === '') return undefined;
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    throw new RotatorError('INVALID_INPUT', 'the body must be JSON: {"secretId": "<secret name>"}');
  }
  const result = bodySchema.safeParse(json);
  if (!result.success) {
    throw new RotatorError('INVALID_INPUT', `the body is invalid: ${result.error.issues.map((i) => (i.path.length === 0 ? i.message : `${i.path.join('.')}: ${i.message}`)).join('; ')}`);
  }
  return result.data.secretId;
}

/** INVALID_INPUT that answers 413 rather than 400. */
class BodyTooLarge extends RotatorError {}

function tooLarge(): RotatorError {
  return new BodyTooLarge('INVALID_INPUT', `the body is larger than ${MAX_BODY_BYTES} bytes; send {"secretId": "<secret name>"}`);
}

function problem(status: number, code: ErrorCode, message: string, headers: Record<string, string> = {}): HttpResponseInit {
  const answer = problemOf(status, code, message, headers);
  return { status: answer.status, jsonBody: answer.body, headers: answer.headers };
}
