import { RotatorError } from '../../shared/errors.js';
import { formatDuration, parseDuration } from '../../shared/duration.js';
import { checkSchedule, parseFailure, parseSchedule } from '../../shared/schedule.js';
import { STRATEGIES, type RotationFailure, type RotationSchedule, type RotationSettings, type Strategy } from '../../shared/store.js';

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
 * - `rotator-interval`: how often to rotate, the port's schedule as a rate (`90d`, `12h`, `rate(90 days)`; 1 hour to
 *   1000 days): each version the store writes expires (`exp`) 30 days after that, so Key Vault's SecretNearExpiry
 *   event fires when the interval is up. Key Vault has no native cron or window, so the tag holds neither. A tag that
 *   is not such a rate (edited by hand: `90m`, junk) is no schedule, with a warning; never an error that would stop
 *   the secret's rotation or purge.
 *
 * Bookkeeping (written by the store; never shown, never carried forward):
 * - `rotator-token`: the rotation token of a version Rotator wrote (main secret and companion), its port version id.
 * - `rotator-previous`: on a version Rotator promoted, the port id of the version that was CURRENT before it.
 * - `rotator-promoted-at`: when that promotion happened (ISO 8601, milliseconds; the purger's clock).
 * - `rotator-pending`, `rotator-pending-at`: the rotation marker on the latest version: the token under way and when
 *   it started.
 * - `rotator-last-error`: on the latest version, the last failed rotation (shared/schedule.ts formatFailure: `CODE
 *   step ISO-time`, never a message or a value), until a promotion writes a version without it. Shown as `lastError`
 *   only if it parses; anything else there is not believed.
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
  lastError: 'rotator-last-error',
} as const;

export const SETTING_TAGS: readonly string[] = [KV_TAG.enabled, KV_TAG.strategy, KV_TAG.safeWindow, KV_TAG.keep, KV_TAG.interval];
export const BOOKKEEPING_TAGS: ReadonlySet<string> = new Set([KV_TAG.token, KV_TAG.previous, KV_TAG.promotedAt, KV_TAG.pending, KV_TAG.pendingAt, KV_TAG.lastError]);
/** Every tag of this prefix is the store's: hidden from `describe`'s tags. */
export const ROTATOR_TAG_PREFIX = 'rotator-';
/**
 * How many tags a promotion adds (token, previous, promotion time) and a marker adds (token, start time, and room for
 * `rotator-last-error`, so that a rotation that fails can always record it on the version it marked).
 */
export const PROMOTION_TAG_COUNT = 3;
export const MARKER_TAG_COUNT = 3;

export type Tags = Readonly<Record<string, string>>;

/** Rotation settings as the store keeps them: the port's, with a schedule that is always a rate without a window. */
export type KeyVaultRotationSettings = RotationSettings & { schedule?: RotationSchedule & { kind: 'rate' } };

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

/** `tags` without the tag `name`. */
export function withoutTag(tags: Tags, name: string): Record<string, string> {
  return tagRecord(Object.entries(tags).filter(([k]) => k !== name));
}

/** The last failure the tags record, or undefined when none is, or what is there does not parse. */
export function failureFromTags(tags: Tags): RotationFailure | undefined {
  return parseFailure(Object.hasOwn(tags, KV_TAG.lastError) ? tags[KV_TAG.lastError] : undefined);
}

/**
 * The settings the tags name; INVALID_INPUT naming the tag (never a value other than the setting's) when one is
 * malformed, except `rotator-interval`: a schedule that does not parse is no schedule, reported to `warn` (a bad
 * interval must not stop the secret's rotation when asked, nor its purge).
 */
export function settingsFromTags(tags: Tags, secretId: string, warn?: (message: string) => void): KeyVaultRotationSettings {
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
  const interval = tag(KV_TAG.interval);
  if (interval !== undefined) {
    const schedule = rateFromTag(interval);
    if (schedule === undefined) warn?.(`secret ${secretId} has an invalid tag ${KV_TAG.interval}, so it has no rotation schedule: use a rate from 1h to 1000d, e.g. 90d or 12h`);
    else settings.schedule = schedule;
  }
  const keep = tag(KV_TAG.keep);
  if (keep !== undefined) {
    if (!/^\d{1,4}$/.test(keep) || Number(keep) > 1000) throw bad(KV_TAG.keep, 'a whole number from 0 to 1000');
    settings.keepSuperseded = Number(keep);
  }
  return settings;
}

/** A `rotator-interval` value as a rate (what parseSchedule accepts, without a cron), or undefined. */
function rateFromTag(text: string): (RotationSchedule & { kind: 'rate' }) | undefined {
  if (/^cron\(/i.test(text)) return undefined;
  try {
    const schedule = parseSchedule(text, `tag ${KV_TAG.interval}`);
    return schedule.kind === 'rate' ? schedule : undefined;
  } catch {
    return undefined;
  }
}

/**
 * The schedule as Key Vault keeps it, or INVALID_INPUT when it has no native form there: Key Vault's only trigger is
 * SecretNearExpiry, a fixed time before one date, so neither a cron nor a window can be kept.
 */
export function keyVaultSchedule(schedule: RotationSchedule): RotationSchedule & { kind: 'rate' } {
  checkSchedule(schedule, 'the rotation schedule');
  if (schedule.kind === 'cron') {
    throw new RotatorError(
      'INVALID_INPUT',
      'Azure Key Vault has no cron schedule (its only trigger is SecretNearExpiry, 30 days before a version expires): use a rate such as 30d or 12h',
    );
  }
  if (schedule.windowMs !== undefined) {
    throw new RotatorError('INVALID_INPUT', 'Azure Key Vault keeps no rotation window; leave it out (the default applies: an hour for a rate in hours, the rest of the UTC day for one in days)');
  }
  return schedule;
}

/** The setting tags for `settings` (what `createSeededKeyVaultSecret` and `attachKeyVaultSecret` write). */
export function settingTags(settings: KeyVaultRotationSettings): Record<string, string> {
  return {
    [KV_TAG.enabled]: settings.enabled ? 'true' : 'false',
    ...(settings.strategy === undefined ? {} : { [KV_TAG.strategy]: settings.strategy }),
    ...(settings.safeWindowMs === undefined ? {} : { [KV_TAG.safeWindow]: formatDuration(settings.safeWindowMs) }),
    ...(settings.keepSuperseded === undefined ? {} : { [KV_TAG.keep]: String(settings.keepSuperseded) }),
    ...(settings.schedule === undefined ? {} : { [KV_TAG.interval]: intervalTag(settings.schedule) }),
  };
}

/** A rate as the `rotator-interval` tag writes it: `90d`, `36h`. */
export function intervalTag(schedule: RotationSchedule & { kind: 'rate' }): string {
  return formatDuration(keyVaultSchedule(schedule).everyMs);
}

/** An ISO time from a tag, or undefined when absent or not a time. */
export function tagTime(tags: Tags, name: string): Date | undefined {
  const text = Object.hasOwn(tags, name) ? tags[name] : undefined;
  if (text === undefined) return undefined;
  const date = new Date(text);
  return Number.isNaN(date.getTime()) ? undefined : date;
}
