import { SecretManagerServiceClient } from '@google-cloud/secret-manager';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { Status } from '../fakes/gcp/grpc.js';
import { startSecretManagerFake, type SecretManagerFake } from '../fakes/gcp/secret-manager.js';

/** The fake's own rules, each pinned through the real SecretManagerServiceClient so the gRPC wire is exercised too. */

let now: Date;
let fake: SecretManagerFake;
let sm: SecretManagerServiceClient;
const P = 'projects/test-project';
const S = `${P}/secrets/app-db`;

beforeEach(async () => {
  now = new Date('2030-01-01T00:00:00.000Z');
  fake = await startSecretManagerFake({ clock: () => now });
  sm = new SecretManagerServiceClient(fake.clientOptions());
});
afterEach(async () => {
  await sm.close();
  await fake.close();
});

/** The gRPC status code the call failed with, or 'resolved'. */
async function code(promise: Promise<unknown>): Promise<number | 'resolved'> {
  try {
    await promise;
    return 'resolved';
  } catch (error) {
    return (error as { code?: number }).code ?? -1;
  }
}

async function create(id = 'app-db', secret: Record<string, unknown> = {}): Promise<void> {
  await sm.createSecret({ parent: P, secretId: id, secret: { replication: { automatic: {} }, ...secret } });
}

async function add(value: string, parent = S): Promise<number> {
  const [version] = await sm.addSecretVersion({ parent, payload: { data: Buffer.from(value) } });
  return Number(version.name?.split('/').pop());
}

async function access(version: string, secret = S): Promise<string> {
  const [out] = await sm.accessSecretVersion({ name: `${secret}/versions/${version}` });
  return Buffer.from(out.payload?.data ?? '').toString('utf8');
}

async function etag(): Promise<string> {
  const [secret] = await sm.getSecret({ name: S });
  return secret.etag ?? '';
}

describe('Secret Manager fake: versions', () => {
  it('numbers versions from 1 and serves their payloads', async () => {
    await create();
    expect(await add('value-one')).toBe(1);
    expect(await add('value-two')).toBe(2);
    expect(await access('1')).toBe('value-one');
    expect(await access('latest')).toBe('value-two');
  });

  it('answers a DISABLED latest with FAILED_PRECONDITION instead of falling back', async () => {
    await create();
    await add('value-one');
    await add('value-two');
    await sm.disableSecretVersion({ name: `${S}/versions/2` });
    expect(await code(access('latest'))).toBe(Status.FAILED_PRECONDITION);
  });
});

describe('Secret Manager fake: etags', () => {
  it('gives every UpdateSecret a new etag and refuses a stale one', async () => {
    await create();
    const before = await etag();
    await sm.updateSecret({ secret: { name: S, etag: before, labels: {} }, updateMask: { paths: ['labels'] } });
    expect(await etag()).not.toBe(before);
    expect(await code(sm.updateSecret({ secret: { name: S, etag: before, labels: {} }, updateMask: { paths: ['labels'] } }))).toBe(Status.FAILED_PRECONDITION);
  });
});
