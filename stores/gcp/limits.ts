/**
 * Google Secret Manager's own limits, in one place: the store refuses what the service would, before it calls (a
 * refusal half way through a rotation could strand a tested credential), and the test fake may enforce the same
 * numbers.
 */

/** The largest payload of a secret version, in bytes (64 KiB). */
export const SECRET_MANAGER_MAX_VALUE_BYTES = 65_536;
/** Secret ids: `[A-Za-z0-9_-]{1,255}`. */
export const SECRET_MANAGER_MAX_ID = 255;
export const SECRET_MANAGER_ID_CHARS = /^[A-Za-z0-9_-]+$/;
/** Annotation keys and values together, in bytes, per secret. */
export const SECRET_MANAGER_MAX_ANNOTATIONS_BYTES = 16_384;
/** Labels per secret. */
export const SECRET_MANAGER_MAX_LABELS = 64;
/** Label keys start with a lower-case letter; keys and values are at most 63 lower-case letters, digits, `_` and `-`. */
export const SECRET_MANAGER_LABEL_KEY = /^[a-z][a-z0-9_-]{0,62}$/;
export const SECRET_MANAGER_LABEL_VALUE = /^[a-z0-9_-]{0,63}$/;
/** Version aliases per secret. */
export const SECRET_MANAGER_MAX_ALIASES = 50;
/** The shortest rotation period the service accepts (one hour). */
export const SECRET_MANAGER_MIN_ROTATION_PERIOD_SECONDS = 3_600;
/** How soon a `next_rotation_time` being set may be: at least 300 s ahead of the service's clock. */
export const SECRET_MANAGER_MIN_ROTATION_LEAD_SECONDS = 300;
