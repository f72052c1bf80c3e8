import { SecretManagerServiceClient } from '@google-cloud/secret-manager';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { recordSecrets } from '../support/canary.js';
import { Status } from '../fakes/gcp/grpc.js';
import { startSecretManagerFake, type SecretManagerFake } from '../fakes/gcp/secret-manager.js';

/** The fake's own rules, each pinned through the real SecretManagerServiceClient so the gRPC wire is exercised too. */

const START = new Date('2030-01-01T00:00:00.000Z');
const HOUR = 3_600_000;
const P = 'projects/test-project';
const S = `${P}/secrets/app-db`;
/** How the service names it in answers and notifications: by project number. */
const AS = 'projects/123456789012/secrets/app-db';
const TOPIC = `${P}/topics/rotations`;

let now: Date;
let fake: SecretManagerFake;
let sm: SecretManagerServiceClient;

beforeEach(async () => {
  now = START;
  fake = await startSecretManagerFake({ clock: () => now });
  sm = new SecretManagerServiceClient(fake.clientOptions());
});
afterEach(async () => {
  await sm.close();
  await fake.close();
});

const later = (ms: number) => new Date(now.getTime() + ms);
const seconds = (date: Date) => ({ seconds: Math.floor(date.getTime() / 1000) });

/** The gRPC error the call failed with: its code and its whole text, or `resolved`. */
async function failure(promise: Promise<unknown>): Promise<{ code: number; text: string } | 'resolved'> {
  try {
    await promise;
    return 'resolved';
  } catch (error) {
    const e = error as { code?: number; details?: string; message?: string };
    return { code: e.code ?? -1, text: `${e.message ?? ''} ${e.details ?? ''}` };
  }
}

async function code(promise: Promise<unknown>): Promise<number | 'resolved'> {
  const out = await failure(promise);
  return out === 'resolved' ? out : out.code;
}

async function create(id = 'app-db', secret: Record<string, unknown> = {}): Promise<void> {
  await sm.createSecret({ parent: P, secretId: id, secret: { replication: { automatic: {} }, ...secret } });
}

async function add(value: string, parent = S): Promise<number> {
  recordSecrets(value);
  const [version] = await sm.addSecretVersion({ parent, payload: { data: Buffer.from(value) } });
  return Number(version.name?.split('/').pop());
}

async function access(version: string, secret = S): Promise<string> {
  const [out] = await sm.accessSecretVersion({ name: `${secret}/versions/${version}` });
  return Buffer.from(out.payload?.data ?? '').toString('utf8');
}

async function get(name = S) {
  const [secret] = await sm.getSecret({ name });
  return secret;
}

async function update(secret: Record<string, unknown>, paths: string[]) {
  const [out] = await sm.updateSecret({ secret: { name: S, ...secret }, updateMask: { paths } });
  return out;
}

async function versionEtag(n: number): Promise<string> {
  const [version] = await sm.getSecretVersion({ name: `${S}/versions/${n}` });
  return version.etag ?? '';
}

/** A secret with a daily rotation due in an hour, notifying TOPIC. */
async function createRotating(id = 'app-db'): Promise<void> {
  await create(id, { topics: [{ name: TOPIC }], rotation: { nextRotationTime: seconds(later(HOUR)), rotationPeriod: { seconds: 86_400 } } });
}

const decode = (data: string) => JSON.parse(Buffer.from(data, 'base64').toString('utf8')) as Record<string, unknown>;

