import type { Command } from 'commander';
import { RotatorError } from '../../shared/errors.js';
import { describeFleet, parseConcurrency, type DescribeFailure } from '../../shared/fleet.js';
import { fleetStatus, statusJson, type FleetSummary, type SecretStatus } from '../../shared/status.js';
import { alertSummary, cliAlerter, summaryList } from '../alerts.js';
import { usingContext, type CliIO, type CliState, type GlobalOptions } from '../context.js';
import { EXIT, ExitStatus } from '../exit-codes.js';
import { DEFAULT_CONCURRENCY, nowOf, statusDefaults } from '../fleet.js';
import { formatTable, isoSecond } from '../format.js';

/**
 * `rotator status`: every secret's strategy, schedule, last rotation, next due or overdue, PENDING since, last error
 * and versions waiting for the purger, from the store's descriptions alone (no value is read, none can be shown).
 */
export function registerStatusCommand(program: Command, io: CliIO, state: CliState): void {
  program
    .command('status')
    .description('show every secret: strategy, schedule, last rotated, next due or overdue, pending rotation, last error, versions waiting for purge')
    .option('--check', 'exit 1 when some secret is overdue, its last rotation failed, or it could not be described (for monitors)')
    .option('--alert', 'post one message listing the overdue secrets to ROTATOR_ALERT_WEBHOOK (nothing when none is overdue)')
    .option('--concurrency <n>', `how many secrets are described at once on a store without a bulk listing, 1 to 64 (default ${DEFAULT_CONCURRENCY})`)
    .option('--json', 'print one JSON object: {ok, at, summary, secrets: [...]} (errors too)')
    .addHelpText(
      'after',
      '\nDates are ISO 8601 in UTC. STRATEGY is the secret\'s own, or the deployment default (ROTATION_STRATEGY) marked\n' +
        '"(default)"; a secret that names none but whose value is shaped like AWS\'s MultiUser template still alternates.\n' +
        'PURGE counts superseded versions the purger would retire now, and those still inside the safe window.\n' +
        'Exit codes: 0 shown (with --check: and healthy); 1 with --check, some secret is overdue, failing or unreadable;\n' +
        '2 bad input; 75 the store is temporarily unavailable.\n' +
        'A secret is overdue once the window after its due time closed without a rotation: `rotate --due` on a timer\n' +
        'rotates secrets when they are due, so overdue means the timer is not running or the rotation keeps failing.\n',
    )
    .action(async (opts: { check?: boolean; alert?: boolean; concurrency?: string; json?: boolean }) => {
      state.json = opts.json === true;
      const concurrency = opts.concurrency === undefined ? DEFAULT_CONCURRENCY : parseConcurrency(opts.concurrency, '--concurrency');
      const alerter = opts.alert === true ? cliAlerter(io) : undefined;
      if (opts.alert === true && alerter === undefined) throw new RotatorError('INVALID_INPUT', '--alert needs ROTATOR_ALERT_WEBHOOK (a Slack or Teams incoming webhook)');
      await usingContext(program.opts<GlobalOptions>(), io, state.redactor, {}, async (ctx) => {
        const now = nowOf(io);
        const fleet = await describeFleet(ctx.store, concurrency);
        const { secrets, summary } = fleetStatus(fleet.secrets, statusDefaults(ctx.config), now);
        const healthy = summary.overdue === 0 && summary.failing === 0 && fleet.failed.length === 0;
        const ok = opts.check !== true || healthy;
        if (state.json) {
          io.stdout(
            JSON.stringify({
              ok,
              at: now.toISOString(),
              summary: { ...summary, unreadable: fleet.failed.length },
              secrets: secrets.map(statusJson),
              unreadable: fleet.failed.map((f) => ({ secretId: f.secretId, code: f.code, retryable: f.retryable })),
            }) + '\n',
          );
        } else {
          io.stdout(formatStatus(secrets, fleet.failed, summary, now));
        }
        const overdue = secrets.filter((s) => s.overdue);
        if (alerter !== undefined && overdue.length > 0) {
          const list = summaryList(overdue.map((s) => `${s.secretId} (since ${isoSecond(s.overdueSince ?? now)})`));
          await alertSummary(alerter, ctx.logger, 'warn', `rotation overdue: ${overdue.length} secret(s) past their rotation window: ${list}`);
        }
        if (!ok) throw new ExitStatus(EXIT.FAILED);
      });
    });
}

const HEADER = ['SECRET', 'STRATEGY', 'SCHEDULE', 'LAST ROTATED', 'NEXT DUE', 'PENDING SINCE', 'LAST ERROR', 'PURGE'];

function formatStatus(secrets: readonly SecretStatus[], unreadable: readonly DescribeFailure[], summary: FleetSummary, now: Date): string {
  const dash = (date: Date | undefined): string => (date === undefined ? '-' : isoSecond(date));
  const rows = secrets.map((s) => [
    s.secretId,
    `${s.strategy}${s.strategySource === 'default' ? ' (default)' : ''}`,
    s.schedule ?? '-',
    dash(s.lastRotatedAt),
    nextDue(s),
    s.pending === undefined ? '-' : s.pending.since === undefined ? 'yes' : isoSecond(s.pending.since),
    s.lastError === undefined ? '-' : `${s.lastError.code} ${s.lastError.step ?? '-'} ${isoSecond(s.lastError.at)}`,
    `${s.purge.retireNow} now, ${s.purge.insideWindow + s.purge.undated} waiting`,
  ]);
  for (const f of unreadable) rows.push([f.secretId, '-', '-', '-', '-', '-', `UNREADABLE ${f.code}${f.retryable ? ' (temporary)' : ''}`, '-']);
  const counts =
    `${summary.secrets} secret(s) at ${isoSecond(now)}: ${summary.due} due, ${summary.overdue} overdue, ${summary.pending} pending, ` +
    `${summary.failing} failing${unreadable.length === 0 ? '' : `, ${unreadable.length} unreadable`}\n`;
  return (rows.length === 0 ? '' : formatTable([HEADER, ...rows])) + counts;
}

function nextDue(s: SecretStatus): string {
  if (!s.enabled) return 'rotation disabled';
  if (s.overdueSince !== undefined) return `OVERDUE since ${isoSecond(s.overdueSince)}`;
  if (s.nextDueAt === undefined) return '-';
  return s.due ? `due since ${isoSecond(s.nextDueAt)}` : isoSecond(s.nextDueAt);
}
