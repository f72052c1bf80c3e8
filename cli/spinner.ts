import { escapeControl } from './format.js';
import type { CliIO } from './context.js';

/**
 * Progress while a step waits: one line on standard error, redrawn in place on a terminal (io.isTTY), with what is
 * running and for how long. Nothing at all when stderr is not a terminal (cron, a journal, a pipe) or with --json,
 * so logs and machine output carry no escape sequences.
 */
export interface Spinner {
  /** What is running now (an id, a step); shown with the time since the spinner started. */
  set(text: string): void;
  /** Writes `text` to standard output with the spinner line cleared first and redrawn after. */
  print(text: string): void;
  /** Clears the line and stops redrawing; idempotent. */
  stop(): void;
}

const FRAMES = ['|', '/', '-', '\\'];
const INTERVAL_MS = 100;
/** Kept short so the line never wraps on a narrow terminal (a wrapped line cannot be cleared with \r). */
const MAX_TEXT = 60;
/** Back to the start of the line, and erase it. */
const CLEAR = '\r\u001b[K';

export function startSpinner(io: CliIO, enabled: boolean): Spinner {
  if (!enabled || io.isTTY !== true) return { set: () => undefined, print: (text) => io.stdout(text), stop: () => undefined };
  const started = Date.now();
  let frame = 0;
  let text = '';
  let stopped = false;
  const draw = (): void => {
    if (text === '') return; // nothing to say yet
    const seconds = Math.floor((Date.now() - started) / 1000);
    io.stderr(`${CLEAR}${FRAMES[frame++ % FRAMES.length] ?? ''} ${text} (${seconds}s)`);
  };
  const timer = setInterval(draw, INTERVAL_MS);
  timer.unref(); // never what keeps the process alive
  return {
    set(next) {
      // Ids come from the store and are checked; escaped all the same, since this writes to a terminal.
      const escaped = escapeControl(next);
      text = escaped.length > MAX_TEXT ? `${escaped.slice(0, MAX_TEXT - 3)}...` : escaped;
      if (!stopped) draw();
    },
    print(out) {
      const drawn = !stopped && text !== '';
      if (drawn) io.stderr(CLEAR);
      io.stdout(out);
      if (drawn) draw();
    },
    stop() {
      if (stopped) return;
      stopped = true;
      clearInterval(timer);
      io.stderr(CLEAR);
    },
  };
}
