import { RotatorError } from './errors.js';

const UNITS: Record<string, number> = { d: 86_400_000, h: 3_600_000, m: 60_000, s: 1_000 };

/** "30d", "12h", "90m", "45s" (whole numbers) to milliseconds; `source` names the setting in the error. */
export function parseDuration(text: string, source: string): number {
  const match = /^(\d{1,6})([dhms])$/.exec(text.trim());
  const unit = match?.[2];
  if (match === null || unit === undefined) {
    throw new RotatorError('INVALID_INPUT', `${source} is "${text}"; use a whole number with a unit, e.g. 30d, 12h, 90m or 45s`);
  }
  return Number(match[1]) * (UNITS[unit] ?? 0);
}

/** The largest whole unit that divides `ms`: 2592000000 -> "30d". */
export function formatDuration(ms: number): string {
  if (ms === 0) return '0s';
  for (const [unit, size] of Object.entries(UNITS)) if (ms % size === 0 && ms >= size) return `${ms / size}${unit}`;
  return `${ms}ms`;
}
