import type { Command } from 'commander';
import { STEPS, type StepResult } from '../../shared/engine.js';
import { RotatorError } from '../../shared/errors.js';
import { parseConcurrency } from '../../shared/fleet.js';
import { checkSecretId } from '../../shared/secret-id.js';
import { usingContext, type CliIO, type CliState, type GlobalOptions } from '../context.js';
import { ExitStatus } from '../exit-codes.js';
import { DEFAULT_CONCURRENCY } from '../fleet.js';
import { formatReport, formatStep } from '../format.js';
import { alertingFailures, cliAlerter } from '../alerts.js';
import { startSpinner } from '../spinner.js';
import { suggestingIds } from '../suggest.js';
import { runPreflight } from './preflight.js';
import { rotateDue } from './rotate-due.js';

export function registerRotateCommand(program: Command, io: CliIO, state: CliState): void {
  program
    .command('rotate')
    .description('rotate a secret now: create, set, test and finish a new version (resumes a rotation left pending); --due rotates every secret that is due')
    .argument('[secret-id]', 'the secret to rotate (or --due)')
    .option('--due', 'rotate every enabled secret whose schedule is due, or that has a rotation left PENDING (for cron and systemd timers)')
    .option('--concurrency <n>', `with --due: how many secrets rotate at once, 1 to 64 (default ${DEFAULT_CONCURRENCY})`)
    .option('--json', 'print one JSON object with the outcome instead of text (errors too)')
    .option('--dry-run', "check, changing nothing, that a rotation would succeed: logins, TLS, the master's rights, the alternate's name, the lock")
    .addHelpText(
      'after',
      '\nExit codes: 0 rotated; 1 failed (see the error); 2 bad input or secret; 75 try again later\n' +
        '(another rotation holds the lock, or the database is unreachable); 70 internal error.\n' +
        'With --dry-run: 0 every check passes; 1 a check fails; 75 only temporary failures.\n' +
        'With --due: 0 every due secret rotated, or none was due; 1 some secret failed for good; 75 none failed for\n' +
        'good, but some failed temporarily or was busy (another run holds its lock): the next run picks them up.\n' +
        'Failures go to ROTATOR_ALERT_WEBHOOK when it is set: one message per run, naming each failed secret and code.\n' +
        'Schedules are set with `rotator secrets rotation <id> --every 30d` (or --schedule \'cron(0 4 ? * SUN *)\').\n',
    )
    .action(async (secretId: string | undefined, opts: { due?: boolean; concurrency?: string; json?: boolean; dryRun?: boolean }) => {
      state.json = opts.json === true;
      // Bad flags are refused before the store is opened or the webhook is called.
      if (opts.due === true) {
        if (opts.dryRun === true) throw new RotatorError('INVALID_INPUT', '--dry-run checks one secret: rotator rotate <secret-id> --dry-run');
        if (secretId !== undefined) throw new RotatorError('INVALID_INPUT', 'give either a secret id or --due, not both');
        const concurrency = opts.concurrency === undefined ? DEFAULT_CONCURRENCY : parseConcurrency(opts.concurrency, '--concurrency');
        const alerter = cliAlerter(io);
        const code = await usingContext(program.opts<GlobalOptions>(), io, state.redactor, {}, (ctx) => rotateDue(ctx, io, state, concurrency, alerter));
        if (code !== 0) throw new ExitStatus(code);
        return;
      }
      if (opts.concurrency !== undefined) throw new RotatorError('INVALID_INPUT', '--concurrency applies to --due only');
      if (secretId === undefined) throw new RotatorError('INVALID_INPUT', 'name the secret to rotate (rotator rotate <secret-id>), or pass --due to rotate every secret that is due');
      checkSecretId(secretId); // before anything prints it
      return usingContext(program.opts<GlobalOptions>(), io, state.redactor, { secretId }, async (ctx) => {
        if (opts.dryRun === true) return runPreflight(secretId, ctx, io, state);
        const spinner = startSpinner(io, !state.json);
        const say = (text: string): void => {
          if (!state.json) spinner.print(text);
        };
        say(`rotating ${secretId}\n`);
        spinner.set(`${secretId}: ${STEPS[0]}`);
        const onStep = (r: StepResult): void => {
          say(formatStep(r.step, r.ms, r.outcome));
          const next = STEPS[STEPS.indexOf(r.step) + 1];
          if (next !== undefined) spinner.set(`${secretId}: ${next}`);
        };
        const report = await alertingFailures(io, ctx.logger, 'rotation', { secretId }, () =>
          suggestingIds(secretId, () => ctx.store.listSecretIds(), () => ctx.rotate(secretId, { onStep })),
        ).finally(() => spinner.stop());
        io.stdout(state.json ? JSON.stringify({ ok: true, ...report }) + '\n' : formatReport(report));
      });
    });
}