describe('Secret Manager fake: connection and plumbing', () => {
  it('is reached by a client built from clientOptions(), and records the call with its resource and status', async () => {
    expect(await code(get(`${P}/secrets/missing`))).toBe(Status.NOT_FOUND);
    expect(fake.calls).toEqual([{ rpc: 'GetSecret', resource: `${P}/secrets/missing`, status: Status.NOT_FOUND }]);
  });

  it('answers RPCs it does not implement with UNIMPLEMENTED', async () => {
    expect(await code(sm.getIamPolicy({ resource: S }))).toBe(Status.UNIMPLEMENTED);
  });

  it('fails the next calls of an RPC with an injected status, then serves again', async () => {
    await create();
    fake.failNext('GetSecret', Status.UNAVAILABLE, 2);
    expect(await code(get())).toBe(Status.UNAVAILABLE);
    expect(await code(get())).toBe(Status.UNAVAILABLE);
    expect((await get()).name).toBe(AS);
  });

  it('lets the client retry AccessSecretVersion on UNAVAILABLE, as its retry settings say', async () => {
    await create();
    await add('retried-value-1');
    fake.failNext('AccessSecretVersion', Status.UNAVAILABLE);
    expect(await access('1')).toBe('retried-value-1');
    expect(fake.calls.filter((c) => c.rpc === 'AccessSecretVersion').map((c) => c.status)).toEqual([Status.UNAVAILABLE, Status.OK]);
  });

  it('refuses to inject a failure into an RPC the service does not have, or with status OK', () => {
    expect(() => fake.failNext('GetSecrets', Status.UNAVAILABLE)).toThrow(/not an RPC/);
    expect(() => fake.failNext('GetSecret', Status.OK)).toThrow(/other than OK/);
  });

  it('never records a payload in its call log', async () => {
    await create();
    await add('payload-kept-out-of-calls-1');
    await access('latest');
    expect(JSON.stringify(fake.calls)).not.toContain('payload-kept-out-of-calls-1');
    expect(fake.calls.map((c) => c.rpc)).toEqual(['CreateSecret', 'AddSecretVersion', 'AccessSecretVersion']);
  });

  it('dates resources with its clock, as protobuf Timestamps', async () => {
    await create();
    now = later(HOUR);
    await add('dated-value-1');
    const [version] = await sm.getSecretVersion({ name: `${S}/versions/1` });
    expect(Number((await get()).createTime?.seconds)).toBe(START.getTime() / 1000);
    expect(Number(version.createTime?.seconds)).toBe(START.getTime() / 1000 + 3600);
    expect(fake.versions('app-db')[0]?.createTime).toEqual(now);
  });
});

describe('Secret Manager fake: names', () => {
  it('takes secret ids of 1-255 letters, digits, _ and -', async () => {
    await create('A_b-9'.padEnd(255, 'x'));
    for (const id of ['', 'x'.repeat(256), 'contract/app', 'app.db', 'app db']) {
      expect(await code(create(id)), id).toBe(Status.INVALID_ARGUMENT);
    }
  });

  it('answers malformed names with INVALID_ARGUMENT', async () => {
    await create();
    for (const name of ['app-db', `${P}/secret/app-db`, `${P}/secrets/app-db/`, `${P}/locations/europe-west1/secrets/app-db`, `${P}/secrets/app.db`]) {
      expect(await code(get(name)), name).toBe(Status.INVALID_ARGUMENT);
    }
    expect(await code(sm.accessSecretVersion({ name: `${S}/versions/` }))).toBe(Status.INVALID_ARGUMENT);
  });

  it('answers a name in another project with PERMISSION_DENIED, even when the id exists here', async () => {
    await create();
    expect(await code(get('projects/other-project/secrets/app-db'))).toBe(Status.PERMISSION_DENIED);
    expect(await code(sm.listSecrets({ parent: 'projects/other-project' }))).toBe(Status.PERMISSION_DENIED);
    expect(await code(create('x', {}).then(() => sm.createSecret({ parent: 'projects/other-project', secretId: 'y', secret: { replication: { automatic: {} } } })))).toBe(
      Status.PERMISSION_DENIED,
    );
  });

  it('serves the project by id or by number, and names it by number in its answers, as the service does', async () => {
    await create();
    expect((await get()).name).toBe(AS);
    expect((await get('projects/123456789012/secrets/app-db')).name).toBe(AS);
    expect(await code(get('projects/123456789013/secrets/app-db'))).toBe(Status.PERMISSION_DENIED);
  });

  it('refuses an existing id with ALREADY_EXISTS and a secret without replication with INVALID_ARGUMENT', async () => {
    await create();
    expect(await code(create())).toBe(Status.ALREADY_EXISTS);
    expect(await code(sm.createSecret({ parent: P, secretId: 'no-replication', secret: {} }))).toBe(Status.INVALID_ARGUMENT);
  });

  it('answers a missing secret or version with NOT_FOUND', async () => {
    await create();
    await add('only-value-1');
    expect(await code(access('2'))).toBe(Status.NOT_FOUND);
    expect(await code(access('latest', `${P}/secrets/missing`))).toBe(Status.NOT_FOUND);
  });
});

