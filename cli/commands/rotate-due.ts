import { performance } from 'node:perf_hooks';
import type { Alerter } from '../../shared/alerts.js';
import { isRotatorError, toRotatorError } from '../../shared/errors.js';
import { describeFleet, mapBounded, selectDue, type SkipReason } from '../../shared/fleet.js';
import { describeError } from '../../shared/redact.js';
import { alertSummary, summaryList } from '../alerts.js';
import type { CliContext, CliIO, CliState } from '../context.js';
import { EXIT } from '../exit-codes.js';
import { nowOf } from '../fleet.js';
import { escapeControl } from '../format.js';
import { startSpinner } from '../spinner.js';

/**
 * `rotate --due`: every enabled secret that is due, or has a rotation left PENDING, rotated through the engine (each
 * under its own lock), `concurrency` at a time, past any failure. One report, one exit code, one alert.
 */
export interface DueReport {
  ok: boolean;
  at: string;
  concurrency: number;
  /** How many secrets were due (rotated, failed or busy). */
  due: number;
  rotated: Array<{ secretId: string; versionId: string; resumed: boolean; totalMs: number }>;
  failed: Array<{ secretId: string; code: string; retryable: boolean; message: string }>;
  /** Due, but another run held the rotation lock (ROTATION_IN_PROGRESS): not a failure; the next run takes it. */
  busy: string[];
  skipped: Array<{ secretId: string; reason: SkipReason }>;
  totalMs: number;
}

type Outcome =
  | { kind: 'rotated'; secretId: string; versionId: string; resumed: boolean; totalMs: number }
  | { kind: 'failed'; secretId: string; code: string; retryable: boolean; message: string; totalMs: number }
  | { kind: 'busy'; secretId: string; totalMs: number };

export async function rotateDue(ctx: CliContext, io: CliIO, state: CliState, concurrency: number, alerter: Alerter | undefined): Promise<number> {
  const started = performance.now();
  const now = nowOf(io);
  const fleet = await describeFleet(ctx.store, concurrency);
  const selection = selectDue(fleet.secrets, now);
  const spinner = startSpinner(io, !state.json);
  const print = (text: string): void => {
    if (!state.json) spinner.print(text);
  };
  const ids = selection.due.map((d) => d.secretId);
  // Secrets that could not be described, or whose schedule cannot be read, are failures known before any rotation.
  const unread: Outcome[] = [...fleet.failed, ...selection.invalid].map((f) => ({
    kind: 'failed',
    ...f,
    message: f.code === 'INVALID_INPUT' ? 'its rotation schedule cannot be read' : 'it could not be described',
    totalMs: 0,
  }));
  const width = Math.max(0, ...[...ids, ...unread.map((u) => u.secretId)].map((id) => escapeControl(id).length));
  print(`rotate --due at ${now.toISOString()}: ${ids.length} of ${fleet.secrets.length + fleet.failed.length} secret(s) due, ${concurrency} at a time\n`);
  for (const outcome of unread) print(outcomeLine(outcome, width));

  let done = 0;
  let outcomes: Outcome[];
  try {
    spinner.set(`${done} of ${ids.length} done`);
    outcomes = await mapBounded(ids, concurrency, async (secretId): Promise<Outcome> => {
      const one = performance.now();
      const outcome = await rotateOne(secretId, () => Math.round(performance.now() - one));
      done += 1;
      spinner.set(`${done} of ${ids.length} done`);
      print(outcomeLine(outcome, width));
      return outcome;
    });
  } finally {
    spinner.stop();
  }

  async function rotateOne(secretId: string, elapsed: () => number): Promise<Outcome> {
    try {
      const report = await ctx.rotate(secretId);
      return { kind: 'rotated', secretId, versionId: report.versionId, resumed: report.resumed, totalMs: report.totalMs };
    } catch (error) {
      if (isRotatorError(error, 'ROTATION_IN_PROGRESS')) return { kind: 'busy', secretId, totalMs: elapsed() };
      const e = toRotatorError(error);
      // The message as `rotate <id>` prints it: redacted of every value this run saw.
      const message = String(describeError(error, state.redactor).message);
      return { kind: 'failed', secretId, code: e.code, retryable: e.retryable, message, totalMs: elapsed() };
    }
  }

  const failed = [...unread, ...outcomes].flatMap((o) => (o.kind === 'failed' ? [{ secretId: o.secretId, code: o.code, retryable: o.retryable, message: o.message }] : []));
  const report: DueReport = {
    ok: false,
    at: now.toISOString(),
    concurrency,
    due: ids.length,
    rotated: outcomes.flatMap((o) => (o.kind === 'rotated' ? [{ secretId: o.secretId, versionId: o.versionId, resumed: o.resumed, totalMs: o.totalMs }] : [])),
    failed,
    busy: outcomes.flatMap((o) => (o.kind === 'busy' ? [o.secretId] : [])),
    skipped: selection.skipped,
    totalMs: Math.round(performance.now() - started),
  };
  const code = dueExitCode(report);
  report.ok = code === EXIT.OK;
  io.stdout(state.json ? JSON.stringify(report) + '\n' : formatDueSummary(report));
  if (alerter !== undefined && failed.length > 0) {
    const list = summaryList(failed.map((f) => `${f.secretId} ${f.code}`));
    await alertSummary(alerter, ctx.logger, 'error', `rotation failed: ${failed.length} secret(s) in rotate --due: ${list}`);
  }
  return code;
}

/** 0 all due rotated (or none due); 1 some failed for good; 75 otherwise, when some failed temporarily or were busy. */
export function dueExitCode(report: Pick<DueReport, 'failed' | 'busy'>): number {
  if (report.failed.some((f) => !f.retryable)) return EXIT.FAILED;
  if (report.failed.length > 0 || report.busy.length > 0) return EXIT.RETRY;
  return EXIT.OK;
}

function outcomeLine(outcome: Outcome, width: number): string {
  const what =
    outcome.kind === 'rotated'
      ? `CURRENT is now version ${outcome.versionId}${outcome.resumed ? ' (finished a rotation left pending)' : ''}`
      : outcome.kind === 'busy'
        ? 'another run holds its rotation lock; the next run takes it'
        : `${outcome.code}: ${outcome.message}`;
  const word = outcome.kind === 'rotated' ? 'rotated' : outcome.kind === 'busy' ? 'busy' : outcome.retryable ? 'RETRY' : 'FAILED';
  // Padded by hand to the widest id, since each line is printed as its secret finishes.
  return `  ${word.padEnd(7)}  ${escapeControl(outcome.secretId).padEnd(width)}  ${String(outcome.totalMs).padStart(6)} ms  ${escapeControl(what)}\n`;
}

function formatDueSummary(report: DueReport): string {
  const counts = `${report.rotated.length} rotated, ${report.failed.length} failed, ${report.busy.length} busy, ${report.skipped.length} not due or disabled; ${report.totalMs} ms`;
  return report.due === 0 && report.failed.length === 0 ? `nothing is due; ${counts}\n` : `${counts}\n`;
}
