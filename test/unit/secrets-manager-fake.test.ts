import {
  CreateSecretCommand,
  DescribeSecretCommand,
  GetSecretValueCommand,
  ListSecretsCommand,
  ListSecretVersionIdsCommand,
  PutSecretValueCommand,
  RotateSecretCommand,
  TagResourceCommand,
  UntagResourceCommand,
  UpdateSecretVersionStageCommand,
  type SecretsManagerClient,
} from '@aws-sdk/client-secrets-manager';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { recordSecrets } from '../support/canary.js';
import { startSecretsManagerFake, type SecretsManagerFake } from '../fakes/aws/secrets-manager.js';

/** The fake's own rules, each pinned through the real SDK client so the wire protocol is exercised too. */

let fake: SecretsManagerFake;
let sm: SecretsManagerClient;

beforeEach(async () => {
  fake = await startSecretsManagerFake();
  sm = fake.client({ maxAttempts: 1 });
});
afterEach(async () => {
  sm.destroy();
  await fake.close();
});

const TOKEN_1 = 'token-1-aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa';
const TOKEN_2 = 'token-2-bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb';
const TOKEN_3 = 'token-3-cccccccccccccccccccccccccccccccc';

/** The error name the SDK raised (how callers must tell errors apart), or 'resolved'. */
async function errorName(promise: Promise<unknown>): Promise<string> {
  try {
    await promise;
    return 'resolved';
  } catch (error) {
    return error instanceof Error ? error.name : 'non-error';
  }
}

async function stages(secretId = 'app/db'): Promise<Record<string, string[] | undefined>> {
  const out = await sm.send(new DescribeSecretCommand({ SecretId: secretId }));
  return out.VersionIdsToStages ?? {};
}

async function create(name = 'app/db', value = 'initial-value-1'): Promise<string> {
  recordSecrets(value);
  const out = await sm.send(new CreateSecretCommand({ Name: name, SecretString: value, ClientRequestToken: TOKEN_1 }));
  return out.ARN ?? '';
}

