import { describe, expect, it } from 'vitest';
import { NATIVE_HASH_PATTERN, mysqlNativePasswordHash } from '../../rotators/mysql/password-hash.js';

describe('mysql_native_password hash', () => {
  // Values of PASSWORD() on MariaDB 10.11 (the integration tests compare against the live server too).
  it.each([
    ['pw1', '*2B602296A79E0A8784ACC5C88D92E46588CCA3C3'],
    ['newpw1', '*1E44D54A51474358603B958A5064379A177C1F64'],
    ['newpw2', '*940A6343569DF4D197CFA886441FA65D7E50E90A'],
  ])('PASSWORD(%j) = %s', (password, hash) => {
    expect(mysqlNativePasswordHash(password)).toBe(hash);
  });

  it('is "*" and 40 upper-case hex digits, and differs for different passwords', () => {
    const a = mysqlNativePasswordHash("it's a \\ 'quoted' password é");
    expect(a).toMatch(NATIVE_HASH_PATTERN);
    expect(mysqlNativePasswordHash('x')).not.toBe(mysqlNativePasswordHash('y'));
  });
});
