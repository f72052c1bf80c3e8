/**
 * Secret values must never reach a log line, an error message or a metric. The Redactor remembers every
 * secret the process has seen (values read from a store, generated passwords, verifiers) and masks them in
 * any text before it is written. Field names that usually hold secrets are masked too, so a value that was
 * never registered is still hidden when it travels under such a key.
 */
export const REDACTED = '[REDACTED]';

// Shorter strings would mask ordinary words; generated secrets are far longer than this.
const MIN_SECRET_LENGTH = 6;

const SENSITIVE_EXACT = new Set(['value', 'key', 'verifier', 'authorization', 'secretstring', 'secretbinary', 'credentials']);
const SENSITIVE_SUFFIX = /(password|passwd|secret|token|apikey|privatekey)$/;

/** `password`, `RotationToken`, `api_key`, `SecretString`... but not `secretId` or `tokenCount`. */
export function isSensitiveKey(key: string): boolean {
  const k = key.toLowerCase().replace(/[-_]/g, '');
  return SENSITIVE_EXACT.has(k) || SENSITIVE_SUFFIX.test(k);
}

export class Redactor {
  readonly #secrets = new Set<string>();
  #pattern: RegExp | undefined;

  /** Registers secret strings; each is also masked in its JSON-escaped form. */
  add(...values: ReadonlyArray<string | undefined>): void {
    for (const value of values) {
      if (typeof value !== 'string' || value.length < MIN_SECRET_LENGTH) continue;
      for (const form of [value, JSON.stringify(value).slice(1, -1)]) {
        if (!this.#secrets.has(form)) {
          this.#secrets.add(form);
          this.#pattern = undefined;
        }
      }
    }
  }

  /** Registers a secret value (usually JSON) and every string inside it under a sensitive key. */
  addSecretValue(raw: string): void {
    this.add(raw);
    let parsed: unknown;
    try {
      parsed = JSON.parse(raw);
    } catch {
      return;
    }
    const walk = (node: unknown, key: string): void => {
      if (typeof node === 'string') {
        if (isSensitiveKey(key)) this.add(node);
      } else if (node !== null && typeof node === 'object') {
        for (const [k, v] of Object.entries(node)) walk(v, k);
      }
    };
    walk(parsed, '');
  }

  redact(text: string): string {
    if (this.#secrets.size === 0) return text;
    this.#pattern ??= new RegExp(
      // Longest first, so a secret that contains another is masked whole.
      [...this.#secrets]
        .sort((a, b) => b.length - a.length)
        .map((s) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'))
        .join('|'),
      'g',
    );
    return text.replace(this.#pattern, REDACTED);
  }

  /** Copies a structured log record, masking sensitive keys and registered values. */
  redactFields(value: unknown, key = ''): unknown {
    if (typeof value === 'string') return isSensitiveKey(key) ? REDACTED : this.redact(value);
    if (Array.isArray(value)) return value.map((item) => this.redactFields(item, key));
    if (value instanceof Error) return describeError(value, this);
    if (value !== null && typeof value === 'object') {
      const out: Record<string, unknown> = {};
      for (const [k, v] of Object.entries(value)) out[k] = this.redactFields(v, k);
      return out;
    }
    return value;
  }
}

/** The parts of an error that are safe to log once redacted: never the cause's own fields (a driver may keep
 * the statement text there). */
export function describeError(error: Error, redactor: Redactor): Record<string, unknown> {
  const out: Record<string, unknown> = { name: error.name, message: redactor.redact(error.message) };
  const { code, retryable } = error as { code?: unknown; retryable?: unknown };
  if (typeof code === 'string') out.code = code;
  if (typeof retryable === 'boolean') out.retryable = retryable;
  if (error.cause instanceof Error) out.cause = describeError(error.cause, redactor);
  return out;
}
