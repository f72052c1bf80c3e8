/**
 * Secret values must never reach a log line, an error message or a metric. The Redactor remembers every
 * secret the process has seen (values read from a store, generated passwords, verifiers) and masks them, and
 * the encoded forms our own code produces of them, in any text before it is written. Field names that usually
 * hold secrets are masked too, so a value that was never registered is still hidden when it travels under such
 * a key.
 *
 * Redaction cannot fail (docs/architecture.md, invariant 10), so it is not a regular expression (one alternation of every
 * value was too large to compile from about 33 KB of secrets, and the SyntaxError then printed them all):
 * - Each encoded form of a value is cut into pieces of at most PIECE characters; each piece is kept only as
 *   two polynomial hashes and its length, indexed by the hash of its first MIN_SECRET_LENGTH characters. A text
 *   is scanned once: at each position one map look-up finds the pieces starting with those characters, and one
 *   hash of the text per distinct piece length checks them. The cost per character does not depend on how many
 *   values are registered or how long they are. A whole value is masked because its pieces are adjacent, and
 *   overlapping matches are merged into one mask.
 * - Nothing is compared character by character, so two different strings with equal hashes (about 2^-53 per
 *   comparison for random text) would mask text that holds no secret: harmless. A value is never missed.
 * - Memory is bounded: values are kept in least-recently-registered order and the oldest go once there are more
 *   than `maxValues` values or `maxPieces` pieces. Registering a value again refreshes it, so a value a
 *   long-lived process keeps using (and therefore keeps reading and registering) stays; one that nothing uses
 *   any more is forgotten after enough newer ones. The defaults hold far more than the caches of a warm Lambda
 *   container (256 values each in the engine and the AWS store).
 * - Every public method catches its own failures: `redact` then returns the whole text masked rather than the
 *   text unmasked, and `add` forgets nothing it registered before.
 */
export const REDACTED = '[REDACTED]';

// Shorter strings would mask ordinary words; generated secrets are far longer than this. Also the length of
// the index key, so no piece can be shorter.
const MIN_SECRET_LENGTH = 6;
/** Longest indexed piece of a form: bounds the work of hashing and the scan window. */
const PIECE = 1024;
/** Text positions scanned per pass (the hash arrays hold CHUNK + PIECE entries). */
const CHUNK = 64 * 1024;
/** A value whose forms need more pieces than this is indexed up to here (its raw and JSON forms come first). */
const MAX_PIECES_PER_VALUE = 4096;
const DEFAULT_MAX_VALUES = 8_192;
const DEFAULT_MAX_PIECES = 131_072;
const MAX_WALK_DEPTH = 32;

const SENSITIVE_EXACT = new Set(['value', 'key', 'verifier', 'authorization', 'secretstring', 'secretbinary', 'credentials']);
const SENSITIVE_SUFFIX = /(password|passwd|secret|token|apikey|privatekey)$/;

/** `password`, `RotationToken`, `api_key`, `SecretString`... but not `secretId` or `tokenCount`. */
export function isSensitiveKey(key: string): boolean {
  const k = key.toLowerCase().replace(/[-_]/g, '');
  return SENSITIVE_EXACT.has(k) || SENSITIVE_SUFFIX.test(k);
}

export type Encoding = 'raw' | 'json' | 'json-twice' | 'base64' | 'base64url' | 'uri' | 'form' | 'sql' | 'sql-backslash' | 'mysql';

export interface EncodedForm {
  encoding: Encoding;
  text: string;
}

const MYSQL_ESCAPES: Record<string, string> = { '\0': '\\0', '\b': '\\b', '\t': '\\t', '\n': '\\n', '\r': '\\r', '\x1a': '\\Z', '"': '\\"', "'": "\\'", '\\': '\\\\' };

/**
 * The forms of `value` our own code (or a driver it calls) can write: JSON-escaped (log lines; twice for a JSON
 * string inside a JSON string), base64 and base64url (key files, SCRAM, HTTP Basic) at each of the three byte
 * alignments it can start at, cut to the characters that depend on the value alone, percent-encoded
 * (encodeURIComponent in the http provider's URLs, URLSearchParams in Datadog's), and SQL string literals
 * (quotes doubled; PostgreSQL's escapeLiteral also doubles backslashes; mysql.escape backslash-escapes).
 * Distinct forms only, raw first; forms shorter than a secret can be are left out.
 */
