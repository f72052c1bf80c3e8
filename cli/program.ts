import { Command, CommanderError } from 'commander';
import { RotatorError } from '../shared/errors.js';
import { Redactor, describeError } from '../shared/redact.js';
import { registerGcpCommands } from './commands/gcp.js';
import { registerCompletionCommand } from './completion.js';
import { registerPurgeCommand } from './commands/purge.js';
import { registerRotateCommand } from './commands/rotate.js';
import { registerRunCommand } from './commands/run.js';
import { registerSecretsCommands } from './commands/secrets.js';
import { registerStatusCommand } from './commands/status.js';
import type { CliIO, CliState } from './context.js';
import { EXIT, ExitStatus, exitCodeFor } from './exit-codes.js';
import { escapeControl } from './format.js';
import { readVersion } from './version.js';

/** The environment the CLI reads (shared/config.ts, stores/file/key.ts), one line each, for --help. */
export const ENVIRONMENT_HELP: ReadonlyArray<readonly [string, string]> = [
  ['ROTATOR_STORE', 'the store: a file path (default ~/.rotator/store.json), aws://<region>, azure://<vault> or gcp://<project>; --store overrides it'],
  ['ROTATOR_SECRET_PREFIX', 'cloud stores: list, purge and status only secrets whose names start with this (as the functions do)'],
  ['ROTATOR_LOCK_CONTAINER_URL', 'azure:// stores: the blob container of the rotation locks, https://<account>.blob.core.windows.net/<container>'],
  ['ROTATOR_STORE_KEY', 'the store key, base64 of 32 bytes (default: the key file)'],
  ['ROTATOR_STORE_KEY_FILE', 'the key file (default <store>.key, created with mode 0600 by the first `secrets put`)'],
  ['ROTATION_STRATEGY', 'single-user | alternating-users | dual-password for secrets that name none (default single-user)'],
  ['ROTATOR_SAFE_WINDOW', 'how long superseded versions stay before purge retires them (default 30d)'],
  ['ROTATOR_KEEP_SUPERSEDED', 'superseded versions purge keeps whatever their age (default 0)'],
  ['ROTATOR_TLS_CA_FILE', 'a PEM bundle to trust for database TLS (default: Node\'s trust store)'],
  ['ROTATOR_ALLOW_PLAINTEXT_FALLBACK', 'true: a secret without "ssl" may use plaintext if the server has no TLS (default false)'],
  ['ROTATOR_ALLOW_PUBLIC_KEY_RETRIEVAL', 'true: MySQL 8 may fetch the server\'s RSA key over plaintext (default false)'],
  ['ROTATOR_CONNECT_TIMEOUT_MS', 'bound on connect + TLS + login, 100..120000 (default 5000)'],
  ['ROTATOR_STATEMENT_TIMEOUT_MS', 'bound on each statement or API-key provider call, 100..600000 (default 15000)'],
  ['USERNAME_CHARACTER_LIMIT', 'MySQL/MariaDB: longest alternate user name (default: per server)'],
  ['LOG_LEVEL', 'debug | info | warn | error (default warn; --log-level overrides it)'],
  ['ROTATOR_ALERT_WEBHOOK', 'a Slack or Teams incoming webhook (https): `rotate` and `purge` post failures there, `status --alert` overdue secrets (no value)'],
];

function environmentHelp(): string {
  const width = Math.max(...ENVIRONMENT_HELP.map(([name]) => name.length));
  return '\nEnvironment:\n' + ENVIRONMENT_HELP.map(([name, what]) => `  ${name.padEnd(width)}  ${what}\n`).join('');
}

/** Runs one `rotator` command line and returns its exit code; never calls process.exit. */
export async function runCli(argv: readonly string[], io: CliIO): Promise<number> {
  const state: CliState = { json: false, redactor: new Redactor() };
  const program = buildProgram(io, state);
  try {
    await program.parseAsync(argv, { from: 'user' });
    return EXIT.OK;
  } catch (error) {
    if (error instanceof CommanderError) return error.exitCode === 0 ? EXIT.OK : EXIT.USAGE;
    if (error instanceof ExitStatus) return error.code;
    return reportError(error, io, state);
  }
}

/** The whole `rotator` command tree (what runCli parses with, and what `completion` describes). */
export function buildProgram(io: CliIO, state: CliState): Command {
  const program = new Command('rotator')
    .description('Rotate database and API-key credentials with the four-step protocol, over the embedded encrypted file store.')
    .option(
      '--store <path|url>',
      'the store: a file path (default: $ROTATOR_STORE, else ~/.rotator/store.json), aws://<region>, azure://<vault-name> or gcp://<project-id> ' +
        '(each cloud\'s usual credentials: the AWS SDK chain and AWS_PROFILE, DefaultAzureCredential, Application Default Credentials)',
    )
    .option('--log-level <level>', 'debug | info | warn | error; logs are JSON lines on standard error (default: warn)')
    .option('-V, --version', 'print the version and exit')
    .exitOverride()
    .configureOutput({ writeOut: io.stdout, writeErr: io.stderr })
    .showHelpAfterError('(add --help for usage)')
    // "did you mean" for mistyped commands and options (commander's default, set here so it stays on).
    .showSuggestionAfterError(true)
    .addHelpText(
      'after',
      '\nExamples:\n' +
        '  rotator secrets put db/app --enable-rotation < app-secret.json\n' +
        '  rotator rotate db/app\n' +
        '  rotator secrets rotation db/app --every 30d\n' +
        '  rotator rotate --due              # from cron or a systemd timer\n' +
        '  rotator status\n' +
        '  rotator secrets describe db/app\n' +
        '  rotator purge --dry-run\n' +
        environmentHelp(),
    );
  // As commander's own .version() does, but the version is read from package.json only when it is asked for.
  program.on('option:version', () => {
    const version = readVersion();
    io.stdout(`${version}\n`);
    throw new CommanderError(0, 'commander.version', version);
  });
  // Every command has --json; set before its action runs, so an error it throws is printed as JSON too.
  program.hook('preAction', (_program, command) => {
    state.json = command.opts<{ json?: boolean }>().json === true;
  });
  registerSecretsCommands(program, io, state);
  registerRotateCommand(program, io, state);
  registerStatusCommand(program, io, state);
  registerPurgeCommand(program, io, state);
  registerRunCommand(program, io, state);
  registerGcpCommands(program, io, state, io.google);
  registerCompletionCommand(program, io); // last: its script covers every command registered before it
  return program;
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
