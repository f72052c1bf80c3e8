import { formatDuration, parseDuration } from '../../shared/duration.js';
import { RotatorError } from '../../shared/errors.js';
import { STRATEGIES, type RotationSettings, type Strategy } from '../../shared/store.js';
import { SECRET_MANAGER_LABEL_KEY, SECRET_MANAGER_LABEL_VALUE, SECRET_MANAGER_MAX_LABELS } from './limits.js';

/**
 * The labels the Secret Manager store reads: the user-facing settings of a secret (set by whoever attaches it, with
 * `gcloud secrets update <id> --update-labels=...`), and the selection, since labels are the only thing ListSecrets
 * can filter on. Label values are lower-case letters, digits, `_` and `-`, so every setting is written that way.
 *
 * - `rotator-enabled`: `true` or `false`. A secret without it is not rotated, listed or swept.
 * - `rotator-strategy`: single-user, alternating-users or dual-password.
 * - `rotator-safe-window`: how long a superseded version stays before the purger retires it (`7d`, `36h`).
 * - `rotator-keep`: how many of the newest superseded versions the purger keeps whatever their age (0-1000).
 *
 * Every other label is the secret's own (its tags in `describe`); labels named `rotator-...` are the store's.
 */
export const SM_LABEL = {
  enabled: 'rotator-enabled',
  strategy: 'rotator-strategy',
  safeWindow: 'rotator-safe-window',
  keep: 'rotator-keep',
} as const;

export const SETTING_LABELS: readonly string[] = Object.values(SM_LABEL);
/** Every label of this prefix is the store's: hidden from `describe`'s tags. */
export const ROTATOR_LABEL_PREFIX = 'rotator-';
/** The ListSecrets filter that selects the secrets this store rotates. */
export const ENABLED_FILTER = `labels.${SM_LABEL.enabled}=true`;

export type Labels = Readonly<Record<string, string>>;

function own(labels: Labels, key: string): string | undefined {
  return Object.hasOwn(labels, key) ? labels[key] : undefined;
}

/** The settings the labels name; INVALID_INPUT naming the label (and the rule, never the value) when one is malformed. */
export function settingsFromLabels(labels: Labels, secretId: string): RotationSettings {
  const bad = (name: string, rule: string): RotatorError => new RotatorError('INVALID_INPUT', `secret ${secretId} has an invalid label ${name}: use ${rule}`);
  const enabled = own(labels, SM_LABEL.enabled);
  if (enabled !== undefined && enabled !== 'true' && enabled !== 'false') throw bad(SM_LABEL.enabled, 'true or false');
  const settings: RotationSettings = { enabled: enabled === 'true' };
  const strategy = own(labels, SM_LABEL.strategy);
  if (strategy !== undefined) {
    if (!(STRATEGIES as readonly string[]).includes(strategy)) throw bad(SM_LABEL.strategy, `one of ${STRATEGIES.join(', ')}`);
    settings.strategy = strategy as Strategy;
  }
  const window = own(labels, SM_LABEL.safeWindow);
  if (window !== undefined) {
    if (!/^\d{1,6}[dhms]$/.test(window)) throw bad(SM_LABEL.safeWindow, 'a whole number with a unit, e.g. 7d, 36h, 90m or 45s');
    settings.safeWindowMs = parseDuration(window, `label ${SM_LABEL.safeWindow}`);
  }
  const keep = own(labels, SM_LABEL.keep);
  if (keep !== undefined) {
    if (!/^\d{1,4}$/.test(keep) || Number(keep) > 1000) throw bad(SM_LABEL.keep, 'a whole number from 0 to 1000');
    settings.keepSuperseded = Number(keep);
  }
  return settings;
}

/** The setting labels for `settings` (what the admin helpers write). */
export function settingLabels(settings: RotationSettings): Record<string, string> {
  return {
    [SM_LABEL.enabled]: settings.enabled ? 'true' : 'false',
    ...(settings.strategy === undefined ? {} : { [SM_LABEL.strategy]: settings.strategy }),
    ...(settings.safeWindowMs === undefined ? {} : { [SM_LABEL.safeWindow]: formatDuration(settings.safeWindowMs) }),
    ...(settings.keepSuperseded === undefined ? {} : { [SM_LABEL.keep]: String(settings.keepSuperseded) }),
  };
}

/** The secret's own labels: everything but the store's. */
export function userLabels(labels: Labels): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(labels)) {
    if (!k.startsWith(ROTATOR_LABEL_PREFIX)) Object.defineProperty(out, k, { value: v, enumerable: true, writable: true, configurable: true });
  }
  return out;
}

/** Labels Secret Manager would accept (at most 64; keys and values of its grammar), or INVALID_INPUT naming the rule. */
export function checkLabels(labels: Labels): void {
  const entries = Object.entries(labels);
  if (entries.length > SECRET_MANAGER_MAX_LABELS) throw new RotatorError('INVALID_INPUT', `a secret has at most ${SECRET_MANAGER_MAX_LABELS} labels`);
  for (const [key, value] of entries) {
    if (!SECRET_MANAGER_LABEL_KEY.test(key)) {
      throw new RotatorError('INVALID_INPUT', 'a label key must start with a lower-case letter and have at most 63 lower-case letters, digits, _ and -');
    }
    if (typeof value !== 'string' || !SECRET_MANAGER_LABEL_VALUE.test(value)) {
      throw new RotatorError('INVALID_INPUT', `label ${key} must have a value of at most 63 lower-case letters, digits, _ and -`);
    }
  }
}
