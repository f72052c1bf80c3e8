import type { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import type { Context } from 'aws-lambda';
import * as z from 'zod';
import type { Config } from '../../shared/config.js';
import { RotatorError } from '../../shared/errors.js';
import { Purger, type PurgeReport } from '../../shared/purger.js';
import { secretIdSchema } from '../../shared/secret-id.js';
import type { MasterResolver, Rotator } from '../../shared/rotator.js';
import { AwsSecretStore, type SweepFilter } from '../../stores/aws/index.js';
import { createObservability, remainingTimeSignal, safeError, type LambdaHandler, type ObservabilityOptions } from './lambda.js';

/**
 * The purge function: the retention purger on an EventBridge schedule, or invoked by hand. On AWS, retiring a
 * version removes its labels (the service deletes unlabelled versions on its own; there is no per-version delete),
 * after the rotator has revoked the credential at the target where something keeps it alive.
 *
 * Decisions:
 * - **Two event shapes, nothing in between.** A scheduled event (`source: aws.events`) sweeps the secrets this
 *   deployment rotates (the store's sweep filter). A manual event is exactly `{ secretIds?, dryRun? }`, checked
 *   strictly: a misspelt key is refused rather than read as "purge everything".
 * - **The report is the result** (version ids, outcomes, error codes; never a value), and it is logged. When a
 *   secret failed the invocation fails too, so the Errors metric and alarms see it; EventBridge retries it.
 * - **Time**: the purger is given no signal per call; instead the sweep stops starting new secrets once the
 *   invocation is near its deadline and reports which were left, so a long sweep ends cleanly and the next run
 *   continues.
 * - **Metrics**: `VersionsRetired`, `RevocationsDone` and `PurgeFailed` (secrets failed or not reached), all
 *   Count with dimension `Function=purge`.
 */

export const DEFAULT_PURGE_MARGIN_MS = 5_000;

const manualEventSchema = z.strictObject({
  secretIds: z
    .array(secretIdSchema, { error: 'must be a list of secret names or ARNs' })
    .min(1, 'must name at least one secret (leave it out to sweep every secret)')
    .max(500, 'must name at most 500 secrets per invocation')
    .optional(),
  dryRun: z.boolean({ error: 'must be true or false' }).optional(),
});

export type PurgeRequest = z.infer<typeof manualEventSchema>;

/** A scheduled event sweeps; anything else must be a manual request. The error names each bad field. */
export function parsePurgeEvent(event: unknown): PurgeRequest {
  if (event !== null && typeof event === 'object' && 'source' in event && event.source === 'aws.events') return {};
  const result = manualEventSchema.safeParse(event ?? {});
  if (result.success) return result.data;
  const problems = result.error.issues
    .map((issue) => {
      const where = issue.path.length === 0 ? 'event' : issue.path.join('.');
      return issue.code === 'unrecognized_keys' ? `${where}: unknown key(s) ${issue.keys.join(', ')}; use secretIds and dryRun` : `${where}: ${issue.message}`;
    })
    .join('; ');
  throw new RotatorError('INVALID_INPUT', `the purge event is invalid: ${problems}`);
}

export interface PurgeHandlerDeps extends Omit<ObservabilityOptions, 'logLevel'> {
  client: SecretsManagerClient;
  /** Every rotator: a sweep meets every engine, and revocation needs each one's target. */
  rotators: readonly Rotator[];
  config: Pick<Config, 'defaultStrategy' | 'logLevel' | 'retention'>;
  sweep?: SweepFilter;
  resolveMaster?: MasterResolver;
  clock?: () => Date;
  safetyMarginMs?: number;
}

export function createPurgeHandler(deps: PurgeHandlerDeps): LambdaHandler {
  const kit = createObservability({ ...deps, logLevel: deps.config.logLevel });
  const { logger, redactor } = kit;
  const clock = deps.clock ?? ((): Date => new Date());
  const store = new AwsSecretStore({ client: deps.client, logger, ...(deps.sweep === undefined ? {} : { sweep: deps.sweep }) });
  const purger = new Purger({
    store,
    rotators: deps.rotators,
    logger,
    defaultStrategy: deps.config.defaultStrategy,
    defaultPolicy: deps.config.retention,
    clock,
    ...(deps.resolveMaster === undefined ? {} : { resolveMaster: deps.resolveMaster }),
  });
  const margin = deps.safetyMarginMs ?? DEFAULT_PURGE_MARGIN_MS;

  const purge = async (event: unknown, context: Context): Promise<PurgeReport & { notReached: string[] }> => {
    try {
      const request = parsePurgeEvent(event);
      const ids = request.secretIds ?? (await store.listSecretIds());
      const deadline = remainingTimeSignal(context, margin, 'the purge');
      let report: PurgeReport | undefined;
      const notReached: string[] = [];
      try {
        // One secret at a time, so a sweep near the deadline stops between secrets, never inside one.
        for (const [index, secretId] of ids.entries()) {
          if (deadline.signal.aborted) {
            notReached.push(...ids.slice(index));
            break;
          }
          const one = await purger.purge([secretId], { dryRun: request.dryRun === true });
          report = report === undefined ? one : { ...report, secrets: [...report.secrets, ...one.secrets], failed: report.failed + one.failed };
        }
      } finally {
        deadline.dispose();
      }
      const result = { ...(report ?? { dryRun: request.dryRun === true, at: clock().toISOString(), secrets: [], failed: 0 }), notReached };
      const actions = result.secrets.flatMap((s) => s.actions);
      const figures = {
        retired: actions.filter((a) => a.retired).length,
        revoked: actions.filter((a) => a.revocation === 'revoked').length,
        failed: result.failed + notReached.length,
      };
      const dimensions = { Function: 'purge' };
      kit.count('VersionsRetired', dimensions, {}, figures.retired);
      kit.count('RevocationsDone', dimensions, {}, figures.revoked);
      kit.count('PurgeFailed', dimensions, {}, figures.failed);
      logger.info('purge finished', { dryRun: result.dryRun, secrets: result.secrets.length, ...figures, notReached: notReached.length, report: result });
      if (result.failed > 0 || notReached.length > 0) {
        const failures = result.secrets.filter((s) => !s.ok);
        throw new RotatorError(
          'TARGET_ERROR',
          `${String(result.failed)} of ${String(result.secrets.length)} secret(s) could not be purged` +
            (notReached.length > 0 ? `, and ${String(notReached.length)} not reached before the timeout` : '') +
            '; the logged report names each one and why',
          { retryable: failures.every((s) => s.error?.retryable === true) },
        );
      }
      return result;
    } catch (error) {
      const safe = safeError(error, redactor);
      logger.error(`purge failed: ${safe.code}`, { code: safe.code, retryable: safe.retryable, error: safe });
      throw safe;
    }
  };

  return kit.handler(purge);
}

const sweepEnvSchema = z.object({
  ROTATOR_SECRET_PREFIX: z.string().min(1, 'must not be empty (leave it unset to sweep every name)').max(512).optional(),
  ROTATOR_ROTATION_FUNCTION_ARNS: z
    .string()
    .transform((list) => list.split(',').map((arn) => arn.trim()).filter((arn) => arn.length > 0))
    .pipe(z.array(z.string().regex(/^arn:aws[\w-]*:lambda:[\w-]+:\d{12}:function:[\w-]+(:[\w$-]+)?$/, 'must be Lambda function ARNs, comma-separated')).min(1))
    .optional(),
});

/**
 * The purge function's sweep from its environment: ROTATOR_SECRET_PREFIX (the name prefix the IAM policy allows) and
 * ROTATOR_ROTATION_FUNCTION_ARNS (this deployment's rotation functions, comma-separated). serverless.yml sets both.
 */
export function sweepFromEnv(env: NodeJS.ProcessEnv): SweepFilter {
  const result = sweepEnvSchema.safeParse(env);
  if (!result.success) {
    const problems = result.error.issues.map((issue) => `${issue.path.join('.')}: ${issue.message}`).join('; ');
    throw new RotatorError('INVALID_INPUT', `the purge function's environment is invalid: ${problems}`);
  }
  const { ROTATOR_SECRET_PREFIX: namePrefix, ROTATOR_ROTATION_FUNCTION_ARNS: rotationLambdaArns } = result.data;
  return { ...(namePrefix === undefined ? {} : { namePrefix }), ...(rotationLambdaArns === undefined ? {} : { rotationLambdaArns }) };
}
