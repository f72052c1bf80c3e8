import { loggerFrom, type LogFields, type LogLevel, type Logger } from '../../shared/logger.js';
import type { Redactor } from '../../shared/redact.js';

/**
 * The Logger port on Azure Functions, written through the invocation's context (`context.info`, `context.error`,
 * ...), so each line is attributed to its invocation in Application Insights (`traces`, with the operation id) and
 * keeps its severity (error is severityLevel 3, what the failed-rotation alert in infra/azure/main.tf counts).
 *
 * Each record is one string: the message first, then its fields as JSON. The worker formats what it is given with
 * util.format, so a message passed alone is exactly the trace's `message`, and the alert's
 * `message startswith "rotation failed"` sees our text, not a JSON envelope. Redaction happens before the line
 * leaves: the fields (`redactFields`, which also turns Errors into their safe parts), the message, and the joined
 * line once more (serialising may re-join pieces a secret was split across).
 */

/** Where the lines go: the invocation context of @azure/functions (or anything with the same methods). */
export interface LogSink {
  debug(...args: unknown[]): void;
  info(...args: unknown[]): void;
  warn(...args: unknown[]): void;
  error(...args: unknown[]): void;
}

const ORDER: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40 };

export function createContextLogger(sink: LogSink, redactor: Redactor, level: LogLevel = 'info', base: LogFields = {}): Logger {
  const emit = (at: LogLevel, message: string, fields?: LogFields): void => {
    if (ORDER[at] < ORDER[level]) return;
    let line: string;
    try {
      const record = redactor.redactFields({ ...base, ...fields }) as LogFields;
      const json = Object.keys(record).length === 0 ? '' : ` ${JSON.stringify(record)}`;
      line = `${redactor.redact(message)}${json}`;
    } catch {
      // A field JSON cannot hold (a BigInt): the message alone, rather than an exception into the rotation.
      line = `${redactor.redact(message)} {"fields":"unserialisable"}`;
    }
    try {
      sink[at](redactor.redact(line));
    } catch {
      // Logging never throws into the rotation.
    }
  };
  return loggerFrom(redactor, emit, (fields) => createContextLogger(sink, redactor, level, { ...base, ...fields }));
}
