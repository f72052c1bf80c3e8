import { randomBytes } from 'node:crypto';
import { request } from 'node:https';
import type { SecretClient, SecretProperties } from '@azure/keyvault-secrets';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { RotatorError } from '../../shared/errors.js';
import { createKeyVaultClient, isSecretDisabled, mapKeyVaultError } from '../../stores/azure/index.js';
import { recordSecrets } from '../support/canary.js';
import { KEY_VAULT_FAKE_TENANT, MAX_VALUE_BYTES, startKeyVaultFake, type KeyVaultFake } from '../fakes/azure/key-vault.js';

/**
 * The Key Vault fake's rules, each proved through the real SecretClient built by createKeyVaultClient, so the SDK's
 * pipeline (TLS, the challenge, paging, error deserialization) and the error mapping are exercised together.
 */

let fake: KeyVaultFake;
let kv: SecretClient;
/** 2023-11-14T22:13:20.750Z: not on a whole second, so truncation shows. */
let now = new Date(1_700_000_000_750);

beforeEach(async () => {
  now = new Date(1_700_000_000_750);
  fake = await startKeyVaultFake({ clock: () => now, seed: 7 });
  recordSecrets(fake.token);
  kv = fake.client();
});
afterEach(async () => {
  await fake.close();
});

function secretValue(label: string): string {
  const value = `${label}-${randomBytes(12).toString('hex')}`;
  recordSecrets(value);
  return value;
}

/** The rejection of a call (or 'resolved'), for asserting on RestErrors. */
async function rejection(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise;
    return 'resolved';
  } catch (error) {
    return error;
  }
}

function restFacts(error: unknown): { statusCode?: number; code?: string; inner?: string } {
  const e = error as { statusCode?: number; code?: string; details?: { error?: { innerError?: { code?: string } } } };
  return { statusCode: e.statusCode, code: e.code, inner: e.details?.error?.innerError?.code };
}

/** A raw HTTPS request to the fake, for what the SDK never sends (no api-version, a value in a PATCH). */
function raw(method: string, path: string, body?: unknown, token: string | null = fake.token): Promise<{ status: number; json: unknown }> {
  return new Promise((resolve, reject) => {
    const text = body === undefined ? '' : JSON.stringify(body);
    const req = request(
      `${fake.vaultUrl}${path}`,
      { method, ca: fake.ca, headers: { 'content-type': 'application/json', ...(token === null ? {} : { authorization: `Bearer ${token}` }) } },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const t = Buffer.concat(chunks).toString('utf8');
          resolve({ status: res.statusCode ?? 0, json: t === '' ? undefined : JSON.parse(t) });
        });
      },
    );
    req.on('error', reject);
    req.end(text);
  });
}

async function versionsOf(name: string, client = kv): Promise<SecretProperties[]> {
  const out: SecretProperties[] = [];
  for await (const p of client.listPropertiesOfSecretVersions(name)) out.push(p);
  return out;
}

describe('Key Vault fake: the bearer challenge', () => {
  it('answers a client’s first, token-less and body-less request with the challenge, then accepts only its token', async () => {
    const value = secretValue('first');
    const set = await kv.setSecret('db-app', value);
    expect(set.value).toBe(value);

    const [challenge, ...rest] = fake.requests;
    expect(challenge).toMatchObject({ operation: 'SetSecret', auth: 'none', hadBody: false, status: 401 });
    expect(rest).toEqual([expect.objectContaining({ operation: 'SetSecret', auth: 'valid', hadBody: true, status: 200 })]);
    // The SDK asked for a token for the resource and tenant the challenge named.
    expect(fake.tokenRequests).toEqual([{ scopes: ['https://vault.azure.net/.default'], tenantId: KEY_VAULT_FAKE_TENANT }]);

    await kv.getSecret('db-app');
    expect(fake.requests.slice(2).map((r) => r.auth)).toEqual(['valid']); // no second challenge
    expect(new Set(fake.requests.map((r) => r.apiVersion))).toEqual(new Set(['2025-07-01']));
  });

  it('refuses a token other than its own with 401, and the mapping says the token was refused', async () => {
    const wrong = fake.client({ credential: fake.credential('not-the-vault-token') });
    const error = await rejection(wrong.setSecret('db-app', secretValue('refused')));
    expect(restFacts(error)).toMatchObject({ statusCode: 401, code: 'Unauthorized' });
    const mapped = mapKeyVaultError(error, { operation: 'setSecret', dataAction: 'secrets/setSecret/action', secretName: 'db-app' });
    expect(mapped.code).toBe('STORE_IO');
    expect(mapped.message).toMatch(/refused setSecret on secret db-app .*token/);
    expect(fake.versions('db-app')).toBeUndefined();
    expect(fake.requests.filter((r) => r.auth === 'invalid').length).toBeGreaterThan(0);
    expect(fake.requests.every((r) => r.status === 401)).toBe(true);
  });

  it('refuses a request without api-version, and an unknown one', async () => {
    await kv.setSecret('db-app', secretValue('v'));
    expect(await raw('GET', '/secrets/db-app/')).toMatchObject({ status: 400, json: { error: { code: 'BadParameter' } } });
    expect(await raw('GET', '/secrets/db-app/?api-version=1999-01-01')).toMatchObject({ status: 400 });
    expect((await raw('GET', '/secrets/db-app/?api-version=2025-07-01')).status).toBe(200);
    expect((await raw('GET', '/secrets/db-app/?api-version=2025-07-01', undefined, null)).status).toBe(401);
  });
});