describe('Secret Manager fake: versions', () => {
  it('numbers versions from 1 and serves their payloads', async () => {
    await create();
    expect(await add('value-one')).toBe(1);
    expect(await add('value-two')).toBe(2);
    expect(await access('1')).toBe('value-one');
    expect(await access('latest')).toBe('value-two');
  });

  it('never reuses a version number, also after a destroy', async () => {
    await create();
    await add('reuse-value-1');
    await add('reuse-value-2');
    await sm.destroySecretVersion({ name: `${S}/versions/2` });
    expect(await add('reuse-value-3')).toBe(3);
  });

  it('answers a DISABLED latest with FAILED_PRECONDITION instead of falling back', async () => {
    await create();
    await add('value-one');
    await add('value-two');
    await sm.disableSecretVersion({ name: `${S}/versions/2` });
    expect(await code(access('latest'))).toBe(Status.FAILED_PRECONDITION);
  });

  it('answers a DESTROYED latest with FAILED_PRECONDITION instead of falling back', async () => {
    await create();
    await add('value-one');
    await add('value-two');
    await sm.destroySecretVersion({ name: `${S}/versions/2` });
    expect(await code(access('latest'))).toBe(Status.FAILED_PRECONDITION);
  });

  it('describes latest as the newest version whatever its state', async () => {
    await create();
    await add('value-one');
    await add('value-two');
    await sm.disableSecretVersion({ name: `${S}/versions/2` });
    const [latest] = await sm.getSecretVersion({ name: `${S}/versions/latest` });
    expect(latest).toMatchObject({ name: `${AS}/versions/2`, state: 'DISABLED' });
  });

  it('refuses to access a disabled version until it is enabled again', async () => {
    await create();
    await add('toggled-value-1');
    await sm.disableSecretVersion({ name: `${S}/versions/1` });
    expect(await code(access('1'))).toBe(Status.FAILED_PRECONDITION);
    await sm.enableSecretVersion({ name: `${S}/versions/1` });
    expect(await access('1')).toBe('toggled-value-1');
  });

  it('drops the payload of a destroyed version at once without a version_destroy_ttl', async () => {
    await create();
    await add('destroyed-at-once-1');
    const [destroyed] = await sm.destroySecretVersion({ name: `${S}/versions/1` });
    expect(destroyed.state).toBe('DESTROYED');
    expect(Number(destroyed.destroyTime?.seconds)).toBe(START.getTime() / 1000);
    expect(fake.payload('app-db', 1)).toBeUndefined();
    expect(await code(sm.enableSecretVersion({ name: `${S}/versions/1` }))).toBe(Status.FAILED_PRECONDITION);
  });

  it('takes payloads up to 65,536 bytes and refuses a larger one without echoing it', async () => {
    await create();
    await sm.addSecretVersion({ parent: S, payload: { data: Buffer.alloc(65_536, 'a') } });
    const big = `oversized-${'b'.repeat(65_527)}`;
    const out = await failure(sm.addSecretVersion({ parent: S, payload: { data: Buffer.from(big) } }));
    expect(out).toMatchObject({ code: Status.INVALID_ARGUMENT });
    expect(JSON.stringify(out)).not.toContain('oversized-');
    expect(fake.versions('app-db')).toHaveLength(1);
  });

  it('checks a client checksum and returns the CRC32C of the payload on access', async () => {
    await create();
    expect(await code(sm.addSecretVersion({ parent: S, payload: { data: Buffer.from('123456789'), dataCrc32c: 1 } }))).toBe(Status.INVALID_ARGUMENT);
    await sm.addSecretVersion({ parent: S, payload: { data: Buffer.from('123456789'), dataCrc32c: 0xe3069283 } });
    const [out] = await sm.accessSecretVersion({ name: `${S}/versions/1` });
    expect(Number(out.payload?.dataCrc32c)).toBe(0xe3069283); // the CRC32C check value
  });

  it('only takes version numbers in Enable, Disable and Destroy', async () => {
    await create();
    await add('numbered-value-1');
    await update({ versionAliases: { current: 1 } }, ['version_aliases']);
    for (const version of ['latest', 'current']) {
      expect(await code(sm.disableSecretVersion({ name: `${S}/versions/${version}` })), version).toBe(Status.INVALID_ARGUMENT);
    }
  });
});

