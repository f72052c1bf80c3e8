import { spawn } from 'node:child_process';
import { constants } from 'node:os';
import type { Command } from 'commander';
import { RotatorError } from '../../shared/errors.js';
import { parseSecretJson } from '../../shared/secret.js';
import { checkSecretId } from '../../shared/secret-id.js';
import { usingContext, type CliIO, type CliState, type GlobalOptions } from '../context.js';
import { ExitStatus } from '../exit-codes.js';

/**
 * `rotator run --secret <id>[=PREFIX] [--secret ...] [--override] -- <command> [args...]`: starts a command with the
 * top-level fields of each secret's CURRENT value as environment variables (as `infisical run` and envconsul do), so
 * an application that reads its credentials from the environment needs no code for the store.
 *
 * The rules, each because a secret's writer must not gain more than the secret's reader already has:
 * - A field becomes `PREFIX_FIELD`, upper-cased (no prefix by default). Only names that are portable environment
 *   names (`[A-Za-z_][A-Za-z0-9_]*`, at most 128 characters) are accepted; another field is refused, naming the field.
 * - A string is passed as it is; anything else (a number, a boolean, null, an object, an array) as its JSON.
 * - A value with a NUL is refused: the environment cannot carry it (it would be cut there).
 * - Variables that change what a program loads or runs (PATH, LD_*, DYLD_*, NODE_OPTIONS, BASH_ENV, PYTHONPATH, ...)
 *   and Rotator's own (ROTATOR_*) are refused always: whoever can write the secret would run code in the application.
 * - A variable already in the environment is refused unless `--override` is given, and two fields that map to one
 *   name are refused: a secret never silently replaces a setting.
 * - ROTATOR_STORE_KEY and ROTATOR_ALERT_WEBHOOK (a token) are not passed on: the command gets its secrets, not the key
 *   to the whole store or Rotator's own credentials.
 * - No shell: the command and its arguments are passed to the OS as they are, and no value is ever in argv.
 * - SIGINT, SIGTERM and SIGHUP are forwarded to the command; `rotator run` exits with its exit code, or 128 + the
 *   signal's number when a signal ended it (as shells report it), 127 when the command is not found, 126 when it
 *   cannot be run.
 */

/** Portable environment names (POSIX: upper-case letters, digits and underscore; lower-case accepted, upper-cased). */
const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]{0,127}$/;

/** Variables that decide what a program loads or runs, or how Rotator itself reads its store: never from a secret. */
const FORBIDDEN_NAMES: ReadonlySet<string> = new Set([
  'PATH', 'IFS', 'ENV', 'BASH_ENV', 'SHELLOPTS', 'BASHOPTS', 'PS4', 'PROMPT_COMMAND', 'CDPATH', 'GLOBIGNORE',
  'NODE_OPTIONS', 'NODE_PATH', 'NODE_EXTRA_CA_CERTS', 'NODE_TLS_REJECT_UNAUTHORIZED', 'NODE_REPL_EXTERNAL_MODULE',
  'JAVA_TOOL_OPTIONS', '_JAVA_OPTIONS', 'JDK_JAVA_OPTIONS', 'CLASSPATH', 'PERLLIB', 'RUBYLIB', 'RUBYOPT',
  'GCONV_PATH', 'HOSTALIASES', 'LOCALDOMAIN', 'RES_OPTIONS', 'TMPDIR', 'HOME', 'SHELL', 'GIT_SSH_COMMAND',
  'SSL_CERT_FILE', 'SSL_CERT_DIR', 'HTTP_PROXY', 'HTTPS_PROXY', 'ALL_PROXY', 'NO_PROXY',
]);
const FORBIDDEN_PREFIXES = ['LD_', 'DYLD_', 'PYTHON', 'PERL5', 'ROTATOR_', 'BASH_FUNC_'];

/** One `--secret` argument: the last `=` starts the prefix (an id with `=` in it is written with a trailing `=`). */
export interface SecretSpec {
  secretId: string;
  prefix: string;
}