describe('Key Vault fake: versions, latest and disabled versions', () => {
  it('gives each set a new 32-hex version, latest = the newest, and times in whole seconds', async () => {
    const [one, two, three] = [secretValue('one'), secretValue('two'), secretValue('three')];
    const v1 = await kv.setSecret('db-app', one);
    const v2 = await kv.setSecret('db-app', two);
    now = new Date(now.getTime() + 1_500);
    const v3 = await kv.setSecret('db-app', three);
    for (const v of [v1, v2, v3]) expect(v.properties.version).toMatch(/^[0-9a-f]{32}$/);
    expect(new Set([v1, v2, v3].map((v) => v.properties.version)).size).toBe(3);

    expect((await kv.getSecret('db-app')).value).toBe(three);
    expect((await kv.getSecret('db-app', { version: v1.properties.version ?? '' })).value).toBe(one);
    expect(fake.requests.filter((r) => r.operation === 'GetSecret').at(0)?.path).toBe('/secrets/db-app/'); // latest: trailing slash

    expect(v1.properties.createdOn?.getTime()).toBe(1_700_000_000_000);
    expect(v3.properties.createdOn?.getTime()).toBe(1_700_000_002_000);
    expect(fake.versions('db-app')?.map((v) => v.created)).toEqual([1_700_000_000, 1_700_000_000, 1_700_000_002]);
    // v1 and v2 share a second: the later one is still the newer, and v2 then v3 show it too.
    await kv.updateSecretProperties('db-app', v3.properties.version ?? '', { enabled: false });
    expect(isSecretDisabled(await rejection(kv.getSecret('db-app')))).toBe(true);
  });

  it('keeps a disabled latest version as latest: 403 SecretDisabled, never a fall-back to the older one', async () => {
    const older = secretValue('older');
    const v1 = await kv.setSecret('db-app', older);
    const v2 = await kv.setSecret('db-app', secretValue('newest'));
    await kv.updateSecretProperties('db-app', v2.properties.version ?? '', { enabled: false });

    const latest = await rejection(kv.getSecret('db-app'));
    expect(restFacts(latest)).toEqual({ statusCode: 403, code: 'Forbidden', inner: 'SecretDisabled' });
    const byId = await rejection(kv.getSecret('db-app', { version: v2.properties.version ?? '' }));
    expect(restFacts(byId)).toEqual({ statusCode: 403, code: 'Forbidden', inner: 'SecretDisabled' });
    expect((await kv.getSecret('db-app', { version: v1.properties.version ?? '' })).value).toBe(older);

    const mapped = mapKeyVaultError(latest, { operation: 'getSecret', secretName: 'db-app' });
    expect(mapped).toBeInstanceOf(RotatorError);
    expect(mapped.code).toBe('VERSION_NOT_FOUND');
    expect(mapped.message).toMatch(/latest version is disabled \(SecretDisabled\)/);
  });

  it('does not hide a version whose nbf is in the future or whose exp has passed', async () => {
    const value = secretValue('informational');
    await kv.setSecret('db-app', value, { notBefore: new Date(now.getTime() + 86_400_000), expiresOn: new Date(now.getTime() - 86_400_000) });
    expect((await kv.getSecret('db-app')).value).toBe(value);
  });

  it('answers 404 SecretNotFound for an unknown secret and an unknown version, mapped to the port’s codes', async () => {
    const missing = await rejection(kv.getSecret('nope'));
    expect(restFacts(missing)).toMatchObject({ statusCode: 404, code: 'SecretNotFound' });
    expect(mapKeyVaultError(missing, { operation: 'getSecret', secretName: 'nope' }).code).toBe('SECRET_NOT_FOUND');

    await kv.setSecret('db-app', secretValue('v'));
    const version = '0'.repeat(32);
    const noVersion = await rejection(kv.getSecret('db-app', { version }));
    expect(restFacts(noVersion)).toMatchObject({ statusCode: 404, code: 'SecretNotFound' });
    expect(mapKeyVaultError(noVersion, { operation: 'getSecret', secretName: 'db-app', version }).code).toBe('VERSION_NOT_FOUND');
  });
});