describe('Secret Manager fake: listing versions', () => {
  it('lists versions newest first, page by page, without repeats when a version is added between pages', async () => {
    await create();
    for (let i = 1; i <= 5; i++) await add(`listed-value-${i}`);
    const [first, , firstResponse] = await sm.listSecretVersions({ parent: S, pageSize: 2 }, { autoPaginate: false });
    expect(first.map((v) => v.name?.split('/').pop())).toEqual(['5', '4']);
    await add('listed-value-6');
    const seen = first.map((v) => v.name?.split('/').pop());
    let token = firstResponse.nextPageToken ?? '';
    while (token !== '') {
      const [versions, , response] = await sm.listSecretVersions({ parent: S, pageSize: 2, pageToken: token }, { autoPaginate: false });
      seen.push(...versions.map((v) => v.name?.split('/').pop()));
      token = response.nextPageToken ?? '';
    }
    expect(seen).toEqual(['5', '4', '3', '2', '1']);
  });

  it('pages 25 versions when the request names no page size', async () => {
    await create();
    for (let i = 1; i <= 26; i++) await sm.addSecretVersion({ parent: S, payload: { data: Buffer.from(`v${i}`) } });
    const [versions, , response] = await sm.listSecretVersions({ parent: S }, { autoPaginate: false });
    expect(versions).toHaveLength(25);
    expect(response.nextPageToken).not.toBe('');
    const all = [];
    for await (const version of sm.listSecretVersionsAsync({ parent: S }, { autoPaginate: false })) all.push(version);
    expect(all).toHaveLength(26);
  });

  it('refuses a forged page token, a token from another list and a negative page size', async () => {
    await create();
    await create('other');
    for (let i = 1; i <= 3; i++) {
      await sm.addSecretVersion({ parent: S, payload: { data: Buffer.from(`v${i}`) } });
      await sm.addSecretVersion({ parent: `${P}/secrets/other`, payload: { data: Buffer.from(`v${i}`) } });
    }
    const [, , response] = await sm.listSecretVersions({ parent: `${P}/secrets/other`, pageSize: 1 }, { autoPaginate: false });
    const list = (pageToken: string, pageSize = 1) => sm.listSecretVersions({ parent: S, pageSize, pageToken }, { autoPaginate: false });
    expect(await code(list('not-a-token'))).toBe(Status.INVALID_ARGUMENT);
    expect(await code(list(response.nextPageToken ?? ''))).toBe(Status.INVALID_ARGUMENT);
    expect(await code(list('', -1))).toBe(Status.INVALID_ARGUMENT);
  });

  it('filters versions by state and refuses other filters', async () => {
    await create();
    await add('state-value-1');
    await add('state-value-2');
    await sm.disableSecretVersion({ name: `${S}/versions/1` });
    const [enabled] = await sm.listSecretVersions({ parent: S, filter: 'state:ENABLED' }, { autoPaginate: false });
    expect(enabled.map((v) => v.name)).toEqual([`${AS}/versions/2`]);
    expect(await code(sm.listSecretVersions({ parent: S, filter: 'create_time>2020-01-01' }, { autoPaginate: false }))).toBe(Status.INVALID_ARGUMENT);
  });
});

describe('Secret Manager fake: aliases', () => {
  it('resolves an alias in GetSecretVersion and AccessSecretVersion', async () => {
    await create();
    await add('aliased-value-1');
    await add('aliased-value-2');
    await update({ versionAliases: { current: 1 } }, ['version_aliases']);
    expect(await access('current')).toBe('aliased-value-1');
    const [version] = await sm.getSecretVersion({ name: `${S}/versions/current` });
    expect(version.name).toBe(`${AS}/versions/1`);
    expect(await code(access('previous'))).toBe(Status.NOT_FOUND);
  });

  it('refuses aliases that name a missing version, reserved names and malformed names', async () => {
    await create();
    await add('alias-target-1');
    const bad = [{ current: 2 }, { current: 0 }, { latest: 1 }, { Latest: 1 }, { NEW: 1 }, { '1st': 1 }, { 'has.dot': 1 }, { ['a'.repeat(64)]: 1 }];
    for (const versionAliases of bad) {
      expect(await code(update({ versionAliases }, ['version_aliases'])), JSON.stringify(versionAliases)).toBe(Status.INVALID_ARGUMENT);
    }
    await update({ versionAliases: { ['a'.repeat(63)]: 1, 'b_-9': 1 } }, ['version_aliases']);
    expect(fake.secret('app-db')?.versionAliases).toEqual({ ['a'.repeat(63)]: 1, 'b_-9': 1 });
  });

  it('takes at most 50 aliases', async () => {
    await create();
    await add('many-aliases-1');
    const aliases = (count: number) => Object.fromEntries(Array.from({ length: count }, (_, i) => [`alias${i}`, 1]));
    await update({ versionAliases: aliases(50) }, ['version_aliases']);
    expect(await code(update({ versionAliases: aliases(51) }, ['version_aliases']))).toBe(Status.INVALID_ARGUMENT);
    expect(Object.keys(fake.secret('app-db')?.versionAliases ?? {})).toHaveLength(50);
  });

  it('refuses to disable or destroy a version an alias names, until the alias moves', async () => {
    await create();
    await add('protected-value-1');
    await add('protected-value-2');
    await update({ versionAliases: { current: 2, previous: 1 } }, ['version_aliases']);
    expect(await code(sm.disableSecretVersion({ name: `${S}/versions/1` }))).toBe(Status.FAILED_PRECONDITION);
    expect(await code(sm.destroySecretVersion({ name: `${S}/versions/1` }))).toBe(Status.FAILED_PRECONDITION);
    await update({ versionAliases: { current: 2 } }, ['version_aliases']);
    await sm.destroySecretVersion({ name: `${S}/versions/1` });
    expect(fake.versions('app-db').map((v) => v.state)).toEqual(['DESTROYED', 'ENABLED']);
  });
});

