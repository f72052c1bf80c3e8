/**
 * Key Vault's own limits on a secret version, in one place: the store refuses what the service would, before it
 * calls, and the test fake (test/fakes/azure/key-vault.ts) enforces the same numbers.
 */

/** The largest value, in UTF-8 bytes: the service's "25k bytes" (Azure's CLI checks 25,600). */
export const KEY_VAULT_MAX_VALUE_BYTES = 25_600;
/** Tags per version. */
export const KEY_VAULT_MAX_TAGS = 15;
export const KEY_VAULT_MAX_TAG_NAME = 512;
export const KEY_VAULT_MAX_TAG_VALUE = 256;
/** Secret names: `^[0-9a-zA-Z-]{1,127}$`, case-insensitive. */
export const KEY_VAULT_MAX_NAME = 127;