describe('Key Vault fake: metadata updates', () => {
  it('PATCH changes attributes and tags of one version, never its value, and creates no version', async () => {
    const value = secretValue('kept');
    const v1 = await kv.setSecret('db-app', value, { tags: { 'rotator-token': 'tok-1' } });
    now = new Date(now.getTime() + 5_000);
    fake.resetCounts();
    const updated = await kv.updateSecretProperties('db-app', v1.properties.version ?? '', {
      enabled: false,
      tags: { 'rotator-retired': 'true' },
      expiresOn: new Date(1_800_000_000_000),
    });
    expect(updated.version).toBe(v1.properties.version);
    expect(updated.updatedOn?.getTime()).toBe(1_700_000_005_000);
    expect(updated.createdOn?.getTime()).toBe(1_700_000_000_000);
    expect(fake.counts()).toEqual({ UpdateSecret: 1 });
    expect(fake.versions('db-app')).toEqual([expect.objectContaining({ id: v1.properties.version, enabled: false, tags: { 'rotator-retired': 'true' }, exp: 1_800_000_000 })]);

    // A value smuggled into a PATCH body is ignored, as the service ignores members it does not know.
    const smuggled = secretValue('smuggled');
    const patch = await raw('PATCH', `/secrets/db-app/${v1.properties.version ?? ''}?api-version=2025-07-01`, { value: smuggled, attributes: { enabled: true } });
    expect(patch.status).toBe(200);
    expect(JSON.stringify(patch.json)).not.toContain(smuggled);
    expect((await kv.getSecret('db-app')).value).toBe(value);
    expect(fake.versions('db-app')).toHaveLength(1);
  });

  it('PATCH on the versionless path updates the latest version', async () => {
    await kv.setSecret('db-app', secretValue('a'));
    const v2 = await kv.setSecret('db-app', secretValue('b'));
    const updated = await kv.updateSecretProperties('db-app', '', { tags: { 'rotator-previous': 'x' } });
    expect(updated.version).toBe(v2.properties.version);
    expect(fake.requests.at(-1)).toMatchObject({ operation: 'UpdateSecret', path: '/secrets/db-app/' });
    expect(fake.versions('db-app')?.map((v) => v.tags)).toEqual([{}, { 'rotator-previous': 'x' }]);
  });

  it('keeps tags per version: a new version inherits none', async () => {
    await kv.setSecret('db-app', secretValue('a'), { tags: { 'rotator-strategy': 'single-user' }, contentType: 'application/json' });
    const v2 = await kv.setSecret('db-app', secretValue('b'));
    expect(v2.properties.tags).toBeUndefined();
    expect(v2.properties.contentType).toBeUndefined();
    expect((await kv.getSecret('db-app')).properties.tags).toBeUndefined();
  });
});