describe('Secrets Manager fake: secrets and values', () => {
  it('creates a secret with an ARN in the service format and reads it by name or ARN', async () => {
    const arn = await create();
    expect(arn).toMatch(/^arn:aws:secretsmanager:us-east-1:123456789012:secret:app\/db-[A-Za-z]{6}$/);
    for (const id of ['app/db', arn]) {
      const value = await sm.send(new GetSecretValueCommand({ SecretId: id }));
      expect(value).toMatchObject({ ARN: arn, Name: 'app/db', VersionId: TOKEN_1, SecretString: 'initial-value-1', VersionStages: ['AWSCURRENT'] });
      expect(value.CreatedDate).toBeInstanceOf(Date);
    }
    expect(await errorName(sm.send(new CreateSecretCommand({ Name: 'app/db', SecretString: 'x' })))).toBe('ResourceExistsException');
    expect(await errorName(sm.send(new GetSecretValueCommand({ SecretId: 'nope' })))).toBe('ResourceNotFoundException');
    expect(await errorName(sm.send(new DescribeSecretCommand({ SecretId: 'nope' })))).toBe('ResourceNotFoundException');
  });

  it('describes rotation settings, versions and tags, and TagResource merges tags', async () => {
    await sm.send(new CreateSecretCommand({ Name: 'app/db', SecretString: 'initial-value-1', ClientRequestToken: TOKEN_1, Tags: [{ Key: 'team', Value: 'a' }] }));
    await sm.send(new TagResourceCommand({ SecretId: 'app/db', Tags: [{ Key: 'team', Value: 'b' }, { Key: 'env', Value: 'prod' }] }));
    const out = await sm.send(new DescribeSecretCommand({ SecretId: 'app/db' }));
    expect(out.RotationEnabled).toBeUndefined();
    expect(out.VersionIdsToStages).toEqual({ [TOKEN_1]: ['AWSCURRENT'] });
    expect(out.Tags).toEqual([
      { Key: 'team', Value: 'b' },
      { Key: 'env', Value: 'prod' },
    ]);
  });

  it('PutSecretValue moves AWSCURRENT by default and AWSPREVIOUS follows; reads by VersionId and VersionStage', async () => {
    await create();
    await sm.send(new PutSecretValueCommand({ SecretId: 'app/db', ClientRequestToken: TOKEN_2, SecretString: 'second-value-2' }));
    expect(await stages()).toEqual({ [TOKEN_1]: ['AWSPREVIOUS'], [TOKEN_2]: ['AWSCURRENT'] });
    await sm.send(new PutSecretValueCommand({ SecretId: 'app/db', ClientRequestToken: TOKEN_3, SecretString: 'third-value-3' }));
    // TOKEN_1 lost its last label: DescribeSecret leaves it out, ListSecretVersionIds shows it only with IncludeDeprecated.
    expect(await stages()).toEqual({ [TOKEN_2]: ['AWSPREVIOUS'], [TOKEN_3]: ['AWSCURRENT'] });
    const listed = await sm.send(new ListSecretVersionIdsCommand({ SecretId: 'app/db' }));
    expect(listed.Versions?.map((v) => v.VersionId).sort()).toEqual([TOKEN_2, TOKEN_3]);
    const all = await sm.send(new ListSecretVersionIdsCommand({ SecretId: 'app/db', IncludeDeprecated: true }));
    expect(all.Versions?.map((v) => [v.VersionId, v.VersionStages ?? []])).toContainEqual([TOKEN_1, []]);
    expect(all.Versions?.every((v) => v.CreatedDate instanceof Date)).toBe(true);
    // A deprecated version can still be read by id until the service deletes it.
    expect((await sm.send(new GetSecretValueCommand({ SecretId: 'app/db', VersionId: TOKEN_1 }))).SecretString).toBe('initial-value-1');
    expect((await sm.send(new GetSecretValueCommand({ SecretId: 'app/db', VersionStage: 'AWSPREVIOUS' }))).SecretString).toBe('second-value-2');
    // VersionId with VersionStage: only when that version carries the label.
    expect((await sm.send(new GetSecretValueCommand({ SecretId: 'app/db', VersionId: TOKEN_3, VersionStage: 'AWSCURRENT' }))).SecretString).toBe('third-value-3');
    expect(await errorName(sm.send(new GetSecretValueCommand({ SecretId: 'app/db', VersionId: TOKEN_2, VersionStage: 'AWSCURRENT' })))).toBe('ResourceNotFoundException');
    expect(await errorName(sm.send(new GetSecretValueCommand({ SecretId: 'app/db', VersionId: 'no-such-version-xxxxxxxxxxxxxxxxxxxxxx' })))).toBe(
      'ResourceNotFoundException',
    );
  });

  it('PutSecretValue with the same token and value is ignored; another value is ResourceExistsException', async () => {
    await create();
    recordSecrets('pending-value-A', 'pending-value-B');
    const first = await sm.send(new PutSecretValueCommand({ SecretId: 'app/db', ClientRequestToken: TOKEN_2, SecretString: 'pending-value-A', VersionStages: ['AWSPENDING'] }));
    expect(first).toMatchObject({ VersionId: TOKEN_2, VersionStages: ['AWSPENDING'] });
    const again = await sm.send(new PutSecretValueCommand({ SecretId: 'app/db', ClientRequestToken: TOKEN_2, SecretString: 'pending-value-A', VersionStages: ['AWSCURRENT'] }));
    // Ignored, labels included: AWSCURRENT did not move.
    expect(again).toMatchObject({ VersionId: TOKEN_2, VersionStages: ['AWSPENDING'] });
    expect(await stages()).toEqual({ [TOKEN_1]: ['AWSCURRENT'], [TOKEN_2]: ['AWSPENDING'] });
    const conflict = sm.send(new PutSecretValueCommand({ SecretId: 'app/db', ClientRequestToken: TOKEN_2, SecretString: 'pending-value-B', VersionStages: ['AWSPENDING'] }));
    expect(await errorName(conflict)).toBe('ResourceExistsException');
    expect((await sm.send(new GetSecretValueCommand({ SecretId: 'app/db', VersionStage: 'AWSPENDING' }))).SecretString).toBe('pending-value-A');
  });

  it('PutSecretValue requires a 32-64 character token and a value of at most 65,536 bytes', async () => {
    await create();
    const put = (token: string, value = 'v-value-1'): Promise<string> =>
      errorName(sm.send(new PutSecretValueCommand({ SecretId: 'app/db', ClientRequestToken: token, SecretString: value })));
    expect(await put('x'.repeat(31))).toBe('ValidationException');
    expect(await put('x'.repeat(65))).toBe('ValidationException');
    expect(await put('x'.repeat(32))).toBe('resolved');
    expect(await put('y'.repeat(64))).toBe('resolved');
    expect(await put(TOKEN_2, 'a'.repeat(65_536))).toBe('resolved');
    let error: unknown;
    const tooBig = 'secret-' + 'é'.repeat(32_765); // 65,537 bytes, far fewer characters
    recordSecrets(tooBig);
    try {
      await sm.send(new PutSecretValueCommand({ SecretId: 'app/db', ClientRequestToken: TOKEN_3, SecretString: tooBig }));
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(Error);
    expect((error as Error).name).toBe('ValidationException');
    expect((error as Error).message).not.toContain('secret-é');
    expect(await put(TOKEN_3)).toBe('resolved'); // nothing was stored under the refused token
  });
});

describe('Secrets Manager fake: UpdateSecretVersionStage', () => {
  beforeEach(async () => {
    await create();
    await sm.send(new PutSecretValueCommand({ SecretId: 'app/db', ClientRequestToken: TOKEN_2, SecretString: 'pending-value-2', VersionStages: ['AWSPENDING'] }));
  });

  it('refuses to move a label attached elsewhere without the matching RemoveFromVersionId', async () => {
    const move = (remove?: string): Promise<string> =>
      errorName(
        sm.send(
          new UpdateSecretVersionStageCommand({
            SecretId: 'app/db',
            VersionStage: 'AWSCURRENT',
            MoveToVersionId: TOKEN_2,
            ...(remove === undefined ? {} : { RemoveFromVersionId: remove }),
          }),
        ),
      );
    expect(await move()).toBe('InvalidParameterException');
    expect(await move(TOKEN_2)).toBe('InvalidParameterException'); // names the wrong version
    expect(await stages()).toEqual({ [TOKEN_1]: ['AWSCURRENT'], [TOKEN_2]: ['AWSPENDING'] });
    expect(await move(TOKEN_1)).toBe('resolved');
    // Moving AWSCURRENT moved AWSPREVIOUS to the old current; AWSPENDING stays where it was (finished, as AWS sees it).
    expect(await stages()).toEqual({ [TOKEN_1]: ['AWSPREVIOUS'], [TOKEN_2]: ['AWSPENDING', 'AWSCURRENT'] });
    // Moving to the version that already has the label is a no-op.
    expect(await move()).toBe('resolved');
  });

  it('adds a free label without RemoveFromVersionId, removes labels, and never removes AWSCURRENT outright', async () => {
    const update = (input: { VersionStage: string; MoveToVersionId?: string; RemoveFromVersionId?: string }): Promise<string> =>
      errorName(sm.send(new UpdateSecretVersionStageCommand({ SecretId: 'app/db', ...input })));
    expect(await update({ VersionStage: 'CUSTOM', MoveToVersionId: TOKEN_1 })).toBe('resolved');
    expect(await update({ VersionStage: 'CUSTOM', RemoveFromVersionId: TOKEN_2 })).toBe('InvalidParameterException'); // not there
    expect(await update({ VersionStage: 'AWSPENDING', RemoveFromVersionId: TOKEN_2 })).toBe('resolved');
    expect(await update({ VersionStage: 'AWSCURRENT', RemoveFromVersionId: TOKEN_1 })).toBe('InvalidParameterException');
    expect(await update({ VersionStage: 'AWSCURRENT' })).toBe('InvalidParameterException');
    expect(await update({ VersionStage: 'AWSCURRENT', MoveToVersionId: 'no-such-version-xxxxxxxxxxxxxxxxxxxxxx', RemoveFromVersionId: TOKEN_1 })).toBe(
      'ResourceNotFoundException',
    );
    // TOKEN_2 has no label left: out of DescribeSecret, still a version.
    expect(await stages()).toEqual({ [TOKEN_1]: ['AWSCURRENT', 'CUSTOM'] });
    const all = await sm.send(new ListSecretVersionIdsCommand({ SecretId: 'app/db', IncludeDeprecated: true }));
    expect(all.Versions?.map((v) => v.VersionId)).toContain(TOKEN_2);
  });
});

describe('Secrets Manager fake: RotateSecret', () => {
  beforeEach(async () => {
    await create();
  });

  it('creates a value-less AWSPENDING stub, invokes nothing, and returns its VersionId', async () => {
    const out = await sm.send(new RotateSecretCommand({ SecretId: 'app/db', ClientRequestToken: TOKEN_2, RotationRules: { AutomaticallyAfterDays: 30 } }));
    expect(out.VersionId).toBe(TOKEN_2);
    expect(await stages()).toEqual({ [TOKEN_1]: ['AWSCURRENT'], [TOKEN_2]: ['AWSPENDING'] });
    const described = await sm.send(new DescribeSecretCommand({ SecretId: 'app/db' }));
    expect(described.RotationEnabled).toBe(true);
    expect(described.RotationRules).toEqual({ AutomaticallyAfterDays: 30 });
    // The stub has no value: reading it, by label or by id, is ResourceNotFoundException.
    expect(await errorName(sm.send(new GetSecretValueCommand({ SecretId: 'app/db', VersionStage: 'AWSPENDING' })))).toBe('ResourceNotFoundException');
    expect(await errorName(sm.send(new GetSecretValueCommand({ SecretId: 'app/db', VersionId: TOKEN_2 })))).toBe('ResourceNotFoundException');
    // The SDK's own token (a UUID) works too.
    expect((await sm.send(new ListSecretVersionIdsCommand({ SecretId: 'app/db' }))).Versions).toHaveLength(2);
  });

  it('is refused while AWSPENDING is on another version than AWSCURRENT, and allowed again once the rotation finished', async () => {
    await sm.send(new RotateSecretCommand({ SecretId: 'app/db', ClientRequestToken: TOKEN_2 }));
    // The same call retried is answered again without a second stub.
    expect((await sm.send(new RotateSecretCommand({ SecretId: 'app/db', ClientRequestToken: TOKEN_2 }))).VersionId).toBe(TOKEN_2);
    expect(await errorName(sm.send(new RotateSecretCommand({ SecretId: 'app/db', ClientRequestToken: TOKEN_3 })))).toBe('InvalidRequestException');

    // The rotation function's createSecret and finishSecret, as AWS's templates make them.
    recordSecrets('rotated-value-2');
    await sm.send(new PutSecretValueCommand({ SecretId: 'app/db', ClientRequestToken: TOKEN_2, SecretString: 'rotated-value-2', VersionStages: ['AWSPENDING'] }));
    expect((await sm.send(new GetSecretValueCommand({ SecretId: 'app/db', VersionId: TOKEN_2, VersionStage: 'AWSPENDING' }))).SecretString).toBe('rotated-value-2');
    expect(await errorName(sm.send(new RotateSecretCommand({ SecretId: 'app/db', ClientRequestToken: TOKEN_3 })))).toBe('InvalidRequestException');
    expect((await sm.send(new DescribeSecretCommand({ SecretId: 'app/db' }))).LastRotatedDate).toBeUndefined();
    await sm.send(new UpdateSecretVersionStageCommand({ SecretId: 'app/db', VersionStage: 'AWSCURRENT', MoveToVersionId: TOKEN_2, RemoveFromVersionId: TOKEN_1 }));
    expect(await stages()).toEqual({ [TOKEN_1]: ['AWSPREVIOUS'], [TOKEN_2]: ['AWSPENDING', 'AWSCURRENT'] });
    // The rotation completed: the service records when.
    expect((await sm.send(new DescribeSecretCommand({ SecretId: 'app/db' }))).LastRotatedDate).toBeInstanceOf(Date);

    // AWSPENDING sits on AWSCURRENT: finished, so the next rotation may start and takes the label.
    await sm.send(new RotateSecretCommand({ SecretId: 'app/db', ClientRequestToken: TOKEN_3 }));
    expect(await stages()).toEqual({ [TOKEN_1]: ['AWSPREVIOUS'], [TOKEN_2]: ['AWSCURRENT'], [TOKEN_3]: ['AWSPENDING'] });
  });

  it('with RotateImmediately=false records the settings and creates no version', async () => {
    const out = await sm.send(new RotateSecretCommand({ SecretId: 'app/db', RotateImmediately: false, RotationRules: { ScheduleExpression: 'rate(10 days)' } }));
    expect(out.VersionId).toBeUndefined();
    expect(await stages()).toEqual({ [TOKEN_1]: ['AWSCURRENT'] });
    expect((await sm.send(new DescribeSecretCommand({ SecretId: 'app/db' }))).RotationEnabled).toBe(true);
  });
});

describe('Secrets Manager fake: rotation rules and tags', () => {
  beforeEach(async () => {
    await create();
  });

  const rotate = (RotationRules: Record<string, unknown>): Promise<unknown> =>
    sm.send(new RotateSecretCommand({ SecretId: 'app/db', RotateImmediately: false, RotationRules }));

  it('accepts what the service accepts, describes a rate in days with AutomaticallyAfterDays too, and dates the next rotation', async () => {
    for (const [rules, described] of [
      [{ ScheduleExpression: 'rate(4 hours)', Duration: '4h' }, { ScheduleExpression: 'rate(4 hours)', Duration: '4h' }],
      [{ ScheduleExpression: 'rate(23 hours)' }, { ScheduleExpression: 'rate(23 hours)' }],
      [{ ScheduleExpression: 'rate(999 days)' }, { ScheduleExpression: 'rate(999 days)', AutomaticallyAfterDays: 999 }],
      [{ AutomaticallyAfterDays: 1000, Duration: '24h' }, { AutomaticallyAfterDays: 1000, Duration: '24h' }],
      [{ ScheduleExpression: 'cron(0 4 ? * SUN *)', Duration: '1h' }, { ScheduleExpression: 'cron(0 4 ? * SUN *)', Duration: '1h' }],
    ] as const) {
      await rotate(rules);
      const out = await sm.send(new DescribeSecretCommand({ SecretId: 'app/db' }));
      expect(out.RotationRules).toEqual(described);
      const listed = (await sm.send(new ListSecretsCommand({}))).SecretList?.[0];
      expect(listed?.RotationRules).toEqual(described);
      expect(listed?.NextRotationDate).toEqual(out.NextRotationDate);
      if ('ScheduleExpression' in rules && rules.ScheduleExpression.startsWith('cron')) expect(out.NextRotationDate).toBeUndefined();
      else expect(out.NextRotationDate).toBeInstanceOf(Date);
    }
    await rotate({ ScheduleExpression: 'rate(6 hours)' });
    const out = await sm.send(new DescribeSecretCommand({ SecretId: 'app/db' }));
    expect(out.NextRotationDate?.getTime()).toBe((out.CreatedDate?.getTime() ?? 0) + 6 * 3_600_000);
  });

  it.each([
    ['both forms', { AutomaticallyAfterDays: 3, ScheduleExpression: 'rate(3 days)' }],
    ['neither', { Duration: '3h' }],
    ['3 hours', { ScheduleExpression: 'rate(3 hours)' }],
    ['24 hours', { ScheduleExpression: 'rate(24 hours)' }],
    ['0 days', { ScheduleExpression: 'rate(0 days)' }],
    ['1000 days as a rate', { ScheduleExpression: 'rate(1000 days)' }],
    ['1001 days', { AutomaticallyAfterDays: 1001 }],
    ['a cron of five fields', { ScheduleExpression: 'cron(0 4 * * ?)' }],
    ['a window of 25h', { AutomaticallyAfterDays: 3, Duration: '25h' }],
    ['a window of 0h', { AutomaticallyAfterDays: 3, Duration: '0h' }],
    ['a window longer than the rate', { ScheduleExpression: 'rate(4 hours)', Duration: '5h' }],
  ])('refuses RotationRules with %s', async (_label, rules) => {
    expect(await errorName(rotate(rules))).toBe('InvalidParameterException');
  });

  it('enforces the tag limits: 50 tags, keys of 127 and values of 255 characters, the allowed characters, no aws: keys; UntagResource removes keys', async () => {
    const tag = (Key: string, Value = 'v'): Promise<unknown> => sm.send(new TagResourceCommand({ SecretId: 'app/db', Tags: [{ Key, Value }] }));
    expect(await errorName(tag('k'.repeat(127), 'v'.repeat(255)))).toBe('resolved');
    expect(await errorName(tag('k'.repeat(128)))).toBe('ValidationException');
    expect(await errorName(tag('long-value', 'v'.repeat(256)))).toBe('ValidationException');
    expect(await errorName(tag(''))).toBe('ValidationException');
    for (const bad of ['semi;colon', 'new\nline', 'tab\tkey', 'bell\u0007', 'AWS:reserved']) expect(await errorName(tag(bad)), bad).toBe('InvalidParameterException');
    expect(await errorName(tag('ok', 'Ünïcode letters: 1.2/3=4+5-6@7_8'))).toBe('resolved');
    expect(await errorName(tag('ok', 'spaces are allowed'))).toBe('resolved');
    // Two tags so far (the 127-character key and `ok`): 48 more make 50.
    const Tags = Array.from({ length: 49 }, (_, i) => ({ Key: `k${String(i)}`, Value: 'v' }));
    await sm.send(new TagResourceCommand({ SecretId: 'app/db', Tags: Tags.slice(0, 48) }));
    expect(await errorName(tag('k48'))).toBe('InvalidParameterException'); // 51
    expect(await errorName(tag('k0', 'replaced'))).toBe('resolved'); // replacing keeps 50
    await sm.send(new UntagResourceCommand({ SecretId: 'app/db', TagKeys: ['k0', 'absent'] }));
    expect(await errorName(sm.send(new UntagResourceCommand({ SecretId: 'app/db', TagKeys: ['aws:rds:primaryDBInstanceArn'] })))).toBe('InvalidParameterException');
    const out = await sm.send(new DescribeSecretCommand({ SecretId: 'app/db' }));
    expect(out.Tags).toHaveLength(49);
    expect(out.Tags?.map((t) => t.Key)).not.toContain('k0');
    // A secret an AWS service made carries aws: tags, which do not count against the 50.
    const rdsTags = [{ Key: 'aws:rds:primaryDBInstanceArn', Value: 'arn:aws:rds:us-east-1:123456789012:db:primary' }];
    expect(await errorName(sm.send(new CreateSecretCommand({ Name: 'rds-made', Tags: [...Tags.slice(0, 49), { Key: 'k49', Value: 'v' }, ...rdsTags] })))).toBe('resolved');
    expect(await errorName(sm.send(new CreateSecretCommand({ Name: 'many', Tags: [...Tags, { Key: 'x', Value: 'y' }, ...Tags.slice(0, 3).map((t) => ({ ...t, Key: `${t.Key}b` }))] })))).toBe(
      'InvalidParameterException',
    );
  });
});

describe('Secrets Manager fake: listing, counting and failures', () => {
  it('lists secrets page by page', async () => {
    for (const name of ['c', 'a', 'b']) await sm.send(new CreateSecretCommand({ Name: name, SecretString: 'some-value-1' }));
    const names: string[] = [];
    let next: string | undefined;
    let pages = 0;
    do {
      const page = await sm.send(new ListSecretsCommand({ MaxResults: 2, ...(next === undefined ? {} : { NextToken: next }) }));
      names.push(...(page.SecretList ?? []).map((s) => s.Name ?? ''));
      next = page.NextToken;
      pages++;
    } while (next !== undefined);
    expect(names).toEqual(['a', 'b', 'c']);
    expect(pages).toBe(2);
    // The name filter is a prefix match that ignores case, as the service's.
    await sm.send(new CreateSecretCommand({ Name: 'Team/db', SecretString: 'some-value-1' }));
    const filtered = await sm.send(new ListSecretsCommand({ Filters: [{ Key: 'name', Values: ['team/'] }] }));
    expect((filtered.SecretList ?? []).map((s) => s.Name)).toEqual(['Team/db']);
    expect(await errorName(sm.send(new ListSecretsCommand({ NextToken: 'bm9wZQ==' })))).toBe('InvalidNextTokenException');
  });

  it('counts requests by operation, never records values, and fails chosen requests by error name', async () => {
    await create();
    fake.resetCounts();
    await sm.send(new GetSecretValueCommand({ SecretId: 'app/db' }));
    await sm.send(new DescribeSecretCommand({ SecretId: 'app/db' }));
    expect(fake.counts()).toEqual({ GetSecretValue: 1, DescribeSecret: 1 });
    expect(JSON.stringify(fake.requests)).not.toContain('initial-value-1');
    // Each request carries its arrival time, in order.
    const times = fake.requests.map((r) => r.at);
    expect(times.every((t, i) => i === 0 || t >= (times[i - 1] ?? 0))).toBe(true);

    fake.fail({ operation: 'GetSecretValue', type: 'AccessDeniedException' });
    expect(await errorName(sm.send(new GetSecretValueCommand({ SecretId: 'app/db' })))).toBe('AccessDeniedException');
    expect(await errorName(sm.send(new GetSecretValueCommand({ SecretId: 'app/db' })))).toBe('resolved');

    // A throttled request is retried by the SDK (with its default three attempts).
    const retrying = fake.client();
    fake.fail({ operation: 'DescribeSecret', type: 'ThrottlingException', times: 2 });
    fake.resetCounts();
    expect(await errorName(retrying.send(new DescribeSecretCommand({ SecretId: 'app/db' })))).toBe('resolved');
    expect(fake.count('DescribeSecret')).toBe(3);
    retrying.destroy();
  });
});
