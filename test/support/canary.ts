import { appendFileSync, readFileSync, readdirSync } from 'node:fs';
import { createLogger, type Logger } from '../../shared/logger.js';
import { join } from 'node:path';

/**
 * The leak canary. Every test process appends what it prints (and what the child processes it runs print) to
 * files in ROTATOR_CANARY_DIR, and registers every secret it generated or read; when the run ends, the global
 * teardown fails the run if any secret appears in any output. vitest.config.ts creates the directory before
 * the workers start, so they inherit it.
 */
const SECRETS_FILE = 'secrets.jsonl';

function canaryDir(): string | undefined {
  return process.env.ROTATOR_CANARY_DIR;
}

/** Registers secrets the test generated or saw; each must never appear in any output of the run. */
export function recordSecrets(...values: readonly string[]): void {
  const dir = canaryDir();
  const kept = values.filter((v) => v.length >= 8);
  if (dir === undefined || kept.length === 0) return;
  appendFileSync(join(dir, SECRETS_FILE), kept.map((v) => JSON.stringify(v) + '\n').join(''));
}

/** Registers the value of a secret version and every string in it under a password-like key. */
export function recordSecretValue(raw: string): void {
  const found = [raw];
  try {
    const walk = (node: unknown, key: string): void => {
      if (typeof node === 'string' && /pass|secret|token|key/i.test(key)) found.push(node);
      else if (node !== null && typeof node === 'object') for (const [k, v] of Object.entries(node)) walk(v, k);
    };
    walk(JSON.parse(raw), '');
  } catch {
    // Not JSON: the raw value alone is the secret.
  }
  recordSecrets(...found);
}

/** Adds text a test or its child process printed. */
export function recordOutput(text: string): void {
  const dir = canaryDir();
  if (dir === undefined || text.length === 0) return;
  appendFileSync(join(dir, `output-${process.pid}.log`), text);
}

export interface Leak {
  /** Where it was found, and a hint of which secret (its length, never the value). */
  file: string;
  secretLength: number;
}

/** Every (secret, output file) pair where the secret, raw or JSON-escaped, appears. */
export function findLeaks(secrets: readonly string[], outputs: ReadonlyMap<string, string>): Leak[] {
  const leaks: Leak[] = [];
  for (const secret of new Set(secrets)) {
    const forms = [secret, JSON.stringify(secret).slice(1, -1)];
    for (const [file, text] of outputs) {
      if (forms.some((form) => text.includes(form))) leaks.push({ file, secretLength: secret.length });
    }
  }
  return leaks;
}

export function readCanary(dir: string): { secrets: string[]; outputs: Map<string, string> } {
  const secretsPath = join(dir, SECRETS_FILE);
  const secrets = readdirSync(dir).includes(SECRETS_FILE)
    ? readFileSync(secretsPath, 'utf8')
        .split('\n')
        .filter((line) => line.length > 0)
        .map((line) => JSON.parse(line) as string)
    : [];
  const outputs = new Map<string, string>();
  for (const name of readdirSync(dir)) if (name.startsWith('output-')) outputs.set(name, readFileSync(join(dir, name), 'utf8'));
  return { secrets, outputs };
}

/** Mirrors everything a stream prints into the canary (used for this process's stdout and stderr). */
export function teeStream(stream: NodeJS.WriteStream): void {
  const write = stream.write.bind(stream) as (...args: unknown[]) => boolean;
  stream.write = ((chunk: unknown, ...rest: unknown[]) => {
    recordOutput(typeof chunk === 'string' ? chunk : Buffer.from(chunk as Uint8Array).toString('utf8'));
    return write(chunk, ...rest);
  });
}

/** A debug-level logger whose lines go to the leak canary, and to `lines` when a test wants to read them. */
export function canaryLogger(lines?: string[]): Logger {
  return createLogger({
    level: 'debug',
    write: (line) => {
      lines?.push(line);
      recordOutput(line + '\n');
    },
  });
}
