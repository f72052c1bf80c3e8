#!/usr/bin/env node
import { readStreamBounded } from './input.js';
import { runCli } from './program.js';

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
});
