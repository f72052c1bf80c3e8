import { loggerFrom, type LogFields, type LogLevel, type Logger } from '../../shared/logger.js';
import type { Redactor } from '../../shared/redact.js';

/**
 * The Logger port on Cloud Run functions: one JSON object per line on stdout, which Cloud Logging turns into a
 * structured entry (`jsonPayload`) with the line's `severity` (DEBUG, INFO, WARNING, ERROR). The failed-rotation
 * alert in infra/gcp counts entries at ERROR whose `message` starts "rotation failed" or "purge failed", so the
 * message is our text alone and the fields sit beside it. Redaction happens before the line leaves: the fields
 * (`redactFields`, which also turns Errors into their safe parts), the message, and the serialised line once more.
 */
export type LineWriter = (line: string) => void;

const ORDER: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40 };
const SEVERITY: Record<LogLevel, string> = { debug: 'DEBUG', info: 'INFO', warn: 'WARNING', error: 'ERROR' };

export const stdoutLines: LineWriter = (line) => {
  process.stdout.write(`${line}\n`);
};

export function createCloudLogger(write: LineWriter, redactor: Redactor, level: LogLevel = 'info', base: LogFields = {}): Logger {
  const emit = (at: LogLevel, message: string, fields?: LogFields): void => {
    if (ORDER[at] < ORDER[level]) return;
    let line: string;
    try {
      const record = redactor.redactFields({ ...base, ...fields }) as LogFields;
      // Our own keys last, so a field can never pass itself off as the severity or the message.
      line = JSON.stringify({ ...record, severity: SEVERITY[at], message: redactor.redact(message) });
    } catch {
      line = JSON.stringify({ severity: SEVERITY[at], message: redactor.redact(message), fields: 'unserialisable' });
    }
    try {
      write(redactor.redact(line));
    } catch {
      // Logging never throws into the rotation.
    }
  };
  return loggerFrom(redactor, emit, (fields) => createCloudLogger(write, redactor, level, { ...base, ...fields }));
}
