import { alertingLogger, checkWebhookUrl, createWebhookAlerter } from '../shared/alerts.js';
import { isRotatorError } from '../shared/errors.js';
import type { Logger } from '../shared/logger.js';
import type { CliIO } from './context.js';

/**
 * `run`, with a failure also sent to ROTATOR_ALERT_WEBHOOK when it is set (cron and systemd timers have no alerting
 * of their own): the same `{"text"}` line as the functions send ("rotation failed: <CODE> (secret <id>)"), never a
 * value, waited for before the command exits. A webhook URL that is not https is refused before anything runs.
 */
export async function alertingFailures<T>(io: CliIO, logger: Logger, failure: 'rotation' | 'purge', fields: Record<string, unknown>, run: () => Promise<T>): Promise<T> {
  const raw = io.env.ROTATOR_ALERT_WEBHOOK;
  if (raw === undefined || raw === '') return run();
  const alerter = createWebhookAlerter({ url: checkWebhookUrl(raw), source: 'cli', ...(io.post === undefined ? {} : { post: io.post }) });
  try {
    return await run();
  } catch (error) {
    const code = isRotatorError(error) ? error.code : 'INTERNAL';
    // Logged at error like the functions' failure lines (stderr, at the CLI's log level), and sent.
    alertingLogger(logger, alerter).error(`${failure} failed: ${code}`, fields);
    await alerter.flush();
    throw error;
  }
}