describe('Secret Manager fake: etags', () => {
  it('gives every UpdateSecret a new etag, even one that changes nothing, and refuses the stale one', async () => {
    await create();
    const before = (await get()).etag ?? '';
    await update({ etag: before, labels: {} }, ['labels']);
    expect((await get()).etag).not.toBe(before);
    expect(await code(update({ etag: before, labels: {} }, ['labels']))).toBe(Status.FAILED_PRECONDITION);
  });

  it('keeps the secret etag on AddSecretVersion', async () => {
    await create();
    const before = (await get()).etag;
    await add('etag-neutral-1');
    expect((await get()).etag).toBe(before);
  });

  it('skips the check for an empty etag', async () => {
    await create();
    await update({ etag: '', annotations: { note: 'x' } }, ['annotations']);
    expect(fake.secret('app-db')?.annotations).toEqual({ note: 'x' });
  });

  it('checks version etags on Destroy, Disable and Enable, and renews them on each', async () => {
    await create();
    await add('version-etag-1');
    const first = await versionEtag(1);
    const [disabled] = await sm.disableSecretVersion({ name: `${S}/versions/1`, etag: first });
    expect(disabled.etag).not.toBe(first);
    expect(await code(sm.enableSecretVersion({ name: `${S}/versions/1`, etag: first }))).toBe(Status.FAILED_PRECONDITION);
    expect(await code(sm.destroySecretVersion({ name: `${S}/versions/1`, etag: first }))).toBe(Status.FAILED_PRECONDITION);
    await sm.destroySecretVersion({ name: `${S}/versions/1`, etag: disabled.etag ?? '' });
    expect(fake.versions('app-db')[0]?.state).toBe('DESTROYED');
  });

  it('checks the etag on DeleteSecret', async () => {
    await create();
    const before = (await get()).etag ?? '';
    await update({ labels: { a: 'b' } }, ['labels']);
    expect(await code(sm.deleteSecret({ name: S, etag: before }))).toBe(Status.FAILED_PRECONDITION);
    await sm.deleteSecret({ name: S, etag: (await get()).etag ?? '' });
    expect(fake.secret('app-db')).toBeUndefined();
  });
});

describe('Secret Manager fake: UpdateSecret', () => {
  it('needs an update mask of known snake_case paths', async () => {
    await create();
    expect(await code(sm.updateSecret({ secret: { name: S, labels: { a: 'b' } } }))).toBe(Status.INVALID_ARGUMENT);
    for (const path of ['versionAliases', 'name', 'replication', 'etag', 'labels.a']) {
      expect(await code(update({ labels: { a: 'b' } }, [path])), path).toBe(Status.INVALID_ARGUMENT);
    }
    expect(fake.secret('app-db')?.labels).toEqual({});
  });

  it('changes only the fields the mask names', async () => {
    await create('app-db', { labels: { team: 'a' } });
    await update({ labels: { team: 'b' }, annotations: { note: 'n' } }, ['annotations']);
    expect(fake.secret('app-db')).toMatchObject({ labels: { team: 'a' }, annotations: { note: 'n' } });
  });

  it('changes nothing, etag included, when one field of the update is refused', async () => {
    await create();
    const before = fake.secret('app-db');
    expect(await code(update({ annotations: { note: 'n' }, versionAliases: { current: 9 } }, ['annotations', 'version_aliases']))).toBe(Status.INVALID_ARGUMENT);
    expect(fake.secret('app-db')).toEqual(before);
  });
});

