import type { PreflightReport } from '../../shared/engine.js';
import type { CliContext, CliIO, CliState } from '../context.js';
import { EXIT, ExitStatus } from '../exit-codes.js';
import { escapeControl, formatTable } from '../format.js';
import { suggestingIds } from '../suggest.js';

/**
 * `rotator rotate <id> --dry-run`: the engine's preflight, printed one aligned line per check (or one JSON object),
 * changing nothing. Exit 0 when every check passes or is skipped; 1 when one fails; 75 when every failure is
 * temporary (an unreachable target, a lock another rotation holds). Not an alert: nothing was rotated, so nothing
 * failed to rotate.
 */
export async function runPreflight(secretId: string, ctx: CliContext, io: CliIO, state: CliState): Promise<void> {
  const report = await suggestingIds(secretId, () => ctx.store.listSecretIds(), () => ctx.engine().preflight(secretId));
  const failed = report.checks.filter((c) => c.status === 'fail');
  io.stdout(state.json ? JSON.stringify({ ok: failed.length === 0, dryRun: true, ...report }) + '\n' : formatPreflight(report));
  if (failed.length === 0) return;
  // The report above is the whole outcome (the one JSON object, or the verdict line): only the exit code is left.
  throw new ExitStatus(failed.every((c) => c.retryable === true) ? EXIT.RETRY : EXIT.FAILED);
}

export function formatPreflight(report: PreflightReport): string {
  const about = report.engine === undefined ? '' : ` (${report.engine}, ${report.strategy ?? '?'})`;
  const failed = report.checks.filter((c) => c.status === 'fail').length;
  const verdict = failed === 0 ? 'a rotation would succeed' : `${failed} check(s) failed: a rotation would fail`;
  const rows = report.checks.map((c) => [c.status.toUpperCase(), c.name, c.code === undefined ? c.reason : `${c.code}: ${c.reason}`]);
  return `dry run of ${escapeControl(report.secretId)}${escapeControl(about)}: nothing was changed\n${indent(formatTable(rows))}${verdict}\n`;
}

function indent(text: string): string {
  return text.replace(/^(?=.)/gm, '  ');
}
