import { RotatorError } from '../shared/errors.js';
import { escapeControl } from './format.js';

/** Levenshtein distance, with an early exit once every cell of a row is past `limit`. */
export function editDistance(a: string, b: string, limit = Number.POSITIVE_INFINITY): number {
  if (Math.abs(a.length - b.length) > limit) return limit + 1;
  let previous = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i += 1) {
    const row = [i];
    let best = i;
    for (let j = 1; j <= b.length; j += 1) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      const cell = Math.min((previous[j] ?? 0) + 1, (row[j - 1] ?? 0) + 1, (previous[j - 1] ?? 0) + cost);
      row.push(cell);
      best = Math.min(best, cell);
    }
    if (best > limit) return limit + 1;
    previous = row;
  }
  return previous[b.length] ?? 0;
}

/**
 * The existing id closest to `wanted`, only when it is close: at most 2 edits, and fewer than a third of the
 * longer id's length (so "db/a" does not suggest "db/b"). Ties go to the first in sorted order.
 */
export function closestId(wanted: string, ids: readonly string[]): string | undefined {
  let best: { id: string; distance: number } | undefined;
  for (const id of [...ids].sort()) {
    if (id === wanted) continue;
    const limit = Math.min(2, Math.ceil(Math.max(id.length, wanted.length) / 3) - 1);
    const distance = editDistance(wanted, id, limit);
    if (distance <= limit && (best === undefined || distance < best.distance)) best = { id, distance };
  }
  return best?.id;
}

/**
 * Runs `action`; a SECRET_NOT_FOUND for `secretId` gains "did you mean <closest id>?" when a close one exists. The
 * ids come from the store (each was checked when it was stored) and are printed escaped all the same.
 */
export async function suggestingIds<T>(secretId: string, listIds: () => Promise<string[]>, action: () => Promise<T>): Promise<T> {
  try {
    return await action();
  } catch (error) {
    if (!(error instanceof RotatorError) || error.code !== 'SECRET_NOT_FOUND') throw error;
    // Only about this secret: a rotation's missing master secret (another id) is not what the user typed.
    if (!error.message.startsWith(`secret ${secretId} `)) throw error;
    const ids = await listIds().catch(() => [] as string[]);
    const closest = closestId(secretId, ids);
    if (closest === undefined) throw error;
    throw new RotatorError('SECRET_NOT_FOUND', `${error.message} (did you mean ${escapeControl(closest)}?)`, { cause: error });
  }
}
