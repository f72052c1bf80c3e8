import { RotatorError, type ErrorCode } from '../../shared/errors.js';
import type { PurgeReport } from '../../shared/purger.js';
import { safeError } from '../../shared/safe-error.js';
import { KEY_VAULT_SECRET_NAME, PENDING_COMPANION_SUFFIX } from './events.js';
import { invocation, rotateUnlessRenewed, type AzureFunctionDeps } from './invocation.js';
import type { LogSink } from './logger.js';

/**
 * The two timer functions. The timer's own argument (isPastDue, schedule status) changes nothing: a late run does
 * the same work.
 *
 * `rotateSweep` (ROTATOR_SWEEP_SCHEDULE): rotates every secret the store says is due, so a SecretNearExpiry event
 * that was lost, dropped after its retries, or refused for a reason since fixed is caught up. One secret at a time
 * (each rotation already holds a database connection or two; a sweep is rarely more than a few secrets), under the
 * same "unless renewed since" check as the event (`now` of the sweep), so a sweep racing an event does not rotate
 * twice. A failure does not stop the sweep; after SWEEP_BUDGET the sweep starts nothing new and reports the rest
 * as not reached (the next run continues). One report is logged (ids, outcomes, error codes; no value), and a
 * "rotation failed: <code>" line at error for each failure. If any secret failed or was not reached the invocation
 * fails too (a safe summary error), so the portal's monitor shows it.
 *
 * `purge` (ROTATOR_PURGE_SCHEDULE): the retention purger over the secrets this deployment rotates; a "purge failed:
 * <code>" line at error for each secret that failed, the report at info, and a failed invocation if any did.
 */
export const DEFAULT_SWEEP_BUDGET_MS = 20 * 60_000;

export interface SweepEntry {
  secretId: string;
  outcome: 'rotated' | 'resumed' | 'already-rotated' | 'in-progress' | 'failed';
  versionId?: string;
  code?: ErrorCode;
  retryable?: boolean;
}

export interface SweepReport {
  at: string;
  secrets: SweepEntry[];
  failed: number;
  notReached: string[];
}

export type TimerHandler<R> = (timer: unknown, context: LogSink) => Promise<R>;

export function createSweepHandler(deps: AzureFunctionDeps): TimerHandler<SweepReport> {
  const clock = deps.clock ?? ((): Date => new Date());
  const budget = deps.sweepBudgetMs ?? DEFAULT_SWEEP_BUDGET_MS;
  return async (_timer, context) => {
    const kit = invocation(deps, context);
    const { logger, redactor } = kit;
    const now = clock();
    const report: SweepReport = { at: now.toISOString(), secrets: [], failed: 0, notReached: [] };
    let ids: string[];
    try {
      const due = deps.dueSecretIds;
      if (due === undefined) throw new RotatorError('INTERNAL', 'this store cannot say which secrets are due; the sweep needs the Key Vault store');
      // Companions are bookkeeping, and an id outside Key Vault's grammar is not one this app rotates.
      ids = (await due(now)).filter((id) => KEY_VAULT_SECRET_NAME.test(id) && !id.toLowerCase().endsWith(PENDING_COMPANION_SUFFIX));
    } catch (error) {
      const safe = safeError(error, redactor);
      logger.error(`rotation failed: ${safe.code}: the sweep could not list the secrets that are due`, { code: safe.code, retryable: safe.retryable, error: safe });
      throw safe;
    }
    for (const [index, secretId] of ids.entries()) {
      if (clock().getTime() - now.getTime() >= budget) {
        report.notReached = ids.slice(index);
        break;
      }
      report.secrets.push(await sweepOne(secretId, now));
    }
    report.failed = report.secrets.filter((s) => s.outcome === 'failed').length;
    logger.info('rotation sweep finished', { due: ids.length, failed: report.failed, notReached: report.notReached.length, report });
    if (report.failed > 0 || report.notReached.length > 0) {
      // Each failure has its own "rotation failed" line above; this only marks the invocation failed.
      throw safeError(
        new RotatorError(
          'TARGET_ERROR',
          `${String(report.failed)} of ${String(ids.length)} due secret(s) could not be rotated` +
            (report.notReached.length > 0 ? `, and ${String(report.notReached.length)} not reached in this run` : '') +
            '; the logged report names each one and why',
          { retryable: true },
        ),
        redactor,
      );
    }
    return report;

    async function sweepOne(secretId: string, now: Date): Promise<SweepEntry> {
      const log = logger.child({ secretId });
      try {
        const result = await rotateUnlessRenewed(kit, deps.store, secretId, now);
        if (result.outcome === 'already-rotated') return { secretId, outcome: 'already-rotated', versionId: result.versionId };
        log.info('rotation succeeded', { outcome: result.outcome, report: result.report });
        return { secretId, outcome: result.outcome, versionId: result.report.versionId };
      } catch (error) {
        const safe = safeError(error, redactor);
        const fields = { code: safe.code, retryable: safe.retryable, error: safe };
        if (safe.code === 'ROTATION_IN_PROGRESS') {
          log.warn('a rotation of the secret is already in progress; the sweep leaves it to that run', fields);
          return { secretId, outcome: 'in-progress', code: safe.code, retryable: true };
        }
        log.error(`rotation failed: ${safe.code}`, fields);
        return { secretId, outcome: 'failed', code: safe.code, retryable: safe.retryable };
      }
    }
  };
}

export function createPurgeHandler(deps: AzureFunctionDeps): TimerHandler<PurgeReport> {
  return async (_timer, context) => {
    const kit = invocation(deps, context);
    const { logger, redactor } = kit;
    let report: PurgeReport;
    try {
      report = await kit.purger().purge(undefined);
    } catch (error) {
      const safe = safeError(error, redactor);
      logger.error(`purge failed: ${safe.code}: the purge could not run`, { code: safe.code, retryable: safe.retryable, error: safe });
      throw safe;
    }
    for (const failed of report.secrets.filter((s) => !s.ok)) {
      const code = failed.error?.code ?? 'INTERNAL';
      logger.error(`purge failed: ${code}`, { secretId: failed.secretId, code, retryable: failed.error?.retryable ?? false, error: failed.error });
    }
    const actions = report.secrets.flatMap((s) => s.actions);
    logger.info('purge finished', {
      secrets: report.secrets.length,
      retired: actions.filter((a) => a.retired).length,
      revoked: actions.filter((a) => a.revocation === 'revoked').length,
      failed: report.failed,
      report,
    });
    if (report.failed > 0) {
      throw safeError(
        new RotatorError('TARGET_ERROR', `${String(report.failed)} of ${String(report.secrets.length)} secret(s) could not be purged; the logged report names each one and why`, {
          retryable: report.secrets.every((s) => s.ok || s.error?.retryable === true),
        }),
        redactor,
      );
    }
    return report;
  };
}
