import { getFunction, getTestServer } from '@google-cloud/functions-framework/testing';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FUNCTIONS } from '../../functions/gcp/register.js';
import { recordOutput } from '../support/canary.js';

/**
 * The module the Functions Framework loads on Cloud Run (functions/gcp/index.ts): importing it registers the four
 * entry points infra/gcp deploys, and makes no call and reads no setting. Its first invocation builds the clients
 * from the settings; with a setting missing, each function fails with the ERROR line the alert counts and, over HTTP,
 * a 500 naming the code, never reaching Google (the test would hang or fail on a real endpoint otherwise).
 */
const saved = { ...process.env };
let lines = '';
const write = process.stdout.write.bind(process.stdout);

beforeAll(async () => {
  delete process.env.ROTATOR_PROJECT;
  delete process.env.K_SERVICE;
  process.stdout.write = ((chunk: string | Uint8Array) => {
    lines += String(chunk);
    recordOutput(String(chunk));
    return true;
  });
  await import('../../functions/gcp/index.js');
  process.stdout.write = write;
});

afterAll(() => {
  process.stdout.write = write;
  process.env = saved;
});

describe('functions/gcp/index.ts', () => {
  it('registers the four entry points infra/gcp deploys, and nothing runs at import', () => {
    for (const name of Object.values(FUNCTIONS)) expect(getFunction(name), name).toBeDefined();
    expect(lines).toBe('');
  });

  it('an invocation with a setting missing answers 500 with the code and logs the failure at ERROR', async () => {
    const server = getTestServer(FUNCTIONS.rotate);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    process.stdout.write = ((chunk: string | Uint8Array) => {
      lines += String(chunk);
      recordOutput(String(chunk));
      return true;
    });
    try {
      const res = await fetch(`http://127.0.0.1:${String((server.address() as AddressInfo).port)}/`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: '{"due":true}',
      });
      expect(res.status).toBe(500);
      expect(await res.json()).toMatchObject({ error: { code: 'INVALID_INPUT' } });
    } finally {
      process.stdout.write = write;
      await new Promise((resolve) => server.close(resolve));
    }
    const entry = JSON.parse(lines.trim().split('\n').at(-1) ?? '{}') as { severity?: string; message?: string };
    expect(entry.severity).toBe('ERROR');
    expect(entry.message).toMatch(/^rotation failed: INVALID_INPUT: the function could not start: .*ROTATOR_PROJECT/);
  });
});