describe('Key Vault fake: lists and paging', () => {
  it('pages versions by absolute nextLink across pages, in no creation order, without values', async () => {
    const created: string[] = [];
    for (let i = 0; i < 7; i++) created.push((await kv.setSecret('db-app', secretValue(`v${i}`))).properties.version ?? '');
    fake.resetCounts();
    const pages: string[][] = [];
    for await (const page of kv.listPropertiesOfSecretVersions('db-app').byPage({ maxPageSize: 2 })) pages.push(page.map((p) => p.version ?? ''));
    expect(pages.map((p) => p.length)).toEqual([2, 2, 2, 1]);
    expect(fake.count('GetSecretVersions')).toBe(4);
    const listed = pages.flat();
    expect([...listed].sort()).toEqual([...created].sort()); // every version once: no repeat, no gap
    expect(listed).not.toEqual(created); // seed 7 shuffles; a client must not rely on any order

    // The same seed gives the same order on another fake: tests can pin it.
    const again = await startKeyVaultFake({ seed: 7 });
    try {
      const c2 = again.client();
      const order2: string[] = [];
      for (let i = 0; i < 7; i++) order2.push((await c2.setSecret('db-app', secretValue(`w${i}`))).properties.version ?? '');
      const listed2 = (await versionsOf('db-app', c2)).map((p) => order2.indexOf(p.version ?? ''));
      expect(listed2).toEqual(listed.map((v) => created.indexOf(v)));
    } finally {
      await again.close();
    }

    const page = await raw('GET', '/secrets/db-app/versions?api-version=2025-07-01&maxresults=3');
    const body = page.json as { value: Record<string, unknown>[]; nextLink: string };
    expect(body.value).toHaveLength(3);
    for (const item of body.value) expect(item).not.toHaveProperty('value');
    expect(body.nextLink.startsWith(`${fake.vaultUrl}/secrets/db-app/versions?`)).toBe(true);
    expect((await raw('GET', '/secrets/db-app/versions?api-version=2025-07-01&maxresults=26')).status).toBe(400);
  });

  it('pages by marker: a secret or version created between two pages makes the listing neither repeat nor skip', async () => {
    for (const name of ['app-b', 'app-c', 'app-d', 'app-e', 'app-f']) await kv.setSecret(name, secretValue(name));
    const names: string[] = [];
    for await (const page of kv.listPropertiesOfSecrets().byPage({ maxPageSize: 2 })) {
      names.push(...page.map((p) => p.name));
      if (names.length === 2) await kv.setSecret('app-a', secretValue('app-a')); // sorts before the marker
    }
    expect(names).toEqual(['app-b', 'app-c', 'app-d', 'app-e', 'app-f']);

    const created: string[] = [];
    for (let i = 0; i < 6; i++) created.push((await kv.setSecret('db-app', secretValue(`v${i}`))).properties.version ?? '');
    const listed: string[] = [];
    for await (const page of kv.listPropertiesOfSecretVersions('db-app').byPage({ maxPageSize: 2 })) {
      listed.push(...page.map((p) => p.version ?? ''));
      if (listed.length === 2) for (let i = 0; i < 8; i++) await kv.setSecret('db-app', secretValue(`late${i}`));
    }
    expect(new Set(listed).size).toBe(listed.length);
    for (const v of created) expect(listed).toContain(v);
  });

  it('pages the list of secrets at the default page size, skipping deleted ones', async () => {
    const small = await startKeyVaultFake({ pageSize: 2, versionOrder: 'created' });
    try {
      const c = small.client();
      for (const name of ['app-a', 'app-b', 'app-c', 'app-d', 'app-e']) await c.setSecret(name, secretValue(name));
      await (await c.beginDeleteSecret('app-c', { intervalInMs: 1 })).pollUntilDone();
      small.resetCounts();
      const names: string[] = [];
      for await (const p of c.listPropertiesOfSecrets()) names.push(p.name);
      expect(names).toEqual(['app-a', 'app-b', 'app-d', 'app-e']);
      expect(small.count('GetSecrets')).toBe(2);
      // versionOrder 'created' lists versions oldest first.
      const v = [(await c.setSecret('app-a', secretValue('a2'))).properties.version, (await c.setSecret('app-a', secretValue('a3'))).properties.version];
      expect((await versionsOf('app-a', c)).map((p) => p.version).slice(1)).toEqual(v);
    } finally {
      await small.close();
    }
  });
});

