import type { PurgeReport } from '../../shared/purger.js';
import { runPurge } from '../self-driven/purge.js';
import { sweepDue, type SweepReport } from '../self-driven/sweep.js';
import { azureInvocation, type AzureFunctionDeps } from './deps.js';
import { KEY_VAULT_SECRET_NAME, PENDING_COMPANION_SUFFIX } from './events.js';
import type { LogSink } from './logger.js';

/**
 * The two timer functions. The timer's own argument (isPastDue, schedule status) changes nothing: a late run does
 * the same work.
 *
 * `rotateSweep` (ROTATOR_SWEEP_SCHEDULE): the sweep of functions/self-driven/sweep.ts over the secrets the Key
 * Vault store says are due; companions are bookkeeping, and an id outside Key Vault's grammar is not one this app
 * rotates. A failed or unreached secret fails the invocation, so the portal's monitor shows it.
 *
 * `purge` (ROTATOR_PURGE_SCHEDULE): the retention purger over the secrets this deployment rotates
 * (functions/self-driven/purge.ts).
 */
export type { SweepEntry, SweepReport } from '../self-driven/sweep.js';
export { DEFAULT_SWEEP_BUDGET_MS } from '../self-driven/sweep.js';

export type TimerHandler<R> = (timer: unknown, context: LogSink) => Promise<R>;

const rotatable = (id: string): boolean => KEY_VAULT_SECRET_NAME.test(id) && !id.toLowerCase().endsWith(PENDING_COMPANION_SUFFIX);

export function createSweepHandler(deps: AzureFunctionDeps): TimerHandler<SweepReport> {
  return (_timer, context) => sweepDue(azureInvocation(deps, context), deps, rotatable);
}

export function createPurgeHandler(deps: AzureFunctionDeps): TimerHandler<PurgeReport> {
  return (_timer, context) => runPurge(azureInvocation(deps, context));
}
