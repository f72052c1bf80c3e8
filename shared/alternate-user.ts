/**
 * AWS's alternating-users scheme, shared by every database rotator: the secret alternates between a user and
 * its clone (`app` <-> `app_clone`), so the user consumers hold keeps working while the other one is changed.
 */
export const CLONE_SUFFIX = '_clone';

/** The other user of an alternating pair: strips a trailing `_clone`, else appends it. */
export function alternateUsername(username: string): string {
  return username.endsWith(CLONE_SUFFIX) && username.length > CLONE_SUFFIX.length ? username.slice(0, -CLONE_SUFFIX.length) : `${username}${CLONE_SUFFIX}`;
}