describe('Key Vault fake: limits and names', () => {
  it('takes 15 tags of 512-character names and 256-character values, and refuses more with 400 BadParameter', async () => {
    const tags = (n: number, name = 8, value = 8) => Object.fromEntries(Array.from({ length: n }, (_, i) => [String(i).padStart(name, 't'), 'v'.repeat(value)]));
    await kv.setSecret('db-app', secretValue('ok'), { tags: tags(15, 512, 256) });
    for (const bad of [tags(16), tags(1, 513), tags(1, 8, 257)]) {
      const error = await rejection(kv.setSecret('db-app', secretValue('bad'), { tags: bad }));
      expect(restFacts(error)).toMatchObject({ statusCode: 400, code: 'BadParameter' });
      expect(mapKeyVaultError(error, { operation: 'setSecret', secretName: 'db-app' }).code).toBe('INVALID_INPUT');
    }
    expect(fake.versions('db-app')).toHaveLength(1);
    // A PATCH over the limit changes nothing.
    expect(restFacts(await rejection(kv.updateSecretProperties('db-app', '', { tags: tags(16), enabled: false })))).toMatchObject({ statusCode: 400 });
    expect(fake.versions('db-app')?.[0]).toMatchObject({ enabled: true, tags: tags(15, 512, 256) });
  });

  it(`takes a value of ${MAX_VALUE_BYTES} bytes and refuses one byte more (UTF-8 bytes, not characters), without echoing it`, async () => {
    const fits = randomBytes(MAX_VALUE_BYTES / 2).toString('hex');
    recordSecrets(fits);
    expect((await kv.setSecret('db-app', fits)).value).toBe(fits);
    const marker = secretValue('oversized');
    for (const big of [marker + 'x'.repeat(MAX_VALUE_BYTES + 1 - marker.length), marker + 'é'.repeat(Math.ceil((MAX_VALUE_BYTES - marker.length) / 2) + 1)]) {
      const error = await rejection(kv.setSecret('db-app', big));
      expect(restFacts(error)).toMatchObject({ statusCode: 400, code: 'BadParameter' });
      const mapped = mapKeyVaultError(error, { operation: 'setSecret', secretName: 'db-app', scrub: [big] });
      expect(mapped.code).toBe('INVALID_INPUT');
      expect(mapped.message).toContain('25600 bytes');
      expect(mapped.message).not.toContain(marker);
    }
    expect(fake.versions('db-app')).toHaveLength(1);
  });

  it('refuses names outside ^[0-9a-zA-Z-]{1,127}$ and treats names as case-insensitive', async () => {
    for (const name of ['contract/app', 'under_score', 'dot.name', 'a'.repeat(128)]) {
      expect(restFacts(await rejection(kv.setSecret(name, secretValue('n'))))).toMatchObject({ statusCode: 400, code: 'BadParameter' });
    }
    const value = secretValue('case');
    await kv.setSecret('a'.repeat(127), secretValue('long'));
    await kv.setSecret('Db-App', value);
    expect((await kv.getSecret('db-app')).value).toBe(value);
    expect((await kv.getSecret('DB-APP')).name).toBe('Db-App');
  });
});

describe('Key Vault fake: soft delete', () => {
  it('hides a deleted secret (404), refuses its name (409 ObjectIsDeletedButRecoverable) until recovered or purged', async () => {
    const value = secretValue('deleted');
    await kv.setSecret('db-app', value);
    const deleted = await (await kv.beginDeleteSecret('db-app', { intervalInMs: 1 })).pollUntilDone();
    expect(deleted.recoveryId).toBe(`${fake.vaultUrl}/deletedsecrets/db-app`);
    expect(fake.count('GetDeletedSecret')).toBeGreaterThan(0); // the poller waits for the deleted state

    const gone = await rejection(kv.getSecret('db-app'));
    expect(restFacts(gone)).toMatchObject({ statusCode: 404, code: 'SecretNotFound' });
    expect(mapKeyVaultError(gone, { operation: 'getSecret', secretName: 'db-app' }).code).toBe('SECRET_NOT_FOUND');

    const reuse = await rejection(kv.setSecret('db-app', secretValue('reuse')));
    expect(restFacts(reuse)).toEqual({ statusCode: 409, code: 'Conflict', inner: 'ObjectIsDeletedButRecoverable' });
    const mapped = mapKeyVaultError(reuse, { operation: 'setSecret', secretName: 'db-app' });
    expect(mapped.code).toBe('SECRET_EXISTS');
    expect(mapped.message).toMatch(/deleted but recoverable/);

    await (await kv.beginRecoverDeletedSecret('db-app', { intervalInMs: 1 })).pollUntilDone();
    expect((await kv.getSecret('db-app')).value).toBe(value);

    await (await kv.beginDeleteSecret('db-app', { intervalInMs: 1 })).pollUntilDone();
    await kv.purgeDeletedSecret('db-app');
    await kv.setSecret('db-app', secretValue('fresh'));
    expect(fake.versions('db-app')).toHaveLength(1);
  });
});

