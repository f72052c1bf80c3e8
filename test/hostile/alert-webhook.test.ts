import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { alertingLogger, checkWebhookUrl, createWebhookAlerter, fetchPost } from '../../shared/alerts.js';
import { createLogger } from '../../shared/logger.js';
import { Redactor } from '../../shared/redact.js';
import { recordOutput } from '../support/canary.js';

/**
 * Hostile input to the alert webhook (ROTATOR_ALERT_WEBHOOK): the URL at its size limit and one byte over, control
 * characters, a webhook that redirects elsewhere, and failure lines whose fields carry control characters. Nothing
 * is sent where it should not go, every body sent is one line of JSON, and its text carries no control character and
 * nothing a chat turns into a mention or a link.
 */
const BASE = 'https://hooks.example.com/';

describe('the webhook URL', () => {
  it('is accepted at 2,048 characters and refused at 2,049', () => {
    const at = BASE + 'a'.repeat(2_048 - BASE.length);
    expect(at).toHaveLength(2_048);
    expect(checkWebhookUrl(at)).toBe(at);
    expect(() => checkWebhookUrl(`${at}a`)).toThrow(expect.objectContaining({ code: 'INVALID_INPUT' }) as Error);
  });

  it.each(['\u0000', '\t', '\r\n', '\u001b[31m', '\u007f'])('is refused with the control character %j anywhere in it', (c) => {
    for (const url of [`${BASE}x${c}y`, `https://hooks${c}.example.com/x`]) {
      expect(() => checkWebhookUrl(url)).toThrow(expect.objectContaining({ code: 'INVALID_INPUT' }) as Error);
    }
  });
});

describe('what is sent', () => {
  let server: Server;
  let hits: string[];
  beforeEach(async () => {
    hits = [];
    server = createServer((req, res) => {
      hits.push(req.url ?? '');
      // A webhook that answers with a redirect to another host: the body must not follow it.
      res.statusCode = req.url === '/moved' ? 302 : 200;
      if (req.url === '/moved') res.setHeader('location', `http://127.0.0.1:${String((server.address() as AddressInfo).port)}/elsewhere`);
      res.end();
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  });
  afterEach(async () => {
    await new Promise((resolve) => server.close(resolve));
  });

  it('never follows a redirect', async () => {
    const url = `http://127.0.0.1:${String((server.address() as AddressInfo).port)}/moved`;
    await expect(fetchPost(url, '{"text":"x"}', AbortSignal.timeout(2_000))).rejects.toThrow();
    expect(hits).toEqual(['/moved']);
  });

  it('sends one JSON line without a raw control character, whatever the failure line carries', async () => {
    const bodies: string[] = [];
    const alerter = createWebhookAlerter({
      url: `${BASE}T/B/token`,
      source: 'cli',
      post: (_url, body) => {
        bodies.push(body);
        recordOutput(`${body}\n`);
        return Promise.resolve(200);
      },
    });
    const redactor = new Redactor();
    const logger = alertingLogger(createLogger({ redactor, write: (l) => recordOutput(`${l}\n`) }), alerter);
    logger.error('rotation failed: TARGET_ERROR\r\nforged: line', { secretId: 'db/app\u001b[2J\n<!channel>' });
    await alerter.flush();
    expect(bodies).toHaveLength(1);
    // eslint-disable-next-line no-control-regex
    expect(bodies[0]).not.toMatch(/[\u0000-\u001f\u007f]/);
    const { text } = JSON.parse(bodies[0] ?? '') as { text: string };
    // eslint-disable-next-line no-control-regex
    expect(text).not.toMatch(/[\u0000-\u001f\u007f]/); // escaped, not only JSON-encoded
    expect(text).not.toMatch(/[<>]/); // no Slack mention or link can be formed
    expect(text).toContain('&lt;!channel&gt;');
  });
});
