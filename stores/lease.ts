import { RotatorError } from '../shared/errors.js';
import type { Logger } from '../shared/logger.js';

/**
 * What the renewed cloud leases share (the blob lease on Azure, the annotation lease on Google): how a lease that is
 * lost while held tells its holder. Its `signal` aborts with a retryable ROTATION_IN_PROGRESS; the holder must stop
 * before its next store or target call, since whoever holds the lock now is doing the work or will leave it to a
 * retry. The loss is logged at warn (it outlives the call that noticed it).
 */
export function abortLostLease(lost: AbortController, secretId: string, why: string, logger: Logger | undefined): void {
  const reason = new RotatorError('ROTATION_IN_PROGRESS', `the rotation lock of secret ${secretId} was lost: ${why}; another rotation may hold it now, so this one must stop and be retried`, {
    retryable: true,
  });
  logger?.warn('lost the rotation lock; stopping this rotation', { secretId, error: reason });
  lost.abort(reason);
}
