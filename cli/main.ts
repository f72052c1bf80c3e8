#!/usr/bin/env node
import { installCrashRedaction } from '../shared/crash.js';
import { EXIT } from './exit-codes.js';
import { readStreamBounded } from './input.js';
import { runCli } from './program.js';

// An error nobody caught (a driver's timer, a stream's late rejection) is printed redacted, never by Node's own
// printer, which would show the error's message, stack, own properties and causes as they are.
installCrashRedaction({
  mode: 'exit',
  prefix: 'rotator: internal error (uncaught): ',
  exitCode: EXIT.INTERNAL,
  write: (text) => process.stderr.write(text),
});

// Bounded by the store's limit: a 50 MB pipe is refused after limit + slack bytes, never held in memory.
const readStdin = async (maxBytes: number): Promise<string> => {
  if (process.stdin.isTTY) return '';
  return readStreamBounded(process.stdin, maxBytes);
};

process.exitCode = await runCli(process.argv.slice(2), {
  env: process.env,
  stdout: (text) => process.stdout.write(text),
  stderr: (text) => process.stderr.write(text),
  readStdin,
  // A spinner on a terminal only: piped to a file, a journal or another program, stderr gets log lines alone.
  isTTY: process.stderr.isTTY && process.env.TERM !== 'dumb',
});