describe('Secret Manager fake: labels and annotations', () => {
  it('takes at most 64 labels', async () => {
    const labels = (count: number) => Object.fromEntries(Array.from({ length: count }, (_, i) => [`k${i}`, 'v']));
    await create('sixty-four', { labels: labels(64) });
    expect(await code(create('sixty-five', { labels: labels(65) }))).toBe(Status.INVALID_ARGUMENT);
  });

  it('refuses malformed label keys and values without echoing the value', async () => {
    await create('ok', { labels: { ['k'.repeat(63)]: 'v'.repeat(63), 'a_-1': '', b: '0-_z' } });
    for (const labels of [{ Key: 'v' }, { '1k': 'v' }, { ['k'.repeat(64)]: 'v' }, { 'k.dot': 'v' }, { '': 'v' }]) {
      expect(await code(create('bad', { labels })), JSON.stringify(labels)).toBe(Status.INVALID_ARGUMENT);
    }
    for (const value of ['Upper-Label-Value', 'x'.repeat(64), 'has space', 'dot.value']) {
      const out = await failure(create('bad', { labels: { k: value } }));
      expect(out, value).toMatchObject({ code: Status.INVALID_ARGUMENT });
      expect(JSON.stringify(out)).not.toContain(value);
    }
  });

  it('refuses malformed annotation keys', async () => {
    await create('ok', { annotations: { 'rotator-v1': 'x', 'A.b_c-9': '', ['k'.repeat(63)]: 'v', z: 'any value: Ünïcode, spaces' } });
    for (const key of ['-lead', 'trail-', '.x', 'x.', 'k'.repeat(64), 'has space', 'slash/key']) {
      expect(await code(create('bad', { annotations: { [key]: 'v' } })), key).toBe(Status.INVALID_ARGUMENT);
    }
  });

  it('takes annotations of at most 16 KiB in total and refuses more without echoing a value', async () => {
    await create();
    // key "a" (1 byte) + value: exactly 16,384 bytes in total.
    await update({ annotations: { a: 'v'.repeat(16_383) } }, ['annotations']);
    const value = `annotation-secret-${'w'.repeat(16_366)}`;
    const out = await failure(update({ annotations: { a: value } }, ['annotations']));
    expect(out).toMatchObject({ code: Status.INVALID_ARGUMENT });
    expect(JSON.stringify(out)).not.toContain('annotation-secret-');
    expect(fake.secret('app-db')?.annotations.a).toHaveLength(16_383);
  });
});

describe('Secret Manager fake: ListSecrets', () => {
  beforeEach(async () => {
    await create('alpha-db', { labels: { 'rotator-enabled': 'true', team: 'a' } });
    await create('beta-db', { labels: { 'rotator-enabled': 'false', team: 'a' } });
    await create('gamma-api', { labels: { 'rotator-enabled': 'true' } });
    await create('alpha-db-rotator-pending');
  });
  const ids = async (filter: string) => {
    const [secrets] = await sm.listSecrets({ parent: P, filter }, { autoPaginate: false });
    return secrets.map((s) => s.name?.split('/').pop());
  };

  it('filters by label, by several labels joined by AND or spaces, and lists by name', async () => {
    expect(await ids('labels.rotator-enabled=true')).toEqual(['alpha-db', 'gamma-api']);
    expect(await ids('labels.rotator-enabled=true AND labels.team=a')).toEqual(['alpha-db']);
    expect(await ids('labels.rotator-enabled="true"  labels.team=a')).toEqual(['alpha-db']);
    expect(await ids('labels.team:*')).toEqual(['alpha-db', 'beta-db']);
    expect(await ids('')).toEqual(['alpha-db', 'alpha-db-rotator-pending', 'beta-db', 'gamma-api']);
  });

  it('matches name:<text> anywhere in the id, as the service does', async () => {
    expect(await ids('name:db')).toEqual(['alpha-db', 'alpha-db-rotator-pending', 'beta-db']);
    expect(await ids('name:alpha labels.rotator-enabled=true')).toEqual(['alpha-db']);
  });

  it('refuses filters it does not understand', async () => {
    for (const filter of ['labels.a=b OR labels.c=d', 'NOT labels.a=b', 'create_time>2020', 'labels.Team=a', 'labels.team=A', 'name=alpha-db', 'labels.team=']) {
      expect(await code(ids(filter)), filter).toBe(Status.INVALID_ARGUMENT);
    }
  });

  it('pages secrets by name and binds the token to its filter', async () => {
    const [first, , response] = await sm.listSecrets({ parent: P, pageSize: 3 }, { autoPaginate: false });
    expect(first.map((s) => s.name?.split('/').pop())).toEqual(['alpha-db', 'alpha-db-rotator-pending', 'beta-db']);
    const token = response.nextPageToken ?? '';
    const [rest] = await sm.listSecrets({ parent: P, pageSize: 3, pageToken: token }, { autoPaginate: false });
    expect(rest.map((s) => s.name?.split('/').pop())).toEqual(['gamma-api']);
    expect(await code(sm.listSecrets({ parent: P, pageSize: 3, pageToken: token, filter: 'name:a' }, { autoPaginate: false }))).toBe(Status.INVALID_ARGUMENT);
  });
});

