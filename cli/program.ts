import { Command, CommanderError } from 'commander';
import { RotatorError } from '../shared/errors.js';
import { Redactor, describeError } from '../shared/redact.js';
import { registerGcpCommands } from './commands/gcp.js';
import { registerPurgeCommand } from './commands/purge.js';
import { registerRotateCommand } from './commands/rotate.js';
import { registerSecretsCommands } from './commands/secrets.js';
import type { CliIO, CliState } from './context.js';
import { EXIT, exitCodeFor } from './exit-codes.js';
import { escapeControl } from './format.js';

/** Runs one `rotator` command line and returns its exit code; never calls process.exit. */
export async function runCli(argv: readonly string[], io: CliIO): Promise<number> {
  const state: CliState = { json: false, redactor: new Redactor() };
  const program = new Command('rotator')
    .description('Rotate database and API-key credentials with the four-step protocol, over the embedded encrypted file store.')
    .option('--store <path>', 'the file store (default: $ROTATOR_STORE, else ~/.rotator/store.json)')
    .option('--log-level <level>', 'debug | info | warn | error; logs are JSON lines on standard error (default: warn)')
    .exitOverride()
    .configureOutput({ writeOut: io.stdout, writeErr: io.stderr })
    .showHelpAfterError('(add --help for usage)')
    .addHelpText(
      'after',
      '\nExamples:\n' +
        '  rotator secrets put db/app --enable-rotation < app-secret.json\n' +
        '  rotator rotate db/app\n' +
        '  rotator secrets describe db/app\n' +
        '  rotator purge --dry-run\n',
    );
  registerSecretsCommands(program, io, state);
  registerRotateCommand(program, io, state);
  registerPurgeCommand(program, io, state);
  registerGcpCommands(program, io, state, io.google);

  try {
    await program.parseAsync(argv, { from: 'user' });
    return EXIT.OK;
  } catch (error) {
    if (error instanceof CommanderError) return error.exitCode === 0 ? EXIT.OK : EXIT.USAGE;
    return reportError(error, io, state);
  }
}

function reportError(error: unknown, io: CliIO, { json, redactor }: CliState): number {
  const code = exitCodeFor(error);
  // Errors from drivers may quote what they were sent; only the redacted message of a known shape is printed.
  const safe = describeError(error instanceof Error ? error : new Error(String(error)), redactor);
  if (json) {
    io.stdout(JSON.stringify({ ok: false, error: { code: safe.code ?? 'INTERNAL', message: safe.message, retryable: safe.retryable ?? false } }) + '\n');
  } else if (error instanceof RotatorError) {
    // Messages may quote input (a path, an engine name): escaped, so a CR/LF in it cannot forge a line.
    io.stderr(`rotator: ${error.code}: ${escapeControl(String(safe.message))}${error.retryable ? ' (temporary: try again later)' : ''}\n`);
  } else {
    io.stderr(`rotator: internal error: ${escapeControl(String(safe.message))}; please report it with the command you ran\n`);
  }
  return code;
}
