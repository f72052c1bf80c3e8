import type { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import type { MiddlewareObj } from '@middy/core';
import type { Context } from 'aws-lambda';
import { performance } from 'node:perf_hooks';
import * as z from 'zod';
import type { Config } from '../../shared/config.js';
import { RotationEngine, STEPS, type Step } from '../../shared/engine.js';
import { RotatorError } from '../../shared/errors.js';
import type { Redactor } from '../../shared/redact.js';
import type { MasterResolver, Rotator } from '../../shared/rotator.js';
import { noControlCharacters } from '../../shared/secret.js';
import { secretIdSchema } from '../../shared/secret-id.js';
import { AwsSecretStore } from '../../stores/aws/index.js';
import { createObservability, remainingTimeSignal, safeError, type LambdaHandler, type ObservabilityOptions } from './lambda.js';

/**
 * The Lambda function Secrets Manager invokes once per rotation step. It is thin: validate the event, run exactly
 * that step through the engine (which applies the guards of AWS's templates), log the outcome and count it.
 *
 * Decisions:
 * - **Built once per container.** `createRotateHandler` runs at module load in each entry point, so the SDK client,
 *   the AwsSecretStore (and its cache of immutable version values), the rotators and the engine serve every warm
 *   invocation: the four steps of a rotation usually land on one container.
 * - **The remaining-time signal is ours, not middy's.** middy's `timeoutEarlyInMillis` races the handler and
 *   returns while the step keeps running in the background; here an AbortSignal fires `safetyMarginMs` before
 *   Lambda's deadline and goes to `engine.runStep`, so the database work is cut and the step fails through its own
 *   error path (logged, counted, rethrown). With no time left at all the step is refused before any call.
 *   The signal reaches the database calls and every Secrets Manager call (the SDK's `abortSignal`).
 * - **RotationToken** is registered with the redactor before anything else runs and never logged. It is AWS's, not
 *   the engine's: the step runs inside `store.withRotationToken(...)`, so the AWS store hands it to PutSecretValue,
 *   which needs it when the function reaches Secrets Manager through an assumed role.
 * - **One INFO line per invocation**: the step's outcome (secretId, versionId, step, outcome, ms), or one ERROR line
 *   with the error code instead; the engine and the rotators write everything else at DEBUG.
 * - **Errors are rethrown**, so Secrets Manager marks the step failed and retries it with the same token. What is
 *   thrown is a fresh RotatorError with the same code and a redacted message and no cause (a driver error may
 *   quote what it was sent; the Lambda runtime prints errorMessage and the stack).
 * - **Metrics**: namespace `Rotator`, `StepSucceeded` or `StepFailed` (Count) with dimensions `Step` and `Engine`
 *   (the engine family this function was built for: `postgres` or `mysql`; never a secret-derived value), plus the
 *   outcome or error code as EMF metadata.
 */

/** How long before Lambda's deadline the step's signal fires. */
export const DEFAULT_SAFETY_MARGIN_MS = 2_000;

// Every string is bounded and checked before the engine, a log line or a message sees it (ids are echoed in both).
const eventSchema = z.object({
  SecretId: secretIdSchema,
  ClientRequestToken: noControlCharacters(
    z
      .string({ error: 'must be the rotation token (32-64 characters)' })
      .min(32, 'must be the rotation token (32-64 characters)')
      .max(64, 'must be the rotation token (32-64 characters)'),
  ),
  Step: z.enum(STEPS, { error: `must be one of ${STEPS.join(', ')}` }),
  RotationToken: z.string({ error: 'must be a string when present' }).max(4096, 'must be at most 4096 characters').optional(),
});

export type RotationEvent = z.infer<typeof eventSchema>;

/** Validates the event Secrets Manager sends; the error names every bad field and never echoes a value. */
export function parseRotationEvent(event: unknown): RotationEvent {
  const result = eventSchema.safeParse(event);
  if (result.success) return result.data;
  const problems = result.error.issues.map((issue) => `${issue.path.length === 0 ? 'event' : issue.path.join('.')}: ${issue.message}`).join('; ');
  return fail(new RotatorError('INVALID_INPUT', `the rotation event is invalid: ${problems}`));
}

function fail(error: RotatorError): never {
  throw error;
}

export interface RotateHandlerDeps extends Omit<ObservabilityOptions, 'logLevel'> {
  /** Built once per container with createSecretsManagerClient (SECRETS_MANAGER_ENDPOINT honoured). */
  client: SecretsManagerClient;
  /** The store on `client`, when the entry point shares it (with the RDS master resolver); built here otherwise. */
  store?: AwsSecretStore;
  /** The rotators this bundle ships (one engine family per entry point). */
  rotators: readonly Rotator[];
  /** The `Engine` metric dimension: the engine family of this function. */
  engineFamily: string;
  config: Pick<Config, 'defaultStrategy' | 'logLevel'>;
  /** Where the password policy env vars are read (PASSWORD_LENGTH, EXCLUDE_*). Defaults to process.env. */
  env?: NodeJS.ProcessEnv;
  safetyMarginMs?: number;
  /** Completes master secrets before the rotators see them (RDS-managed master secrets). */
  resolveMaster?: MasterResolver;
}

/** What Lambda calls; it resolves with nothing (Secrets Manager reads only success or failure). */
export type RotateHandler = LambdaHandler;

export function createRotateHandler(deps: RotateHandlerDeps): RotateHandler {
  const kit = createObservability({ ...deps, logLevel: deps.config.logLevel });
  const { logger, redactor } = kit;
  const margin = deps.safetyMarginMs ?? DEFAULT_SAFETY_MARGIN_MS;
  const store = deps.store ?? new AwsSecretStore({ client: deps.client, logger, requestRates: 'unpaced' });
  const engine = new RotationEngine({
    store,
    rotators: deps.rotators,
    logger,
    defaultStrategy: deps.config.defaultStrategy,
    ...(deps.env === undefined ? {} : { env: deps.env }),
    ...(deps.resolveMaster === undefined ? {} : { resolveMaster: deps.resolveMaster }),
  });

  const rotate = async (event: unknown, context: Context): Promise<void> => {
    // The whole invocation, describe and bookkeeping included, on success and failure alike.
    const started = performance.now();
    const ms = (): number => Math.round(performance.now() - started);
    let step: Step | 'invalid' = 'invalid';
    // Unknown until the event parses: a refused event's SecretId is not echoed.
    let about: { secretId?: string; versionId?: string } = {};
    try {
      const e = parseRotationEvent(event);
      step = e.Step;
      about = { secretId: e.SecretId, versionId: e.ClientRequestToken };
      const deadline = remainingTimeSignal(context, margin, 'the step');
      try {
        const result = await store.withRotationToken(e.RotationToken, () => engine.runStep(e.SecretId, e.ClientRequestToken, e.Step, { signal: deadline.signal }));
        logger.info(`rotation step ${e.Step} succeeded`, { ...about, step: e.Step, outcome: result.outcome, ms: ms() });
        kit.count('StepSucceeded', { Step: step, Engine: deps.engineFamily }, { outcome: result.outcome });
      } finally {
        deadline.dispose();
      }
    } catch (error) {
      const safe = safeError(error, redactor);
      logger.error(`rotation step ${step} failed: ${safe.code}`, {
        ...about,
        step,
        outcome: 'failed',
        ms: ms(),
        code: safe.code,
        retryable: safe.retryable,
        error: safe,
      });
      kit.count('StepFailed', { Step: step, Engine: deps.engineFamily }, { errorCode: safe.code });
      throw safe;
    }
  };

  return kit.handler(rotate, [registerRotationToken(redactor)]);
}

/** First of all, before any middleware could log: the event's RotationToken is a secret. */
function registerRotationToken(redactor: Redactor): MiddlewareObj<unknown, unknown> {
  return {
    before: (request) => {
      const event = request.event;
      if (event !== null && typeof event === 'object' && 'RotationToken' in event && typeof event.RotationToken === 'string') {
        redactor.add(event.RotationToken);
      }
    },
  };
}