describe('Secret Manager fake: rotation', () => {
  it('takes a rotation with a period of at least an hour, a next time and a topic, and returns both', async () => {
    await createRotating();
    const secret = await get();
    expect(Number(secret.rotation?.nextRotationTime?.seconds)).toBe(later(HOUR).getTime() / 1000);
    expect(Number(secret.rotation?.rotationPeriod?.seconds)).toBe(86_400);
    expect(secret.topics).toEqual([{ name: TOPIC }]);
  });

  it('refuses rotations the service refuses', async () => {
    const next = seconds(later(HOUR));
    const cases: Record<string, unknown>[] = [
      { topics: [{ name: TOPIC }], rotation: { nextRotationTime: next, rotationPeriod: { seconds: 3599 } } },
      { topics: [{ name: TOPIC }], rotation: { nextRotationTime: next, rotationPeriod: { seconds: 3_153_600_001 } } },
      { topics: [{ name: TOPIC }], rotation: { rotationPeriod: { seconds: 86_400 } } },
      { topics: [{ name: TOPIC }], rotation: { nextRotationTime: seconds(later(299_000)) } },
      { rotation: { nextRotationTime: next } },
      { topics: [{ name: 'rotations' }], rotation: { nextRotationTime: next } },
      { topics: Array.from({ length: 11 }, (_, i) => ({ name: `${TOPIC}-${i}` })) },
    ];
    for (const secret of cases) expect(await code(create('bad', secret)), JSON.stringify(secret)).toBe(Status.INVALID_ARGUMENT);
    await create('one-time', { topics: [{ name: TOPIC }], rotation: { nextRotationTime: seconds(later(300_000)) } });
  });

  it('keeps the period when an update masks only rotation.next_rotation_time', async () => {
    await createRotating();
    await update({ rotation: { nextRotationTime: seconds(later(2 * HOUR)) } }, ['rotation.next_rotation_time']);
    expect(fake.secret('app-db')?.rotation).toEqual({ nextRotationTime: later(2 * HOUR), rotationPeriodSeconds: 86_400 });
  });

  it('refuses to remove the last topic of a rotating secret', async () => {
    await createRotating();
    expect(await code(update({ topics: [] }, ['topics']))).toBe(Status.INVALID_ARGUMENT);
  });

  it('publishes SECRET_ROTATE once due and advances nextRotationTime by the period', async () => {
    await createRotating();
    expect(fake.fireDueRotations()).toEqual([]);
    const etag = fake.secret('app-db')?.etag;
    now = later(HOUR);
    const [message, ...more] = fake.fireDueRotations();
    expect(more).toEqual([]);
    expect(message).toMatchObject({ topic: TOPIC, attributes: { eventType: 'SECRET_ROTATE', secretId: AS, dataFormat: 'JSON_API_V1', timestamp: now.toISOString() } });
    expect(decode(message?.data ?? '')).toMatchObject({ name: AS, rotation: { nextRotationTime: later(86_400_000).toISOString(), rotationPeriod: '86400s' } });
    expect(fake.secret('app-db')?.rotation?.nextRotationTime).toEqual(later(86_400_000));
    expect(fake.secret('app-db')?.etag).not.toBe(etag);
    expect(fake.fireDueRotations()).toEqual([]);
  });

  it('uses up a one-time rotation (no period)', async () => {
    await create('app-db', { topics: [{ name: TOPIC }], rotation: { nextRotationTime: seconds(later(HOUR)) } });
    now = later(HOUR);
    expect(fake.fireDueRotations()).toHaveLength(1);
    expect(fake.secret('app-db')?.rotation).toBeUndefined();
    now = later(HOUR);
    expect(fake.fireDueRotations()).toEqual([]);
  });
});

describe('Secret Manager fake: delayed destruction and expiry', () => {
  const DAY_S = 86_400;

  it('with version_destroy_ttl, disables on destroy and destroys once the ttl has passed', async () => {
    await create('app-db', { versionDestroyTtl: { seconds: DAY_S } });
    await add('delayed-destroy-1');
    const [scheduled] = await sm.destroySecretVersion({ name: `${S}/versions/1` });
    expect(scheduled.state).toBe('DISABLED');
    expect(Number(scheduled.scheduledDestroyTime?.seconds)).toBe(START.getTime() / 1000 + DAY_S);
    expect(fake.payload('app-db', 1)?.toString()).toBe('delayed-destroy-1');
    now = later(DAY_S * 1000 - 1);
    expect(fake.versions('app-db')[0]?.state).toBe('DISABLED');
    now = later(1);
    expect(fake.versions('app-db')[0]?.state).toBe('DESTROYED');
    expect(fake.payload('app-db', 1)).toBeUndefined();
  });

  it('cancels a scheduled destruction when the version is enabled before the ttl passes', async () => {
    await create('app-db', { versionDestroyTtl: { seconds: DAY_S } });
    await add('rescued-value-1');
    await sm.destroySecretVersion({ name: `${S}/versions/1` });
    await sm.enableSecretVersion({ name: `${S}/versions/1` });
    now = later(2 * DAY_S * 1000);
    expect(fake.versions('app-db')).toEqual([{ n: 1, state: 'ENABLED', createTime: START }]);
    expect(await access('1')).toBe('rescued-value-1');
  });

  it('takes a version_destroy_ttl of at least 24 hours', async () => {
    expect(await code(create('short', { versionDestroyTtl: { seconds: DAY_S - 1 } }))).toBe(Status.INVALID_ARGUMENT);
    await create('app-db');
    await update({ versionDestroyTtl: { seconds: DAY_S } }, ['version_destroy_ttl']);
    expect(fake.secret('app-db')?.versionDestroyTtlSeconds).toBe(DAY_S);
  });

  it('deletes a secret once its ttl has passed', async () => {
    await create('app-db', { ttl: { seconds: 3600 }, topics: [{ name: TOPIC }] });
    now = later(HOUR);
    expect(await code(get())).toBe(Status.NOT_FOUND);
    expect(fake.published.at(-1)?.attributes).toMatchObject({ eventType: 'SECRET_DELETE', deleteType: 'EXPIRATION' });
  });
});

