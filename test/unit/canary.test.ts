import { describe, expect, it } from 'vitest';
import { findLeaks } from '../support/canary.js';

// The canary guards every other test, so it gets a test of its own: a planted leak must be found.
describe('findLeaks', () => {
  const outputs = new Map([
    ['output-1.log', 'plain line\n{"msg":"p\\"w\\\\d-secret"}\n'],
    ['output-2.log', 'token tok_0123456789 in the clear\n'],
  ]);

  it('finds a secret printed raw or JSON-escaped, and says where', () => {
    expect(findLeaks(['tok_0123456789'], outputs)).toEqual([{ file: 'output-2.log', secretLength: 14 }]);
    expect(findLeaks(['p"w\\d-secret'], outputs)).toEqual([{ file: 'output-1.log', secretLength: 12 }]);
  });

  it('reports nothing for secrets that were not printed', () => {
    expect(findLeaks(['never-printed-value'], outputs)).toEqual([]);
  });
});
