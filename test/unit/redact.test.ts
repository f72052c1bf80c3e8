import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { REDACTED, Redactor, describeError, encodedForms, setLearnListener } from '../../shared/redact.js';
import { registerLearnedValues } from '../support/canary.js';
import { createLogger } from '../../shared/logger.js';
import { RotatorError } from '../../shared/errors.js';

describe('Redactor', () => {
  it('masks registered values, their JSON-escaped form and secrets inside a secret JSON', () => {
    const r = new Redactor();
    r.addSecretValue(JSON.stringify({ engine: 'postgres', username: 'app', password: 'p"a\\ss-word-1', apiKey: 'k-123456789' }));
    expect(r.redact('login with p"a\\ss-word-1 failed')).toBe(`login with ${REDACTED} failed`);
    expect(r.redact(JSON.stringify({ msg: 'p"a\\ss-word-1' }))).not.toContain('ss-word-1');
    expect(r.redact('key k-123456789')).toBe(`key ${REDACTED}`);
    // Non-secret fields stay readable.
    expect(r.redact('user app on postgres')).toBe('user app on postgres');
  });

  it('masks the longest secret first and ignores strings too short to be secrets', () => {
    const r = new Redactor();
    r.add('abcdef', 'abcdefghijkl', 'abc');
    expect(r.redact('abcdefghijkl abcdef abc')).toBe(`${REDACTED} ${REDACTED} abc`);
  });

  it('masks fields by key name even when the value was never registered', () => {
    const r = new Redactor();
    expect(r.redactFields({ password: 'x', nested: { RotationToken: 't', value: 'v', apiKey: 'a' }, user: 'u' })).toEqual({
      password: REDACTED,
      nested: { RotationToken: REDACTED, value: REDACTED, apiKey: REDACTED },
      user: 'u',
    });
  });
});

// What an attacker or a careless user can register: values as large as a store accepts, very many values, and
// values full of regular-expression syntax. Redaction must neither throw nor print them (docs/architecture.md, invariant 10).
describe('Redactor under load', () => {
  // Thousands of throwaway values would flood the leak canary's secrets file; none of them is printed anywhere.
  beforeAll(() => setLearnListener(undefined));
  afterAll(() => registerLearnedValues());

  const big = (): string => randomBytes(48 * 1024).toString('base64'); // 64 KiB of text

  it('masks 64 KiB values without throwing, and never prints them in what it returns', () => {
    const r = new Redactor();
    const values = [big(), big(), big()];
    expect(() => r.add(...values)).not.toThrow();
    const line = `values: ${values.join(' and ')} end`;
    let out = '';
    expect(() => (out = r.redact(line))).not.toThrow();
    expect(out).toBe(`values: ${REDACTED} and ${REDACTED} and ${REDACTED} end`);
    // A piece of one (an error that quotes a few KiB of it) is masked too.
    expect(r.redact(`near ${values[0]?.slice(0, 5000) ?? ''}`)).not.toContain(values[0]?.slice(1024, 2048));
  });

  it('masks every one of thousands of values, including values made of regular-expression syntax', () => {
    const r = new Redactor();
    const meta = ['.*+?^${}()|[]\\', '(?<x>a)\\1{9999}', '[^]*$|^', '\\u{1F600}\\k<x>'];
    const values = [...meta, ...Array.from({ length: 5000 }, (_, i) => `value-${i}-${randomBytes(9).toString('base64url')}`)];
    r.add(...values);
    expect(r.size).toBe(values.length);
    const sample = [...meta, values[100] ?? '', values[4999] ?? ''];
    expect(r.redact(sample.join(' | '))).toBe(sample.map(() => REDACTED).join(' | '));
  });

  it('masks the encoded forms our code writes: JSON, base64, base64url, URL and form encoding, SQL literals', () => {
    const value = "pä'ss\\wo\"rd+/=?&é-1";
    const r = new Redactor();
    r.add(value);
    const base64 = Buffer.from(value).toString('base64');
    const written = [
      JSON.stringify(value),
      JSON.stringify(JSON.stringify(value)),
      base64,
      Buffer.from(value).toString('base64url'),
      Buffer.from(`user:${value}`).toString('base64'), // HTTP Basic: the value starts mid-triplet
      encodeURIComponent(value),
      new URLSearchParams({ key: value }).toString(),
      `'${value.replaceAll("'", "''")}'`,
    ];
    for (const text of written) {
      const out = r.redact(`sent ${text} to the server`);
      expect(out, text).toContain(REDACTED);
      for (const form of encodedForms(value)) expect(out).not.toContain(form.text);
    }
    expect(base64.length).toBeGreaterThan(0);
  });

  it('masks the whole of two values that overlap in the text', () => {
    const r = new Redactor();
    r.add('123456xx', 'xxabcdef');
    expect(r.redact('a 123456xxabcdef b')).toBe(`a ${REDACTED} b`);
  });

  it('forgets the least recently registered values beyond its bound; registering again keeps a value', () => {
    const r = new Redactor({ maxValues: 3 });
    r.add('first-value', 'second-value', 'third-value');
    r.add('first-value'); // still in use
    r.add('fourth-value');
    expect(r.size).toBe(3);
    expect(r.redact('first-value second-value fourth-value')).toBe(`${REDACTED} second-value ${REDACTED}`);
  });

  it('tells the learn listener about each new value once', () => {
    const heard: string[] = [];
    setLearnListener((v) => heard.push(v));
    try {
      const r = new Redactor();
      r.add('learned-value-1', 'short', 'learned-value-1');
      r.addSecretValue(JSON.stringify({ username: 'app', password: 'learned-password-2' }));
    } finally {
      setLearnListener(undefined);
    }
    expect(heard).toEqual(['learned-value-1', JSON.stringify({ username: 'app', password: 'learned-password-2' }), 'learned-password-2']);
  });
});

