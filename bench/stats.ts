/** The p-th percentile (nearest rank) of values already sorted ascending; NaN for none. */
export function percentile(sorted: readonly number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)] ?? Number.NaN;
}

/** The median of values in any order. */
export const median = (values: readonly number[]): number => percentile([...values].sort((a, b) => a - b), 50);
