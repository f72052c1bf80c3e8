import { appendFileSync, copyFileSync, existsSync, readFileSync, readdirSync } from 'node:fs';
import { basename, join } from 'node:path';
import { createLogger, type Logger } from '../../shared/logger.js';
import { Redactor, setLearnListener, type EncodedForm } from '../../shared/redact.js';

/**
 * The leak canary. Everything a secret could reach during a test run lands in ROTATOR_CANARY_DIR (made by
 * vitest.config.ts before the workers start, so they and their children inherit it):
 * - what every test process prints (capture-output.ts tees stdout and stderr) and what the tests' loggers write;
 * - what every child process prints (child.ts, the one way tests spawn processes);
 * - the statement log of the throwaway PostgreSQL and the general log of the throwaway MariaDB (copied here by
 *   global-setup.ts before the servers are stopped).
 * The secrets are every value a production Redactor learns, in the test processes and in their children (the
 * learn listener below), plus what tests register by hand. At the end of the run global-setup.ts searches all of
 * it for every secret in each of its encoded forms and fails the run on a hit.
 */
const SECRETS_FILE = 'secrets.jsonl';
/** Shorter values (allowed in some unit tests) would match ordinary text by chance. */
const MIN_SECRET_LENGTH = 8;

export function canaryDir(): string | undefined {
  return process.env.ROTATOR_CANARY_DIR;
}

