import * as z from 'zod';
import { RotatorError, type ErrorCode } from '../../shared/errors.js';
import type { PurgeReport } from '../../shared/purger.js';
import { safeError } from '../../shared/safe-error.js';
import { JSON_HEADERS, MAX_BODY_BYTES, problem, statusOf } from '../self-driven/http.js';
import { flushingAlerts, invocation, rotateUnlessRenewed, type GuardedOutcome, type Invocation, type SelfDrivenDeps } from '../self-driven/invocation.js';
import { runPurge } from '../self-driven/purge.js';
import { sweepDue, type SweepReport } from '../self-driven/sweep.js';
import { SECRET_MANAGER_ID, checkScopedSecretId, parseSecretEvent, type GcpScope } from './events.js';
import { createCloudLogger, stdoutLines, type LineWriter } from './logger.js';

/**
 * The four Cloud Run functions' handlers, free of the Functions Framework (index.ts registers them), so a test
 * drives them with a file store or the Secret Manager store and real databases.
 *
 * - `onSecretEvent` (CloudEvent, Pub/Sub via Eventarc): rotates on SECRET_ROTATE, unless CURRENT was renewed since
 *   the message was published (a redelivery, or the secret's Scheduler job got there first), deciding under the
 *   secret's lock. What to do with a failure follows Pub/Sub's at-least-once delivery: a thrown error answers 500
 *   and the message is redelivered, so ROTATION_IN_PROGRESS and retryable failures are thrown (the redelivery
 *   finds the work done, or succeeds), while a refused message and a failure a retry will not change are logged and
 *   acknowledged (redeliveries would change nothing but repeat the alert; the sweep tries again on its schedule).
 * - `rotate` (HTTP, Cloud Scheduler with OIDC; Cloud Run IAM checks the token before the code runs):
 *   `{"secretId": "<id>"}` rotates that secret now, unless it was renewed in the last RECENTLY_RENEWED_MS (its
 *   Scheduler job and the SECRET_ROTATE notification fire together at the due time; pressing Force run twice is one
 *   rotation); `{"due": true}` runs the sweep over every due secret.
 * - `purge` (HTTP): the retention purger.
 * - `reconcileJobs` (HTTP): keeps one Cloud Scheduler job per rotation-enabled secret (stores/gcp/rotation-jobs.ts).
 *
 * Every failure line starts "rotation failed" / "purge failed" / "reconcile failed" at ERROR: the alert counts them.
 * Answers carry ids, outcomes and error codes, never a value.
 */
export const RECENTLY_RENEWED_MS = 10 * 60_000;

/** What the handler reads of the reconciler's report (stores/gcp/rotation-jobs.ts); the rest is logged and answered. */
export interface ReconcileOutcome {
  /** `failed`: how many jobs could not be brought in line (the report names each). */
  counts: { failed: number };
}

export interface GcpFunctionDeps extends SelfDrivenDeps {
  scope: GcpScope;
  /** Reconciles the per-secret Scheduler jobs; undefined where the deployment has not configured the reconciler. */
  reconcileJobs?: (options: { dryRun: boolean }) => Promise<ReconcileOutcome>;
  /** Where log lines go (default stdout, which Cloud Logging reads). */
  write?: LineWriter;
  recentlyRenewedMs?: number;
}

/** What index.ts hands over from the Functions Framework's request. */
export interface HttpCall {
  method: string;
  /** The body as received (the framework keeps it); the only thing parsed. */
  rawBody?: Buffer | undefined;
}

export interface HttpAnswer {
  status: number;
  body: unknown;
  headers: Record<string, string>;
}

export type SecretEventResult =
  | GuardedOutcome
  | { outcome: 'ignored'; reason: string }
  | { outcome: 'refused' | 'failed'; code: ErrorCode };

export interface GcpHandlers {
  onSecretEvent: (event: unknown) => Promise<SecretEventResult>;
  rotate: (call: HttpCall) => Promise<HttpAnswer>;
  purge: (call: HttpCall) => Promise<HttpAnswer>;
  reconcileJobs: (call: HttpCall) => Promise<HttpAnswer>;
}

const rotateBody = z.union([
  z.strictObject({ secretId: z.string({ error: 'must be a string' }).regex(SECRET_MANAGER_ID, 'must be a Secret Manager secret id') }),
  z.strictObject({ due: z.literal(true, { error: 'must be true' }) }),
]);
const purgeBody = z.strictObject({});
const reconcileBody = z.strictObject({ dryRun: z.boolean({ error: 'must be true or false' }).optional() });