export function encodedForms(value: string): EncodedForm[] {
  const forms: EncodedForm[] = [];
  const seen = new Set<string>();
  const push = (encoding: Encoding, make: () => string): void => {
    let text: string;
    try {
      text = make();
    } catch {
      return; // e.g. encodeURIComponent of a lone surrogate: that form cannot be produced.
    }
    if (text.length < MIN_SECRET_LENGTH || seen.has(text)) return;
    seen.add(text);
    forms.push({ encoding, text });
  };
  push('raw', () => value);
  const json = JSON.stringify(value).slice(1, -1);
  push('json', () => json);
  push('json-twice', () => JSON.stringify(json).slice(1, -1));
  push('uri', () => encodeURIComponent(value));
  push('form', () => new URLSearchParams({ v: value }).toString().slice(2));
  push('sql', () => value.replaceAll("'", "''"));
  push('sql-backslash', () => value.replaceAll("'", "''").replaceAll('\\', '\\\\'));
  push('mysql', () => [...value].map((c) => MYSQL_ESCAPES[c] ?? c).join(''));
  const bytes = Buffer.from(value, 'utf8');
  for (let shift = 0; shift < 3; shift++) {
    const encoded = Buffer.concat([Buffer.alloc(shift), bytes]).toString('base64');
    // Characters before `from` mix in the bytes before the value; from `to` on, the bytes after it.
    const from = Math.ceil((shift * 8) / 6);
    const to = Math.floor(((shift + bytes.length) * 8) / 6);
    const base64 = encoded.slice(from, to);
    push('base64', () => base64);
    push('base64url', () => base64.replaceAll('+', '-').replaceAll('/', '_'));
  }
  return forms;
}

// Two polynomial hashes modulo 2^32 with random odd bases (Math.imul keeps them integer arithmetic, which is
// what makes the scan fast). Strings built to collide (Thue-Morse) would only be over-masked.
const MIN_FILTER_BITS = 10;
const MAX_FILTER_BITS = 22;

interface Piece {
  /** Hash of the first MIN_SECRET_LENGTH characters: the bucket. */
  bucket: number;
  length: number;
  /** Both hashes of the whole piece, folded into one exact number (32 + 21 bits). */
  key: number;
}

/** Pieces of the same length in one bucket: one text hash checks them all. */
interface Group {
  length: number;
  /** Piece key -> how many registered values have it. */
  keys: Map<number, number>;
}

const fold = (h1: number, h2: number): number => (h1 >>> 0) * 0x200000 + ((h2 >>> 0) & 0x1fffff);

/** Maps text positions to the registered pieces that start there. */
class PieceIndex {
  readonly #b1: number;
  readonly #b2: number;
  readonly #pow1: Int32Array;
  readonly #pow2: Int32Array;
  readonly #buckets = new Map<number, Group[]>();
  /**
   * How many buckets share each low-bits slot: most positions are rejected here without a Map look-up. It grows
   * with the number of buckets (at most 4 MiB), so a redactor with few values stays small.
   */
  #filter = new Uint8Array(1 << MIN_FILTER_BITS);
  #size = 0;

  constructor() {
    // Random bases: nobody can build colliding text in advance.
    this.#b1 = (Math.floor(Math.random() * 0x7fffffff) | 1) >>> 0;
    this.#b2 = (Math.floor(Math.random() * 0x7fffffff) | 1) >>> 0;
    this.#pow1 = new Int32Array(PIECE + 1);
    this.#pow2 = new Int32Array(PIECE + 1);
    this.#pow1[0] = 1;
    this.#pow2[0] = 1;
    for (let i = 1; i <= PIECE; i++) {
      this.#pow1[i] = Math.imul(this.#pow1[i - 1] ?? 0, this.#b1);
      this.#pow2[i] = Math.imul(this.#pow2[i - 1] ?? 0, this.#b2);
    }
  }

  get size(): number {
    return this.#size;
  }

