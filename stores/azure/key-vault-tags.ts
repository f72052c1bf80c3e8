import { RotatorError } from '../../shared/errors.js';
import { formatDuration, parseDuration } from '../../shared/duration.js';
import { STRATEGIES, type RotationSettings, type Strategy } from '../../shared/store.js';

/**
 * The tags the Key Vault store reads and writes on secret versions. Key Vault keeps tags per version and never
 * inherits them, so every version the store writes carries the settings forward. Names are lower-case letters and
 * hyphens: valid as Key Vault tag names, as Azure resource tag names and in `az ... --tags name=value`.
 *
 * Settings (set by whoever attaches a secret; shown in `describe` as rotation settings, not as tags):
 * - `rotator-enabled`: `true` or `false`. A secret without it is not rotated (nor swept).
 * - `rotator-strategy`: single-user, alternating-users or dual-password.
 * - `rotator-safe-window`: how long a superseded version stays before the purger retires it (`30d`, `12h`).
 * - `rotator-keep`: how many of the newest superseded versions the purger keeps whatever their age (0-1000).
 * - `rotator-interval`: how often to rotate (`90d`): each version the store writes expires (`exp`) 30 days after
 *   that, so Key Vault's SecretNearExpiry event fires when the interval is up.
 *
 * Bookkeeping (written by the store; never shown, never carried forward):
 * - `rotator-token`: the rotation token of a version Rotator wrote (main secret and companion), its port version id.
 * - `rotator-previous`: on a version Rotator promoted, the port id of the version that was CURRENT before it.
 * - `rotator-promoted-at`: when that promotion happened (ISO 8601, milliseconds; the purger's clock).
 * - `rotator-pending`, `rotator-pending-at`: the rotation marker on the latest version: the token under way and when
 *   it started.
 */
export const KV_TAG = {
  enabled: 'rotator-enabled',
  strategy: 'rotator-strategy',
  safeWindow: 'rotator-safe-window',
  keep: 'rotator-keep',
  interval: 'rotator-interval',
  token: 'rotator-token',
  previous: 'rotator-previous',
  promotedAt: 'rotator-promoted-at',
  pending: 'rotator-pending',
  pendingAt: 'rotator-pending-at',
} as const;

export const SETTING_TAGS: readonly string[] = [KV_TAG.enabled, KV_TAG.strategy, KV_TAG.safeWindow, KV_TAG.keep, KV_TAG.interval];
export const BOOKKEEPING_TAGS: ReadonlySet<string> = new Set([KV_TAG.token, KV_TAG.previous, KV_TAG.promotedAt, KV_TAG.pending, KV_TAG.pendingAt]);
/** Every tag of this prefix is the store's: hidden from `describe`'s tags. */
export const ROTATOR_TAG_PREFIX = 'rotator-';
/** How many tags a promotion adds (token, previous, promotion time) and a marker adds (token, start time). */
export const PROMOTION_TAG_COUNT = 3;
export const MARKER_TAG_COUNT = 2;

export type Tags = Readonly<Record<string, string>>;

/** Rotation settings as the store keeps them, with the interval the port does not carry. */
export interface KeyVaultRotationSettings extends RotationSettings {
  /** How often the secret is rotated, in ms (`rotator-interval`); unset: only when asked. */
  intervalMs?: number;
}

/** Own properties only: a tag named `__proto__` stays a plain key. */
export function tagRecord(entries: Iterable<[string, string]>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of entries) Object.defineProperty(out, k, { value: v, enumerable: true, writable: true, configurable: true });
  return out;
}

export function hasSettings(tags: Tags): boolean {
  return SETTING_TAGS.some((name) => Object.hasOwn(tags, name));
}

/** The secret's own tags: everything but the store's. */
export function userTags(tags: Tags): Record<string, string> {
  return tagRecord(Object.entries(tags).filter(([k]) => !k.startsWith(ROTATOR_TAG_PREFIX)));
}

/** What a new version carries forward: the user's tags and every `rotator-` tag that is not bookkeeping. */
export function carriedTags(tags: Tags): Record<string, string> {
  return tagRecord(Object.entries(tags).filter(([k]) => !BOOKKEEPING_TAGS.has(k)));
}

