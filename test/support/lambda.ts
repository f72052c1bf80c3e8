import { DescribeSecretCommand, RotateSecretCommand, type SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import type { Context } from 'aws-lambda';
import { expect } from 'vitest';
import { createRotateHandler, type RotateHandler } from '../../functions/aws/rotate.js';
import { isRotatorError, type RotatorError } from '../../shared/errors.js';
import type { Strategy } from '../../shared/store.js';
import { createSecretsManagerClient } from '../../stores/aws/index.js';
import { FAKE_REGION } from '../fakes/aws/secrets-manager.js';
import { recordOutput } from './canary.js';
import type { TestTarget } from './targets.js';

/**
 * What the Lambda handler tests share: a Lambda context, and a capture of everything a handler prints
 * (Powertools writes log lines and EMF metrics through a Console bound to process.stdout / process.stderr).
 */

export const FAKE_CREDENTIALS = { accessKeyId: 'AKIDFAKEFAKEFAKE', secretAccessKey: 'fake-secret-access-key' };
export const ROTATION_LAMBDA_ARN = 'arn:aws:lambda:us-east-1:123456789012:function:rotator-rotate';
export const REQUEST_ID = 'c6af9ac6-7b61-11e6-9a41-93e812345678';

export function lambdaContext(remainingMs: number, functionName = 'rotator-rotate'): Context {
  // done/fail/succeed are the deprecated callback API, which middy and the handlers never call.
  const context: Omit<Context, 'done' | 'fail' | 'succeed'> = {
    callbackWaitsForEmptyEventLoop: false,
    functionName,
    functionVersion: '$LATEST',
    invokedFunctionArn: `arn:aws:lambda:us-east-1:123456789012:function:${functionName}`,
    memoryLimitInMB: '256',
    awsRequestId: REQUEST_ID,
    logGroupName: `/aws/lambda/${functionName}`,
    logStreamName: '2026/01/01/[$LATEST]abcdef',
    getRemainingTimeInMillis: () => remainingMs,
  };
  return context as Context;
}

export interface Emf {
  _aws: { CloudWatchMetrics: { Namespace: string; Dimensions: string[][]; Metrics: { Name: string; Unit: string }[] }[] };
  [key: string]: unknown;
}

export interface OutputCapture {
  /** Everything printed since the capture started. */
  text(): string;
  /** The JSON lines printed: log lines and EMF documents. */
  lines(): Record<string, unknown>[];
  logLines(): Record<string, unknown>[];
  emf(): Emf[];
  /** Lets a test print (e.g. a figure) while the capture is on. */
  pause<T>(run: () => T): T;
  /** Restores the streams and hands what was printed to the leak canary. */
  stop(): void;
}

export function captureOutput(): OutputCapture {
  const captured: string[] = [];
  const streams = [process.stdout, process.stderr];
  const originals = streams.map((s) => s.write.bind(s));
  const capture = (): void => {
    for (const stream of streams) {
      stream.write = (chunk: unknown, ...rest: unknown[]): boolean => {
        captured.push(typeof chunk === 'string' ? chunk : Buffer.from(chunk as Uint8Array).toString('utf8'));
        rest.find((r): r is () => void => typeof r === 'function')?.();
        return true;
      };
    }
  };
  const restore = (): void => {
    streams.forEach((s, i) => {
      const original = originals[i];
      if (original !== undefined) s.write = original;
    });
  };
  capture();
  const lines = (): Record<string, unknown>[] =>
    captured
      .join('')
      .split('\n')
      .filter((line) => line.trim().startsWith('{'))
      .map((line) => JSON.parse(line) as Record<string, unknown>);
  let stopped = false;
  return {
    text: () => captured.join(''),
    lines,
    logLines: () => lines().filter((l) => !('_aws' in l)),
    emf: () => lines().filter((l): l is Emf => '_aws' in l),
    pause: (run) => {
      restore();
      try {
        return run();
      } finally {
        capture();
      }
    },
    stop: () => {
      if (stopped) return;
      stopped = true;
      restore();
      recordOutput(captured.join(''));
    },
  };
}

/**
 * Issue 14's log budget for a service-driven rotation: at most 5 INFO lines (here exactly one per invocation, in step
 * order), each with what an operator filters on. Counted by the `level` Powertools writes, so it holds at any log
 * level the handler was built with.
 */
export function expectOneInfoLinePerStep(output: OutputCapture, secretId: string, steps: readonly string[]): void {
  const info = output.logLines().filter((l) => l.level === 'INFO');
  expect(info.length).toBeLessThanOrEqual(5);
  expect(info.map((l) => l.step)).toEqual(steps);
  for (const line of info) {
    expect(line).toMatchObject({ secretId, outcome: expect.any(String) as unknown, ms: expect.any(Number) as unknown });
  }
}

// ---- the service's side ----

/** The RotatorError a call (a handler invocation) failed with; fails the test when it succeeded or threw another. */
export async function refusal(promise: Promise<unknown>): Promise<RotatorError> {
  try {
    await promise;
  } catch (error) {
    if (isRotatorError(error)) return error;
    throw error;
  }
  throw new Error('expected a RotatorError, but the call succeeded');
}

/** What Secrets Manager does when a rotation starts: RotateSecret, which creates the AWSPENDING stub (not with
 * rotateImmediately=false, which only records the settings). Returns the stub's token. */
export async function rotateSecret(sm: SecretsManagerClient, arn: string, rotateImmediately = true): Promise<string | undefined> {
  const out = await sm.send(
    new RotateSecretCommand({ SecretId: arn, RotationLambdaARN: ROTATION_LAMBDA_ARN, RotationRules: { AutomaticallyAfterDays: 30 }, RotateImmediately: rotateImmediately }),
  );
  return out.VersionId;
}

/** Version id -> staging labels, as DescribeSecret reports them. */
export async function stages(sm: SecretsManagerClient, arn: string): Promise<Record<string, string[]>> {
  return (await sm.send(new DescribeSecretCommand({ SecretId: arn }))).VersionIdsToStages ?? {};
}

/** The Secrets Manager client a function builds, pointed at the fake; one attempt, so an injected service error
 * reaches the handler instead of the SDK's retry. */
export function functionClient(endpoint: string): SecretsManagerClient {
  return createSecretsManagerClient({ env: { SECRETS_MANAGER_ENDPOINT: endpoint, AWS_REGION: FAKE_REGION }, credentials: FAKE_CREDENTIALS, maxAttempts: 1 });
}

/** The rotate handler as one container of a database function has it. */
export function databaseRotateHandler(endpoint: string, target: TestTarget, defaultStrategy: Strategy = 'single-user'): RotateHandler {
  return createRotateHandler({
    client: functionClient(endpoint),
    rotators: [target.rotator()],
    engineFamily: target.engine === 'postgres' ? 'postgres' : 'mysql',
    config: { defaultStrategy, logLevel: 'debug' },
  });
}
