import { randomInt } from 'node:crypto';
import type { RandomInt } from '../../../shared/password.js';
import { BASE62, DEFAULT_KEY_LENGTH, type ApiKeySecret } from '../secret.js';

/**
 * Keys the rotator draws itself, for a service of ours that checks them (see ../verifier.ts): nothing external
 * to create, test or revoke. Characters come from node:crypto's randomInt, which rejects biased draws.
 */
export interface SelfIssuedFormat {
  prefix: string;
  length: number;
  alphabet: string;
}

export function selfIssuedFormat(secret: ApiKeySecret): SelfIssuedFormat {
  return { prefix: secret.key_prefix ?? '', length: secret.key_length ?? DEFAULT_KEY_LENGTH, alphabet: secret.key_alphabet ?? BASE62 };
}

const defaultRandom: RandomInt = (max) => randomInt(max);

export function drawKey(format: SelfIssuedFormat, random: RandomInt = defaultRandom): string {
  let key = format.prefix;
  for (let i = 0; i < format.length; i++) key += format.alphabet.charAt(random(format.alphabet.length));
  return key;
}

/** True when `key` has the secret's prefix, length and alphabet. */
export function matchesFormat(key: string, format: SelfIssuedFormat): boolean {
  if (!key.startsWith(format.prefix) || key.length !== format.prefix.length + format.length) return false;
  const allowed = new Set(format.alphabet);
  return [...key.slice(format.prefix.length)].every((c) => allowed.has(c));
}
