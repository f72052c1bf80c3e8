import { alertingLogger, checkWebhookUrl, createWebhookAlerter, type Alerter } from '../shared/alerts.js';
import { isRotatorError } from '../shared/errors.js';
import type { Logger } from '../shared/logger.js';
import type { CliIO } from './context.js';

/**
 * The alerter for ROTATOR_ALERT_WEBHOOK when it is set, else undefined. Called before anything runs, so a webhook
 * URL that is not https is refused first (without quoting it: it carries a token).
 */
export function cliAlerter(io: CliIO): Alerter | undefined {
  const raw = io.env.ROTATOR_ALERT_WEBHOOK;
  if (raw === undefined || raw === '') return undefined;
  return createWebhookAlerter({ url: checkWebhookUrl(raw), source: 'cli', ...(io.post === undefined ? {} : { post: io.post }) });
}

/**
 * `run`, with a failure also sent to ROTATOR_ALERT_WEBHOOK when it is set (cron and systemd timers have no alerting
 * of their own): the same `{"text"}` line as the functions send ("rotation failed: <CODE> (secret <id>)"), never a
 * value, waited for before the command exits.
 */
export async function alertingFailures<T>(io: CliIO, logger: Logger, failure: 'rotation' | 'purge', fields: Record<string, unknown>, run: () => Promise<T>): Promise<T> {
  const alerter = cliAlerter(io);
  if (alerter === undefined) return run();
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

/** The most ids one summary names; the rest are counted ("and 12 more"), so a chat message stays short. */
export const SUMMARY_IDS = 20;

/** `items` (already `id CODE`-like words) joined for a summary line, at most SUMMARY_IDS of them. */
export function summaryList(items: readonly string[]): string {
  const shown = items.slice(0, SUMMARY_IDS).join(', ');
  return items.length > SUMMARY_IDS ? `${shown} and ${items.length - SUMMARY_IDS} more` : shown;
}

/**
 * One alert for a whole run (`rotate --due`'s failures, `status --alert`'s overdue secrets), not one per secret: logged
 * at `level` and sent, and waited for before the command exits.
 */
export async function alertSummary(alerter: Alerter, logger: Logger, level: 'warn' | 'error', message: string): Promise<void> {
  logger[level](message);
  alerter.send(message, logger.redactor, logger);
  await alerter.flush();
}