  /** The piece `text[from, to)` (at least MIN_SECRET_LENGTH characters; at most PIECE to be indexed). */
  piece(text: string, from: number, to: number): Piece {
    let h1 = 0;
    let h2 = 0;
    let bucket = 0;
    for (let i = from; i < to; i++) {
      const c = text.charCodeAt(i);
      h1 = (Math.imul(h1, this.#b1) + c) | 0;
      h2 = (Math.imul(h2, this.#b2) + c) | 0;
      // 30 bits, so Map keys stay small integers (fast); the bits dropped only widen a bucket.
      if (i - from === MIN_SECRET_LENGTH - 1) bucket = h1 >>> 2;
    }
    return { bucket, length: to - from, key: fold(h1, h2) };
  }

  add(piece: Piece): void {
    let groups = this.#buckets.get(piece.bucket);
    if (groups === undefined) {
      groups = [];
      this.#buckets.set(piece.bucket, groups);
      if (this.#buckets.size > this.#filter.length / 4 && this.#filter.length < 1 << MAX_FILTER_BITS) this.#rebuildFilter(this.#filter.length * 4);
      else this.#count(piece.bucket, 1);
    }
    let group = groups.find((g) => g.length === piece.length);
    if (group === undefined) {
      group = { length: piece.length, keys: new Map() };
      groups.push(group);
      // Longest first: at one position the longest match is the one that matters.
      groups.sort((a, b) => b.length - a.length);
    }
    group.keys.set(piece.key, (group.keys.get(piece.key) ?? 0) + 1);
    this.#size += 1;
  }

  remove(piece: Piece): void {
    const groups = this.#buckets.get(piece.bucket);
    const at = groups?.findIndex((g) => g.length === piece.length) ?? -1;
    const group = groups?.[at];
    const count = group?.keys.get(piece.key);
    if (groups === undefined || group === undefined || count === undefined) return;
    if (count > 1) group.keys.set(piece.key, count - 1);
    else group.keys.delete(piece.key);
    if (group.keys.size === 0) groups.splice(at, 1);
    if (groups.length === 0) {
      this.#buckets.delete(piece.bucket);
      this.#count(piece.bucket, -1);
    }
    this.#size -= 1;
  }

  #count(bucket: number, by: 1 | -1): void {
    const slot = bucket & (this.#filter.length - 1);
    const now = this.#filter[slot] ?? 0;
    // A saturated counter stays set: a slot that says "maybe" when it could say "no" only costs a look-up.
    if (now !== 0xff) this.#filter[slot] = Math.max(0, now + by);
  }

  #rebuildFilter(slots: number): void {
    this.#filter = new Uint8Array(Math.min(slots, 1 << MAX_FILTER_BITS));
    for (const bucket of this.#buckets.keys()) this.#count(bucket, 1);
  }

  /**
   * Calls `found(start, end)` for the longest registered piece at each position of `text` that has one, in
   * order of `start`.
   */
  scan(text: string, found: (start: number, end: number) => void): void {
    if (this.#buckets.size === 0 || text.length < MIN_SECRET_LENGTH) return;
    const n = text.length;
    const window = Math.min(n, CHUNK + PIECE);
    const h1 = new Int32Array(window + 1);
    const h2 = new Int32Array(window + 1);
    const b1 = this.#b1;
    const b2 = this.#b2;
    const pow1 = this.#pow1;
    const pow2 = this.#pow2;
    const filter = this.#filter;
    const mask = filter.length - 1;
    const prefix1 = pow1[MIN_SECRET_LENGTH] ?? 0;
    for (let start = 0; start + MIN_SECRET_LENGTH <= n; start += CHUNK) {
      const end = Math.min(n, start + CHUNK + PIECE);
      for (let i = start; i < end; i++) {
        const k = i - start;
        h1[k + 1] = Math.imul(h1[k] ?? 0, b1) + text.charCodeAt(i);
        h2[k + 1] = Math.imul(h2[k] ?? 0, b2) + text.charCodeAt(i);
      }
      const last = Math.min(start + CHUNK, end - MIN_SECRET_LENGTH + 1);
      for (let i = start; i < last; i++) {
        const k = i - start;
        const a1 = h1[k] ?? 0;
        const bucket = ((h1[k + MIN_SECRET_LENGTH] ?? 0) - Math.imul(a1, prefix1)) >>> 2;
        if (filter[bucket & mask] === 0) continue;
        const groups = this.#buckets.get(bucket);
        if (groups === undefined) continue;
        const a2 = h2[k] ?? 0;
        for (const group of groups) {
          const len = group.length;
          if (k + len > end - start) continue;
          const s1 = (h1[k + len] ?? 0) - Math.imul(a1, pow1[len] ?? 0);
          const s2 = (h2[k + len] ?? 0) - Math.imul(a2, pow2[len] ?? 0);
          if (group.keys.has(fold(s1, s2))) {
            found(i, i + len);
            break;
          }
        }
      }
    }
  }
}

/** A callback the leak canary sets (test/support) to hear every value a Redactor learns; unset in production. */
const LEARN = Symbol.for('rotator.redactor.learn');

function announce(value: string): void {
  try {
    const listener = (globalThis as Record<symbol, unknown>)[LEARN];
    if (typeof listener === 'function') (listener as (value: string) => void)(value);
  } catch {
    // A listener's failure is not the redactor's.
  }
}

/** Sets (or, with undefined, clears) the listener that hears every value any Redactor of this process learns. */
export function setLearnListener(listener: ((value: string) => void) | undefined): void {
  (globalThis as Record<symbol, unknown>)[LEARN] = listener;
}

/** Every Redactor alive in this process, for the crash handlers (which have no logger at hand). */
const LIVE = new Set<WeakRef<Redactor>>();

/** Masks `text` with every Redactor of the process that is still alive. Never throws. */
export function redactWithEvery(text: string): string {
  let out = text;
  for (const ref of LIVE) {
    const redactor = ref.deref();
    if (redactor === undefined) LIVE.delete(ref);
    else out = redactor.redact(out);
  }
  return out;
}

export interface RedactorOptions {
  /** How many values are kept before the least recently registered is forgotten. */
  maxValues?: number;
  /** How many indexed pieces (about one per KiB of each encoded form) are kept, likewise. */
  maxPieces?: number;
  /** The forms registered for each value (default: encodedForms). The leak canary passes its own. */
  forms?: (value: string) => EncodedForm[];
  /** Tell the learn listener about new values (default true; the canary's own index does not). */
  announce?: boolean;
}

export class Redactor {
  readonly #index = new PieceIndex();
  /** Value identity (length and hashes) -> its pieces; Map order is registration order, oldest first. */
  readonly #values = new Map<string, Piece[]>();
  readonly #maxValues: number;
  readonly #maxPieces: number;
  readonly #forms: (value: string) => EncodedForm[];
  readonly #announce: boolean;

  constructor(options: RedactorOptions = {}) {
    this.#maxValues = Math.max(1, options.maxValues ?? DEFAULT_MAX_VALUES);
    this.#maxPieces = Math.max(1, options.maxPieces ?? DEFAULT_MAX_PIECES);
    this.#forms = options.forms ?? encodedForms;
    this.#announce = options.announce ?? true;
    // A process that makes many short-lived Redactors (one per request) would otherwise grow the set forever.
    if (LIVE.size >= 256) for (const ref of LIVE) if (ref.deref() === undefined) LIVE.delete(ref);
    LIVE.add(new WeakRef(this));
  }

  /** How many values are registered (for tests and the benchmark). */
  get size(): number {
    return this.#values.size;
  }

  /** Registers secret strings and their encoded forms. Never throws. */
  add(...values: ReadonlyArray<string | undefined>): void {
    for (const value of values) {
      if (typeof value !== 'string' || value.length < MIN_SECRET_LENGTH) continue;
      try {
        this.#addOne(value);
      } catch {
        // Out of memory, most likely: what was registered stays registered.
      }
    }
  }

  #addOne(value: string): void {
    // The whole value's hashes (the `piece` arithmetic works for any length) name it.
    const id = `${value.length}:${this.#index.piece(value, 0, value.length).key}`;
    const known = this.#values.get(id);
    if (known !== undefined) {
      // Still in use: move it to the young end.
      this.#values.delete(id);
      this.#values.set(id, known);
      return;
    }
    if (this.#announce) announce(value);
    const pieces: Piece[] = [];
    for (const { text } of this.#forms(value)) {
      if (text.length < MIN_SECRET_LENGTH) continue;
      for (const [from, to] of pieceBounds(text.length)) {
        if (pieces.length >= MAX_PIECES_PER_VALUE) break;
        pieces.push(this.#index.piece(text, from, to));
      }
    }
    for (const piece of pieces) this.#index.add(piece);
    this.#values.set(id, pieces);
    this.#evict();
  }

  #evict(): void {
    for (const [id, pieces] of this.#values) {
      if (this.#values.size <= this.#maxValues && this.#index.size <= this.#maxPieces) return;
      // The value just added is the youngest; it is never the one evicted while others remain.
      if (this.#values.size === 1) return;
      this.#values.delete(id);
      for (const piece of pieces) this.#index.remove(piece);
    }
  }

  /** Registers a secret value (usually JSON) and every string inside it under a sensitive key. Never throws. */
  addSecretValue(raw: string): void {
    this.add(raw);
    let parsed: unknown;
    try {
      parsed = JSON.parse(raw);
    } catch {
      return;
    }
    const walk = (node: unknown, key: string, depth: number): void => {
      if (typeof node === 'string') {
        if (isSensitiveKey(key)) this.add(node);
      } else if (node !== null && typeof node === 'object' && depth < MAX_WALK_DEPTH) {
        for (const [k, v] of Object.entries(node)) walk(v, k, depth + 1);
      }
    };
    try {
      walk(parsed, '', 0);
    } catch {
      // JSON.parse gives plain data; nothing here should throw, and a failure must not escape.
    }
  }

  /** `text` with every registered value (in any of its forms) replaced by [REDACTED]. Never throws. */
  redact(text: string): string {
    try {
      if (typeof text !== 'string') return this.redact(String(text));
      if (this.#values.size === 0) return text;
      const spans = this.spans(text);
      if (spans.length === 0) return text;
      let out = '';
      let copied = 0;
      for (const [start, end] of spans) {
        out += text.slice(copied, start) + REDACTED;
        copied = end;
      }
      return out + text.slice(copied);
    } catch {
      // Failing closed: a text we could not check is not printed.
      return REDACTED;
    }
  }

  /** Where registered values are in `text`: [start, end) spans, overlapping and adjacent matches merged, in order. */
  spans(text: string): Array<[number, number]> {
    const spans: Array<[number, number]> = [];
    let last: [number, number] | undefined;
    this.#index.scan(text, (start, end) => {
      if (last !== undefined && start <= last[1]) {
        last[1] = Math.max(last[1], end);
        return;
      }
      last = [start, end];
      spans.push(last);
    });
    return spans;
  }

  /** Copies a structured log record, masking sensitive keys and registered values. Never throws. */
  redactFields(value: unknown, key = ''): unknown {
    return this.#fields(value, key, 0, new Set());
  }

  #fields(value: unknown, key: string, depth: number, seen: Set<object>): unknown {
    try {
      if (typeof value === 'string') return isSensitiveKey(key) ? REDACTED : this.redact(value);
      if (value === null || typeof value !== 'object') return typeof value === 'function' || typeof value === 'symbol' ? undefined : value;
      if (seen.has(value) || depth >= MAX_WALK_DEPTH) return '[Circular or too deep]';
      if (value instanceof Error) return describeError(value, this);
      seen.add(value);
      try {
        if (Array.isArray(value)) return value.map((item: unknown) => this.#fields(item, key, depth + 1, seen));
        const out: Record<string, unknown> = {};
        for (const [k, v] of Object.entries(value)) out[k] = this.#fields(v, k, depth + 1, seen);
        return out;
      } finally {
        seen.delete(value);
      }
    } catch {
      return REDACTED;
    }
  }
}

/** [from, to) of each piece of a form `length` long: PIECE-sized, the last one ending at the end. */
function pieceBounds(length: number): Array<[number, number]> {
  if (length <= PIECE) return [[0, length]];
  const bounds: Array<[number, number]> = [];
  for (let from = 0; from + PIECE < length; from += PIECE) bounds.push([from, from + PIECE]);
  bounds.push([length - PIECE, length]);
  return bounds;
}

const MAX_CAUSE_DEPTH = 8;

/** Reads a property; a throwing getter (or a revoked proxy) reads as undefined. */
function read(object: unknown, key: string): unknown {
  try {
    return (object as Record<string, unknown>)[key];
  } catch {
    return undefined;
  }
}

/**
 * The parts of an error that are safe to log once redacted: never the cause's own fields (a driver may keep
 * the statement text there). Never throws, whatever it is given: getters that throw, cyclic causes, causes or
 * errors that are not Errors.
 */
export function describeError(error: unknown, redactor: Redactor): Record<string, unknown> {
  return describeOne(error, redactor, new Set(), 0);
}

function describeOne(error: unknown, redactor: Redactor, seen: Set<unknown>, depth: number): Record<string, unknown> {
  try {
    if (error === null || (typeof error !== 'object' && typeof error !== 'function')) {
      return { name: 'Error', message: redactor.redact(safeString(error)) };
    }
    seen.add(error);
    const name = read(error, 'name');
    const message = read(error, 'message');
    const out: Record<string, unknown> = {
      name: typeof name === 'string' ? redactor.redact(name) : 'Error',
      message: redactor.redact(typeof message === 'string' ? message : safeString(message ?? '')),
    };
    const code = read(error, 'code');
    const retryable = read(error, 'retryable');
    if (typeof code === 'string') out.code = redactor.redact(code);
    if (typeof retryable === 'boolean') out.retryable = retryable;
    const cause = read(error, 'cause');
    if (cause !== undefined && !seen.has(cause) && depth < MAX_CAUSE_DEPTH) out.cause = describeOne(cause, redactor, seen, depth + 1);
    return out;
  } catch {
    return { name: 'Error', message: REDACTED };
  }
}

/** String(value), or a placeholder when even that throws (a Symbol.toPrimitive that throws, a revoked proxy). */
function safeString(value: unknown): string {
  try {
    return String(value);
  } catch {
    return '[unprintable]';
  }
}