describe('describeError and redactFields never throw', () => {
  const r = new Redactor();
  r.add('leaky-secret-value');

  it('survive throwing getters, cyclic causes, non-Error causes and revoked proxies', () => {
    const hostile = new Error('outer leaky-secret-value');
    Object.defineProperty(hostile, 'code', { get: () => { throw new Error('getter leaky-secret-value'); } });
    const cyclic = new Error('cyclic');
    (cyclic as { cause?: unknown }).cause = cyclic;
    const { proxy, revoke } = Proxy.revocable({}, {});
    revoke();
    const causes: unknown[] = [cyclic, 'string cause leaky-secret-value', 42, null, proxy, { message: 'object leaky-secret-value' }];
    for (const cause of causes) {
      const error = new Error('top', { cause });
      let described: Record<string, unknown> = {};
      expect(() => (described = describeError(error, r))).not.toThrow();
      expect(JSON.stringify(described)).not.toContain('leaky-secret-value');
    }
    expect(describeError(hostile, r)).toEqual({ name: 'Error', message: `outer ${REDACTED}` });
    expect(describeError(proxy, r)).toMatchObject({ name: 'Error' });
    expect(describeError('thrown string leaky-secret-value', r)).toEqual({ name: 'Error', message: `thrown string ${REDACTED}` });
  });

  it('redactFields copes with cycles and hostile getters', () => {
    const record: Record<string, unknown> = { note: 'leaky-secret-value' };
    record.self = record;
    Object.defineProperty(record, 'bad', { enumerable: true, get: () => { throw new Error('no'); } });
    let out: unknown;
    expect(() => (out = r.redactFields(record))).not.toThrow();
    expect(JSON.stringify(out)).not.toContain('leaky-secret-value');
  });
});

describe('createLogger', () => {
  it('writes JSON lines with redacted messages, fields and errors', () => {
    const lines: string[] = [];
    const logger = createLogger({ write: (l) => lines.push(l), level: 'debug' });
    logger.redactor.add('hunter2-secret');
    const child = logger.child({ secretId: 'db/app' });
    child.info('set password hunter2-secret', { error: new RotatorError('TARGET_ERROR', 'bad hunter2-secret', { cause: new Error('near hunter2-secret') }) });
    expect(lines).toHaveLength(1);
    const record = JSON.parse(lines[0] ?? '') as Record<string, unknown>;
    expect(record).toMatchObject({ level: 'info', secretId: 'db/app', message: `set password ${REDACTED}` });
    expect(lines[0]).not.toContain('hunter2-secret');
    expect(record.error).toMatchObject({ code: 'TARGET_ERROR', cause: { message: `near ${REDACTED}` } });
  });

  it('never throws on a field JSON cannot hold', () => {
    const lines: string[] = [];
    const logger = createLogger({ write: (l) => lines.push(l) });
    logger.redactor.add('logged-secret-1');
    expect(() => logger.info('big logged-secret-1', { n: 10n })).not.toThrow();
    expect(lines[0]).toContain(`big ${REDACTED}`);
  });

  it('drops records below its level', () => {
    const lines: string[] = [];
    const logger = createLogger({ write: (l) => lines.push(l), level: 'warn' });
    logger.info('quiet');
    logger.warn('loud');
    expect(lines.map((l) => (JSON.parse(l) as { message: string }).message)).toEqual(['loud']);
  });
});
