import type { Logger as PowertoolsLogger } from '@aws-lambda-powertools/logger';
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import { Metrics, MetricUnit } from '@aws-lambda-powertools/metrics';
import { logMetrics } from '@aws-lambda-powertools/metrics/middleware';
import middy, { type MiddlewareObj } from '@middy/core';
import type { Context } from 'aws-lambda';
import { installCrashRedaction } from '../../shared/crash.js';
import { RotatorError } from '../../shared/errors.js';
import type { LogLevel, Logger } from '../../shared/logger.js';
import { Redactor } from '../../shared/redact.js';
import { safeError } from '../../shared/safe-error.js';
import { adaptPowertoolsLogger, createPowertoolsLogger } from './logger.js';

/**
 * What every Rotator Lambda function shares: one redactor, the Powertools logger (adapted to our Logger port) and
 * metrics, the middy composition that adds the Lambda context to log lines and flushes metrics, and the rule for
 * what an error may carry out of the function.
 */

export const METRICS_NAMESPACE = 'Rotator';

export interface ObservabilityOptions {
  logLevel?: LogLevel;
  redactor?: Redactor;
  powertoolsLogger?: PowertoolsLogger;
  metrics?: Metrics;
  /**
   * Route uncaught exceptions and unhandled rejections through redaction before the Lambda runtime prints them
   * (shared/crash.ts, `runtime` mode). Default: on when running on Lambda (AWS_LAMBDA_FUNCTION_NAME is set), so
   * tests do not rewire their runner's handlers.
   */
  redactCrashes?: boolean;
}

export interface Observability {
  redactor: Redactor;
  logger: Logger;
  metrics: Metrics;
  /** Adds a Count metric (1 unless told) with the given dimensions (never a secret-derived value) and EMF metadata. */
  count(name: string, dimensions: Record<string, string>, metadata?: Record<string, string>, value?: number): void;
  /**
   * The Lambda handler: `before` middlewares run first (e.g. registering a sensitive event field with the
   * redactor), then the Lambda context is injected into the logger (never the event) and metrics are flushed.
   */
  handler(run: (event: unknown, context: Context) => Promise<unknown>, before?: ReadonlyArray<MiddlewareObj<unknown, unknown>>): LambdaHandler;
}

export type LambdaHandler = (event: unknown, context: Context) => Promise<unknown>;

export function createObservability(options: ObservabilityOptions = {}): Observability {
  const redactor = options.redactor ?? new Redactor();
  if (options.redactCrashes ?? process.env.AWS_LAMBDA_FUNCTION_NAME !== undefined) installCrashRedaction({ mode: 'runtime' });
  const powertools = options.powertoolsLogger ?? createPowertoolsLogger({ redactor, ...(options.logLevel === undefined ? {} : { level: options.logLevel }) });
  const metrics = options.metrics ?? new Metrics({ namespace: METRICS_NAMESPACE, serviceName: 'rotator' });
  return {
    redactor,
    logger: adaptPowertoolsLogger(powertools, redactor),
    metrics,
    count: (name, dimensions, metadata = {}, value = 1) => {
      metrics.addDimensions(dimensions);
      metrics.addMetric(name, MetricUnit.Count, value);
      for (const [key, value] of Object.entries(metadata)) metrics.addMetadata(key, value);
    },
    handler: (run, before = []) => {
      // Our own deadline signal replaces middy's timeoutEarlyInMillis, which would return while work goes on.
      let chain = middy<unknown, unknown>({ timeoutEarlyInMillis: 0 });
      for (const middleware of before) chain = chain.use(middleware);
      const handler = chain.use(injectLambdaContext(powertools, { logEvent: false, resetKeys: true })).use(logMetrics(metrics)).handler(run);
      // Whatever leaves the function (a middleware's error too) is a safe error: the runtime prints its message
      // and stack.
      return async (event, context) => {
        try {
          return await handler(event, context);
        } catch (error) {
          throw safeError(error, redactor);
        }
      };
    },
  };
}

/** An AbortSignal that fires `marginMs` before the invocation's deadline; already aborted when no time is left. */
export function remainingTimeSignal(
  context: Pick<Context, 'getRemainingTimeInMillis'>,
  marginMs: number,
  what: string,
): { signal: AbortSignal; dispose: () => void } {
  const controller = new AbortController();
  const left = context.getRemainingTimeInMillis() - marginMs;
  const reason = new RotatorError(
    'TARGET_UNREACHABLE',
    `the Lambda invocation is within ${marginMs} ms of its timeout; ${what} was stopped and can be retried (raise the function's timeout if this repeats)`,
    { retryable: true },
  );
  if (left <= 0) {
    controller.abort(reason);
    return { signal: controller.signal, dispose: () => undefined };
  }
  const timer = setTimeout(() => controller.abort(reason), left);
  return { signal: controller.signal, dispose: () => clearTimeout(timer) };
}

/** What may leave the function (the runtime prints errorMessage and stack): see shared/safe-error.ts. */
export { safeError };