describe('Secret Manager fake: notifications', () => {
  it('publishes one message per topic for each change, with the documented attributes', async () => {
    const other = `${P}/topics/audit`;
    await create('app-db', { topics: [{ name: TOPIC }, { name: other }] });
    await add('notified-value-1');
    await update({ versionAliases: { current: 1 } }, ['version_aliases']);
    expect(fake.published.map((m) => [m.attributes.eventType, m.topic])).toEqual([
      ['SECRET_CREATE', TOPIC],
      ['SECRET_CREATE', other],
      ['SECRET_VERSION_ADD', TOPIC],
      ['SECRET_VERSION_ADD', other],
      ['SECRET_UPDATE', TOPIC],
      ['SECRET_UPDATE', other],
    ]);
    expect(fake.published[2]?.attributes).toEqual({ eventType: 'SECRET_VERSION_ADD', secretId: AS, versionId: `${AS}/versions/1`, dataFormat: 'JSON_API_V1', timestamp: START.toISOString() });
  });

  it('carries the Secret as the REST API shows it, and never a payload', async () => {
    await create('app-db', { topics: [{ name: TOPIC }], labels: { team: 'a' } });
    await add('never-in-a-notification-1');
    await update({ versionAliases: { current: 1 } }, ['version_aliases']);
    const update_ = fake.published.find((m) => m.attributes.eventType === 'SECRET_UPDATE');
    expect(decode(update_?.data ?? '')).toMatchObject({ name: AS, labels: { team: 'a' }, versionAliases: { current: '1' }, topics: [{ name: TOPIC }], etag: fake.secret('app-db')?.etag });
    const added = fake.published.find((m) => m.attributes.eventType === 'SECRET_VERSION_ADD');
    expect(decode(added?.data ?? '')).toMatchObject({ name: `${AS}/versions/1`, state: 'ENABLED', createTime: START.toISOString() });
    const everything = JSON.stringify(fake.published.map((m) => [m, Buffer.from(m.data, 'base64').toString()]));
    expect(everything).not.toContain('never-in-a-notification-1');
  });

  it('publishes the scheduled and the final destruction of a version', async () => {
    await create('app-db', { topics: [{ name: TOPIC }], versionDestroyTtl: { seconds: 86_400 } });
    await add('scheduled-destroy-1');
    await sm.destroySecretVersion({ name: `${S}/versions/1` });
    now = later(86_400_000);
    fake.versions('app-db');
    expect(fake.published.map((m) => m.attributes.eventType).slice(2)).toEqual(['SECRET_VERSION_DESTROY_SCHEDULED', 'SECRET_VERSION_DESTROY']);
    expect(fake.published.at(-1)?.attributes.timestamp).toBe(now.toISOString());
  });

  it('publishes nothing for a secret without topics', async () => {
    await create();
    await add('quiet-value-1');
    await update({ labels: { a: 'b' } }, ['labels']);
    expect(fake.published).toEqual([]);
  });
});

describe('Secret Manager fake: inspection', () => {
  it('hands out copies, so a test cannot change the fake by accident', async () => {
    await create('app-db', { labels: { team: 'a' } });
    await add('copied-value-1');
    const view = fake.secret('app-db');
    if (view !== undefined) view.labels.team = 'changed';
    fake.payload('app-db', 1)?.fill(0);
    expect(fake.secret('app-db')?.labels).toEqual({ team: 'a' });
    expect(await access('1')).toBe('copied-value-1');
  });
});
