import { StringDecoder } from 'node:string_decoder';
import { RotatorError } from '../../../shared/errors.js';

/**
 * iconv-lite as mysql2 uses it, in the Lambda bundles (serverless.yml's `custom.esbuild.alias` puts this module in
 * its place). The real package carries conversion tables for every legacy character set: 480 KB of the 1.7 MB MySQL
 * bundle, parsed on every cold start.
 *
 * What mysql2 3.x asks of it (lib/parsers/string.js is its only importer): `getDecoder` and `getEncoder`, and only for
 * names Buffer.isEncoding() refuses (utf8, latin1, ascii, ucs2 ... never get here). The rotator connects with charset
 * utf8mb4, so the server converts every result to utf8 (binary columns arrive as Buffers) and queries are encoded as
 * utf8: through Buffer. What reaches this module is CESU-8, in which mysql2 reads the server's greeting (its version)
 * and an auth-switch request's plugin name on every connection, implemented here; and the UTF-16 and UTF-8 spellings
 * Buffer does not know (mysql2 calls utf16le "utf16-le"), through Buffer. Any other character set would need the
 * tables: that is a typed error naming the charset, never text decoded wrongly.
 */

export interface Decoder {
  write(chunk: Buffer): string;
  end(): string | undefined;
}

export interface Encoder {
  write(text: string): Buffer;
  end(): Buffer | undefined;
}

/**
 * The encodings served by Buffer, by iconv-lite's canonical name: those where Buffer and iconv-lite agree byte for
 * byte. (latin1 and ascii differ on characters they cannot hold, and mysql2 never asks for them here.)
 */
const BUFFER_ENCODINGS: Readonly<Record<string, BufferEncoding>> = {
  utf8: 'utf8',
  unicode11utf8: 'utf8',
  ucs2: 'utf16le',
  utf16le: 'utf16le',
};

/** iconv-lite's canonical form of an encoding name: lower case, without punctuation or a ":YYYY" suffix. */
function canonical(encoding: unknown): string {
  return String(encoding).toLowerCase().replace(/:\d{4}$|[^0-9a-z]/g, '');
}

function unsupported(encoding: unknown): RotatorError {
  // mysql2 passes a name from its own charset table (or undefined for a charset number it does not know); the check
  // keeps anything else out of the message all the same.
  const name = typeof encoding === 'string' && /^[\w-]{1,40}$/.test(encoding) ? encoding : 'an unknown character set';
  return new RotatorError(
    'TARGET_ERROR',
    `the server sent text in ${name}, which this function's bundle cannot convert (it keeps UTF-8, CESU-8 and UTF-16LE; iconv-lite's tables are left out); the rotator asks for utf8mb4, so check the server's character_set_results or an init_connect that changes it`,
  );
}

export function getDecoder(encoding: unknown): Decoder {
  const name = canonical(encoding);
  if (name === 'cesu8') return new Cesu8Decoder();
  const buffered = BUFFER_ENCODINGS[name];
  if (buffered === undefined) throw unsupported(encoding);
  const decoder = new StringDecoder(buffered);
  return { write: (chunk) => decoder.write(chunk), end: () => decoder.end() };
}

export function getEncoder(encoding: unknown): Encoder {
  const name = canonical(encoding);
  if (name === 'cesu8') return { write: encodeCesu8, end: () => undefined };
  const buffered = BUFFER_ENCODINGS[name];
  if (buffered === undefined) throw unsupported(encoding);
  return { write: (text) => Buffer.from(text, buffered), end: () => undefined };
}

const REPLACEMENT = '\uFFFD';

/**
 * CESU-8: UTF-8 of each UTF-16 code unit, so a character beyond the BMP is two three-byte surrogates (which Node's
 * UTF-8 decoder would replace). Sequences of one to three bytes; a bad or overlong one becomes U+FFFD (C0 80, the
 * modified UTF-8 NUL, is kept). The state carries over between writes, as a decoder's must.
 */
class Cesu8Decoder implements Decoder {
  private code = 0;
  private missing = 0;
  private length = 0;

  write(chunk: Buffer): string {
    let text = '';
    for (const byte of chunk) {
      if ((byte & 0xc0) === 0x80) {
        if (this.missing === 0) {
          text += REPLACEMENT;
          continue;
        }
        this.code = (this.code << 6) | (byte & 0x3f);
        this.missing -= 1;
        this.length += 1;
        if (this.missing > 0) continue;
        const overlong = (this.length === 2 && this.code < 0x80 && this.code > 0) || (this.length === 3 && this.code < 0x800);
        text += overlong ? REPLACEMENT : String.fromCharCode(this.code);
        continue;
      }
      if (this.missing > 0) text += REPLACEMENT;
      this.missing = 0;
      if (byte < 0x80) text += String.fromCharCode(byte);
      else if (byte < 0xe0) [this.code, this.missing, this.length] = [byte & 0x1f, 1, 1];
      else if (byte < 0xf0) [this.code, this.missing, this.length] = [byte & 0x0f, 2, 1];
      else text += REPLACEMENT;
    }
    return text;
  }

  end(): string | undefined {
    const incomplete = this.missing > 0;
    this.missing = 0;
    return incomplete ? REPLACEMENT : undefined;
  }
}

function encodeCesu8(text: string): Buffer {
  const out = Buffer.alloc(text.length * 3);
  let at = 0;
  for (let i = 0; i < text.length; i++) {
    const unit = text.charCodeAt(i);
    if (unit < 0x80) {
      out[at++] = unit;
    } else if (unit < 0x800) {
      out[at++] = 0xc0 | (unit >>> 6);
      out[at++] = 0x80 | (unit & 0x3f);
    } else {
      out[at++] = 0xe0 | (unit >>> 12);
      out[at++] = 0x80 | ((unit >>> 6) & 0x3f);
      out[at++] = 0x80 | (unit & 0x3f);
    }
  }
  return out.subarray(0, at);
}
