#!/usr/bin/env node
import { installCrashRedaction } from '../shared/crash.js';
import { EXIT } from './exit-codes.js';
import { runCli } from './program.js';

// An error nobody caught (a driver's timer, a stream's late rejection) is printed redacted, never by Node's own
// printer, which would show the error's message, stack, own properties and causes as they are.
installCrashRedaction({
  mode: 'exit',
  prefix: 'rotator: internal error (uncaught): ',
  exitCode: EXIT.INTERNAL,
  write: (text) => process.stderr.write(text),
});

const readStdin = async (): Promise<string> => {
  if (process.stdin.isTTY) return '';
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
};

process.exitCode = await runCli(process.argv.slice(2), {
  env: process.env,
  stdout: (text) => process.stdout.write(text),
  stderr: (text) => process.stderr.write(text),
  readStdin,
});
