import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createGcpHandlers } from '../../functions/gcp/handlers.js';
import { ALERTED_LINE, alertingLogger, checkWebhookUrl, createWebhookAlerter } from '../../shared/alerts.js';
import { RotatorError } from '../../shared/errors.js';
import { createLogger } from '../../shared/logger.js';
import { Redactor } from '../../shared/redact.js';
import { recordOutput, recordSecrets } from '../support/canary.js';
import { createTestStore } from '../support/stores.js';

/**
 * The failure webhook (ROTATOR_ALERT_WEBHOOK): what it sends, when it retries, what it never carries. A real HTTP
 * server on loopback stands for Slack or Teams; the URL the alerter is given is https (the rule), and the test's
 * `post` delivers to the local server instead.
 */
const HOOK = 'https://hooks.slack.com/services/T000/B000/XXXXXXXXXXXXXXXXXXXXXXXX';

let server: Server;
let received: Array<{ body: string; type: string | undefined }>;
let answers: number[];

beforeEach(async () => {
  received = [];
  answers = [];
  recordSecrets(HOOK);
  server = createServer((req: IncomingMessage, res) => {
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString()));
    req.on('end', () => {
      received.push({ body, type: req.headers['content-type'] });
      recordOutput(`${body}\n`);
      res.statusCode = answers.shift() ?? 200;
      res.end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
});

afterEach(async () => {
  await new Promise((resolve) => server.close(resolve));
});

function alerter(options: { timeoutMs?: number } = {}) {
  const local = `http://127.0.0.1:${String((server.address() as AddressInfo).port)}/`;
  const posts: string[] = [];
  const a = createWebhookAlerter({
    url: HOOK,
    source: 'gcp',
    baseDelayMs: 10,
    ...options,
    post: async (url, body, signal) => {
      posts.push(url);
      const r = await fetch(local, { method: 'POST', headers: { 'content-type': 'application/json' }, body, signal });
      return r.status;
    },
  });
  return { a, posts };
}

function logs(): { lines: string[]; logger: ReturnType<typeof createLogger>; redactor: Redactor } {
  const lines: string[] = [];
  const redactor = new Redactor();
  return {
    lines,
    redactor,
    logger: createLogger({ redactor, level: 'debug', write: (l) => {
      lines.push(l);
      recordOutput(`${l}\n`);
    } }),
  };
}

describe('the alert webhook', () => {
  it('sends {"text"} for each failure line (rotation, purge, reconcile), with the secret and the code, and nothing else', async () => {
    const { a } = alerter();
    const { logger, redactor } = logs();
    const secret = 'pw-alert-8c1f0e6a-not-in-alerts';
    redactor.addSecretValue(secret);
    recordSecrets(secret);
    const log = alertingLogger(logger, a).child({ secretId: 'db-app' });
    log.error('rotation failed: TARGET_AUTH_FAILED', { code: 'TARGET_AUTH_FAILED', detail: secret });
    log.error('purge failed: STORE_IO', { code: 'STORE_IO' });
    log.error('reconcile failed: STORE_IO');
    log.error('could not release the lock'); // not a failure line: no alert
    log.warn('rotation failed: ROTATION_IN_PROGRESS'); // warnings never alert
    log.info('rotation succeeded');
    await a.flush();
    expect(received.map((r) => JSON.parse(r.body) as unknown)).toEqual([
      { text: 'Rotator on gcp: rotation failed: TARGET_AUTH_FAILED (secret db-app)' },
      { text: 'Rotator on gcp: purge failed: STORE_IO (secret db-app)' },
      { text: 'Rotator on gcp: reconcile failed: STORE_IO (secret db-app)' },
    ]);
    expect(received.every((r) => r.type === 'application/json')).toBe(true);
    expect(received.some((r) => r.body.includes(secret))).toBe(false);
  });

  it('retries a 5xx and a 429 with back-off, and gives up at once on another 4xx, logging the outcome but not the URL', async () => {
    const { a, posts } = alerter();
    const { logger, lines } = logs();
    answers = [503, 429, 200];
    alertingLogger(logger, a).error('rotation failed: STORE_IO');
    await a.flush();
    expect(posts).toHaveLength(3);
    answers = [404];
    alertingLogger(logger, a).error('rotation failed: STORE_IO');
    await a.flush();
    expect(posts).toHaveLength(4);
    expect(lines.filter((l) => l.includes('alert webhook could not be reached'))).toEqual([expect.stringContaining('HTTP 404')]);
    expect(lines.join('\n')).not.toContain('hooks.slack.com/services');
  });

  it('bounds each attempt with a timeout, and never throws into the rotation', async () => {
    const silent = createServer(() => undefined); // accepts, never answers
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    try {
      const port = (silent.address() as AddressInfo).port;
      const a = createWebhookAlerter({
        url: HOOK,
        source: 'azure',
        attempts: 2,
        baseDelayMs: 5,
        timeoutMs: 100,
        post: async (_url, body, signal) => (await fetch(`http://127.0.0.1:${String(port)}/`, { method: 'POST', body, signal })).status,
      });
      const { logger, lines } = logs();
      const started = Date.now();
      expect(() => alertingLogger(logger, a).error('rotation failed: INTERNAL')).not.toThrow();
      await a.flush();
      expect(Date.now() - started).toBeLessThan(2_000);
      expect(lines.some((l) => l.includes('no answer in 100 ms'))).toBe(true);
    } finally {
      silent.closeAllConnections();
      await new Promise((resolve) => silent.close(resolve));
    }
  });

  it.each([
    ['plain http', 'http://hooks.example.com/x'],
    ['credentials', 'https://user:pw@hooks.example.com/x'],
    ['another port', 'https://hooks.example.com:8443/x'],
    ['a control character', 'https://hooks.example.com/x\n'],
    ['not a URL', 'hooks'],
    ['2 KiB and one byte', `https://hooks.example.com/${'a'.repeat(2_048)}`],
  ])('refuses a webhook URL with %s, without quoting it', (_what, url) => {
    expect(() => checkWebhookUrl(url)).toThrow(expect.objectContaining({ code: 'INVALID_INPUT' }) as Error);
    try {
      checkWebhookUrl(url);
    } catch (error) {
      expect((error as Error).message).not.toContain('hooks.example.com');
    }
  });

  it('alerts on exactly the lines the cloud alerts count', () => {
    for (const line of ['rotation failed: X', 'purge failed: Y', 'reconcile failed: Z']) expect(ALERTED_LINE.test(line)).toBe(true);
    for (const line of ['rotation succeeded', 'the rotation failed', 'rotation failedX']) expect(ALERTED_LINE.test(line)).toBe(false);
  });

  it('a function waits for its alerts before it answers (a frozen instance would never send them)', async () => {
    const { a } = alerter();
    const t = createTestStore();
    try {
      answers = [503, 200]; // one retry, so the send is still under way when the sweep has failed
      const handlers = createGcpHandlers({
        store: t.store,
        dueSecretIds: () => Promise.reject(new RotatorError('STORE_IO', 'Secret Manager did not answer', { retryable: true })),
        rotators: [],
        scope: { projectId: 'rotator-alerts' },
        defaultStrategy: 'single-user',
        retention: { safeWindowMs: 0, keepSuperseded: 0 },
        logLevel: 'debug',
        write: (line) => recordOutput(`${line}\n`),
        alerter: a,
      });
      const answer = await handlers.rotate({ method: 'POST', rawBody: Buffer.from('{"due":true}') });
      expect(answer.status).toBe(500);
      // Answered only once the alert was delivered: nothing left to flush, both attempts made.
      expect(received.map((r) => (JSON.parse(r.body) as { text: string }).text)).toEqual([
        'Rotator on gcp: rotation failed: STORE_IO: the sweep could not list the secrets that are due',
        'Rotator on gcp: rotation failed: STORE_IO: the sweep could not list the secrets that are due',
      ]);
    } finally {
      await t.dispose();
    }
  });
});
