import { RotatorError, type ErrorCode } from '../../shared/errors.js';
import { safeError } from '../../shared/safe-error.js';
import { rotateUnlessRenewed, type Invocation, type SelfDrivenDeps } from './invocation.js';

/**
 * The sweep: rotates every secret the store says is due, so a notification that was lost, dropped after its retries,
 * or refused for a reason since fixed is caught up (Azure: the `rotateSweep` timer; Google: the `rotate` function
 * called with `{"due": true}` by the sweep's Scheduler job).
 *
 * One secret at a time (each rotation already holds a database connection or two; a sweep is rarely more than a few
 * secrets), under the same "unless renewed since" check as an event (`now` of the sweep), so a sweep racing an event
 * does not rotate twice. A failure does not stop the sweep; after the budget the sweep starts nothing new and reports
 * the rest as not reached (the next run continues). One report is logged (ids, outcomes, error codes; no value), and
 * a "rotation failed: <code>" line at error for each failure. If any secret failed or was not reached the sweep
 * throws a safe summary error afterwards, so the platform marks the invocation failed.
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

/**
 * Sweeps the due secrets that `rotatable` accepts (a cloud's own grammar: companions and ids it never rotates are
 * left out). Returns the report when every secret was dealt with; throws the summary error otherwise.
 */
export async function sweepDue(kit: Invocation, deps: SelfDrivenDeps, rotatable: (secretId: string) => boolean): Promise<SweepReport> {
  const clock = deps.clock ?? ((): Date => new Date());
  const budget = deps.sweepBudgetMs ?? DEFAULT_SWEEP_BUDGET_MS;
  const { logger, redactor } = kit;
  const now = clock();
  const report: SweepReport = { at: now.toISOString(), secrets: [], failed: 0, notReached: [] };
  let ids: string[];
  try {
    const due = deps.dueSecretIds;
    if (due === undefined) throw new RotatorError('INTERNAL', "this store cannot say which secrets are due; the sweep needs the cloud's store");
    ids = (await due(now)).filter(rotatable);
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
    report.secrets.push(await sweepOne(kit, deps.store, secretId, now));
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
}

async function sweepOne(kit: Invocation, store: SelfDrivenDeps['store'], secretId: string, now: Date): Promise<SweepEntry> {
  const log = kit.logger.child({ secretId });
  try {
    const result = await rotateUnlessRenewed(kit, store, secretId, now);
    if (result.outcome === 'already-rotated') return { secretId, outcome: 'already-rotated', versionId: result.versionId };
    log.info('rotation succeeded', { outcome: result.outcome, ms: result.report.totalMs, report: result.report });
    return { secretId, outcome: result.outcome, versionId: result.report.versionId };
  } catch (error) {
    const safe = safeError(error, kit.redactor);
    const fields = { code: safe.code, retryable: safe.retryable, error: safe };
    if (safe.code === 'ROTATION_IN_PROGRESS') {
      log.warn('a rotation of the secret is already in progress; the sweep leaves it to that run', fields);
      return { secretId, outcome: 'in-progress', code: safe.code, retryable: true };
    }
    log.error(`rotation failed: ${safe.code}`, fields);
    return { secretId, outcome: 'failed', code: safe.code, retryable: safe.retryable };
  }
}
