import { Redactor } from './redact.js';

export type LogLevel = 'debug' | 'info' | 'warn' | 'error';
const ORDER: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40 };

export type LogFields = Record<string, unknown>;

/**
 * The logging port the core writes to. Cloud entry points may adapt their own logger (Powertools on Lambda)
 * to it; every implementation must pass text through `redactor` before it leaves the process.
 */
export interface Logger {
  readonly redactor: Redactor;
  debug(message: string, fields?: LogFields): void;
  info(message: string, fields?: LogFields): void;
  warn(message: string, fields?: LogFields): void;
  error(message: string, fields?: LogFields): void;
  child(fields: LogFields): Logger;
}

export interface JsonLoggerOptions {
  level?: LogLevel;
  redactor?: Redactor;
  /** Where lines go; stderr by default so that stdout stays for command output. */
  write?: (line: string) => void;
  clock?: () => Date;
}

/** A JSON-lines logger whose every line is redacted. */
export function createLogger(options: JsonLoggerOptions = {}, base: LogFields = {}): Logger {
  const level = options.level ?? 'info';
  const redactor = options.redactor ?? new Redactor();
  const write = options.write ?? ((line: string) => process.stderr.write(line + '\n'));
  const clock = options.clock ?? (() => new Date());

  const emit = (at: LogLevel, message: string, fields?: LogFields): void => {
    if (ORDER[at] < ORDER[level]) return;
    let line: string;
    try {
      const record = redactor.redactFields({ ...base, ...fields }) as LogFields;
      line = JSON.stringify({ time: clock().toISOString(), level: at, message: redactor.redact(message), ...record });
    } catch {
      // A field JSON cannot hold (a BigInt) or a broken clock: the message alone, rather than an exception.
      line = JSON.stringify({ level: at, message: redactor.redact(message), fields: 'unserialisable' });
    }
    // Serialisation may re-join pieces a secret was split across; mask the final text too.
    write(redactor.redact(line));
  };

  return loggerFrom(redactor, emit, (fields) => createLogger({ level, redactor, write, clock }, { ...base, ...fields }));
}

/** A Logger from one emit function: what every implementation of the port shares. */
export function loggerFrom(redactor: Redactor, emit: (level: LogLevel, message: string, fields?: LogFields) => void, child: (fields: LogFields) => Logger): Logger {
  return {
    redactor,
    debug: (m, f) => emit('debug', m, f),
    info: (m, f) => emit('info', m, f),
    warn: (m, f) => emit('warn', m, f),
    error: (m, f) => emit('error', m, f),
    child,
  };
}

/** A logger that drops everything but still carries a redactor (tests, quiet CLI runs). */
export function silentLogger(redactor = new Redactor()): Logger {
  return createLogger({ redactor, write: () => undefined });
}
