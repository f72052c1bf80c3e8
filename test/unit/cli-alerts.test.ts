import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { FileStore } from '../../stores/file/index.js';
import { recordOutput, recordSecrets } from '../support/canary.js';
import { runRotator } from '../support/cli.js';

/**
 * ROTATOR_ALERT_WEBHOOK from the command line: `rotate` and `purge` run from cron or a systemd timer post each failure
 * to the webhook (the same {"text"} as the functions), and a bad webhook URL is refused before anything runs.
 */
const HOOK = 'https://hooks.slack.com/services/T111/B222/YYYYYYYYYYYYYYYYYYYYYYYY';
let dir: string;
let env: NodeJS.ProcessEnv;
let posts: Array<{ url: string; body: string }>;
const post = (url: string, body: string): Promise<number> => {
  posts.push({ url, body });
  recordOutput(`${body}\n`);
  return Promise.resolve(200);
};

beforeEach(async () => {
  posts = [];
  recordSecrets(HOOK);
  dir = mkdtempSync(join(tmpdir(), 'rotator-alerts-'));
  const key = randomBytes(32);
  env = { ROTATOR_STORE: join(dir, 'store.json'), ROTATOR_STORE_KEY: key.toString('base64'), ROTATOR_ALERT_WEBHOOK: HOOK };
  const value = JSON.stringify({ engine: 'postgres', host: '127.0.0.1', port: 1, username: 'u', password: 'cli-alert-pw-9f2c-not-real', ssl: false });
  recordSecrets('cli-alert-pw-9f2c-not-real');
  await new FileStore({ path: join(dir, 'store.json'), key }).createSecret('db/app', value, { rotation: { enabled: true } });
});

afterEach(() => {
  rmSync(dir, { recursive: true, force: true });
});

describe('rotator and ROTATOR_ALERT_WEBHOOK', () => {
  it('posts a failed rotation (secret and code, no value) before it exits', async () => {
    const run = await runRotator(env, ['rotate', 'db/app'], '', { post });
    expect(run.code).not.toBe(0);
    expect(posts).toHaveLength(1);
    expect(posts[0]?.url).toBe(HOOK);
    const text = (JSON.parse(posts[0]?.body ?? '{}') as { text: string }).text;
    expect(text).toMatch(/^Rotator on cli: rotation failed: [A-Z_]+ \(secret db\/app\)$/);
    expect(posts[0]?.body).not.toContain('cli-alert-pw');
  });

  it('posts nothing when the command succeeds, and nothing without the variable', async () => {
    expect((await runRotator(env, ['purge', '--dry-run'], '', { post })).code).toBe(0);
    const without = { ...env, ROTATOR_ALERT_WEBHOOK: undefined };
    expect((await runRotator(without, ['rotate', 'db/app'], '', { post })).code).not.toBe(0);
    expect(posts).toEqual([]);
  });

  it('refuses a webhook that is not https before anything runs, without printing it', async () => {
    const run = await runRotator({ ...env, ROTATOR_ALERT_WEBHOOK: 'http://hooks.example.com/secret-token' }, ['rotate', 'db/app'], '', { post });
    expect(run.code).toBe(2);
    expect(run.stderr).toMatch(/INVALID_INPUT: ROTATOR_ALERT_WEBHOOK must be an https URL/);
    expect(run.stderr).not.toContain('secret-token');
    expect(posts).toEqual([]);
  });
});