export function createGcpHandlers(deps: GcpFunctionDeps): GcpHandlers {
  const clock = deps.clock ?? ((): Date => new Date());
  const retryAfter = String(deps.retryAfterSeconds ?? 60);
  const kitFor = (): Invocation => invocation(deps, (redactor) => createCloudLogger(deps.write ?? stdoutLines, redactor, deps.logLevel));
  const rotatable = (id: string): boolean => {
    try {
      checkScopedSecretId(id, deps.scope, 'a due secret');
      return true;
    } catch {
      return false; // a companion, an id outside the grammar or the prefix: not one this deployment rotates
    }
  };

  /**
   * Runs `work` for an HTTP function: its answer, or the error's status and a safe body, logged as `failure` with
   * the `fields` the work named on its way (the secret being rotated), so a failure line says which secret failed.
   */
  async function answer(kit: Invocation, failure: string, call: HttpCall, work: (body: unknown, fields: Record<string, unknown>) => Promise<unknown>): Promise<HttpAnswer> {
    const fields: Record<string, unknown> = {};
    try {
      if (call.method.toUpperCase() !== 'POST') return refusal(405, new RotatorError('INVALID_INPUT', 'use POST'), { Allow: 'POST' });
      return { status: 200, body: await work(readBody(call), fields), headers: { ...JSON_HEADERS } };
    } catch (thrown) {
      const batch = thrown instanceof BatchFailed ? thrown : undefined;
      const error = batch === undefined ? thrown : batch.summary;
      const safe = safeError(error, kit.redactor);
      const status = batch !== undefined ? 500 : error instanceof BodyTooLarge ? 413 : statusOf(safe);
      const logged = { ...fields, status, code: safe.code, retryable: safe.retryable, error: safe };
      if (batch?.logged === true) kit.logger.warn(`${failure} answered ${String(status)}: ${safe.code}; each failure has its own line`, logged);
      else if (status >= 500) kit.logger.error(`${failure} failed: ${safe.code}`, logged);
      else kit.logger.warn(`${failure} request refused: ${safe.code}`, logged);
      return refusal(status, safe, safe.code === 'ROTATION_IN_PROGRESS' ? { 'Retry-After': retryAfter } : {});
    }
  }

  return flushingAlerts({
    async onSecretEvent(event) {
      const kit = kitFor();
      const { logger, redactor } = kit;
      let decision;
      try {
        decision = parseSecretEvent(event, deps.scope);
      } catch (error) {
        const safe = safeError(error, redactor);
        logger.error(`rotation failed: ${safe.code}: the Secret Manager notification was refused, nothing was rotated`, { code: safe.code, error: safe });
        return { outcome: 'refused', code: safe.code };
      }
      if (decision.action === 'ignore') {
        logger.debug('event ignored', { messageId: decision.messageId, reason: decision.reason });
        return { outcome: 'ignored', reason: decision.reason };
      }
      const { secretId, messageId, eventTime } = decision;
      const log = logger.child({ secretId, messageId });
      try {
        const result = await rotateUnlessRenewed(kit, deps.store, secretId, eventTime);
        if (result.outcome === 'already-rotated') log.info('rotation not needed: CURRENT was renewed after the notification was published', { versionId: result.versionId, renewedAt: result.renewedAt });
        else log.info('rotation succeeded', { outcome: result.outcome, ms: result.report.totalMs, report: result.report });
        return result;
      } catch (error) {
        const safe = safeError(error, redactor);
        const fields = { code: safe.code, retryable: safe.retryable, error: safe };
        if (safe.code === 'ROTATION_IN_PROGRESS') {
          log.warn('a rotation of the secret is already in progress; Pub/Sub redelivers the message', fields);
          throw safe;
        }
        log.error(`rotation failed: ${safe.code}`, fields);
        if (safe.retryable) throw safe;
        return { outcome: 'failed', code: safe.code };
      }
    },

    async rotate(call) {
      const kit = kitFor();
      return answer(kit, 'rotation', call, async (raw, fields) => {
        const body = parseBody(rotateBody, raw, '{"secretId": "<secret id>"} or {"due": true}');
        if ('due' in body) {
          const report: SweepReport = await asBatch(() => sweepDue(kit, deps, rotatable), true);
          return { sweep: report };
        }
        const secretId = checkScopedSecretId(body.secretId, deps.scope, 'secretId');
        fields.secretId = secretId;
        const since = new Date(clock().getTime() - (deps.recentlyRenewedMs ?? RECENTLY_RENEWED_MS));
        const result = await rotateUnlessRenewed(kit, deps.store, secretId, since);
        if (result.outcome === 'already-rotated') {
          kit.logger.info('rotation not needed: CURRENT was renewed moments ago', { secretId, versionId: result.versionId, renewedAt: result.renewedAt });
          return { outcome: result.outcome, versionId: result.versionId, renewedAt: result.renewedAt };
        }
        kit.logger.info('rotation succeeded', { secretId, outcome: result.outcome, ms: result.report.totalMs, report: result.report });
        return { outcome: result.outcome, report: result.report };
      });
    },

    async purge(call) {
      const kit = kitFor();
      return answer(kit, 'purge', call, async (raw) => {
        parseBody(purgeBody, raw, '{} or no body');
        const report: PurgeReport = await asBatch(() => runPurge(kit), true);
        return { report };
      });
    },

    async reconcileJobs(call) {
      const kit = kitFor();
      return answer(kit, 'reconcile', call, async (raw) => {
        const body = parseBody(reconcileBody, raw, '{} or {"dryRun": true}');
        const reconcile = deps.reconcileJobs;
        if (reconcile === undefined) {
          throw new RotatorError('INVALID_INPUT', 'the reconciler is not configured: set ROTATOR_SCHEDULER_LOCATION, ROTATOR_ROTATE_URL and ROTATOR_SCHEDULER_SERVICE_ACCOUNT');
        }
        const report = await asBatch(async () => {
          const outcome = await reconcile({ dryRun: body.dryRun === true });
          kit.logger.info('reconcile finished', { report: outcome });
          if (outcome.counts.failed > 0) {
            throw new RotatorError('STORE_IO', `${String(outcome.counts.failed)} Scheduler job(s) could not be brought in line; the logged report names each one and why`, { retryable: true });
          }
          return outcome;
        }, false);
        return { report };
      });
    },
  }, deps.alerter);
}

