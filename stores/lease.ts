import { RotatorError } from '../shared/errors.js';

/**
 * What the renewed cloud leases share (the blob lease on Azure, the annotation lease on Google): the reason their
 * `signal` aborts with when a lease is lost while held. The holder must stop before its next store or target call;
 * the rotation is retryable, since whoever holds the lock now is doing the work or will leave it to a retry.
 */
export function lockLostError(secretId: string, why: string): RotatorError {
  return new RotatorError('ROTATION_IN_PROGRESS', `the rotation lock of secret ${secretId} was lost: ${why}; another rotation may hold it now, so this one must stop and be retried`, {
    retryable: true,
  });
}
