import { RotatorError } from '../../shared/errors.js';
import type { PurgeReport } from '../../shared/purger.js';
import { safeError } from '../../shared/safe-error.js';
import type { Invocation } from './invocation.js';

/**
 * One purge run over the secrets this deployment rotates (Azure: the `purge` timer; Google: the `purge` function its
 * Scheduler job calls): a "purge failed: <code>" line at error for each secret that failed, the report at info, and
 * a safe summary error thrown afterwards if any failed, so the platform marks the invocation failed.
 */
export async function runPurge(kit: Invocation): Promise<PurgeReport> {
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
}