/** INVALID_INPUT that answers 413 rather than 400. */
class BodyTooLarge extends RotatorError {}

/**
 * A batch (the sweep, the purge, the job reconciliation) that did not finish cleanly. It answers 500 whatever the
 * summary's code: each item's code is in the logged report, and no one upstream failed the request as a whole.
 * `logged`: the sweep and the purge have already written an ERROR line for each failure (and for a run that could
 * not start), so the summary is not one more line for the alert to count.
 */
class BatchFailed extends Error {
  constructor(
    readonly summary: unknown,
    readonly logged: boolean,
  ) {
    super('the batch did not finish cleanly');
  }
}

async function asBatch<T>(run: () => Promise<T>, logged: boolean): Promise<T> {
  try {
    return await run();
  } catch (error) {
    throw new BatchFailed(error, logged);
  }
}

/** The JSON body, or undefined for none. The framework has read it already; only MAX_BODY_BYTES of it are accepted. */
function readBody(call: HttpCall): unknown {
  const raw = call.rawBody;
  if (raw === undefined || raw.length === 0) return undefined;
  if (raw.length > MAX_BODY_BYTES) throw new BodyTooLarge('INVALID_INPUT', `the body is larger than ${MAX_BODY_BYTES} bytes`);
  const text = raw.toString('utf8');
  if (text.trim() === '') return undefined;
  try {
    return JSON.parse(text) as unknown;
  } catch {
    throw new RotatorError('INVALID_INPUT', 'the body must be JSON');
  }
}

function parseBody<T>(schema: z.ZodType<T>, raw: unknown, expected: string): T {
  const result = schema.safeParse(raw ?? {});
  // Never quote what was sent: the rule is named instead.
  if (!result.success) throw new RotatorError('INVALID_INPUT', `the body must be ${expected}`);
  return result.data;
}

function refusal(status: number, error: RotatorError, headers: Record<string, string> = {}): HttpAnswer {
  const p = problem(status, error.code, error.message, headers);
  return { status: p.status, body: p.body, headers: p.headers };
}