export function parseSecretSpec(raw: string): SecretSpec {
  const at = raw.lastIndexOf('=');
  const secretId = checkSecretId(at === -1 ? raw : raw.slice(0, at), 'the secret id of --secret');
  const prefix = at === -1 ? '' : raw.slice(at + 1);
  if (prefix !== '' && !ENV_NAME.test(prefix)) {
    throw new RotatorError('INVALID_INPUT', `the prefix of --secret ${secretId} must be letters, digits and _ (not starting with a digit), e.g. --secret ${secretId}=DB`);
  }
  return { secretId, prefix: prefix.toUpperCase() };
}

/** The variables one secret's value gives, checked by the rules above (messages name fields and variables, never values). */
export function variablesOf(spec: SecretSpec, value: string, maxBytes: number): Map<string, string> {
  const { secretId, prefix } = spec;
  const fields = parseSecretJson(value, `the value of ${secretId}`, maxBytes);
  const out = new Map<string, string>();
  for (const [field, fieldValue] of Object.entries(fields)) {
    if (!ENV_NAME.test(field)) {
      throw new RotatorError(
        'INVALID_INPUT',
        `the field ${JSON.stringify(field)} of secret ${secretId} cannot be an environment variable name (letters, digits and _, not starting with a digit, at most 128); rename it in the secret`,
      );
    }
    const name = (prefix === '' ? field : `${prefix}_${field}`).toUpperCase();
    if (FORBIDDEN_NAMES.has(name) || FORBIDDEN_PREFIXES.some((p) => name.startsWith(p))) {
      throw new RotatorError(
        'INVALID_INPUT',
        `the field ${JSON.stringify(field)} of secret ${secretId} would set ${name}, which changes what programs load or run (or Rotator's own settings), so a secret may never set it; use a prefix, e.g. --secret ${secretId}=APP`,
      );
    }
    if (out.has(name)) throw new RotatorError('INVALID_INPUT', `two fields of secret ${secretId} would both set ${name}; rename one in the secret`);
    const text = typeof fieldValue === 'string' ? fieldValue : JSON.stringify(fieldValue);
    if (text.includes('\0')) throw new RotatorError('INVALID_INPUT', `the field ${JSON.stringify(field)} of secret ${secretId} holds a NUL character, which an environment variable cannot carry`);
    out.set(name, text);
  }
  return out;
}

/** Rotator's own secrets in its environment, never handed to the command. */
const WITHHELD = ['ROTATOR_STORE_KEY', 'ROTATOR_ALERT_WEBHOOK'] as const;

/** The command's environment: ours without Rotator's secrets (WITHHELD), plus every secret's variables, checked against each other. */
export function childEnvironment(parent: NodeJS.ProcessEnv, secrets: ReadonlyArray<{ spec: SecretSpec; variables: Map<string, string> }>, override: boolean): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = Object.fromEntries(Object.entries(parent).filter(([name]) => !(WITHHELD as readonly string[]).includes(name)));
  const setBy = new Map<string, string>();
  for (const { spec, variables } of secrets) {
    for (const [name, text] of variables) {
      const earlier = setBy.get(name);
      if (earlier !== undefined) throw new RotatorError('INVALID_INPUT', `secrets ${earlier} and ${spec.secretId} would both set ${name}; give one a prefix (--secret ${spec.secretId}=PREFIX)`);
      if (!override && parent[name] !== undefined) {
        throw new RotatorError('INVALID_INPUT', `secret ${spec.secretId} would replace ${name}, which is already set; give it a prefix (--secret ${spec.secretId}=PREFIX), or pass --override`);
      }
      setBy.set(name, spec.secretId);
      env[name] = text;
    }
  }
  return env;
}

const FORWARDED_SIGNALS = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const;