describe('Key Vault fake: request log, counts and injected faults', () => {
  it('records method, path and status but never a value', async () => {
    const value = secretValue('never-logged');
    await kv.setSecret('db-app', value, { tags: { note: 'x' } });
    await kv.getSecret('db-app');
    expect(fake.requests.map((r) => `${r.method} ${r.path} ${String(r.status)}`)).toEqual(['PUT /secrets/db-app 401', 'PUT /secrets/db-app 200', 'GET /secrets/db-app/ 200']);
    expect(JSON.stringify(fake.requests)).not.toContain(value);
    expect(JSON.stringify(fake.requests)).not.toContain(fake.token);
  });

  it('fails the next N matching requests; the SDK retries 5xx, and an exhausted 429 maps to a retryable STORE_IO', async () => {
    await kv.setSecret('db-app', secretValue('v'));
    const patient = fake.client({ retry: { maxRetries: 2, retryDelayInMs: 1, maxRetryDelayInMs: 5 } });
    fake.fail({ operation: 'GetSecret', status: 503, times: 2 });
    fake.resetCounts();
    await patient.getSecret('db-app');
    // The new client's challenge (401, no token) is not counted: 2 injected 503s and the success.
    expect(fake.count('GetSecret')).toBe(3);
    expect(fake.requests.filter((r) => r.operation === 'GetSecret').map((r) => r.status)).toEqual([401, 503, 503, 200]);

    fake.fail({ operation: 'GetSecret', status: 429 });
    const throttled = await rejection(kv.getSecret('db-app'));
    expect(restFacts(throttled)).toMatchObject({ statusCode: 429, code: 'Throttled' });
    const mapped = mapKeyVaultError(throttled, { operation: 'getSecret', secretName: 'db-app' });
    expect(mapped).toMatchObject({ code: 'STORE_IO', retryable: true });
    expect((await kv.getSecret('db-app')).value).toMatch(/^v-/); // only the next one failed
  });
});

describe('createKeyVaultClient: a vault URL cannot send tokens elsewhere', () => {
  it('refuses plain HTTP, a non-vault host, loopback without the test option, credentials, paths: before any request', () => {
    const port = new URL(fake.vaultUrl).port;
    const refused = [
      `http://127.0.0.1:${port}`,
      'http://myvault.vault.azure.net',
      'https://evil.example.com',
      'https://myvault.vault.azure.net.evil.example.com',
      'https://vault.azure.net',
      'https://myvault.vault.azure.net:8443',
      'https://user:pw@myvault.vault.azure.net',
      'https://myvault.vault.azure.net/secrets/x',
      'not a url',
    ];
    for (const vaultUrl of refused) {
      expect(() => createKeyVaultClient({ vaultUrl, credential: fake.credential() }), vaultUrl).toThrow(RotatorError);
    }
    // The fake itself, without the test-only permission for loopback.
    const error = (() => {
      try {
        createKeyVaultClient({ vaultUrl: fake.vaultUrl, credential: fake.credential(), testOnly: { ca: fake.ca } });
        return undefined;
      } catch (e) {
        return e;
      }
    })();
    expect(error).toMatchObject({ code: 'INVALID_INPUT' });
    expect((error as Error).message).not.toContain('pw');
    expect(fake.requests).toEqual([]);
    expect(fake.tokenRequests).toEqual([]);
    // A real vault URL in each cloud is accepted (building the client sends nothing).
    for (const host of ['my-vault.vault.azure.net', 'kv1.vault.azure.cn', 'kv1.vault.usgovcloudapi.net', 'kv1.vault.microsoftazure.de']) {
      expect(createKeyVaultClient({ vaultUrl: `https://${host}/`, credential: fake.credential() }).vaultUrl).toBe(`https://${host}`);
    }
  });

  it('keeps the SDK’s challenge check on by default: a challenge for vault.azure.net from another host gets no token', async () => {
    const strict = fake.client({ testOnly: { allowLoopback: true, ca: fake.ca, disableChallengeResourceVerification: false } });
    const error = await rejection(strict.getSecret('db-app'));
    expect(fake.tokenRequests).toEqual([]);
    expect(fake.requests.map((r) => r.auth)).toEqual(['none']);
    const mapped = mapKeyVaultError(error, { operation: 'getSecret', secretName: 'db-app' });
    expect(mapped.code).toBe('STORE_IO');
    expect(mapped.message).toMatch(/challenge named another resource/);
  });
});
