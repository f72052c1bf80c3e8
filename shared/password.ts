import { randomInt } from 'node:crypto';
import * as z from 'zod';
import { envBoolean, envError } from './config.js';
import { RotatorError } from './errors.js';

/**
 * Password generation with the options of Secrets Manager's GetRandomPassword, which AWS's rotation templates
 * expose as env vars (PASSWORD_LENGTH, EXCLUDE_CHARACTERS, ...). Characters are drawn with node:crypto's
 * randomInt, which rejects biased draws, so every allowed character is equally likely; a password missing a
 * required class is discarded whole and drawn again, which keeps the result uniform over valid passwords.
 */
export const CHARACTER_CLASSES = {
  lowercase: 'abcdefghijklmnopqrstuvwxyz',
  uppercase: 'ABCDEFGHIJKLMNOPQRSTUVWXYZ',
  numbers: '0123456789',
  punctuation: '!"#$%&\'()*+,-./:;<=>?@[\\]^_`{|}~',
} as const;

export const MAX_PASSWORD_LENGTH = 4096;

export const passwordOptionsSchema = z.object({
  length: z.number().int().min(1).max(MAX_PASSWORD_LENGTH).default(32),
  excludeCharacters: z.string().default(''),
  excludeNumbers: z.boolean().default(false),
  excludePunctuation: z.boolean().default(false),
  excludeUppercase: z.boolean().default(false),
  excludeLowercase: z.boolean().default(false),
  includeSpace: z.boolean().default(false),
  requireEachIncludedType: z.boolean().default(true),
});

export type PasswordOptions = z.input<typeof passwordOptionsSchema>;

/** Returns a uniformly random integer in [0, max); injectable so tests can drive the generator. */
export type RandomInt = (max: number) => number;

const defaultRandom: RandomInt = (max) => randomInt(max);

// A policy whose valid passwords are rare would spin; after this many draws we report it instead.
const MAX_ATTEMPTS = 10_000;

export function generatePassword(options: PasswordOptions = {}, random: RandomInt = defaultRandom): string {
  const parsed = passwordOptionsSchema.safeParse(options);
  if (!parsed.success) {
    throw new RotatorError('PASSWORD_POLICY', `password options are invalid: ${parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`);
  }
  const o = parsed.data;
  const excluded = new Set(o.excludeCharacters);
  const classes: string[] = [];
  const add = (chars: string, skip: boolean): void => {
    if (skip) return;
    const kept = [...chars].filter((c) => !excluded.has(c)).join('');
    if (kept.length > 0) classes.push(kept);
  };
  add(CHARACTER_CLASSES.lowercase, o.excludeLowercase);
  add(CHARACTER_CLASSES.uppercase, o.excludeUppercase);
  add(CHARACTER_CLASSES.numbers, o.excludeNumbers);
  add(CHARACTER_CLASSES.punctuation, o.excludePunctuation);
  add(' ', !o.includeSpace);

  const alphabet = classes.join('');
  if (alphabet.length === 0) {
    throw new RotatorError('PASSWORD_POLICY', 'the password options exclude every character; allow at least one character class');
  }
  if (o.requireEachIncludedType && o.length < classes.length) {
    throw new RotatorError(
      'PASSWORD_POLICY',
      `a ${o.length}-character password cannot contain one of each of the ${classes.length} included character types; raise PASSWORD_LENGTH or set REQUIRE_EACH_INCLUDED_TYPE=false`,
    );
  }

  for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
    let password = '';
    for (let i = 0; i < o.length; i++) password += alphabet.charAt(random(alphabet.length));
    if (!o.requireEachIncludedType || classes.every((cls) => [...password].some((c) => cls.includes(c)))) {
      return password;
    }
  }
  throw new RotatorError('PASSWORD_POLICY', 'could not draw a password that contains every required character type; raise PASSWORD_LENGTH or relax the exclusions');
}

const passwordEnvSchema = z.object({
  PASSWORD_LENGTH: z
    .string()
    .regex(/^\d+$/, 'must be a whole number')
    .transform(Number)
    .pipe(z.number().int().min(1).max(MAX_PASSWORD_LENGTH))
    .optional(),
  EXCLUDE_CHARACTERS: z.string().optional(),
  EXCLUDE_NUMBERS: envBoolean.optional(),
  EXCLUDE_PUNCTUATION: envBoolean.optional(),
  EXCLUDE_UPPERCASE: envBoolean.optional(),
  EXCLUDE_LOWERCASE: envBoolean.optional(),
  REQUIRE_EACH_INCLUDED_TYPE: envBoolean.optional(),
});

/**
 * Reads the env vars of AWS's rotation templates. `engineExcludeCharacters` is the engine's default for
 * EXCLUDE_CHARACTERS (the templates differ per engine); setting the variable, even to "", replaces it.
 */
export function passwordOptionsFromEnv(env: NodeJS.ProcessEnv, engineExcludeCharacters: string): PasswordOptions {
  const result = passwordEnvSchema.safeParse(env);
  if (!result.success) throw envError(result.error);
  const e = result.data;
  return {
    length: e.PASSWORD_LENGTH ?? 32,
    excludeCharacters: e.EXCLUDE_CHARACTERS ?? engineExcludeCharacters,
    excludeNumbers: e.EXCLUDE_NUMBERS ?? false,
    excludePunctuation: e.EXCLUDE_PUNCTUATION ?? false,
    excludeUppercase: e.EXCLUDE_UPPERCASE ?? false,
    excludeLowercase: e.EXCLUDE_LOWERCASE ?? false,
    requireEachIncludedType: e.REQUIRE_EACH_INCLUDED_TYPE ?? true,
  };
}
