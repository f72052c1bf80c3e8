import type { Command } from 'commander';
import type { StepResult } from '../../shared/engine.js';
import { checkSecretId } from '../../shared/secret-id.js';
import { createContext, type CliIO, type CliState, type GlobalOptions } from '../context.js';
import { formatReport, formatStep } from '../format.js';
import { alertingFailures } from '../alerts.js';
import { suggestingIds } from '../suggest.js';

export function registerRotateCommand(program: Command, io: CliIO, state: CliState): void {
  program
    .command('rotate')
    .description('rotate a secret now: create, set, test and finish a new version (resumes a rotation left pending)')
    .argument('<secret-id>')
    .option('--json', 'print one JSON object with the outcome instead of text (errors too)')
    .addHelpText(
      'after',
      '\nExit codes: 0 rotated; 1 failed (see the error); 2 bad input or secret; 75 try again later\n' +
        '(another rotation holds the lock, or the database is unreachable); 70 internal error.\n',
    )
    .action(async (secretId: string, opts: { json?: boolean }) => {
      state.json = opts.json === true;
      checkSecretId(secretId); // before anything prints it
      const ctx = await createContext(program.opts<GlobalOptions>(), io, state.redactor, { secretId });
      if (!state.json) io.stdout(`rotating ${secretId}\n`);
      const onStep = (r: StepResult): void => {
        if (!state.json) io.stdout(formatStep(r.step, r.ms, r.outcome));
      };
      const report = await alertingFailures(io, ctx.logger, 'rotation', { secretId }, () =>
        suggestingIds(secretId, () => ctx.store.listSecretIds(), () => ctx.rotate(secretId, { onStep })),
      );
      io.stdout(state.json ? JSON.stringify({ ok: true, ...report }) + '\n' : formatReport(report));
    });
}
