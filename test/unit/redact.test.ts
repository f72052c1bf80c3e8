import { describe, expect, it } from 'vitest';
import { REDACTED, Redactor } from '../../shared/redact.js';
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

  it('drops records below its level', () => {
    const lines: string[] = [];
    const logger = createLogger({ write: (l) => lines.push(l), level: 'warn' });
    logger.info('quiet');
    logger.warn('loud');
    expect(lines.map((l) => (JSON.parse(l) as { message: string }).message)).toEqual(['loud']);
  });
});
