import type { ErrorCode } from '../../shared/errors.js';
import { safeError } from '../../shared/safe-error.js';
import { parseNearExpiryEvent } from './events.js';
import { rotateUnlessRenewed, type GuardedOutcome } from '../self-driven/invocation.js';
import { azureInvocation, type AzureFunctionDeps } from './deps.js';
import type { LogSink } from './logger.js';

/**
 * The `secretNearExpiry` function (Event Grid trigger): Key Vault raises SecretNearExpiry 30 days before a version's
 * `exp`, and the Key Vault store sets `exp` so that this falls at the secret's rotation interval.
 *
 * Decisions (Event Grid delivers at least once and redelivers a failed delivery, up to 30 times over a day as
 * infra/azure configures it; the timer sweep catches whatever is still due after that):
 * - **Duplicates converge.** The rotation runs only if CURRENT was not renewed since the event was raised, decided
 *   under the secret's lock (see rotateUnlessRenewed); a rotation left PENDING is resumed.
 * - **A held lock is retried.** ROTATION_IN_PROGRESS is logged (warn: another run is doing the work) and thrown, so
 *   Event Grid redelivers; the redelivery then finds the secret renewed and does nothing.
 * - **Other retryable failures** (a database or the vault unreachable) are logged as failures and thrown: a
 *   redelivery may succeed.
 * - **Non-retryable failures are acknowledged.** A malformed or refused event (another vault, a hostile name), or a
 *   rotation that failed for a reason a retry will not change (INVALID_SECRET, TARGET_AUTH_FAILED, ...), is logged at
 *   error and the function returns normally: thirty redeliveries would change nothing and only repeat the alert. A
 *   failed rotation stays due, so the sweep tries again on its schedule (and alerts again) until a person fixes it.
 * - Every failure line starts with "rotation failed" at error level: the alert in infra/azure/main.tf counts them.
 * - What is logged and returned names the secret, the event id, outcomes and error codes; never a value.
 */
export type NearExpiryResult =
  | GuardedOutcome
  | { outcome: 'ignored'; reason: string }
  | { outcome: 'refused' | 'failed'; code: ErrorCode };

export type NearExpiryHandler = (event: unknown, context: LogSink) => Promise<NearExpiryResult>;

export function createNearExpiryHandler(deps: AzureFunctionDeps): NearExpiryHandler {
  return async (event, context) => {
    const kit = azureInvocation(deps, context);
    const { logger, redactor } = kit;
    let decision;
    try {
      decision = parseNearExpiryEvent(event, deps.scope);
    } catch (error) {
      const safe = safeError(error, redactor);
      logger.error(`rotation failed: ${safe.code}: the SecretNearExpiry event was refused, nothing was rotated`, { code: safe.code, error: safe });
      return { outcome: 'refused', code: safe.code };
    }
    if (decision.action === 'ignore') {
      logger.debug('event ignored', { eventId: decision.eventId, reason: decision.reason });
      return { outcome: 'ignored', reason: decision.reason };
    }
    const { secretId, eventId } = decision;
    const log = logger.child({ secretId, eventId });
    // DEBUG: the rotation's own lines (one per step and the summary below) are its INFO record.
    log.debug('SecretNearExpiry received', {
      schema: decision.schema,
      eventTime: decision.eventTime.toISOString(),
      ...(decision.version === undefined ? {} : { keyVaultVersion: decision.version }),
      ...(decision.expiresAt === undefined ? {} : { expiresAt: decision.expiresAt.toISOString() }),
    });
    try {
      const result = await rotateUnlessRenewed(kit, deps.store, secretId, decision.eventTime);
      if (result.outcome === 'already-rotated') {
        log.info('rotation not needed: CURRENT was renewed after the event was raised (a duplicate delivery)', { versionId: result.versionId, renewedAt: result.renewedAt });
      } else {
        log.info('rotation succeeded', { outcome: result.outcome, ms: result.report.totalMs, report: result.report });
      }
      return result;
    } catch (error) {
      const safe = safeError(error, redactor);
      const fields = { code: safe.code, retryable: safe.retryable, error: safe };
      if (safe.code === 'ROTATION_IN_PROGRESS') {
        log.warn('a rotation of the secret is already in progress; Event Grid redelivers the event', fields);
        throw safe;
      }
      log.error(`rotation failed: ${safe.code}`, fields);
      if (safe.retryable) throw safe;
      return { outcome: 'failed', code: safe.code };
    }
  };
}
