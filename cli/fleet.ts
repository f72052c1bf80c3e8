import type { Config } from '../shared/config.js';
import type { StatusDefaults } from '../shared/status.js';
import type { CliIO } from './context.js';

/** What the fleet commands (`rotate --due`, `status`) and `secrets describe` share. */

/** The time schedules are judged by: the io's clock (a test's), else now. */
export function nowOf(io: CliIO): Date {
  return io.now?.() ?? new Date();
}

/** The deployment's defaults a secret's status falls back on, as the engine and the purger use them. */
export function statusDefaults(config: Config): StatusDefaults {
  return { strategy: config.defaultStrategy, retention: config.retention };
}

/** The default number of secrets a fleet command works on at once. */
export const DEFAULT_CONCURRENCY = 4;

