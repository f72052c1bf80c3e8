import type { Command } from 'commander';
import { formatDuration } from '../../shared/duration.js';
import { RotatorError } from '../../shared/errors.js';
import type { PurgeReport } from '../../shared/purger.js';
import { checkSecretId } from '../../shared/secret-id.js';
import { alertingFailures } from '../alerts.js';
import { escapeControl } from '../format.js';
import { usingContext, type CliIO, type CliState, type GlobalOptions } from '../context.js';
import { ExitStatus, exitCodeFor } from '../exit-codes.js';

export function registerPurgeCommand(program: Command, io: CliIO, state: CliState): void {
  program
    .command('purge')
    .description('retire secret versions superseded for longer than the safe window, revoking them at the target first')
    .argument('[secret-id...]', 'the secrets to purge (default: every secret in the store)')
    .option('--dry-run', 'print what would be retired and revoked, and change nothing')
    .option('--json', 'print the report as one JSON object')
    .addHelpText(
      'after',
      '\nThe safe window is ROTATOR_SAFE_WINDOW (default 30d), or the secret\'s own (secrets rotation <id> --safe-window 7d);\n' +
        'ROTATOR_KEEP_SUPERSEDED / --keep keeps the newest N superseded versions whatever their age.\n' +
        'Exit codes: 0 every secret purged; 1 some secret failed; 75 only temporary failures (retry later); 2 bad input.\n',
    )
    .action(async (secretIds: string[], opts: { dryRun?: boolean; json?: boolean }) => {
      state.json = opts.json === true;
      for (const id of secretIds) checkSecretId(id);
      const dryRun = opts.dryRun === true;
      let reported: RotatorError | undefined;
      await usingContext(program.opts<GlobalOptions>(), io, state.redactor, secretIds.length === 1 ? { secretId: secretIds[0] } : {}, async (ctx) => {
        await alertingFailures(io, ctx.logger, 'purge', {}, async () => {
          // A dry run takes no rotation lock: it only reads, and a lock is a write (and a right) on every store.
          const report = await ctx.purger({ dryRun }).purge(secretIds.length === 0 ? undefined : secretIds, { dryRun });
          io.stdout(state.json ? JSON.stringify(report) + '\n' : formatPurge(report));
          if (report.failed > 0) {
            const failures = report.secrets.filter((s) => !s.ok);
            const allRetryable = failures.every((s) => s.error?.retryable === true);
            reported = new RotatorError('TARGET_ERROR', `${report.failed} of ${report.secrets.length} secret(s) could not be purged; see the report`, {
              retryable: allRetryable,
            });
            throw reported;
          }
        });
      }).catch((error: unknown) => {
        // With --json the report is the command's one object: the failure it already holds only sets the exit code.
        throw state.json && error === reported ? new ExitStatus(exitCodeFor(error)) : error;
      });
    });
}

function formatPurge(report: PurgeReport): string {
  const lines: string[] = [report.dryRun ? `dry run at ${report.at}: nothing is changed` : `purge at ${report.at}`];
  for (const s of report.secrets) {
    lines.push(`${s.secretId} (safe window ${formatDuration(s.policy.safeWindowMs)}, keep ${s.policy.keepSuperseded})`);
    for (const a of s.actions) {
      const revocation = a.revocation === 'no-revoke' ? 'nothing to revoke' : a.revocation === 'would-revoke' ? 'would revoke at the target' : `revocation ${a.revocation}`;
      const outcome = a.error === undefined ? (a.retired ? 'retired' : 'would retire') : `FAILED ${a.error.code}: ${a.error.message}`;
      lines.push(`  ${a.versionId}  superseded ${a.supersededAt}  ${revocation}; ${outcome}`);
    }
    if (s.skipped !== undefined) lines.push(`  skipped: ${s.skipped}`);
    else if (s.actions.length === 0 && s.error === undefined) lines.push('  nothing past the safe window');
    if (s.error !== undefined && s.actions.length === 0) lines.push(`  FAILED ${s.error.code}: ${s.error.message}`);
  }
  // Error messages may quote what a secret holds (an engine name): printed escaped.
  return lines.map(escapeControl).join('\n') + '\n';
}

