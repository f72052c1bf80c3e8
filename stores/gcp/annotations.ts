import { parseFailure } from '../../shared/schedule.js';
import type { RotationFailure } from '../../shared/store.js';
import { SECRET_MANAGER_MAX_ANNOTATIONS_BYTES } from './limits.js';

/**
 * The store's bookkeeping, kept in the main secret's annotations (never in labels: labels are the user's settings and
 * tags, and annotation values may hold `|` and `:`). Every write of them is an UpdateSecret with the secret's etag.
 *
 * - `rotator-v<n>` = `<token>|<promotedAt ISO>`: version n was promoted by Rotator for the rotation `token` (the
 *   port's id of version n) at that time (the purger's clock).
 * - `rotator-pending` = `<token>|<startedAt ISO>` while the rotation `token` has no value yet (the marker), then
 *   `<token>|<startedAt ISO>|<m>` once its value is version m of the companion secret.
 * - `rotator-cancelled-<m>` = `<token>|<startedAt ISO>`: a cancelled rotation whose value (version m of the companion)
 *   is kept, unlabelled, until the purger retires it (the target may already accept its credential).
 * - `rotator-lock` = `<holder>|<until ISO>`: the rotation lock (annotation-lock.ts).
 * - `rotator-last-error` = `<CODE> <step> <at ISO>` (shared/schedule.ts formatFailure; never a message or a value):
 *   the last failed rotation, until one succeeds. Shown as `lastError` only if it parses.
 *
 * Tokens never contain `|` (see TOKEN) and are never all digits, so a port id is either a token or a version number.
 * Everything read back is parsed strictly: an annotation that does not parse is ignored, as if absent.
 */
export const ANNOTATION = {
  pending: 'rotator-pending',
  lock: 'rotator-lock',
  lastError: 'rotator-last-error',
  promotedPrefix: 'rotator-v',
  cancelledPrefix: 'rotator-cancelled-',
} as const;

/** Rotation tokens: what the engine makes (UUIDs) and the contract suite uses; never all digits. */
export const TOKEN = /^(?!\d+$)[A-Za-z0-9_-]{1,128}$/;
/** Secret Manager's own version ids: 1, 2, 3, ... */
export const VERSION_NUMBER = /^[1-9]\d{0,17}$/;

export type Annotations = Readonly<Record<string, string>>;

export interface Promoted {
  token: string;
  promotedAt: Date;
}

export interface PendingMarker {
  token: string;
  startedAt: Date;
  /** The companion's version holding the value; unset while the rotation has stored none. */
  companionVersion?: number;
}

export interface Cancelled {
  token: string;
  startedAt: Date;
}

export interface LockRecord {
  holder: string;
  until: Date;
}

const HOLDER = /^[A-Za-z0-9-]{1,64}$/;

function time(text: string | undefined): Date | undefined {
  if (text === undefined || !/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d{1,9})?Z$/.test(text)) return undefined;
  const date = new Date(text);
  return Number.isNaN(date.getTime()) ? undefined : date;
}

function versionNumber(text: string | undefined): number | undefined {
  return text !== undefined && VERSION_NUMBER.test(text) && Number.isSafeInteger(Number(text)) ? Number(text) : undefined;
}

function own(annotations: Annotations, key: string): string | undefined {
  return Object.hasOwn(annotations, key) ? annotations[key] : undefined;
}

export function promotedKey(n: number): string {
  return `${ANNOTATION.promotedPrefix}${n}`;
}

export function cancelledKey(m: number): string {
  return `${ANNOTATION.cancelledPrefix}${m}`;
}

export function formatPromoted(p: Promoted): string {
  return `${p.token}|${p.promotedAt.toISOString()}`;
}

export function formatPending(p: PendingMarker): string {
  return `${p.token}|${p.startedAt.toISOString()}${p.companionVersion === undefined ? '' : `|${p.companionVersion}`}`;
}

export function formatCancelled(c: Cancelled): string {
  return `${c.token}|${c.startedAt.toISOString()}`;
}

export function formatLock(l: LockRecord): string {
  return `${l.holder}|${l.until.toISOString()}`;
}

function parseTokenAndTime(value: string | undefined): { token: string; at: Date; rest: string[] } | undefined {
  if (value === undefined) return undefined;
  const [token, at, ...rest] = value.split('|');
  const date = time(at);
  if (token === undefined || !TOKEN.test(token) || date === undefined) return undefined;
  return { token, at: date, rest };
}