/** Registers secrets the test generated or saw; each must never appear in any output of the run. */
export function recordSecrets(...values: readonly string[]): void {
  const dir = canaryDir();
  const kept = values.filter((v) => typeof v === 'string' && v.length >= MIN_SECRET_LENGTH);
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

/** Every value any Redactor of this process learns from now on is registered (capture-output.ts turns it on). */
export function registerLearnedValues(): void {
  setLearnListener((value) => recordSecrets(value));
}

/**
 * The same for a child process: a NODE_OPTIONS preload (a data: URL, so it needs no loader and no file) that
 * sets the listener shared/redact.ts reads from `globalThis[Symbol.for('rotator.redactor.learn')]`.
 */
export const LEARN_PRELOAD =
  'data:text/javascript,' +
  encodeURIComponent(
    "import{appendFileSync}from'node:fs';import{join}from'node:path';" +
      'const d=process.env.ROTATOR_CANARY_DIR;' +
      `if(d)globalThis[Symbol.for('rotator.redactor.learn')]=(v)=>{if(typeof v==='string'&&v.length>=${MIN_SECRET_LENGTH})appendFileSync(join(d,'${SECRETS_FILE}'),JSON.stringify(v)+'\\n')};`,
  );

/** Where output comes from; the file name says it, and the end-of-run summary counts bytes per place. */
export type Place = 'output' | 'child' | 'server';

export const PLACES: Record<Place, string> = {
  output: 'test process output (stdout, stderr, loggers, errors)',
  child: 'child process output (stdout, stderr)',
  server: 'database server logs (PostgreSQL statements, MariaDB general log)',
};

/** Adds text a test process printed (or, with `file`, one stream of a child process). */
export function recordOutput(text: string, place: Place = 'output', file = `${process.pid}`): void {
  const dir = canaryDir();
  if (dir === undefined || text.length === 0) return;
  appendFileSync(join(dir, `${place}-${file}.log`), text);
}

/** Copies a database server's log into the canary before the server (and its directory) goes away. */
export function keepServerLog(path: string, name: string, dir = canaryDir()): void {
  if (dir === undefined || !existsSync(path)) return;
  copyFileSync(path, join(dir, `server-${name}-${basename(path, '.log')}.log`));
}

/**
 * The forms the canary searches, written out here rather than taken from shared/redact.ts, so that a form the
 * redactor forgot is not forgotten by its check too: raw, JSON-escaped, base64 and base64url (at each byte
 * alignment, cut to the characters the value alone decides), percent-encoded.
 */
export function canaryForms(secret: string): EncodedForm[] {
  const forms: EncodedForm[] = [{ encoding: 'raw', text: secret }, { encoding: 'json', text: JSON.stringify(secret).slice(1, -1) }];
  try {
    forms.push({ encoding: 'uri', text: encodeURIComponent(secret) });
  } catch {
    // A lone surrogate has no percent-encoding.
  }
  const bytes = Buffer.from(secret, 'utf8');
  for (let shift = 0; shift < 3; shift++) {
    const all = Buffer.concat([Buffer.alloc(shift), bytes]).toString('base64');
    const base64 = all.slice(Math.ceil((shift * 8) / 6), Math.floor(((shift + bytes.length) * 8) / 6));
    forms.push({ encoding: 'base64', text: base64 }, { encoding: 'base64url', text: base64.replaceAll('+', '-').replaceAll('/', '_') });
  }
  const seen = new Set<string>();
  return forms.filter((f) => f.text.length >= MIN_SECRET_LENGTH && !seen.has(f.text) && seen.add(f.text));
}

/**
 * What a database server must be told to set a password: a SCRAM verifier (PostgreSQL) or a password hash
 * (mysql_native_password `*` + 40 hex digits; caching_sha2_password `$A$005$`). The rotator registers them with
 * its redactor (they must not reach our own logs) but sends them in ALTER ROLE / ALTER USER, so the server's
 * statement log holds them by design. Server logs are searched for every other value.
 */
export function serverMayHold(secret: string): boolean {
  return /^SCRAM-SHA-256\$\d+:/.test(secret) || /^\*[0-9A-F]{40}$/.test(secret) || secret.startsWith('$A$005$');
}

export interface Leak {
  /** Where it was found, and a hint of which secret (its length and the form, never the value). */
  file: string;
  secretLength: number;
  encoding: string;
}

/**
 * Every (secret, output file, form) where the secret appears. The search is the Redactor's index (one pass per
 * file, whatever the number of secrets), fed the canary's own forms; each span it finds is then confirmed by
 * plain string comparison, so a hash collision is not reported.
 */
export function findLeaks(secrets: readonly string[], outputs: ReadonlyMap<string, string>): Leak[] {
  const unique = [...new Set(secrets)].filter((s) => s.length >= MIN_SECRET_LENGTH);
  const forms = unique.flatMap((secret) => canaryForms(secret).map((form) => ({ ...form, secret })));
  const index = new Redactor({ maxValues: Number.MAX_SAFE_INTEGER, maxPieces: Number.MAX_SAFE_INTEGER, forms: (text) => [{ encoding: 'raw', text }] });
  for (const form of forms) index.add(form.text);
  const leaks = new Map<string, Leak>();
  for (const [file, text] of outputs) {
    for (const [start, end] of index.spans(text)) {
      const span = text.slice(start, end);
      for (const form of forms) {
        // A whole form inside the span, or a span that is a piece of a long form (a partial leak).
        if (!span.includes(form.text) && !form.text.includes(span)) continue;
        if (file.startsWith('server-') && serverMayHold(form.secret)) continue;
        const leak = { file, secretLength: form.secret.length, encoding: form.encoding };
        leaks.set(JSON.stringify(leak), leak);
      }
    }
  }
  return [...leaks.values()];
}

export interface CanaryContents {
  secrets: string[];
  /** File name -> text. */
  outputs: Map<string, string>;
}

export function readCanary(dir: string): CanaryContents {
  const secretsPath = join(dir, SECRETS_FILE);
  const secrets = existsSync(secretsPath)
    ? readFileSync(secretsPath, 'utf8')
        .split('\n')
        .filter((line) => line.length > 0)
        .map((line) => JSON.parse(line) as string)
    : [];
  const outputs = new Map<string, string>();
  for (const name of readdirSync(dir)) if (name !== SECRETS_FILE && name.endsWith('.log')) outputs.set(name, readFileSync(join(dir, name), 'utf8'));
  return { secrets: [...new Set(secrets)], outputs };
}

/** One line per place: how many bytes in how many files were searched for how many values. */
export function summarize({ secrets, outputs }: CanaryContents): string[] {
  const values = secrets.filter((s) => s.length >= MIN_SECRET_LENGTH);
  const forms = values.reduce((n, s) => n + canaryForms(s).length, 0);
  const lines = [`leak canary: searched for ${values.length} values (${forms} encoded forms: raw, JSON, base64, base64url, URL-encoded)`];
  for (const [place, label] of Object.entries(PLACES)) {
    const files = [...outputs].filter(([name]) => name.startsWith(`${place}-`));
    const bytes = files.reduce((n, [, text]) => n + Buffer.byteLength(text, 'utf8'), 0);
    lines.push(`leak canary:   ${label}: ${bytes} bytes in ${files.length} files`);
  }
  return lines;
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
