import { Logger as PowertoolsLogger } from '@aws-lambda-powertools/logger';
import { loggerFrom, type LogFields, type LogLevel, type Logger } from '../../shared/logger.js';
import { REDACTED, isSensitiveKey, type Redactor } from '../../shared/redact.js';

/**
 * The Logger port on AWS Lambda, written through a Powertools Logger.
 *
 * Why Powertools rather than our JSON logger: on Lambda it adds what an operator searches by (request id, function
 * name and version, cold start, X-Ray trace id, via `injectLambdaContext`), honours AWS_LAMBDA_LOG_LEVEL /
 * POWERTOOLS_LOG_LEVEL and the log sampling rate, and writes the JSON shape CloudWatch Logs Insights and the
 * Powertools tooling expect. What it does not do is redact, so redaction happens twice here:
 * 1. before the record reaches Powertools, exactly as our JSON logger does (`redactFields` on the fields, which
 *    also turns Errors into their safe parts, and `redact` on the message);
 * 2. at serialisation, in the Logger's `jsonReplacerFn`, which sees every key and value of the final line,
 *    including what Powertools adds itself (Lambda context, persistent keys): strings under a sensitive key
 *    (`password`, `RotationToken`, ...) become [REDACTED] and every other string is masked for registered secrets.
 *
 * The event is never logged: the handler passes `logEvent: false` to `injectLambdaContext`, which overrides
 * POWERTOOLS_LOGGER_LOG_EVENT (the event carries RotationToken).
 */

export interface PowertoolsLoggerOptions {
  redactor: Redactor;
  level?: LogLevel;
  serviceName?: string;
}

/** A Powertools Logger whose serialised lines are masked by `redactor`. */
export function createPowertoolsLogger(options: PowertoolsLoggerOptions): PowertoolsLogger {
  const { redactor } = options;
  return new PowertoolsLogger({
    serviceName: options.serviceName ?? 'rotator',
    ...(options.level === undefined ? {} : { logLevel: options.level.toUpperCase() as Uppercase<LogLevel> }),
    jsonReplacerFn: (key: string, value: unknown): unknown => {
      if (typeof value !== 'string') return value;
      return key.length > 0 && isSensitiveKey(key) ? REDACTED : redactor.redact(value);
    },
  });
}

/** Adapts a Powertools Logger to the port. `child` keeps its fields here, so children share one Powertools logger. */
export function adaptPowertoolsLogger(target: PowertoolsLogger, redactor: Redactor, base: LogFields = {}): Logger {
  const emit = (level: LogLevel, message: string, fields?: LogFields): void => {
    try {
      const record = redactor.redactFields({ ...base, ...fields }) as LogFields;
      target[level](redactor.redact(message), record);
    } catch {
      // Logging never throws into the rotation: a record Powertools cannot serialise is logged without its fields.
      target[level](redactor.redact(message), { fields: 'unserialisable' });
    }
  };
  return loggerFrom(redactor, emit, (fields) => adaptPowertoolsLogger(target, redactor, { ...base, ...fields }));
}
