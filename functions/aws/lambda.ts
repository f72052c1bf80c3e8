import type { Logger as PowertoolsLogger } from '@aws-lambda-powertools/logger';
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import { Metrics, MetricUnit } from '@aws-lambda-powertools/metrics';
import { logMetrics } from '@aws-lambda-powertools/metrics/middleware';
import middy, { type MiddlewareObj } from '@middy/core';
import type { Context } from 'aws-lambda';
import { RotatorError } from '../../shared/errors.js';
import type { LogLevel, Logger } from '../../shared/logger.js';
import { Redactor, describeError } from '../../shared/redact.js';
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
      return chain.use(injectLambdaContext(powertools, { logEvent: false, resetKeys: true })).use(logMetrics(metrics)).handler(run);
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

/** What may leave the function: the code, a redacted message, no cause (the runtime prints errorMessage and stack). */
export function safeError(error: unknown, redactor: Redactor): RotatorError {
  const described = describeError(error instanceof Error ? error : new Error(String(error)), redactor);
  const message = typeof described.message === 'string' ? described.message : 'unknown error';
  if (error instanceof RotatorError) return new RotatorError(error.code, message, { retryable: error.retryable });
  return new RotatorError('INTERNAL', `unexpected error (${String(described.name)}): ${message}`);
}