/** Runs the command with inherited stdio and no shell; resolves to the exit code `rotator run` gives. */
function runCommand(command: string, args: readonly string[], env: NodeJS.ProcessEnv, io: CliIO): Promise<number> {
  return new Promise((resolve) => {
    const child = spawn(command, args, { env, stdio: 'inherit', shell: false });
    const forward = (signal: NodeJS.Signals) => () => child.kill(signal);
    const handlers = FORWARDED_SIGNALS.map((signal) => [signal, forward(signal)] as const);
    for (const [signal, handler] of handlers) process.on(signal, handler);
    const done = (code: number): void => {
      for (const [signal, handler] of handlers) process.off(signal, handler);
      resolve(code);
    };
    child.on('error', (error: NodeJS.ErrnoException) => {
      // The command never started: say so as a shell would (127 not found, 126 not runnable), naming the command only.
      const notFound = error.code === 'ENOENT';
      io.stderr(`rotator: INVALID_INPUT: ${notFound ? 'command not found' : `cannot run the command (${error.code ?? 'error'})`}: ${JSON.stringify(command)}\n`);
      done(notFound ? 127 : 126);
    });
    child.on('exit', (code, signal) => {
      done(code ?? 128 + (signal === null ? 0 : constants.signals[signal]));
    });
  });
}

export function registerRunCommand(program: Command, io: CliIO, state: CliState): void {
  program
    .command('run')
    .description("start a command with each secret's fields as environment variables (PREFIX_FIELD), then exit with its code")
    .option('--secret <id[=PREFIX]>', 'a secret whose CURRENT fields become variables, named PREFIX_FIELD upper-cased (repeat for more)', (raw: string, all: string[]) => [...all, raw], [] as string[])
    .option('--override', 'let a secret replace a variable that is already set (never PATH, LD_*, NODE_OPTIONS and the like)')
    .argument('<command>', 'the command, after --; run without a shell')
    .argument('[args...]', 'its arguments, passed as they are')
    .addHelpText(
      'after',
      '\nExamples:\n' +
        '  rotator run --secret db/app=DB -- node server.js          # DB_USERNAME, DB_PASSWORD, DB_HOST, ...\n' +
        '  rotator run --secret db/app=PG --secret api/stripe=STRIPE -- ./start.sh\n' +
        'Strings are passed as they are, anything else as JSON. A field that is not a valid variable name, a value with a\n' +
        'NUL, a variable that changes what programs load (PATH, LD_*, NODE_OPTIONS, ...) or Rotator\'s own (ROTATOR_*), and\n' +
        'one that is already set (unless --override) are refused before the command starts. ROTATOR_STORE_KEY and\n' +
        'ROTATOR_ALERT_WEBHOOK are not passed on. SIGINT, SIGTERM and SIGHUP are forwarded. Exit code: the command\'s;\n' +
        '128 + N when signal N ended it;\n' +
        '127 command not found; 126 cannot run it; 2 bad input or secret; 75 the store is temporarily unavailable.\n',
    )
    .action(async (command: string, args: string[], opts: { secret: string[]; override?: boolean }) => {
      if (opts.secret.length === 0) throw new RotatorError('INVALID_INPUT', 'rotator run needs at least one --secret <id[=PREFIX]>');
      const specs = opts.secret.map(parseSecretSpec);
      // Read every secret first, and close the store's clients before the command starts (it may run for months).
      const secrets = await usingContext(program.opts<GlobalOptions>(), io, state.redactor, {}, async (ctx) => {
        const out: Array<{ spec: SecretSpec; variables: Map<string, string> }> = [];
        for (const spec of specs) {
          const value = await ctx.store.getValue(spec.secretId, { stage: 'CURRENT' });
          ctx.logger.redactor.addSecretValue(value);
          out.push({ spec, variables: variablesOf(spec, value, ctx.store.maxValueBytes) });
        }
        return out;
      });
      const env = childEnvironment(io.env, secrets, opts.override === true);
      throw new ExitStatus(await runCommand(command, args, env, io));
    });
}
