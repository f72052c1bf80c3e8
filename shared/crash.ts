import { redactWithEvery } from './redact.js';

/**
 * Uncaught exceptions and unhandled rejections go through the same redaction as everything else before anything
 * prints them (docs/architecture.md, invariant 5): an error thrown from deep in a driver may carry the statement it was sent,
 * and Node (or the Lambda runtime) prints its message, stack, own properties and causes.
 *
 * Two ways, because two kinds of process:
 * - `exit` (the CLI owns its process): print one redacted line and exit with `exitCode`, as Node would have
 *   exited, but without Node's printer.
 * - `runtime` (Lambda: the runtime installed its own handlers before our module loaded, and they report the
 *   error to the service): scrub the error in place and pass it on to those handlers; a reason that is not an
 *   object cannot be scrubbed in place, so they get its redacted text instead. Where nobody handles a rejection,
 *   none is added (a handler would stop Node from crashing), and Node's own printer runs after our
 *   `uncaughtExceptionMonitor` has scrubbed the error.
 * Redaction uses every Redactor of the process that is still alive: a crash handler has no logger at hand.
 */

type Redact = (text: string) => string;
type Listener = (...args: unknown[]) => void;

/** The part of `process` used here, so tests can pass an EventEmitter. */
export interface CrashProcess {
  on(event: string, listener: Listener): unknown;
  listeners(event: string): Array<(...args: never[]) => unknown>;
  removeAllListeners(event: string): unknown;
  exit(code: number): void;
}

export interface CrashRedactionOptions {
  mode: 'exit' | 'runtime';
  /** For `exit`: where the line goes and the exit code (70, an internal error, for the CLI). */
  write?: (text: string) => void;
  exitCode?: number;
  /** Prefix of the line printed in `exit` mode. */
  prefix?: string;
  redact?: Redact;
  process?: CrashProcess;
}

const MAX_DEPTH = 8;
const installed = new WeakSet<object>();

/**
 * Rewrites `error` in place, so that printing it in any way (message, stack, every own property, causes, the
 * errors of an AggregateError) prints no registered value. Returns false when it could not (not an object, or a
 * property that cannot be replaced or deleted). Never throws.
 */
export function scrubError(error: unknown, redact: Redact = redactWithEvery): boolean {
  return scrub(error, redact, new Set(), 0);
}

function scrub(node: unknown, redact: Redact, seen: Set<unknown>, depth: number): boolean {
  if (node === null || (typeof node !== 'object' && typeof node !== 'function')) return true;
  if (seen.has(node)) return true;
  seen.add(node);
  if (depth >= MAX_DEPTH) return false;
  let ok = true;
  let keys: Array<string | symbol>;
  try {
    keys = Reflect.ownKeys(node);
  } catch {
    return false;
  }
  for (const key of keys) {
    try {
      const descriptor = Reflect.getOwnPropertyDescriptor(node, key);
      if (descriptor === undefined) continue;
      let value: unknown;
      try {
        value = 'value' in descriptor ? descriptor.value : (node as Record<string | symbol, unknown>)[key];
      } catch {
        value = undefined; // A getter that throws prints nothing; replace it with nothing.
      }
      if (typeof value === 'string') {
        const masked = redact(value);
        if (masked !== value || !('value' in descriptor)) ok = replace(node, key, masked, descriptor) && ok;
      } else if (value !== null && typeof value === 'object') {
        ok = scrub(value, redact, seen, depth + 1) && ok;
        if (!('value' in descriptor)) ok = replace(node, key, value, descriptor) && ok;
      } else if (!('value' in descriptor)) {
        ok = replace(node, key, value, descriptor) && ok;
      }
    } catch {
      ok = false;
    }
  }
  return ok;
}

/** Puts a plain data property in place of `key` (or deletes it when that is refused). */
function replace(node: object, key: string | symbol, value: unknown, descriptor: PropertyDescriptor): boolean {
  try {
    if (Reflect.defineProperty(node, key, { value, writable: true, configurable: true, enumerable: descriptor.enumerable ?? false })) return true;
    return Reflect.deleteProperty(node, key);
  } catch {
    return false;
  }
}

/** What `exit` mode prints of a crash: the redacted stack (which starts with the message), or the redacted text. */
export function crashText(reason: unknown, redact: Redact = redactWithEvery): string {
  try {
    if (reason !== null && typeof reason === 'object') {
      scrubError(reason, redact);
      const stack = (reason as { stack?: unknown }).stack;
      const message = (reason as { message?: unknown }).message;
      if (typeof stack === 'string') return redact(stack);
      if (typeof message === 'string') return redact(message);
    }
    return redact(String(reason));
  } catch {
    return 'an error that could not be printed safely';
  }
}

/** Installs the handlers once per process (a second call with the same process does nothing). */
export function installCrashRedaction(options: CrashRedactionOptions): void {
  const proc: CrashProcess = options.process ?? process;
  if (installed.has(proc)) return;
  installed.add(proc);
  const redact = options.redact ?? redactWithEvery;
  if (options.mode === 'exit') {
    const write = options.write ?? ((text: string) => process.stderr.write(text));
    const prefix = options.prefix ?? 'internal error: ';
    const exitCode = options.exitCode ?? 1;
    const die = (reason: unknown): void => {
      try {
        write(`${prefix}${crashText(reason, redact)}\n`);
      } finally {
        proc.exit(exitCode);
      }
    };
    proc.on('uncaughtException', die);
    proc.on('unhandledRejection', die);
    return;
  }
  // Runs before Node's own printer, which runs only when nobody handles the exception.
  proc.on('uncaughtExceptionMonitor', (error) => void scrubError(error, redact));
  for (const event of ['uncaughtException', 'unhandledRejection']) {
    const theirs = proc.listeners(event) as Listener[];
    if (theirs.length === 0) continue;
    proc.removeAllListeners(event);
    proc.on(event, (reason, ...rest) => {
      const passed = reason !== null && typeof reason === 'object' && scrubError(reason, redact) ? reason : crashText(reason, redact);
      for (const listener of theirs) listener(passed, ...rest);
    });
  }
}
