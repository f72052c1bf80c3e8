import { createHash } from 'node:crypto';

/**
 * The mysql_native_password hash: `*` + upper-case hex of SHA1(SHA1(password)), the password taken as UTF-8 (the
 * connection character set the rotator uses). It is what MariaDB's PASSWORD() and MySQL 5.7's PASSWORD() return,
 * so MariaDB and MySQL 5.7 accept it in place of the password: computing it here keeps the plaintext off the wire
 * and out of the server's logs. It is a secret too (it is enough to log in with a patched client): register it
 * with the redactor and never log it.
 */
export function mysqlNativePasswordHash(password: string): string {
  const stage1 = createHash('sha1').update(password, 'utf8').digest();
  return '*' + createHash('sha1').update(stage1).digest('hex').toUpperCase();
}

/** `*` and 40 upper-case hex digits. */
export const NATIVE_HASH_PATTERN = /^\*[0-9A-F]{40}$/;
