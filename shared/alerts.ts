import { escapeControl, hasControlCharacter } from './control-chars.js';
import { RotatorError } from './errors.js';
import type { Logger } from './logger.js';
import type { Redactor } from './redact.js';

/**
 * The optional failure webhook (ROTATOR_ALERT_WEBHOOK) of the runners that have no cloud alert of their own to lean
 * on, or want one more: the Azure and Google functions, and the CLI. It fires on exactly the lines the cloud alerts
 * count, the ERROR lines that start "rotation failed", "purge failed" or "reconcile failed", so every runner alerts on
 * the same events.
 *
 * - **The body** is `{"text": "..."}`, which Slack and Microsoft Teams incoming webhooks both accept: what failed,
 *   the secret id, the error code and where it ran. Never a value: the text is built from the line's message and its
 *   `secretId` field only, passed through the invocation's redactor like every line, and made chat-safe (chatSafe).
 * - **The URL is a secret** (a Slack or Teams webhook URL carries its token in the path): the redactor learns it, and
 *   no message names it. It must be https on the default port, without credentials in it.
 * - **Delivery** is retried with back-off on a network error, a 429 or a 5xx (3 attempts, 0.5 s then 1 s by default),
 *   each attempt bounded by a timeout; a 4xx other than 429 is not retried. A webhook that cannot be reached is logged
 *   at warn and never fails the rotation.
 * - **Serverless runtimes freeze a function once it returns**, so sends are tracked and `flush()` waits for them; the
 *   runners call it before they answer.
 */

export interface AlertOptions {
  /** ROTATOR_ALERT_WEBHOOK, checked with checkWebhookUrl. */
  url: string;
  /** Where it runs, named in the text: "azure", "gcp", "cli". */
  source: string;
  /** POSTs a JSON body; answers the HTTP status (default: fetch). Throws on a network error. */
  post?: (url: string, body: string, signal: AbortSignal) => Promise<number>;
  attempts?: number;
  baseDelayMs?: number;
  timeoutMs?: number;
}

export interface Alerter {
  /** Sends, in the background, an alert for a failure line; never throws. */
  notify(message: string, fields: Readonly<Record<string, unknown>>, redactor: Redactor, logger: Logger): void;
  /**
   * Sends `message` whatever it says: a summary its runner composed from ids and codes (a fleet run's failures, the
   * secrets overdue), made safe the same way. In the background; never throws.
   */
  send(message: string, redactor: Redactor, logger: Logger): void;
  /** Waits for every send under way (each bounded by its attempts and timeouts). */
  flush(): Promise<void>;
}

/** The lines an alert is sent for: the failure lines the cloud alerts count. */
export const ALERTED_LINE = /^(rotation|purge|reconcile) failed\b/;

const MAX_URL = 2_048;

/** The webhook URL, or INVALID_INPUT (never quoting it: it carries a token). */
export function checkWebhookUrl(raw: string): string {
  const rule = 'ROTATOR_ALERT_WEBHOOK must be an https URL on the default port, without a user name or password (a Slack or Teams incoming webhook)';
  if (raw.length > MAX_URL || hasControlCharacter(raw)) throw new RotatorError('INVALID_INPUT', rule);
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new RotatorError('INVALID_INPUT', rule);
  }
  if (url.protocol !== 'https:' || url.username !== '' || url.password !== '' || url.port !== '' || url.hash !== '') throw new RotatorError('INVALID_INPUT', rule);
  return url.href;
}

export const fetchPost = async (url: string, body: string, signal: AbortSignal): Promise<number> => {
  // redirect: 'error': a webhook that redirects elsewhere does not get our text sent on.
  const response = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body, signal, redirect: 'error' });
  await response.body?.cancel();
  return response.status;
};

/**
 * The text as a chat shows it and no more: control characters escaped (no forged lines, no terminal sequences), and
 * `&`, `<` and `>` written as entities, which Slack requires and which keeps a field from becoming a mention
 * (`<!channel>`) or a link. Ids are checked against their grammar before they reach a line; this holds whatever does.
 */
function chatSafe(text: string): string {
  return escapeControl(text).replaceAll('&', '&amp;').replaceAll('<', '&lt;').replaceAll('>', '&gt;');
}

export function createWebhookAlerter(options: AlertOptions): Alerter {
  const url = checkWebhookUrl(options.url);
  const post = options.post ?? fetchPost;
  const attempts = options.attempts ?? 3;
  const baseDelayMs = options.baseDelayMs ?? 500;
  const timeoutMs = options.timeoutMs ?? 5_000;
  const pending = new Set<Promise<void>>();

  async function deliver(body: string, logger: Logger): Promise<void> {
    let last = '';
    for (let attempt = 1; attempt <= attempts; attempt++) {
      try {
        const status = await post(url, body, AbortSignal.timeout(timeoutMs));
        if (status >= 200 && status < 300) return;
        last = `HTTP ${String(status)}`;
        if (status !== 429 && status < 500) break; // the webhook refuses this body: sending it again changes nothing
      } catch (error) {
        last = error instanceof Error && error.name === 'TimeoutError' ? `no answer in ${String(timeoutMs)} ms` : 'a network error';
      }
      if (attempt < attempts) await new Promise((resolve) => setTimeout(resolve, baseDelayMs * 2 ** (attempt - 1)));
    }
    logger.warn('the alert webhook could not be reached; the failure is in this log', { webhook: 'ROTATOR_ALERT_WEBHOOK', outcome: last });
  }

  const send = (message: string, redactor: Redactor, logger: Logger): void => {
    redactor.addSecretValue(url);
    const text = chatSafe(redactor.redact(`Rotator on ${options.source}: ${message}`));
    const sending = deliver(JSON.stringify({ text }), logger).catch(() => undefined);
    pending.add(sending);
    void sending.finally(() => pending.delete(sending));
  };

  return {
    notify(message, fields, redactor, logger) {
      if (!ALERTED_LINE.test(message)) return;
      send(`${message}${typeof fields.secretId === 'string' ? ` (secret ${fields.secretId})` : ''}`, redactor, logger);
    },
    send,
    async flush() {
      await Promise.all([...pending]);
    },
  };
}

/** `logger`, sending an alert for each failure line it (or a child of it) writes at error. */
export function alertingLogger(logger: Logger, alerter: Alerter | undefined, base: Readonly<Record<string, unknown>> = {}): Logger {
  if (alerter === undefined) return logger;
  return {
    redactor: logger.redactor,
    debug: (m, f) => logger.debug(m, f),
    info: (m, f) => logger.info(m, f),
    warn: (m, f) => logger.warn(m, f),
    error: (m, f) => {
      logger.error(m, f);
      alerter.notify(m, { ...base, ...f }, logger.redactor, logger);
    },
    child: (fields) => alertingLogger(logger.child(fields), alerter, { ...base, ...fields }),
  };
}
