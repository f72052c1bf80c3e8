import { describe, expect, it } from 'vitest';
import { CHARACTER_CLASSES, generatePassword, passwordOptionsFromEnv } from '../../shared/password.js';
import { isRotatorError } from '../../shared/errors.js';

const POSTGRES_EXCLUDES = ':/@"\'\\';

describe('generatePassword', () => {
  it('defaults to 32 characters with every class present', () => {
    for (let i = 0; i < 200; i++) {
      const p = generatePassword();
      expect(p).toHaveLength(32);
      expect(p).toMatch(/[a-z]/);
      expect(p).toMatch(/[A-Z]/);
      expect(p).toMatch(/[0-9]/);
      expect(p).toMatch(/[^A-Za-z0-9]/);
      expect(p).not.toContain(' ');
    }
  });

  it('never uses an excluded character', () => {
    const seen = new Set<string>();
    for (let i = 0; i < 500; i++) for (const c of generatePassword({ excludeCharacters: POSTGRES_EXCLUDES })) seen.add(c);
    for (const c of POSTGRES_EXCLUDES) expect(seen.has(c)).toBe(false);
    // Everything else in the punctuation class still shows up, so the exclusion is exact, not broader.
    const allowed = [...CHARACTER_CLASSES.punctuation].filter((c) => !POSTGRES_EXCLUDES.includes(c));
    for (const c of allowed) expect(seen.has(c)).toBe(true);
  });

  it('honours the class exclusions and include-space', () => {
    expect(generatePassword({ excludeNumbers: true, excludePunctuation: true, length: 64 })).toMatch(/^[A-Za-z]{64}$/);
    expect(generatePassword({ excludeLowercase: true, excludeUppercase: true, excludePunctuation: true })).toMatch(/^[0-9]{32}$/);
    expect(generatePassword({ includeSpace: true, length: 200, excludeLowercase: true, excludeUppercase: true, excludeNumbers: true, excludePunctuation: true })).toMatch(
      /^ {200}$/,
    );
  });

  it('accepts length bounds 1 and 4096 and refuses what is outside', () => {
    expect(generatePassword({ length: 4096 })).toHaveLength(4096);
    expect(generatePassword({ length: 1, requireEachIncludedType: false })).toHaveLength(1);
    for (const length of [0, 4097, 1.5, -3]) {
      expect(() => generatePassword({ length })).toThrow(/length/);
    }
  });

  it('refuses a length too short for one of each required class', () => {
    const attempt = (): string => generatePassword({ length: 3 });
    expect(attempt).toThrow(/REQUIRE_EACH_INCLUDED_TYPE/);
    try {
      attempt();
    } catch (error) {
      expect(isRotatorError(error, 'PASSWORD_POLICY')).toBe(true);
    }
    expect(generatePassword({ length: 3, requireEachIncludedType: false })).toHaveLength(3);
  });

  it('refuses options that exclude every character', () => {
    const all = Object.values(CHARACTER_CLASSES).join('');
    expect(() => generatePassword({ excludeCharacters: all })).toThrow(/exclude every character/);
  });

  it('draws through the injected random source and rejects passwords missing a class', () => {
    // A source that first yields only lowercase draws, then cycles through the whole alphabet.
    let calls = 0;
    const random = (max: number): number => (calls++ < 4 ? 0 : calls % max);
    const p = generatePassword({ length: 4, excludePunctuation: true, excludeNumbers: true }, random);
    expect(calls).toBeGreaterThan(4); // the all-"a" draw was discarded whole
    expect(p).toMatch(/[a-z]/);
    expect(p).toMatch(/[A-Z]/);
  });

  it('is close to uniform over the alphabet', () => {
    const alphabet = 'abcdefghij';
    const counts = new Map<string, number>();
    const exclude = Object.values(CHARACTER_CLASSES).join('').replace(/[a-j]/g, '');
    let draws = 0;
    for (let i = 0; i < 50; i++) {
      const p = generatePassword({ length: 4000, excludeCharacters: exclude, requireEachIncludedType: false });
      for (const c of p) counts.set(c, (counts.get(c) ?? 0) + 1);
      draws += p.length;
    }
    expect([...counts.keys()].sort().join('')).toBe(alphabet);
    // Chi-square with 9 degrees of freedom: 27.88 is the 0.999 quantile.
    const expected = draws / alphabet.length;
    let chi2 = 0;
    for (const c of alphabet) chi2 += ((counts.get(c) ?? 0) - expected) ** 2 / expected;
    expect(chi2).toBeLessThan(27.88);
  });
});

describe('passwordOptionsFromEnv', () => {
  it('uses the engine default for EXCLUDE_CHARACTERS and AWS defaults otherwise', () => {
    expect(passwordOptionsFromEnv({}, POSTGRES_EXCLUDES)).toEqual({
      length: 32,
      excludeCharacters: POSTGRES_EXCLUDES,
      excludeNumbers: false,
      excludePunctuation: false,
      excludeUppercase: false,
      excludeLowercase: false,
      requireEachIncludedType: true,
    });
  });

  it('reads the template env vars', () => {
    const options = passwordOptionsFromEnv(
      { PASSWORD_LENGTH: '48', EXCLUDE_CHARACTERS: '', EXCLUDE_PUNCTUATION: 'TRUE', REQUIRE_EACH_INCLUDED_TYPE: 'false' },
      POSTGRES_EXCLUDES,
    );
    expect(options).toMatchObject({ length: 48, excludeCharacters: '', excludePunctuation: true, requireEachIncludedType: false });
    expect(generatePassword(options)).toMatch(/^[A-Za-z0-9]{48}$/);
  });

  it('names each bad variable', () => {
    expect(() => passwordOptionsFromEnv({ PASSWORD_LENGTH: 'long', EXCLUDE_NUMBERS: 'yes' }, '')).toThrow(
      /PASSWORD_LENGTH: must be a whole number.*EXCLUDE_NUMBERS: must be true or false/,
    );
    expect(() => passwordOptionsFromEnv({ PASSWORD_LENGTH: '5000' }, '')).toThrow(/PASSWORD_LENGTH/);
  });
});