/** Tags without the rotation marker. */
export function withoutMarker(tags: Tags): Record<string, string> {
  return tagRecord(Object.entries(tags).filter(([k]) => k !== KV_TAG.pending && k !== KV_TAG.pendingAt));
}

/** The settings the tags name; INVALID_INPUT naming the tag (never a value other than the setting's) when one is malformed. */
export function settingsFromTags(tags: Tags, secretId: string): KeyVaultRotationSettings {
  const tag = (name: string): string | undefined => (Object.hasOwn(tags, name) ? tags[name]?.trim() : undefined);
  const bad = (name: string, rule: string): RotatorError =>
    new RotatorError('INVALID_INPUT', `secret ${secretId} has an invalid tag ${name}: use ${rule}`);
  const enabledText = tag(KV_TAG.enabled)?.toLowerCase();
  if (enabledText !== undefined && enabledText !== 'true' && enabledText !== 'false') throw bad(KV_TAG.enabled, 'true or false');
  const settings: KeyVaultRotationSettings = { enabled: enabledText === 'true' };
  const strategy = tag(KV_TAG.strategy);
  if (strategy !== undefined) {
    if (!(STRATEGIES as readonly string[]).includes(strategy)) throw bad(KV_TAG.strategy, `one of ${STRATEGIES.join(', ')}`);
    settings.strategy = strategy as Strategy;
  }
  const duration = (name: string): number | undefined => {
    const text = tag(name);
    if (text === undefined) return undefined;
    try {
      return parseDuration(text, `tag ${name}`);
    } catch {
      throw bad(name, 'a whole number with a unit, e.g. 30d, 12h, 90m or 45s');
    }
  };
  const safeWindowMs = duration(KV_TAG.safeWindow);
  if (safeWindowMs !== undefined) settings.safeWindowMs = safeWindowMs;
  const intervalMs = duration(KV_TAG.interval);
  if (intervalMs !== undefined) {
    if (intervalMs <= 0) throw bad(KV_TAG.interval, 'a positive duration, e.g. 90d');
    settings.intervalMs = intervalMs;
  }
  const keep = tag(KV_TAG.keep);
  if (keep !== undefined) {
    if (!/^\d{1,4}$/.test(keep) || Number(keep) > 1000) throw bad(KV_TAG.keep, 'a whole number from 0 to 1000');
    settings.keepSuperseded = Number(keep);
  }
  return settings;
}

/** The setting tags for `settings` (what `createSeededKeyVaultSecret` and `attachKeyVaultSecret` write). */
export function settingTags(settings: KeyVaultRotationSettings): Record<string, string> {
  return {
    [KV_TAG.enabled]: settings.enabled ? 'true' : 'false',
    ...(settings.strategy === undefined ? {} : { [KV_TAG.strategy]: settings.strategy }),
    ...(settings.safeWindowMs === undefined ? {} : { [KV_TAG.safeWindow]: formatDuration(settings.safeWindowMs) }),
    ...(settings.keepSuperseded === undefined ? {} : { [KV_TAG.keep]: String(settings.keepSuperseded) }),
    ...(settings.intervalMs === undefined ? {} : { [KV_TAG.interval]: formatDuration(settings.intervalMs) }),
  };
}

/** The port's settings (without the interval). */
export function portSettings(settings: KeyVaultRotationSettings): RotationSettings {
  return {
    enabled: settings.enabled,
    ...(settings.strategy === undefined ? {} : { strategy: settings.strategy }),
    ...(settings.safeWindowMs === undefined ? {} : { safeWindowMs: settings.safeWindowMs }),
    ...(settings.keepSuperseded === undefined ? {} : { keepSuperseded: settings.keepSuperseded }),
  };
}

/** An ISO time from a tag, or undefined when absent or not a time. */
export function tagTime(tags: Tags, name: string): Date | undefined {
  const text = Object.hasOwn(tags, name) ? tags[name] : undefined;
  if (text === undefined) return undefined;
  const date = new Date(text);
  return Number.isNaN(date.getTime()) ? undefined : date;
}
