import { createHmac } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { isRotatorError } from '../../shared/errors.js';
import { parseScramVerifier, scramKeys, scramSha256Verifier } from '../../rotators/postgres/scram.js';

describe('scramSha256Verifier', () => {
  it('matches the RFC 7677 example exchange (client proof and server signature)', () => {
    // RFC 7677 section 3: user "user", password "pencil".
    const salt = Buffer.from('W22ZaJ0SNY7soEsUEjb6gQ==', 'base64');
    const clientFirstBare = 'n=user,r=rOprNGfwEbeRWgbNEkqO';
    const serverFirst = 'r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096';
    const clientFinalWithoutProof = 'c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0';
    const authMessage = `${clientFirstBare},${serverFirst},${clientFinalWithoutProof}`;

    const { clientKey, storedKey, serverKey } = scramKeys('pencil', salt, 4096);
    const clientSignature = createHmac('sha256', storedKey).update(authMessage).digest();
    const proof = Buffer.from(clientKey.map((byte, i) => byte ^ (clientSignature[i] ?? 0)));
    expect(proof.toString('base64')).toBe('dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=');
    expect(createHmac('sha256', serverKey).update(authMessage).digest('base64')).toBe('6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=');
  });

  it('reproduces a verifier PostgreSQL 15 computed itself for the same salt', () => {
    // From `CREATE ROLE vec PASSWORD 'correct horse battery staple'` on a scram-sha-256 server, read from pg_authid.
    const fromPostgres =
      'SCRAM-SHA-256$4096:DrvGJI1gDJmEAAdJ9HkfJQ==$iGpopK8m8wfsxz5YsDzDiI6/xaT6W1krNzvaWAvl6Pg=:E8QXAv88qDqulh6FtYtU2rxNOmXQFSAR5sEHBqumHdE=';
    const salt = Buffer.from('DrvGJI1gDJmEAAdJ9HkfJQ==', 'base64');
    expect(scramSha256Verifier('correct horse battery staple', { salt })).toBe(fromPostgres);
    expect(scramSha256Verifier('correct horse battery stapl3', { salt })).not.toBe(fromPostgres);
  });

  it('draws a fresh 16-byte salt each time and uses 4096 iterations', () => {
    const a = scramSha256Verifier('same-password-1');
    const b = scramSha256Verifier('same-password-1');
    expect(a).not.toBe(b);
    for (const v of [a, b]) {
      expect(v).toMatch(/^SCRAM-SHA-256\$4096:[A-Za-z0-9+/]{22}==\$[A-Za-z0-9+/]{43}=:[A-Za-z0-9+/]{43}=$/);
      const parts = parseScramVerifier(v);
      expect(parts?.iterations).toBe(4096);
      expect(parts?.salt).toHaveLength(16);
      expect(parts?.storedKey).toHaveLength(32);
      expect(parts?.serverKey).toHaveLength(32);
      expect(v).not.toContain('same-password-1');
    }
    expect(parseScramVerifier('md5abcdef')).toBeUndefined();
  });

  it('accepts every printable ASCII character, including space', () => {
    let printable = '';
    for (let c = 0x20; c <= 0x7e; c++) printable += String.fromCharCode(c);
    expect(parseScramVerifier(scramSha256Verifier(printable))).toBeDefined();
  });

  it('refuses passwords outside printable ASCII, without echoing them', () => {
    for (const password of ['pässwörd-123', 'tab\there-123', 'nul\0inside-123', 'emoji-🔑-123', 'del\x7f-123', '']) {
      let caught: unknown;
      try {
        scramSha256Verifier(password);
      } catch (error) {
        caught = error;
      }
      expect(isRotatorError(caught, 'INVALID_SECRET')).toBe(true);
      if (password.length > 0) {
        expect((caught as Error).message).toMatch(/printable ASCII/);
        expect((caught as Error).message).not.toContain(password);
      }
    }
  });
});
