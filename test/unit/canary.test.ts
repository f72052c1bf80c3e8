import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { inspect } from 'node:util';
import { fileURLToPath } from 'node:url';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { Redactor } from '../../shared/redact.js';
import { canaryLogger, findLeaks, keepServerLog, readCanary, recordOutput, recordSecrets, summarize, teeStream } from '../support/canary.js';
import { spawnChildSync } from '../support/child.js';

// The canary guards every other test, so it gets a test of its own: a leak planted on each route must be found.
// Every plant goes to a canary directory of this test's own (never the run's), so the run's canary stays clean.
const redactModule = fileURLToPath(new URL('../../shared/redact.ts', import.meta.url));

let dir: string;
let runCanary: string | undefined;

beforeEach(() => {
  runCanary = process.env.ROTATOR_CANARY_DIR;
  dir = mkdtempSync(join(tmpdir(), 'rotator-canary-test-'));
  process.env.ROTATOR_CANARY_DIR = dir;
});

afterEach(() => {
  process.env.ROTATOR_CANARY_DIR = runCanary;
  rmSync(dir, { recursive: true, force: true });
});

/** A production Redactor learns the value: that alone must register it (capture-output.ts turned the listener on). */
function learned(label: string, suffix = ''): string {
  const secret = `${label}-${randomBytes(12).toString('base64')}${suffix}`;
  new Redactor().add(secret);
  return secret;
}

describe('the leak canary', () => {
  it('finds a leak planted on each route, in each encoding, and says where and how', () => {
    const inLog = learned('log');
    const inError = learned('error');
    const inChild = learned('child');
    const inServer = learned('server');
    // '~~~???' makes base64 and base64url differ ('+' and '/' against '-' and '_').
    const encoded = { base64: learned('b64'), base64url: learned('b64url', '~~~???'), uri: learned('uri', ' &=é'), json: learned('json', '"\\') };

    // A log line from a logger whose redactor never heard of the value.
    canaryLogger().info(`connected with ${inLog}`);
    // An error message and stack, printed through the same tee as the worker's stdout and stderr.
    const sink = { write: () => true } as unknown as NodeJS.WriteStream;
    teeStream(sink);
    sink.write(inspect(new Error(`login failed for ${inError}`)));
    // A child's stderr, through the child helper.
    spawnChildSync(process.execPath, ['-e', `process.stderr.write(${JSON.stringify(`oops ${inChild}\n`)})`]);
    // A server's statement log.
    const log = join(dir, 'statements.src');
    // The verifier is what the server must be told (not a leak there); the plaintext password is a leak.
    const verifier = `SCRAM-SHA-256$4096:${randomBytes(16).toString('base64')}$${randomBytes(32).toString('base64')}:${randomBytes(32).toString('base64')}`;
    recordSecrets(verifier);
    writeFileSync(log, `LOG:  statement: ALTER ROLE app PASSWORD '${verifier}'\nLOG:  statement: SELECT '${inServer}'\n`);
    keepServerLog(log, 'postgres');
    // Encoded forms.
    recordOutput(`auth ${Buffer.from(`user:${encoded.base64}`).toString('base64')}\n`);
    recordOutput(`key ${Buffer.from(encoded.base64url).toString('base64url')}\n`);
    recordOutput(`GET /keys/${encodeURIComponent(encoded.uri)}\n`);
    recordOutput(`${JSON.stringify({ note: encoded.json })}\n`);

    const contents = readCanary(dir);
    const leaks = findLeaks(contents.secrets, contents.outputs);
    const found = (secret: string, file: RegExp, encoding: string): void => {
      expect(leaks, `${encoding} leak in ${String(file)}`).toContainEqual({ file: expect.stringMatching(file) as unknown, secretLength: secret.length, encoding });
    };
    found(inLog, /^output-/, 'raw');
    found(inError, /^output-/, 'raw');
    found(inChild, /^child-.*\.stderr\.log$/, 'raw');
    found(inServer, /^server-postgres-/, 'raw');
    found(encoded.base64, /^output-/, 'base64');
    found(encoded.base64url, /^output-/, 'base64url');
    found(encoded.uri, /^output-/, 'uri');
    found(encoded.json, /^output-/, 'json');
    expect(leaks).toHaveLength(8);
  });

  it('registers what a child process learns, although the test never saw the value', () => {
    // The child makes up its own secret, registers it with a Redactor and prints it: only the preload can tell.
    const script = `import { Redactor } from ${JSON.stringify(redactModule)}; const s = 'child-made-' + Math.random().toString(36).slice(2); new Redactor().add(s); process.stderr.write(s);`;
    const result = spawnChildSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script]);
    expect(result.status).toBe(0);
    const contents = readCanary(dir);
    expect(contents.secrets).toContainEqual(expect.stringMatching(/^child-made-/));
    expect(findLeaks(contents.secrets, contents.outputs)).toEqual([{ file: expect.stringMatching(/^child-/) as unknown, secretLength: result.stderr.length, encoding: 'raw' }]);
  });

  it('reports nothing for secrets that were not printed, and counts bytes per place', () => {
    recordSecrets('never-printed-value');
    recordOutput('plain line\n');
    keepServerLog(join(dir, 'absent.log'), 'mariadb');
    const contents = readCanary(dir);
    expect(findLeaks(contents.secrets, contents.outputs)).toEqual([]);
    const summary = summarize(contents);
    expect(summary[0]).toMatch(/searched for 1 values/);
    expect(summary.find((l) => l.includes('test process output'))).toMatch(/11 bytes in 1 files/);
    expect(summary.find((l) => l.includes('database server logs'))).toMatch(/0 bytes in 0 files/);
  });
});
