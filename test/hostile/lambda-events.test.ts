import { CreateSecretCommand, type SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createPurgeHandler } from '../../functions/aws/purge-handler.js';
import { createRotateHandler } from '../../functions/aws/rotate.js';
import type { LambdaHandler } from '../../functions/aws/lambda.js';
import { startSecretsManagerFake, type SecretsManagerFake } from '../fakes/aws/secrets-manager.js';
import { recordSecrets } from '../support/canary.js';
import { captureOutput, functionClient, lambdaContext, refusal, rotateSecret, stages, type OutputCapture } from '../support/lambda.js';
import { expectNoRawControl } from './harness.js';

/**
 * Malformed events to the Lambda functions, sent as Lambda would deliver them (any JSON the invoker chose), against
 * the Secrets Manager fake: each is refused with a typed error naming the bad field, nothing is written to Secrets
 * Manager, the labels are as they were, and nothing printed carries a raw control character from the event.
 */
const MUTATING = ['PutSecretValue', 'UpdateSecretVersionStage', 'RotateSecret', 'CreateSecret', 'TagResource'];

let fake: SecretsManagerFake;
let sm: SecretsManagerClient;
let arn: string;
let pendingToken: string;
let output: OutputCapture;
let rotate: LambdaHandler;
let purge: LambdaHandler;

beforeAll(async () => {
  fake = await startSecretsManagerFake();
  sm = fake.client();
  const password = `Lambda-${Math.random().toString(36).slice(2)}-pw`;
  recordSecrets(password);
  const created = await sm.send(
    new CreateSecretCommand({
      Name: 'hostile-lambda',
      SecretString: JSON.stringify({ engine: 'postgres', host: '127.0.0.1', port: 5432, username: 'app', password, dbname: 'app', ssl: true }),
    }),
  );
  arn = created.ARN ?? '';
  pendingToken = (await rotateSecret(sm, arn)) ?? '';
  rotate = createRotateHandler({ client: functionClient(fake.endpoint), rotators: [], engineFamily: 'postgres', config: { defaultStrategy: 'single-user', logLevel: 'debug' } });
  purge = createPurgeHandler({
    client: functionClient(fake.endpoint),
    rotators: [],
    config: { defaultStrategy: 'single-user', logLevel: 'debug', retention: { safeWindowMs: 0, keepSuperseded: 0 } },
  });
});

afterAll(async () => {
  sm.destroy();
  await fake.close();
});

beforeEach(() => {
  fake.resetCounts();
  output = captureOutput();
});

afterEach(() => {
  output.stop();
});

async function expectRefused(handler: LambdaHandler, event: unknown, code: string, field?: string): Promise<void> {
  const before = await stages(sm, arn);
  fake.resetCounts();
  const error = await refusal(handler(event, lambdaContext(60_000)));
  expect(error.code).toBe(code);
  if (field !== undefined) expect(error.message).toContain(field);
  expectNoRawControl(error.message);
  for (const operation of MUTATING) expect(fake.count(operation), operation).toBe(0);
  expect(await stages(sm, arn)).toEqual(before);
  expectNoRawControl(output.text().replace(/\n/g, ''));
}

function rotationEvent(overrides: Record<string, unknown>): Record<string, unknown> {
  return { SecretId: arn, ClientRequestToken: pendingToken, Step: 'createSecret', ...overrides };
}

describe('the rotation function', () => {
  const malformed: ReadonlyArray<readonly [string, () => unknown, string | undefined]> = [
    ['null', () => null, 'event'],
    ['a string', () => 'createSecret', 'event'],
    ['a number', () => 42, 'event'],
    ['an array', () => [rotationEvent({})], 'event'],
    ['an empty object', () => ({}), 'SecretId'],
    ['no SecretId', () => ({ ClientRequestToken: pendingToken, Step: 'createSecret' }), 'SecretId'],
    ['an empty SecretId', () => rotationEvent({ SecretId: '' }), 'SecretId'],
    ['a SecretId of 2049 characters', () => rotationEvent({ SecretId: 'a'.repeat(2049) }), 'SecretId'],
    ['a SecretId with CR/LF', () => rotationEvent({ SecretId: `${arn}\r\nforged` }), 'SecretId'],
    ['a SecretId with NUL', () => rotationEvent({ SecretId: `${arn}\u0000` }), 'SecretId'],
    ['a SecretId that is an object', () => rotationEvent({ SecretId: { toString: 'x' } }), 'SecretId'],
    ['a token of 31 characters', () => rotationEvent({ ClientRequestToken: 'a'.repeat(31) }), 'ClientRequestToken'],
    ['a token of 65 characters', () => rotationEvent({ ClientRequestToken: 'a'.repeat(65) }), 'ClientRequestToken'],
    ['a token with LF', () => rotationEvent({ ClientRequestToken: `${pendingToken.slice(0, 36)}\nforged` }), 'ClientRequestToken'],
    ['a token that is a number', () => rotationEvent({ ClientRequestToken: 1234567890 }), 'ClientRequestToken'],
    ['an unknown step', () => rotationEvent({ Step: 'deleteSecret' }), 'Step'],
    ['a step in the wrong case', () => rotationEvent({ Step: 'createsecret' }), 'Step'],
    ['a step with a trailing LF', () => rotationEvent({ Step: 'createSecret\n' }), 'Step'],
    ['a RotationToken that is a number', () => rotationEvent({ RotationToken: 7 }), 'RotationToken'],
    ['a RotationToken of 4097 characters', () => rotationEvent({ RotationToken: 'r'.repeat(4097) }), 'RotationToken'],
    ['a step smuggled through __proto__', (): unknown => JSON.parse(`{"SecretId":${JSON.stringify(arn)},"ClientRequestToken":"${pendingToken}","__proto__":{"Step":"finishSecret"}}`), 'Step'],
  ];
  it.each(malformed)('refuses %s', async (_name, event, field) => {
    await expectRefused(rotate, event(), 'INVALID_INPUT', field);
  });

  it('refuses a token that is no version of the secret, naming it as missing', async () => {
    await expectRefused(rotate, rotationEvent({ ClientRequestToken: '00000000-0000-4000-8000-000000000000' }), 'VERSION_NOT_FOUND');
  });

  it('refuses a secret that does not exist', async () => {
    await expectRefused(rotate, rotationEvent({ SecretId: 'no-such-secret' }), 'SECRET_NOT_FOUND');
  });
});

describe('the purge function', () => {
  const malformed: ReadonlyArray<readonly [string, unknown, string | undefined]> = [
    ['a string', 'sweep', 'event'],
    ['an array', [], 'event'],
    ['secretIds as a string', { secretIds: 'hostile-lambda' }, 'secretIds'],
    ['an empty secretIds', { secretIds: [] }, 'secretIds'],
    ['an empty id', { secretIds: [''] }, 'secretIds'],
    ['an id with CR/LF', { secretIds: ['hostile-lambda\r\nforged'] }, 'secretIds'],
    ['501 ids', { secretIds: Array.from({ length: 501 }, (_, i) => `s${i}`) }, 'secretIds'],
    ['dryRun as a string', { dryRun: 'yes' }, 'dryRun'],
    ['a misspelt key', { dryrun: true }, 'dryrun'],
    ['a key with a control character', { 'dry\nRun': true }, 'unknown key'],
    ['an event that only looks scheduled', { source: 'aws.events ', 'detail-type': 'Scheduled Event' }, 'unknown key'],
  ];
  it.each(malformed)('refuses %s', async (_name, event, field) => {
    await expectRefused(purge, event, 'INVALID_INPUT', field);
  });
});
