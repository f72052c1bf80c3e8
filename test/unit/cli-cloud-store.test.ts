import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { EXIT } from '../../cli/exit-codes.js';
import { runCli } from '../../cli/program.js';
import { canUpdateSchedule, parseStoreLocation } from '../../cli/stores.js';
import { RotatorError } from '../../shared/errors.js';
import type { SecretStore } from '../../shared/store.js';
import { FileStore } from '../../stores/file/index.js';
import { recordOutput, recordSecrets } from '../support/canary.js';
import { runRotator } from '../support/cli.js';

/**
 * `--store` beyond the file store: the URL forms and their hostile variants, the refusal of the file store's own
 * commands on a cloud store (naming the cloud's tool, before anything is read or sent), and that no cloud SDK is
 * loaded by the file store's commands. No network: building the cloud clients makes no call, and a refused command
 * makes none.
 */

async function refusal(raw: string, source?: string): Promise<RotatorError> {
  try {
    await parseStoreLocation(raw, source);
  } catch (error) {
    if (error instanceof RotatorError) return error;
    throw error;
  }
  throw new Error(`expected ${JSON.stringify(raw)} to be refused`);
}

describe('parseStoreLocation', () => {
  it('reads a file path, aws://<region>, azure://<vault> or its host, and gcp://<project>', async () => {
    expect(await parseStoreLocation('/var/lib/rotator/store.json')).toEqual({ kind: 'file', path: '/var/lib/rotator/store.json' });
    expect(await parseStoreLocation('store.json')).toEqual({ kind: 'file', path: 'store.json' });
    expect(await parseStoreLocation('./odd://name')).toEqual({ kind: 'file', path: './odd://name' });
    expect(await parseStoreLocation('aws://us-east-1')).toEqual({ kind: 'aws', region: 'us-east-1' });
    expect(await parseStoreLocation('AWS://eu-central-2')).toEqual({ kind: 'aws', region: 'eu-central-2' });
    for (const region of ['us-gov-west-1', 'cn-north-1', 'us-isob-east-1', 'ap-southeast-3', 'il-central-1']) {
      expect(await parseStoreLocation(`aws://${region}`)).toEqual({ kind: 'aws', region });
    }
    expect(await parseStoreLocation('azure://kv-rotated')).toEqual({ kind: 'azure', vaultUrl: 'https://kv-rotated.vault.azure.net', vaultName: 'kv-rotated' });
    expect(await parseStoreLocation('azure://KV-Rotated.vault.azure.cn')).toEqual({ kind: 'azure', vaultUrl: 'https://kv-rotated.vault.azure.cn', vaultName: 'kv-rotated' });
    expect(await parseStoreLocation('gcp://acme-prod-1')).toEqual({ kind: 'gcp', projectId: 'acme-prod-1' });
  });

  it.each([
    ['aws:// with a path', 'aws://us-east-1/secrets'],
    ['aws:// with a trailing slash', 'aws://us-east-1/'],
    ['aws:// with userinfo', 'aws://AKIDEXAMPLE:wJalrXUtnFEMI-not-a-key@us-east-1'],
    ['aws:// with a port', 'aws://us-east-1:443'],
    ['aws:// with a query', 'aws://us-east-1?endpoint=http://evil.example.com'],
    ['aws:// upper-case region', 'aws://US-EAST-1'],
    ['aws:// not a region', 'aws://evil.example.com'],
    ['aws:// empty', 'aws://'],
    ['aws:// traversal', 'aws://../../etc/passwd'],
    ['azure:// outside Key Vault\'s DNS suffixes', 'azure://evil.example.com'],
    ['azure:// a Key Vault suffix inside another host', 'azure://kv.vault.azure.net.evil.example.com'],
    ['azure:// with userinfo', 'azure://evil.example.com@kv-rotated.vault.azure.net'],
    ['azure:// with a port', 'azure://kv-rotated.vault.azure.net:8443'],
    ['azure:// with a path', 'azure://kv-rotated/secrets/db'],
    ['azure:// a vault name too short', 'azure://kv'],
    ['azure:// a vault name with a double dash', 'azure://kv--rotated'],
    ['azure:// percent-encoding', 'azure://kv%2drotated'],
    ['gcp:// upper case', 'gcp://Acme-Prod'],
    ['gcp:// too short', 'gcp://acme'],
    ['gcp:// with a path', 'gcp://acme-prod/secrets/db'],
    ['gcp:// a project number', 'gcp://123456789012'],
    ['file://', 'file:///var/lib/rotator/store.json'],
    ['another scheme', 'https://kv-rotated.vault.azure.net'],
    ['s3://', 's3://bucket/store.json'],
  ])('refuses %s with INVALID_INPUT, never echoing what was given', async (_what, raw) => {
    const error = await refusal(raw);
    expect(error.code).toBe('INVALID_INPUT');
    // The message names the rule; it never quotes the input's tail (a mistyped URL may carry a credential).
    expect(error.message).not.toContain('wJalrXUtnFEMI');
    expect(error.message).not.toContain('evil.example.com@');
    expect(error.message).not.toContain('/etc/passwd');
  });

  it.each([
    ['a newline', 'aws://us-east-1\n'],
    ['a CR in a path', '/tmp/store.json\rrotator: forged'],
    ['a NUL', 'gcp://acme-prod\u0000'],
    ['a bidi override', 'azure://kv-rotated\u202e'],
    ['an escape in a file path', '/tmp/\u001b[31mstore.json'],
    ['a zero-width space', 'aws://us-east\u200b-1'],
  ])('refuses %s anywhere, file paths included', async (_what, raw) => {
    const error = await refusal(raw, 'ROTATOR_STORE');
    expect(error.code).toBe('INVALID_INPUT');
    expect(error.message).toMatch(/^ROTATOR_STORE must not contain control characters/);
  });

  it('takes a location of 4,096 characters and refuses one more, and an empty one', async () => {
    const longest = '/' + 'a'.repeat(4_095);
    expect(await parseStoreLocation(longest)).toEqual({ kind: 'file', path: longest });
    expect((await refusal(longest + 'a')).message).toMatch(/must be 1 to 4096 characters/);
    expect((await refusal('')).code).toBe('INVALID_INPUT');
    expect((await refusal('aws://' + 'a'.repeat(5_000))).code).toBe('INVALID_INPUT');
  });
});

