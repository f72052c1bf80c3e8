import { describe, expect, it } from 'vitest';
import { formatDuration, parseDuration } from '../../shared/duration.js';

describe('durations', () => {
  it('parses whole numbers with a unit', () => {
    expect(parseDuration('30d', 'X')).toBe(30 * 86_400_000);
    expect(parseDuration('12h', 'X')).toBe(12 * 3_600_000);
    expect(parseDuration(' 90m ', 'X')).toBe(90 * 60_000);
    expect(parseDuration('0s', 'X')).toBe(0);
  });

  it('names the setting and the expected form for anything else', () => {
    for (const bad of ['30', '1.5d', '-1d', '7w', '', 'soon']) expect(() => parseDuration(bad, 'ROTATOR_SAFE_WINDOW')).toThrow(/ROTATOR_SAFE_WINDOW is ".*"; use a whole number with a unit/);
  });

  it('formats with the largest whole unit', () => {
    expect(formatDuration(30 * 86_400_000)).toBe('30d');
    expect(formatDuration(36 * 3_600_000)).toBe('36h');
    expect(formatDuration(0)).toBe('0s');
    expect(formatDuration(1_500)).toBe('1500ms');
  });
});