/** Every version Rotator promoted, by version number. */
export function promotedVersions(annotations: Annotations): Map<number, Promoted> {
  const out = new Map<number, Promoted>();
  for (const [key, value] of Object.entries(annotations)) {
    if (!key.startsWith(ANNOTATION.promotedPrefix)) continue;
    const n = versionNumber(key.slice(ANNOTATION.promotedPrefix.length));
    const parsed = parseTokenAndTime(value);
    if (n !== undefined && parsed !== undefined && parsed.rest.length === 0) out.set(n, { token: parsed.token, promotedAt: parsed.at });
  }
  return out;
}

/** Every cancelled rotation whose value is kept, by companion version number. */
export function cancelledVersions(annotations: Annotations): Map<number, Cancelled> {
  const out = new Map<number, Cancelled>();
  for (const [key, value] of Object.entries(annotations)) {
    if (!key.startsWith(ANNOTATION.cancelledPrefix)) continue;
    const m = versionNumber(key.slice(ANNOTATION.cancelledPrefix.length));
    const parsed = parseTokenAndTime(value);
    if (m !== undefined && parsed !== undefined && parsed.rest.length === 0) out.set(m, { token: parsed.token, startedAt: parsed.at });
  }
  return out;
}

export function pendingMarker(annotations: Annotations): PendingMarker | undefined {
  const parsed = parseTokenAndTime(own(annotations, ANNOTATION.pending));
  if (parsed === undefined || parsed.rest.length > 1) return undefined;
  if (parsed.rest.length === 0) return { token: parsed.token, startedAt: parsed.at };
  const m = versionNumber(parsed.rest[0]);
  return m === undefined ? undefined : { token: parsed.token, startedAt: parsed.at, companionVersion: m };
}

export function lockRecord(annotations: Annotations): LockRecord | undefined {
  const value = own(annotations, ANNOTATION.lock);
  if (value === undefined) return undefined;
  const [holder, until, ...rest] = value.split('|');
  const date = time(until);
  if (holder === undefined || !HOLDER.test(holder) || date === undefined || rest.length > 0) return undefined;
  return { holder, until: date };
}

/** The last failed rotation the annotations record, or undefined (none, or one that does not parse). */
export function lastFailure(annotations: Annotations): RotationFailure | undefined {
  return parseFailure(own(annotations, ANNOTATION.lastError));
}

/** The longest `rotator-last-error` formatFailure writes (parseFailure reads back no more). */
const FAILURE_BYTES = ANNOTATION.lastError.length + 128;

/** The size Secret Manager counts against its annotation limit: keys and values, in UTF-8 bytes. */
export function annotationBytes(annotations: Annotations): number {
  let total = 0;
  for (const [key, value] of Object.entries(annotations)) total += Buffer.byteLength(key, 'utf8') + Buffer.byteLength(value, 'utf8');
  return total;
}

/**
 * Room a whole rotation needs on top of what is there: its marker with a companion version, then its promotion, and
 * a failure it may have to record (whatever the annotations hold of one already).
 */
export function rotationBytes(token: string, annotations: Annotations = {}): number {
  const at = new Date(0);
  const widest = 10 ** 17; // the largest version number VERSION_NUMBER accepts, as wide as any
  const recorded = own(annotations, ANNOTATION.lastError);
  return (
    FAILURE_BYTES -
    (recorded === undefined ? 0 : ANNOTATION.lastError.length + Buffer.byteLength(recorded, 'utf8')) +
    ANNOTATION.pending.length +
    formatPending({ token, startedAt: at, companionVersion: widest }).length +
    promotedKey(widest).length +
    formatPromoted({ token, promotedAt: at }).length
  );
}

export function fitsAnnotations(annotations: Annotations, extraBytes: number): boolean {
  return annotationBytes(annotations) + extraBytes <= SECRET_MANAGER_MAX_ANNOTATIONS_BYTES;
}

/** A copy whose keys are own properties only: an annotation named `__proto__` stays a plain key. */
export function annotationRecord(entries: Iterable<[string, string]>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of entries) Object.defineProperty(out, k, { value: v, enumerable: true, writable: true, configurable: true });
  return out;
}