describe('file-store commands on a cloud store', () => {
  const value = JSON.stringify({ engine: 'postgres', host: 'db.internal', username: 'app', password: 'cloud-refusal-not-a-real-password' });
  recordSecrets('cloud-refusal-not-a-real-password');

  it.each([
    ['aws://us-east-1', ['secrets', 'put', 'app-db'], /^rotator: INVALID_INPUT: `rotator secrets put` works on the file store only; on AWS Secrets Manager use: aws secretsmanager put-secret-value --region us-east-1 --secret-id app-db /],
    ['aws://us-east-1', ['secrets', 'delete', 'app-db', '--yes'], /on AWS Secrets Manager use: aws secretsmanager delete-secret --region us-east-1 --secret-id app-db --recovery-window-in-days 30/],
    ['aws://us-east-1', ['secrets', 'rotation', 'app-db', '--enable'], /on AWS Secrets Manager use: aws secretsmanager rotate-secret --region us-east-1 --secret-id app-db /],
    ['azure://kv-rotated', ['secrets', 'put', 'app-db'], /on Azure Key Vault use: az keyvault secret set --vault-name kv-rotated --name app-db --file value\.json/],
    ['azure://kv-rotated', ['secrets', 'delete', 'app-db'], /on Azure Key Vault use: az keyvault secret delete --vault-name kv-rotated --name app-db/],
    ['azure://kv-rotated', ['secrets', 'rotation', 'app-db', '--strategy', 'alternating-users'], /on Azure Key Vault use: az keyvault secret set-attributes --vault-name kv-rotated --name app-db --tags rotator-enabled=true/],
    ['gcp://acme-prod', ['secrets', 'put', 'app-db'], /on Google Secret Manager use: gcloud secrets versions add app-db --project acme-prod --data-file=value\.json/],
    ['gcp://acme-prod', ['secrets', 'delete', 'app-db', '--yes'], /on Google Secret Manager use: gcloud secrets delete app-db --project acme-prod/],
    ['gcp://acme-prod', ['secrets', 'rotation', 'app-db', '--disable'], /on Google Secret Manager use: gcloud secrets update app-db --project acme-prod --update-labels=rotator-enabled=true/],
  ])('%s: %j is refused (exit 2), naming the cloud\'s own command, before any value is read', async (store, args, message) => {
    let reads = 0;
    let stdout = '';
    let stderr = '';
    const code = await runCli(['--store', store, ...args], {
      env: {},
      stdout: (text) => (stdout += text),
      stderr: (text) => (stderr += text),
      readStdin: () => {
        reads += 1;
        return Promise.resolve(value);
      },
    });
    recordOutput(stdout + stderr);
    expect(code).toBe(EXIT.USAGE);
    expect(stdout).toBe('');
    expect(stderr).toMatch(message);
    expect(reads).toBe(0);
    // --json reports the same refusal as JSON on stdout.
    const json = await runRotator({}, ['--store', store, ...args, '--json'], value);
    expect(json.code).toBe(EXIT.USAGE);
    expect(JSON.parse(json.stdout)).toMatchObject({ ok: false, error: { code: 'INVALID_INPUT', retryable: false } });
  });

  it('reads the store from ROTATOR_STORE as from --store, and names the variable in a refusal', async () => {
    const run = await runRotator({ ROTATOR_STORE: 'gcp://acme-prod' }, ['secrets', 'delete', 'app-db']);
    expect(run.stderr).toMatch(/gcloud secrets delete app-db --project acme-prod/);
    const bad = await runRotator({ ROTATOR_STORE: 'azure://evil.example.com' }, ['secrets', 'list']);
    expect(bad.code).toBe(EXIT.USAGE);
    expect(bad.stderr).toMatch(/^rotator: INVALID_INPUT: the Key Vault URL's host evil\.example\.com is not a Key Vault/);
    const flag = await runRotator({}, ['--store', 'aws://us-east-1/x', 'secrets', 'list']);
    expect(flag.stderr).toMatch(/^rotator: INVALID_INPUT: --store is not a store this command knows: aws:\/\/ takes an AWS region and nothing else/);
  });

  it('refuses a ROTATOR_SECRET_PREFIX that is not a name prefix of the cloud', async () => {
    const run = await runRotator({ ROTATOR_SECRET_PREFIX: 'app/\u0000', ROTATOR_STORE: 'aws://us-east-1' }, ['secrets', 'list']);
    expect(run.code).toBe(EXIT.USAGE);
    expect(run.stderr).toMatch(/ROTATOR_SECRET_PREFIX: must be letters, digits and \/_\+=\.@- \(at most 256\)/);
    const azure = await runRotator({ ROTATOR_SECRET_PREFIX: 'app_', ROTATOR_STORE: 'azure://kv-rotated' }, ['secrets', 'list']);
    expect(azure.stderr).toMatch(/ROTATOR_SECRET_PREFIX: must be letters, digits and dashes \(at most 64\)/);
    const long = await runRotator({ ROTATOR_SECRET_PREFIX: 'a'.repeat(65), ROTATOR_STORE: 'gcp://acme-prod' }, ['secrets', 'list']);
    expect(long.stderr).toMatch(/ROTATOR_SECRET_PREFIX: must be letters, digits, _ and - \(at most 64\)/);
  });

  it('refuses a ROTATOR_LOCK_CONTAINER_URL that is not an Azure blob container', async () => {
    const run = await runRotator({ ROTATOR_LOCK_CONTAINER_URL: 'https://evil.example.com/locks', ROTATOR_STORE: 'azure://kv-rotated' }, ['secrets', 'list']);
    expect(run.code).toBe(EXIT.USAGE);
    expect(run.stderr).toMatch(/ROTATOR_LOCK_CONTAINER_URL must be https:\/\/<account>\.blob\.core\.windows\.net\/<container>.*its host is not an Azure blob endpoint/);
  });

  it('sees updateSchedule by duck type', () => {
    expect(canUpdateSchedule({} as SecretStore)).toBe(false);
    expect(canUpdateSchedule({ updateSchedule: () => Promise.resolve() } as unknown as SecretStore)).toBe(true);
  });

  it('lists the forms in --help', async () => {
    const help = await runRotator({}, ['--help']);
    const flat = help.stdout.replace(/\s+/g, ' ');
    expect(flat).toMatch(/--store <path\|url> the store: a file path .*aws:\/\/<region>, azure:\/\/<vault-name> or gcp:\/\/<project-id>/);
    expect(help.stdout).toMatch(/ROTATOR_STORE\s+the store: a file path .* aws:\/\/<region>, azure:\/\/<vault> or gcp:\/\/<project>/);
    expect(help.stdout).toMatch(/ROTATOR_SECRET_PREFIX/);
    expect(help.stdout).toMatch(/ROTATOR_LOCK_CONTAINER_URL/);
  });
});

describe('purge --dry-run', () => {
  it('takes no rotation lock: it reports while a rotation holds one, and leaves no file behind', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'rotator-dry-run-'));
    try {
      const key = randomBytes(32);
      const store = new FileStore({ path: join(dir, 'store.json'), key });
      await store.createSecret('app-db', JSON.stringify({ engine: 'postgres', host: 'db.internal', username: 'app', password: 'dry-run-not-a-real-password' }));
      recordSecrets('dry-run-not-a-real-password');
      const env = { ROTATOR_STORE: join(dir, 'store.json'), ROTATOR_STORE_KEY: key.toString('base64') };
      const lease = await store.lockRotation('app-db');
      try {
        const files = readdirSync(dir).sort();
        const dry = await runRotator(env, ['purge', '--dry-run', '--json']);
        expect(dry.code).toBe(EXIT.OK);
        expect(JSON.parse(dry.stdout)).toMatchObject({ dryRun: true, failed: 0, secrets: [{ secretId: 'app-db', ok: true }] });
        expect(readdirSync(dir).sort()).toEqual(files);
        // A real purge still waits for the lock: the rotation holding it wins.
        const real = await runRotator(env, ['purge', '--json']);
        expect(real.code).toBe(EXIT.RETRY);
        expect(JSON.parse(real.stdout.split('\n')[0] ?? '')).toMatchObject({ dryRun: false, failed: 1, secrets: [{ secretId: 'app-db', ok: false, error: { code: 'ROTATION_IN_PROGRESS' } }] });
      } finally {
        await lease.release();
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('lazy loading', () => {
  const root = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
  const CLOUD_PACKAGES = /^(@aws-sdk\/|@smithy\/|@azure\/|@google-cloud\/|google-gax|@grpc\/)/;

  /**
   * Every module `entry` loads before any dynamic import() runs, following relative imports; `import type` is erased
   * and does not count (with verbatimModuleSyntax an `import { type X }` still loads its module, so it counts).
   */
  function staticGraph(entry: string): Map<string, string[]> {
    const graph = new Map<string, string[]>();
    const pending = [resolve(root, entry)];
    while (pending.length > 0) {
      const file = pending.pop() as string;
      if (graph.has(file)) continue;
      const source = readFileSync(file, 'utf8');
      const specifiers = [...source.matchAll(/^(?:import|export)\s+(?!type\s)(?:[^;'"]*?\sfrom\s+)?'([^']+)';?$/gm)].map((m) => m[1] as string);
      graph.set(file, specifiers);
      for (const s of specifiers) if (s.startsWith('.')) pending.push(resolve(dirname(file), s.replace(/\.js$/, '.ts')));
    }
    return graph;
  }

  it('the CLI loads no cloud SDK until a cloud store (or a gcp command) is used', () => {
    const graph = staticGraph('cli/main.ts');
    const offenders = [...graph].flatMap(([file, specifiers]) => specifiers.filter((s) => CLOUD_PACKAGES.test(s)).map((s) => `${relative(root, file)} -> ${s}`));
    expect(offenders).toEqual([]);
    // The walk does reach the modules that open cloud stores, and they do import the SDKs, dynamically.
    expect(graph.has(join(root, 'cli/stores.ts'))).toBe(true);
    expect(graph.has(join(root, 'stores/aws/aws-store.ts'))).toBe(false);
    const stores = readFileSync(join(root, 'cli/stores.ts'), 'utf8');
    for (const module of ['../stores/aws/index.js', '../stores/azure/index.js', '../stores/azure/client.js', '../stores/gcp/client.js']) expect(stores).toContain(`import('${module}')`);
    // The walker sees a static import of an SDK where there is one.
    expect([...staticGraph('stores/aws/aws-store.ts').values()].flat()).toContain('@aws-sdk/client-secrets-manager');
  });
});
